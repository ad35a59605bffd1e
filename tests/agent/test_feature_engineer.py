"""The feature engineer: templates by profile, the leakage checks (the target, fitting on
training rows only), the LLM's code from the profile alone, and a clear skip without
bubblewrap. Tiny data; each sandboxed check is one run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mlpilot.agent.config_generator import expert_config
from mlpilot.agent.context import JobContext
from mlpilot.agent.feature_checks import (
    evaluation_program,
    fold_ids,
    split_output,
)
from mlpilot.agent.feature_engineer import engineer_features, feature_columns, select
from mlpilot.agent.feature_templates import propose
from mlpilot.agent.llm_features import llm_transforms
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.config import TaskSpec
from mlpilot.engine.data import profile_table
from mlpilot.engine.features import FeatureStep
from mlpilot.guardrails.policy import RiskPolicy
from mlpilot.sandbox import audit, run_function
from tests.fakes import ScriptedChatModel, tool_call
from tests.sandbox.conftest import needs_bwrap


def mixed(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A table with one column of each kind a template is for, and a target."""
    rng = np.random.default_rng(seed)
    opened = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 8760, n), unit="h")
    weight = rng.uniform(50, 90, n)
    return pd.DataFrame({
        "opened": opened.astype(str), "closed": (opened + pd.to_timedelta(rng.integers(1, 90, n), unit="D")).astype(str),
        "store": rng.choice([f"s{i}" for i in range(25)], n),
        "height_cm": weight * 2.2 + rng.normal(0, 3, n), "weight_kg": weight,
        "claims": rng.lognormal(1, 1.5, n).round(2),
        "comment": [" ".join(rng.choice(["ok", "late", "broken", "fine"], k)) + f" #{i}"
                    for i, k in enumerate(rng.integers(1, 9, n))],
        "label": rng.integers(0, 2, n)})


def test_templates_are_chosen_by_the_data_profile():
    df = mixed()
    steps = {s.name: s for s in propose(df, profile_table(df, "label"), "label")}
    assert set(steps) == {"date_parts", "elapsed", "ratios", "group_stats", "text_counts", "logs"}
    assert steps["group_stats"].fits and not steps["date_parts"].fits  # fitted on training rows
    assert set(steps["ratios"].reads) == {"height_cm", "weight_kg"}
    assert steps["text_counts"].reads == ["comment"] and steps["logs"].reads == ["claims"]
    assert all("label" not in s.source for s in steps.values())
    # plain unrelated numbers: no template, so the node will pay for nothing
    rng = np.random.default_rng(1)
    plain = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80),
                          "label": rng.integers(0, 2, 80)})
    assert propose(plain, profile_table(plain, "label"), "label") == []


def node_state(tmp_path, df: pd.DataFrame, target: str = "label", budget_s: float = 60.0):
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False)
    task = TaskSpec(target=target, task_type="binary", metric="accuracy", budget_s=budget_s)
    profile = profile_table(df, target)
    return {"job_id": "run-test", "request": TaskRequest(data=path).model_dump(mode="json"),
            "task": task.model_dump(mode="json"), "profile": profile.model_dump(mode="json"),
            "config": expert_config(task, profile).model_dump(mode="json"), "budget_used_s": 0.0}


def test_nothing_runs_when_no_template_applies(tmp_path):
    rng = np.random.default_rng(1)
    plain = pd.DataFrame({"a": rng.normal(size=80), "b": rng.normal(size=80),
                          "label": rng.integers(0, 2, 80)})
    runtime = SimpleNamespace(context=JobContext(Settings()))
    command = engineer_features(node_state(tmp_path, plain), runtime)
    assert command.goto == "train" and not command.update
    assert not audit.default_audit_path().exists()  # no sandbox start


def test_the_setting_turns_it_off(tmp_path):
    runtime = SimpleNamespace(context=JobContext(Settings(feature_engineering=False)))
    command = engineer_features(node_state(tmp_path, mixed(60)), runtime)
    assert command.goto == "train" and not command.update


def test_without_bubblewrap_the_job_goes_on_with_a_decision(tmp_path, monkeypatch):
    state = node_state(tmp_path, mixed(60))
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    command = engineer_features(state, SimpleNamespace(context=JobContext(Settings())))
    assert command.goto == "train"
    [made] = command.update["decisions"]
    assert made["decision"] == "feature engineering skipped"
    assert "bubblewrap is not installed" in made["why"] and "apt-get install bubblewrap" in made["why"]


def test_a_tiny_budget_share_skips_before_any_sandbox_start(tmp_path):
    command = engineer_features(node_state(tmp_path, mixed(60), budget_s=5),
                                SimpleNamespace(context=JobContext(Settings())))
    assert command.goto == "train" and "below 3 s" in command.update["decisions"][0]["why"]
    assert not audit.default_audit_path().exists()


LEAKY = '''
def transform(df):
    out = df.copy()
    out["hint"] = df["label"] * 2
    return out
'''
#: Fits on whatever rows it is given: at serving time one row would be its whole "data".
TRANSDUCTIVE = '''
def transform(df):
    out = df.copy()
    out["x_centred"] = df["x"] - df["x"].mean()
    return out
'''
#: The label is a diagonal boundary, which trees on the raw columns only approximate.
GOOD = '''
def transform(df):
    out = df.copy()
    out["x_minus_z"] = df["x"] - df["z"]
    return out
'''


@needs_bwrap
def test_leaky_and_transductive_transforms_are_rejected_and_a_real_signal_is_kept():
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=300), rng.normal(size=300)
    df = pd.DataFrame({"x": x, "z": z, "label": (x > z).astype(int)})
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=60)
    config = expert_config(task, profile_table(df, "label"))
    steps = [FeatureStep(name, code, reads=["x", "z"], origin="llm")
             for name, code in (("leaky", LEAKY), ("transductive", TRANSDUCTIVE), ("good", GOOD))]
    selection = select(df, task, config, steps, feature_columns(df, task, config), seed=0,
                       deadline=float("inf"))
    leaky, transductive, good = selection.verdicts
    assert not leaky.kept and "reads the target column 'label'" in leaky.reason
    assert not transductive.kept and "changes with the other rows" in transductive.reason
    assert good.kept, good.reason
    assert selection.kept_score > selection.base_score
    assert len(selection.train_index) < len(df)  # the checks saw training rows only
    runs = list(audit.records(audit.default_audit_path()))
    assert len(runs) == 1 and runs[0]["purpose"] == "feature candidates"  # one sandbox run


SEEN = '''
import pandas as pd

def fit(df):
    return pd.DataFrame({"id": df["id"]})

def transform(df, state):
    out = df.copy()
    out["seen_in_fit"] = df["id"].isin(state["id"]).astype(float)
    return out
'''


@needs_bwrap
def test_a_fitted_transform_learns_from_the_training_folds_only():
    rows = pd.DataFrame({"id": np.arange(50)})
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=60)
    folds = fold_ids(pd.Series(np.arange(50) % 2), task, seed=0)
    step = FeatureStep("seen", SEEN.lstrip(), reads=["id"], fits=True)
    result = run_function(evaluation_program([step]), {"df": rows, "folds": pd.DataFrame(
        {"fold": folds})}, function="evaluate")
    errors, tables = split_output(result.frame, [step])
    assert not errors
    full = tables[0][tables[0]["__probe"] == 0]
    for k in range(5):
        part = full[full["__fold"] == k].sort_values("__row")
        seen = part["0|seen_in_fit"].to_numpy()
        np.testing.assert_array_equal(seen, (folds != k).astype(float))  # held rows: never seen


def test_the_llm_writes_code_from_the_profile_never_from_rows():
    df = mixed(80)
    df.loc[3, "comment"] = "SECRET-ROW-VALUE"
    task = TaskSpec(target="label", task_type="binary", metric="accuracy", budget_s=60)
    profile = profile_table(df, "label")
    model = ScriptedChatModel(script=[
        tool_call("submit_transforms", transforms=[{"name": "bad", "code": "def transform(:", "why": "?"}]),
        tool_call("submit_transforms", transforms=[
            {"name": "words", "why": "longer comments, more trouble",
             "code": "def transform(df):\n    out = df.copy()\n    out['n'] = "
                     "df['comment'].str.len()\n    return out\n"},
            {"name": "peek", "why": "cheat", "code": "def transform(df):\n    return "
                                                   "df.assign(y=df['label'])\n"}])])
    steps, how = llm_transforms(task, profile, [c for c in df.columns if c != "label"], model)
    prompt = model.calls[0][0].content
    assert '"comment": text' in prompt and "SECRET-ROW-VALUE" not in prompt
    assert "does not parse" in model.calls[1][-1].content  # sent back once with the reason
    assert [s.name for s in steps] == ["words", "peek"] and steps[0].reads == ["comment"]
    assert all(s.origin == "llm" for s in steps) and "LLM" in how
    # the node refuses the one that names the target, on record (tested above with select)


@pytest.mark.parametrize("risk, pre_approvable", [("high", True), ("critical", False)])
def test_serving_code_always_waits_and_model_written_code_is_never_pre_approved(risk,
                                                                               pre_approvable):
    verdict = RiskPolicy().decide("serve_feature_code", risk)
    assert verdict.decision == "approve" and verdict.pre_approvable is pre_approvable


@needs_bwrap
def test_with_an_llm_the_node_runs_the_model_s_code_and_refuses_what_reads_the_target(tmp_path):
    df = mixed(120)
    model = ScriptedChatModel(script=[tool_call("submit_transforms", transforms=[
        {"name": "peek", "why": "cheat", "code": "def transform(df):\n    return "
                                               "df.assign(y=df['label'] * 2)\n"},
        {"name": "kg_squared", "why": "curvature", "code": "def transform(df):\n    return "
                                                         "df.assign(w2=df['weight_kg'] ** 2)\n"}])])
    runtime = SimpleNamespace(context=JobContext(Settings(feature_share=0.5), chat_model=model))
    command = engineer_features(node_state(tmp_path, df), runtime)
    said = {d["decision"]: d["why"] for d in command.update["decisions"]}
    assert "reads the target column 'label'" in said["reject transform 'peek'"]
    verdict = said.get("keep transform 'kg_squared'") or said["reject transform 'kg_squared'"]
    assert "5 folds, quick trees" in verdict  # run in the sandbox and scored
    assert any("written by the LLM" in why for why in said.values())
    columns = model.calls[0][0].content.split("<<<COLUMNS")[1]
    assert '"comment": text' in columns and '"label":' not in columns  # features only
