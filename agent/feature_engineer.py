"""Feature engineer: proposes feature transforms as code, keeps those that help, and fits
them on the training rows, all in the sandbox.

    approve_training -> engineer_features -> approve_features -> train
                                 |  nothing kept, skipped or off   ^
                                 +---------------------------------+

Offline, the expert picks templates by the data profile (`agent/feature_templates.py`);
with an LLM, the model writes the code from the profile (`agent/llm_features.py`). Each
candidate is checked (`agent/feature_checks.py`): it may not name the target (nor does it
get it), a fitted one sees only training rows, its output for a row may not depend on the
other rows, and the engine's quick trees must score better beyond noise on 5 folds of the
training rows. What is kept is fitted on the engine's training split and applied to all
rows (train, validation, test: the job's data is then read from `features/` of the job's
folder), and waits for approval: saved with the model, it runs at every prediction.

Cost: `Settings.feature_share` (10%) of the budget: no candidate is scored once it is
spent (the one being scored and fitting the kept ones may run past it); the time counts in
`budget_used_s`, so training gets what is left. It starts only when the share is at least
`MIN_FEATURE_S`; nothing runs (no sandbox, no scoring) when no
template applies. Without bubblewrap the node records that it skipped, and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine.config import TaskSpec, TrainingConfig
from mlpilot.engine.data import DataProfile, profile_table

if TYPE_CHECKING:
    from mlpilot.agent.feature_checks import FoldScorer, Verdict
    from mlpilot.engine.features import FeatureStep
    from mlpilot.engine.input_schema import InputColumn

STAGE = "features"
#: Below this many seconds of budget share, feature engineering does not start.
MIN_FEATURE_S = 3.0


def engineer_features(state: JobState, runtime: Runtime[JobContext]
                      ) -> Command[Literal["approve_features", "train"]]:
    """Feature engineer node: propose, check and fit transforms; kept ones go to approval."""
    ctx = runtime.context
    settings = ctx.settings
    if not settings.feature_engineering:
        return Command(goto="train")
    # lazy: the graph is built for `plan` too, which needs none of this
    from mlpilot.agent.feature_templates import propose
    from mlpilot.engine.features import FeatureError

    task = TaskSpec.model_validate(state["task"])
    config = TrainingConfig.model_validate(state["config"])
    request = TaskRequest.model_validate(state["request"])
    df = load_request_data(request)
    columns = feature_columns(df, task, config)
    profile = DataProfile.model_validate(state["profile"]) if state.get("profile") else \
        profile_table(df, task.target)
    steps = [] if ctx.chat_model is not None else propose(df[columns], profile, task.target)
    if ctx.chat_model is None and not steps:
        return Command(goto="train")  # no template applies: nothing to pay for
    share = settings.feature_share * task.budget_s
    if share < MIN_FEATURE_S:
        return _skip(f"its budget share ({share:.1f} s, {settings.feature_share:.0%} of "
                     f"{task.budget_s:g} s) is below {MIN_FEATURE_S:g} s")
    from mlpilot.sandbox.launch import SandboxUnavailable, require_tools

    try:
        require_tools()
    except SandboxUnavailable as err:  # never unisolated: the job goes on without them
        return _skip(f"generated code runs only in the sandbox, and it cannot start here: {err}")
    started = time.monotonic()
    how = "the offline expert's templates, picked by the data profile"
    if ctx.chat_model is not None:
        from mlpilot.agent.llm_features import llm_transforms

        try:
            steps, how = llm_transforms(task, profile, columns, ctx.chat_model)
        except Exception as err:  # noqa: BLE001 - an LLM outage costs the features, not the job
            return _skip(f"the LLM could not write transforms: {str(err)[:300]}")
        if not steps:
            return _skip(how)
    ctx.emit(STAGE, f"trying {len(steps)} feature transform(s): "
                    + ", ".join(s.name for s in steps))
    try:
        outcome = select(df, task, config, steps, columns, seed=request.seed,
                         deadline=started + share)
    except FeatureError as err:
        return _skip(f"the sandboxed run failed: {err}", spent=time.monotonic() - started,
                     state=state)
    decisions = [decision(STAGE, f"{'keep' if v.kept else 'reject'} transform {v.step.name!r}",
                          v.reason) for v in outcome.verdicts]
    kept = outcome.kept
    update: dict[str, Any] = {"decisions": decisions}
    if kept:
        try:
            update["features"] = materialise(state, ctx, df, request, kept,
                                             outcome.train_index, how)
        except FeatureError as err:
            decisions.append(decision(STAGE, "trained without feature transforms",
                                      f"fitting the kept transforms failed: {err}"))
            kept = []
    spent = time.monotonic() - started
    update["budget_used_s"] = state.get("budget_used_s", 0.0) + spent
    decisions.append(decision(STAGE, f"{len(kept)} of {len(steps)} transform(s) kept",
                              f"{how}; {spent:.1f} s of the {share:.1f} s share"))
    ctx.emit(STAGE, f"{len(kept)} of {len(steps)} feature transform(s) kept")
    return Command(goto="approve_features" if kept else "train", update=update)


def feature_columns(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig) -> list[str]:
    """The columns a transform may read: the features training will see (no target, none
    of the columns the task or config drops)."""
    drop = set(task.drop_columns) | set(config.preprocessing.drop_columns) | {task.target}
    return [c for c in df.columns if c not in drop]


@dataclass
class Selection:
    """What `select` found: a verdict per step, the engine's training rows (what kept
    transforms are fitted on), and the quick trees' mean CV score without any transform
    and with the kept ones together (None when nothing was scored)."""

    verdicts: list[Verdict]
    train_index: pd.Index
    base_score: float | None = None
    kept_score: float | None = None

    @property
    def kept(self) -> list[Verdict]:
        """The verdicts of the transforms kept."""
        return [v for v in self.verdicts if v.kept]


def select(df: pd.DataFrame, task: TaskSpec, config: TrainingConfig,
           steps: list[FeatureStep], columns: list[str], *, seed: int, deadline: float
           ) -> Selection:
    """Check every step of `df` (the job's data, target included); raises `FeatureError`
    when the sandboxed run itself fails."""
    from mlpilot.agent.feature_checks import (
        CV_ROWS,
        FoldScorer,
        Verdict,
        beyond_noise,
        evaluation_program,
        fold_ids,
        probe_problem,
        split_output,
        target_problem,
        verdict_words,
    )
    from mlpilot.engine.features import FeatureError
    from mlpilot.engine.preprocess import prepare_data
    from mlpilot.sandbox import run_function

    verdicts = [Verdict(step=s) for s in steps]
    for v in verdicts:
        v.reason = target_problem(v.step.source, task.target) or ""
    runnable = [v for v in verdicts if not v.reason]
    selection = Selection(verdicts, prepare_data(df, task, config).train_index)
    if not runnable:
        return selection
    rows = df.loc[selection.train_index]
    rows = rows[rows[task.target].notna()]
    if len(rows) > CV_ROWS:
        rows = rows.sample(CV_ROWS, random_state=seed)
    rows = rows.reset_index(drop=True)
    folds = fold_ids(rows[task.target], task, seed)
    reads = list(dict.fromkeys(c for v in runnable for c in v.step.reads if c in columns))
    result = run_function(evaluation_program([v.step for v in runnable]),
                          {"df": rows[reads], "folds": pd.DataFrame({"fold": folds})},
                          function="evaluate", purpose="feature candidates")
    if not result.ok:
        raise FeatureError(f"{result.stopped_by or result.error or result.outcome}: "
                           f"{result.message}")
    errors, tables = split_output(result.frame, [v.step for v in runnable])
    base_rows = rows[[c for c in rows.columns if c in columns or c == task.target]]
    scorer = FoldScorer(base_rows, folds, task, config)
    base = scorer.scores()
    selection.base_score = float(np.nanmean(base))
    added: dict[int, dict[int, pd.DataFrame]] = {}
    scores: dict[int, np.ndarray] = {}
    for i, v in enumerate(runnable):
        if i in errors:
            v.reason = f"it failed in the sandbox: {errors[i]}"
            continue
        problem = probe_problem(tables[i])
        if problem:
            v.reason = problem
            continue
        if time.monotonic() > deadline:
            v.reason = "not scored: the feature budget share was spent"
            continue
        added[i] = _by_fold(tables[i], len(rows))
        with_it = scores[i] = scorer.scores(added[i])
        v.gain, v.error = scorer.gain(base, with_it)
        v.score_with = float(np.nanmean(with_it))
        v.kept = beyond_noise(v.gain, v.error)
        v.reason = (f"{task.metric} {np.nanmean(base):.4f} -> {v.score_with:.4f} on {len(folds)} "
                    f"training rows ({len(set(folds))} folds, quick trees): gain "
                    f"{v.gain:+.4f} ± {v.error:.4f}, " + verdict_words(v.gain, v.error))
    kept = sorted((i for i, v in enumerate(runnable) if v.kept), key=lambda i: -runnable[i].gain)
    if kept:
        final = _forward_select(scorer, runnable, kept, added, scores[kept[0]], deadline)
        selection.kept_score = float(np.nanmean(final))
    return selection


def _forward_select(scorer: FoldScorer, runnable: list[Verdict], kept: list[int],
                    added: dict[int, dict[int, pd.DataFrame]], current: np.ndarray,
                    deadline: float) -> np.ndarray:
    """Transforms that pass alone are added best first, each kept only when it raises the
    score of those before it beyond noise (a weak one must not ride on a strong one).
    Returns the fold scores of those kept together."""
    from mlpilot.agent.feature_checks import FOLDS, beyond_noise

    chosen = [kept[0]]
    for i in kept[1:]:
        if time.monotonic() > deadline:
            runnable[i].kept = False
            runnable[i].reason += "; not kept: no budget left to score it with the others"
            continue
        together = {k: pd.concat([added[j].get(k, added[j].get(-1)) for j in [*chosen, i]],
                                 axis=1) for k in range(FOLDS)}
        scores = scorer.scores(together)
        gain, error = scorer.gain(current, scores)
        if beyond_noise(gain, error):
            chosen.append(i)
            current = scores
            runnable[i].reason += f"; and over the transforms kept before it: {gain:+.4f}"
        else:
            runnable[i].kept = False
            runnable[i].reason += (f"; over {', '.join(repr(runnable[j].step.name) for j in chosen)}"
                                   f" it adds {gain:+.4f} ± {error:.4f}: within noise, not kept")
    return current


def _by_fold(table: pd.DataFrame, n_rows: int) -> dict[int, pd.DataFrame]:
    """A candidate's added columns per fold, in row order, with its own column names."""
    full = table[table["__probe"] == 0]
    out = {}
    for fold, part in full.groupby("__fold"):
        part = part.sort_values("__row")
        values = part[[c for c in part.columns if not c.startswith("__")]]
        values.columns = [c.split("|", 1)[1] for c in values.columns]
        out[int(fold)] = values.reset_index(drop=True).iloc[:n_rows]
    return out


def materialise(state: JobState, ctx: JobContext, df: pd.DataFrame, request: TaskRequest,
                kept: list[Verdict], train_index: pd.Index, how: str) -> dict[str, Any]:
    """Fit the kept steps on the engine's training rows, apply them to every row of the
    job's data (and its test file), and save both under the job's `features/` folder."""
    from mlpilot.engine.features import FeaturePipeline

    folder = ctx.settings.job_dir(state["job_id"]) / "features"
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = FeaturePipeline([v.step for v in kept], raw_columns(df, kept))
    fitted = pipeline.fit(df.loc[train_index], purpose="feature fit (training rows)")
    test_df = load_request_test_data(request)
    frames = [df] + ([test_df] if test_df is not None else [])
    both = pd.concat([f[[c for c in fitted.reads if c in f.columns]] for f in frames],
                     ignore_index=True)
    added = fitted.added_columns(both, purpose="feature transform (job data)")
    train = pd.concat([df, added.iloc[:len(df)].set_axis(df.index)], axis=1)
    train.to_parquet(folder / "train.parquet", index=False)
    test_path = None
    if test_df is not None:
        test = pd.concat([test_df, added.iloc[len(df):].set_axis(test_df.index)], axis=1)
        test.to_parquet(test_path := folder / "test.parquet", index=False)
    fitted.save(folder)
    return {"dir": str(folder), "train_data": str(folder / "train.parquet"),
            "test_data": str(test_path) if test_path else None, "approved": None,
            "how": how, "columns": list(added.columns),
            "steps": [{"name": v.step.name, "origin": v.step.origin, "why": v.step.why,
                       "evidence": v.reason, "gain": v.gain, "code": v.step.source,
                       "sha256": v.step.sha256, "fits": v.step.fits} for v in kept]}


def raw_columns(df: pd.DataFrame, kept: list[Verdict]) -> list[InputColumn]:
    """The input schema of the raw columns the kept steps read (a prediction must carry
    them even where the model's own encoder drops them, as it does free text)."""
    from mlpilot.engine.input_schema import InputColumn

    reads = list(dict.fromkeys(c for v in kept for c in v.step.reads if c in df.columns))
    found = []
    for name in reads:
        values = df[name]
        kind = ("numeric" if pd.api.types.is_numeric_dtype(values)
                and not pd.api.types.is_bool_dtype(values) else "categorical")
        found.append(InputColumn(name, kind, bool(values.isna().any())))
    return found


def _skip(why: str, *, spent: float = 0.0, state: JobState | None = None) -> Command:
    update: dict[str, Any] = {"decisions": [decision(STAGE, "feature engineering skipped", why)]}
    if state is not None and spent:
        update["budget_used_s"] = state.get("budget_used_s", 0.0) + spent
    return Command(goto="train", update=update)
