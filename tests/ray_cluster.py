"""A private two-node Ray cluster on this machine, for tests and benchmarks: `ray start
--head` on a free loopback port, then a second `ray start --address` (a second node, with
its own raylet), usage stats off, no dashboard, and no log monitors (the drivers here do not
take the workers' logs).

The driver reaches the head on 127.0.0.1; Ray's nodes name each other by this machine's
own address (Ray replaces 127.0.0.1 by it, and refuses a second node in its loopback-only
mode), which the kernel routes locally: nothing leaves the machine. `stop` ends only this cluster's processes:
those whose command line names its private temporary folder, and their children (Ray
renames some of them, e.g. `ray::DashboardAgent`); `ray stop` would end every Ray
process of the user on the machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: For the cluster's processes and for a driver that joins it.
ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


def ray_bin() -> Path | None:
    """The `ray` program next to this interpreter (or on PATH), None when Ray is absent."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    import sys

    beside = Path(sys.executable).parent / "ray"
    return beside if beside.exists() else (Path(found) if (found := shutil.which("ray")) else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    """`nodes` nodes of `cpus` CPUs each, on one machine; `address` is the head's."""

    def __init__(self, nodes: int = 2, cpus: int = 1):
        self.nodes, self.cpus = nodes, cpus
        self.bin = ray_bin()
        if self.bin is None:
            raise RuntimeError("Ray is not installed: pip install 'mlpilot[ray]'")
        # short: Ray's socket paths live under it and a socket path has 107 characters
        self.folder = Path(tempfile.mkdtemp(prefix="mlr", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, **ENV}

    def start(self) -> RayCluster:
        """Start the head, then the other nodes; returns self."""
        # fewer Python daemons to start (each imports Ray: seconds of a loaded core)
        common = ["--num-cpus", str(self.cpus), "--disable-usage-stats",
                  "--include-log-monitor=false"]
        try:
            self._ray("start", "--head", "--port", str(self.port), "--include-dashboard=false",
                      "--ray-client-server-port", str(free_port()),
                      "--temp-dir", str(self.folder), *common)
            for _ in range(self.nodes - 1):
                self._ray("start", "--address", self.address, *common)
        except BaseException:  # an interrupted start too: leave nothing running
            self.stop()
            raise
        return self

    def _ray(self, *args: str) -> None:
        done = subprocess.run([str(self.bin), *args], env=self.env, capture_output=True,
                              text=True, timeout=180, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ray {args[0]} failed: {done.stderr[-2000:]}")

    def processes(self) -> list[int]:
        """This cluster's processes: those naming its folder, and all their descendants."""
        parents: dict[int, int] = {}
        roots = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1]
                                               .split()[1])
            except (OSError, ValueError, IndexError):
                continue
            # the client server names only the head's address
            if str(self.folder).encode() in cmdline or re.search(
                    rb"address=\S+:%d\b" % self.port, cmdline):
                roots.add(int(entry.name))
        found, grew = set(roots), True
        while grew:
            children = {p for p, parent in parents.items() if parent in found} - found
            found |= children
            grew = bool(children)
        return sorted(found - {os.getpid()})

    def stop(self, grace_s: float = 2.0) -> None:
        """End this cluster's processes (TERM, then KILL those still running after
        `grace_s`: the GCS server and the runtime-env agents ignore TERM, the raylets take
        ten seconds) and remove its folder."""
        known: set[int] = set()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            # a dead parent's children are found no more: keep those found the first time
            known |= set(self.processes())
            pids = sorted(known)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + (grace_s if sig == signal.SIGTERM else 10)
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = [p for p in pids if _state(p) not in ("Z", "X")]
            if not pids:
                break
        shutil.rmtree(self.folder, ignore_errors=True)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"
