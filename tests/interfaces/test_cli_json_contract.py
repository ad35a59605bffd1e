"""`plan --json` and `run --json` always print the one JSON document of the contract: a
question with choices (exit 4), or a failure with its error (exit 1), never nothing."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlpilot.interfaces.cli import app
from tests.conftest import dataset

cli = CliRunner()


def run(*args: str):
    return cli.invoke(app, list(args))


@pytest.mark.parametrize("command", ["plan", "run"])
def test_no_recognisable_task_is_a_question_with_the_columns_as_choices(command):
    result = run(command, "hello there, nice weather", "--data", str(dataset("penguins.csv")),
                 "--json")
    assert result.exit_code == 4, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "needs_input" and "predict" in doc["question"]
    assert "species" in doc["choices"] and "island" in doc["choices"]


def test_a_missing_target_keeps_the_metric_goal_and_budget():
    # accuracy fits all three class columns of penguins (species, island, sex): it must ask
    result = run("plan", "build me a model, accuracy at least 0.8, 90 seconds", "--data",
                 str(dataset("penguins.csv")), "--json")
    assert result.exit_code == 4
    task = json.loads(result.stdout)["task"]
    assert task["target"] is None
    assert (task["metric"], task["goal"], task["budget_s"]) == ("accuracy", 0.8, 90.0)


@pytest.mark.parametrize("command", ["plan", "run"])
def test_errors_before_the_graph_are_a_failed_document(tmp_path, command):
    missing = tmp_path / "nope.csv"
    result = run(command, "predict species", "--data", str(missing), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and "does not exist" in doc["error"]
    bad_budget = run(command, "predict species", "--data", str(dataset("penguins.csv")),
                     "--budget", "forever", "--json")
    assert bad_budget.exit_code == 1
    assert json.loads(bad_budget.stdout)["status"] == "failed"
    assert "time" in json.loads(bad_budget.stdout)["error"]


def test_an_unknown_target_is_a_failed_document():
    result = run("plan", "predict species", "--data", str(dataset("penguins.csv")),
                 "--target", "beak_colour", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "failed" and "'beak_colour'" in doc["error"]


def test_without_json_the_choices_are_a_numbered_list():
    result = run("plan", "train a model on this", "--data", str(dataset("penguins.csv")))
    assert result.exit_code == 4
    assert "1. " in result.stderr and "species" in result.stderr
