"""The report's first-pass-valid rate: how many generated configs passed the validator chain
with no repair, over every repair round and critic round of the job."""

from __future__ import annotations

from mlpilot.agent.planning import plan_only, planning_context
from mlpilot.agent.report import first_pass_counts, markdown
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from tests.agent.test_llm_path import request
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call


def test_a_repaired_config_does_not_count_as_passing_first_time():
    model = ScriptedChatModel(script=[
        tool_call("submit_task_spec", target="species", task_type="multiclass",
                  metric="accuracy", budget_s=20),
        tool_call("choose_config", candidate=0, reason="fits"),
    ])
    # the user's own override is too big a batch for 344 rows: the validator repairs it
    doc = plan_only(planning_context(Settings(), chat_model=model),
                    request().model_copy(update={"training": {"batch_size": 4096}}))
    validation = doc["validation"]
    assert (validation["generated"], validation["passed_first_time"],
            validation["first_pass_valid_rate"]) == (1, 0, 0.0)
    assert "0 of 1 generated config passed with no repair" in markdown(doc)


def test_critic_rounds_count_as_generated_configs():
    # The critic drops 'alive' and sends the config back: two configs, both valid at once.
    doc = plan(dataset("titanic.csv"))
    assert "alive" in doc["task"]["drop_columns"]
    validation = doc["validation"]
    assert validation["generated"] == len(validation["history"]) == 2
    assert validation["passed_first_time"] == 2 and validation["first_pass_valid_rate"] == 1.0
    assert "2 of 2 generated configs passed with no repair" in markdown(doc)


def test_an_auto_repair_is_a_repair():
    history = [{"passed": False, "repaired": []},
               {"passed": True, "repaired": [{"field": "batch_size"}]},
               {"passed": True, "repaired": []}]
    assert first_pass_counts(history) == {"generated": 3, "passed_first_time": 1,
                                          "first_pass_valid_rate": 0.3333}
    assert first_pass_counts([]) == {"generated": 0, "passed_first_time": 0,
                                     "first_pass_valid_rate": None}


def plan(data) -> dict:
    return plan_only(planning_context(Settings()),
                     TaskRequest(request="predict whether the passenger survived", data=data))
