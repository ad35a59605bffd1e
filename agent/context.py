"""What every node of a job's graph may use but that is not checkpointed state:
settings, the chat model (or None for the offline expert), a progress sink, and the
job's data, loaded once per process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlpilot.agent.settings import Settings
from mlpilot.agent.state import TaskRequest
from mlpilot.engine.data import load_table

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

ProgressSink = Callable[[dict[str, Any]], None]


@dataclass
class JobContext:
    """Run-scoped context handed to every node (LangGraph `Runtime.context`)."""

    settings: Settings
    chat_model: BaseChatModel | None = None
    progress: ProgressSink | None = None
    #: Extra engine callbacks for every training run (tests use them to inject faults).
    training_callbacks: Sequence[Any] = field(default_factory=tuple)
    #: Whether the validator trains a few steps on a sample (`mlpilot plan` trains nothing).
    dry_run: bool = True

    def emit(self, stage: str, message: str, **fields: Any) -> None:
        """Report progress (stage, message and any metrics) to whoever is listening."""
        if self.progress is not None:
            self.progress({"stage": stage, "message": message, **fields})


def load_request_data(request: TaskRequest) -> pd.DataFrame:
    """The request's training data (cached per process, by path and file stamp)."""
    return _cached_table(*_stamp(request.data), tuple(request.na_values)).copy()


def load_request_test_data(request: TaskRequest) -> pd.DataFrame | None:
    """The request's own test file, when it has one."""
    if request.test_data is None:
        return None
    return _cached_table(*_stamp(request.test_data), tuple(request.na_values)).copy()


def _stamp(path: Path) -> tuple[str, float, int]:
    path = Path(path)
    try:
        stat = path.stat()
        return str(path.resolve()), stat.st_mtime, stat.st_size
    except OSError:
        return str(path), 0.0, -1  # load_table raises the user-facing error


@lru_cache(maxsize=8)
def _cached_table(path: str, mtime: float, size: int, na_values: tuple[str, ...]) -> pd.DataFrame:
    return load_table(path, na_values=list(na_values) or None)
