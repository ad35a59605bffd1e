"""The training time a node has spent, kept on disk while it runs.

LangGraph runs a node again from its start when the process running it died (a kill -9,
a lost machine) or stopped it (a server shutting down). Without a record, the train or
tune node run again would get its whole share of the budget a second time: the job's wall
time would pass the budget while `budget_used_s` reported less. A `BudgetClock` writes
the seconds spent (every `every_s` while the node trains, and once more on the way out);
the next run of the node reads them, deducts them from its deadline, and counts them in
`budget_used_s`. A node that ends normally clears its clock.

    clock = BudgetClock(job_dir / "tune.clock")
    before = clock.spent()                  # what a cut-off run of this node spent
    with clock.running(before):
        ...                                 # train until the deadline, less `before`
    clock.clear()
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BudgetClock:
    """Seconds of training a node has spent, in a small JSON file (see the module doc).

    Args:
        path: the file, in the job's directory.
        every_s: how often it is written while the node trains: a crash loses at most this.
    """

    def __init__(self, path: Path, every_s: float = 1.0):
        self.path, self.every_s = Path(path), every_s

    def spent(self) -> float:
        """Seconds an earlier, cut-off run of the node spent (0 when it ended normally)."""
        try:
            return max(0.0, float(json.loads(self.path.read_text())["spent_s"]))
        except (OSError, ValueError, KeyError, TypeError):
            return 0.0

    def cut_off_since(self) -> float | None:
        """When (Unix time) the last, cut-off run of the node started; None if none was
        cut off. A file it wrote after this is its own, not an older run's."""
        try:
            return float(json.loads(self.path.read_text())["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @contextmanager
    def running(self, before: float = 0.0) -> Iterator[None]:
        """Keep the file at `before` plus the time spent inside the block, written every
        `every_s` and when the block ends (normally or not)."""
        started, done, wall = time.monotonic(), threading.Event(), time.time()

        def write() -> None:
            self._write(before + time.monotonic() - started, wall)

        def keep() -> None:
            while not done.wait(self.every_s):
                write()

        write()
        ticker = threading.Thread(target=keep, name="mlpilot-budget-clock", daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
            write()

    def clear(self) -> None:
        """The node ended normally: nothing is carried over to another run of it."""
        self.path.unlink(missing_ok=True)

    def _write(self, seconds: float, started_at: float | None = None) -> None:
        # Written whole and renamed, so a kill mid-write leaves the last complete value.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps({"spent_s": round(seconds, 3),
                                       "started_at": time.time() if started_at is None
                                       else started_at}))
        os.replace(partial, self.path)
