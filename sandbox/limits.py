"""What a sandboxed run may use: the limits, each enforced by the kernel or by the host.

| limit | enforced by |
| --- | --- |
| `cpu_s` | RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL one second later) |
| `memory_mb` | RLIMIT_AS of every process (allocations past it fail) |
| `file_size_mb` | RLIMIT_FSIZE (a write past it fails with EFBIG) |
| `open_files` | RLIMIT_NOFILE |
| `processes` | a pids cgroup (tasks: processes and threads) when one can be made, and
|  | RLIMIT_NPROC of the run's own unprivileged uid (see `launch.py`) |
| `scratch_mb` | the size of the scratch tmpfs (a write past it fails with ENOSPC) |
| `scratch_files` | its inode count, as root (bwrap's own tmpfs, used otherwise, has none) |
| `wall_s` | the host kills the run's processes when it passes |
| `output_mb`, `log_kb` | the host reads the result and stdout/stderr through pipes and
|  | kills the run when one passes its cap |
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    """Resource limits of one sandboxed run (defaults fit a feature transform of a table
    of a few hundred thousand rows)."""

    cpu_s: int = Field(default=60, ge=1, le=3600, description="CPU seconds per process.")
    wall_s: float = Field(default=120.0, gt=0, le=7200, description="Wall-clock seconds.")
    memory_mb: int = Field(default=4096, ge=256, le=262144,
                           description="Address space per process, MiB.")
    file_size_mb: int = Field(default=256, ge=1, le=65536, description="Largest file, MiB.")
    open_files: int = Field(default=64, ge=16, le=4096, description="Open file descriptors.")
    processes: int = Field(default=32, ge=4, le=4096,
                           description="Processes and threads of the run, all together.")
    scratch_mb: int = Field(default=256, ge=1, le=65536,
                            description="Size of the writable scratch folder, MiB.")
    scratch_files: int = Field(default=10000, ge=16, le=10_000_000,
                               description="Files and folders in scratch (as root).")
    output_mb: int = Field(default=256, ge=1, le=65536, description="Result Parquet, MiB.")
    log_kb: int = Field(default=256, ge=1, le=65536,
                        description="stdout and stderr together, KiB.")
