"""How well the offline expert reads the fields of a request other than the target.

For each request of a corpus (YAML: `request`, `data`, `expect` with `target`, `task` and,
where stated, `metric`, `budget_s`, `goal`, `drop`), the planner's expert runs with the
expected target given, so that a target it would miss does not hide the other fields;
each field is then compared with what the corpus expects. A field the corpus leaves out
is expected to be unset (no metric, goal or budget read; no columns dropped). The task
type is the planner's, with the target given. Items that expect a question instead of a
target (`status: needs_input`), and items on data files not present, are left out.

    .venv/bin/python benchmarks/request_fields.py [--corpus ../shared/requests/dev.yaml]
                                                 [--datasets ../shared/datasets] [--show-misses]

Figures on a corpus the rules were tuned on are development figures, not results.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from mlpilot.agent.planner import NeedsInput, expert_task
from mlpilot.agent.state import TaskRequest
from mlpilot.agent.understanding import understand
from mlpilot.engine.data import load_table, profile_table

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("task", "metric", "budget_s", "goal", "drop")


def read_fields(item: dict, datasets: Path) -> dict:
    """What the expert reads from one corpus item, field by field (an error is a value too)."""
    data = datasets / item["data"]
    df = load_table(data)
    text, expect = item["request"], item["expect"]
    target = expect["target"]
    target = target[0] if isinstance(target, list) else target  # either of them is right
    got: dict = {}
    try:
        understood = understand(text, [str(c) for c in df.columns])
    except ValueError as err:
        return dict.fromkeys(FIELDS, f"error: {err}")
    got.update(metric=understood.metric, budget_s=understood.budget_s, goal=understood.goal,
               drop=sorted(understood.drop_columns))
    try:
        task, why = expert_task(TaskRequest(request=text, data=data, target=target),
                                understood, df, profile_table(df), 60.0)
        got["task"] = task.task_type
        # the metric the plan keeps as stated (a default, or words set aside, is no metric read)
        stated = [d for d, w in why if d.startswith("metric ") and w.startswith("stated")]
        got["metric"] = task.metric if stated else None
    except (ValueError, NeedsInput) as err:
        got["task"] = f"error: {err}"
    return got


def expected(item: dict) -> dict:
    """The corpus' expectation of each field; what it leaves out is unset."""
    e = item["expect"]
    return {"task": e.get("task"), "metric": e.get("metric"), "budget_s": e.get("budget_s"),
            "goal": e.get("goal"), "drop": sorted(e.get("drop") or [])}


def same(field: str, want, got) -> bool:
    """Equal, with budgets and goals compared as numbers."""
    if field in ("budget_s", "goal") and want is not None and isinstance(got, float | int):
        return abs(float(want) - float(got)) < 1e-9
    return want == got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "shared" / "requests" / "dev.yaml",
                        help="also: benchmarks/corpus_fields/requests.yaml")
    parser.add_argument("--datasets", type=Path, default=ROOT / "shared" / "datasets")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    items = yaml.safe_load(args.corpus.read_text())
    missing = sorted({i["data"] for i in items if not (args.datasets / i["data"]).exists()})
    asking = [i for i in items if "target" not in i["expect"]]  # a question: the target's
    items = [i for i in items if (args.datasets / i["data"]).exists() and i not in asking]
    right = dict.fromkeys(FIELDS, 0)
    misses = []
    for item in items:
        got, want = read_fields(item, args.datasets), expected(item)
        for f in FIELDS:
            if same(f, want[f], got[f]):
                right[f] += 1
            else:
                misses.append((item["request"], f, want[f], got[f]))
        all_right = all(same(f, want[f], got[f]) for f in FIELDS)
        right.setdefault("all", 0)
        right["all"] += all_right
    n = len(items)
    print(f"{args.corpus.name}: {n} requests"
          + (f" (skipped those on missing data: {', '.join(missing)})" if missing else "")
          + (f"; {len(asking)} that expect a question left out" if asking else ""))
    print(f"{'field':<10} {'right':>6} {'rate':>6}")
    for f in (*FIELDS, "all"):
        print(f"{f:<10} {right[f]:>6} {right[f] / n:>6.1%}")
    if args.show_misses:
        for text, f, want, got in misses:
            print(f"- {f}: want {want!r}, got {got!r}  <- {text}")


if __name__ == "__main__":
    main()
