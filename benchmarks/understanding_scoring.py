"""The request corpus and how a plan is scored against it (no planning here: pure functions).

A corpus file is a YAML list of requests in the format of ../shared/requests/dev.yaml:
`request`, `data` (a file of ../shared/datasets, or `public/<file>` from `public_data`),
`category` (one or a list) and `expect`. `expect` holds what a careful data scientist reads:

| field | scored | right when |
| --- | --- | --- |
| status | always | `needs_input` if expected, else `planned` |
| target | if stated | `task.target` is it (or one of a list) |
| task | if stated | `task.task_type` |
| metric | if stated | `task.metric` is it (or one of a list) |
| budget_s | always (absent: 60) | `task.budget_s` within half a second |
| goal | always (absent: null) | `task.goal`, both null or within 1e-6 |
| drop | if stated | every column asked to leave out is in `task.drop_columns`, and any other dropped column was flagged by the critic or holds no values |
| leak | if stated | every leaky / ID-like column is dropped or flagged (`critic.leakage`, `critic.id_like`, `critic.post_outcome`) |

Where `needs_input` is expected only the fields the entry states are scored (a question has
no budget). An unexpected question gets target, task and leak wrong, and its other fields
are scored from the partial `task` the contract keeps (what the request stated). A plan that failed (error, crash, output that is not one JSON document) gets
every scored field wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
#: The corpus parts, in report order: name -> YAML file.
PARTS = {
    "shared": SHARED / "requests" / "dev.yaml",
    "dev": HERE / "corpus" / "dev.yaml",
    "dev_new": HERE / "corpus" / "dev_new.yaml",
    "dev_r3": HERE / "corpus" / "dev_r3.yaml",
    "dev_r4": HERE / "corpus" / "dev_r4.yaml",
    "dev_r5": HERE / "corpus" / "dev_r5.yaml",
    "dev_r6": HERE / "corpus" / "dev_r6.yaml",
    "held_out": HERE / "corpus" / "held_out.yaml",
}
FIELDS = ("status", "target", "task", "metric", "budget_s", "goal", "drop", "leak")
DEFAULT_BUDGET_S = 60.0
#: Critic findings that flag a column as leaking the target or identifying the row.
LEAK_CHECKS = ("critic.leakage", "critic.id_like", "critic.post_outcome")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")


@dataclass
class Case:
    """One request of the corpus, with what it should be read as."""

    part: str
    index: int
    request: str
    data: str
    categories: list[str]
    expect: dict[str, Any]

    @property
    def language(self) -> str:
        """"zh" when the request has any Chinese in it (Chinese or mixed), else "en"."""
        return "zh" if _CJK.search(self.request) else "en"

    @property
    def key(self) -> str:
        """A stable name for the case: part and position."""
        return f"{self.part}#{self.index}"


@dataclass
class FieldScore:
    """One scored field: right or not, what was expected and what the plan said."""

    field: str
    ok: bool
    expected: Any
    got: Any


@dataclass
class PlanOutcome:
    """What planning one request produced: the JSON document, or the error instead."""

    doc: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def load_part(part: str, path: Path | None = None) -> list[Case]:
    """The cases of one corpus part (`shared`, `dev`, `dev_new` or `held_out`)."""
    path = path or PARTS[part]
    entries = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    cases = []
    for i, entry in enumerate(entries):
        category = entry.get("category") or []
        cases.append(Case(part=part, index=i, request=str(entry["request"]),
                          data=str(entry["data"]),
                          categories=[category] if isinstance(category, str) else list(category),
                          expect=dict(entry.get("expect") or {})))
    return cases


def load_corpus(parts: list[str] | None = None) -> list[Case]:
    """Every case of the named parts (default: all), in report order."""
    return [c for p in (parts or list(PARTS)) for c in load_part(p)]


def expected_fields(expect: dict[str, Any]) -> dict[str, Any]:
    """The fields scored for an entry and their expected values (defaults filled in)."""
    status = expect.get("status", "planned")
    fields: dict[str, Any] = {"status": status}
    for name in ("target", "task", "metric", "drop", "leak"):
        if name in expect:
            fields[name] = expect[name]
    if status == "needs_input":
        for name in ("budget_s", "goal"):
            if name in expect:
                fields[name] = expect[name]
    else:
        fields["budget_s"] = float(expect.get("budget_s", DEFAULT_BUDGET_S))
        fields["goal"] = expect.get("goal")
    return fields


def flagged_columns(doc: dict[str, Any]) -> set[str]:
    """Columns the plan flags as leaking the target or identifying rows.

    A finding names its column in a `column` key where it has one; otherwise the critic's
    hint ("drop column 'x': ...") names it first, then the message.
    """
    flagged = set()
    for finding in doc.get("findings") or []:
        if finding.get("check_id") not in LEAK_CHECKS:
            continue
        if finding.get("column"):
            flagged.add(str(finding["column"]))
            continue
        for text in (finding.get("hint"), finding.get("message")):
            found = _QUOTED.search(str(text or ""))
            if found:
                flagged.add(found.group(1) or found.group(2))
                break
    return flagged


def dropped_columns(doc: dict[str, Any]) -> set[str]:
    """Every column the plan leaves out of training (task and preprocessing)."""
    task = doc.get("task") or {}
    pre = ((doc.get("config") or {}).get("preprocessing") or {})
    return set(task.get("drop_columns") or []) | set(pre.get("drop_columns") or [])


#: Fields that only a plan with a target can get right.
_NEEDS_A_TARGET = ("target", "task", "leak")


def score_plan(expect: dict[str, Any], outcome: PlanOutcome,
               empty_columns: set[str] = frozenset()) -> list[FieldScore]:
    """Score one plan against an entry's `expect`; `empty_columns` are the data's all-missing ones."""
    wanted = expected_fields(expect)
    doc = outcome.doc
    if doc is None:
        got = f"error: {outcome.error}" if outcome.error else "error"
        return [FieldScore(f, False, v, got) for f, v in wanted.items()]
    task = doc.get("task") or {}
    status = doc.get("status")
    scores = []
    for name, want in wanted.items():
        if name == "status":
            got = "needs_input" if status == "needs_input" else status
            scores.append(FieldScore(name, got == want, want, got))
            continue
        # a question keeps what the request stated (metric, goal, budget, drops: the
        # contract's partial task), but no target, task type or critic review
        if (status == "needs_input" and name in _NEEDS_A_TARGET) or not task:
            asked = f"(asked: {doc.get('question')})" if status == "needs_input" else None
            scores.append(FieldScore(name, False, want, asked))
            continue
        scores.append(_score_field(name, want, task, doc, empty_columns))
    return scores


def _score_field(name: str, want: Any, task: dict[str, Any], doc: dict[str, Any],
                 empty_columns: set[str]) -> FieldScore:
    if name in ("target", "metric"):
        got = task.get("target" if name == "target" else "metric")
        options = want if isinstance(want, list) else [want]
        return FieldScore(name, got in options, want, got)
    if name == "task":
        got = task.get("task_type")
        return FieldScore(name, got == want, want, got)
    if name == "budget_s":
        got = task.get("budget_s")
        ok = isinstance(got, int | float) and abs(float(got) - float(want)) <= 0.5
        return FieldScore(name, ok, want, got)
    if name == "goal":
        got = task.get("goal")
        if want is None or got is None:
            return FieldScore(name, want is None and got is None, want, got)
        return FieldScore(name, math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-9),
                          want, got)
    if name == "drop":
        dropped = dropped_columns(doc)
        explained = set(want) | flagged_columns(doc) | set(empty_columns)
        ok = set(want) <= dropped <= explained
        return FieldScore(name, ok, sorted(want), sorted(dropped))
    if name == "leak":
        caught = (dropped_columns(doc) | flagged_columns(doc)) - {task.get("target")}
        return FieldScore(name, set(want) <= caught, sorted(want), sorted(caught & set(want)))
    raise ValueError(f"unknown field {name!r}: scored fields are {', '.join(FIELDS)}")
