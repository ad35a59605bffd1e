"""A private PostgreSQL server for tests: Debian's `postgresql` package, `initdb` and
`pg_ctl` on a temporary folder and a free loopback port, stopped and removed at the end.

PostgreSQL refuses to run as root; as root (CI, this machine) the server runs as the
`postgres` user the package creates, through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

#: Settings for a throwaway server: TCP on 127.0.0.1 only, room for many test connections,
#: nothing flushed to disk (the folder is deleted anyway; a killed server still finds its
#: WAL in the operating system's cache).
_SERVER_OPTIONS = ("-c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c full_page_writes=off -c max_connections=300")
#: Faster still, for tests that never kill the server: a commit is answered before its WAL
#: leaves the server's memory, so a killed server loses commits it had acknowledged.
_FAST_COMMITS = " -c synchronous_commit=off"


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path and shutil.which("initdb") else None


class PostgresServer:
    """One running server; `database()` makes a fresh, empty database on it."""

    def __init__(self, bin_dir: Path, *, killable: bool = False):
        self.bin_dir = bin_dir
        #: A server that may be killed keeps every commit it acknowledged.
        self.options = _SERVER_OPTIONS + ("" if killable else _FAST_COMMITS)
        self.folder = Path(tempfile.mkdtemp(prefix="mlpilot-pg-"))
        self.data = self.folder / "data"
        self.port = 0
        self._as = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("PostgreSQL cannot run as root and there is no `postgres` "
                                   "user: install Debian's postgresql package") from None
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        out = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=60,
                             check=False)
        if out.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed: {out.stderr.strip()}\n{tail}")

    def start(self) -> PostgresServer:
        """initdb, then pg_ctl start on a free port (tried again if another process took it)."""
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "mlpilot",
                  "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
        for attempt in range(3):
            self.port = _free_port()
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60",
                          "-l", str(self.folder / "server.log"),
                          "-o", f"-p {self.port} {self.options}", "start")
                return self
            except RuntimeError:
                if attempt == 2:
                    raise
        return self

    def url(self, database: str = "postgres") -> str:
        """The connection URL of a database on this server."""
        return f"postgresql://mlpilot@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database (its URL): each test gets its own."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        try:
            if self.port:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
