"""The approval queue: one decision per approval, expiry counts as rejection, runner claims."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from mlpilot.agent.store import Store, StoreError


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "state.sqlite")


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


def test_only_one_live_process_drives_a_job(store, tmp_path):
    job = store.create_job({})
    store.release(job.id)  # the creating process lets go
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from mlpilot.agent.store import Store; "
         f"s = Store(sys.argv[1]); s.claim({job.id!r}); print('ok', flush=True); time.sleep(30)"),
         str(tmp_path / "state.sqlite")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        assert store.runner_alive(job.id)
        assert store.claim(job.id) is False
    finally:
        holder.kill()
        holder.wait()
    assert store.claim(job.id) is True  # a dead holder does not block
