"""`mlpilot chat`: a conversation with the agent in the terminal.

Start a job from a description, ask how it is going, change the goal or budget, approve
or reject what waits for a human, and ask why a decision was made. Each of these is one
chat action (a method of `ChatSession`). Offline, deterministic rules pick the action
(`chat_intents`); with an LLM configured the model picks it through typed tool calls
(`chat_tools`). Jobs run in background threads, so the conversation goes on while they
train, and their milestones are told as they happen.

`converse(session, read, write)` is the loop; it takes the input function and the output
sink, so tests feed it lines.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import ValidationError

from mlpilot.agent.llm import LLMError, answer_with_tools
from mlpilot.agent.runner import JobOutcome
from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.store import Approval, StoreError, new_job_id
from mlpilot.agent.understanding import has_task_intent
from mlpilot.guardrails.data_roots import DataRoots
from mlpilot.interfaces import summaries
from mlpilot.interfaces.chat_intents import Intent, read_intent
from mlpilot.interfaces.datasets import available, find_dataset
from mlpilot.interfaces.decision_log import because, matching_decisions
from mlpilot.interfaces.job_threads import JobThreads
from mlpilot.prompts import render

HELP = """I can:
  start a job      "predict species from penguins.csv, at least 95% accuracy, 2 minutes"
  tell progress    "how is it going?"  ("wait" waits until it finishes or needs you)
  change the plan  "change the goal to 0.9", "make the budget 5 minutes", "use f1 instead"
  decide           "approve", "reject because ..."
  explain          "why did you pick balanced accuracy?"
  quit             "quit"
"""
#: Stages after which a job has started training: its budget and goal are then fixed.
TRAINING_STAGES = {"train", "tune", "fault_doctor", "compress", "evaluate", "deployer", "report"}
#: Job statuses after which nothing more happens to a job.
FINISHED = {"succeeded", "failed", "rejected", "cancelled", "needs_input"}
#: The LLM may take this many tool-calling steps for one line.
MAX_LLM_STEPS = 6
#: Conversation kept for the LLM, in lines of the person's (older turns are dropped).
LLM_MEMORY_TURNS = 12

Write = Callable[[str], None]


class ChatSession:
    """One person's conversation: the run in focus, what the agent is waiting to hear,
    and (with an LLM) the message history."""

    def __init__(self, settings: Settings | None = None, *, write: Write = print,
                 chat_model: BaseChatModel | None = None, user: str | None = None):
        self.settings = settings or Settings()
        self.settings.ensure_dirs()
        self.write = write
        self.chat_model = chat_model
        self.user = user or os.environ.get("MLPILOT_USER") or getpass.getuser()
        self.jobs = JobThreads(self.settings, on_event=self._on_event, on_stop=self._on_stop)
        #: Data is read only inside these, as on the server (the model may be talked into
        #: naming any file; the CLI's `run` is the way to read files outside them).
        self.data_roots = DataRoots(self.settings.data_root_folders())
        self.current: str | None = None  # the run the conversation is about
        self.awaiting: tuple[str, str] | None = None  # ("data", request) or ("answer", run id)
        self.proposed: TaskRequest | None = None  # a changed request, for "restart"
        self.history: list[BaseMessage] = []
        self._held: dict[str, list[str]] = {}  # runs whose news go into the next reply

    # -- the conversation ---------------------------------------------------------------

    def reply(self, line: str) -> str | None:
        """Answer one line; None means the person ended the conversation."""
        line = line.strip()
        if not line:
            return ""
        intent = read_intent(line, metric=self._metric())
        if intent.name == "quit":
            return None
        if self.awaiting and intent.name in ("unknown", "start"):
            answered = self._answer(line)
            if answered is not None:
                return answered
        if self.chat_model is not None and intent.name != "help":
            try:
                return self._llm_reply(line, intent)
            except LLMError as err:
                return f"(the LLM gave no answer: {err}; reading that with the offline rules)\n" \
                       + self._act(intent)
        return self._act(intent)

    def _act(self, intent: Intent) -> str:
        args = intent.args
        if intent.name == "help":
            return HELP
        if intent.name == "explain":
            return self.explain_decision(args["question"])
        if intent.name == "approve":
            return self.approve(args.get("approval_id"), args.get("reason"))
        if intent.name == "reject":
            return self.reject(args.get("reason") or "rejected in chat", args.get("approval_id"))
        if intent.name == "restart":
            return self.restart()
        if intent.name == "wait":
            return self.job_status(wait=True)
        if intent.name == "status":
            return self.job_status()
        if intent.name == "start":
            return self.start_job(args["request"])
        if intent.name == "change":
            if args.get("error"):
                return args["error"]
            return self.change_goal(args.get("goal"), args.get("budget_s"), args.get("metric"))
        return "Sorry, I did not get that.\n" + HELP

    def _answer(self, line: str) -> str | None:
        """The line answers what the agent asked: a data file, or the planner's question."""
        kind, value = self.awaiting
        if has_task_intent(line):
            return None  # a new request, not an answer
        if kind == "data":
            mention = find_dataset(line, self.settings.datasets_dir, self.data_roots)
            if mention is None:
                return None
            self.awaiting = None
            return self.start_job(value, line)
        self.awaiting = None
        job = self.jobs.store.job(value)
        target = summaries.chosen(line, (job.result or {}).get("choices"))
        if target is not None:  # "2" or the column's name: the planner's question answered
            return self._start(TaskRequest.model_validate({**job.request, "target": target}))
        changed = TaskRequest.model_validate({**job.request,
                                              "request": f"{job.request['request']}. {line}"})
        return self._start(changed)

    # -- chat actions (the LLM's tools call these too) ----------------------------------

    def start_job(self, request: str, data: str | None = None) -> str:
        """Start a job from a description; asks for the data file when none is named."""
        mention = find_dataset(data or request, self.settings.datasets_dir, self.data_roots)
        if mention is not None and mention.refused:
            self.awaiting = ("data", request)
            return f"I cannot use that file: {mention.refused}"
        if mention is None:
            self.awaiting = ("data", request)
            names = ", ".join(self._dataset_names()[:8])
            return ("Which data file should I learn from? Give a CSV or Parquet path"
                    + (f" (in the data folder: {names})." if names else "."))
        if mention.path is None:
            self.awaiting = ("data", request)
            return f"I cannot find {mention.words}. Which data file should I learn from?"
        return self._start(TaskRequest(request=request, data=mention.path))

    def job_status(self, job_id: str | None = None, wait: bool = False) -> str:
        """How the run in focus (or `job_id`) is going; with wait, once it stops or needs you."""
        job_id = job_id or self.current
        if job_id is None:
            return "No run yet. Tell me what to predict, e.g. 'predict species from penguins.csv'."
        if wait and self.jobs.busy(job_id):
            self._held[job_id] = []
            self.jobs.wait(job_id)
            news = self._held.pop(job_id, [])
            if news:
                return "\n".join(news)
        try:
            job = self.jobs.store.job(job_id)
        except StoreError as err:
            return str(self.jobs.error(job_id) or err)
        if job.status == "running" or self.jobs.busy(job_id):
            return self._progress(job_id)
        if job.status == "waiting_approval":
            return self._waiting_text(job_id)
        return summaries.outcome(job.result or {"run_id": job_id, "status": job.status,
                                               "error": job.error})

    def change_goal(self, goal: float | None = None, budget_s: float | None = None,
                    metric: str | None = None) -> str:
        """Change the goal, budget or metric: re-plan before training, else say what can change."""
        if self.current is None:
            return "There is no run to change yet. Tell me what to predict first."
        changes = {k: v for k, v in (("goal", goal), ("budget_s", budget_s), ("metric", metric))
                   if v is not None}
        if not changes:
            return "What should change? e.g. 'change the goal to 0.9' or 'make the budget 5 minutes'."
        job_id = self.current
        self.jobs.wait(job_id, until=lambda: self._phase(job_id) != "planning", timeout=120)
        try:
            request = TaskRequest.model_validate({**self.jobs.store.job(job_id).request, **changes})
        except ValidationError as err:
            first = err.errors()[0]
            return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        said = ", ".join(_change_words(k, v) for k, v in changes.items())
        phase = self._phase(job_id)
        if phase == "before_training":
            gate = self._pending(job_id)
            for approval in gate:
                self.jobs.decide(approval.id, False, by=self.user,
                                 reason=f"re-planned in chat: {said}")
            return f"Re-planning with {said}: {job_id} stops before training.\n" + self._start(request)
        self.proposed = request
        fixed = ("has finished" if phase == "finished"
                 else "has started training, so its budget, goal and metric are fixed")
        still = ("" if phase == "finished" else
                 " You can still reject registering its model when it asks, or wait for it.")
        return (f"{job_id} {fixed}.{still} Say 'restart' to start a new run with {said}.")

    def restart(self) -> str:
        """Start a new run with the last proposed change (or the same request again)."""
        if self.proposed is None and self.current is None:
            return "There is nothing to restart yet. Tell me what to predict."
        request = self.proposed or TaskRequest.model_validate(
            self.jobs.store.job(self.current).request)
        self.proposed = None
        return self._start(request)

    def approve(self, approval_id: str | None = None, reason: str | None = None) -> str:
        """Approve what waits for a human (the only pending approval, or `approval_id`)."""
        return self._decide(True, approval_id, reason)

    def reject(self, reason: str, approval_id: str | None = None) -> str:
        """Reject what waits for a human, with a reason for the audit log."""
        return self._decide(False, approval_id, reason)

    def explain_decision(self, question: str, job_id: str | None = None) -> str:
        """Answer "why ..." from the run's decision log."""
        job_id = job_id or self.current
        if job_id is None:
            return "No run yet, so no decisions to explain."
        log = self.jobs.decisions(job_id)
        if not log:
            return f"{job_id} has made no decisions yet."
        best = matching_decisions(question, log)
        if not best:
            listed = "\n".join(f"  - {because(d)}" for d in log)
            return f"I could not tell which decision you mean. {job_id} decided:\n{listed}"
        return "\n".join(because(d) for d in best)

    # -- internals ----------------------------------------------------------------------

    def _start(self, request: TaskRequest) -> str:
        self.awaiting = None
        job_id = new_job_id()
        self._held[job_id] = []
        self.current = job_id
        self.jobs.start(request, job_id=job_id)
        # The reply tells the plan: wait until training starts or the job stops to ask.
        self.jobs.wait(job_id, timeout=300, until=lambda: not self.jobs.busy(job_id)
                       or self._phase(job_id) == "training")
        news = self._held.pop(job_id, [])
        return "\n".join([f"Started {job_id} on {request.data.name}.", *news])

    def _decide(self, approved: bool, approval_id: str | None, reason: str | None) -> str:
        if approval_id is None:
            pending = (self._pending(self.current) if self.current else []) \
                or self._pending(None)
            if not pending:
                return "Nothing is waiting for a decision."
            if len(pending) > 1:
                listed = "\n".join(f"  {a.id}: {summaries.approval_question(a)}" for a in pending)
                return f"Several things wait for a decision; say which id:\n{listed}"
            approval_id = pending[0].id
        try:
            approval = self.jobs.decide(approval_id, approved, by=self.user, reason=reason)
        except StoreError as err:
            return str(err)
        self.current = approval.job_id
        verb = "Approved" if approved else "Rejected"
        return f"{verb} {approval.action} for {approval.job_id}; it continues."

    def _pending(self, job_id: str | None) -> list[Approval]:
        """Pending approvals of one run, or of all runs when `job_id` is None."""
        return self.jobs.store.approvals(status="pending", job_id=job_id)

    def _phase(self, job_id: str) -> str:
        """planning, before_training, training or finished."""
        stages = {e.get("stage") for e in self.jobs.events(job_id)}
        busy = self.jobs.busy(job_id)
        try:
            status = self.jobs.store.job(job_id).status
        except StoreError:
            return "planning" if busy else "finished"
        if stages & TRAINING_STAGES:
            return "finished" if status in FINISHED and not busy else "training"
        if any(a.action == "train" for a in self._pending(job_id)):
            return "before_training"
        if busy:
            return "planning"
        return "before_training" if status == "needs_input" else "finished"

    def _metric(self) -> str | None:
        if self.current is None:
            return None
        try:
            result = self.jobs.store.job(self.current).result or {}
        except StoreError:
            return None
        return (result.get("task") or {}).get("metric")

    def _progress(self, job_id: str) -> str:
        events = self.jobs.events(job_id)
        if not events:
            return f"{job_id} is starting."
        milestones = [e for e in events if summaries.is_milestone(e)]
        text = f"{job_id} is running: {milestones[-1]['message'] if milestones else 'starting'}"
        if events[-1] is not (milestones[-1] if milestones else None):
            text += f"; latest: {events[-1]['message']}"
        return text + "."

    def _waiting_text(self, job_id: str) -> str:
        lines = [f"{summaries.approval_question(a)}. Say 'approve' or 'reject because ...'."
                 for a in self._pending(job_id)]
        return "\n".join(lines) or f"{job_id} is waiting for a decision."

    def _say(self, job_id: str, text: str) -> None:
        held = self._held.get(job_id)
        if held is not None:
            held.append(text)
        else:
            self.write(text)

    def _on_event(self, job_id: str, event: dict[str, Any]) -> None:
        if summaries.is_milestone(event) and event["stage"] != "approval":
            self._say(job_id, f"  {event['stage']}: {event['message']}")

    def _on_stop(self, job_id: str, outcome: JobOutcome | None, error: Exception | None) -> None:
        if error is not None:
            self._say(job_id, f"{job_id} stopped: {error}")
            return
        if outcome.status == "waiting_approval":
            self._say(job_id, self._waiting_text(job_id))
            return
        if outcome.status == "needs_input":
            self.awaiting = ("answer", job_id)
        self._say(job_id, summaries.outcome(outcome.result))

    def _dataset_names(self) -> list[str]:
        return [p.name for p in available(self.settings.datasets_dir, self.data_roots)]

    # -- the LLM path -------------------------------------------------------------------

    def _llm_reply(self, line: str, intent: Intent) -> str:
        from mlpilot.interfaces.chat_tools import chat_gate, chat_tools

        system = render("chat", current=self.current or "none",
                        pending="; ".join(summaries.approval_question(a)
                                          for a in self._pending(self.current)) or "none",
                        datasets=", ".join(self._dataset_names()) or "none")
        self.history.append(HumanMessage(line))
        answer, self.history = answer_with_tools(
            self.chat_model, [SystemMessage(system), *_recent(self.history)],
            chat_tools(self), max_turns=MAX_LLM_STEPS, gate=chat_gate(intent))
        self.history = self.history[1:]  # the system prompt is rebuilt each turn
        return answer


def converse(session: ChatSession, read: Callable[[str], str], write: Write) -> None:
    """The REPL: read a line, write the reply, until the person quits or input ends."""
    write("mlpilot chat: tell me what to predict, or 'help'.")
    while True:
        try:
            line = read("you> ")
        except (EOFError, KeyboardInterrupt):
            break
        answer = session.reply(line)
        if answer is None:
            break
        if answer:
            write(answer)
    write("Bye. Runs waiting for approval stay in the queue: `mlpilot approvals list`.")


def _recent(history: list[BaseMessage]) -> list[BaseMessage]:
    """The last turns of the conversation, cut at a person's line (never inside a tool call)."""
    starts = [i for i, m in enumerate(history) if isinstance(m, HumanMessage)]
    return history[starts[-LLM_MEMORY_TURNS]:] if len(starts) > LLM_MEMORY_TURNS else history


def _change_words(key: str, value: Any) -> str:
    if key == "metric":
        return f"metric {value}"
    return f"goal {value:g}" if key == "goal" else f"budget {value:g} s"

