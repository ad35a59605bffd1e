"""Bad input ends with one clear line, a non-zero exit, and no run left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlpilot.interfaces.cli import app
from tests.conftest import dataset

cli = CliRunner()


def run(*args: str):
    return cli.invoke(app, list(args))


def no_runs_left() -> bool:
    result = run("runs", "list", "--json")
    return result.exit_code == 0 and json.loads(result.stdout) == []


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


PENGUINS_REQUEST = "predict the species of a penguin, 10 seconds"


@pytest.mark.parametrize("make_file, expected", [
    (lambda d: d / "nope.csv", "does not exist"),
    (lambda d: write(d, "model.bin", bytes(range(256)) * 40), "not a CSV or Parquet"),
    (lambda d: write(d, "empty.csv", ""), "empty"),
    (lambda d: write(d, "header.csv", "a,b,species\n"), "no rows"),
], ids=["missing", "binary", "empty", "header-only"])
def test_unreadable_data_is_refused(tmp_path, make_file, expected):
    result = run("run", PENGUINS_REQUEST, "--data", str(make_file(tmp_path)), "--yes")
    assert result.exit_code == 1
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert no_runs_left()


def test_unknown_target_names_the_columns():
    result = run("run", PENGUINS_REQUEST, "--data", str(dataset("penguins.csv")),
                 "--target", "beak_colour")
    assert result.exit_code == 1
    assert "'beak_colour'" in result.stderr and "island" in result.stderr
    assert no_runs_left()


def test_target_with_one_class_is_refused(tmp_path):
    data = write(tmp_path, "one.csv", "x,label\n" + "".join(f"{i},yes\n" for i in range(30)))
    result = run("run", "predict label", "--data", str(data))
    assert result.exit_code == 1
    assert "only one class" in result.stderr
    assert no_runs_left()


@pytest.mark.parametrize("request_text, expected", [
    ("predict the species of a penguin within -5 minutes", "must be a positive time"),
    ("predict the species of a penguin, take forever", "not a time limit"),
])
def test_unusable_budgets_are_refused(request_text, expected):
    result = run("run", request_text, "--data", str(dataset("penguins.csv")))
    assert result.exit_code == 1
    assert expected in result.stderr
    assert no_runs_left()


def test_budget_option_is_checked_too():
    result = run("run", "predict species", "--data", str(dataset("penguins.csv")), "--budget", "-5")
    assert result.exit_code == 1 and "positive" in result.stderr


def test_a_request_with_no_task_asks_what_to_predict():
    # it used to be an error (exit 1); the contract makes it a question with the columns
    result = run("run", "hello there, nice weather", "--data", str(dataset("penguins.csv")))
    assert result.exit_code == 4
    assert "could not tell what to predict" in result.stderr and "1. species" in result.stderr


def test_an_unclear_target_gets_a_question_not_a_guess():
    result = run("plan", "train a model on this", "--data", str(dataset("penguins.csv")), "--json")
    assert result.exit_code == 4
    doc = json.loads(result.stdout)
    assert doc["status"] == "needs_input" and "Which column" in doc["question"]


def test_an_all_missing_column_is_dropped_with_a_note(tmp_path):
    rows = "".join(f"{i},{i % 3},,{'a' if i % 2 else 'b'}\n" for i in range(60))
    data = write(tmp_path, "gap.csv", "x,y,empty,label\n" + rows)
    result = run("plan", "predict label", "--data", str(data), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert "empty" in doc["task"]["drop_columns"]
    assert any("empty" in d["decision"] and "missing" in d["why"] for d in doc["decisions"])


def test_a_bad_yaml_config_is_refused(tmp_path):
    job = write(tmp_path, "job.yaml", "request: predict species\ndata: x.csv\nbudgte: 10\n")
    result = run("run", "--config", str(job))
    assert result.exit_code == 1 and "unknown keys ['budgte']" in result.stderr
