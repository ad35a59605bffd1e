"""Understanding: does the planner read a request the way a careful data scientist would?

Plans every request of the corpus with `mlpilot plan --json`'s code path (`plan_only` in a
`planning_context` built as the CLI builds it, in a fresh data directory) and scores the target, task
type, metric, budget, goal, columns to drop, leaks flagged, and whether it asked
(`understanding_scoring.py` says how each field is scored). The corpus has three parts:

- `shared`: ../shared/requests/dev.yaml (33 requests; development),
- `dev`: corpus/dev.yaml (104; the planner may be tuned on it),
- `dev_new`: corpus/dev_new.yaml (64; written before the second round of rules, over public
  tables no other part uses; measured once before that round, tuned on after it),
- `held_out`: corpus/held_out.yaml (121; never tuned on, written before the planner
  rewrite; it alone uses the public diabetes, digits and linnerud data).

Requests run over ../shared/datasets and over public data sets built from files that
scikit-learn ships (`public_data.py`). Targets (issue 10): at least 97% of fields right over
the whole corpus, at least 95% on `held_out`. `--cli` runs the real `mlpilot plan --json`
per request instead (16 s or more each: use it with --limit) and also checks its contract: exit code 0 or 4 (4 exactly when
it asks) and one JSON document on stdout.

    PYTHONPATH=.. .venv/bin/python benchmarks/understanding.py [--part held_out] [--limit 10]
        [--failures] [--cli] [--jobs 2] [--json out.json] [--provider offline]

Baseline (offline expert as of commit 2b9489f, before the planner rewrite; 2 workers):
see benchmarks/README.md, "Understanding".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import public_data
from understanding_scoring import (
    FIELDS,
    PARTS,
    SHARED,
    Case,
    FieldScore,
    PlanOutcome,
    load_corpus,
    score_plan,
)

_CONTEXT = None  # one planning context per worker process, built on first use


def main() -> None:
    """Plan the chosen parts of the corpus, score every field, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=list(PARTS),
                        help="corpus part to run (repeatable; default: all)")
    parser.add_argument("--limit", type=int, default=0, help="first N requests of each part")
    parser.add_argument("--failures", action="store_true", help="list every wrong field")
    parser.add_argument("--cli", action="store_true",
                        help="run the real `mlpilot plan --json` per request (contract check)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--provider", default="offline",
                        help="MLPILOT_LLM_PROVIDER for planning (default: the offline expert)")
    parser.add_argument("--json", type=Path, help="also write every scored request here")
    args = parser.parse_args()

    cases = load_corpus(args.part)
    if args.limit:
        cases = [c for c in cases if c.index < args.limit]
    paths = {c.data: data_path(c.data) for c in cases}
    started = time.monotonic()
    outcomes = plan_all(cases, paths, cli=args.cli, jobs=args.jobs, provider=args.provider)
    wall = time.monotonic() - started
    empty = _EmptyColumns()
    rows = [(c, o, score_plan(c.expect, o, empty(paths[c.data]) if "drop" in c.expect else set()))
            for c, o in zip(cases, outcomes, strict=True)]
    print_tables(rows)
    mode = "mlpilot plan --json (subprocess)" if args.cli else "plan_only (in process)"
    times = sorted(o.seconds for o in outcomes)
    print(f"\n{len(rows)} requests via {mode}, provider {args.provider}, {args.jobs} worker(s): "
          f"{wall:.0f}s wall, median {times[len(times) // 2]:.1f}s and max {times[-1]:.1f}s "
          f"per request")
    if args.failures:
        print_failures(rows)
    if args.json:
        args.json.write_text(json.dumps([_record(c, o, s) for c, o, s in rows], indent=1,
                                        ensure_ascii=False, default=str), encoding="utf-8")


def data_path(ref: str) -> Path:
    """The file a corpus entry's `data` names: a shared data set or a public one (built now)."""
    if public_data.is_public(ref):
        return public_data.resolve(ref)
    path = SHARED / "datasets" / ref
    if not path.exists():
        raise SystemExit(f"data {ref!r} not found at {path}: check the corpus entry")
    return path


class _EmptyColumns:
    """The all-missing columns of each data file (a plan may drop those unasked)."""

    def __init__(self) -> None:
        self._seen: dict[Path, set[str]] = {}

    def __call__(self, path: Path) -> set[str]:
        if path not in self._seen:
            df = pd.read_csv(path, na_values=["?"])
            self._seen[path] = {str(c) for c in df.columns if df[c].isna().all()}
        return self._seen[path]


# -- planning -------------------------------------------------------------------------------


def plan_all(cases: list[Case], paths: dict[str, Path], *, cli: bool, jobs: int,
             provider: str) -> list[PlanOutcome]:
    """A PlanOutcome per case, in order, planned by `jobs` worker processes."""
    work = [(c.request, str(paths[c.data])) for c in cases]
    plan = plan_with_cli if cli else plan_in_process
    if jobs <= 1:
        _init_worker(provider)
        return [_progress(i, len(work), plan(*w)) for i, w in enumerate(work)]
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(provider,)) as pool:
        return [_progress(i, len(work), o) for i, o in enumerate(pool.map(plan, *zip(*work)))]


def _progress(i: int, n: int, outcome: PlanOutcome) -> PlanOutcome:
    if (i + 1) % 25 == 0 or i + 1 == n:
        print(f"  planned {i + 1}/{n}", file=sys.stderr, flush=True)
    return outcome


def _init_worker(provider: str) -> None:
    """Each worker: its own fresh data directory, the chosen provider, quiet libraries."""
    os.environ["MLPILOT_DATA_DIR"] = tempfile.mkdtemp(prefix="mlpilot-understanding-")
    os.environ["MLPILOT_LLM_PROVIDER"] = provider
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore")
    logging.getLogger("mlpilot").setLevel(logging.ERROR)


def plan_in_process(request: str, data: str) -> PlanOutcome:
    """`mlpilot plan --json`'s document for one request, planned in this process."""
    global _CONTEXT
    from mlpilot.agent.planning import plan_only, planning_context
    from mlpilot.interfaces.job_config import build_request

    started = time.monotonic()
    try:
        if _CONTEXT is None:
            _CONTEXT = planning_context(progress=lambda event: None)
        doc = plan_only(_CONTEXT, build_request({"request": request, "data": Path(data)}))
        # Round-trip as the CLI prints it, so both modes score the same JSON.
        doc = json.loads(json.dumps(doc, default=str))
        return PlanOutcome(doc=doc, seconds=time.monotonic() - started)
    except Exception as problem:  # noqa: BLE001 - a crash is a result: its fields score wrong
        first = str(problem).strip().splitlines()[0] if str(problem).strip() else ""
        return PlanOutcome(error=f"{type(problem).__name__}: {first}",
                           seconds=time.monotonic() - started)


def plan_with_cli(request: str, data: str) -> PlanOutcome:
    """Run `mlpilot plan REQUEST --data DATA --json`; check its exit code and its one document."""
    script = Path(sys.executable).with_name("mlpilot")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "mlpilot.interfaces.cli"]
    env = {**os.environ, "MLPILOT_DATA_DIR": tempfile.mkdtemp(prefix="mlpilot-understanding-")}
    started = time.monotonic()
    try:
        done = subprocess.run([*command, "plan", request, "--data", data, "--json"], env=env,
                              check=False,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return PlanOutcome(error="timed out after 600 s", seconds=time.monotonic() - started)
    finally:
        shutil.rmtree(env["MLPILOT_DATA_DIR"], ignore_errors=True)
    seconds = time.monotonic() - started
    last_err = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode not in (0, 4):
        return PlanOutcome(error=f"exit {done.returncode}: {last_err}", seconds=seconds)
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError as problem:
        return PlanOutcome(error=f"stdout is not one JSON document ({problem})", seconds=seconds)
    if not isinstance(doc, dict):
        return PlanOutcome(error="stdout is JSON but not an object", seconds=seconds)
    asks = doc.get("status") == "needs_input"
    if asks != (done.returncode == 4):
        return PlanOutcome(error=f"exit {done.returncode} with status {doc.get('status')!r} "
                                 "(4 means needs_input, and only that)", seconds=seconds)
    return PlanOutcome(doc=doc, seconds=seconds)


# -- tables ---------------------------------------------------------------------------------

Row = tuple[Case, PlanOutcome, list[FieldScore]]


def _rate(scores: list[FieldScore]) -> str:
    if not scores:
        return "-"
    return f"{100 * sum(s.ok for s in scores) / len(scores):.1f}%"


def print_tables(rows: list[Row]) -> None:
    """Fields right per part and field, per category, per language; and whole requests right."""
    parts = [p for p in PARTS if any(c.part == p for c, _, _ in rows)]
    columns = [*parts, "all"]

    def select(part: str, keep=lambda c: True, field: str | None = None) -> list[FieldScore]:
        return [s for c, _, scores in rows if (part == "all" or c.part == part) and keep(c)
                for s in scores if field is None or s.field == field]

    print("fields right, by part and field (scored fields in brackets)")
    header = f"{'field':<10}" + "".join(f"{p:>18}" for p in columns)
    print(header)
    for field in (*FIELDS, None):
        line = f"{field or 'ALL':<10}"
        for part in columns:
            got = select(part, field=field)
            line += f"{_rate(got) + f' ({len(got)})':>18}"
        print(line)
    line = f"{'requests':<10}"
    for part in columns:
        mine = [scores for c, _, scores in rows if part == "all" or c.part == part]
        whole = sum(all(s.ok for s in scores) for scores in mine)
        line += f"{f'{100 * whole / max(len(mine), 1):.1f}% ({len(mine)})':>18}"
    print(line + "   <- every field of the request right")

    categories = sorted({cat for c, _, _ in rows for cat in c.categories})
    print("\nfields right, by category (requests in brackets; a request may have several)")
    print(f"{'category':<16}" + "".join(f"{p:>18}" for p in columns))
    for cat in categories:
        line = f"{cat:<16}"
        for part in columns:
            n = sum(1 for c, _, _ in rows if cat in c.categories and part in ("all", c.part))
            line += f"{_rate(select(part, lambda c, cat=cat: cat in c.categories)) + f' ({n})':>18}"
        print(line)

    print("\nfields right, by language (requests in brackets; zh = any Chinese in the request)")
    print(f"{'language':<16}" + "".join(f"{p:>18}" for p in columns))
    for lang in ("en", "zh"):
        line = f"{lang:<16}"
        for part in columns:
            n = sum(1 for c, _, _ in rows if c.language == lang and part in ("all", c.part))
            line += f"{_rate(select(part, lambda c, lang=lang: c.language == lang)) + f' ({n})':>18}"
        print(line)


def print_failures(rows: list[Row]) -> None:
    """Every wrong field: the request, the field, what was expected and what the plan said."""
    print("\nwrong fields")
    for case, outcome, scores in rows:
        wrong = [s for s in scores if not s.ok]
        if not wrong:
            continue
        print(f"[{case.key}] {case.data}: {case.request}")
        if outcome.error:
            print(f"    {outcome.error}  -> all {len(wrong)} scored fields wrong")
            continue
        for s in wrong:
            print(f"    {s.field:<9} expected {s.expected!r:<28} got {s.got!r}")


def _record(case: Case, outcome: PlanOutcome, scores: list[FieldScore]) -> dict:
    return {"part": case.part, "index": case.index, "request": case.request, "data": case.data,
            "language": case.language, "categories": case.categories, "error": outcome.error,
            "seconds": round(outcome.seconds, 3),
            # the LLM path's own account: its proposals, refusals and fallbacks
            "llm_decisions": [d for d in (outcome.doc or {}).get("decisions", [])
                              if "LLM" in d.get("decision", "") + d.get("why", "")],
            "fields": {s.field: {"ok": s.ok, "expected": s.expected, "got": s.got}
                       for s in scores}}


if __name__ == "__main__":
    main()
