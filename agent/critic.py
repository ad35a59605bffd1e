"""Critic: reviews the task and config against the data before any compute is spent.

What it looks for, and its policy for each (every flag carries its evidence to the report):

| flag | evidence | action |
| --- | --- | --- |
| ID-like column | unique fraction, row order, a name that says identifier | drop (names: ask) |
| target leakage | the target as arithmetic of columns; single-feature score vs the runner-up and vs all other features; 1:1 re-encoding | drop |
| post-outcome column | a lexicon meaning (EN, ZH; word vectors), the column's single-feature score and rank | ask |
| duplicated rows | copies, and test rows with an identical twin in training | advise |
| time order | date columns, and how well the rows follow them | advise |
| metric vs imbalance | minority/majority ratio, majority-class accuracy | switch metric |
| a goal the data cannot support | test-set resolution, a quick boosted-tree baseline | ask |

Columns it drops go back to the config generator (at most MAX_CRITIC_ROUNDS times); a
metric is switched only when the user did not name one. "ask" and "advise" flags do not
stop the job: they are the reviewer's questions and advice, in the report.
"""

from __future__ import annotations

from typing import Literal

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, Step, TaskRequest, decision
from mlpilot.agent.understanding import understand
from mlpilot.engine.config import TaskSpec
from mlpilot.guardrails.data_checks import (
    Flag,
    check_metric_vs_imbalance,
    find_id_like_columns,
    find_leaky_columns,
)
from mlpilot.guardrails.goal_checks import check_goal
from mlpilot.guardrails.identities import find_target_identities
from mlpilot.guardrails.post_outcome import find_post_outcome_columns
from mlpilot.guardrails.split_checks import find_duplicate_rows, find_time_columns

#: The critic sends a config back at most this many times.
MAX_CRITIC_ROUNDS = 2


def critique(state: JobState, ctx: JobContext
             ) -> Step[Literal["config_generator", "approve_training"]]:
    """Critic node: flag problems in the data and task; drop what must go, then pass or send back."""
    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    df = load_request_data(request).drop(columns=task.drop_columns, errors="ignore")
    test_df = load_request_test_data(request)
    if test_df is not None:
        test_df = test_df.drop(columns=task.drop_columns, errors="ignore")
    test_fraction = (state.get("config") or {}).get("test_fraction", 0.2)
    flags = review(df, task, test_df=test_df, test_fraction=test_fraction, seed=request.seed)
    findings = [as_finding(f) for f in flags]
    decisions, changes = [], {}
    drop = [f.column for f in flags if f.action == "drop" and f.column
            and f.column not in task.drop_columns and f.column != task.target]
    if drop and not [c for c in df.columns if c != task.target and c not in drop]:
        # an identifier-like column that is the only input (a year in a yearly series) is
        # kept: without it nothing is left to learn from; a leak still goes
        spared = [f for f in flags if f.kind == "id_like" and f.column in drop]
        drop = [c for c in drop if c not in {f.column for f in spared}]
        decisions += [decision("critic", f"keep column {f.column!r} (id_like)",
                               f"{f.evidence}; it is the only column left to learn from")
                      for f in spared]
    if drop:
        changes["drop_columns"] = task.drop_columns + list(dict.fromkeys(drop))
        decisions += [decision("critic", f"drop column {f.column!r} ({f.kind})", f.evidence)
                      for f in flags if f.column in drop]
    user_metric = request.metric or understand(request.request, list(df.columns)).metric
    switch = next((f for f in flags if f.action == "switch_metric"), None)
    if switch and not user_metric and switch.suggestion in ("balanced_accuracy", "f1"):
        changes["metric"] = switch.suggestion
        decisions.append(decision("critic", f"metric {task.metric} -> {switch.suggestion}",
                                  switch.evidence))
    for f in flags:
        ctx.emit("critic", f"{f.kind}: {f.column or FIELDS[f.kind]}: {f.evidence}")
    update = {"critic_findings": findings, "decisions": decisions}
    round_ = state.get("critic_round", 0)
    if changes and round_ < MAX_CRITIC_ROUNDS:
        new_task = task.model_copy(update=changes).model_dump()
        return Step("config_generator", {
            **update, "task": new_task, "critic_round": round_ + 1, "repair_round": 0})
    # Questions and advice once, in the round that passes (earlier rounds repeat them).
    decisions += [decision("critic", f"{f.action} ({f.kind}): {f.suggestion}", f.evidence)
                  for f in flags if f.action in ("ask", "advise")]
    decisions.append(decision("critic", "passed", f"{len(flags)} flag(s), nothing left to change"))
    return Step("approve_training", update)


def review(df, task: TaskSpec, *, test_df=None, test_fraction: float = 0.2, seed: int = 0
           ) -> list[Flag]:
    """Every flag the critic raises for this data and task, with evidence.

    Column flags come first, one per column (the first check to flag a column wins). The
    row-level checks (duplicates, goal) see the data without the columns flagged for
    dropping, as training will.
    """
    flags = column_flags(df, task.target, task.task_type, seed=seed)
    kept = df.drop(columns=[f.column for f in flags if f.action == "drop"])
    kept_test = None if test_df is None else test_df.drop(
        columns=[f.column for f in flags if f.action == "drop"], errors="ignore")
    flags += find_duplicate_rows(kept, task.target, test_fraction=test_fraction, test_df=kept_test)
    flags += find_time_columns(df, task.target)
    if task.is_classification:
        flags += check_metric_vs_imbalance(df, task.target, task.task_type, task.metric)
    n_test = None if test_df is None else int(test_df[task.target].notna().sum())
    flags += check_goal(kept, task.target, task.task_type, task.metric, task.goal, n_test=n_test,
                        test_fraction=test_fraction, seed=seed)
    return flags


def column_flags(df, target: str, task_type: str, *, seed: int = 0) -> list[Flag]:
    """The critic's flags on single columns: ID-like, leaky, known only after the outcome.

    One flag per column: the first check to flag a column wins, in that order. Identifiers
    to be dropped are left out of the later checks: a row number is no runner-up.
    """
    flags = list(find_id_like_columns(df, target))
    rest = df.drop(columns=[f.column for f in flags if f.action == "drop"])
    for found in (find_target_identities(rest, target, task_type, seed=seed),
                  find_leaky_columns(rest, target, task_type, seed=seed),
                  find_post_outcome_columns(rest, target, task_type, seed=seed)):
        flagged = {f.column for f in flags}
        flags += [f for f in found if f.column not in flagged]
    return flags


#: The report's field for each kind of flag: the setting the flag is about.
FIELDS = {"id_like": "task.drop_columns", "leakage": "task.drop_columns",
          "post_outcome": "task.drop_columns", "duplicates": "data.rows",
          "temporal": "data.split", "imbalance": "task.metric", "goal": "task.goal"}


def as_finding(flag: Flag) -> dict:
    """A critic flag in the validator chain's finding format, for the report."""
    return {
        "check_id": f"critic.{flag.kind}",
        "severity": "info" if flag.action == "advise" else "warning",
        "field": FIELDS[flag.kind],
        "column": flag.column,
        "message": flag.evidence,
        "hint": flag.suggestion,
        "repair": None,
    }
