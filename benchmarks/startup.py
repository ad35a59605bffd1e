"""How long the CLI takes to start: `mlpilot --help`, `mlpilot plan ... --json`, and what
`mlpilot run` does before its job's first node (the CLI, a `Runner`, the compiled graph on
its checkpointer: the rest of a run is the job itself).

Each command runs `--runs` times, each in a fresh process (cold: nothing imported yet; the
operating system's file cache is warm after the first run), in an empty data directory.
The table gives the median, fastest and slowest wall time, the median CPU time (user +
system, of the process and its children: far steadier than wall time when other work
shares the cores), and which heavy libraries the command imported (found by running it
once more in a process that lists them at exit). Each command that loads any is followed
by a row that only imports the modules of those libraries it loaded: its floor while it
needs them.

    python benchmarks/startup.py --runs 7
    python benchmarks/startup.py --data examples/penguins.csv --request "predict species"

Run it on a quiet machine: other processes on the same cores inflate every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Libraries that cost a large part of a second or more to import. torch._dynamo (torch's
#: compiler, ~800 modules) loads on the first `torch.optim` step or FLOP count, not with torch.
HEAVY = ("torch", "torch._dynamo", "sklearn", "pandas", "langgraph", "mlflow", "optuna",
         "chromadb", "sentence_transformers", "fastapi")
#: Runs the CLI in this process, then prints which of HEAVY it imported.
PROBE = """
import atexit, json, sys
heavy = {heavy!r}
atexit.register(lambda: print("HEAVY=" + json.dumps([m for m in heavy if m in sys.modules]),
                              file=sys.stderr))
atexit.register(lambda: print("MODULES=" + json.dumps(sorted(
    m for m in sys.modules if m.split(".")[0] in heavy)), file=sys.stderr))
sys.argv = ["mlpilot", *{args!r}]
from mlpilot.interfaces.cli import main
main()
"""


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `command`."""
    started, cpu = time.perf_counter(), _cpu_s()
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - started, _cpu_s() - cpu
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): "
                         f"{done.stderr.strip().splitlines()[-1:]}")
    return elapsed, cpu


#: What `mlpilot run` does before the job's first node.
RUN_SETUP = """
import mlpilot.interfaces.cli
from mlpilot.agent.runner import Runner
with Runner().graph():
    pass
"""

#: Imports the modules named on stdin, one a line (the floor: a command's heavy imports only).
IMPORT_ONLY = """
import importlib, sys
for name in sys.stdin.read().split():
    try:
        importlib.import_module(name)
    except Exception:  # a private module that only loads in its package's own order
        pass
"""


def _timed_floor(modules: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a fresh process that only imports `modules`."""
    started, cpu = time.perf_counter(), _cpu_s()
    subprocess.run([sys.executable, "-c", IMPORT_ONLY], input="\n".join(modules), check=True,
                   env=env, capture_output=True, text=True)
    return time.perf_counter() - started, _cpu_s() - cpu


def _heavy(args: list[str], env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(the HEAVY libraries `mlpilot *args` imports, every module of theirs it loads)."""
    code = PROBE.format(heavy=HEAVY, args=args)
    done = subprocess.run([sys.executable, "-c", code], check=False, env=env,
                          capture_output=True, text=True)
    found = {line.split("=", 1)[0]: json.loads(line.split("=", 1)[1])
             for line in done.stderr.splitlines() if line.startswith(("HEAVY=", "MODULES="))}
    if len(found) == 2:
        return found["HEAVY"], found["MODULES"]
    raise SystemExit(f"could not read the imports of mlpilot {' '.join(args)}: "
                     f"{done.stderr.strip().splitlines()[-1:]}")


def main() -> None:
    """Time the commands and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each command")
    parser.add_argument("--data", type=Path, default=ROOT / "examples" / "penguins.csv")
    parser.add_argument("--request", default="predict the species of a penguin")
    args = parser.parse_args()

    script = Path(sys.executable).with_name("mlpilot")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "mlpilot.interfaces.cli"]
    commands = {
        "mlpilot --help": ["--help"],
        "mlpilot plan ... --json": ["plan", args.request, "--data", str(args.data.resolve()),
                                    "--json"],
    }
    print(f"{args.runs} runs each, fresh process per run, median (min-max), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n")
    print("| command | median s | min s | max s | median CPU s | heavy imports |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for name, cli_args in commands.items():
        with tempfile.TemporaryDirectory(prefix="mlpilot-startup-") as data_dir:
            env = {**os.environ, "MLPILOT_DATA_DIR": data_dir}
            runs = [_timed([*cli, *cli_args], env) for _ in range(args.runs)]
            heavy, modules = _heavy(cli_args, env)
            _row(f"`{name}`", runs, ", ".join(heavy) or "none")
            if heavy:
                floor = [_timed_floor(modules, env) for _ in range(args.runs)]
                _row(f"only its {len(modules)} modules of those", floor, "")
    with tempfile.TemporaryDirectory(prefix="mlpilot-startup-") as data_dir:
        env = {**os.environ, "MLPILOT_DATA_DIR": data_dir}
        runs = [_timed([sys.executable, "-c", RUN_SETUP], env) for _ in range(args.runs)]
        _row("`mlpilot run` until its first node", runs, "")


def _row(name: str, runs: list[tuple[float, float]], heavy: str) -> None:
    wall = [w for w, _ in runs]
    cpu = statistics.median(c for _, c in runs)
    print(f"| {name} | {statistics.median(wall):.2f} | {min(wall):.2f} | "
          f"{max(wall):.2f} | {cpu:.2f} | {heavy} |")


if __name__ == "__main__":
    main()
