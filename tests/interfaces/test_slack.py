"""The Slack bot behind a real uvicorn, talking to a fake Slack Web API on 127.0.0.1:
signed requests only, retries handled once, the plan and milestones in the thread,
approval buttons that only approvers can use."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote

import httpx
import pytest

from mlpilot.agent.settings import Settings
from mlpilot.agent.store import Store
from mlpilot.interfaces.slack_messages import APPROVE_ACTION, REJECT_ACTION, REJECT_VIEW
from tests.conftest import dataset
from tests.interfaces.servers import FakeSlack, serve

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
THREAD = "1700000000.000100"


def signed(body: str, *, ts: int | None = None, secret: str = SECRET,
           form: bool = False, retry: int | None = None) -> dict[str, str]:
    """Headers Slack would send with `body`: the v0 signature over the timestamp and body."""
    ts = int(time.time()) if ts is None else ts
    base = f"v0:{ts}:{body}".encode()
    headers = {"X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
               "Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return headers


def mention(text: str, event_id: str = "Ev0001") -> str:
    return json.dumps({"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()),
                       "event": {"type": "app_mention", "user": "UASKER", "text": text,
                                 "ts": THREAD, "channel": "C1", "event_ts": THREAD}})


def click(action_id: str, approval_id: str, user: str) -> str:
    payload = {"type": "block_actions", "user": {"id": user, "username": user}, "team": {"id": "T1"},
               "api_app_id": "A1", "trigger_id": f"trigger-{user}", "channel": {"id": "C1"},
               "container": {"type": "message", "message_ts": "1.0", "channel_id": "C1"},
               "message": {"ts": "1.0"}, "response_url": "http://127.0.0.1:9/hook",
               "actions": [{"type": "button", "action_id": action_id, "block_id": "decision",
                            "value": approval_id, "action_ts": "1"}]}
    return "payload=" + quote(json.dumps(payload))


def reject_reason(approval_id: str, user: str, reason: str) -> str:
    payload = {"type": "view_submission", "user": {"id": user}, "team": {"id": "T1"},
               "api_app_id": "A1", "view": {
                   "id": "V1", "type": "modal", "callback_id": REJECT_VIEW,
                   "private_metadata": approval_id, "state": {"values": {"reason": {
                       "reason_text": {"type": "plain_text_input", "value": reason}}}}}}
    return "payload=" + quote(json.dumps(payload))


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def server(slack, tmp_path):
    from mlpilot.interfaces.api import create_app

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "penguins.csv").write_bytes(dataset("penguins.csv").read_bytes())
    settings = Settings(datasets_dir=folder, slack_signing_secret=SECRET,
                        slack_bot_token="xoxb-test", slack_approvers=["UBOSS"],
                        slack_api_url=slack.url, approval_budget_s=1, workers=1,
                        worker_poll_s=0.1, worker_mode="thread", api_keys={"k": "approver"})
    with serve(create_app(settings)) as url:
        yield url, settings


def approval_messages(slack: FakeSlack) -> list[dict]:
    return [m for m in slack.of("chat.postMessage") if m.get("blocks")]


def button_value(message: dict, action_id: str) -> str:
    blocks = message["blocks"] if isinstance(message["blocks"], list) else json.loads(message["blocks"])
    [actions] = [b for b in blocks if b["type"] == "actions"]
    return next(e["value"] for e in actions["elements"] if e["action_id"] == action_id)


@pytest.mark.slow
def test_a_mention_runs_a_job_in_the_thread_and_only_approvers_decide(server, slack):
    url, settings = server
    events = f"{url}/slack/events"
    body = mention("<@UBOT> predict species from penguins.csv, 2 seconds")

    # Unsigned, wrongly signed and stale requests are refused.
    assert httpx.post(events, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert httpx.post(events, content=body, headers=signed(body, secret="wrong")).status_code == 401
    stale = signed(body, ts=int(time.time()) - 600)
    assert httpx.post(events, content=body, headers=stale).status_code == 401

    started = time.monotonic()
    assert httpx.post(events, content=body, headers=signed(body)).status_code == 200
    assert time.monotonic() - started < 3  # acked at once; the work goes on behind
    # Slack retries the same event: acked, and not started twice.
    assert httpx.post(events, content=body, headers=signed(body, retry=1)).status_code == 200

    plan = slack.wait_for(lambda: [m for m in slack.of("chat.postMessage")
                                   if m["text"].startswith("On it")])
    assert plan[0]["thread_ts"] == THREAD and plan[0]["channel"] == "C1"
    assert "predict *species* (multiclass)" in plan[0]["text"]
    store = Store(settings.state_db)
    [job] = store.jobs()

    # Training waits for approval (budget over 1 s): a message with two buttons.
    first = slack.wait_for(lambda: approval_messages(slack))[0]
    train_gate = button_value(first, APPROVE_ACTION)
    assert button_value(first, REJECT_ACTION) == train_gate
    assert store.approval(train_gate).action == "train" and first["thread_ts"] == THREAD

    # Someone not on the allowlist is told so, privately; nothing is decided.
    form = click(APPROVE_ACTION, train_gate, "UOTHER")
    assert httpx.post(events, content=form, headers=signed(form, form=True)).status_code == 200
    refusal = slack.wait_for(lambda: slack.of("chat.postEphemeral"))[0]
    assert refusal["user"] == "UOTHER" and "Only approvers" in refusal["text"]
    assert store.approval(train_gate).status == "pending"

    form = click(APPROVE_ACTION, train_gate, "UBOSS")
    assert httpx.post(events, content=form, headers=signed(form, form=True)).status_code == 200
    slack.wait_for(lambda: slack.of("chat.update"))
    decided = store.approval(train_gate)
    assert (decided.status, decided.decided_by) == ("approved", "slack:UBOSS")

    # It trains, then asks to register the model; the approver rejects with a reason.
    second = slack.wait_for(lambda: approval_messages(slack)[1:], timeout=90)[0]
    register = button_value(second, REJECT_ACTION)
    assert store.approval(register).action == "register_champion"
    form = click(REJECT_ACTION, register, "UBOSS")
    assert httpx.post(events, content=form, headers=signed(form, form=True)).status_code == 200
    modal = slack.wait_for(lambda: slack.of("views.open"))[0]
    view = modal["view"] if isinstance(modal["view"], dict) else json.loads(modal["view"])
    assert modal["trigger_id"] == "trigger-UBOSS" and view["private_metadata"] == register
    form = reject_reason(register, "UBOSS", "the data is a week old")
    assert httpx.post(events, content=form, headers=signed(form, form=True)).status_code == 200

    done = slack.wait_for(lambda: [m for m in slack.of("chat.postMessage")
                                   if "succeeded" in m["text"]], timeout=60)
    assert "No model was registered" in done[0]["text"] and done[0]["thread_ts"] == THREAD
    rejected = store.approval(register)
    assert (rejected.status, rejected.decision_reason) == ("rejected", "the data is a week old")
    assert len(slack.of("chat.update")) == 2
    milestones = [m["text"] for m in slack.of("chat.postMessage") if m.get("thread_ts") == THREAD]
    assert any(t.startswith("*Training:*") for t in milestones)
    assert any(t.startswith("*Evaluation:*") for t in milestones)
    assert [m["text"] for m in slack.of("chat.postMessage")].count(plan[0]["text"]) == 1
    assert [j.id for j in store.jobs()] == [job.id]


def test_a_mention_without_a_known_dataset_asks_which_one(server, slack):
    url, _ = server
    body = mention("<@UBOT> predict churn from the customers dataset", event_id="Ev0002")
    assert httpx.post(f"{url}/slack/events", content=body, headers=signed(body)).status_code == 200
    [answer] = slack.wait_for(lambda: slack.of("chat.postMessage"))
    assert answer["text"] == "Which dataset? Name one of: penguins.csv."


def test_a_mention_without_a_target_gets_the_question_with_the_columns(server, slack):
    url, _ = server
    body = mention("<@UBOT> build me a model on penguins.csv, 30 seconds", event_id="Ev0003")
    assert httpx.post(f"{url}/slack/events", content=body, headers=signed(body)).status_code == 200
    [answer] = slack.wait_for(lambda: slack.of("chat.postMessage"))
    assert "Which column" in answer["text"] and "1. species" in answer["text"]
    assert "island" in answer["text"]


def test_a_promotion_is_posted_to_the_deploy_channel_and_approved_with_its_button(slack, tmp_path):
    from mlpilot.agent.promotion import propose_promotion
    from mlpilot.interfaces.api import create_app
    from tests.deploy_fixtures import NAME, register, rows, table, train

    settings = Settings(data_dir=tmp_path / "state", slack_signing_secret=SECRET,
                        slack_bot_token="xoxb-test", slack_approvers=["UBOSS"],
                        slack_api_url=slack.url, slack_deploy_channel="CDEPLOY", workers=0,
                        worker_poll_s=0.1, promotion_min_feedback=20)
    register(settings, [train(seed=0), train(seed=1, epochs=1)])
    app = create_app(settings)
    with serve(app) as url:
        deployments = app.state.deployments
        deployments.deploy(NAME, "2", by="olivia", mode="shadow")
        ids = [f"s{i}" for i in range(25)]
        deployments.predict(NAME, rows(table(25, seed=3)), entity_ids=ids)
        deployments.drain()
        shadow = {r["id"]: r["output"] for r in deployments.log.rows(NAME, role="shadow")}
        deployments.feedback({i: shadow[i] for i in ids})
        approval = propose_promotion(deployments, NAME, by="olivia")

        [posted] = slack.wait_for(lambda: approval_messages(slack))
        assert posted["channel"] == "CDEPLOY" and f"promote {NAME} v2" in posted["text"]
        value = button_value(posted, APPROVE_ACTION)
        assert value == approval.id
        body = click(APPROVE_ACTION, value, "UBOSS")
        assert httpx.post(f"{url}/slack/events", content=body,
                          headers=signed(body, form=True)).status_code == 200
        slack.wait_for(lambda: slack.of("chat.update"))
        slack.wait_for(lambda: deployments.status(NAME).champion == "2")
        change = deployments.store.history(NAME)[0]
        assert (change.action, change.by, change.key) == ("deploy", "slack:UBOSS", approval.id)
