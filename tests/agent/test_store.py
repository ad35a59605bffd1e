"""The approval queue: one decision per approval, expiry counts as rejection, runner claims;
each on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from mlpilot.agent.store import Store, StoreError, SubmissionKey
from mlpilot.agent.store.database import _STEPS, SCHEMA_VERSION
from mlpilot.agent.store.leases import this_node
from mlpilot.engine.sql import SqlDatabase


@pytest.fixture
def store(state_location) -> Store:
    """A store on each backend: a SQLite file, then a PostgreSQL database."""
    return Store(state_location)


def test_a_decision_is_recorded_once_with_who_and_when(store):
    job = store.create_job({"request": "x"})
    approval = store.request_approval(job.id, "i-1", "register_champion", "policy says so", {"a": 1})
    assert store.request_approval(job.id, "i-1", "register_champion", "again", {}).id == approval.id

    decided = store.decide(approval.id, True, by="alice", reason="fine")
    assert (decided.status, decided.decided_by, decided.decision_reason) == ("approved", "alice", "fine")
    assert decided.decided_at is not None and decided.decided_at >= decided.created_at
    with pytest.raises(StoreError, match="already approved by alice"):
        store.decide(approval.id, False, by="bob")
    assert store.approval(approval.id).decided_by == "alice"


def test_an_expired_approval_counts_as_rejected_and_cannot_be_decided(store):
    job = store.create_job({})
    approval = store.request_approval(job.id, "i-1", "train", "big budget", {}, ttl_s=0.05)
    time.sleep(0.1)
    assert store.approvals(status="pending") == []
    assert store.approval(approval.id).status == "expired"
    with pytest.raises(StoreError, match="already expired"):
        store.decide(approval.id, True, by="alice")


def test_unknown_ids_are_clear_errors(store):
    with pytest.raises(StoreError, match="no approval 'ap-nope'"):
        store.decide("ap-nope", True, by="x")
    with pytest.raises(StoreError, match="no run 'run-nope'"):
        store.job("run-nope")


def test_only_one_live_process_drives_a_job(store):
    job = store.create_job({})
    store.release(job.id)  # the creating process lets go
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from mlpilot.agent.store import Store; "
         f"s = Store(sys.argv[1]); s.claim({job.id!r}); print('ok', flush=True); time.sleep(30)"),
         str(store.location)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        assert store.runner_alive(job.id)
        assert store.claim(job.id) is False
    finally:
        holder.kill()
        holder.wait()
    assert store.claim(job.id) is True  # a dead holder does not block


def test_a_dead_runner_has_only_its_own_jobs_queued_again(store):
    first, second = (store.create_job({"n": i}, queued=True) for i in range(2))
    store.take_queued()
    store.take_queued()
    with store._connect() as db:  # as two Ray actors on other machines would hold them
        db.execute("UPDATE jobs SET runner_pid = ? WHERE id = ?", (4_000_001, first.id))
        db.execute("UPDATE jobs SET runner_pid = ? WHERE id = ?", (4_000_002, second.id))
    assert store.requeue_held_by(4_000_001) == [first.id]
    assert store.job(first.id).status == "queued" and store.job(first.id).runner_pid is None
    assert store.job(second.id).status == "running"


def test_a_job_held_on_another_node_is_taken_over_only_once_its_lease_has_ended(store):
    live, ended = (store.create_job({"n": i}, queued=True) for i in range(2))
    store.take_queued()
    store.take_queued()
    now = time.time()
    with store._connect() as db:  # as workers on another machine hold them
        # a process id on another node says nothing here: one dead here with a running
        # lease, one alive here (this very process) with an ended lease
        db.execute("UPDATE jobs SET runner_node = 'node-b', runner_pid = 4000001, "
                   "lease_until = ? WHERE id = ?", (now + 600, live.id))
        db.execute("UPDATE jobs SET runner_node = 'node-b', runner_pid = ?, lease_until = ? "
                   "WHERE id = ?", (os.getpid(), now - 1, ended.id))
    assert store.runner_alive(live.id) and not store.runner_alive(ended.id)
    assert store.claim(live.id) is False
    assert store.requeue_orphans() == [ended.id]  # a server starting here
    assert store.requeue_expired() == []  # the sweeper: the live lease stays
    assert store.job(live.id).status == "running" and store.job(live.id).runner_node == "node-b"
    taken = store.take_queued()
    assert (taken.id, taken.runner_node, taken.runner_pid) == (ended.id, this_node(), os.getpid())
    assert taken.lease_until > time.time()


def test_an_ended_lease_is_taken_over_by_claim_and_by_the_sweeper(store):
    first, second = (store.create_job({"n": i}, queued=True) for i in range(2))
    store.take_queued()
    store.take_queued()
    with store._connect() as db:
        db.execute("UPDATE jobs SET runner_node = 'node-b', lease_until = ?", (time.time() - 1,))
    assert store.claim(first.id) is True and store.job(first.id).runner_node == this_node()
    assert store.requeue_expired() == [second.id]
    assert store.job(second.id).status == "queued" and store.job(second.id).lease_until is None


def test_a_holder_renews_only_its_own_leases(store):
    mine, theirs = (store.create_job({"n": i}, queued=True) for i in range(2))
    store.take_queued()
    store.take_queued()
    with store._connect() as db:
        db.execute("UPDATE jobs SET lease_until = 1.0")
        db.execute("UPDATE jobs SET runner_node = 'node-b' WHERE id = ?", (theirs.id,))
    assert store.renew_leases() == 1
    assert store.job(mine.id).lease_until > time.time() and store.job(theirs.id).lease_until == 1.0


def test_workers_racing_for_the_queue_take_each_job_once(store):
    ids = [store.create_job({"n": i}, queued=True).id for i in range(12)]
    taken: list[str] = []

    def worker() -> None:
        mine = Store(store.location)  # its own connections, as a worker process has
        while (job := mine.take_queued()) is not None:
            taken.append(job.id)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(taken) == sorted(ids)  # none lost, none taken twice
    assert store.count("running") == 12 and store.take_queued() is None


def test_one_idempotency_key_makes_one_job_however_many_race(store):
    key = SubmissionKey("alice", "key-1", "digest")
    made: list[tuple[str, bool]] = []

    def submit() -> None:
        job, new = Store(store.location).create_job_once({"r": 1}, key)
        made.append((job.id, new))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len({job_id for job_id, _ in made}) == 1
    assert sum(new for _, new in made) == 1 and store.count() == 1


def test_events_come_back_in_order_with_their_figures(store):
    job = store.create_job({})
    first = store.add_event(job.id, "train", "epoch 1", loss=0.5, score=float("nan"))
    second = store.add_event(job.id, "train", "50% done")  # a literal % in the text
    assert second > first == store.events(job.id)[0].id
    assert [(e.message, e.data) for e in store.events(job.id)] == [
        ("epoch 1", {"loss": 0.5, "score": None}), ("50% done", {})]
    assert [e.id for e in store.events_after(first)] == [second] and store.last_event_id() == second


def test_a_store_from_the_first_schema_is_migrated_with_its_jobs(state_location):
    """Version 1 had no job options, cancel flag, deployments or leases: opening it with
    this mlpilot adds them and keeps the jobs."""
    old = SqlDatabase(state_location)
    assert old.migrate("store", _STEPS[:1]) == 0
    with old.connect() as db:
        db.execute("INSERT INTO jobs (id, created_at, updated_at, status, request) "
                   "VALUES ('run-old', 1.5, 2.5, 'succeeded', '{\"request\": \"x\"}')")
    store = Store(state_location)
    job = store.job("run-old")
    assert (job.status, job.request, job.options, job.cancel_requested, job.created_at,
            job.runner_node, job.lease_until) == ("succeeded", {"request": "x"}, {}, False, 1.5,
                                                  None, None)
    assert store.sql.migrate("store", _STEPS) == SCHEMA_VERSION == 4  # nothing left to do
    assert store.deployment_list() == []
    store.change_deployment("churn", "deploy", by="olivia", champion="1")
    store.change_deployment("churn", "deploy", by="olivia", champion="2")
    assert store.change_deployment("churn", "rollback", by="bob", rollback=True)[0].champion == "1"
    fresh = store.create_job({}, queued=True, options={"auto_approve": True})
    assert store.request_cancel(fresh.id, by="bob").status == "cancelled"
    assert store.job(fresh.id).options == {"auto_approve": True}
