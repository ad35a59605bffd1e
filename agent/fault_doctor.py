"""Fault doctor: diagnoses a training fault, applies a fix, and sends the job back to resume.

Faults come from the train node (the base run: `fit`, its `FaultMonitor`, or its worker
process) and from the tune node (a search trial that ran past its time slice). The doctor
searches the knowledge base for the fault's signature and takes the best-ranked fix not yet
tried on this job that really changes the config (or, with an LLM, lets the model choose
through `apply_fix`). A fix may name the fault's evidence: "$fault.columns" becomes the
columns the fault named. The patched config goes back to the node that failed: the train
node resumes from the fault's last good checkpoint when the fix keeps the network's shape,
else it starts from fresh weights; the tune node continues the same Optuna study, so the
fix applies to the trials still to come.

That node verifies the fix: finishing without the fault records it as worked in the
knowledge base. If the same fault comes back, the fix is recorded as failed and the next
candidate is tried, up to `max_fault_fixes` per stage; a different fault means the fix
worked and the new fault is treated on its own.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import ValidationError

from mlpilot.agent.context import JobContext
from mlpilot.agent.errors import TrainingFailed
from mlpilot.agent.llm import call_until_submitted
from mlpilot.agent.state import JobState, decision
from mlpilot.engine.checkpoint import keeps_weights
from mlpilot.engine.config import TrainingConfig
from mlpilot.knowledge.patches import apply_patch, describe_patch, fill_facts
from mlpilot.prompts import render
from mlpilot.tools.agent_tools import apply_fix

if TYPE_CHECKING:
    from mlpilot.knowledge.kb import Hit, KnowledgeBase

PROMPT = "fault_doctor"
#: Tried when the knowledge base has nothing untried that changes the config.
FALLBACK_FIXES: list[tuple[dict[str, Any], str, str]] = [
    ({"optimizer.learning_rate": "x0.1", "optimizer.grad_clip_norm": 1.0},
     "Training kept failing; no known fix was left to try.",
     "Lower the learning rate 10x and clip the gradient norm to 1.0."),
    ({"optimizer.learning_rate": "x0.1", "batch_size": "x2"},
     "Training keeps failing after clipping.",
     "Lower the learning rate 10x again and double the batch size."),
]


#: Faults of a model that still learns: when no fix cures them, training goes on without
#: watching for them, and early stopping keeps the best weights (a job never fails on them).
TOLERABLE = frozenset({"plateau", "overfitting"})


def tolerate(fault: dict[str, Any], stage: str, why: str, update: dict[str, Any]) -> Command:
    """Stop watching for a tolerable fault and resume where it was met."""
    update["decisions"].append(decision(
        "fault_doctor", f"tolerate {fault['kind']}",
        f"{why}; early stopping keeps the best weights, so training goes on without this check"))
    resume_from = fault.get("checkpoint") if stage == "train" else None
    return Command(goto=stage, update={**update, "tolerated_faults": [fault["kind"]],
                                       "resume_from": resume_from})


def doctor(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["train", "tune"]]:
    """Fault doctor node: settle the last fix, apply the next one, back to the failed node."""
    from mlpilot.knowledge.kb import KnowledgeBase  # lazy: ChromaDB stays out of `plan`

    ctx = runtime.context
    settings = ctx.settings
    fault = state["fault"]
    stage = fault.get("stage", "train")
    fixes = state.get("fault_fixes") or []
    update: dict[str, Any] = {"fault_fixes": [], "decisions": []}
    with KnowledgeBase(settings.knowledge_dir) as kb:
        previous = pending_fix(state)
        if previous is not None:
            came_back = previous["kind"] == fault["kind"]
            update["fault_fixes"].append(settle(kb, previous, worked=not came_back))
            update["decisions"].append(decision(
                "fault_doctor", f"fix {'failed' if came_back else 'worked'}: {previous['fix']}",
                f"the fault came back: {fault['message']}" if came_back else
                f"its fault did not come back, but another did: {fault['message']}"))
        tried_here = [f for f in fixes if f["status"] == "applied" and f.get("stage", "train") == stage]
        attempt = 1 + max((f["attempt"] for f in fixes), default=0)
        signature = f"TrainingFault {fault['kind']}: {fault['message']}"
        tried = [f["fix"] for f in fixes if f["kind"] == fault["kind"]]
        hits = [h for h in kb.search(signature, k=8, fault_kind=fault["kind"])
                if h.entry.fix not in tried]
        try:
            if len(tried_here) >= settings.max_fault_fixes:
                raise TrainingFailed(f"training still fails after {settings.max_fault_fixes} "
                                     f"fixes: {fault['message']}; see the report's fault history")
            if ctx.chat_model is not None:
                fix, diagnosis, description = llm_fix(ctx, fault, state["config"], hits, tried)
                entry_id = None
            else:
                fix, diagnosis, description, entry_id = expert_fix(hits, tried, fault,
                                                                  state["config"])
        except TrainingFailed as gave_up:
            if fault["kind"] not in TOLERABLE:
                raise
            return tolerate(fault, stage, str(gave_up), update)
    patch = fill_facts(fix, fault.get("facts") or {}, state["config"])
    config = apply_patch(state["config"], patch)
    TrainingConfig.model_validate(config)  # a fix must leave a valid config
    resume_from = fault.get("checkpoint") if stage == "train" else None
    if resume_from and not keeps_weights(TrainingConfig.model_validate(state["config"]),
                                         TrainingConfig.model_validate(config)):
        resume_from = None
    same_episode = previous is not None and previous["kind"] == fault["kind"]
    started = (previous.get("detected_at") if same_episode else None) \
        or fault.get("detected_at") or time.time()
    applied = {"attempt": attempt, "status": "applied", "kind": fault["kind"], "stage": stage,
               "signature": signature, "diagnosis": diagnosis, "fix": fix, "patch": patch,
               "description": description, "entry_id": entry_id, "resumed_from": resume_from,
               "detected_at": started}
    ctx.emit("fault_doctor", f"{fault['kind']}: {diagnosis} -> {description}")
    update["fault_fixes"].append(applied)
    update["decisions"].append(decision("fault_doctor", f"apply {describe_patch(patch)}",
                                        f"{diagnosis} {_how_it_resumes(stage, fault, resume_from)}"))
    update["config"] = config
    if stage == "train":
        update["resume_from"] = resume_from
    return Command(goto=stage, update=update)


def _how_it_resumes(stage: str, fault: dict[str, Any], resume_from: str | None) -> str:
    if stage == "tune":
        return "The search continues with the fixed config for the trials still to come."
    if resume_from:
        return "Resuming from the last good checkpoint."
    if fault.get("checkpoint"):
        return "Training from fresh weights: the fix changes the network or its inputs."
    return "Training from scratch: no checkpoint was written before the fault."


def expert_fix(hits: list[Hit], tried: list[dict], fault: dict[str, Any], config: dict[str, Any]
               ) -> tuple[dict, str, str, str | None]:
    """The best-ranked untried fix that applies to `config` and changes it (an empty fix,
    "retry as is", counts), else the first untried built-in fallback.

    Returns (fix, diagnosis, description, knowledge entry id or None).
    """
    for hit in hits:
        entry = hit.entry
        if _changes(entry.fix, fault, config):
            return entry.fix, entry.diagnosis, entry.fix_description, entry.id
    for fix, diagnosis, description in FALLBACK_FIXES:
        if fix not in tried and _changes(fix, fault, config):
            return fix, diagnosis, description, None
    raise TrainingFailed(f"no fix left to try for {fault['kind']}: {fault['message']}")


def _changes(fix: dict[str, Any], fault: dict[str, Any], config: dict[str, Any]) -> bool:
    try:
        patched = apply_patch(config, fill_facts(fix, fault.get("facts") or {}, config))
        TrainingConfig.model_validate(patched)
    except (KeyError, ValueError, ValidationError):
        return False
    return not fix or patched != config


def pending_fix(state: JobState) -> dict[str, Any] | None:
    """The fault doctor's last applied fix that has no verified outcome yet."""
    fixes = state.get("fault_fixes") or []
    settled = {f["attempt"] for f in fixes if f["status"] != "applied"}
    open_ = [f for f in fixes if f["status"] == "applied" and f["attempt"] not in settled]
    return open_[-1] if open_ else None


def settle(kb: KnowledgeBase, fix: dict[str, Any], *, worked: bool) -> dict[str, Any]:
    """Record in the knowledge base whether an applied fix worked; return its settled record
    (a fix that worked carries `recovered_s`, the seconds from the fault to its verification)."""
    kb.record(fix["signature"], fix["kind"], fix["diagnosis"], fix["fix"], fix["description"],
              worked=worked, entry_id=fix.get("entry_id"))
    if not worked:
        return {**fix, "status": "failed"}
    recovered = time.time() - fix["detected_at"] if fix.get("detected_at") else None
    return {**fix, "status": "worked", "recovered_s": recovered}


def llm_fix(ctx: JobContext, fault: dict, config: dict, hits: list[Hit], tried: list[dict]
            ) -> tuple[dict, str, str]:
    """Let the LLM choose a fix through `apply_fix`; the patch must yield a valid config."""
    prompt = render(PROMPT, fault=json.dumps(fault), config=json.dumps(config),
                    knowledge="\n".join(f"- [{h.rank_score:.2f}] {h.entry.fix_description} "
                                        f"patch={json.dumps(h.entry.fix)}" for h in hits) or "none",
                    tried=json.dumps(tried))

    def accept(args: dict) -> tuple[dict, str, str]:
        patch = args.get("patch") or {}
        try:
            filled = fill_facts(patch, fault.get("facts") or {}, config)
            TrainingConfig.model_validate(apply_patch(config, filled))
        except (KeyError, ValueError, ValidationError) as err:
            raise ValueError(f"patch: {err}") from None
        return patch, str(args.get("diagnosis") or ""), describe_patch(patch)

    _, answer = call_until_submitted(ctx.chat_model, [HumanMessage(prompt)], tools=[apply_fix],
                                     finish={"apply_fix": accept})
    return answer
