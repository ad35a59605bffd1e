"""The command line that starts one sandboxed run, from the host's interpreter outwards.

As root (this machine, CI in a container):

    unshare --mount (a private mount namespace for this run only)
      sh: join the run's pids cgroup; mount the scratch tmpfs (size and inode count capped);
          bind the interpreter's folders that an unprivileged user cannot reach (a venv
          under /root) onto the run's view folder
      prlimit: CPU, address space, file size, open files, processes, no core dumps
      setpriv: become the run's own unprivileged uid, no groups, no capabilities
      bwrap: new user, pid, net, ipc, uts and cgroup namespaces; no further user
             namespaces; a read-only root holding /usr, the interpreter, the venv and the
             run's input folder; a size-capped scratch tmpfs; an empty environment
        python -I -B harness.py spec.json

The run's processes are an ordinary unprivileged uid on the host (not root mapped into a
user namespace, which would still own every root file it can see), so the kernel's
permission checks hold even for files the mounts would expose by mistake.
Not as root, the chain starts at prlimit and bwrap runs as the caller's uid.
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mlpilot.sandbox import seccomp
from mlpilot.sandbox.limits import Limits

# The run's uid when the host is root: a fresh one from a range no account uses, so that
# RLIMIT_NPROC counts this run's processes only and runs cannot touch each other's files.
UID_BASE, UID_SPAN = 3_000_000, 1 << 20
SCRATCH = "/scratch"
INPUT = "/sandbox/in"
# Threads count against the process cap: the numeric libraries get one thread each.
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin", "HOME": SCRATCH, "TMPDIR": SCRATCH, "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "NUMEXPR_MAX_THREADS": "1", "ARROW_IO_THREADS": "1", "OMP_THREAD_LIMIT": "1",
    "MALLOC_ARENA_MAX": "2",
}
_MERGED_USR = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
_MODULES = ("pandas", "pyarrow", "numpy")


class SandboxUnavailable(RuntimeError):
    """Generated code cannot be run here isolated, so it is not run at all."""


def require_tools() -> None:
    """Raise SandboxUnavailable, with how to fix it, when a tool the chain needs is missing."""
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable("bubblewrap is not installed, so generated code is not run: "
                                 "install it with `apt-get install bubblewrap`")
    needed = ["prlimit"] + (["unshare", "setpriv", "mount"] if os.geteuid() == 0 else [])
    if not seccomp.supported():
        raise SandboxUnavailable(f"no seccomp filter for {platform.machine()} here, so generated "
                                 "code is not run: run it on x86_64 or aarch64")
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(f"{', '.join(missing)} not found, so generated code is not "
                                 "run: install them with `apt-get install util-linux mount`")


@dataclass
class Launch:
    """A prepared run: its argv, its uid and the folders it sees."""

    argv: list[str]
    uid: int
    mounts: list[tuple[str, str]] = field(default_factory=list)


def run_uid() -> int:
    """The uid a run's processes get: a fresh unprivileged one as root, else the caller's."""
    if os.geteuid() == 0:
        return UID_BASE + random.randrange(UID_SPAN)
    return os.geteuid()


def tasks_of_uid(uid: int) -> int:
    """How many tasks (threads of all processes) the uid has now, as RLIMIT_NPROC counts."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines()
                          if ":" in line)
            if int(fields["Uid"].split()[1]) == uid:
                total += int(fields["Threads"])
        except (OSError, KeyError, ValueError):
            continue
    return total


def interpreter_folders() -> list[str]:
    """The host folders the sandbox needs read-only to run this interpreter with pandas and
    pyarrow: /usr, the venv, the base installation, and any sys.path entry holding one of
    the modules (fewest folders, none inside another)."""
    wanted = {"/usr", sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    wanted.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    for module in _MODULES:
        spec = __import__("importlib.util").util.find_spec(module)
        origin = spec and spec.origin
        if origin:
            # the innermost entry only: '' (the working directory) or a checkout above
            # the venv also holds the module's path, and binding it would show the repo
            holding = [os.path.realpath(entry) for entry in sys.path if entry
                       and origin.startswith(os.path.join(os.path.realpath(entry), ""))]
            if holding:
                wanted.add(max(holding, key=len))
    folders = sorted({os.path.realpath(p) for p in wanted if p and os.path.isdir(p)})
    return [f for f in folders if not any(f != o and f.startswith(o + "/") for o in folders)]


def _world_reachable(path: str) -> bool:
    """Whether any user can reach and list `path` (every folder above it searchable)."""
    current = Path(path)
    if os.stat(current).st_mode & 0o005 != 0o005:
        return False
    return all(os.stat(p).st_mode & 0o001 for p in current.parents)


def build(run_dir: Path, input_dir: Path, limits: Limits, uid: int, cgroup: Path | None,
          seccomp_fd: int, info_fd: int, python_args: list[str]) -> Launch:
    """The argv that runs `python_args` under the venv's interpreter inside the sandbox.

    `input_dir` is mounted read-only at /sandbox/in; `run_dir/view` holds the mount points
    of folders the run's uid could not reach on the host; `seccomp_fd` is open on the
    compiled filter (`seccomp.program()`), which bwrap loads; bwrap writes the host pid of
    its namespace's init to `info_fd`."""
    as_root = os.geteuid() == 0
    mounts, outer_binds = [], []
    view = run_dir / "view"
    view.mkdir(mode=0o711)
    for number, folder in enumerate(interpreter_folders()):
        source = folder
        if as_root and not _world_reachable(folder):
            source = str(view / str(number))
            Path(source).mkdir()
            outer_binds += [folder, source]
        mounts.append((source, folder))
    bwrap = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
             "--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"]
    for name, value in ENVIRONMENT.items():
        bwrap += ["--setenv", name, value]
    for source, target in mounts:
        bwrap += ["--ro-bind", source, target]
    for name in _MERGED_USR:
        host = Path("/") / name
        if host.is_symlink():
            bwrap += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir() and not any(str(host).startswith(t) for _, t in mounts):
            bwrap += ["--ro-bind", str(host), str(host)]
    for etc in _ETC_FILES:
        bwrap += ["--ro-bind-try", etc, etc]
    bwrap += ["--proc", "/proc", "--dev", "/dev"]
    if as_root:  # a tmpfs of the outer namespace, so its inode count is capped too
        scratch = view / "scratch"
        scratch.mkdir(parents=True)
        bwrap += ["--bind", str(scratch), SCRATCH]
    else:
        bwrap += ["--size", str(limits.scratch_mb << 20), "--perms", "0700", "--tmpfs", SCRATCH]
    bwrap += ["--ro-bind", str(input_dir), INPUT, "--remount-ro", "/dev", "--remount-ro", "/",
              "--chdir", SCRATCH, "--seccomp", str(seccomp_fd),
              "--info-fd", str(info_fd),
              sys.executable, "-I", "-B", *python_args]
    mb = 1 << 20
    prlimit = ["prlimit", f"--cpu={limits.cpu_s}:{limits.cpu_s + 1}",
               f"--as={limits.memory_mb * mb}", f"--fsize={limits.file_size_mb * mb}",
               f"--nofile={limits.open_files}", "--core=0"]
    drop: list[str] = []
    if as_root:  # a fresh uid: RLIMIT_NPROC counts exactly this run's tasks; with a pids
        # cgroup it is the backstop, a little above the cap, so the cgroup (which counts
        # its refusals) is what stops the run
        prlimit.append(f"--nproc={limits.processes + (2 if cgroup else 0)}")
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
    elif cgroup is None:  # the caller's uid: its other tasks count too, so they are added
        prlimit.append(f"--nproc={tasks_of_uid(uid) + limits.processes}")
    # $1: the cgroup folder or ''; $2, $3: scratch folder and tmpfs options, or '' '';
    # then pairs of folders to bind, '--', and the command
    script = ('cg=$1; shift; if [ -n "$cg" ]; then echo 0 > "$cg/cgroup.procs" || exit 125; fi; '
              'if [ -n "$1" ]; then mount -t tmpfs -o "$2" scratch "$1" || exit 125; fi; shift 2; '
              'while [ "$1" != "--" ]; do mount --bind "$1" "$2" || exit 125; shift 2; done; '
              'shift; exec "$@"')
    scratch_mount = ["", ""]
    if as_root:
        scratch_mount = [str(view / "scratch"),
                         (f"size={limits.scratch_mb}m,nr_inodes={limits.scratch_files},"
                          f"mode=0700,uid={uid},gid={uid},nosuid,nodev")]
    chain = ["sh", "-c", script, "sh", str(cgroup or ""), *scratch_mount, *outer_binds, "--",
             *prlimit, "--", *drop, *bwrap]
    if as_root:
        chain = ["unshare", "--mount", "--propagation", "private", "--", *chain]
    return Launch(argv=chain, uid=uid, mounts=mounts)
