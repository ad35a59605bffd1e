"""The time budget a request states: "2 minutes", "1h30m", "一个半小时", "a quarter of an hour"."""

from __future__ import annotations

import re

from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.request_text import RequestError, Span, longest_first, normalise


def _durations(norm: str) -> list[Span]:
    """Every duration written in the text, each with its seconds."""
    found = []
    for m in lex.EN_DURATION.finditer(norm):
        unit = lex.EN_UNIT_SECONDS[m[3]]
        # "the 90s" is a decade, not a minute and a half
        if m[3] == "s" and re.search(r"\bthe\s+$", norm[:m.start()]):
            continue
        found.append(Span(m.start(), m.end(), float(m[2]) * unit, unit, bool(m[1])))
    for m in lex.EN_WORD_DURATION.finditer(norm):
        unit, half = lex.EN_UNIT_SECONDS[m[3]], 0.5 if (m[2] or m[4]) else 0.0
        found.append(Span(m.start(), m.end(), (lex.word_number(m[1]) + half) * unit, unit))
    for m in lex.EN_FRACTION.finditer(norm):
        unit = lex.EN_UNIT_SECONDS[m[3]]
        count = lex.word_number(m[1]) if m[1] else 1.0
        found.append(Span(m.start(), m.end(), count * lex.EN_PARTS[m[2]] * unit, unit))
    found += [Span(m.start(), m.end(), lex.CN_UNIT_SECONDS[m[1]] / 2, lex.CN_UNIT_SECONDS[m[1]])
              for m in lex.CN_HALF.finditer(norm)]
    for m in lex.CN_DURATION.finditer(norm):
        unit, half = lex.CN_UNIT_SECONDS[m[4]], 0.5 if (m[3] or m[5]) else 0.0
        found.append(Span(m.start(), m.end(), (lex.number(m[2]) + half) * unit, unit,
                           bool(m[1]), bare=m[4] == "分" and not (m[5] or m[6])))
    return longest_first(found)


def duration_groups(norm: str) -> list[list[Span]]:
    """Durations merged into the times they spell together: "1 hour and 30 minutes"."""
    groups: list[list[Span]] = []
    for span in _durations(norm):
        last = groups[-1][-1] if groups else None
        if (last and span.unit < last.unit
                and re.fullmatch(r"\s*(?:,|and|又|零)?\s*", norm[last.end:span.start])):
            groups[-1].append(span)
        elif not span.bare:
            groups.append([span])
    return groups


def parse_budget(text: str) -> float | None:
    """The time budget a request states, in seconds, or None when it states none.

    Reads "2 minutes", "90s", "1h30m", "in under 3 min", "an hour and a half", "三分钟",
    "一个半小时", "2 分钟内" and the like. When several times appear, one marked as a limit
    ("within", "under", "以内") wins, else the first. Numbers without a unit ("95%",
    "0.95") are never a budget.

    Raises:
        RequestError: the budget is zero or negative, or unbounded ("forever", "无限").
    """
    norm = normalise(text)
    groups = duration_groups(norm)
    if not groups:
        unbounded = re.search(lex.UNBOUNDED, norm)
        if unbounded:
            raise RequestError(f"budget '{unbounded[0]}' is not a time limit: "
                               "give one, e.g. '2 minutes'")
        return None

    def is_limit(group: list[Span]) -> bool:
        before = norm[max(0, group[0].start - 20):group[0].start]
        return bool(re.search(lex.BUDGET_CUE_BEFORE, before)
                    or re.match(lex.BUDGET_CUE_AFTER, norm[group[-1].end:]))

    chosen = next((g for g in groups if is_limit(g)), groups[0])
    seconds = sum(s.value for s in chosen)
    if seconds <= 0 or any(s.flag for s in chosen):
        phrase = norm[chosen[0].start:chosen[-1].end]
        raise RequestError(f"budget '{phrase}' must be a positive time, e.g. '2 minutes' or '90s'")
    return float(seconds)
