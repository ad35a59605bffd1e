"""Heavy libraries load only where they are used: `mlpilot --help` loads none of them, and
planning (`mlpilot plan`, offline) loads neither PyTorch, scikit-learn, LangGraph nor
LangChain, nor MLflow, Optuna, ChromaDB or sentence-transformers.

Each check runs in a fresh interpreter (this test process has imported everything) and
reads `sys.modules` at its end; `benchmarks/startup.py` measures what that saves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

#: Never needed to build the job graph: they train, track, tune and search the knowledge base.
NOT_FOR_THE_GRAPH = ("mlflow", "optuna", "chromadb", "sentence_transformers", "fastapi")
#: Never needed to plan offline: the plan runs its roles without the graph (LangGraph,
#: LangChain), skips the dry run (PyTorch), and the critic's trees are numpy (scikit-learn
#: loads only for a goal's boosted-tree baseline).
NOT_FOR_PLANNING = (*NOT_FOR_THE_GRAPH, "torch", "sklearn", "langgraph", "langchain_core")
#: Not needed to print the help either.
NOT_FOR_HELP = (*NOT_FOR_PLANNING, "pandas")

PROBE = """
import atexit, json, sys
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(
    m for m in {watched!r} if m in sys.modules)), file=sys.stderr))
atexit.register(sys.stdout.flush)
sys.argv = ["mlpilot", *{args!r}]
{body}
"""
RUN_CLI = "from mlpilot.interfaces.cli import main\nmain()"


def _loaded(body: str, watched: tuple[str, ...], args: list[str] = (), env=None
            ) -> tuple[list[str], str]:
    """The `watched` modules a fresh interpreter holds after running `body`, and its stdout."""
    code = PROBE.format(watched=watched, args=list(args), body=body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False, env=env)
    for line in done.stderr.splitlines():
        if line.startswith("LOADED="):
            return json.loads(line.removeprefix("LOADED=")), done.stdout
    raise AssertionError(f"the probe did not finish (exit {done.returncode}): {done.stderr}")


def test_importing_the_cli_and_printing_help_loads_no_heavy_library():
    assert _loaded("import mlpilot.interfaces.cli", NOT_FOR_HELP)[0] == []
    assert _loaded(RUN_CLI, NOT_FOR_HELP, ["--help"])[0] == []


def test_building_the_job_graph_loads_nothing_planning_does_not_need():
    body = "from mlpilot.agent.runner import Runner\nfrom mlpilot.agent.graph import build_graph"
    assert _loaded(body, NOT_FOR_THE_GRAPH)[0] == []


def test_planning_a_job_loads_no_training_stack_and_no_graph(tmp_path):
    rows = ["id,x,z,y"] + [f"{i},{i % 7},{(i * 3) % 5},{'ab'[i % 2]}" for i in range(40)]
    data = tmp_path / "tiny.csv"
    data.write_text("\n".join(rows) + "\n")
    args = ["plan", "predict y", "--data", str(data), "--json"]
    env = {**os.environ, "MLPILOT_DATA_DIR": str(tmp_path / "data"),
           "MLPILOT_LLM_PROVIDER": "offline"}
    loaded, out = _loaded(RUN_CLI, (*NOT_FOR_PLANNING, "pandas"), args, env)
    doc = json.loads(out)
    # the plan really ran: it read the data (pandas), chose, configured and criticised
    assert doc["status"] == "planned" and doc["task"]["target"] == "y" and doc["config"]
    assert any(f["check_id"] == "critic.id_like" for f in doc["findings"])
    assert loaded == ["pandas"]
