"""Training in a worker process, so that a crash is a fault to recover from, not the end.

`fit_in_subprocess` runs `training.fit` in a fresh process (multiprocessing "spawn": nothing
is shared with the parent, which is safe with threads and CUDA) with a checkpoint after
every epoch, and relays each finished epoch to the parent. The trained weights come back
as bytes (the pickled module). When the worker dies without reporting (killed, a segfault, a non-zero exit),
`TrainingFault("worker_crash")` names the last checkpoint, and calling again with
`resume=True` continues from it. A `TrainingFault` or other error raised in the worker is
raised again in the parent.

Workers are forks of a clean fork server that has the engine imported, so only the first
pays for importing torch; `prestart()` starts that server ahead of time. Deadlines are
`time.monotonic()` values, which Linux and macOS share across processes.
"""

from __future__ import annotations

import io
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .config import TaskSpec, TrainingConfig
from .faults import TrainingFault
from .preprocess import PreparedData
from .training import Callback, EpochResult, FitResult, TrainingRun, fit

#: How long past its deadline a worker may run (finishing its epoch) before it is killed.
GRACE_S = 60.0
_POLL_S = 0.05


def fit_in_subprocess(config: TrainingConfig, data: PreparedData, task: TaskSpec, *,
                      checkpoint_path: Path, deadline: float | None = None,
                      callbacks: Sequence[Callback] = (), resume: bool = False,
                      resume_from: Path | None = None, max_steps: int | None = None,
                      on_epoch: Callable[[EpochResult], None] | None = None,
                      device: str = "auto") -> FitResult:
    """`fit` in a worker process; the result's model lives in this process, on the CPU.

    Args:
        checkpoint_path: where the worker writes a checkpoint after every epoch (required:
            it is what a restart continues from).
        deadline, resume, resume_from, max_steps: as for `fit`.
        callbacks: run in the worker, so they must be picklable (and importable there).
        on_epoch: called here with each epoch the worker finishes.
        device: where the worker trains ("auto": CUDA when there is one, see
            `training.select_device`); the model comes back on the CPU either way.

    Raises `TrainingFault("worker_crash")` when the worker dies without reporting, and
    whatever `fit` raised in the worker.
    """
    options = {"deadline": deadline, "callbacks": list(callbacks),
               "checkpoint_path": Path(checkpoint_path), "resume": resume,
               "resume_from": resume_from, "max_steps": max_steps, "device": device}
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_work, args=(sender, config, data, task, options),
                         name="mlpilot-fit", daemon=True)
    worker.start()
    sender.close()  # the worker holds the only sending end: EOF means it is gone
    last = EpochResult(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    try:
        while True:
            try:
                if not receiver.poll(_POLL_S):
                    if deadline is not None and time.monotonic() > deadline + GRACE_S:
                        worker.kill()
                    continue
                kind, payload = receiver.recv()
            except (EOFError, OSError):
                break
            if kind == "epoch":
                last = payload
                if on_epoch is not None:
                    on_epoch(payload)
            elif kind == "done":
                return _result(payload)
            else:
                raise payload
    finally:
        receiver.close()
        worker.join(timeout=10)
        if worker.is_alive():
            worker.kill()
            worker.join()
    raise _crash(worker, last, Path(checkpoint_path))


def prestart() -> None:
    """Start the fork server and wait until it is ready (seconds, once per process), so
    that starting it is not charged to the first worker's training deadline."""
    global _started
    if not _started:
        noop = _context().Process(target=_noop, daemon=True)
        noop.start()
        noop.join()
        _started = True


_started = False


def _noop() -> None:
    """What `prestart` runs in a worker: nothing."""


def _context() -> Any:
    """A fork server with the engine imported, where there is one: each worker starts as
    a fork of that clean, single-threaded process (not of the caller), so only the first
    pays for importing torch. Elsewhere (Windows) a plain spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # torch.optim imports torch._dynamo on first use: 2 s that every worker would pay again
    ctx.set_forkserver_preload([__name__, "torch._dynamo"])
    return ctx


def _crash(worker: Any, last: EpochResult, checkpoint: Path) -> TrainingFault:
    code = worker.exitcode
    how = f"exit code {code}"
    if code is not None and code < 0:
        try:
            how += f" ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return TrainingFault(
        "worker_crash", last.epoch, 0,
        f"the training worker process (pid {worker.pid}) died with {how} after epoch "
        f"{last.epoch}; restart it from the last checkpoint",
        checkpoint if checkpoint.exists() else None,
        {"exit_code": code, "pid": worker.pid, "last_epoch": last.epoch})


class _Relay(Callback):
    """Sends each finished epoch to the parent (after its checkpoint is written)."""

    def __init__(self, conn: Any):
        self.conn = conn

    def on_epoch_end(self, run: TrainingRun, epoch: EpochResult) -> None:
        self.conn.send(("epoch", epoch))


def _work(conn: Any, config: TrainingConfig, data: PreparedData, task: TaskSpec,
          options: dict[str, Any]) -> None:
    """The worker: fit, then send the weights and the record, or the error."""
    callbacks = [*options.pop("callbacks"), _Relay(conn)]
    try:
        result = fit(config, data, task, callbacks=callbacks, **options)
        model = io.BytesIO()
        torch.save(result.model.cpu(), model)  # the whole module: any family rebuilds
        record = {k: v for k, v in vars(result).items() if k != "model"}
        conn.send(("done", {"model": model.getvalue(), **record}))
    except Exception as err:  # noqa: BLE001 - every error goes back to the parent
        try:
            conn.send(("error", err))
        except Exception:  # noqa: BLE001 - an error that does not pickle
            conn.send(("error", RuntimeError(f"{type(err).__name__}: {err}")))
    finally:
        conn.close()


def _result(payload: dict[str, Any]) -> FitResult:
    # our own worker's bytes, so unpickling the module is safe
    model = torch.load(io.BytesIO(payload.pop("model")), weights_only=False)
    return FitResult(model=model.eval(), **payload)
