"""The process cap of a run: a pids cgroup of its own (cgroup v1 `pids` controller or a
cgroup v2 tree with `pids` delegated), made under the host process's own pids cgroup.

RLIMIT_NPROC alone is not enough where the host runs as root, and counts every process of
a user, not of a run; a pids cgroup counts exactly the run's tasks (processes and threads)
and records whether the cap was hit (`pids.events`). Where no pids cgroup can be made (no
controller, no permission), `make_pids_cgroup` returns None and says why in `reason`.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_PARENT = "mlpilot-sandbox"


@dataclass
class PidsCgroup:
    """One run's pids cgroup: a folder whose `cgroup.procs` the run's launcher joins."""

    path: Path
    version: int

    def hit_cap(self) -> int:
        """How many times a fork or thread was refused because the cap was reached."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, count = line.partition(" ")
                if key == "max":
                    return int(count)
        except (OSError, ValueError):
            pass
        return 0

    def peak(self) -> int | None:
        """The most tasks the run had at once (kernels from 6.1 keep it), else None."""
        try:
            return int((self.path / "pids.peak").read_text())
        except (OSError, ValueError):
            return None

    def kill_all(self) -> None:
        """SIGKILL every task still in the cgroup (a process that left the run's pid
        namespace cannot exist, but a task the namespace teardown has not reaped yet can)."""
        kill_file = self.path / "cgroup.kill"
        if kill_file.exists():
            try:
                kill_file.write_text("1")
                return
            except OSError:
                pass
        for _ in range(3):
            pids = _pids_in(self.path)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def drain(self, wait_s: float = 10.0) -> int:
        """SIGKILL the cgroup's tasks until none is left (a fork bomb forks between two
        passes; dying processes take a moment to release their memory); returns how many
        are left when `wait_s` runs out (0: all gone)."""
        deadline = time.monotonic() + wait_s
        while True:
            self.kill_all()
            left = len(_pids_in(self.path))
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.02)

    def remove(self) -> None:
        """Delete the cgroup (if tasks are still in it, the next run's sweep deletes it)."""
        try:
            self.path.rmdir()
        except OSError:
            pass


def _pids_in(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _own_pids_base() -> tuple[Path, int] | None:
    """The folder of this process's pids cgroup, and the cgroup version; None if neither a
    v1 pids hierarchy nor a v2 tree with pids delegated is mounted."""
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    v1_path = v2_path = None
    for line in memberships:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            v1_path = path
        elif controllers == "":
            v2_path = path
    for line in mounts:
        fields = line.split()
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        root, mount_point = fields[3], fields[4]
        if fstype == "cgroup" and "pids" in options and v1_path is not None:
            return Path(mount_point) / os.path.relpath(v1_path, root).lstrip("./"), 1
        if fstype == "cgroup2" and v2_path is not None and v1_path is None:
            base = Path(mount_point) / os.path.relpath(v2_path, root).lstrip("./")
            if "pids" in (base / "cgroup.subtree_control").read_text().split():
                return base, 2
    return None


def make_pids_cgroup(run_id: str, cap: int) -> tuple[PidsCgroup | None, str]:
    """A fresh pids cgroup capped at `cap` tasks for one run, and '' ; or None and the
    reason none could be made."""
    found = _own_pids_base()
    if found is None:
        return None, "no pids cgroup controller is mounted for this process"
    base, version = found
    parent = base / _PARENT
    try:
        parent.mkdir(exist_ok=True)
        if version == 2:
            controls = parent / "cgroup.subtree_control"
            if "pids" not in controls.read_text().split():
                controls.write_text("+pids")
        path = parent / run_id
        path.mkdir()
        (path / "pids.max").write_text(str(cap))
        if (path / "pids.max").read_text().strip() != str(cap):
            raise OSError("pids.max did not take the cap")
    except OSError as err:
        return None, f"cannot make a pids cgroup under {base}: {err.strerror or err}"
    return PidsCgroup(path=path, version=version), ""


def sweep_stale(max_age_s: float = 3600.0) -> None:
    """Remove empty run cgroups left by crashed hosts (best effort)."""
    found = _own_pids_base()
    if found is None:
        return
    parent = found[0] / _PARENT
    try:
        children = list(parent.iterdir())
    except OSError:
        return
    now = time.time()
    for child in children:
        try:
            if child.is_dir() and now - child.stat().st_mtime > max_age_s and not _pids_in(child):
                child.rmdir()
        except OSError:
            pass
