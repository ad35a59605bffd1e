"""How much of its time budget a job uses: this checkout against an earlier revision.

Each job is the whole mlpilot job (offline expert, the split of `automl.py`: manifest
leaks dropped, 80/20, seed 0), run in a child process that imports mlpilot from one
checkout: this one ("after") and, with `--before REV`, that git revision exported to a
temporary folder ("before"). Both run in the same invocation, one after the other per
data set and budget, so that the machine's load is alike for both.

Columns: `used` is the training time the job reports (`budget_used_s`, base run + search
+ final stage) over the budget; `wall` the child's whole job (planning, validation,
evaluation, registration too) over the budget; `search` and `final` the search's and the
final stage's (refit or cross-fit, save) seconds; `score` the test score (accuracy / R²).
The target (issue #12): `used` between 0.95 and 1.05 on every job.

    .venv/bin/python benchmarks/budget_use.py --before HEAD~3 [--budgets 15,30]
                                              [--datasets penguins,adult]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parent  # this checkout's package folder (named mlpilot)
DEFAULT_DATASETS = "penguins,german-credit,adult,california-housing"


def main() -> None:
    """Run every data set at every budget with each checkout; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="20", help="comma-separated seconds")
    parser.add_argument("--datasets", default=DEFAULT_DATASETS)
    parser.add_argument("--before", help="a git revision of this repository to compare with")
    parser.add_argument("--child", nargs=2, metavar=("DATASET", "BUDGET"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_job(args.child[0], float(args.child[1]))))
        return
    budgets = [float(b) for b in args.budgets.split(",")]
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    with tempfile.TemporaryDirectory(prefix="mlpilot-before-") as tmp:
        roots = {"after": CHECKOUT.parent}
        if args.before:
            roots = {"before": export(args.before, Path(tmp)), **roots}
        rows = []
        for name in names:
            for budget in budgets:
                for label, root in roots.items():
                    print(f"[{name} {budget:g}s] {label} ...", file=sys.stderr, flush=True)
                    rows.append({"dataset": name, "budget": budget, "version": label,
                                 **child(root, name, budget)})
    print_table(rows, list(roots))


def export(revision: str, into: Path) -> Path:
    """`revision` of this repository, exported as `into/mlpilot` (a folder to import from)."""
    target = into / "mlpilot"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", revision],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return into


def child(root: Path, name: str, budget: float) -> dict:
    """One job in a child process importing mlpilot from `root`; its measurements."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, __file__, "--child", name, str(budget)], env=env,
                          check=False,
                          capture_output=True, text=True, timeout=budget * 4 + 120)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_job(name: str, budget: float) -> dict:
    """The whole job on `name`'s benchmark split (in this process's mlpilot)."""
    sys.path.insert(0, str(HERE))
    import automl  # this folder's: the benchmark's split and scoring

    entry = next(e for e in json.loads((automl.DATASETS / "manifest.json").read_text())
                 if e["name"] == name)
    train, test = automl.split(entry)
    with automl.mlpilot_job(entry, train, test, budget) as (outcome, _, model, wall):
        result = outcome.result
        y_pred = model.predict(test.drop(columns=[entry["target"]]))
        search = result.get("search") or {}
        final = (search.get("refit") or search.get("cross_fit") or {}).get("seconds")
        return {"used": (result.get("budget_used_s") or float("nan")) / budget,
                "wall": wall / budget, "tune_s": search.get("seconds"),
                "final_s": final, "score": automl.primary(entry, test[entry["target"]], y_pred),
                "source": result.get("model_source")}


def print_table(rows: list[dict], versions: list[str]) -> None:
    """One line per data set and budget, each version's columns side by side."""
    print(f"# budget use — {time.strftime('%Y-%m-%d')} — {os.cpu_count()} CPUs "
          "(used: training time / budget; target 0.95-1.05)")
    cols = "".join(f"{v + ' used':>13}{v + ' wall':>13}{v + ' score':>13}" for v in versions)
    print(f"{'dataset':<20}{'budget':>7}{cols}")
    keyed = {(r["dataset"], r["budget"], r["version"]): r for r in rows}
    for dataset, budget in dict.fromkeys((r["dataset"], r["budget"]) for r in rows):
        line = f"{dataset:<20}{budget:>7g}"
        for v in versions:
            r = keyed[(dataset, budget, v)]
            if "error" in r:
                line += f"{'error':>39}"
                continue
            line += f"{r['used']:>13.3f}{r['wall']:>13.3f}{r['score']:>13.4f}"
        print(line)
    for v in versions:
        used = [r["used"] for r in rows if r["version"] == v and "used" in r]
        if used:
            inside = sum(0.95 <= u <= 1.05 for u in used)
            print(f"{v}: used mean {statistics.mean(used):.3f}, min {min(used):.3f}, "
                  f"max {max(used):.3f}; {inside}/{len(used)} jobs within 0.95-1.05")
    for r in rows:
        if "error" in r:
            print(f"error {r['dataset']} {r['budget']:g}s {r['version']}: {r['error']}")


if __name__ == "__main__":
    sys.exit(main())
