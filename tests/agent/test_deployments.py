"""Deployments: deploy by version or alias, rollback, canary and shadow routing, and the
prediction log that every prediction writes."""

from __future__ import annotations

import sqlite3

import pytest

from mlpilot.agent.deployments import Deployments, canary_bucket
from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Conflict, Store
from mlpilot.agent.store.predictions import PredictionLog
from mlpilot.engine.input_schema import RowError
from tests.deploy_fixtures import NAME, fresh_server, register, rows, table, train


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Three versions of one model, registered once for the module."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("registry"))
    register(settings, [train(seed=0), train(seed=1, epochs=1), train(seed=2, epochs=2)])
    return settings


@pytest.fixture
def deployments(registry, tmp_path):
    """A fresh deployment store and prediction log on the module's registry (version 1 is
    the champion again, no challenger)."""
    settings = registry.model_copy(update={"data_dir": tmp_path})
    made = Deployments(settings, store=Store(tmp_path / "state.sqlite"),
                       log=PredictionLog(tmp_path / "predictions.sqlite"),
                       server=fresh_server(registry))
    yield made
    made.close()


def test_deploy_and_rollback_move_the_champion_and_are_audited(deployments):
    assert deployments.champion(NAME) == "1"  # never deployed: the registry's alias
    first = deployments.deploy(NAME, "2", by="olivia", reason="better on holdout")
    assert first.version == "2" and first.previous == "1" and first.deployment.lineage == ["1", "2"]
    assert deployments.deploy(NAME, "latest", by="olivia").version == "3"
    assert deployments.server.resolve(NAME, "champion") == "3"  # the alias follows

    back = deployments.rollback(NAME, by="alice", reason="alerts")
    assert (back.previous, back.version) == ("3", "2")
    assert deployments.champion(NAME) == "2" == deployments.server.resolve(NAME, "champion")
    assert deployments.rollback(NAME, by="alice").version == "1"
    with pytest.raises(Conflict, match="no earlier champion"):
        deployments.rollback(NAME, by="alice")
    history = deployments.store.history(NAME)
    assert [(h.action, h.version, h.previous, h.by) for h in history] == [
        ("rollback", "1", "2", "alice"), ("rollback", "2", "3", "alice"),
        ("deploy", "3", "2", "olivia"), ("deploy", "2", "1", "olivia")]
    assert history[-1].reason == "better on holdout"


def test_deploy_by_alias_and_unknown_versions(deployments):
    assert deployments.deploy(NAME, "champion", by="o").version == "1"
    with pytest.raises(LookupError, match="has no version 9"):
        deployments.deploy(NAME, "9", by="o")
    with pytest.raises(LookupError, match="no registered model"):
        deployments.deploy("nobody", None, by="o")


def test_every_prediction_is_logged_with_its_version_and_latency(deployments):
    sent = rows(table(5, seed=3))
    made = deployments.predict(NAME, sent, request_id="req-1")
    assert made.ids == [f"req-1/{i}" for i in range(5)] and set(made.versions) == {"1"}
    logged = deployments.log.rows(NAME)
    assert len(logged) == 5 and {r["request_id"] for r in logged} == {"req-1"}
    assert sorted(r["output"] for r in logged) == sorted(made.predictions)
    assert all(r["latency_ms"] > 0 and len(r["input_hash"]) == 16 for r in logged)
    assert logged[-1]["inputs"] == sent[0]  # oldest last: row 0
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite3.connect(deployments.log.path).execute("UPDATE predictions SET version = '9'")


def test_bad_rows_are_refused_before_anything_is_logged(deployments):
    sent = rows(table(3))
    sent[1]["height"] = "tall-ish"
    with pytest.raises(RowError, match="row 1, column 'height'"):
        deployments.predict(NAME, sent)
    assert deployments.log.count(NAME) == 0


def test_a_canary_answers_its_share_by_entity_id_deterministically(deployments):
    deployments.deploy(NAME, "2", by="o", mode="canary", share=0.3)
    sent = rows(table(200, seed=4))
    ids = [f"customer-{i}" for i in range(200)]
    made = deployments.predict(NAME, sent, entity_ids=ids)
    expected = ["2" if canary_bucket(i) < 0.3 else "1" for i in ids]
    assert made.versions == expected and 40 <= expected.count("2") <= 80
    again = deployments.predict(NAME, sent[:20], entity_ids=ids[:20])
    assert again.versions == expected[:20]  # the same customer meets the same version
    assert made.version == "1,2"
    with pytest.raises(Conflict, match="champion already"):
        deployments.deploy(NAME, "1", by="o", mode="shadow")


def test_a_shadow_scores_every_row_but_never_answers(deployments):
    deployments.deploy(NAME, "3", by="o", mode="shadow")
    sent = rows(table(10, seed=5))
    made = deployments.predict(NAME, sent, request_id="r")
    deployments.drain()
    assert set(made.versions) == {"1"}
    shadows = deployments.log.rows(NAME, role="shadow")
    assert len(shadows) == 10 and {r["version"] for r in shadows} == {"3"}
    assert {r["id"] for r in shadows} == set(made.ids)


def test_retention_deletes_only_old_rows(tmp_path):
    from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog

    now = [1_000_000.0]
    log = PredictionLog(tmp_path / "p.sqlite", retention_days=1, clock=lambda: now[0])
    log.append([LoggedPrediction("a", "a", "m", "1", "answer", 1.0, {"x": 1}, 0)])
    now[0] += 2 * 86400
    log.append([LoggedPrediction("b", "b", "m", "1", "answer", 1.0, {"x": 2}, 1)])
    assert log.prune() == 1 and [r["id"] for r in log.rows("m")] == ["b"]


def test_sampling_keeps_a_hash_for_every_row_and_inputs_for_a_share(tmp_path):
    from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog

    log = PredictionLog(tmp_path / "p.sqlite", sample=0.25)
    log.append([LoggedPrediction(str(i), "r", "m", "1", "answer", 1.0, {"x": i}, 0)
                for i in range(400)])
    found = log.rows("m")
    kept = [r for r in found if r["inputs"] is not None]
    assert len(found) == 400 and 60 <= len(kept) <= 140


def test_requests_scored_together_keep_their_own_outcomes(deployments):
    from mlpilot.agent.deployments import RowsRequest

    deployments.deploy(NAME, "2", by="o", mode="canary", share=0.5)
    good, other = rows(table(6, seed=6)), rows(table(4, seed=7))
    bad = rows(table(2, seed=8))
    bad[1]["age"] = "old"
    ids = [f"c-{i}" for i in range(4)]
    made = deployments.predict_many(NAME, [RowsRequest(good, "a"), RowsRequest(bad, "b"),
                                           RowsRequest(other, "c", ids)])
    assert isinstance(made[1], RowError) and str(made[1]).startswith("row 1, column 'age'")
    alone = [deployments.predict(NAME, good, request_id="a"),
             deployments.predict(NAME, other, request_id="c", entity_ids=ids)]
    for together, single in zip((made[0], made[2]), alone, strict=True):
        assert (together.ids, together.versions) == (single.ids, single.versions)
        assert together.predictions == single.predictions
    assert made[2].versions == ["2" if canary_bucket(i) < 0.5 else "1" for i in ids]
    logged = deployments.log.rows(NAME)
    assert sorted(r["request_id"] for r in logged) == sorted(["a"] * 12 + ["c"] * 8)


def test_the_log_lives_in_postgresql_when_the_database_url_names_it(postgres_url, tmp_path):
    import psycopg

    from mlpilot.agent.store.predictions import LoggedPrediction, PredictionLog

    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    assert settings.prediction_db == postgres_url
    now = [1_000_000.0]
    log = PredictionLog(settings.prediction_db, retention_days=1, clock=lambda: now[0])
    log.append([LoggedPrediction("a", "r1", "m", "1", "answer", 1.5, {"x": 1}, "yes")])
    now[0] += 2 * 86400
    log.append([LoggedPrediction("b", "r2", "m", "2", "answer", 2.5, {"x": 2.5}, "no")])
    assert log.add_feedback({"b": "no", "nobody": "yes"}, by="olivia") == 1
    assert [(r["id"], r["version"], r["inputs"], r["output"]) for r in log.rows("m")] == [
        ("b", "2", {"x": 2.5}, "no"), ("a", "1", {"x": 1}, "yes")]
    assert [(p.id, p.truth) for p in log.labelled("m")] == [("b", "no")]
    with psycopg.connect(postgres_url) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute("UPDATE predictions SET version = '9'")
    assert log.prune() == 1 and [r["id"] for r in log.rows("m")] == ["b"]  # retention
    log.close()
    assert PredictionLog(postgres_url, retention_days=None).count("m") == 1  # opened again
