"""`mlpilot chat`: the REPL fed with lines, offline (intent rules) and with the scripted
chat model choosing the typed chat tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Store
from mlpilot.interfaces.chat import ChatSession, converse
from mlpilot.interfaces.chat_intents import read_intent
from mlpilot.interfaces.chat_tools import chat_tools
from mlpilot.interfaces.decision_log import matching_decisions
from tests.conftest import dataset
from tests.fakes import ScriptedChatModel, tool_call

SNAPSHOT = Path(__file__).parent / "snapshots" / "chat_tools.json"


def talk(session: ChatSession, lines: list[str]) -> list[str]:
    """Run the REPL over `lines`; returns everything it wrote, in order."""
    said: list[str] = []
    session.write = said.append
    feed = iter(lines)

    def read(prompt: str) -> str:
        try:
            line = next(feed)
        except StopIteration:
            raise EOFError from None
        said.append(f"you> {line}")
        return line

    converse(session, read, said.append)
    return said


def answer_to(said: list[str], line: str) -> str:
    """Everything written after `you> line` up to the next line of the person's."""
    start = said.index(f"you> {line}") + 1
    end = next((i for i in range(start, len(said)) if said[i].startswith("you> ")), len(said))
    return "\n".join(said[start:end])


@pytest.mark.slow
def test_offline_conversation_starts_a_job_reports_it_approves_it_and_explains_it(tmp_path):
    settings = Settings(datasets_dir=dataset("penguins.csv").parent)
    session = ChatSession(settings, user="alice")
    said = talk(session, [
        "predict the species of a penguin, 3 seconds",  # the data folder has penguins.csv
        "how is it going?",
        "wait",
        "why did you pick balanced accuracy?",
        "change the goal to 0.99",
        "approve",
        "wait",
        "quit",
    ])
    started = answer_to(said, "predict the species of a penguin, 3 seconds")
    assert "Started run-" in started and "penguins.csv" in started
    assert "predict 'species' (multiclass)" in started  # the plan
    run_id = session.current
    assert run_id in answer_to(said, "how is it going?")
    waiting = answer_to(said, "wait")
    assert "asks to register the model as the champion" in waiting and "approve" in waiting
    why = answer_to(said, "why did you pick balanced accuracy?")
    assert why.startswith("planner decided metric balanced_accuracy because")
    # Training is over: the goal cannot change for this run, and the reply says what can.
    change = answer_to(said, "change the goal to 0.99")
    assert "fixed" in change and "restart" in change
    assert f"Approved register_champion for {run_id}" in answer_to(said, "approve")
    assert said[-1].startswith("Bye")
    done = "\n".join(said[said.index("you> approve"):])
    assert f"{run_id} succeeded" in done and "Registered penguins-species v1 as champion" in done

    job = Store(settings.state_db).job(run_id)
    assert job.status == "succeeded"
    assert job.result["approvals"][-1] == {**job.result["approvals"][-1], "status": "approved",
                                           "by": "alice"}


def test_a_missing_data_file_is_asked_for_and_a_large_budget_is_replanned_before_training(tmp_path):
    data = tmp_path / "birds.csv"
    data.write_bytes(dataset("penguins.csv").read_bytes())
    # Budgets over 5 s wait for approval before training: the window to re-plan.
    settings = Settings(datasets_dir=tmp_path / "nowhere", approval_budget_s=5)
    session = ChatSession(settings, user="bob")
    said = talk(session, [
        "predict species, 2 minutes",
        str(data),
        "make the budget 1 minute",
        "reject because one minute is still too long",
        "wait",
        "use f1 instead",
    ])
    assert "Which data file" in answer_to(said, "predict species, 2 minutes")
    first = answer_to(said, str(data))
    assert "Started run-" in first and "asks to train with a budget of 120 s" in first
    replanned = answer_to(said, "make the budget 1 minute")
    assert "Re-planning with budget 60 s" in replanned
    assert "asks to train with a budget of 60 s" in replanned

    store = Store(settings.state_db)
    old, new = sorted(store.jobs(), key=lambda j: j.created_at)
    [old_gate] = store.approvals(status=None, job_id=old.id)
    assert old_gate.status == "rejected" and old_gate.decided_by == "bob"
    assert "re-planned in chat: budget 60 s" in old_gate.decision_reason
    assert new.request["budget_s"] == 60
    assert "Rejected train" in answer_to(said, "reject because one minute is still too long")
    assert "stopped before training" in answer_to(said, "wait")
    assert store.job(new.id).status == "rejected"
    [new_gate] = store.approvals(status=None, job_id=new.id)
    assert new_gate.decision_reason == "one minute is still too long"
    assert "has finished" in answer_to(said, "use f1 instead")


def test_with_an_llm_the_model_picks_chat_tools_and_cannot_approve_on_its_own(tmp_path):
    settings = Settings(datasets_dir=dataset("penguins.csv").parent, approval_budget_s=5)
    model = ScriptedChatModel(script=[
        tool_call("start_job", request="species of penguins, 2 minutes", data="penguins.csv"),
        AIMessage("Started; it waits for your approval to train for 2 minutes."),
        tool_call("explain_decision", question="why this metric?"),
        AIMessage("Because the classes are imbalanced."),
        tool_call("approve"),  # the person did not say so
        AIMessage("Please confirm by saying 'approve'."),
        tool_call("reject", reason="too expensive"),
        AIMessage("Rejected."),
    ])
    session = ChatSession(settings, chat_model=model, user="carol")
    said = talk(session, ["train a species classifier on penguins, 2 minutes",
                          "why did you pick that metric?", "sounds fine, carry on",
                          "reject it, too expensive"])

    assert answer_to(said, "why did you pick that metric?") == "Because the classes are imbalanced."
    started = model.calls[1][-1]
    assert isinstance(started, ToolMessage) and "Started run-" in started.content
    assert "asks to train with a budget of 120 s" in started.content
    explained = model.calls[3][-1].content
    assert "planner decided metric balanced_accuracy" in explained
    refused = model.calls[5][-1].content
    assert refused.startswith("Not done:") and "ask the person to confirm" in refused
    # Earlier turns stay in the conversation the model sees; the session is in the prompt.
    assert model.calls[6][1].content == "train a species classifier on penguins, 2 minutes"
    assert session.current in model.calls[6][0].content

    session.jobs.wait(session.current)
    store = Store(settings.state_db)
    [gate] = store.approvals(status=None, job_id=session.current)
    assert (gate.status, gate.decided_by, gate.decision_reason) == ("rejected", "carol",
                                                                    "too expensive")
    assert store.job(session.current).status == "rejected"


@pytest.mark.parametrize(("line", "name", "args"), [
    ("approve ap-1234abcd", "approve", {"approval_id": "ap-1234abcd", "reason": None}),
    ("reject because the data is stale", "reject", {"approval_id": None,
                                                     "reason": "the data is stale"}),
    ("how's it going?", "status", {}),
    ("set the goal to 90%", "change", {"goal": 0.9, "budget_s": None, "metric": None}),
    ("目标改成 95", "change", {"goal": 0.95, "budget_s": None, "metric": None}),
    ("预算改成三分钟", "change", {"goal": None, "budget_s": 180.0, "metric": None}),
    ("give it 10 minutes", "change", {"goal": None, "budget_s": 600.0, "metric": None}),
    ("why was the base config kept?", "explain", {"question": "why was the base config kept?"}),
    ("predict churn from customers.csv", "start", {"request": "predict churn from customers.csv"}),
    ("hello there", "unknown", {}),
])
def test_offline_rules_read_what_the_person_asks_for(line, name, args):
    intent = read_intent(line, metric="accuracy")
    assert (intent.name, intent.args) == (name, args)


def test_chat_tool_schemas_match_the_snapshot():
    session = ChatSession(Settings(), write=lambda _: None, user="x")
    schemas = {t.name: t.tool_call_schema.model_json_schema()
               for t in chat_tools(session)}
    assert schemas == json.loads(SNAPSHOT.read_text()), f"regenerate {SNAPSHOT} if on purpose"


LOG = [
    {"stage": "planner", "decision": "target 'species'", "why": "named in the request"},
    {"stage": "planner", "decision": "metric balanced_accuracy",
     "why": "classes are imbalanced (minority/majority = 0.45): accuracy would flatter"},
    {"stage": "config_generator", "decision": "mlp [128, 64], adamw lr=0.002, batch 16",
     "why": "the offline expert's sizing rules"},
    {"stage": "train", "decision": "base config: balanced_accuracy 1.0000 on validation",
     "why": "stopped by early_stopping"},
    {"stage": "tune", "decision": "keep the base config", "why": "no trial beat it on validation"},
    {"stage": "deployer", "decision": "registered penguins-species v1 as champion",
     "why": "approved for the registry"},
]


@pytest.mark.parametrize(("question", "stage", "decision"), [
    ("why did you pick balanced accuracy?", "planner", "metric balanced_accuracy"),
    ("why was the base config kept?", "tune", "keep the base config"),
    ("why this model architecture?", "config_generator", "mlp [128, 64], adamw lr=0.002, batch 16"),
    ("why was it registered?", "deployer", "registered penguins-species v1 as champion"),
])
def test_why_questions_find_the_decision_they_are_about(question, stage, decision):
    [found] = matching_decisions(question, LOG)
    assert (found["stage"], found["decision"]) == (stage, decision)
    assert matching_decisions("what's the weather like?", LOG) == []


def test_the_planners_question_shows_its_choices_and_a_number_answers_it(tmp_path):
    data = tmp_path / "birds.csv"
    data.write_bytes(dataset("penguins.csv").read_bytes())
    # Budgets over 5 s wait for approval before training: the plan is known by then.
    settings = Settings(datasets_dir=tmp_path, data_roots=[tmp_path], approval_budget_s=5)
    session = ChatSession(settings, user="carol")
    said = talk(session, ["build a model on birds.csv, 2 minutes", "1", "quit"])
    asked = answer_to(said, "build a model on birds.csv, 2 minutes")
    assert "needs an answer: Which column" in asked
    assert "1. species" in asked and "2. island" in asked
    answered = answer_to(said, "1")
    assert "predict 'species'" in answered and "asks to train with a budget of 120 s" in answered
