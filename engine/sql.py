"""One SQL dialect over a SQLite file or a PostgreSQL database, and schema migrations.

    db = SqlDatabase(Path(".mlpilot/state.sqlite"))            # or "postgresql://host/db"
    db.migrate("jobs", [STEP_1, STEP_2])                        # brings the schema up to date
    with db.connect() as conn, conn.transaction():
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()

The stores (jobs and approvals, the experience store, the Slack bot's threads) write
portable SQL: `?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`; rows read by name
or by position. What differs is kept here:

- placeholders (`?` becomes psycopg's `%s`) and the DDL types (`REAL` is a 4-byte float in
  PostgreSQL, too coarse for timestamps: it becomes `DOUBLE PRECISION`);
- a write transaction (`transaction()`): SQLite's `BEGIN IMMEDIATE` holds the file's write
  lock; PostgreSQL takes a transaction-scoped advisory lock named by the caller, so the
  same read-then-write sections are serialised across processes and machines;
- schema versions: a table `mlpilot_schema` (component, version), advanced one numbered
  step at a time under that lock, so a fresh database and one from any older release end
  up alike, and two processes opening it at once migrate it once.

Optuna and MLflow keep their own schemas (Alembic) and connect through SQLAlchemy;
`sqlalchemy_url` gives each its own PostgreSQL schema of the same database (both name
their Alembic table `alembic_version`).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import quote

Dialect = Literal["sqlite", "postgres"]
#: A migration step: SQL statements separated by ";", or a function of the connection.
Step = str | Callable[["Connection"], None]
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: How long a process waits for an unreachable PostgreSQL server (a restart) before it
#: gives up with an error.
RECONNECT_S = 30.0
_prepared_schemas: set[tuple[str, str]] = set()
_schema_lock = threading.Lock()


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer mlpilot than this one."""


def is_postgres(location: str | Path) -> bool:
    """Whether a store location is a PostgreSQL URL (else it is a SQLite file path)."""
    return isinstance(location, str) and location.startswith(_POSTGRES_SCHEMES)


def sqlalchemy_url(url: str, schema: str) -> str:
    """The SQLAlchemy URL (psycopg 3 driver) of a PostgreSQL database, confined to one schema
    of it, created on first use: Optuna and MLflow each get a schema of their own."""
    if not is_postgres(url):
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    key = (url, schema)
    with _schema_lock:
        if key not in _prepared_schemas:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (_lock_key("schemas"),))
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            _prepared_schemas.add(key)
    rest = url.split("://", 1)[1]
    joiner = "&" if "?" in rest else "?"
    return f"postgresql+psycopg://{rest}{joiner}options={quote(f'-csearch_path={schema}')}"


class Row(tuple):
    """A PostgreSQL row readable like `sqlite3.Row`: by position, by column name, and as a
    mapping (`dict(row)`)."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> Self:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """The column names, in order."""
        return list(self._index)


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Row(values, index)


class Connection:
    """One connection, either kind, speaking the portable dialect (see the module)."""

    def __init__(self, raw: Any, dialect: Dialect, reopen: Callable[[], Any] | None = None):
        self.raw, self.dialect, self._reopen = raw, dialect, reopen
        self._in_transaction = False

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement with `?` placeholders; returns the driver's cursor.

        A PostgreSQL connection the server dropped (a restart, a failover) is opened again
        and the statement sent once more, outside a transaction only: inside one, the
        caller's whole transaction has to run again, so the error goes up."""
        if self.dialect == "sqlite":
            return self.raw.execute(sql, args)
        query, values = sql.replace("%", "%%").replace("?", "%s"), tuple(args)
        try:
            return self.raw.execute(query, values)
        except Exception:
            if self._in_transaction or self._reopen is None or not _broken(self):
                raise
        self.raw = self._reopen()
        return self.raw.execute(query, values)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement with `?` placeholders once per row of arguments (psycopg sends
        them in one pipeline)."""
        if self.dialect == "sqlite":
            self.raw.executemany(sql, rows)
            return
        with self.raw.cursor() as cursor:
            cursor.executemany(sql.replace("%", "%%").replace("?", "%s"), [tuple(r) for r in rows])

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (an error left one between BEGIN and COMMIT)."""
        if self.dialect == "sqlite":
            return self.raw.in_transaction
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @contextmanager
    def transaction(self, lock: str = "write") -> Iterator[Connection]:
        """A transaction that holds a write lock from its first statement: SQLite's database
        lock, or PostgreSQL's advisory lock `lock` (sections that race on the same rows name
        the same lock). Committed on leaving, rolled back on an error."""
        if self.dialect == "sqlite":
            self.raw.execute("BEGIN IMMEDIATE")
        else:
            self.execute("BEGIN")  # (a dropped connection is opened again here, not later)
            self._in_transaction = True
        try:
            if self.dialect == "postgres":
                self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(lock),))
            yield self
        except BaseException:
            if not _broken(self):
                self.raw.execute("ROLLBACK")
            raise
        finally:
            self._in_transaction = False
        self.raw.execute("COMMIT")

    def columns(self, table: str) -> set[str]:
        """The column names of a table (empty if there is no such table)."""
        if self.dialect == "sqlite":
            return {r["name"] for r in self.raw.execute(f"PRAGMA table_info({table})")}
        rows = self.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = ? AND table_schema = current_schema()", (table,))
        return {r[0] for r in rows}

    def ddl(self, statements: str) -> None:
        """Run DDL statements (separated by ";") written for SQLite, in this dialect."""
        for statement in statements.split(";"):
            if statement.strip():
                self.execute(_ddl(statement, self.dialect))


def _ddl(statement: str, dialect: Dialect) -> str:
    if dialect == "sqlite":
        return statement
    statement = re.sub(r"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY", statement)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)


def _lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a name (the same in every process)."""
    return zlib.crc32(f"mlpilot:{name}".encode()) | (0x6D6C << 32)


class SqlDatabase:
    """A SQLite file (a path) or a PostgreSQL database (a `postgresql://` URL), with one
    connection per thread and process: a server answers many small queries, and opening a
    connection costs more than most of them."""

    def __init__(self, location: str | Path, *, sqlite_pragmas: Sequence[str] = ()):
        self.location = location
        self.sqlite_pragmas = tuple(sqlite_pragmas)  # run on each new SQLite connection
        self.dialect: Dialect = "postgres" if is_postgres(location) else "sqlite"
        if self.dialect == "sqlite":
            self.location = Path(location)
            self.location.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """This thread's connection, in autocommit mode (each statement commits unless inside
        `transaction()`); a transaction an error left open is rolled back on leaving."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid() or _broken(local.conn):
            local.conn = Connection(self._open(), self.dialect, self._open)
            local.pid, local.depth = os.getpid(), 0
        local.depth += 1
        try:
            yield local.conn
        finally:
            local.depth -= 1
            if local.depth == 0 and local.conn.in_transaction and not _broken(local.conn):
                local.conn.raw.execute("ROLLBACK")

    def _open(self) -> Any:
        if self.dialect == "sqlite":
            raw = sqlite3.connect(self.location, timeout=30, isolation_level=None)
            raw.row_factory = sqlite3.Row
            for pragma in self.sqlite_pragmas:
                raw.execute(f"PRAGMA {pragma}")
            return raw
        import psycopg  # only installations on PostgreSQL need the driver loaded

        deadline = time.monotonic() + RECONNECT_S
        while True:
            try:
                return psycopg.connect(str(self.location), autocommit=True,
                                       row_factory=_row_factory, connect_timeout=10)
            except psycopg.OperationalError as err:
                if not _transient(str(err)) or time.monotonic() > deadline:
                    raise ConnectionError(
                        f"cannot connect to the database at {_safe(self.location)}: "
                        f"{str(err).strip().splitlines()[0]}; check MLPILOT_DATABASE_URL and "
                        "that the server runs") from None
                time.sleep(0.5)

    def migrate(self, component: str, steps: Sequence[Step],
                legacy_version: Callable[[Connection], int] | None = None) -> int:
        """Bring `component`'s tables to version len(steps), running each step not yet run,
        in order, in one transaction. `legacy_version` tells the version of tables made
        before versions were recorded (0: none). Returns the version it found."""
        with self.connect() as conn:
            if self.dialect == "sqlite" and conn.raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.raw.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            with conn.transaction("schema"):
                conn.execute("CREATE TABLE IF NOT EXISTS mlpilot_schema "
                             "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM mlpilot_schema WHERE component = ?",
                                   (component,)).fetchone()
                found = row[0] if row else (legacy_version(conn) if legacy_version else 0)
                if found > len(steps):
                    raise SchemaTooNew(
                        f"{_safe(self.location)} has {component} schema version {found}; this "
                        f"mlpilot reads up to {len(steps)}: upgrade mlpilot")
                for step in steps[found:]:
                    step(conn) if callable(step) else conn.ddl(step)
                if row is None or found < len(steps):
                    conn.execute("INSERT INTO mlpilot_schema (component, version) VALUES (?, ?) "
                                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                                 (component, len(steps)))
        return found


def _broken(conn: Connection) -> bool:
    """Whether a PostgreSQL connection was lost (a server restart): the next use reconnects."""
    return conn.dialect == "postgres" and (conn.raw.closed or conn.raw.broken)


def database_unavailable(err: BaseException) -> bool:
    """Whether an error (or one it was raised from, as Optuna, MLflow and SQLAlchemy wrap
    them) is a lost PostgreSQL connection: the server restarted or went away. A job that
    meets one can go back to the queue and resume from its last checkpoint."""
    import sys

    psycopg = sys.modules.get("psycopg")  # not loaded: nothing here talked to PostgreSQL
    if psycopg is None:
        return False
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, psycopg.OperationalError | psycopg.InterfaceError):
            message = str(current)
            return _transient(message) or "terminating connection" in message
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _transient(message: str) -> bool:
    """Whether a failed connection is worth trying again: the server refused it or is
    starting or stopping (a restart). A refusal by a running server (no such database, a
    bad password: a FATAL error) will not change by waiting."""
    return "FATAL" not in message or any(
        state in message for state in ("starting up", "shutting down", "recovery mode",
                                        "not yet accepting"))


def _safe(location: str | Path) -> str:
    """A location fit for an error message: a URL without its password."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", str(location))
