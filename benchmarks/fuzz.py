"""Fuzzing the REST API: schemathesis over every operation, and the path-traversal corpus.

1. schemathesis (its engine, as `schemathesis run` drives it): the examples, coverage,
   fuzzing and stateful phases over the whole API of a real app (keys, store, planner,
   registry, knowledge base) whose one worker ends each submitted job at once instead of
   training it (`tests/interfaces/fuzzing.py`). Prints how many cases each phase sent,
   how often each check ran and failed, and each distinct failure.
2. The path-traversal corpus (`tests/interfaces/traversal_corpus.py`, when present): each
   path sent as `data` and as `test_data` in a JSON submission and as `data:` in a YAML
   one, against a server whose data root is the corpus's root. Counts the answers that
   are refusals (4xx), acceptances (2xx: a path got through), server errors, answers that
   show the sentinel's content, and openings of the files outside the root (an audit hook).

    .venv/bin/python benchmarks/fuzz.py [--max-examples 25] [--seed 1] [--max-steps 20]
                                       [--phases examples,coverage,fuzzing,stateful]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from mlpilot.agent.settings import Settings
from mlpilot.interfaces.api import create_app

# the harness and the traversal corpus live beside the tests they serve (`tests/` is not
# part of the installed package): import them from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.interfaces.api_fixtures import KEYS, OPERATOR
from tests.interfaces.fuzzing import PHASES, NoTraining, fuzz, fuzz_app


def schemathesis_section(args: argparse.Namespace) -> int:
    """Fuzz the API; returns the number of distinct failures."""
    started = time.perf_counter()
    app = fuzz_app()
    with TestClient(app):
        report = fuzz(app, max_examples=args.max_examples, seed=args.seed,
                      phases=tuple(args.phases.split(",")), max_steps=args.max_steps)
    took = time.perf_counter() - started
    print(f"## schemathesis {_version('schemathesis')}: max_examples={args.max_examples}, "
          f"seed={args.seed}, stateful max_steps={args.max_steps} ({took:.0f} s)\n")
    print(f"cases: {report.cases} (" + ", ".join(
        f"{phase} {report.phases[phase]}" for phase in PHASES) + ")")
    print(f"checks run: {sum(report.ran.values())}, failed: {sum(report.failed.values())}\n")
    print(report.table())
    print(f"\ndistinct failures: {len(report.failures)}")
    for line in report.failures.values():
        print(f"  - {line}")
    if report.errors:
        print(f"engine errors (not findings): {len(report.errors)}")
        for line in report.errors[:20]:
            print(f"  ! {line}")
    return len(report.failures)


def traversal_section() -> int:
    """Send the corpus; returns the number of paths that got through or broke the server."""
    print("\n## path traversal")
    if importlib.util.find_spec("tests.interfaces.traversal_corpus") is None:
        print("skipped: tests/interfaces/traversal_corpus.py is not in this checkout "
              "(it comes with the data-roots work)")
        return 0
    from tests.interfaces.traversal_corpus import traversal_corpus

    base = Path(tempfile.mkdtemp(prefix="mlpilot-traversal-"))
    layout = traversal_corpus(base / "corpus")
    watched = tuple(layout.watched())
    opened: list[str] = []

    def audit(event: str, hook_args: tuple) -> None:  # cannot be removed: this process ends soon
        if event == "open" and hook_args and isinstance(hook_args[0], str | Path):
            target = str(hook_args[0])
            if target.startswith(watched) or str(Path(target).resolve()).startswith(watched):
                opened.append(target)

    settings = Settings(data_dir=base / "data", api_keys=KEYS, workers=0,
                        data_roots=[layout.root])
    app = create_app(settings, runner_factory=NoTraining)
    outcome: Counter = Counter()
    through: list[str] = []
    sys.addaudithook(audit)
    with TestClient(app, raise_server_exceptions=False) as client:  # a crash counts as a 5xx
        for case in layout.cases:
            sends = {"data": {"request": "predict species", "data": case.path},
                     "test_data": {"request": "predict species", "test_data": case.path,
                                   "data": str(layout.root / "birds.csv")},
                     "yaml data": {"config": f"request: predict species\ndata: {case.path!r}\n"}}
            for way, body in sends.items():
                answer = client.post("/jobs", json=body, headers=OPERATOR)
                kind = f"{answer.status_code // 100}xx"
                outcome[kind] += 1
                if layout.secret in answer.text:
                    outcome["showed the sentinel"] += 1
                if answer.status_code < 400 or answer.status_code >= 500:
                    through.append(f"{case.id} ({case.kind}) as {way} {case.path!r}: "
                                   f"{answer.status_code}")
    outcome["opened a file outside the root"] = len(opened)
    print(f"cases: {len(layout.cases)} paths x 3 ways = {sum(outcome[k] for k in ('2xx', '4xx', '5xx'))} requests")
    for key in ("4xx", "2xx", "5xx", "showed the sentinel", "opened a file outside the root"):
        print(f"  {key:<32} {outcome[key]}")
    for line in through[:20]:
        print(f"  - {line}")
    return len(through) + outcome["showed the sentinel"] + len(opened)


def _version(package: str) -> str:
    from importlib import metadata

    return metadata.version(package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--no-traversal", action="store_true")
    args = parser.parse_args()
    found = schemathesis_section(args)
    if not args.no_traversal:
        found += traversal_section()
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
