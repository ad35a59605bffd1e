"""The audit log of sandboxed runs: one JSON line per run, appended, never rewritten.

Each line holds the hash of the code, the limits, how long it ran, its outcome and how
it ended (exit status or signal, the limit that stopped it), and what the code reported.
Appends are single `write` calls on an O_APPEND file under an exclusive lock, so several
processes can audit into one file without interleaving lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def default_audit_path() -> Path:
    """The audit log next to the rest of the local state (`MLPILOT_DATA_DIR`, as in the
    settings; the sandbox imports nothing of the agent)."""
    return Path(os.environ.get("MLPILOT_DATA_DIR", ".mlpilot")) / "sandbox-audit.jsonl"


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one run's record to the log at `path` (made, with its folder, if absent)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    finally:
        os.close(fd)


def records(path: Path) -> Iterator[dict[str, Any]]:
    """The log's records, oldest first (none if the log does not exist)."""
    if not path.exists():
        return
    with path.open() as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
