"""`mlpilot` commands after the registry: deploy, roll back, predict, monitor, serve one model.

    mlpilot deploy churn@3                    # v3 answers (also churn@champion, churn)
    mlpilot deploy churn@4 --mode canary --share 0.1
    mlpilot rollback churn                    # the previous champion, audited
    mlpilot deployments [churn]               # what answers, history, live metrics
    mlpilot promote churn                     # propose the challenger: approval queue
    mlpilot predict churn --data new.csv --out predictions.csv
    mlpilot monitor churn [--propose]         # drift table; drift opens a retrain proposal
    mlpilot serve-model churn --port 8100     # one model over HTTP, no job workers

Heavy libraries load inside the commands (`mlpilot --help` stays quick).
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from mlpilot.interfaces.cli import JsonOpt, _fail, _quiet_libraries, app, err, out


def _who(by: str | None) -> str:
    return by or os.environ.get("MLPILOT_USER") or getpass.getuser()


def _deployments():
    from mlpilot.agent.deployments import Deployments
    from mlpilot.agent.settings import Settings

    return Deployments(Settings())


def _run(action):
    """Run `action`; a user's mistake (unknown model, nothing to roll back, a bad row)
    ends the command with one line."""
    from mlpilot.agent.batch_scoring import SchemaError
    from mlpilot.agent.store import StoreError
    from mlpilot.engine.data import DataError
    from mlpilot.engine.input_schema import RowError
    from mlpilot.engine.serving import ModelNotFound

    try:
        return action()
    except (StoreError, ModelNotFound, DataError, RowError, SchemaError, ValueError) as problem:
        message = str(problem)
        if isinstance(problem, SchemaError) and len(problem.problems) > 1:
            message = "the table does not fit the model:\n  " + "\n  ".join(problem.problems)
        _fail(message)


def _split(reference: str) -> tuple[str, str | None]:
    name, _, ref = reference.partition("@")
    if not name:
        _fail(f"no model name in {reference!r}: use NAME, NAME@VERSION or NAME@ALIAS")
    return name, ref or None


ByOpt = Annotated[str | None, typer.Option(help="Who, for the audit log (default: you).")]
ReasonOpt = Annotated[str | None, typer.Option(help="Why, for the audit log.")]


@app.command()
def deploy(
    model: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS (default: newest).")],
    mode: Annotated[str, typer.Option(help="champion, shadow or canary.")] = "champion",
    share: Annotated[float, typer.Option(help="Canary share of ids, e.g. 0.1.")] = 0.1,
    reason: ReasonOpt = None, by: ByOpt = None, as_json: JsonOpt = False,
) -> None:
    """Serve a registered version: as champion, or as a shadow or canary challenger."""
    if mode not in ("champion", "shadow", "canary"):
        _fail(f"--mode {mode!r} is not one of champion, shadow, canary")
    _quiet_libraries()
    name, ref = _split(model)
    made = _run(lambda: _deployments().deploy(name, ref, by=_who(by), mode=mode, share=share,
                                              reason=reason))
    role = "champion" if mode == "champion" else f"{mode} challenger"
    _said(made, f"{name} v{made.version} is the {role} ({made.seconds:.2f} s)", as_json)


@app.command()
def rollback(model: Annotated[str, typer.Argument(help="The model's name.")],
             reason: ReasonOpt = None, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    """Put the previous champion back (audited)."""
    _quiet_libraries()
    made = _run(lambda: _deployments().rollback(model, by=_who(by), reason=reason))
    _said(made, f"{model}: v{made.previous} -> v{made.version} ({made.seconds:.2f} s)", as_json)


@app.command()
def deployments(model: Annotated[str | None, typer.Argument(help="One model's name.")] = None,
                as_json: JsonOpt = False) -> None:
    """What answers each model's predictions; with a name, its history and live metrics."""
    _quiet_libraries()
    from mlpilot.agent.promotion import live_metrics

    made = _deployments()
    if model is None:
        found = made.store.deployment_list()
        if as_json:
            print(json.dumps([d.model_dump() for d in found], indent=2))
            return
        table = Table("model", "champion", "challenger", "mode", "share")
        for d in found:
            table.add_row(d.name, d.champion, d.challenger or "", d.mode or "",
                          "" if d.share is None else f"{d.share:g}")
        out.print(table if found else "Nothing deployed yet: `mlpilot deploy NAME`.")
        return
    status = _run(lambda: made.status(model))
    metrics = _run(lambda: live_metrics(made, model))
    history = made.store.history(model, 20)
    if as_json:
        print(json.dumps({**status.model_dump(), "live_metrics": [m.__dict__ for m in metrics],
                          "history": [h.model_dump() for h in history]}, indent=2))
        return
    out.print(f"{model}: champion v{status.champion}"
              + (f", {status.mode} challenger v{status.challenger}" if status.challenger else ""))
    table = Table("version", "labelled", "metric", "value", "task metrics")
    for m in metrics:
        table.add_row(m.version, str(m.count), m.metric,
                      "" if m.value is None else f"{m.value:.4f}",
                      ", ".join(f"{k} {v:.4f}" for k, v in m.scores.items()))
    out.print(table)
    changes = Table("when", "action", "version", "from", "by", "why")
    for h in history:
        changes.add_row(_when(h.created_at), h.action, h.version or "", h.previous or "",
                        h.by or "", h.reason or "")
    out.print(changes)


@app.command()
def promote(model: Annotated[str, typer.Argument(help="The model's name.")],
            by: ByOpt = None) -> None:
    """Propose the challenger's promotion; it waits in the approval queue."""
    _quiet_libraries()
    from mlpilot.agent.promotion import describe, propose_promotion

    approval = _run(lambda: propose_promotion(_deployments(), model, by=_who(by)))
    out.print(f"{approval.id}: {describe(approval)['what']}")
    err.print(f"decide with `mlpilot approvals approve {approval.id}` (or the web page, Slack)")


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="The model's name.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="CSV or Parquet rows to score.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Where to write (CSV, or "
                                           ".parquet).")] = Path("predictions.csv"),
    id_column: Annotated[str | None, typer.Option(help="Column of entity ids.")] = None,
    allow_missing: Annotated[bool, typer.Option(help="Allow missing values anywhere.")] = False,
) -> None:
    """Score a table with the model's deployment (each row logged), with a progress bar."""
    _quiet_libraries()
    from mlpilot.agent.batch_scoring import score_file

    made = _deployments()
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=False) as bar:
        task = bar.add_task(f"scoring {data.name}", total=None)
        scored = _run(lambda: score_file(
            made, model, data, out_path, id_column=id_column, allow_missing=allow_missing,
            progress=lambda done, total: bar.update(task, completed=done, total=total)))
    made.close()
    versions = ", ".join(f"v{v}: {n}" for v, n in scored["version"].value_counts().items())
    err.print(f"{len(scored)} predictions ({versions}) written to {out_path}")


@app.command()
def monitor(
    model: Annotated[str, typer.Argument(help="The model's name.")],
    window: Annotated[int, typer.Option(help="The latest N live rows.")] = 1000,
    hours: Annotated[float | None, typer.Option(help="Only rows of the last H hours.")] = None,
    reference: Annotated[Path | None, typer.Option(help="Training data, when the model was "
                                                   "not trained by a job here.")] = None,
    propose: Annotated[bool, typer.Option(help="Open a retrain proposal on drift.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """The drift table: each feature and the predictions, training against live rows."""
    _quiet_libraries()
    import time

    from mlpilot.agent.drift_watch import monitor as watch

    since = None if hours is None else time.time() - hours * 3600
    report = _run(lambda: watch(_deployments(), model, window=window, since=since,
                                reference=reference, propose=propose, by=_who(None)))
    if as_json:
        print(json.dumps(report.view(), indent=2, default=str))
        return
    out.print(f"{model} v{report.version}: {report.live_rows} live rows"
              + ("" if report.enough_rows else " (too few to judge feature drift)"))
    table = Table("feature", "kind", "statistic", "value", "p", "missing train", "missing live",
                  "drifted")
    for f in report.features:
        table.add_row(f.column, f.kind, f.statistic, f"{f.value:.4f}",
                      "" if f.p_value is None else f"{f.p_value:.3g}", f"{f.missing_train:.1%}",
                      f"{f.missing_live:.1%}", "yes" if f.column in report.drifted else "")
    out.print(table)
    if report.proposal is not None:
        err.print(f"retrain proposed: {report.proposal.id} (`mlpilot approvals approve "
                  f"{report.proposal.id}`)")


@app.command("serve-model")
def serve_model(
    model: Annotated[str, typer.Argument(help="The model's name.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    workers: Annotated[int, typer.Option(min=1, max=64, help=(
        "Server processes on the one port, each with the model loaded: one answers one "
        "prediction at a time, so give it about one per core."))] = 1,
) -> None:
    """Serve one model over HTTP (POST /predict, /feedback, GET /ready), no job workers."""
    # A process answers one prediction at a time: torch's own threads would only contend
    # for the cores with the other processes (scale with --workers). Set before torch loads.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _quiet_libraries()
    import uvicorn

    from mlpilot.agent.settings import Settings
    from mlpilot.interfaces.model_app import SERVED_MODEL_ENV, create_model_app

    if workers == 1:
        uvicorn.run(create_model_app(Settings(), model), host=host, port=port,
                    log_level=log_level)
        return
    os.environ[SERVED_MODEL_ENV] = model  # the worker processes read it (and the settings)
    uvicorn.run("mlpilot.interfaces.model_app:model_app_from_environment", factory=True,
                workers=workers, host=host, port=port, log_level=log_level)


def _said(made: Any, line: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({**made.deployment.model_dump(), "version": made.version,
                          "previous": made.previous, "seconds": made.seconds}, indent=2))
    err.print(line)


def _when(stamp: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
