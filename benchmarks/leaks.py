"""Leaks and identifiers: does the critic flag every one, and nothing else?

Runs the critic's column checks (`agent.critic.column_flags`: ID-like columns, leakage,
columns known only after the outcome) on every data set of `leak_cases.py`: the shared
data sets against their manifest, scikit-learn's bundled data sets clean, and the same
with leaks and identifiers put in. For each it prints the columns expected, the columns
flagged (with the kind of flag), those missed, the false flags, and the critic's time
(wall and CPU: on a shared machine the CPU time is the steadier figure); a column the
critic keeps with advice (the weaker half of an arithmetic identity, `leak(kept)`) is shown
but counts as neither;
then the totals: recall over the expected columns, the false-flag count, and the time.

    .venv/bin/python benchmarks/leaks.py [--only diabetes,glass] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from leak_cases import all_cases  # this folder's

from mlpilot.agent.critic import column_flags

KINDS = {"id_like": "id", "leakage": "leak", "post_outcome": "post"}


def main() -> None:
    """Run the critic on every case and print the table and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injected columns")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}

    rows = []
    header = (f"{'data set':30s} {'rows':>6s} {'cols':>4s} {'ms':>6s} {'cpu':>6s}  expected | "
              "found | "
              "missed | false")
    print(header)
    print("-" * len(header))
    for case in all_cases(args.seed):
        if wanted and case.name not in wanted:
            continue
        started, cpu = time.perf_counter(), time.process_time()
        flags = column_flags(case.df, case.target, case.task)
        ms = (time.perf_counter() - started) * 1000
        cpu_ms = (time.process_time() - cpu) * 1000
        # the partner of an identity that the critic keeps ("advise": keep it, its partner is
        # dropped) is shown, and is neither a catch nor a false flag
        found = {f.column: KINDS[f.kind] + ("(kept)" if f.action == "advise" else "")
                 for f in flags}
        acted = {c for c, k in found.items() if not k.endswith("(kept)")}
        missed = sorted(case.expected - acted)
        false = sorted(acted - case.expected)
        rows.append({"name": case.name, "source": case.source, "rows": len(case.df),
                     "columns": case.df.shape[1], "ms": round(ms, 1), "cpu_ms": round(cpu_ms, 1),
                     "expected": sorted(case.expected), "found": found, "missed": missed,
                     "false": false, "evidence": {f.column: f.evidence for f in flags}})
        shown = ", ".join(f"{c}:{k}" for c, k in sorted(found.items())) or "-"
        print(f"{case.name:30s} {len(case.df):6d} {case.df.shape[1]:4d} {ms:6.0f} {cpu_ms:6.0f}  "
              f"{', '.join(sorted(case.expected)) or '-'} | {shown} | "
              f"{', '.join(missed) or '-'} | {', '.join(false) or '-'}", flush=True)

    expected = sum(len(r["expected"]) for r in rows)
    hits = expected - sum(len(r["missed"]) for r in rows)
    false = sum(len(r["false"]) for r in rows)
    clean = [r for r in rows if not r["expected"]]
    print()
    print(f"recall {hits}/{expected} = {hits / max(expected, 1):.2f}; false flags {false} "
          f"(on {sum(bool(r['false']) for r in rows)} of {len(rows)} data sets; "
          f"{sum(bool(r['false']) for r in clean)} of {len(clean)} clean ones)")
    for key, what in (("ms", "wall"), ("cpu_ms", "CPU")):
        times = sorted(r[key] for r in rows)
        print(f"critic {what} time per data set: median {times[len(times) // 2]:.0f} ms, "
              f"max {times[-1]:.0f} ms ({max(rows, key=lambda r: r[key])['name']})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
