"""One SQL dialect over SQLite and PostgreSQL: rows, write transactions, migrations."""

from __future__ import annotations

import threading

import psycopg
import pytest

from mlpilot.agent.settings import Settings
from mlpilot.engine.sql import (
    SchemaTooNew,
    SqlDatabase,
    database_unavailable,
    is_postgres,
    sqlalchemy_url,
)

#: A component's schema over three releases: a table, a column, a table made from the first.
STEPS = [
    "CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, body TEXT)",
    "ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'nobody'",
    lambda conn: conn.execute("CREATE TABLE authors AS SELECT DISTINCT author FROM notes"),
]


def test_rows_read_by_name_position_and_as_a_mapping(state_location):
    db = SqlDatabase(state_location)
    db.migrate("notes", STEPS[:1])
    with db.connect() as conn:
        new_id = conn.execute("INSERT INTO notes (at, body) VALUES (?, ?) RETURNING id",
                              (1796300000.123456, "50% off")).fetchone()[0]
        row = conn.execute("SELECT * FROM notes WHERE id = ?", (new_id,)).fetchone()
    assert (row["body"], row[1], dict(row)) == (
        "50% off", 1796300000.123456, {"id": new_id, "at": 1796300000.123456, "body": "50% off"})


def test_each_step_runs_once_in_order_and_the_data_stays(state_location):
    db = SqlDatabase(state_location)
    assert db.migrate("notes", STEPS[:1]) == 0
    with db.connect() as conn:
        conn.execute("INSERT INTO notes (at, body) VALUES (?, ?)", (1.0, "first"))
    assert SqlDatabase(state_location).migrate("notes", STEPS[:2]) == 1
    assert SqlDatabase(state_location).migrate("notes", STEPS) == 2
    assert SqlDatabase(state_location).migrate("notes", STEPS) == 3  # nothing left to run
    with db.connect() as conn:
        assert [tuple(r) for r in conn.execute("SELECT body, author FROM notes")] == [
            ("first", "nobody")]
        assert conn.execute("SELECT author FROM authors").fetchone()[0] == "nobody"
    with pytest.raises(SchemaTooNew, match="notes schema version 3; this mlpilot reads up to "
                                           "2: upgrade mlpilot"):
        SqlDatabase(state_location).migrate("notes", STEPS[:2])


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(state_location):
    errors: list[Exception] = []

    def open_it() -> None:
        try:
            SqlDatabase(state_location).migrate("notes", STEPS)
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with SqlDatabase(state_location).connect() as conn:
        assert conn.columns("notes") == {"id", "at", "body", "author"}


def test_a_failed_transaction_leaves_nothing_behind(state_location):
    db = SqlDatabase(state_location)
    db.migrate("notes", STEPS[:1])
    with pytest.raises(ZeroDivisionError), db.connect() as conn, conn.transaction():
        conn.execute("INSERT INTO notes (at, body) VALUES (?, ?)", (1.0, "half"))
        _ = 1 / 0
    with db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0
        assert not conn.in_transaction


def test_a_lost_connection_is_opened_again(postgres_url):
    db = SqlDatabase(postgres_url)
    db.migrate("notes", STEPS[:1])

    def drop_it() -> None:  # as a server restart would
        with db.connect() as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    drop_it()
    with db.connect() as conn:  # a statement on its own is sent again
        conn.execute("INSERT INTO notes (at, body) VALUES (?, ?)", (1.0, "after"))
    with pytest.raises(psycopg.OperationalError), db.connect() as conn, conn.transaction():
        conn.execute("INSERT INTO notes (at, body) VALUES (?, ?)", (2.0, "lost"))
        drop_it()
        conn.execute("INSERT INTO notes (at, body) VALUES (?, ?)", (3.0, "lost too"))
    with db.connect() as conn:  # a transaction is not: its caller decides to run it again
        assert [r[0] for r in conn.execute("SELECT body FROM notes")] == ["after"]


def test_an_unreachable_database_is_one_clear_line(postgres_server):
    url = f"postgresql://mlpilot:secret@127.0.0.1:{postgres_server.port}/no_such_db"
    with pytest.raises(ConnectionError) as err:
        SqlDatabase(url).migrate("notes", STEPS)
    message = str(err.value)
    assert "MLPILOT_DATABASE_URL" in message and "no_such_db" in message
    assert "secret" not in message and "\n" not in message


def test_one_setting_points_every_store_at_the_database(postgres_url, monkeypatch):
    monkeypatch.setenv("MLPILOT_DATABASE_URL", postgres_url)
    settings = Settings()
    assert settings.state_db == settings.experience_db == postgres_url
    assert settings.optuna_storage.startswith("postgresql+psycopg://")
    assert "search_path%3Doptuna" in settings.optuna_storage
    assert "search_path%3Dmlflow" in settings.tracking_uri
    with psycopg.connect(postgres_url) as conn:  # the schemas exist before Optuna and MLflow
        assert {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")
                } >= {"optuna", "mlflow"}
    assert is_postgres(postgres_url) and not is_postgres(settings.data_dir / "state.sqlite")


def test_a_database_url_that_is_not_postgres_is_refused(monkeypatch):
    monkeypatch.setenv("MLPILOT_DATABASE_URL", "mysql://db/mlpilot")
    with pytest.raises(ValueError, match="must be a postgresql:// URL, not 'mysql'"):
        Settings()
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        sqlalchemy_url("sqlite:///x.db", "optuna")


def test_a_lost_connection_is_told_from_other_database_errors(postgres_url):
    db = SqlDatabase(postgres_url)
    with db.connect() as conn:  # loads the driver, as any use of PostgreSQL does
        conn.execute("SELECT 1")
    lost = psycopg.OperationalError("the connection is closed")
    try:
        try:
            raise lost
        except psycopg.OperationalError as err:
            raise RuntimeError("could not save the trial") from err  # as Optuna wraps it
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)
    assert database_unavailable(psycopg.OperationalError(
        "FATAL:  terminating connection due to administrator command"))
    assert not database_unavailable(psycopg.OperationalError(
        'FATAL:  database "gone" does not exist'))
    assert not database_unavailable(ValueError("the connection is closed"))
