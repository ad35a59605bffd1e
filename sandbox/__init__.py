"""Isolated execution of generated code: bubblewrap namespaces, a read-only root, an
unprivileged uid of its own, rlimits, a pids cgroup, a wall clock and output caps.

    from mlpilot.sandbox import run_function, Limits
    result = run_function(source, {"df": frame}, limits=Limits(wall_s=30))

Where bubblewrap is missing the run is refused (`SandboxUnavailable`); generated code is
never run unisolated. Every run, refusals included, is appended to the audit log.
"""

from mlpilot.sandbox.launch import SandboxUnavailable
from mlpilot.sandbox.limits import Limits
from mlpilot.sandbox.runner import SandboxResult, run_function

__all__ = ["Limits", "SandboxResult", "SandboxUnavailable", "run_function"]
