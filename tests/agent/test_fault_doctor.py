"""The fault doctor: a NaN loss in a real job is diagnosed from the knowledge base, fixed,
resumed from the last good checkpoint, verified, and the outcome recorded."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import pytest
import torch

from mlpilot.agent.context import JobContext
from mlpilot.agent.fault_doctor import doctor
from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.config import TrainingConfig
from mlpilot.engine.training import Callback
from mlpilot.knowledge.kb import KnowledgeBase
from tests.conftest import dataset

pytestmark = pytest.mark.slow


class BlowUp(Callback):
    """Poisons the weights after epoch `epoch` or later, `times` times in all."""

    def __init__(self, epoch: int = 2, times: int = 1):
        self.epoch, self.left = epoch, times

    def on_epoch_end(self, run, epoch) -> None:
        if self.left and epoch.epoch >= self.epoch:
            self.left -= 1
            with torch.no_grad():
                for p in run.model.parameters():
                    p.fill_(math.nan)


def request() -> TaskRequest:
    # No search: these tests are about the base run; a busy machine could otherwise add
    # trial_timeout faults from the search to the fault history.
    return TaskRequest(request="predict the species of a penguin, 6 seconds",
                       data=dataset("penguins.csv"), training={"search": {"enabled": False}})


def test_nan_loss_is_diagnosed_fixed_resumed_and_recorded():
    settings = Settings()
    outcome = Runner(settings, training_callbacks=[BlowUp(epoch=2)]).start(request(), auto_approve=True)

    assert outcome.status == "succeeded"
    applied, verified = outcome.result["fault_fixes"]
    assert applied["status"] == "applied" and applied["kind"] == "nan_loss"
    assert applied["resumed_from"] and applied["resumed_from"].endswith("base.ckpt")
    assert verified["status"] == "worked" and verified["fix"] == applied["fix"]
    assert outcome.result["metrics"]["accuracy"] > outcome.result["baseline_metrics"]["accuracy"]
    with KnowledgeBase(settings.knowledge_dir) as kb:
        hit = kb.search(applied["signature"], k=1, fault_kind="nan_loss")[0]
    assert hit.entry.fix == applied["fix"] and hit.entry.successes == 1


def test_a_fix_that_does_not_work_is_recorded_and_the_next_one_is_tried():
    settings = Settings()
    outcome = Runner(settings, training_callbacks=[BlowUp(epoch=2, times=2)]).start(
        request(), auto_approve=True)

    statuses = [(f["attempt"], f["status"]) for f in outcome.result["fault_fixes"]]
    assert statuses == [(1, "applied"), (1, "failed"), (2, "applied"), (2, "worked")]
    first, second = outcome.result["fault_fixes"][0], outcome.result["fault_fixes"][2]
    assert first["fix"] != second["fix"]
    with KnowledgeBase(settings.knowledge_dir) as kb:
        failed = [e for e in kb.entries("nan_loss") if e.fix == first["fix"]]
    assert failed and failed[0].failures == 1


def test_training_that_keeps_failing_ends_the_job_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("MLPILOT_MAX_FAULT_FIXES", "1")
    from mlpilot.agent.fault_doctor import TrainingFailed

    with pytest.raises(TrainingFailed, match="after 1 fixes"):
        Runner(Settings(), training_callbacks=[BlowUp(epoch=2, times=5)]).start(
            request(), auto_approve=True)


def _fault(kind: str, message: str, stage: str = "train", **facts) -> dict:
    return {"kind": kind, "epoch": 3, "step": 9, "detail": message, "stage": stage,
            "message": f"{kind} at epoch 3 (step 9): {message}", "checkpoint": None,
            "facts": facts, "detected_at": time.time()}


def test_a_different_fault_after_a_fix_settles_that_fix_as_worked():
    settings = Settings()
    halve = {"attempt": 1, "status": "applied", "kind": "out_of_memory", "stage": "train",
             "signature": "TrainingFault out_of_memory: a step needs 9 MiB", "diagnosis": "d",
             "fix": {"batch_size": "x0.5"}, "patch": {"batch_size": "x0.5"}, "description": "",
             "entry_id": "seed-step-memory-limit", "resumed_from": None,
             "detected_at": time.time() - 5}
    state = {"fault": _fault("nan_loss", "train loss became nan"), "fault_fixes": [halve],
             "config": TrainingConfig().model_dump(mode="json")}

    command = doctor(state, SimpleNamespace(context=JobContext(settings=settings)))

    settled, applied = command.update["fault_fixes"]
    assert settled["status"] == "worked" and settled["recovered_s"] >= 5
    assert (applied["kind"], applied["attempt"], command.goto) == ("nan_loss", 2, "train")
    with KnowledgeBase(settings.knowledge_dir) as kb:
        assert kb.get("seed-step-memory-limit").successes == 1


def test_a_search_fault_goes_back_to_the_search_with_the_fault_facts_filled_in():
    state = {"fault": _fault("trial_timeout", "trial 0 ran past its 1s time slice", "tune",
                             epochs_within_slice=7),
             "fault_fixes": [], "config": TrainingConfig().model_dump(mode="json")}

    command = doctor(state, SimpleNamespace(context=JobContext(settings=Settings())))

    [applied] = command.update["fault_fixes"]
    assert command.goto == "tune" and "resume_from" not in command.update
    assert applied["patch"]["max_epochs"] == 7 == command.update["config"]["max_epochs"]
    assert applied["fix"]["max_epochs"] == "$fault.epochs_within_slice"  # the KB keeps the rule


def test_a_plateau_no_fix_cures_is_tolerated_instead_of_failing_the_job():
    from mlpilot.agent.fault_doctor import tolerate
    from mlpilot.agent.trainer import watched_faults

    fault = {"kind": "plateau", "checkpoint": "/runs/x/base.best.ckpt", "message": "plateau"}
    command = tolerate(fault, "train", "no fix left", {"fault_fixes": [], "decisions": []})
    assert command.goto == "train"
    assert command.update["tolerated_faults"] == ["plateau"]
    assert command.update["resume_from"] == "/runs/x/base.best.ckpt"
    assert "tolerate plateau" in command.update["decisions"][0]["decision"]
    assert "plateau" not in watched_faults({"tolerated_faults": ["plateau"]})
    assert "plateau" in watched_faults({})
