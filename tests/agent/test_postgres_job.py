"""A real job with `MLPILOT_DATABASE_URL` set: all of its state goes to PostgreSQL (the
store, LangGraph's checkpoints, Optuna, MLflow, the experience store) and none to SQLite."""

from __future__ import annotations

from pathlib import Path

import mlflow
import psycopg
import pytest

from mlpilot.agent.jobs import JobService
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import END_STATUSES, Store
from mlpilot.agent.workers import Worker
from mlpilot.knowledge.experience import ExperienceStore
from tests.conftest import dataset


def sqlite_files(folder: Path) -> list[Path]:
    """Every SQLite database under a folder, by its header (whatever the file is named)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                if f.read(16) == b"SQLite format 3\x00":
                    found.append(path)
    return found


@pytest.mark.slow
def test_a_job_keeps_all_its_state_in_postgres(postgres_url, monkeypatch, _isolated):
    """Submitted to the job service, run by a worker process, stopped at the registration
    gate, approved, resumed by the worker from its checkpoint."""
    monkeypatch.setenv("MLPILOT_DATABASE_URL", postgres_url)
    settings = Settings()
    service = JobService(settings, workers=1, worker_mode="process")
    service.start()
    try:
        job, _ = service.submit(TaskRequest(request="predict the species of a penguin, 5 seconds",
                                            data=dataset("penguins.csv")))
        assert service.wait(job.id, until={"waiting_approval", *END_STATUSES},
                            timeout=300).status == "waiting_approval"
        [pending] = service.approvals(job_id=job.id)
        assert pending.action == "register_champion"
        assert service.document(job.id)["metrics"]  # read from the job's checkpoint
        service.approve(pending.id, by="alice", reason="fine")
        done = service.wait(job.id, timeout=300)
    finally:
        service.stop()
    assert done.status == "succeeded", done.error
    assert done.result["model"]["version"] == "1"

    with psycopg.connect(postgres_url) as db:
        def one(sql: str, *args: object) -> object:
            return db.execute(sql, args).fetchone()[0]

        assert one("SELECT status FROM jobs WHERE id = %s", job.id) == "succeeded"
        assert one("SELECT status FROM approvals WHERE job_id = %s", job.id) == "approved"
        assert one("SELECT COUNT(*) FROM events WHERE job_id = %s", job.id) >= 5
        assert one("SELECT COUNT(*) FROM checkpoints WHERE thread_id = %s", job.id) >= 5
        assert one("SELECT COUNT(*) FROM optuna.studies") == 1
        assert one("SELECT COUNT(*) FROM optuna.trials") >= 1
        assert one("SELECT COUNT(*) FROM mlflow.runs") >= 2
        assert one("SELECT COUNT(*) FROM mlflow.model_versions") == 1
        assert one("SELECT COUNT(*) FROM experiences WHERE run_id = %s", job.id) == 1

    client = mlflow.MlflowClient(settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert str(client.get_model_version_by_alias("penguins-species", "champion").version) == "1"
    assert ExperienceStore(settings.experience_db).get(job.id).configs  # the warm start's source
    assert sqlite_files(_isolated) == []


class _LostDatabase:
    """A runner whose job meets a dropped PostgreSQL connection mid-node."""

    def __init__(self, settings, **_):
        pass

    def proceed(self, job_id):
        raise RuntimeError("could not save the checkpoint") from psycopg.OperationalError(
            "consuming input failed: server closed the connection unexpectedly")


def test_a_job_that_loses_the_database_goes_back_to_the_queue(postgres_url, monkeypatch):
    monkeypatch.setenv("MLPILOT_DATABASE_URL", postgres_url)
    settings = Settings()
    store = Store(settings.state_db)
    job = store.create_job({"request": "x"}, queued=True)
    worker = Worker(settings, _LostDatabase, stopping=lambda: False)
    assert worker.drive(store.take_queued()) == "queued"
    assert store.job(job.id).status == "queued"  # not failed: it resumes from its checkpoint
    assert store.events(job.id)[-1].message == (
        "the database went away; the run goes on from its last checkpoint")


class _TakenOverMidway:
    """A runner whose job is taken over by a runner on another node (this one's lease
    ended: a stall, a lost link) before its next progress event."""

    def __init__(self, settings, progress, training_callbacks):
        self.settings, self.progress = settings, progress

    def proceed(self, job_id):
        store = Store(self.settings.state_db)
        with store._connect() as db:
            db.execute("UPDATE jobs SET runner_node = 'node-b', runner_pid = 4000001 "
                       "WHERE id = ?", (job_id,))
        self.progress({"stage": "train", "message": "epoch 9"})  # its stop check reads the store
        raise AssertionError("the stop check let a runner that lost its job go on")


def test_a_runner_that_lost_its_job_to_another_node_stops_and_writes_nothing_more(tmp_path):
    settings = Settings(data_dir=tmp_path)
    store = Store(settings.state_db)
    job = store.create_job({"request": "x"}, queued=True)
    worker = Worker(settings, _TakenOverMidway, stopping=lambda: False)
    assert worker.drive(store.take_queued()) == "taken_over"
    after = store.job(job.id)
    assert (after.status, after.runner_node, after.runner_pid) == ("running", "node-b", 4000001)
    assert [e.message for e in store.events(job.id)][-2:] == ["started", "epoch 9"]
