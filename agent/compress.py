"""Compress node: a slow bag, ensemble or stack distilled for serving, before evaluation.

With `MLPILOT_SERVING_P95_MS` set, a kept model that combines several models (a
cross-fitted bag, a greedy ensemble, a stack) is timed on one-row requests; over the budget,
it is distilled into one network trained on its soft predictions, and int8 dynamic
quantisation is tried (`engine/compression.py`). The student is kept only within 0.01 of
the teacher's test score, and then it is what the evaluation scores and the deployer
registers. Size, latency and score before and after go into the decisions and the report.
Unset (the default), or for a single model, this node passes straight to the evaluation.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from mlpilot.agent.context import JobContext, load_request_data, load_request_test_data
from mlpilot.agent.state import JobState, TaskRequest, decision
from mlpilot.engine.config import TaskSpec, TrainingConfig

#: The student trains for what is left of the job's budget, but at least this many seconds
#: or this share of the budget, even when the search spent it all: compressing is part of
#: delivering the model, like evaluating it (a small student's epochs end sooner).
MIN_DISTIL_S = 10.0
MIN_DISTIL_SHARE = 0.25


def compress(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["evaluate"]]:
    """Compress node: distil the kept model when it is a composite over the latency budget."""
    ctx = runtime.context
    budget_ms = ctx.settings.serving_p95_ms
    best = state.get("best") or {}
    if budget_ms is None or not best.get("model_dir"):
        return Command(goto="evaluate")
    # lazy: the graph is built for `plan` too, which must not import MLflow, Optuna, ChromaDB
    from mlpilot.tools.compression import compress_for_serving

    task = TaskSpec.model_validate(state["task"])
    request = TaskRequest.model_validate(state["request"])
    left_s = task.budget_s - state.get("budget_used_s", 0.0)
    started = time.monotonic()
    outcome = compress_for_serving(
        best["model_dir"], load_request_data(request), task,
        TrainingConfig.model_validate(best["config"]), p95_budget_ms=budget_ms,
        out_dir=ctx.settings.job_dir(state["job_id"]) / "compressed",
        max_seconds=max(left_s, MIN_DISTIL_S, MIN_DISTIL_SHARE * task.budget_s),
        test_df=load_request_test_data(request))
    if outcome is None:  # a single model: nothing to distil
        return Command(goto="evaluate")
    ctx.emit("compress", outcome.reason)
    update: dict[str, Any] = {"compression": outcome.model_dump(),
                              "decisions": [compression_decision(outcome.model_dump(), budget_ms,
                                                                 time.monotonic() - started)]}
    if outcome.kept != "teacher":
        update["best"] = {**best, "model_dir": outcome.model_dir,
                          "source": f"{best.get('source')}, distilled into one "
                                    f"{'int8 ' if outcome.kept == 'int8' else ''}network"}
    return Command(goto="evaluate", update=update)


def compression_decision(outcome: dict[str, Any], budget_ms: float, seconds: float
                         ) -> dict[str, str]:
    """The decision that says what compression kept, with size, latency and score before
    and after."""
    report = outcome["report"]
    teacher, metric = report["teacher"], report["metric"]
    if outcome["kept"] == "teacher":
        what = ("keep the composite model as it is" if report["student"] is None else
                "keep the composite model: its students scored too low")
        return decision("compress", what, f"{outcome['reason']} (p95 budget {budget_ms:g} ms)")
    after = report[outcome["kept"]]
    what = (f"serve a distilled {'int8' if outcome['kept'] == 'int8' else 'float32'} network: "
            f"size {_size(teacher['size_bytes'])} -> {_size(after['size_bytes'])}, "
            f"p95 {teacher['p95_ms']:.2f} -> {after['p95_ms']:.2f} ms, "
            f"{metric} {teacher['score']:.4f} -> {after['score']:.4f}")
    return decision("compress", what, f"the composite's p95 {teacher['p95_ms']:.2f} ms is over "
                    f"the budget {budget_ms:g} ms; {outcome['reason']}; {seconds:.1f} s")


def _size(n_bytes: float) -> str:
    for unit in ("B", "kB", "MB"):
        if n_bytes < 1000 or unit == "MB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.1f} GB"
