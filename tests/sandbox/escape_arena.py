"""The arena the escape corpus (`escapes.yaml`) runs in: host canaries to steal, servers to
reach, a process to kill, places not to write, and the judge of each attempt.

    with Arena(tmp_path, limits) as arena:
        verdicts = arena.run_probes(attempts)     # many probes in one run
        verdicts += [arena.run_solo(a) for a in solos]

Used by tests/sandbox/test_escapes.py (a subset) and benchmarks/sandbox.py (all of it).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from string import Template

import pandas as pd
import yaml

from mlpilot.sandbox import Limits, SandboxResult, run_function
from mlpilot.sandbox.launch import UID_BASE, UID_SPAN

CORPUS = Path(__file__).with_name("escapes.yaml")
PRELUDE = """\
import ctypes, fcntl, glob, json, os, platform, signal, socket, stat, subprocess, sys
import threading, time, urllib.request
import pandas as pd
_SECRET = "$secret_reversed"[::-1]


def secret_in(value):
    return _SECRET in repr(value) and "secret found"
"""
_PROBES = """
PROBES = [$names]


def transform(df):
    rows = []
    for name, probe in PROBES:
        try:
            value = probe()
            rows.append((name, bool(value), repr(value)[:300] if value else "returned nothing"))
        except BaseException as err:
            rows.append((name, False, f"{type(err).__name__}: {err}"[:300]))
    return pd.DataFrame(rows, columns=["id", "escaped", "detail"])
"""


def load_corpus() -> list[dict]:
    """The attempts of the corpus, in file order."""
    return yaml.safe_load(CORPUS.read_text())


@dataclass
class Verdict:
    """How one attempt ended: contained or not, what stopped it, and the evidence."""

    id: str
    kind: str
    contained: bool
    stopped_by: str
    detail: str = ""
    expected: str | list[str] | None = None

    @property
    def as_expected(self) -> bool:
        """Whether a limit the corpus names is the one that stopped it (or none named)."""
        if self.expected is None:
            return True
        names = [self.expected] if isinstance(self.expected, str) else self.expected
        return self.stopped_by in names


class Arena(contextlib.AbstractContextManager):
    """Host canaries and servers for one corpus run; `run_probes` and `run_solo` judge."""

    def __init__(self, workdir: Path, limits: Limits):
        self.limits = limits
        self.secret = "canary-" + secrets.token_hex(16)
        self.mark = "mlpilot-escape-" + secrets.token_hex(4)
        self.canary_dir = Path(tempfile.mkdtemp(prefix="mlpilot-canary-"))
        (self.canary_dir / "secret.txt").write_text(self.secret)
        self.data_dir = workdir / "state"
        self.data_dir.mkdir(parents=True)
        self.state_db = self.data_dir / "state.sqlite"
        with sqlite3.connect(self.state_db) as db:
            db.execute("CREATE TABLE keys (value TEXT)")
            db.execute("INSERT INTO keys VALUES (?)", (self.secret,))
        self.audit_log = self.data_dir / "sandbox-audit.jsonl"
        runs_root = Path(tempfile.gettempdir()) / f"mlpilot-sandbox-{os.geteuid()}"
        self.other_run = runs_root / f"other-{secrets.token_hex(4)}"
        (self.other_run / "in").mkdir(parents=True, mode=0o700)
        (self.other_run / "in" / "secret.txt").write_text(self.secret)
        self.site_packages = next(p for p in sys.path if p.endswith("site-packages"))
        self._servers: dict[str, socket.socket] = {}
        self._open_servers()
        # one process (no child to outlive it), the secret in its argv and its environment
        self.canary = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)",
                                        self.secret], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL,
                                       env={**os.environ, "MLPILOT_CANARY": self.secret})
        self._saved_env = {k: os.environ.get(k) for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                                           "MLPILOT_CANARY")}
        os.environ.update(dict.fromkeys(self._saved_env, self.secret))
        self._before = self._host_state()

    def _open_servers(self) -> None:
        def listen(family: int, kind: int, address: object) -> socket.socket:
            server = socket.socket(family, kind)
            server.bind(address)
            if kind == socket.SOCK_STREAM:
                server.listen(8)
            server.setblocking(False)
            return server

        self._servers["tcp"] = listen(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0))
        self._servers["tcp_any"] = listen(socket.AF_INET, socket.SOCK_STREAM, ("0.0.0.0", 0))
        self._servers["udp"] = listen(socket.AF_INET, socket.SOCK_DGRAM, ("0.0.0.0", 0))
        with contextlib.suppress(OSError):
            self._servers["tcp6"] = listen(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 0))
        self.unix_path = str(self.canary_dir / "host.sock")
        self._servers["unix"] = listen(socket.AF_UNIX, socket.SOCK_STREAM, self.unix_path)
        self.abstract_name = f"mlpilot-canary-{secrets.token_hex(4)}"
        self._servers["abstract"] = listen(socket.AF_UNIX, socket.SOCK_STREAM,
                                           "\0" + self.abstract_name)

    def _host_ip(self) -> str:
        """This host's address on its default route (loopback when it has none)."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: it only picks a route
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
        finally:
            probe.close()

    def values(self) -> dict[str, str]:
        """What the corpus's placeholders stand for."""
        port = {k: str(s.getsockname()[1]) for k, s in self._servers.items()
                if s.family != socket.AF_UNIX}
        return {"secret_reversed": self.secret[::-1], "secret": "(the secret is not written)",
                "secret_file": str(self.canary_dir / "secret.txt"),
                "canary_dir": str(self.canary_dir), "mark": self.mark,
                "other_run_file": str(self.other_run / "in" / "secret.txt"),
                "runs_root": str(self.other_run.parent), "state_db": str(self.state_db),
                "audit_log": str(self.audit_log), "data_dir": str(self.data_dir),
                "repo_dir": str(Path(__file__).resolve().parents[2]),
                "site_packages": self.site_packages, "host_pid": str(self.canary.pid),
                "tcp_port": port["tcp"], "tcp6_port": port.get("tcp6", port["tcp"]),
                "tcp_any_port": port["tcp_any"], "udp_port": port["udp"],
                "host_ip": self._host_ip(), "unix_path": self.unix_path,
                "abstract_name": self.abstract_name}

    def _fill(self, code: str) -> str:
        return Template(code).substitute(self.values())

    # --- what the host checks after every run ----------------------------------------------
    def _host_state(self) -> dict[str, object]:
        def digest(path: Path | str) -> str | None:
            try:
                return hashlib.sha256(Path(path).read_bytes()).hexdigest()
            except OSError:
                return None

        return {"state_db": digest(self.state_db),
                "canary_dir": sorted(os.listdir(self.canary_dir)),
                "sitecustomize": digest(Path(self.site_packages) / "sitecustomize.py"),
                "other_run": sorted(os.listdir(self.other_run / "in")),
                **{f: digest(f) for f in ("/proc/sys/kernel/core_pattern",
                                          "/proc/sys/kernel/hostname",
                                          "/proc/sys/kernel/modprobe")}}

    def host_harm(self) -> list[str]:
        """Everything a run changed or reached on the host that it must not have."""
        harm = []
        for name, server in self._servers.items():
            try:
                if server.type == socket.SOCK_STREAM:
                    server.accept()[0].close()
                else:
                    server.recvfrom(64)
                harm.append(f"the host's {name} server was reached")
            except (BlockingIOError, OSError):
                pass
        if self.canary.poll() is not None:
            harm.append("the host's canary process was killed")
        after = self._host_state()
        harm += [f"{key} changed" for key, value in after.items() if value != self._before[key]]
        for folder in ("/tmp", "/usr", "/usr/bin", "/usr/lib", "/", "/etc", "/dev/shm",
                       self.site_packages, str(self.canary_dir)):
            harm += [f"{path} was written" for path in glob.glob(f"{folder}/{self.mark}*")]
        if self.audit_log.exists():
            for line in self.audit_log.read_text().splitlines():
                if '"run_id"' not in line:
                    harm.append("a line was forged into the audit log")
        harm += [f"process {pid} of a run outlived it" for pid in _run_processes()]
        return harm

    def _leaks(self, result: SandboxResult) -> bool:
        text = result.stdout + result.stderr + result.message
        if result.frame is not None:
            text += result.frame.to_csv()
        return self.secret in text

    # --- running attempts ------------------------------------------------------------------
    def run_probes(self, attempts: list[dict]) -> list[Verdict]:
        """Run many probe attempts in one sandbox run; each is judged by what it returned,
        and all of them by the host's checks."""
        functions = [f"def _probe_{i}():\n{textwrap.indent(self._fill(a['code']), '    ')}\n"
                     for i, a in enumerate(attempts)]
        names = ", ".join(f"({a['id']!r}, _probe_{i})" for i, a in enumerate(attempts))
        source = PRELUDE.replace("$secret_reversed", self.secret[::-1]) + "\n\n" + \
            "\n\n".join(functions) + Template(_PROBES).substitute(names=names)
        result = self._run(source)
        harm = self.host_harm() + (["the secret appeared in the run's output"]
                                   if self._leaks(result) else [])
        rows = {}
        if result.frame is not None:
            rows = {r.id: r for r in result.frame.itertuples()}
        verdicts = []
        for attempt in attempts:
            row = rows.get(attempt["id"])
            if row is None:
                verdicts.append(Verdict(attempt["id"], attempt["kind"], not harm,
                                        result.stopped_by or result.error or result.outcome,
                                        "; ".join(harm) or result.message))
                continue
            contained = not row.escaped and not harm
            verdicts.append(Verdict(attempt["id"], attempt["kind"], contained,
                                    _mechanism(row.detail) if not row.escaped else "nothing",
                                    "; ".join(harm) or row.detail))
        return verdicts

    def run_solo(self, attempt: dict) -> Verdict:
        """Run one attempt as the transform itself; judged by the host: the run ended within
        its limits and harmed nothing."""
        body = textwrap.indent(self._fill(attempt["code"]), "    ")
        source = PRELUDE.replace("$secret_reversed", self.secret[::-1]) + \
            f"\n\ndef transform(df):\n{body}\n"
        result = self._run(source)
        harm = self.host_harm()
        if self._leaks(result):
            harm.append("the secret appeared in the run's output")
        if result.duration_s > self.limits.wall_s + 15:
            harm.append(f"it ran {result.duration_s:.0f} s, past the wall clock")
        if result.pids_peak is not None and result.pids_peak > self.limits.processes:
            harm.append(f"it had {result.pids_peak} tasks, past the cap")
        if len(result.stdout) + len(result.stderr) > self.limits.log_kb << 10:
            harm.append("the host kept more output than the cap")
        stopped = result.stopped_by or result.error or result.outcome
        detail = "; ".join(harm) or f"{result.outcome} in {result.duration_s:.1f} s" + (
            f", {result.pids_peak} tasks at most" if result.pids_peak else "")
        return Verdict(attempt["id"], attempt["kind"], not harm, stopped, detail,
                       attempt.get("stops"))

    def _run(self, source: str) -> SandboxResult:
        return run_function(source, {"df": pd.DataFrame({"a": [1.0, 2.0]})},
                            limits=self.limits, audit_path=self.audit_log, purpose="escape corpus")

    def __exit__(self, *exc: object) -> None:
        self.canary.kill()
        self.canary.wait()
        for server in self._servers.values():
            server.close()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(self.canary_dir, ignore_errors=True)
        shutil.rmtree(self.other_run, ignore_errors=True)


def _mechanism(detail: str) -> str:
    """The error that stopped a probe, shortened: its type and errno name
    ('OSError EROFS', 'FileNotFoundError ENOENT'), or what the probe returned."""
    kind, _, rest = detail.partition(":")
    if not rest:
        return detail or "nothing"
    number = re.search(r"\[Errno (\d+)\]", rest)
    return f"{kind} {errno.errorcode.get(int(number[1]), number[1])}" if number else kind


def _run_processes() -> list[int]:
    """Live processes on the host whose uid is one the sandbox gives its runs. Zombies do
    not count: bwrap's pid-namespace init can exit after bwrap itself, and is then reaped
    by the host's init whenever that gets to it (it runs nothing and holds nothing)."""
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in Path(status).read_text().splitlines()
                          if ":" in line)
        except OSError:
            continue
        uid = int(fields.get("Uid", "-1 ").split()[0])
        if UID_BASE <= uid < UID_BASE + UID_SPAN and not fields["State"].strip().startswith("Z"):
            found.append(int(status.split("/")[2]))
    return found
