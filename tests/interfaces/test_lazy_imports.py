"""Heavy libraries load only where they are used: `mlpilot --help` loads none of them, and
planning (`mlpilot plan`) never loads MLflow, Optuna, ChromaDB or sentence-transformers.

Each check runs in a fresh interpreter (this test process has imported everything) and
reads `sys.modules` at its end; `benchmarks/startup.py` measures what that saves.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Never needed to plan: they train, track, tune and search the knowledge base.
NOT_FOR_PLANNING = ("mlflow", "optuna", "chromadb", "sentence_transformers", "fastapi")
#: Not needed to print the help either (planning needs these: the dry run trains a few
#: steps with torch, the critic's checks fit scikit-learn trees, the graph is LangGraph's).
NOT_FOR_HELP = (*NOT_FOR_PLANNING, "torch", "sklearn", "pandas", "langgraph")

PROBE = """
import atexit, json, sys
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(
    m for m in {watched!r} if m in sys.modules)), file=sys.stderr))
sys.argv = ["mlpilot", *{args!r}]
{body}
"""
RUN_CLI = "from mlpilot.interfaces.cli import main\nmain()"


def _loaded(body: str, watched: tuple[str, ...], args: list[str] = ()) -> list[str]:
    """The `watched` modules a fresh interpreter holds after running `body`."""
    code = PROBE.format(watched=watched, args=list(args), body=body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    for line in done.stderr.splitlines():
        if line.startswith("LOADED="):
            return json.loads(line.removeprefix("LOADED="))
    raise AssertionError(f"the probe did not finish (exit {done.returncode}): {done.stderr}")


def test_importing_the_cli_and_printing_help_loads_no_heavy_library():
    assert _loaded("import mlpilot.interfaces.cli", NOT_FOR_HELP) == []
    assert _loaded(RUN_CLI, NOT_FOR_HELP, ["--help"]) == []


def test_building_the_job_graph_loads_nothing_planning_does_not_need():
    body = "from mlpilot.agent.runner import Runner\nfrom mlpilot.agent.graph import build_graph"
    assert _loaded(body, NOT_FOR_PLANNING) == []


@pytest.mark.slow
def test_planning_a_job_loads_nothing_it_does_not_need(tmp_path):
    rows = ["x,z,y"] + [f"{i % 7},{(i * 3) % 5},{'ab'[i % 2]}" for i in range(40)]
    data = tmp_path / "tiny.csv"
    data.write_text("\n".join(rows) + "\n")
    args = ["plan", "predict y", "--data", str(data), "--target", "y", "--json"]
    # a plan that really ran loads torch (the validator's dry run): the probe is not vacuous
    loaded = _loaded(RUN_CLI, (*NOT_FOR_PLANNING, "torch"), args)
    assert loaded == ["torch"]
