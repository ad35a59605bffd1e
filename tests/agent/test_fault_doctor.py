"""The fault doctor: a NaN loss in a real job is diagnosed from the knowledge base, fixed,
resumed from the last good checkpoint, verified, and the outcome recorded."""

from __future__ import annotations

import math

import pytest
import torch

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
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
    return TaskRequest(request="predict the species of a penguin, 6 seconds",
                       data=dataset("penguins.csv"))


def test_nan_loss_is_diagnosed_fixed_resumed_and_recorded():
    settings = Settings()
    outcome = Runner(settings, training_callbacks=[BlowUp(epoch=2)]).start(request(), auto_approve=True)

    assert outcome.status == "succeeded"
    applied, verified = outcome.result["fault_fixes"]
    assert applied["status"] == "applied" and applied["kind"] == "nan_loss"
    assert applied["resumed_from"] and applied["resumed_from"].endswith("base.ckpt")
    assert verified["status"] == "worked" and verified["fix"] == applied["fix"]
    assert outcome.result["config"]["optimizer"]["grad_clip_norm"] is not None or \
        outcome.result["model_source"] == "Optuna search"
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
