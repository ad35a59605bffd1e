"""LangGraph's checkpointer for jobs: SQLite next to the store, or PostgreSQL.

    with open_checkpointer(settings) as saver:
        graph = build_graph(saver)

One place builds it, so the runner, the job service and the chat's job threads all keep a
job's graph state where the store keeps the job (`Settings.state_db`).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlpilot.agent.settings import Settings
from mlpilot.engine.sql import is_postgres

_set_up: set[str] = set()
_set_up_lock = threading.Lock()


@contextmanager
def open_checkpointer(settings: Settings) -> Iterator[Any]:
    """A checkpointer on this installation's state database, closed on leaving."""
    location = settings.state_db
    if not is_postgres(location):
        from langgraph.checkpoint.sqlite import SqliteSaver

        # The saver serialises use of its connection itself; threads may share it.
        conn = sqlite3.connect(location, check_same_thread=False, timeout=30)
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    # The settings LangGraph's own `from_conn_string` uses: the saver commits each write
    # itself, and prepared statements do not survive a pooler (pgbouncer) in between.
    with psycopg.connect(str(location), autocommit=True, prepare_threshold=0,
                         row_factory=dict_row) as conn:
        saver = PostgresSaver(conn)
        _setup_once(saver, str(location), conn)
        yield saver


def _setup_once(saver: Any, url: str, conn: Any) -> None:
    """Create or migrate LangGraph's tables once per process and database; an advisory
    lock keeps two processes from running its migrations at once."""
    with _set_up_lock:
        if url in _set_up:
            return
        conn.execute("SELECT pg_advisory_lock(hashtext('mlpilot:checkpoints'))")
        try:
            saver.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('mlpilot:checkpoints'))")
        _set_up.add(url)
