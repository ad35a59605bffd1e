"""The escape corpus against the sandbox: every probe in one run (reading, writing,
network, environment, /proc, symlinks, privileges), and the attacks that need a run of
their own where they are fast. `benchmarks/sandbox.py` runs all of it, one kind per run."""

from __future__ import annotations

from collections import Counter

import pytest

from mlpilot.sandbox import Limits
from tests.sandbox.conftest import needs_bwrap
from tests.sandbox.escape_arena import Arena, load_corpus

LIMITS = Limits(cpu_s=3, wall_s=6, memory_mb=1024, file_size_mb=16, scratch_mb=32,
                output_mb=4, log_kb=64, processes=32)
# attacks on the host that need a run alone: killing every process, the run's init and the
# host's canary, a daemon that tries to outlive the run, a forged result, a fork bomb
SOLOS = ("kill-every-process", "kill-init", "daemon-outlives-run", "spoofed-result", "fork-bomb")


def test_the_corpus_has_a_hundred_attempts_of_every_kind():
    corpus = load_corpus()
    kinds = Counter(a["kind"] for a in corpus)
    assert len(corpus) >= 100 and len({a["id"] for a in corpus}) == len(corpus)
    assert {"read secrets", "environment", "proc tricks", "write outside scratch", "symlinks",
            "network", "privileges", "processes", "memory", "time", "output", "disk"} <= set(kinds)


@pytest.fixture
def arena(tmp_path):
    with Arena(tmp_path, LIMITS) as arena:
        yield arena


@needs_bwrap
def test_every_probe_is_contained(arena):
    probes = [a for a in load_corpus() if not a.get("solo")]
    verdicts = arena.run_probes(probes)
    escaped = [(v.id, v.detail) for v in verdicts if not v.contained]
    assert len(verdicts) == len(probes) and not escaped


@needs_bwrap
@pytest.mark.parametrize("attempt", SOLOS)
def test_attacks_on_the_host_are_contained(arena, attempt):
    [entry] = [a for a in load_corpus() if a["id"] == attempt]
    verdict = arena.run_solo(entry)
    assert verdict.contained, verdict.detail
    assert verdict.as_expected, (verdict.expected, verdict.stopped_by)
