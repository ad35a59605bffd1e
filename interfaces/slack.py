"""The Slack bot: mention it with a request, follow the run in the thread, decide with buttons.

    @mlpilot predict species from penguins.csv, 2 minutes

The bot answers in the thread with the plan, then posts the run's milestones; an
approval appears as a message with Approve / Reject buttons (Reject asks for a reason
in a modal) that only users on the approver allowlist can use. It is a Bolt app mounted
in the FastAPI app at `/slack/events`:

- every request is verified with the signing secret (a bad or stale signature gets 401);
- an event Slack delivers twice (its retries, `X-Slack-Retry-Num`) is handled once;
- handlers ack at once and work in Bolt's listener threads; jobs run in the job
  service's workers, and one follower thread per run reads the run's events from the
  store and posts them, so nothing is lost or posted twice across a server restart.

Dataset names resolve in the data folder (`MLPILOT_DATASETS_DIR`) only.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from slack_bolt import App, BoltResponse
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from mlpilot.agent.jobs import JobService, NeedsInput
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import END_STATUSES, StoreError
from mlpilot.agent.store.deployments import approval_job_id, is_deployment_approval
from mlpilot.agent.understanding import RequestError
from mlpilot.engine.data import DataError
from mlpilot.engine.sql import Connection, Row, SqlDatabase
from mlpilot.interfaces import slack_messages as msg
from mlpilot.interfaces import summaries
from mlpilot.interfaces.datasets import available, find_dataset
from mlpilot.interfaces.problems import problem

if TYPE_CHECKING:
    from mlpilot.agent.store import Event

logger = logging.getLogger(__name__)

#: Stages whose events become thread replies (the plan is the first reply already).
#: The job id prefix of deployment approvals (promotions, retrain proposals).
DEPLOYMENT_PREFIX = approval_job_id("")
POSTED_STAGES = summaries.MILESTONE_STAGES - {"planner", "approval", "critic", "report"}

#: The bot's tables, one step per release that changed them (see `engine/sql.py`).
_STEPS = ["""
CREATE TABLE IF NOT EXISTS slack_threads (
    job_id TEXT PRIMARY KEY, channel TEXT NOT NULL, thread_ts TEXT NOT NULL,
    "user" TEXT, last_event INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS slack_approvals (
    approval_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, channel TEXT NOT NULL,
    ts TEXT NOT NULL, decided INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS slack_events (event_id TEXT PRIMARY KEY, seen_at REAL NOT NULL)
"""]


class SlackThreads:
    """Which Slack thread follows which run, its approval messages, and the events seen
    (in the job store's database, so a restarted server carries on)."""

    def __init__(self, location: Path | str):
        self.sql = SqlDatabase(location)
        self.sql.migrate("slack", _STEPS)

    @contextmanager
    def _db(self) -> Iterator[Connection]:
        with self.sql.connect() as db:
            yield db

    def first_time(self, event_id: str) -> bool:
        """Record a Slack event id; False when it was seen before (a retry or a duplicate)."""
        with self._db() as db:
            db.execute("DELETE FROM slack_events WHERE seen_at < ?", (time.time() - 86400,))
            return db.execute("INSERT INTO slack_events (event_id, seen_at) VALUES (?, ?) "
                              "ON CONFLICT DO NOTHING", (event_id, time.time())).rowcount == 1

    def follow(self, job_id: str, channel: str, thread_ts: str, user: str | None) -> None:
        """Remember the thread that asked for a run."""
        with self._db() as db:
            db.execute("INSERT INTO slack_threads (job_id, channel, thread_ts, \"user\") "
                       "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                       (job_id, channel, thread_ts, user))

    def thread(self, job_id: str) -> Row | None:
        """The thread following a run, with the id of the last event posted there."""
        with self._db() as db:
            return db.execute("SELECT * FROM slack_threads WHERE job_id = ?", (job_id,)).fetchone()

    def open_threads(self) -> list[str]:
        """Runs whose threads have not seen the end yet."""
        with self._db() as db:
            return [r["job_id"] for r in db.execute("SELECT job_id FROM slack_threads WHERE done = 0")]

    def posted(self, job_id: str, last_event: int, done: bool = False) -> None:
        """Mark the events up to `last_event` as posted (and the thread as finished)."""
        with self._db() as db:
            db.execute("UPDATE slack_threads SET last_event = ?, done = ? WHERE job_id = ?",
                       (last_event, int(done), job_id))

    def approval_message(self, approval_id: str) -> Row | None:
        """Where an approval's message is, if the bot posted one."""
        with self._db() as db:
            return db.execute("SELECT * FROM slack_approvals WHERE approval_id = ?",
                              (approval_id,)).fetchone()

    def undecided_messages(self, job_prefix: str) -> list[str]:
        """The approvals with a posted message not yet shown decided, of jobs whose id
        starts with `job_prefix`."""
        with self._db() as db:
            rows = db.execute("SELECT approval_id FROM slack_approvals WHERE decided = 0 AND "
                              "substr(job_id, 1, ?) = ?", (len(job_prefix), job_prefix)).fetchall()
        return [r["approval_id"] for r in rows]

    def add_approval_message(self, approval_id: str, job_id: str, channel: str, ts: str) -> None:
        """Remember the message that asks for an approval."""
        with self._db() as db:
            db.execute("INSERT INTO slack_approvals (approval_id, job_id, channel, ts, decided) "
                       "VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
                       (approval_id, job_id, channel, ts))

    def mark_decided(self, approval_id: str) -> bool:
        """Mark an approval message as showing its decision; False if it already did."""
        with self._db() as db:
            return db.execute("UPDATE slack_approvals SET decided = 1 WHERE approval_id = ? "
                              "AND decided = 0", (approval_id,)).rowcount == 1


class SlackBot:
    """The Bolt app, its handlers, and the threads that follow runs started from Slack."""

    def __init__(self, settings: Settings, service: JobService, *, poll_s: float | None = None):
        if not (settings.slack_signing_secret and settings.slack_bot_token):
            raise ValueError("the Slack bot needs MLPILOT_SLACK_SIGNING_SECRET and "
                             "MLPILOT_SLACK_BOT_TOKEN")
        self.settings, self.service = settings, service
        self.poll_s = poll_s or settings.worker_poll_s
        self.approvers = set(settings.slack_approvers)
        self.threads = SlackThreads(settings.state_db)
        self.client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        self.stopping = threading.Event()
        self._followers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        token = settings.slack_bot_token

        def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            # One workspace, one bot token: no auth.test round trip per request.
            return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

        self.app = App(signing_secret=settings.slack_signing_secret, authorize=authorize,
                       client=WebClient(base_url=settings.slack_api_url), name="mlpilot")
        self.app.middleware(self._once_per_event)
        self.app.event("app_mention")(self._on_mention)
        self.app.action(msg.APPROVE_ACTION)(self._on_approve)
        self.app.action(msg.REJECT_ACTION)(self._on_reject)
        self.app.view(msg.REJECT_VIEW)(self._on_reject_reason)

    def start(self) -> None:
        """Follow again the runs whose threads had not seen the end (after a restart), and
        post deployment approvals to `slack_deploy_channel` when one is set."""
        for job_id in self.threads.open_threads():
            self._follow(job_id)
        if self.settings.slack_deploy_channel:
            threading.Thread(target=self._post_deployment_approvals, name="slack-deployments",
                             daemon=True).start()

    def _post_deployment_approvals(self) -> None:
        """Post each pending deployment approval once to the deploy channel, and show the
        decisions made anywhere (web, CLI, REST) on the messages posted."""
        channel = self.settings.slack_deploy_channel
        while not self.stopping.is_set():
            try:
                for approval_id in self.threads.undecided_messages(DEPLOYMENT_PREFIX):
                    self._show_decision(approval_id)
                for approval in self.service.approvals(status="pending"):
                    if (is_deployment_approval(approval)
                            and self.threads.approval_message(approval.id) is None):
                        described = self.service.describe(approval)
                        posted = self.client.chat_postMessage(
                            channel=channel, text=described["what"],
                            blocks=msg.approval_blocks(described))
                        self.threads.add_approval_message(approval.id, approval.job_id, channel,
                                                          posted["ts"])
            except Exception:  # Slack or the store hiccuped: try again shortly
                logger.exception("could not post deployment approvals to Slack")
            self.stopping.wait(self.poll_s)

    def stop(self) -> None:
        """Stop following runs (their threads pick up where they left off on the next start)."""
        self.stopping.set()

    def router(self) -> APIRouter:
        """The FastAPI route Slack posts events and interactions to."""
        handler = SlackRequestHandler(self.app)
        router = APIRouter()

        @router.post("/slack/events", include_in_schema=False)
        async def slack_events(request: Request):
            # Bolt reads the timestamp with int(): one that is not a number would be a 500.
            stamp = request.headers.get("X-Slack-Request-Timestamp", "")
            if not re.fullmatch("[0-9]{1,12}", stamp):
                return problem(401, "X-Slack-Request-Timestamp is not a Unix time: the "
                               "request is not signed by Slack", instance=request.url.path)
            return await handler.handle(request)

        return router

    # -- Slack handlers ---------------------------------------------------------------------

    def _once_per_event(self, body: dict[str, Any], next: Any) -> BoltResponse | None:
        """Handle each event once: Slack's retries of one we have seen are acked and dropped."""
        event_id = body.get("event_id") if isinstance(body, dict) else None
        if event_id and not self.threads.first_time(event_id):
            return BoltResponse(status=200, body="")
        next()
        return None

    def _on_mention(self, event: dict[str, Any]) -> None:
        channel, user = event["channel"], event.get("user")
        thread_ts = event.get("thread_ts") or event["ts"]

        def reply(text: str) -> None:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)

        text = msg.plain_text(event.get("text", ""))
        folder = self.settings.datasets_dir
        mention = find_dataset(text, folder, self.service.data_roots)
        if mention is not None and mention.refused:
            reply(f"I cannot use that file: {mention.refused}")
            return
        if mention is None or mention.path is None:
            names = ", ".join(p.name for p in available(folder, self.service.data_roots)[:12]) \
                or "none yet"
            missing = f"I cannot find {mention.words} in the data folder. " if mention else ""
            reply(f"{missing}Which dataset? Name one of: {names}.")
            return
        try:
            job, task = self.service.submit(TaskRequest(request=text, data=mention.path),
                                            by=f"slack:{user}")
        except NeedsInput as question:
            reply(f"{summaries.question_text(question.question, question.choices)}\n"
                  "Mention me again with the answer in the request.")
            return
        except (DataError, RequestError, ValueError) as err:
            reply(f"I cannot start that: {err}")
            return
        self.threads.follow(job.id, channel, thread_ts, user)
        reply(msg.plan_text(job.id, task))
        self._follow(job.id)

    def _on_approve(self, ack: Any, body: dict[str, Any]) -> None:
        ack()
        user, approval_id = body["user"]["id"], body["actions"][0]["value"]
        if self._refused(user, body):
            return
        self._decide(approval_id, True, user, None, body)

    def _on_reject(self, ack: Any, body: dict[str, Any]) -> None:
        ack()
        user, approval_id = body["user"]["id"], body["actions"][0]["value"]
        if self._refused(user, body):
            return
        self.client.views_open(trigger_id=body["trigger_id"], view=msg.reject_view(approval_id))

    def _on_reject_reason(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = (view["state"]["values"][msg.REASON_BLOCK][msg.REASON_INPUT]["value"] or "").strip()
        if not reason:  # the modal stays open with the error under the field
            ack(response_action="errors",
                errors={msg.REASON_BLOCK: "Say why you reject it (not only spaces)."})
            return
        ack()
        user = body["user"]["id"]
        if user not in self.approvers:
            return
        self._decide(view["private_metadata"], False, user, reason, body)

    def _refused(self, user: str, body: dict[str, Any]) -> bool:
        if user in self.approvers:
            return False
        self.client.chat_postEphemeral(
            channel=body["channel"]["id"], user=user,
            text="Only approvers can decide this. Ask an admin to add you to "
                 "MLPILOT_SLACK_APPROVERS.")
        return True

    def _decide(self, approval_id: str, approved: bool, user: str, reason: str | None,
                body: dict[str, Any]) -> None:
        try:
            self.service.decide(approval_id, approved, by=f"slack:{user}", reason=reason)
        except StoreError as err:
            where = self.threads.approval_message(approval_id)
            channel = (body.get("channel") or {}).get("id") or (where["channel"] if where else None)
            if channel:
                self.client.chat_postEphemeral(channel=channel, user=user, text=str(err))
            self._show_decision(approval_id)
            return
        self._show_decision(approval_id)

    # -- following a run ------------------------------------------------------------------

    def _follow(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._followers and self._followers[job_id].is_alive():
                return
            thread = threading.Thread(target=self._post_events, args=(job_id,),
                                      name=f"slack-{job_id}", daemon=True)
            self._followers[job_id] = thread
        thread.start()

    def _post_events(self, job_id: str) -> None:
        """Post the run's events to its thread until the run ends (or the bot stops)."""
        row = self.threads.thread(job_id)
        if row is None:
            return
        after = row["last_event"]
        while not self.stopping.is_set():
            try:
                events = self.service.events(job_id, after=after)
                for event in events:
                    ended = self._post(job_id, row, event)
                    after = event.id
                    self.threads.posted(job_id, after, done=ended)
                    if ended:
                        return
            except Exception:  # Slack or the store hiccuped: try again shortly
                logger.exception("could not post the events of %s to Slack", job_id)
            self.stopping.wait(self.poll_s)

    def _post(self, job_id: str, row: Row, event: Event) -> bool:
        """Post one event; True when it ends the run."""
        channel, thread_ts = row["channel"], row["thread_ts"]
        status = event.data.get("status")
        if event.stage == "approval" and event.data.get("approval_id"):
            self._show_decision(event.data["approval_id"])
        elif event.stage in POSTED_STAGES:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                         text=msg.milestone_text(event.stage, event.message))
        elif event.stage == "job" and status == "waiting_approval":
            for approval in self.service.approvals(status="pending", job_id=job_id):
                if self.threads.approval_message(approval.id) is None:
                    described = self.service.describe(approval)
                    posted = self.client.chat_postMessage(
                        channel=channel, thread_ts=thread_ts, text=described["what"],
                        blocks=msg.approval_blocks(described))
                    self.threads.add_approval_message(approval.id, job_id, channel, posted["ts"])
        elif event.stage == "job" and status in END_STATUSES:
            self.client.chat_postMessage(channel=channel, thread_ts=thread_ts,
                                         text=summaries.outcome(self.service.document(job_id)))
            return True
        return False

    def _show_decision(self, approval_id: str) -> None:
        """Replace an approval message's buttons with its decision, once."""
        where = self.threads.approval_message(approval_id)
        if where is None:
            return
        approval = self.service.approval(approval_id)
        if approval.status == "pending" or not self.threads.mark_decided(approval_id):
            return
        described = self.service.describe(approval)
        self.client.chat_update(
            channel=where["channel"], ts=where["ts"], text=f"{approval.action}: {approval.status}",
            blocks=msg.decided_blocks(described, approval.status, approval.decided_by,
                                      approval.decision_reason))


def mount(app: FastAPI) -> SlackBot | None:
    """Mount the Slack bot on the API app at /slack/events when Slack is configured
    (bot token and signing secret); it follows runs while the app runs."""
    settings: Settings = app.state.settings
    if not (settings.slack_signing_secret and settings.slack_bot_token):
        return None
    bot = SlackBot(settings, app.state.jobs)
    app.include_router(bot.router())
    app.state.slack = bot
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            bot.start()
            try:
                yield state
            finally:
                bot.stop()

    app.router.lifespan_context = lifespan
    return bot
