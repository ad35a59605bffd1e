"""`mlpilot kb search`: what the knowledge base knows about an error, best fix first."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlpilot.interfaces.cli import app


@pytest.mark.parametrize("embedding", ["hashing", "minilm"])
def test_kb_search_ranks_the_nan_fix_first(embedding, monkeypatch):
    monkeypatch.setenv("MLPILOT_EMBEDDING", embedding)
    runner = CliRunner()
    found = runner.invoke(app, ["kb", "search", "loss is nan after epoch 3", "--k", "3",
                                "--json"])
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert len(hits) == 3
    assert hits[0]["entry"]["fault_kind"] == "nan_loss"
    assert hits[0]["rank_score"] >= hits[1]["rank_score"] >= hits[2]["rank_score"]

    table = runner.invoke(app, ["kb", "search", "loss is nan after epoch 3", "--k", "2"])
    assert table.exit_code == 0, table.output
    assert "nan_loss" in table.stdout and "score" in table.stdout
    assert hits[0]["entry"]["fix_description"].split()[0] in table.stdout
