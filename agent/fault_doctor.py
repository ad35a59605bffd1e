"""Fault doctor: diagnoses a training fault, applies a fix, and resumes training.

It searches the knowledge base for the fault's signature, picks the best-ranked fix not
yet tried on this job (or, with an LLM, lets the model choose through `apply_fix`),
patches the config, and sends the job back to `train`, resuming from the last good
checkpoint. The train node verifies the fix; a fix that did not work is recorded as
failed in the knowledge base and the next candidate is tried, up to `max_fault_fixes`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import ValidationError

from mlpilot.agent.context import JobContext
from mlpilot.agent.llm import call_until_submitted
from mlpilot.agent.state import JobState, decision
from mlpilot.agent.trainer import pending_fix
from mlpilot.engine.config import TrainingConfig
from mlpilot.knowledge.kb import Hit, KnowledgeBase
from mlpilot.knowledge.patches import apply_patch, describe_patch
from mlpilot.prompts import render
from mlpilot.tools.agent_tools import apply_fix

PROMPT = "fault_doctor"
#: Used when the knowledge base has nothing untried for a fault.
FALLBACK_FIX = {"optimizer.learning_rate": "x0.1", "optimizer.grad_clip_norm": 1.0}


class TrainingFailed(RuntimeError):
    """Training kept failing after every fix the doctor could try."""


def doctor(state: JobState, runtime: Runtime[JobContext]) -> Command[Literal["train"]]:
    """Fault doctor node: failed fix -> recorded; next fix -> applied; back to train."""
    ctx = runtime.context
    settings = ctx.settings
    fault = state["fault"]
    fixes = state.get("fault_fixes") or []
    update: dict[str, Any] = {"fault_fixes": [], "decisions": []}
    with KnowledgeBase(settings.knowledge_dir) as kb:
        failed = pending_fix(state)
        if failed is not None:
            kb.record(failed["signature"], failed["kind"], failed["diagnosis"], failed["fix"],
                      failed["description"], worked=False)
            update["fault_fixes"].append({**failed, "status": "failed"})
            update["decisions"].append(decision("fault_doctor", f"fix failed: {failed['fix']}",
                                                f"the fault came back: {fault['message']}"))
        attempt = 1 + max((f["attempt"] for f in fixes), default=0)
        if attempt > settings.max_fault_fixes:
            raise TrainingFailed(f"training still fails after {settings.max_fault_fixes} fixes: "
                                 f"{fault['message']}; see the report's fault history")
        signature = f"TrainingFault {fault['kind']}: {fault['message']}"
        tried = [f["fix"] for f in fixes]
        hits = [h for h in kb.search(signature, k=8, fault_kind=fault["kind"])
                if h.entry.fix not in tried]
        if ctx.chat_model is not None:
            fix, diagnosis, description = llm_fix(ctx, fault, state["config"], hits, tried)
        else:
            fix, diagnosis, description = expert_fix(hits, tried)
    config = apply_patch(state["config"], fix)
    TrainingConfig.model_validate(config)  # a fix must leave a valid config
    checkpoint = fault.get("checkpoint")
    applied = {"attempt": attempt, "status": "applied", "kind": fault["kind"],
               "signature": signature, "diagnosis": diagnosis, "fix": fix,
               "description": description, "resumed_from": checkpoint}
    ctx.emit("fault_doctor", f"{fault['kind']}: {diagnosis} -> {description}")
    update["fault_fixes"].append(applied)
    update["decisions"].append(decision(
        "fault_doctor", f"apply {describe_patch(fix)}",
        f"{diagnosis} Resuming from {'the last good checkpoint' if checkpoint else 'scratch'}."))
    return Command(goto="train", update={**update, "config": config, "resume_from": checkpoint})


def expert_fix(hits: list[Hit], tried: list[dict]) -> tuple[dict, str, str]:
    """The best-ranked untried fix from the knowledge base, else the built-in fallback."""
    if hits:
        entry = hits[0].entry
        return entry.fix, entry.diagnosis, entry.fix_description
    if FALLBACK_FIX not in tried:
        return (FALLBACK_FIX, "The loss diverged; no known fix left to try.",
                "Lower the learning rate 10x and clip the gradient norm to 1.0.")
    return ({"optimizer.learning_rate": "x0.1", "batch_size": "x2"},
            "The loss keeps diverging after clipping.",
            "Lower the learning rate 10x again and double the batch size.")


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
            TrainingConfig.model_validate(apply_patch(config, patch))
        except (KeyError, ValueError, ValidationError) as err:
            raise ValueError(f"patch: {err}") from None
        return patch, str(args.get("diagnosis") or ""), describe_patch(patch)

    _, answer = call_until_submitted(ctx.chat_model, [HumanMessage(prompt)], tools=[apply_fix],
                                     finish={"apply_fix": accept})
    return answer
