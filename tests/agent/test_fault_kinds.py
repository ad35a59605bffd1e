"""Every fault kind, injected for real into a job: the engine detects it, the doctor
diagnoses it from the knowledge base and applies a fix, training resumes (from the last
good checkpoint when the fix keeps the network), and the fix is verified and recorded.

The jobs share one data directory (MLflow store and knowledge base are created once) and
stop at the registration gate: what matters here ends with the evaluation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlpilot.agent.runner import Runner
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import load_table
from mlpilot.engine.injection import (
    AllocateTooMuch,
    KillWorker,
    RaiseLearningRate,
    corrupt_column,
    memorisable_frame,
    memory_cap_between_batches,
    sales_frame,
)
from mlpilot.guardrails.dry_run import sample_rows
from mlpilot.knowledge.kb import KnowledgeBase
from tests.conftest import dataset

pytestmark = pytest.mark.slow

QUICK = {"search": {"enabled": False}, "max_epochs": 80}


def _csv(tmp: Path, name: str, df: pd.DataFrame) -> Path:
    path = tmp / name
    df.to_csv(path, index=False)
    return path


def _sales(tmp: Path) -> Path:
    """1,200 rows with five corrupt prices (1e300) outside the rows the dry run samples."""
    df = sales_frame()
    task = TaskSpec(target="y", task_type="binary", metric="accuracy", budget_s=1)
    seen = sample_rows(df, task, 512, seed=0).index
    return _csv(tmp, "sales.csv", corrupt_column(df, "price", rows=5, avoid=seen))


def _noisy(tmp: Path) -> Path:
    return _csv(tmp, "noisy.csv", memorisable_frame())


def scenario(kind: str, tmp: Path) -> dict:
    """The request, settings and callbacks that make `kind` really happen in a job."""
    penguins = dataset("penguins.csv")
    match kind:
        case "divergence":  # the rate jumps 100x after epoch 5
            return {"data": penguins, "callbacks": [RaiseLearningRate(at=5, factor=100)]}
        case "exploding_gradients":  # body mass in 0.1 mg, and no scaling
            df = load_table(penguins)
            return {"data": _csv(tmp, "mg.csv", df.assign(body_mass_g=df.body_mass_g * 1e4)),
                    "training": {"preprocessing": {"scaling": "none"}}}
        case "no_learning":
            return {"data": penguins, "training": {"optimizer": {"learning_rate": 1e-9}}}
        case "plateau":
            return {"data": dataset("mpg.csv"), "request": "predict mpg, ignore the name column",
                    "training": {"optimizer": {"learning_rate": 0.02, "scheduler": "none"}}}
        case "overfitting":
            return {"data": _noisy(tmp), "request": "predict y",
                    "training": {"model": {"hidden_sizes": [256, 256], "dropout": 0.0},
                                 "optimizer": {"weight_decay": 0.0}}}
        case "out_of_memory":
            return {"data": penguins, "training": {"batch_size": 128},
                    "settings": {"train_memory_limit_mb": memory_cap_between_batches()}}
        case "out_of_memory_allocation":
            return {"data": penguins, "callbacks": [AllocateTooMuch()]}
        case "bad_batch":
            return {"data": _sales(tmp), "request": "predict y",
                    "training": {"preprocessing": {"scaling": "standard"}}}
        case "trial_timeout":
            return {"data": penguins, "budget": 10, "training": {"search": {"enabled": True}},
                    "settings": {"trial_slice_s": 0.5}}
        case "worker_crash":
            return {"data": penguins, "settings": {"train_in_subprocess": True},
                    "callbacks": [KillWorker(at=2, marker=tmp / "killed")]}
    raise ValueError(kind)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fault-kinds")


def run_job(kind: str, tmp: Path, data_dir: Path):
    s = scenario(kind, tmp)
    settings = Settings(data_dir=data_dir, **s.get("settings", {}))
    training = {**QUICK, **s.get("training", {})}
    request = TaskRequest(request=f"{s.get('request', 'predict species')}, {s.get('budget', 6)} seconds",
                          data=s["data"], training=training)
    outcome = Runner(settings, training_callbacks=s.get("callbacks", [])).start(request)
    return settings, outcome


#: kind -> (the fault kind the engine reports, does the fix resume from a checkpoint?)
KINDS = {
    "divergence": ("divergence", True),
    "exploding_gradients": ("exploding_gradients", False),  # rescaled inputs: fresh weights
    "no_learning": ("no_learning", True),
    "plateau": ("plateau", True),
    "overfitting": ("overfitting", False),  # dropout switched on: another network
    "out_of_memory": ("out_of_memory", False),  # before the first epoch: nothing to resume
    "out_of_memory_allocation": ("out_of_memory", False),
    "bad_batch": ("bad_batch", False),
    "trial_timeout": ("trial_timeout", False),  # a search fault: later trials get the fix
    "worker_crash": ("worker_crash", True),
}


def bad_column_dropped_by_name(result: dict) -> None:
    applied = next(f for f in result["fault_fixes"] if f["kind"] == "bad_batch")
    assert applied["patch"] == {"preprocessing.drop_columns": ["price"]}
    assert result["config"]["preprocessing"]["drop_columns"] == ["price"]


def search_continued_with_the_fix(result: dict) -> None:
    search = result["search"]
    assert search["rounds"] >= 2
    assert search["n_complete"] + search["n_pruned"] == search["n_trials"] >= 3
    assert "max_epochs" in result["fault_fixes"][-1]["patch"]  # later trials train less


EXTRA_CHECKS = {"bad_batch": bad_column_dropped_by_name,
                "trial_timeout": search_continued_with_the_fix}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_fault_is_detected_fixed_resumed_and_verified(kind, tmp_path, data_dir):
    expected, resumes = KINDS[kind]
    settings, outcome = run_job(kind, tmp_path, data_dir)

    assert outcome.status == "waiting_approval"  # trained and evaluated; registration waits
    result = outcome.result
    fixes = [f for f in result["fault_fixes"] if f["kind"] == expected]
    assert fixes and fixes[0]["status"] == "applied", result["fault_fixes"]
    worked = fixes[-1]
    assert worked["status"] == "worked" and worked["recovered_s"] > 0
    assert [f["status"] for f in fixes if f["attempt"] == worked["attempt"]] == ["applied", "worked"]
    assert bool(worked["resumed_from"]) == resumes
    assert worked["diagnosis"] and worked["description"]
    assert result["metrics"]
    assert result["search"] is None or result["search"]["n_failed"] == 0  # no trial lost
    with KnowledgeBase(settings.knowledge_dir) as kb:
        entry = kb.get(worked["entry_id"])
    assert entry is not None and entry.fault_kind == expected and entry.successes >= 1
    EXTRA_CHECKS.get(kind, lambda result: None)(result)
