"""The metric a request names and the score it asks for ("at least 95% accuracy").

Names of measures outside the contract map to the nearest contract metric with a note;
goals are read only from numbers that are not durations or counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, get_args

from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.budget_reading import duration_groups
from mlpilot.agent.request_text import Mention, Span, longest_first, normalise
from mlpilot.engine.config import LOWER_IS_BETTER, Metric


@dataclass(frozen=True)
class MetricReading:
    """The metric a request names, the words it was read from, and a note when those words
    name a measure the contract lacks ("log loss" is read as roc_auc).

    `loose` words ("accurately", 精度) may mean something else: they never decide the task
    type, and the planner sets them aside when they do not fit it.
    """

    metric: Metric | None = None
    evidence: str | None = None
    note: str | None = None
    loose: bool = False



class _MetricMention(NamedTuple):
    start: int
    end: int
    name: str  # the contract metric
    note: str | None = None  # set when the words name a measure the contract lacks
    loose: bool = False
    complement: bool = False  # the measure is 1 - the metric (error rate, accuracy)


def metric_mentions(norm: str) -> list[_MetricMention]:
    """Every metric named in the folded text, overlaps resolved to the longest name."""
    found = [_MetricMention(m.start(), m.end(), name) for name, pattern in lex.METRICS.items()
             for m in pattern.finditer(norm)]
    for phrase, (metric, pattern, note) in lex.NEAR_METRICS.items():
        # once the contract has the measure itself ("log loss"), it is read as itself
        own = phrase in get_args(Metric)
        found += [_MetricMention(m.start(), m.end(), phrase if own else metric,
                                 None if own else note,
                                 complement=not own and phrase in lex.COMPLEMENT_METRICS)
                  for m in pattern.finditer(norm)]
    found += [_MetricMention(m.start(), m.end(), name, loose=True)
              for name, pattern in lex.LOOSE_METRICS.items() for m in pattern.finditer(norm)]
    return longest_first(found)


def read_metric(text: str) -> MetricReading:
    """The metric a request names, with the words it was read from.

    The longest name wins where names overlap ("balanced accuracy" is not "accuracy"); of
    separate names, the first one written, and loose words only when nothing else is named.
    Precision ("精确率") and recall ("召回率", "sensitivity") are contract metrics; recall
    averaged over the classes ("macro recall") is balanced accuracy. Names of measures
    outside the contract map to the nearest metric with a note: "precision and recall" to
    F1, log loss ("对数损失") to roc_auc, MAPE to MAE; MSE ("均方误差") is read as RMSE,
    which ranks models the same way.
    """
    norm = normalise(text)
    mentions = [m for m in metric_mentions(norm)  # "F1 is not what I want", "not accuracy"
                if not re.search(lex.NEGATION_BEFORE, norm[max(0, m.start - 16):m.start])
                and not re.match(lex.NEGATION_AFTER, norm[m.end:])]
    chosen = next((m for m in mentions if not m.loose), mentions[0] if mentions else None)
    if chosen is None:
        return MetricReading()
    return MetricReading(chosen.name, norm[chosen.start:chosen.end], chosen.note,  # type: ignore[arg-type]
                         chosen.loose)


def parse_metric(text: str) -> Metric | None:
    """The metric a request names ("F1", "R²", "balanced accuracy", "准确率", "召回率"), or
    None; `read_metric` says which words it came from."""
    return read_metric(text).metric


_RANGE = re.compile(r"(?<![\d.])\d+(?:\.\d+)?\s*(?:到|至|~|～|–|-|\bto\b)\s*\d+(?:\.\d+)?(?![\d.])")


def _goal_numbers(norm: str) -> list[Span]:
    """Numbers that could be a goal: not part of a duration, not a count ("1000 rows")."""
    taken = [s for group in duration_groups(norm) for s in group]
    found = [Span(m.start(), m.end(), float(m[1].replace(",", "")) * (1000 if m[2] else 1),
                   flag=bool(m[3])) for m in lex.GOAL_NUMBER.finditer(norm)]
    found += [Span(m.start(), m.end(), lex.number(m[1]), flag=True)
              for m in lex.CN_PERCENT.finditer(norm)]
    found += [Span(m.start(), m.end(), lex.number(m[1]) * 10 + (lex.number(m[2]) if m[2] else 0),
                    flag=True) for m in lex.CN_TENTHS.finditer(norm)]
    found += [Span(m.start(), m.end(), lex.word_number(m[1]), flag=True)
              for m in lex.EN_WORD_PERCENT.finditer(norm)
              if m[1] not in ("a", "an") and "couple" not in m[1]]
    # a range is a scale, not a goal: "rated 1 to 5", "（1到5分）"
    taken += [Span(m.start(), m.end(), 0.0) for m in _RANGE.finditer(norm)]
    return [n for n in longest_first(found)
            if not any(t.start < n.end and n.start < t.end for t in taken)
            and not re.match(r"\s*" + lex.COUNT_NOUNS, norm[n.end:])]


def _owner(norm: str, number: Span, mentions: list[Mention]) -> Mention | None:
    """The metric a number belongs to: "accuracy of at least 0.9", "95% accuracy"."""
    before = [m for m in mentions if m.end <= number.start]
    if before:
        gap = norm[before[-1].end:number.start]
        if re.search(lex.COMPARATOR, gap):  # "accuracy, at least 0.9"; a bare comma is a list
            gap = re.sub("[,，]", " ", gap)
        if len(gap) <= 40 and lex.GOAL_GAP_BEFORE.fullmatch(gap):
            return before[-1]
    after = [m for m in mentions if m.start >= number.end]
    if after and len(norm[number.end:after[0].start]) <= 20 \
            and lex.GOAL_GAP_AFTER.fullmatch(norm[number.end:after[0].start]):
        return after[0]
    return None


def _as_goal(number: Span, metric: str | None) -> float:
    """Percentages become fractions; so do 1-100 scores for bounded metrics ("accuracy 95")."""
    if number.flag:
        return number.value / 100
    if metric is not None and metric not in LOWER_IS_BETTER and 1 < number.value <= 100:
        return number.value / 100
    return number.value


def parse_goal(text: str, metric: str | None) -> float | None:
    """The score a request asks for, or None: "at least 95% accuracy" is 0.95.

    Args:
        text: the request.
        metric: the metric the goal is for (from `parse_metric` or the user); a number tied
            to another metric ("f1 above 0.8" when metric is accuracy) is not its goal.

    Percentages become fractions, and so do 1-100 values of accuracy-like metrics and r2;
    error metrics keep their units ("rmse below 50000" is 50000.0). Durations ("2
    minutes") and counts ("1000 rows") are never goals.
    """
    norm = normalise(text)
    mentions = metric_mentions(norm)
    firm = [m for m in mentions if not m.loose]
    loose = [m for m in mentions if m.loose]
    fallback = None
    for number in _goal_numbers(norm):
        # a metric named outright owns a number before a loose word does: "error under 2
        # (RMSE)"; a bare "error" stands for whichever error metric is chosen
        owner = _owner(norm, number, firm) or _owner(norm, number, loose)
        if owner is not None and (metric in (None, owner.name) or (
                owner.loose and owner.name in LOWER_IS_BETTER and metric in LOWER_IS_BETTER)):
            goal = _as_goal(number, metric or owner.name)
            return round(1.0 - goal, 12) if owner.complement else goal
        window = norm[max(0, number.start - 24):number.start]
        compared = (re.search(lex.COMPARED + "$", window)
                    or re.match(r"\s*" + lex.GOAL_CUE_AFTER, norm[number.end:]))
        if owner is None and fallback is None and compared:
            goal = _as_goal(number, metric)
            amount = re.match(r"\s*" + lex.AMOUNT_AFTER, norm[number.end:])
            # with no metric named, "more than 1000" is unlikely to be a score out of 1
            if (metric in LOWER_IS_BETTER or goal <= 1) and not amount:
                fallback = goal
    return fallback


def goal_is_stated(text: str, goal: float) -> bool:
    """Whether the request writes `goal` as a number in any form ("0.9", "90%", "九成",
    "ninety percent", "百分之九十"), so that a goal another reader (an LLM) proposes is
    one the user stated, not one it invented."""
    norm = normalise(text)
    values = [float(m[1].replace(",", "")) for m in lex.GOAL_NUMBER.finditer(norm)]
    values += [lex.number(m) for m in re.findall(lex.CN_NUMERAL, norm)]
    values += [lex.word_number(m[1]) for m in lex.EN_WORD_NUMBER.finditer(norm)
               if m[1] not in ("a", "an") and "couple" not in m[1]]
    values += [s.value for s in _goal_numbers(norm)]
    return any(abs(v - goal) < 1e-9 or abs(v / 100 - goal) < 1e-9 for v in values)
