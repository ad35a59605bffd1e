"""Report: the job's outcome as one JSON document (the public contract of `--json`) and
as Markdown for people. Both are saved under `<data_dir>/runs/<run_id>/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from mlpilot.agent.context import JobContext
from mlpilot.agent.state import JobState, Step

#: Version of the JSON document below; bump it when a field changes meaning.
SCHEMA_VERSION = 1


def report(state: JobState, ctx: JobContext) -> Step[Literal["__end__"]]:
    """Report node: write report.json and report.md, close the MLflow run."""
    job_dir = ctx.settings.job_dir(state["job_id"])
    job_dir.mkdir(parents=True, exist_ok=True)
    paths = {"report_path": str((job_dir / "report.json").resolve()),
             "report_markdown_path": str((job_dir / "report.md").resolve())}
    # a job that stopped with a question (a model no better than the baseline) keeps it
    status = "needs_input" if state.get("status") == "needs_input" else "succeeded"
    document = result_document({**state, **paths}, status=status)
    Path(paths["report_path"]).write_text(json.dumps(document, indent=2, default=str))
    Path(paths["report_markdown_path"]).write_text(markdown(document))
    if state.get("mlflow_run_id"):
        from mlpilot.agent.trainer import tracker_for  # lazy: keeps MLflow, Optuna out of `plan`

        tracker_for(ctx).finish_job(state["mlflow_run_id"])
    ctx.emit("report", f"report saved to {paths['report_markdown_path']}")
    return Step("__end__", {"status": status, **paths})


def result_document(values: dict[str, Any], *, status: str, error: str | None = None,
                    pending: list[Any] = ()) -> dict[str, Any]:
    """The job's public JSON document (see the README's "JSON output" section)."""
    request = values.get("request") or {}
    task = values.get("task")
    best = values.get("best") or {}
    history = values.get("validation_history") or []
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": values.get("job_id"),
        "status": status,
        "request": {k: request.get(k) for k in ("request", "data", "test_data")},
        "task": task,
        "config": best.get("config") or values.get("config"),
        "findings": _unique((values.get("findings") or []) + (values.get("critic_findings") or [])),
        "validation": {
            "rounds": len(history),
            "first_pass_valid": values.get("first_pass_valid"),
            **first_pass_counts(history),
            "history": history,
        },
        "decisions": values.get("decisions") or [],
        "approvals": values.get("approvals") or [],
        "fault_fixes": values.get("fault_fixes") or [],
        "metrics": values.get("metrics"),
        "baseline_metrics": values.get("baseline_metrics"),
        "goal_met": values.get("goal_met"),
        "budget_s": (task or {}).get("budget_s"),
        "budget_used_s": round(values["budget_used_s"], 3) if values.get("budget_used_s") else None,
        "model_source": best.get("source"),
        "validation_score": best.get("score"),
        "search": values.get("search"),
        "compression": (values.get("compression") or {}).get("report"),
        "model": values.get("model"),
        "mlflow_run_id": values.get("mlflow_run_id"),
        "report_path": values.get("report_path"),
        "report_markdown_path": values.get("report_markdown_path"),
    }
    if values.get("features"):  # kept feature transforms (agent/feature_engineer.py)
        features = values["features"]
        doc["features"] = {
            "approved": features.get("approved"), "how": features.get("how"),
            "columns": features.get("columns"),
            "steps": [{k: s.get(k) for k in ("name", "origin", "why", "evidence", "gain", "sha256")}
                      for s in features.get("steps") or []]}
    if values.get("question"):
        doc["question"] = values["question"]
        doc["choices"] = list(values.get("choices") or [])
    if pending:
        doc["pending_approvals"] = [
            {"id": a.id, "action": a.action, "reason": a.reason,
             "approve": f"mlpilot approvals approve {a.id}"} for a in pending]
    if error:
        doc["error"] = error
    return doc


def first_pass_counts(history: list[dict[str, Any]]) -> dict[str, Any]:
    """How many generated configs passed the validator chain with no repair.

    Every config the generator writes (first draft, each repair round, each critic round)
    is validated once, so each history entry is one generated config; it counts as passed
    first time when the chain passed it and auto-repaired nothing.
    """
    generated = len(history)
    passed = sum(1 for h in history if h.get("passed") and not h.get("repaired"))
    return {"generated": generated, "passed_first_time": passed,
            "first_pass_valid_rate": round(passed / generated, 4) if generated else None}


def _unique(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for f in findings:
        # one identity flags two columns with one message: each keeps its own finding
        key = (f["check_id"], f["field"], f["message"], f.get("column"))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _warm_start_lines(warm: dict[str, Any] | None, n_prior: int | None = None) -> list[str]:
    """Whether the search was warm-started, and from which past runs; `n_prior` is how many
    of their trials the search's sampler started from (None: as many as were offered)."""
    if not warm:
        return []
    if not warm["used"]:
        return ["", f"Not warm-started ({warm['reason'].removeprefix('cold start: ')})."]
    how = []
    if warm["n_configs"]:
        how.append(f"the first {warm['n_configs']} trial(s) tried their best configs")
    n_prior = warm.get("n_prior_trials", 0) if n_prior is None else n_prior  # older reports: 0
    if n_prior:
        how.append(f"the sampler started from {n_prior} of their trials "
                   "(not counted as this run's trials)")
    how = how or ["the search ended before its sampler drew on their trials"]
    if warm.get("families"):
        how.append(f"the sampler drew only {', '.join(warm['families'])} (the families of "
                   "their best configs, and trees)")
    lines = ["", f"Warm-started from these similar past runs: {'; '.join(how)}.", "",
             "| past run | data | distance | validation score |", "| --- | --- | ---: | ---: |"]
    lines += [f"| `{r['run_id']}` | {r['dataset']} | {r['distance']:.3f} | "
              f"{r['metric']} {r['score']:.4f} |" for r in warm["sources"]]
    return lines


def _compression_lines(report: dict[str, Any] | None) -> list[str]:
    """Size, p95 one-row latency and test score of the composite model and its students."""
    if not report:
        return []
    lines = ["", "## Compression for serving", "", report["reason"] + ".", "",
             f"| model | size (kB) | p95 one-row (ms) | test {report['metric']} |",
             "| --- | ---: | ---: | ---: |"]
    for name, label in (("teacher", "composite (teacher)"), ("student", "distilled, float32"),
                        ("int8", "distilled, int8")):
        stats = report.get(name)
        if stats:
            kept = " (kept)" if report["kept"] == name else ""
            lines.append(f"| {label}{kept} | {stats['size_bytes'] / 1000:.1f} | "
                         f"{stats['p95_ms']:.2f} | {stats['score']:.4f} |")
    return lines


def markdown(doc: dict[str, Any]) -> str:
    """The report for people."""
    task = doc.get("task") or {}
    lines = [f"# mlpilot run {doc['run_id']}", "",
             f"Request: {doc['request'].get('request') or '(explicit fields)'}  ",
             f"Data: `{doc['request'].get('data')}`" + (
                 f", test data: `{doc['request']['test_data']}`" if doc["request"].get("test_data")
                 else " (test set: a held-out split)"), ""]
    if doc.get("question"):
        lines += ["## Question", "", doc["question"], ""]
        lines += [f"{i}. `{c}`" for i, c in enumerate(doc.get("choices") or [], 1)] + [""]
    if task:
        goal = task.get("goal")
        target = f"`{task['target']}`" if task.get("target") else "not known yet"
        lines += ["## Task", "",
                  f"- target {target} ({task.get('task_type') or 'type not known yet'}), "
                  f"metric **{task.get('metric') or 'not stated'}**"
                  + (f", goal {goal}" if goal is not None else ""),
                  f"- budget {task['budget_s']:.0f} s, used {doc.get('budget_used_s') or 0:.1f} s",
                  f"- dropped columns: {', '.join(task.get('drop_columns') or []) or 'none'}", ""]
    if doc.get("metrics"):
        lines += ["## Results", "", "| metric | model | baseline |", "| --- | ---: | ---: |"]
        for name, value in doc["metrics"].items():
            base = (doc.get("baseline_metrics") or {}).get(name)
            lines.append(f"| {name} | {value:.4f} | {base:.4f} |" if base is not None
                         else f"| {name} | {value:.4f} | |")
        met = doc.get("goal_met")
        lines += ["", f"Goal: {'met' if met else 'not met' if met is False else 'none stated'}.  ",
                  f"Model from: {doc.get('model_source')}.", ""]
    if doc.get("question"):
        lines += [f"**Question:** {doc['question']}", ""]
    if doc.get("model"):
        m = doc["model"]
        lines += [f"Registered as `{m['name']}` version {m['version']} (alias `{m['alias']}`).", ""]
    lines += ["## Decisions", ""]
    lines += [f"{i}. **{d['stage']}**: {d['decision']} — {d['why']}"
              for i, d in enumerate(doc.get("decisions") or [], 1)]
    validation = doc.get("validation") or {}
    generated = validation.get("generated", 0)
    summary = (f"{validation.get('rounds', 0)} round(s); first pass valid: "
               f"{validation.get('first_pass_valid')}; {validation.get('passed_first_time', 0)} "
               f"of {generated} generated config{'' if generated == 1 else 's'} passed with "
               "no repair.")
    lines += ["", "## Validation", "", summary, ""]
    for f in doc.get("findings") or []:
        lines.append(f"- [{f['severity']}] `{f['field']}` {f['message']} ({f['check_id']})")
    if doc.get("fault_fixes"):
        lines += ["", "## Faults and fixes", ""]
        lines += [f"- attempt {f['attempt']}: {f['kind']} → {f['description']} [{f['status']}]"
                  for f in doc["fault_fixes"]]
    if doc.get("search"):
        s = doc["search"]
        lines += ["", "## Search", "",
                  (f"{s['n_trials']} trials ({s['n_complete']} complete, {s['n_pruned']} pruned, "
                  f"{s['n_failed']} failed) in {s['seconds']:.1f} s.")]
        lines += _warm_start_lines(s.get("warm_start"), s.get("n_prior_trials"))
    lines += _compression_lines(doc.get("compression"))
    if doc.get("approvals"):
        lines += ["", "## Approvals", ""]
        lines += [f"- {a['action']}: {a['status']} by {a.get('by')}" for a in doc["approvals"]]
    lines += ["", "## Artifacts", "",
              f"- MLflow run: `{doc.get('mlflow_run_id')}`",
              f"- JSON report: `{doc.get('report_path')}`", ""]
    return "\n".join(lines)
