"""`mlpilot`: the command line.

    mlpilot run "predict species, at least 95% accuracy, 2 minutes" --data penguins.csv
    mlpilot chat
    mlpilot serve --host 127.0.0.1 --port 8000 --workers 2
    mlpilot plan "..." --data penguins.csv --json
    mlpilot approvals list | approve ID | reject ID --reason "..."
    mlpilot runs list | show RUN_ID
    mlpilot kb search "loss is nan after epoch 3"
    mlpilot deploy NAME@VERSION | rollback NAME | deployments | promote NAME   (cli_deploy.py)
    mlpilot predict NAME --data new.csv --out predictions.csv | monitor NAME | serve-model NAME

With --json, `run` and `plan` print one JSON document on stdout; progress goes to stderr.
Exit codes: 0 done, 1 error, 3 waiting for approval, 4 the job needs more input (a question).
"""

from __future__ import annotations

import gc
import getpass
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.table import Table

EXIT_ERROR, EXIT_WAITING, EXIT_NEEDS_INPUT = 1, 3, 4

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="AutoML driven by agents: a request and a CSV become a tuned, tracked model.")
approvals_app = typer.Typer(no_args_is_help=True, help="The approval queue for risky actions.")
runs_app = typer.Typer(no_args_is_help=True, help="Past and running jobs.")
kb_app = typer.Typer(no_args_is_help=True, help="The fault knowledge base.")
app.add_typer(approvals_app, name="approvals")
app.add_typer(runs_app, name="runs")
app.add_typer(kb_app, name="kb")

err = Console(stderr=True)
out = Console()

DataOpt = Annotated[Path | None, typer.Option("--data", "-d", help="CSV or Parquet file.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def main() -> None:
    """Entry point of the `mlpilot` script."""
    _quiet_libraries()
    app()


@app.command()
def run(
    request: Annotated[str, typer.Argument(help="The task in plain language.")] = "",
    data: DataOpt = None,
    test_data: Annotated[Path | None, typer.Option(help="Your own test file.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML job file.")] = None,
    target: Annotated[str | None, typer.Option(help="Column to predict.")] = None,
    metric: Annotated[str | None, typer.Option(help="accuracy, f1, r2, rmse, ...")] = None,
    budget: Annotated[str | None, typer.Option(help="Training time, e.g. 90s or '2 minutes'.")] = None,
    goal: Annotated[float | None, typer.Option(help="Score to reach, e.g. 0.95.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Registry name for the model.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Pre-approve what the policy allows.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait here for approvals instead of exiting.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the main job: plan, configure, validate, train and tune, evaluate, register."""
    said = _Said("run", as_json, request, data, test_data)
    task_request = _request(request, data, test_data, config, target, metric, budget, goal,
                            model_name, seed, said)
    _quiet_optuna()
    runner = _runner(as_json, said)
    outcome = _guard(lambda: runner.start(task_request, auto_approve=yes, wait=wait), said)
    _finish(outcome.status, outcome.result, as_json)


@app.command()
def plan(
    request: Annotated[str, typer.Argument(help="The task in plain language.")] = "",
    data: DataOpt = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML job file.")] = None,
    target: Annotated[str | None, typer.Option(help="Column to predict.")] = None,
    metric: Annotated[str | None, typer.Option(help="accuracy, f1, r2, rmse, ...")] = None,
    budget: Annotated[str | None, typer.Option(help="Training time, e.g. 90s.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Understand, configure and validate a job without training anything."""
    from mlpilot.agent.planning import plan_only, planning_context

    said = _Said("plan", as_json, request, data, None)
    task_request = _request(request, data, None, config, target, metric, budget, None, None, None,
                            said)
    context = _guard(lambda: planning_context(progress=_progress), said)
    result = _guard(lambda: plan_only(context, task_request), said)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_plan(result)
    if result.get("status") == "needs_input":
        _ask(result)
        raise typer.Exit(EXIT_NEEDS_INPUT)


@app.command()
def chat(
    user: Annotated[str | None, typer.Option(help="Who decides approvals (default: your user name).")] = None,
    datasets_dir: Annotated[Path | None, typer.Option(
        help="Folder that data file names resolve against (default: MLPILOT_DATASETS_DIR).")] = None,
) -> None:
    """Talk to the agent: start a job, ask how it goes, change the plan, approve, ask why."""
    from mlpilot.agent.llm import build_chat_model
    from mlpilot.agent.settings import Settings
    from mlpilot.interfaces.chat import ChatSession, converse

    settings = Settings(**({"datasets_dir": datasets_dir} if datasets_dir else {}))
    _quiet_optuna()

    def write(text: str) -> None:
        print(text, flush=True)

    session = _guard(lambda: ChatSession(settings, write=write, user=user,
                                         chat_model=build_chat_model(settings)))
    converse(session, input, write)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int | None, typer.Option(
        help="Job worker threads (default: MLPILOT_WORKERS, 2).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        help="Addresses of the TLS proxies in front of the server, comma-separated ('*': any), "
        "whose X-Forwarded-Proto and X-Forwarded-For are believed: behind one that says "
        "https, the sign-in cookie is Secure (default: FORWARDED_ALLOW_IPS, else "
        "127.0.0.1).")] = None,
) -> None:
    """Serve the REST API and run submitted jobs in worker threads (keys: MLPILOT_API_KEYS)."""
    import uvicorn

    from mlpilot.agent.settings import Settings
    from mlpilot.interfaces.api import create_app

    try:
        settings = Settings(**({"workers": workers} if workers is not None else {}))
    except ValueError as err:  # e.g. MLPILOT_API_KEYS that is not a JSON object of roles
        problem = str(err).splitlines()[0]
        if hasattr(err, "errors"):
            first = err.errors()[0]
            problem = f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
        _fail(f"bad settings: {problem} (see the README's `mlpilot serve`)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:  %(message)s")
    _quiet_libraries()
    _quiet_optuna()
    if settings.worker_mode == "thread":
        # Workers train in threads of this process: hand the interpreter to the thread
        # serving requests more often than every 5 ms, so API calls stay quick meanwhile.
        sys.setswitchinterval(0.001)
    app = create_app(settings)
    # What the imports and the app made (torch, pandas, ...: about half a million objects)
    # lives as long as the server: kept out of garbage collection, a full collection takes
    # well under a millisecond instead of a quarter of a second that every client waits.
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips)


@approvals_app.command("list")
def approvals_list(
    all_: Annotated[bool, typer.Option("--all", help="Include decided approvals.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List pending approvals (or all of them)."""
    store = _runner(True).store
    items = store.approvals(status=None if all_ else "pending")
    if as_json:
        print(json.dumps([a.model_dump() for a in items], indent=2, default=str))
        return
    if not items:
        out.print("No pending approvals." if not all_ else "No approvals.")
        return
    table = Table("id", "run", "action", "status", "why")
    for a in items:
        table.add_row(a.id, a.job_id, a.action, a.status, a.reason)
    out.print(table)
    for a in items:  # code that would run at every prediction: shown whole before a decision
        if a.action == "serve_feature_code" and a.status == "pending":
            for step in a.payload.get("steps") or []:
                out.print(f"\n{a.id}: {step.get('name')} ({step.get('origin')}): "
                          f"{step.get('evidence') or ''}", markup=False, highlight=False)
                out.print(step.get("code") or "", markup=False, highlight=False)


@approvals_app.command("approve")
def approvals_approve(
    approval_id: str,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
    by: Annotated[str | None, typer.Option(help="Who decides (default: your user name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a pending action; the job resumes (here, unless another process is waiting on it)."""
    _decide(approval_id, True, reason, by, as_json)


@approvals_app.command("reject")
def approvals_reject(
    approval_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
    by: Annotated[str | None, typer.Option(help="Who decides (default: your user name).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a pending action with a reason; the job goes on without it or stops."""
    if not reason.strip():
        _fail("--reason is blank: say why you reject it, e.g. --reason 'budget too high'")
    _decide(approval_id, False, reason.strip(), by, as_json)


@runs_app.command("list")
def runs_list(as_json: JsonOpt = False) -> None:
    """List runs, newest first."""
    jobs = _runner(True).store.jobs()
    if as_json:
        print(json.dumps([_job_summary(j) for j in jobs], indent=2, default=str))
        return
    table = Table("run", "status", "target", "metric", "score", "model")
    for job in jobs:
        s = _job_summary(job)
        table.add_row(s["run_id"], s["status"], s.get("target") or "", s.get("metric") or "",
                      f"{s['score']:.4f}" if s.get("score") is not None else "", s.get("model") or "")
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: str, as_json: JsonOpt = False) -> None:
    """Show one run's report."""
    from rich.markdown import Markdown  # markdown-it: only to show a report

    from mlpilot.agent.report import markdown

    job = _guard(lambda: _runner(True).store.job(run_id))
    doc = job.result or {"run_id": job.id, "status": job.status, "error": job.error}
    if as_json:
        print(json.dumps(doc, indent=2, default=str))
    elif doc.get("task"):
        out.print(Markdown(markdown(doc)))
    else:
        out.print(f"{job.id}: {job.status}" + (f" — {job.error}" if job.error else ""))


@kb_app.command("search")
def kb_search(query: str, k: Annotated[int, typer.Option(help="How many results.")] = 5,
              as_json: JsonOpt = False) -> None:
    """Search the fault knowledge base: what it knows about an error, best fix first."""
    from mlpilot.knowledge.kb import KnowledgeBase

    settings = _runner(True).settings
    with KnowledgeBase(settings.knowledge_dir) as kb:
        hits = kb.search(query, k=k)
    if as_json:
        print(json.dumps([h.model_dump() for h in hits], indent=2, default=str))
        return
    table = Table("score", "kind", "fix", "worked", "failed")
    for h in hits:
        table.add_row(f"{h.rank_score:.2f}", h.entry.fault_kind, h.entry.fix_description,
                      str(h.entry.successes), str(h.entry.failures))
    out.print(table)


# -- helpers ------------------------------------------------------------------------------


class _Said(NamedTuple):
    """What a `run` or `plan` command was given, for the JSON document of a failure."""

    command: str
    as_json: bool
    request: str | None
    data: Path | None
    test_data: Path | None


def _request(request, data, test_data, config, target, metric, budget, goal, model_name, seed,
             said: _Said | None = None):
    from mlpilot.interfaces.job_config import build_request, load_job_config

    overrides = {"request": request or None, "data": data, "test_data": test_data,
                 "target": target, "metric": metric, "budget": budget, "goal": goal,
                 "model_name": model_name, "seed": seed}
    if config is not None:
        return _guard(lambda: load_job_config(config, **overrides), said)
    if data is None:
        _fail("--data is required (a CSV or Parquet file), or pass --config job.yaml", said)
    return _guard(lambda: build_request({k: v for k, v in overrides.items() if v is not None}),
                  said)


def _runner(quiet: bool, said: _Said | None = None):
    from mlpilot.agent.runner import Runner

    return _guard(lambda: Runner(progress=_progress), said)


def _progress(event: dict[str, Any]) -> None:
    err.print(f"[dim]{event['stage']:>16}[/] {event['message']}", highlight=False)


def _decide(approval_id: str, approved: bool, reason: str | None, by: str | None, as_json: bool):
    _quiet_optuna()  # the job may resume here and tune
    runner = _runner(as_json)
    who = by or os.environ.get("MLPILOT_USER") or getpass.getuser()
    approval, outcome = _guard(lambda: runner.decide(approval_id, approved, by=who, reason=reason))
    err.print(f"{approval.id}: {approval.status} by {approval.decided_by}")
    if outcome is None:
        if approval.job_id.startswith("deployment:"):
            err.print(f"{approval.action} for {approval.job_id.partition(':')[2]}: done "
                      "(see `mlpilot deployments`)" if approval.status == "approved" else "")
        else:
            err.print(f"run {approval.job_id} continues in the process that is waiting on it")
        if as_json:
            print(json.dumps(approval.model_dump(), default=str))
        return
    _finish(outcome.status, outcome.result, as_json)


def _finish(status: str, result: dict[str, Any], as_json: bool) -> None:
    from rich.markdown import Markdown  # markdown-it: only to show a report

    from mlpilot.agent.report import markdown

    if as_json:
        print(json.dumps(result, indent=2, default=str))
    elif result.get("task"):
        out.print(Markdown(markdown(result)))
    if status == "waiting_approval":
        for p in result.get("pending_approvals", []):
            err.print(f"[yellow]waiting for approval[/] {p['id']}: {p['action']} ({p['reason']}). "
                      f"Approve with `{p['approve']}` or reject with "
                      f"`mlpilot approvals reject {p['id']} --reason ...`")
        raise typer.Exit(EXIT_WAITING)
    if status == "needs_input":
        _ask(result)
        raise typer.Exit(EXIT_NEEDS_INPUT)
    if status in ("failed", "rejected"):
        err.print(f"run {result.get('run_id')} {status}")
        raise typer.Exit(EXIT_ERROR)


def _ask(result: dict[str, Any]) -> None:
    """The planner's question on stderr, its choices as a numbered list."""
    err.print(f"[yellow]question:[/] {result.get('question')}", highlight=False)
    for i, choice in enumerate(result.get("choices") or [], 1):
        err.print(f"  {i}. {choice}", highlight=False)


def _print_plan(result: dict[str, Any]) -> None:
    out.print_json(json.dumps({k: result.get(k) for k in ("task", "config")}, default=str))
    for f in result.get("findings") or []:
        out.print(f"[{f['severity']}] {f['field']}: {f['message']}")


def _guard(action, said: _Said | None = None):
    """Run `action`; errors in the user's input or setup end the command with one clear line
    (and, under --json, the contract's `failed` document on stdout)."""
    from mlpilot.agent.errors import TrainingFailed
    from mlpilot.agent.store import StoreError
    from mlpilot.agent.understanding import RequestError
    from mlpilot.agent.validator import ConfigRejected
    from mlpilot.engine.data import DataError
    from mlpilot.interfaces.job_config import ConfigFileError

    try:
        return action()
    except (DataError, RequestError, ConfigFileError, StoreError, ConfigRejected,
            TrainingFailed) as problem:
        _fail(str(problem), said)
    except KeyboardInterrupt:
        _fail("interrupted; a job waiting for approval can be resumed with `mlpilot approvals`",
              said)
    except Exception as crash:
        if said is None or not said.as_json:
            raise
        _fail(f"{type(crash).__name__}: {crash}", said)  # the contract: one document, always


def _fail(message: str, said: _Said | None = None) -> None:
    if said is not None and said.as_json:
        print(json.dumps(_failed_document(message, said), indent=2, default=str))
    err.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_ERROR)


def _failed_document(message: str, said: _Said) -> dict[str, Any]:
    """The `failed` document of the JSON contract for an error before or outside a job."""
    from mlpilot.agent.planning import plan_view
    from mlpilot.agent.report import result_document

    request = {"request": said.request or "", "data": said.data and str(said.data),
               "test_data": said.test_data and str(said.test_data)}
    doc = result_document({"request": request}, status="failed", error=message)
    return plan_view(doc) if said.command == "plan" else doc


def _job_summary(job) -> dict[str, Any]:
    result = job.result or {}
    task = result.get("task") or {}
    metric = task.get("metric")
    model = result.get("model") or {}
    return {"run_id": job.id, "status": job.status, "target": task.get("target"),
            "metric": metric, "score": (result.get("metrics") or {}).get(metric),
            "model": f"{model['name']} v{model['version']}" if model else None,
            "created_at": job.created_at}


def _quiet_libraries() -> None:
    """Keep third-party chatter (MLflow, Optuna, warnings) off the terminal."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "optuna", "alembic", "urllib3", "chromadb", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _quiet_optuna() -> None:
    """Keep Optuna's per-trial lines off the terminal, for the commands that may tune.

    Optuna resets its logger to INFO when it is first imported, so this imports it; the
    commands that never tune (`--help`, `plan`, lists) skip it and start half a second sooner.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


# The commands after the registry (deploy, rollback, predict, monitor, serve-model) live in
# their own module; importing it registers them on `app`.
from mlpilot.interfaces import cli_deploy  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
