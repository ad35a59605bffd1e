"""The sandbox runs a generated function over tables, isolated, and every limit it claims
stops a real attempt to pass it; every run, refusals included, is audited."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest

from mlpilot.sandbox import Limits, SandboxUnavailable, audit, launch, run_function, runner
from tests.sandbox.conftest import needs_bwrap

FRAME = pd.DataFrame({"price": [10.0, 20.0, 30.0], "area": [2.0, 4.0, 5.0],
                      "city": ["a", "b", "a"]})
RATIO = "def transform(df):\n    return df.assign(price_per_area=df.price / df.area)\n"


@needs_bwrap
def test_a_transform_runs_and_its_table_comes_back_audited():
    result = run_function(RATIO, {"df": FRAME}, purpose="test")
    assert result.ok, result.message
    assert list(result.frame.columns) == ["price", "area", "city", "price_per_area"]
    assert result.frame["price_per_area"].tolist() == [5.0, 5.0, 6.0]
    assert "pids cgroup" in result.process_cap or "RLIMIT_NPROC" in result.process_cap
    [record] = list(audit.records(audit.default_audit_path()))
    assert record["code_sha256"] == hashlib.sha256(RATIO.encode()).hexdigest()
    assert record["outcome"] == "ok" and record["result_shape"] == [3, 4]
    assert record["limits"] == Limits().model_dump() and record["duration_s"] > 0
    assert record["purpose"] == "test" and record["inputs"] == {"df": [3, 3]}
    assert record["uid"] != 0 and record["tasks_left"] == 0


@needs_bwrap
def test_errors_of_the_code_are_its_outcome_and_audited():
    raised = run_function("def transform(df):\n    raise ValueError('no such column')\n",
                          {"df": FRAME})
    assert (raised.outcome, raised.error, raised.message) == ("error", "ValueError",
                                                              "no such column")
    missing = run_function("def other(df):\n    return df\n", {"df": FRAME})
    assert missing.error == "TypeError" and "no function named 'transform'" in missing.message
    wrong = run_function("def transform(df):\n    return 3\n", {"df": FRAME})
    assert wrong.error == "TypeError" and "not a pandas DataFrame" in wrong.message
    outcomes = [r["outcome"] for r in audit.records(audit.default_audit_path())]
    assert outcomes == ["error", "error", "error"]


@needs_bwrap
def test_the_run_sees_no_environment_no_network_and_is_nobody(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    source = (
        "import os, socket\n"
        "def transform(df):\n"
        "    try:\n"
        "        socket.create_connection(('127.0.0.1', 9), timeout=1)\n"
        "        net = 'connected'\n"
        "    except OSError as err:\n"
        "        net = type(err).__name__\n"
        "    return __import__('pandas').DataFrame({'env': [sorted(os.environ)],\n"
        "        'uid': [os.getuid()], 'net': [net],\n"
        "        'caps': [open('/proc/self/status').read().split('CapEff:')[1].split()[0]]})\n")
    result = run_function(source, {"df": FRAME})
    row = result.frame.iloc[0]
    assert "OPENAI_API_KEY" not in row.env and set(row.env) <= {*launch.ENVIRONMENT, "PWD"}
    assert row.uid != 0 and int(row.caps, 16) == 0
    assert row.net in ("ConnectionRefusedError", "OSError")  # its own empty loopback


def test_refused_without_bubblewrap(monkeypatch):
    """No bubblewrap: one line saying how to install it, nothing started, and audited."""
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)

    def no_process(*args, **kwargs):
        raise AssertionError("a process was started without the sandbox")

    monkeypatch.setattr(runner.subprocess, "Popen", no_process)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_function(RATIO, {"df": FRAME})
    [record] = list(audit.records(audit.default_audit_path()))
    assert record["outcome"] == "refused" and "bubblewrap" in record["message"]


# Each limit, and a real attempt to pass it: the run must end, stopped by that limit.
LIMIT_CASES = {
    "cpu_time": (Limits(cpu_s=1), "while True:\n        pass"),
    "memory": (Limits(memory_mb=1024), "x = bytearray(16 << 30)"),
    "file_size": (Limits(file_size_mb=2), "open('/scratch/big', 'wb').write(b'x' * (3 << 20))"),
    "scratch": (Limits(scratch_mb=4, file_size_mb=3),
                "for i in range(4):\n        open(f'/scratch/f{i}', 'wb').write(b'x' * (2 << 20))"),
    "open_files": (Limits(open_files=32), "files = [open('/dev/null') for _ in range(64)]"),
    "processes": (Limits(processes=16),
                  "while True:\n        if os.fork() == 0:\n            time.sleep(60)"),
    "log_size": (Limits(log_kb=16), "while True:\n        print('x' * 1000)"),
    "output_size": (Limits(output_mb=1),
                    "return pd.DataFrame({'x': np.random.default_rng(0).random(400_000)})"),
    "wall_clock": (Limits(wall_s=5), "time.sleep(600)"),
}


@needs_bwrap
@pytest.mark.parametrize("limit", sorted(LIMIT_CASES))
def test_each_limit_stops_a_run_that_passes_it(limit):
    limits, body = LIMIT_CASES[limit]
    source = ("import os, time\nimport numpy as np\nimport pandas as pd\n\n"
              f"def transform(df):\n    {body}\n")
    result = run_function(source, {"df": FRAME}, limits=limits)
    assert (result.outcome, result.stopped_by) == ("limit", limit), (result.error, result.message)
    # generous bounds: CI machines are slow; what matters is that the run ended
    assert result.duration_s < limits.wall_s + 30
    if limit == "processes" and result.pids_peak is not None:
        assert result.pids_peak <= limits.processes
    if limit == "log_size":
        assert len(result.stdout) + len(result.stderr) <= limits.log_kb << 10
    [record] = list(audit.records(audit.default_audit_path()))
    assert record["stopped_by"] == limit



@needs_bwrap
def test_a_sandbox_that_cannot_start_refuses_and_says_why(monkeypatch):
    """Where bubblewrap is installed but cannot build the sandbox (no user namespaces in a
    locked-down container, say), the code is not run and the reason is the tool's own."""
    build = runner.build

    def broken(*args, **kwargs):
        launched = build(*args, **kwargs)
        at = launched.argv.index("bwrap") + 1
        launched.argv[at:at] = ["--no-such-option"]
        return launched

    monkeypatch.setattr(runner, "build", broken)
    with pytest.raises(SandboxUnavailable, match="could not start here.*no-such-option"):
        run_function(RATIO, {"df": FRAME})
    [record] = list(audit.records(audit.default_audit_path()))
    assert record["outcome"] == "refused"


@needs_bwrap
def test_a_host_that_reaps_orphans_keeps_no_zombie_of_a_run():
    """Where the host process is PID 1 of a container (or a subreaper), bwrap's namespace
    init becomes its child when bwrap exits first: the runner reaps it."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    assert libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0
    try:
        for _ in range(3):
            assert run_function(RATIO, {"df": FRAME}).ok
        zombies = []
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                text = status.read_text()
                if f"PPid:\t{os.getpid()}\n" in text and "State:\tZ" in text:
                    zombies.append(status.parent.name)
        assert not zombies
    finally:
        libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)
