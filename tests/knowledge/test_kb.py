"""The fault knowledge base on an embedded ChromaDB."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from mlpilot.knowledge.embeddings import HashingEmbedding
from mlpilot.knowledge.kb import SEEDS_DIR, KnowledgeBase, load_seed_entries

NAN_FIX = {"optimizer.learning_rate": "x0.1", "optimizer.grad_clip_norm": 1.0}


@pytest.fixture()
def kb(tmp_path):
    base = KnowledgeBase(tmp_path / "kb", HashingEmbedding())
    yield base
    base.close()


def run_python(code: str) -> str:
    """Run code in a fresh interpreter (a second process on the same store)."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_seeds_cover_the_common_training_faults(kb):
    seeds = load_seed_entries()
    assert len(seeds) >= 12 and kb.count() == len(seeds)
    kinds = {s.fault_kind for s in seeds}
    assert {"nan_loss", "exploding_loss", "divergence", "exploding_gradients", "no_learning",
            "plateau", "overfitting", "out_of_memory", "bad_batch", "trial_timeout",
            "worker_crash"} <= kinds
    assert all(s.source == "seed" for s in seeds)
    # an empty fix means "restart as is", which only a crashed worker calls for
    assert {s.fault_kind for s in seeds if not s.fix} == {"worker_crash"}


def test_search_finds_the_nan_loss_fix(kb):
    hits = kb.search("loss is nan after epoch 3")
    top = hits[0].entry
    assert top.fault_kind == "nan_loss"
    assert "optimizer.learning_rate" in top.fix
    assert hits[0].similarity > hits[-1].similarity


@pytest.mark.parametrize(("query", "kind"), [
    ("RuntimeError: CUDA out of memory. Tried to allocate 512.00 MiB", "out_of_memory"),
    ("validation loss going up while training loss goes down", "overfitting"),
    ("ValueError: Expected more than 1 value per channel when training", "bad_batch"),
    ("worker exited with code -9", "worker_crash"),
])
def test_search_matches_other_error_texts(kb, query, kind):
    assert kb.search(query, k=1)[0].entry.fault_kind == kind


def test_fault_kind_filter(kb):
    hits = kb.search("loss is nan", k=10, fault_kind="out_of_memory")
    assert hits and {h.entry.fault_kind for h in hits} == {"out_of_memory"}


def test_ranking_prefers_the_fix_that_worked(kb):
    signature = "loss is nan at epoch 7 on the census data"
    for _ in range(3):
        proven = kb.record(signature, "nan_loss", "lr too high", NAN_FIX, "lower lr", worked=True)
    failed = kb.record(signature, "nan_loss", "lr too high", {"batch_size": "x2"}, "bigger batches",
                       worked=False)
    hits = kb.search(signature, k=3, fault_kind="nan_loss")
    assert [h.entry.id for h in hits[:2]] == [proven.id, failed.id]
    assert hits[0].similarity == pytest.approx(hits[1].similarity)
    assert hits[0].rank_score == pytest.approx(hits[0].similarity * 4 / 5)


def test_record_updates_counts_instead_of_duplicating(kb):
    before = kb.count()
    first = kb.record("loss is nan at epoch 9", "nan_loss", "d", NAN_FIX, "f", worked=True)
    again = kb.record("loss is nan at epoch 9", "nan_loss", "d", NAN_FIX, "f", worked=False)
    assert again.id == first.id and (again.successes, again.failures) == (1, 1)
    assert first.source == "learned" and kb.count() == before + 1
    other_fix = kb.record("loss is nan at epoch 9", "nan_loss", "d", {"batch_size": "x2"}, "f",
                          worked=True)
    assert other_fix.id != first.id and kb.count() == before + 2
    stored = kb.get(first.id)
    assert (stored.successes, stored.failures) == (1, 1)


def test_record_credits_the_seed_that_was_applied(kb):
    seed = kb.search("loss is nan after epoch 3", k=1)[0].entry
    updated = kb.record("loss is nan after epoch 3", seed.fault_kind, seed.diagnosis, seed.fix,
                        seed.fix_description, worked=True, entry_id=seed.id)
    assert updated.id == seed.id and updated.source == "seed"
    assert kb.get(seed.id).successes == seed.successes + 1


def test_get_unknown_is_none(kb):
    assert kb.get("no-such-entry") is None


def test_entries_survive_across_processes(tmp_path):
    path = tmp_path / "kb"
    written = run_python(f"""
        from mlpilot.knowledge.kb import KnowledgeBase
        from mlpilot.knowledge.embeddings import HashingEmbedding
        kb = KnowledgeBase({str(path)!r}, HashingEmbedding())
        e = kb.record("Killed: 9 while one-hot encoding", "out_of_memory", "d",
                      {{"preprocessing.max_categories": 10}}, "f", worked=True)
        print(e.id)
    """).strip()
    kb = KnowledgeBase(path, HashingEmbedding())
    try:
        assert kb.get(written).successes == 1
        assert kb.search("Killed: 9 while one-hot encoding", k=1)[0].entry.id == written
        ours = kb.record("loss exploded on the housing data", "exploding_loss", "d",
                         {"optimizer.grad_clip_norm": 0.5}, "f", worked=False)
        read = json.loads(run_python(f"""
            import json
            from mlpilot.knowledge.kb import KnowledgeBase
            from mlpilot.knowledge.embeddings import HashingEmbedding
            kb = KnowledgeBase({str(path)!r}, HashingEmbedding())
            hit = kb.search("loss exploded on the housing data", k=1)[0]
            print(json.dumps([hit.entry.id, hit.entry.failures, kb.count()]))
        """))
        assert read == [ours.id, 1, kb.count()]
    finally:
        kb.close()


def test_seeding_is_idempotent_and_keeps_counts(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(SEEDS_DIR, seeds)
    kb = KnowledgeBase(tmp_path / "kb", HashingEmbedding(), seeds_dir=seeds)
    n = kb.count()
    assert kb.seed() == 0 and kb.count() == n  # unchanged files: nothing rewritten
    kb.record("x", "nan_loss", "d", NAN_FIX, "f", worked=True, entry_id="seed-nan-loss-high-lr")
    kb.close()

    raw = json.loads((seeds / "faults.json").read_text())
    raw[0]["diagnosis"] = "edited diagnosis"
    (seeds / "faults.json").write_text(json.dumps(raw))
    kb = KnowledgeBase(tmp_path / "kb", HashingEmbedding(), seeds_dir=seeds)
    entry = kb.get(raw[0]["id"])
    assert kb.count() == n + 0 and entry.diagnosis == "edited diagnosis"
    assert entry.successes == 1  # re-seeding kept what was learned
    kb.close()


def test_changing_the_embedding_re_embeds_the_store(tmp_path):
    with KnowledgeBase(tmp_path / "kb", HashingEmbedding(dim=64)) as kb:
        learned = kb.record("segfault in the data loader", "worker_crash", "d",
                            {"batch_size": "x0.5"}, "f", worked=True)
        n = kb.count()
    with KnowledgeBase(tmp_path / "kb", HashingEmbedding(dim=256)) as kb:
        assert kb.count() == n
        assert kb.search("segfault in the data loader", k=1)[0].entry.id == learned.id
