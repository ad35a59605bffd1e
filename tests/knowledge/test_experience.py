"""The experience store: meta-features, nearest past runs, persistence across processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from mlpilot.engine.sql import SqlDatabase
from mlpilot.knowledge.experience import (
    _STEPS,
    SCHEMA_VERSION,
    Experience,
    ExperienceStore,
    PastTrial,
    ScoredConfig,
    distance,
    meta_features,
)
from tests.conftest import DATASETS, dataset

MANIFEST = json.loads((DATASETS / "manifest.json").read_text()) if DATASETS.exists() else []


def load(name: str) -> tuple[pd.DataFrame, dict]:
    """A shared dataset and its manifest entry (penguins' bundled copy when the folder is absent)."""
    entry = next((m for m in MANIFEST if m["file"] == name), None)
    if entry is None and name == "penguins.csv":
        entry = {"file": name, "task": "multiclass", "target": "species", "rows": 344,
                 "columns": 7, "categorical_columns": ["island", "sex"], "na_values": [],
                 "id_like_columns": [], "leaky_columns": []}
    path = dataset(name)
    return pd.read_csv(path, na_values=entry["na_values"] or None), entry


def halves(df: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = df.sample(frac=0.5, random_state=seed)
    return first, df.drop(first.index)


def experience(run_id: str, df: pd.DataFrame, target: str, task_type: str, score: float = 0.5,
               **fields) -> Experience:
    return Experience(run_id=run_id, dataset=f"{run_id}.csv", target=target, task_type=task_type,
                      metric="r2" if task_type == "regression" else "accuracy",
                      meta=meta_features(df, target, task_type),
                      configs=[ScoredConfig(config={"batch_size": 32}, score=score)], **fields)


@pytest.mark.parametrize("name", [m["file"] for m in MANIFEST] or ["penguins.csv"])
def test_meta_features_describe_each_shared_dataset(name):
    df, entry = load(name)
    dropped = entry["id_like_columns"] + entry["leaky_columns"]
    meta = meta_features(df, entry["target"], entry["task"], dropped)
    features = [c for c in df.columns if c not in {entry["target"], *dropped}]
    assert meta.n_rows == entry["rows"] == len(df)  # no shared dataset lacks a target value
    assert meta.n_features == len(features) == meta.n_numeric + meta.n_categorical
    assert meta.n_categorical == len(set(entry["categorical_columns"]) & set(features))
    assert meta.missing_rate == pytest.approx(df[features].isna().to_numpy().mean())
    assert meta.mean_abs_skew >= 0
    if entry["task"] == "regression":
        y = df[entry["target"]]
        assert meta.n_classes is None and meta.imbalance_ratio is None
        assert meta.target_mean == pytest.approx(y.mean())
        assert meta.target_skew == pytest.approx(y.skew())
    else:
        counts = df[entry["target"]].value_counts()
        assert meta.n_classes == len(counts)
        assert meta.imbalance_ratio == pytest.approx(counts.max() / counts.min())
        assert meta.target_mean is None


def test_penguins_meta_features_by_hand():
    df, _ = load("penguins.csv")
    meta = meta_features(df, "species", "multiclass")
    assert (meta.n_rows, meta.n_features, meta.n_numeric, meta.n_categorical) == (344, 6, 4, 2)
    assert meta.n_classes == 3 and meta.imbalance_ratio == pytest.approx(152 / 68)
    assert meta.missing_rate == pytest.approx(19 / (344 * 6))


def test_distance_is_zero_to_itself_symmetric_and_infinite_across_task_types():
    df, _ = load("penguins.csv")
    a, b = halves(df)
    ma, mb = meta_features(a, "species", "multiclass"), meta_features(b, "species", "multiclass")
    assert distance(ma, ma) == 0.0
    assert distance(ma, mb) == pytest.approx(distance(mb, ma))
    assert 0 < distance(ma, mb) < 0.3
    as_binary = meta_features(a.assign(species=a["species"] == "Adelie"), "species", "binary")
    assert distance(ma, as_binary) == float("inf")


def test_nearest_picks_the_similar_dataset_over_a_dissimilar_one(tmp_path):
    wine, _ = load("wine_quality_white.csv")
    housing, _ = load("california_housing.csv")
    mpg, _ = load("mpg.csv")
    seen, new = halves(wine)
    store = ExperienceStore(tmp_path / "experience.sqlite")
    store.record(experience("housing", housing, "median_house_value", "regression"))
    store.record(experience("wine-half", seen, "quality", "regression"))
    store.record(experience("mpg", mpg.drop(columns=["name"]), "mpg", "regression"))
    penguins, _ = load("penguins.csv")
    store.record(experience("penguins", penguins, "species", "multiclass"))

    query = meta_features(new, "quality", "regression")
    found = store.nearest(query, "regression", k=3)
    assert found[0].experience.run_id == "wine-half"
    assert found[0].distance < 0.3 < found[1].distance
    assert {n.experience.run_id for n in found} == {"wine-half", "housing", "mpg"}  # no penguins
    assert [n.experience.run_id for n in store.nearest(query, "regression", k=1,
                                                       exclude=["wine-half"])] != ["wine-half"]
    assert store.nearest(query, "binary") == []


def test_recording_a_run_again_replaces_it(state_location):
    df, _ = load("penguins.csv")
    store = ExperienceStore(state_location)  # a SQLite file, then PostgreSQL
    store.record(experience("run-1", df, "species", "multiclass", score=0.7))
    store.record(experience("run-1", df, "species", "multiclass", score=0.9))
    assert store.count() == 1
    assert store.get("run-1").best.score == 0.9
    assert store.get("missing") is None


def test_a_runs_trials_come_back_in_order(state_location):
    df, _ = load("penguins.csv")
    trials = [PastTrial(params={"family": "hist_gbt", "tree_leaves": 31}, value=0.91),
              PastTrial(params={"family": "mlp", "depth": 2, "width": 64}, value=0.88)]
    store = ExperienceStore(state_location)
    store.record(experience("run-1", df, "species", "multiclass", trials=trials))
    assert store.get("run-1").trials == trials
    [near] = store.nearest(meta_features(df, "species", "multiclass"), "multiclass")
    assert near.experience.trials == trials


#: The table as version 1 of the store wrote it (no trials).
_V1_SCHEMA = """
CREATE TABLE experiences (run_id TEXT PRIMARY KEY, created_at REAL NOT NULL,
    dataset TEXT NOT NULL, target TEXT NOT NULL, task_type TEXT NOT NULL, metric TEXT NOT NULL,
    meta TEXT NOT NULL, configs TEXT NOT NULL, base_score REAL);
CREATE INDEX experiences_task_type ON experiences (task_type);
PRAGMA user_version = 1;
"""


def test_a_store_written_before_trials_were_kept_is_upgraded_in_place(tmp_path):
    df, _ = load("penguins.csv")
    path = tmp_path / "experience.sqlite"
    old = experience("old-run", df, "species", "multiclass", score=0.93, base_score=0.9)
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
        conn.execute("INSERT INTO experiences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            old.run_id, old.created_at, old.dataset, old.target, old.task_type, old.metric,
            old.meta.model_dump_json(), json.dumps([c.model_dump() for c in old.configs]),
            old.base_score))
    conn.close()

    store = ExperienceStore(path)
    assert store.get("old-run") == old  # nothing lost; no trials
    assert store.get("old-run").trials == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM mlpilot_schema WHERE component = "
                            "'experience'").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()
    new = experience("new-run", df, "species", "multiclass",
                     trials=[PastTrial(params={"depth": 1}, value=0.8)])
    store.record(new)
    assert ExperienceStore(path).get("new-run") == new  # opening again migrates nothing twice
    assert [e.run_id for e in store.experiences("multiclass")] == ["old-run", "new-run"]


def test_a_postgres_store_of_the_first_version_is_upgraded(postgres_url):
    df, _ = load("penguins.csv")
    old = experience("old-run", df, "species", "multiclass", score=0.93, base_score=0.9)
    db = SqlDatabase(postgres_url)
    db.migrate("experience", _STEPS[:1])  # as the first release left it
    with db.connect() as conn:
        conn.execute("INSERT INTO experiences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (
            old.run_id, old.created_at, old.dataset, old.target, old.task_type, old.metric,
            old.meta.model_dump_json(), json.dumps([c.model_dump() for c in old.configs]),
            old.base_score))
    store = ExperienceStore(postgres_url)
    assert store.get("old-run") == old and store.get("old-run").trials == []
    assert store.sql.migrate("experience", _STEPS) == SCHEMA_VERSION == 2


def test_a_store_from_a_newer_mlpilot_is_refused(tmp_path):
    path = tmp_path / "experience.sqlite"
    ExperienceStore(path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE mlpilot_schema SET version = {SCHEMA_VERSION + 1} "
                     "WHERE component = 'experience'")
    conn.close()
    with pytest.raises(RuntimeError, match="upgrade mlpilot"):
        ExperienceStore(path)


def run_python(code: str) -> str:
    """Run code in a fresh interpreter (a second process on the same store)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_experiences_persist_across_processes(tmp_path):
    path = tmp_path / "experience.sqlite"
    penguins = dataset("penguins.csv")
    run_python(f"""
        import pandas as pd
        from mlpilot.knowledge.experience import Experience, ExperienceStore, ScoredConfig, meta_features
        df = pd.read_csv({str(penguins)!r})
        ExperienceStore({str(path)!r}).record(Experience(
            run_id="from-child", dataset="penguins.csv", target="species", task_type="multiclass",
            metric="accuracy", meta=meta_features(df, "species", "multiclass"),
            configs=[ScoredConfig(config={{"batch_size": 16}}, score=0.97, source="trial 3")]))
    """)
    df, _ = load("penguins.csv")
    store = ExperienceStore(path)
    [near] = store.nearest(meta_features(df, "species", "multiclass"), "multiclass")
    assert near.experience.run_id == "from-child" and near.distance == 0.0
    assert near.experience.best == ScoredConfig(config={"batch_size": 16}, score=0.97,
                                                source="trial 3")

    store.record(experience("from-parent", df, "species", "multiclass"))
    out = run_python(f"""
        from mlpilot.knowledge.experience import ExperienceStore
        print(sorted(e.run_id for e in ExperienceStore({str(path)!r}).experiences("multiclass")))
    """)
    assert out.strip() == "['from-child', 'from-parent']"
