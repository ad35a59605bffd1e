"""The sandbox against the whole escape corpus, and its start-up overhead.

1. Every attempt of `tests/sandbox/escapes.yaml` (over 100: reading secrets, writing
   outside scratch, network of every kind, environment, /proc, symlinks, privileges and
   signals, fork/memory/CPU/output/disk bombs). Probes run one run per kind (`--each`: one
   run per probe); resource attacks and attacks on the host run alone. Prints each attempt
   with what stopped it (the limit, or the error the isolation raised), then a table by
   kind: attempts, contained, escaped.
2. Start-up overhead: a trivial transform in the sandbox against the same harness, inputs
   and code run directly on the host (no isolation), the median of `--repeat` interleaved pairs' differences.

    .venv/bin/python benchmarks/sandbox.py [--each] [--repeat 15] [--kind network]

Needs bubblewrap (`apt-get install bubblewrap`); run as root for the pids cgroup, the fresh
uid per run and the inode cap of scratch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd

from mlpilot.sandbox import Limits, run_function
from mlpilot.sandbox.runner import _HARNESS

# the corpus and its arena live beside the tests they serve (`tests/` is not part of the
# installed package): import them from this checkout
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.sandbox.escape_arena import Arena, Verdict, load_corpus

LIMITS = Limits(cpu_s=3, wall_s=12, memory_mb=1024, file_size_mb=16, scratch_mb=32,
                scratch_files=2000, output_mb=4, log_kb=64, processes=32)
TRIVIAL = "def transform(df):\n    return df.assign(b=df.a * 2)\n"


def corpus_section(args: argparse.Namespace, workdir: Path) -> list[Verdict]:
    """Run the corpus; print each attempt and the table by kind."""
    corpus = [a for a in load_corpus() if not args.kind or a["kind"] == args.kind]
    verdicts: list[Verdict] = []
    with Arena(workdir, LIMITS) as arena:
        probes_by_kind = defaultdict(list)
        for attempt in corpus:
            if not attempt.get("solo"):
                probes_by_kind[attempt["kind"]].append(attempt)
        for probes in probes_by_kind.values():
            groups = [[p] for p in probes] if args.each else [probes]
            for group in groups:
                verdicts += arena.run_probes(group)
        verdicts += [arena.run_solo(a) for a in corpus if a.get("solo")]
    print(f"{'attempt':28} {'kind':22} {'verdict':9} stopped by")
    for v in verdicts:
        flag = "" if v.as_expected else f"   (expected {v.expected})"
        print(f"{v.id:28} {v.kind:22} {'contained' if v.contained else 'ESCAPED':9} "
              f"{v.stopped_by}{flag}")
        if not v.contained:
            print(f"{'':61}{v.detail}")
    print()
    table = defaultdict(lambda: [0, 0, 0])
    for v in verdicts:
        row = table[v.kind]
        row[0] += 1
        row[1 if v.contained else 2] += 1
    print("| kind | attempts | contained | escaped |\n| --- | --- | --- | --- |")
    for kind, (total, contained, escaped) in table.items():
        print(f"| {kind} | {total} | {contained} | {escaped} |")
    totals = [sum(r[i] for r in table.values()) for i in range(3)]
    print(f"| **all** | {totals[0]} | {totals[1]} | {totals[2]} |")
    unexpected = [v.id for v in verdicts if not v.as_expected]
    print(f"\nstopped by another limit than the corpus names: {unexpected or 'none'}")
    return verdicts


def _direct_run(source: str, frame: pd.DataFrame) -> float:
    """The harness on the host, unisolated (trusted code only): the baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.monotonic()
        frame.to_parquet(folder / "df.parquet", index=False)
        (folder / "code.py").write_text(source)
        shutil.copyfile(_HARNESS, folder / "harness.py")
        result_r, result_w = os.pipe()
        status_r, status_w = os.pipe()
        (folder / "spec.json").write_text(json.dumps({
            "function": "transform", "inputs": ["df"], "input_dir": str(folder),
            "code": str(folder / "code.py"), "result_fd": result_w, "status_fd": status_w}))
        proc = subprocess.Popen([sys.executable, "-I", "-B", str(folder / "harness.py"),
                                 str(folder / "spec.json")], pass_fds=(result_w, status_w))
        os.close(result_w)
        os.close(status_w)
        with os.fdopen(result_r, "rb") as out, os.fdopen(status_r) as status:
            table, lines = out.read(), status.read()
        proc.wait()
        assert '"ok": true' in lines and table, lines
        return time.monotonic() - started


def overhead_section(repeat: int) -> None:
    """Median wall time of a trivial transform in the sandbox and directly."""
    frame = pd.DataFrame({"a": range(1000)})
    sandboxed, direct = [], []
    for _ in range(repeat):  # interleaved, so a busy spell hits both alike
        started = time.monotonic()
        result = run_function(TRIVIAL, {"df": frame}, purpose="overhead benchmark")
        sandboxed.append(time.monotonic() - started)
        assert result.ok, result.message
        direct.append(_direct_run(TRIVIAL, frame))
    s, d = statistics.median(sandboxed), statistics.median(direct)
    paired = statistics.median(a - b for a, b in zip(sandboxed, direct, strict=True))
    quartiles = statistics.quantiles([a - b for a, b in zip(sandboxed, direct, strict=True)], n=4)
    print(f"\nstart-up overhead ({repeat} interleaved pairs; both import pandas and pyarrow):")
    print(f"  sandboxed run {s * 1000:.0f} ms, same harness unisolated {d * 1000:.0f} ms "
          f"(medians); overhead per run: median of the pairs' differences {paired * 1000:.0f} ms "
          f"(quartiles {quartiles[0] * 1000:.0f} .. {quartiles[2] * 1000:.0f} ms)")


def main() -> int:
    """Run the corpus and the overhead measurement; exit 1 if anything escaped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--each", action="store_true", help="one run per probe")
    parser.add_argument("--repeat", type=int, default=15, help="runs for the overhead")
    parser.add_argument("--kind", help="only the attempts of this kind")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = corpus_section(args, Path(tmp))
    overhead_section(args.repeat)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    return 1 if any(not v.contained for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
