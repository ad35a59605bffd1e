"""Target accuracy of the offline planner over a YAML corpus of plain-language requests.

Each entry has `request`, `data` (a file in ../shared/datasets, or `public/<file>` when a
`public_data.py` module sits beside this script) and `expect: {target: ...}` or
`expect: {status: needs_input}`. The planner's expert reads the request against the data
as a job's first step does; an entry counts as right when the planned target is the
expected one (or, for needs_input, when it asks), as asked when the planner stops with a
question (and whether the expected column is among its choices).

    .venv/bin/python benchmarks/target_choice.py [corpus.yaml ...] [--verbose]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from mlpilot.agent.context import load_request_data
from mlpilot.agent.planner import NeedsInput, expert_task
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.understanding import RequestError, understand
from mlpilot.engine.data import DataError, profile_table

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "shared" / "requests" / "dev.yaml"


def plan_target(request: TaskRequest) -> tuple[str, str | None, list[str]]:
    """("target", column, []) or ("ask", None, choices) or ("error", message, [])."""
    df = load_request_data(request)
    try:
        understood = understand(request.request, [str(c) for c in df.columns])
        task, _ = expert_task(request, understood, df, profile_table(df), 60.0)
    except NeedsInput as question:
        return "ask", None, list(getattr(question, "choices", None) or [])
    except (RequestError, DataError) as err:
        return "error", str(err), []
    return "target", task.target, []


def data_path(ref: str, datasets: Path) -> Path:
    """A corpus entry's data file: a shared data set, or a public one built on first use."""
    if ref.startswith("public/"):
        import public_data  # beside this script, where the corpus branch has it

        return Path(public_data.resolve(ref))
    return datasets / ref


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpora", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--verbose", action="store_true", help="print every entry")
    args = parser.parse_args()
    for corpus in args.corpora:
        entries = yaml.safe_load(corpus.read_text())
        datasets = corpus.parent.parent / "datasets"
        if not datasets.exists():
            datasets = ROOT / "shared" / "datasets"
        right = asked = asked_with = wrong = 0
        times = []
        for entry in entries:
            request = TaskRequest(request=entry["request"],
                                  data=data_path(entry["data"], datasets))
            load_request_data(request)  # reading the file is not planning
            start = time.perf_counter()
            kind, column, choices = plan_target(request)
            times.append(time.perf_counter() - start)
            expected = entry["expect"].get("target")  # a list: any of these is right
            allowed = expected if isinstance(expected, list) else [expected]
            if (kind == "target" and column in allowed) or (kind == "ask" and expected is None):
                right += 1
                mark = "ok"
            elif kind == "ask":
                asked += 1
                asked_with += any(c in choices for c in allowed)
                mark = f"ASK {choices}"
            else:
                wrong += 1
                mark = f"WRONG {column}"
            if args.verbose or mark != "ok":
                print(f"{mark:40.40} want {expected!r:22} {entry['request'][:70]}")
        n = len(entries)
        times.sort()
        print(f"{corpus}: {n} requests, target right {right}/{n} ({right / n:.0%}), "
              f"asked {asked} (expected among choices {asked_with}), wrong {wrong}; "
              f"median {times[n // 2] * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
