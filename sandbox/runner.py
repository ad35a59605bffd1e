"""Run a generated function's source over tables in the sandbox, and audit the run.

    result = run_function("def transform(df):\n    return df.assign(r=df.a / df.b)\n",
                          {"df": frame})
    result.ok, result.frame, result.outcome, result.stopped_by

Tables go in and out as Parquet; the code runs in `harness.py` inside the chain that
`launch.py` builds, never in this process and never unisolated: without bubblewrap the run
is refused (`SandboxUnavailable`) and the refusal is audited like any run.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mlpilot.sandbox import audit, seccomp
from mlpilot.sandbox.cgroup import PidsCgroup, make_pids_cgroup, sweep_stale
from mlpilot.sandbox.launch import INPUT, SandboxUnavailable, build, require_tools, run_uid
from mlpilot.sandbox.limits import Limits

_HARNESS = Path(__file__).with_name("harness.py")
# errors the code reports that mean a limit stopped it, by errno
_ERRNO_LIMITS = {errno.ENOMEM: "memory", errno.EFBIG: "file_size", errno.EMFILE: "open_files", errno.ENFILE: "open_files",
                 errno.ENOSPC: "scratch", errno.EDQUOT: "scratch"}


@dataclass
class SandboxResult:
    """What one sandboxed run produced and how it ended.

    `outcome` is 'ok', 'error' (the code raised), 'limit' (a limit stopped it: see
    `stopped_by`) or 'crashed' (it died some other way). `frame` is the returned table
    when the outcome is 'ok'."""

    run_id: str
    outcome: str
    stopped_by: str | None = None
    error: str | None = None
    message: str = ""
    exit_code: int | None = None
    signal: str | None = None
    duration_s: float = 0.0
    cpu_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    frame: pd.DataFrame | None = None
    code_sha256: str = ""
    process_cap: str = ""
    pids_peak: int | None = None
    cap_refusals: int = 0
    facts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the code ran to the end and returned a table."""
        return self.outcome == "ok"


def run_function(source: str, inputs: dict[str, pd.DataFrame | Path], *,
                 function: str = "transform", limits: Limits | None = None,
                 audit_path: Path | None = None, purpose: str = "") -> SandboxResult:
    """Run `function` from `source` on the `inputs` tables (passed by keyword, a DataFrame
    or a Parquet file each) in a fresh sandbox; the run is audited in `audit_path` (default:
    `audit.default_audit_path()`). Raises SandboxUnavailable when it cannot be isolated."""
    limits = limits or Limits()
    audit_path = audit_path or audit.default_audit_path()
    run_id = uuid.uuid4().hex[:12]
    code_hash = hashlib.sha256(source.encode()).hexdigest()
    record = {"run_id": run_id, "at": time.time(), "purpose": purpose, "function": function,
              "code_sha256": code_hash, "limits": limits.model_dump(), "inputs": {}}
    try:
        require_tools()
    except SandboxUnavailable as err:
        audit.append(audit_path, {**record, "outcome": "refused", "message": str(err)})
        raise
    for name in inputs:
        if not name.isidentifier():
            raise ValueError(f"input name {name!r} is not a Python identifier: use a keyword name")
    run_dir = _run_folder(run_id)
    cgroup = None
    try:
        uid = run_uid()
        record["uid"] = uid
        input_dir = run_dir / "in"
        input_dir.mkdir(mode=0o700)
        record["inputs"] = _write_inputs(input_dir, source, inputs)
        # only root can move the run into a cgroup of its own (and give it a fresh uid)
        cgroup, why_not = (make_pids_cgroup(run_id, limits.processes) if os.geteuid() == 0
                           else (None, "not root"))
        filter_path = run_dir / "seccomp.bpf"
        filter_path.write_bytes(seccomp.program())
        filter_fd = os.open(filter_path, os.O_RDONLY)
        result_r, result_w = os.pipe()
        status_r, status_w = os.pipe()
        info_r, info_w = os.pipe()
        spec = {"function": function, "inputs": list(inputs), "input_dir": INPUT,
                "code": f"{INPUT}/code.py", "result_fd": result_w, "status_fd": status_w}
        (input_dir / "spec.json").write_text(json.dumps(spec))
        if os.geteuid() == 0:
            for path in [input_dir, *input_dir.iterdir()]:
                os.chown(path, uid, uid)
        launch = build(run_dir, input_dir, limits, uid, cgroup.path if cgroup else None,
                       filter_fd, info_w, [f"{INPUT}/harness.py", f"{INPUT}/spec.json"])
        try:
            result = _execute(launch.argv, (result_r, result_w, status_r, status_w, filter_fd,
                                            info_r, info_w), limits, cgroup, run_id)
        except SandboxUnavailable as err:
            audit.append(audit_path, {**record, "outcome": "refused", "message": str(err)})
            raise
        finally:
            os.close(filter_fd)
        result.code_sha256 = code_hash
        result.process_cap = (
            f"pids cgroup v{cgroup.version} + RLIMIT_NPROC of uid {uid}" if cgroup else
            f"RLIMIT_NPROC of the run's own uid {uid} (no pids cgroup: {why_not})"
            if os.geteuid() == 0 else
            f"RLIMIT_NPROC of uid {uid}, above the tasks it already has (no pids cgroup: "
            f"{why_not})")
    finally:
        left = 0
        if cgroup is not None:
            left = cgroup.drain()
            cgroup.remove()
        shutil.rmtree(run_dir, ignore_errors=True)
    if left:  # not hidden: the audit and the caller see tasks that would not die
        result.facts["tasks_left"] = left
    audit.append(audit_path, {**record, **_audit_fields(result)})
    return result


def _run_folder(run_id: str) -> Path:
    """A fresh folder for the run under the host's sandbox root (searchable by the run's
    uid, listable by nobody else)."""
    root = Path(tempfile.gettempdir()) / f"mlpilot-sandbox-{os.geteuid()}"
    root.mkdir(mode=0o711, exist_ok=True)
    os.chmod(root, 0o711)
    sweep_stale()
    run_dir = root / run_id
    run_dir.mkdir(mode=0o711)
    return run_dir


def _write_inputs(input_dir: Path, source: str, inputs: dict[str, pd.DataFrame | Path]) -> dict:
    """Write the code, the harness and each input as Parquet; returns their shapes."""
    (input_dir / "code.py").write_text(source)
    shutil.copyfile(_HARNESS, input_dir / "harness.py")
    shapes = {}
    for name, table in inputs.items():
        target = input_dir / f"{name}.parquet"
        if isinstance(table, pd.DataFrame):
            frame = table.copy(deep=False)
            frame.columns = [str(c) for c in frame.columns]
            frame.to_parquet(target, index=False)
            shapes[name] = list(table.shape)
        else:
            shutil.copyfile(table, target)
            shapes[name] = str(table)
    return shapes


def _execute(argv: list[str], fds: tuple[int, ...], limits: Limits,
             cgroup: PidsCgroup | None, run_id: str) -> SandboxResult:
    """Start the chain, read its pipes under their caps until it ends or the wall clock
    runs out, and say how it ended."""
    result_r, result_w, status_r, status_w, filter_fd, info_r, info_w = fds
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, pass_fds=(result_w, status_w, filter_fd, info_w),
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                            start_new_session=True)
    for fd in (result_w, status_w, info_w):
        os.close(fd)
    caps = {proc.stdout.fileno(): ("log_size", limits.log_kb << 10), info_r: ("log_size", 1 << 12),
            proc.stderr.fileno(): ("log_size", limits.log_kb << 10),
            result_r: ("output_size", limits.output_mb << 20), status_r: ("log_size", 1 << 16)}
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {fd: [] for fd in caps}
    sizes = dict.fromkeys(caps, 0)
    log_total = 0
    killed_for = None
    deadline = started + limits.wall_s
    with selectors.DefaultSelector() as selector:
        for fd in caps:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map() and killed_for is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed_for = "wall_clock"
                break
            for key, _ in selector.select(timeout=min(remaining, 0.5)):
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fd)
                    continue
                name, cap = caps[key.fd]
                sizes[key.fd] += len(data)
                if name == "log_size" and key.fd not in (status_r, info_r):
                    log_total += len(data)
                if sizes[key.fd] > cap or log_total > limits.log_kb << 10:
                    killed_for = name
                    break
                chunks[key.fd].append(data)
    if killed_for:
        _kill(proc, cgroup)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except ChildProcessError:
        status, usage = 0, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    _reap_init(b"".join(chunks[info_r]))
    for fd in (result_r, status_r, info_r):
        os.close(fd)
    proc.stdout.close()
    proc.stderr.close()
    result = SandboxResult(run_id=run_id, outcome="crashed",
                           duration_s=round(time.monotonic() - started, 4),
                           cpu_s=round(usage.ru_utime + usage.ru_stime, 3) if usage else 0.0)
    result.stdout = b"".join(chunks[out_fd]).decode(errors="replace")
    result.stderr = b"".join(chunks[err_fd]).decode(errors="replace")
    if cgroup is not None:
        result.pids_peak, result.cap_refusals = cgroup.peak(), cgroup.hit_cap()
    status_lines = b"".join(chunks[status_r]).decode(errors="replace").splitlines()
    if not status_lines and killed_for is None:
        # the harness never ran: the chain itself failed (no user namespaces, no mount
        # permission...); its tools say why on stderr
        why = next((line for line in result.stderr.splitlines() if line.strip()),
                   f"exit status {proc.returncode}")
        raise SandboxUnavailable(f"the sandbox could not start here, so the code was not run: "
                                 f"{why[:300]}")
    _classify(result, proc.returncode, killed_for, _status(status_lines), 
              b"".join(chunks[result_r]), limits)
    return result


def _reap_init(info: bytes) -> None:
    """Reap bwrap's namespace init if it became this process's child. bwrap exits as soon
    as it knows the command's status, sometimes before its init is reaped; the init is then
    an orphan, a zombie until its new parent waits for it. That parent is the host's init,
    or this process where it is PID 1 of a container or a subreaper, which would otherwise
    keep one zombie per run."""
    try:
        pid = int(json.loads(info)["child-pid"])
    except (ValueError, KeyError, TypeError, IndexError):
        return
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not ours: the host's init reaps it
            return
        time.sleep(0.01)


def _kill(proc: subprocess.Popen, cgroup: PidsCgroup | None) -> None:
    """SIGKILL the run: bwrap's process group (its pid namespace dies with it) and every
    task of its cgroup."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if cgroup is not None:
        cgroup.kill_all()


def _status(lines: list[str]) -> dict:
    """The last status line the harness wrote ({} when it is not JSON)."""
    try:
        status = json.loads(lines[-1])
        return status if isinstance(status, dict) else {}
    except (ValueError, IndexError):
        return {}


def _classify(result: SandboxResult, code: int, killed_for: str | None, status: dict,
              output: bytes, limits: Limits) -> None:
    """Fill in outcome, stopped_by, error and frame, host evidence first: what the host saw
    (its own kills, signals, the cgroup's refusals) outranks what the code reported."""
    # bwrap passes on the command's end: exit status, or 128 + signal number
    signum = -code if code < 0 else code - 128 if code > 128 else None
    if signum is not None:
        try:
            result.signal = signal.Signals(signum).name
        except ValueError:
            result.signal = str(signum)
    else:
        result.exit_code = code
    result.error, result.message = status.get("error"), str(status.get("message", ""))[:500]
    result.facts = {k: status[k] for k in ("rows", "columns") if k in status}
    stopped = killed_for
    # SIGKILL the host did not send: the CPU hard limit (a run cannot have used more CPU
    # than wall time, single-threaded) or else the kernel's out-of-memory killer
    if stopped is None and (signum == signal.SIGXCPU or (
            signum == signal.SIGKILL and result.duration_s >= limits.cpu_s)):
        stopped = "cpu_time"
    if stopped is None and result.error == "MemoryError":
        stopped = "memory"
    if stopped is None and status.get("errno") in _ERRNO_LIMITS:
        stopped = _ERRNO_LIMITS[status["errno"]]
    refused_task = status.get("errno") == errno.EAGAIN or "can't start new thread" in result.message
    if stopped is None and not status.get("ok") and (result.cap_refusals or refused_task):
        stopped = "processes"
    if stopped:
        result.outcome, result.stopped_by = "limit", stopped
        return
    if status.get("ok") and code == 0:
        try:
            result.frame = pd.read_parquet(io.BytesIO(output))
            result.outcome = "ok"
        except Exception as err:  # noqa: BLE001 - the code may have written anything there
            result.outcome, result.error = "error", "BadResult"
            result.message = f"the result is not a Parquet table: {err}"[:500]
        return
    result.outcome = "error" if result.error else "crashed"


def _audit_fields(result: SandboxResult) -> dict:
    """The parts of a result the audit log keeps (never the table or the full logs)."""
    return {"outcome": result.outcome, "stopped_by": result.stopped_by, "error": result.error,
            "message": result.message, "exit_code": result.exit_code, "signal": result.signal,
            "duration_s": result.duration_s, "cpu_s": result.cpu_s,
            "process_cap": result.process_cap, "pids_peak": result.pids_peak,
            "cap_refusals": result.cap_refusals, "tasks_left": result.facts.get("tasks_left", 0),
            "result_shape": list(result.frame.shape) if result.frame is not None else None}
