"""The offline expert's reading of a plain-language ML request, in English or Chinese.

Where an LLM would read "predict species, at least 95% accuracy, within 2 minutes", the
offline expert calls `understand`: deterministic, pure functions that pull out the target
column, metric, goal, time budget, columns to leave out and any task-type hint. The word
lists live in `understanding_lexicon`; positions here index `normalise(text)`.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, NamedTuple, get_args

from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.glossary import gloss_english
from mlpilot.engine.config import LOWER_IS_BETTER, Metric, TaskType


class RequestError(ValueError):
    """The request itself is unusable; `str(err)` is one line: the problem and what to do."""


@dataclass(frozen=True)
class TargetMatch:
    """The column a request asks to predict, and the words of the request that say so."""

    column: str
    evidence: str


@dataclass(frozen=True)
class MetricReading:
    """The metric a request names, the words it was read from, and a note when those words
    name a measure the contract lacks ("recall" is read as balanced accuracy).

    `loose` words ("accurately", 精度) may mean something else: they never decide the task
    type, and the planner sets them aside when they do not fit it.
    """

    metric: Metric | None = None
    evidence: str | None = None
    note: str | None = None
    loose: bool = False


@dataclass(frozen=True)
class TaskIntent:
    """What the words of a request say the target is: classes or a quantity.

    `stated` is an outright statement ("classify", "as categories", "as a number",
    "regression"), which decides over the data's shape; otherwise the words only lean
    ("how many ...?", "which kind ...?"). `evidence` quotes them.
    """

    kind: Literal["classification", "regression"] | None = None
    stated: bool = False
    evidence: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Understanding:
    """Everything `understand` read from one request; None means the request did not say."""

    target: TargetMatch | None = None
    metric: Metric | None = None
    goal: float | None = None
    budget_s: float | None = None
    drop_columns: list[str] = field(default_factory=list)
    task_type_hint: TaskType | None = None
    has_intent: bool = False
    #: What the words say the target is, apart from how many classes (see `read_task_intent`).
    task_intent: TaskIntent = field(default_factory=lambda: TaskIntent())
    #: The words the metric was read from, and why they mean it (not compared: evidence).
    metric_reading: MetricReading = field(default_factory=lambda: MetricReading(),
                                          compare=False)


class _Span(NamedTuple):
    start: int
    end: int
    value: float  # seconds for a duration, the number itself for a goal
    unit: float = 0.0  # seconds per unit of a duration, to merge "1h30m"
    flag: bool = False  # duration: written negative; goal: written as a percentage
    bare: bool = False  # a bare 分, which is only a minute right after an hour


class _Mention(NamedTuple):
    start: int
    end: int
    name: str  # the column, or the metric
    quoted: bool = False


_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "「": '"', "」": '"',
                         "−": "-"})


def normalise(text: str) -> str:
    """Fold a request for matching: NFKC (full-width to ASCII, "R²" to "r2"), lower case."""
    return unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()


def _longest_first(found: list) -> list:
    """Drop matches that overlap a longer one, so "balanced accuracy" beats "accuracy"."""
    kept: list = []
    for item in sorted(found, key=lambda f: (f[0] - f[1], f[0])):
        if all(item[1] <= k[0] or k[1] <= item[0] for k in kept):
            kept.append(item)
    return sorted(kept, key=lambda f: f[0])


# --- budget --------------------------------------------------------------------------------

def _durations(norm: str) -> list[_Span]:
    """Every duration written in the text, each with its seconds."""
    found = []
    for m in lex.EN_DURATION.finditer(norm):
        unit = lex.EN_UNIT_SECONDS[m[3]]
        # "the 90s" is a decade, not a minute and a half
        if m[3] == "s" and re.search(r"\bthe\s+$", norm[:m.start()]):
            continue
        found.append(_Span(m.start(), m.end(), float(m[2]) * unit, unit, bool(m[1])))
    for m in lex.EN_WORD_DURATION.finditer(norm):
        unit, half = lex.EN_UNIT_SECONDS[m[3]], 0.5 if (m[2] or m[4]) else 0.0
        found.append(_Span(m.start(), m.end(), (lex.word_number(m[1]) + half) * unit, unit))
    for pattern, units in ((lex.EN_HALF, lex.EN_UNIT_SECONDS), (lex.CN_HALF, lex.CN_UNIT_SECONDS)):
        found += [_Span(m.start(), m.end(), units[m[1]] / 2, units[m[1]])
                  for m in pattern.finditer(norm)]
    for m in lex.CN_DURATION.finditer(norm):
        unit, half = lex.CN_UNIT_SECONDS[m[4]], 0.5 if (m[3] or m[5]) else 0.0
        found.append(_Span(m.start(), m.end(), (lex.number(m[2]) + half) * unit, unit,
                           bool(m[1]), bare=m[4] == "分" and not (m[5] or m[6])))
    return _longest_first(found)


def _duration_groups(norm: str) -> list[list[_Span]]:
    """Durations merged into the times they spell together: "1 hour and 30 minutes"."""
    groups: list[list[_Span]] = []
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
    groups = _duration_groups(norm)
    if not groups:
        unbounded = re.search(lex.UNBOUNDED, norm)
        if unbounded:
            raise RequestError(f"budget '{unbounded[0]}' is not a time limit: "
                               "give one, e.g. '2 minutes'")
        return None

    def is_limit(group: list[_Span]) -> bool:
        before = norm[max(0, group[0].start - 20):group[0].start]
        return bool(re.search(lex.BUDGET_CUE_BEFORE, before)
                    or re.match(lex.BUDGET_CUE_AFTER, norm[group[-1].end:]))

    chosen = next((g for g in groups if is_limit(g)), groups[0])
    seconds = sum(s.value for s in chosen)
    if seconds <= 0 or any(s.flag for s in chosen):
        phrase = norm[chosen[0].start:chosen[-1].end]
        raise RequestError(f"budget '{phrase}' must be a positive time, e.g. '2 minutes' or '90s'")
    return float(seconds)


# --- metric and goal -------------------------------------------------------------------------

class _MetricMention(NamedTuple):
    start: int
    end: int
    name: str  # the contract metric
    note: str | None = None  # set when the words name a measure the contract lacks
    loose: bool = False


def _metric_mentions(norm: str) -> list[_MetricMention]:
    found = [_MetricMention(m.start(), m.end(), name) for name, pattern in lex.METRICS.items()
             for m in pattern.finditer(norm)]
    for phrase, (metric, pattern, note) in lex.NEAR_METRICS.items():
        # once the contract has the measure itself ("precision"), it is read as itself
        own = phrase in get_args(Metric)
        found += [_MetricMention(m.start(), m.end(), phrase if own else metric,
                                 None if own else note) for m in pattern.finditer(norm)]
    found += [_MetricMention(m.start(), m.end(), name, loose=True)
              for name, pattern in lex.LOOSE_METRICS.items() for m in pattern.finditer(norm)]
    return _longest_first(found)


def read_metric(text: str) -> MetricReading:
    """The metric a request names, with the words it was read from.

    The longest name wins where names overlap ("balanced accuracy" is not "accuracy"); of
    separate names, the first one written, and loose words only when nothing else is named.
    Names of measures outside the contract map to the nearest metric with a note: recall
    ("召回率") to balanced accuracy, which is recall averaged over the classes; precision
    ("精确率") to F1; MSE ("均方误差") to RMSE, which ranks models the same way.
    """
    norm = normalise(text)
    mentions = [m for m in _metric_mentions(norm)  # "F1 is not what I want", "not accuracy"
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


def _goal_numbers(norm: str) -> list[_Span]:
    """Numbers that could be a goal: not part of a duration, not a count ("1000 rows")."""
    taken = [s for group in _duration_groups(norm) for s in group]
    found = [_Span(m.start(), m.end(), float(m[1].replace(",", "")) * (1000 if m[2] else 1),
                   flag=bool(m[3])) for m in lex.GOAL_NUMBER.finditer(norm)]
    found += [_Span(m.start(), m.end(), lex.number(m[1]), flag=True)
              for m in lex.CN_PERCENT.finditer(norm)]
    found += [_Span(m.start(), m.end(), lex.number(m[1]) * 10 + (lex.number(m[2]) if m[2] else 0),
                    flag=True) for m in lex.CN_TENTHS.finditer(norm)]
    found += [_Span(m.start(), m.end(), lex.word_number(m[1]), flag=True)
              for m in lex.EN_WORD_PERCENT.finditer(norm)
              if m[1] not in ("a", "an") and "couple" not in m[1]]
    return [n for n in _longest_first(found)
            if not any(t.start < n.end and n.start < t.end for t in taken)
            and not re.match(r"\s*" + lex.COUNT_NOUNS, norm[n.end:])]


def _owner(norm: str, number: _Span, mentions: list[_Mention]) -> _Mention | None:
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


def _as_goal(number: _Span, metric: str | None) -> float:
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
    mentions = _metric_mentions(norm)
    fallback = None
    for number in _goal_numbers(norm):
        owner = _owner(norm, number, mentions)
        if owner is not None and metric in (None, owner.name):
            return _as_goal(number, metric or owner.name)
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


# --- columns: target and drops --------------------------------------------------------------

def _column_tokens(column: str) -> tuple[str, list[str], list[str]]:
    """A column name as people write it: NFKC-folded, its lower-case word tokens, and the
    trailing unit tokens they leave out."""
    folded = unicodedata.normalize("NFKC", column)
    tokens = [t.lower() for t in
              re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^\W\d_A-Za-z]+", folded)]
    optional: list[str] = []
    while len(tokens) > 1 and tokens[-1] in lex.UNIT_TOKENS:
        optional.insert(0, tokens.pop())
    return folded, tokens, optional


@lru_cache(maxsize=4096)
def _column_anchor(column: str) -> str:
    """Text every mention of the column contains (its first word, or the part its noun
    forms share): a request without it cannot name the column, so its pattern, which
    costs far more to build than a substring test, is not needed (wide tables)."""
    folded, tokens, _ = _column_tokens(column)
    if not tokens:
        return folded.lower()
    if len(tokens) > 1:
        return tokens[0]
    return os.path.commonprefix(lex.noun_forms(tokens[0]))


@lru_cache(maxsize=4096)
def _column_pattern(column: str) -> re.Pattern[str]:
    """A pattern for a column as people write it: any case, "_"/"-"/space, plurals, no unit."""
    folded, tokens, optional = _column_tokens(column)
    if not tokens:
        return re.compile(lex.B + re.escape(folded.lower()) + lex.E)
    sep = r"[\s_-]*"
    last = "(?:" + lex.alternation(lex.noun_forms(tokens[-1])) + ")"
    body = sep.join([re.escape(t) for t in tokens[:-1]] + [last])
    body += "".join(f"(?:{sep}{re.escape(t)})?" for t in optional)
    return re.compile(lex.B + body + lex.E)


def _column_mentions(norm: str, columns: list[str]) -> list[_Mention]:
    found = []
    for column in columns:
        if _column_anchor(column) not in norm:
            continue
        for m in _column_pattern(column).finditer(norm):
            # quoted, or in parentheses: "ticket class (pclass)" names the column exactly
            quoted = (m.start() > 0 and norm[m.start() - 1] in "`'\"("
                      and m.end() < len(norm) and norm[m.end()] in "`'\")")
            found.append(_Mention(m.start(), m.end(), column, quoted))
    return _longest_first(found)


def _cues(norm: str) -> list[_Mention]:
    return _longest_first([_Mention(m.start(), m.end(), kind)
                           for kind, pattern in lex.CUES.items() for m in pattern.finditer(norm)])


def _listed(norm: str, mentions: list[_Mention], position: int, backward: bool = False
            ) -> list[_Mention]:
    """The mentions listed from `position` on (or back from it) with only "and", ",", "the",
    "和", "、"... between them."""
    listed = []
    for m in reversed(mentions) if backward else mentions:
        if (m.end > position) if backward else (m.start < position):
            continue
        if not lex.LIST.fullmatch(norm[m.end:position] if backward else norm[position:m.start]):
            break
        listed.append(m)
        position = m.start if backward else m.end
    return listed


def _dropped(norm: str, mentions: list[_Mention], cues: list[_Mention]) -> list[_Mention]:
    """Mentions listed after a drop cue ("drop id and name", "忽略 id、name 两列") or before a
    Chinese "except" ("island 和 sex 以外的特征")."""
    dropped = [m for c in cues if c.name == "drop" for m in _listed(norm, mentions, c.end)]
    dropped += [m for x in re.finditer(lex.DROP_AFTER, norm)
                for m in _listed(norm, mentions, x.start(), backward=True)]
    return sorted(dropped)


def find_drop_columns(text: str, columns: list[str]) -> list[str]:
    """Columns the request asks to leave out, in the order written, without repeats.

    Reads "ignore the name column", "drop id and name", "without duration", "exclude X",
    "不要用 X", "忽略 X", "X 以外的特征"; a list may be joined by ",", "and", "和", "、".
    """
    dropped = []
    # as written, and with measures and elements written as their nouns and symbols:
    # "ignoring barium" leaves out a column named Ba
    for norm in dict.fromkeys([normalise(text), gloss_english(normalise(text), replace=True)]):
        mentions = _column_mentions(norm, columns)
        dropped += [m.name for m in _dropped(norm, mentions, _cues(norm))]
    return list(dict.fromkeys(dropped))


def _word_count(gap: str) -> float:
    # Chinese has no spaces: two characters count as about one word.
    return len(re.findall(r"[a-z0-9]+", gap)) + len(re.findall(r"[\u4e00-\u9fff]", gap)) / 2


@dataclass(frozen=True)
class ColumnMention:
    """One place the request names a column, and the part it gives the column there.

    `role` is "target" (a task verb or "… prediction" asks for it), "input" (after
    "from"/"using"/"根据"), "drop" (asked to be left out) or "named" (named otherwise);
    `rank` orders target evidence (3: asked for, 2: named); `evidence` quotes the request.
    """

    column: str
    role: str
    quoted: bool
    evidence: str
    start: int
    rank: int = 0


def column_mentions(text: str, columns: list[str]) -> list[ColumnMention]:
    """Every column the request names, in order, each with its role (see `ColumnMention`).

    A column matches however it is written ("median house value" is median_house_value,
    "prices" is price); column names that are everyday words ("who") only count when
    quoted. Roles come from the nearest cue before the mention, as `find_target` reads them.
    """
    norm = normalise(text)
    cues = _cues(norm)
    mentions = _column_mentions(norm, columns)
    dropped = set(_dropped(norm, mentions, cues))
    eligible = [m for m in mentions
                if m.quoted or norm[m.start:m.end] not in lex.WEAK_COLUMN_WORDS]
    found = []
    for mention in eligible:
        phrase = norm[mention.start:mention.end]
        if mention in dropped:
            found.append(ColumnMention(mention.name, "drop", mention.quoted,
                                       f"'{phrase}' is asked to be left out", mention.start))
            continue
        cue = next((c for c in reversed(cues) if c.end <= mention.start), None)
        suffix = re.match(r"\s*(?:'s\s*)?" + lex.TARGET_SUFFIX, norm[mention.end:])
        cn_verb = re.match(lex.CN_TARGET_AROUND[1], norm[mention.end:])
        cn_object = cn_verb and re.search(lex.CN_TARGET_AROUND[0], norm[:mention.start])
        first_after_cue = cue is not None and not any(
            cue.end <= m.start < mention.start for m in eligible if m not in dropped)
        end = mention.end + mention.quoted  # keep a closing quote in the evidence
        role, rank = "target", 3
        if cue and cue.name == "target" and first_after_cue \
                and _word_count(norm[cue.end:mention.start]) <= 6:
            evidence = f"'{norm[cue.start:end]}' asks to predict it"
        elif suffix:
            evidence = f"'{norm[mention.start:mention.end + suffix.end()]}' asks for it"
        elif cn_object:  # "对 species 分类"
            end = mention.end + cn_verb.end()  # type: ignore[union-attr]
            evidence = f"'{norm[cn_object.start():end]}' asks for it"
        elif cue and cue.name == "feature":
            role, rank, evidence = "input", 0, f"'{norm[cue.start:end]}' names an input"
        elif cue and cue.name == "drop":  # "leave out the car's name": not a list, still a drop
            role, rank, evidence = "drop", 0, f"'{norm[cue.start:end]}' asks to leave it out"
        else:
            role, rank, evidence = "named", 2, f"'{phrase}' is named in the request"
        found.append(ColumnMention(mention.name, role, mention.quoted, evidence,
                                   mention.start, rank))
    return found


def find_target(text: str, columns: list[str]) -> TargetMatch | None:
    """The column the request asks to predict, or None when it names none.

    The first column within a few words after a task verb ("predict the species of a
    penguin", "预测 species", "对 type 分类", "price prediction") wins over columns named
    elsewhere; inputs ("from"/"using"/"根据") and columns asked to be dropped are never
    the target. Ties go to the longest name, then the first written.
    """
    mentions = column_mentions(text, columns)
    never = {m.column for m in mentions if m.role == "drop"}
    best: tuple[tuple[int, int, int], TargetMatch] | None = None
    for mention in mentions:
        if mention.role not in ("target", "named") or mention.column in never:
            continue
        key = (mention.rank, len(mention.column), -mention.start)
        if best is None or key > best[0]:
            best = (key, TargetMatch(mention.column, mention.evidence))
    return best[1] if best else None


# --- task type, intent, all together ---------------------------------------------------------

def find_task_type_hint(text: str) -> TaskType | None:
    """The task type a request states, or None: "binary"/"yes/no"/"二分类" is binary,
    "multiclass"/"多分类" multiclass, "regression"/"how much"/"回归" regression.

    Plain "classify"/"分类" says classification without saying how many classes, so it
    gives None and the data decides; "logistic regression" is a classifier, not regression.
    """
    norm = normalise(text)
    if re.search(lex.BINARY, norm):
        return "binary"
    if re.search(lex.MULTICLASS, norm):
        return "multiclass"
    norm = re.sub(lex.LOGISTIC, " classification ", norm)
    if re.search(lex.REGRESSION, norm) and not re.search(lex.CLASSIFICATION, norm):
        return "regression"
    return None


def read_task_intent(text: str) -> TaskIntent:
    """Whether the words say the target is classes or a quantity, and how firmly.

    A statement ("classify", "treat the codes as categories", "which class", "分类",
    "as a number", "regression", "回归") outweighs a question of amount or kind ("how many
    hours ...?", "多少", "which kind ...?"): "How many cylinders? It's a classification
    problem" states classes. When both kinds are stated (or, with none stated, both asked),
    the words say nothing and the data decides.
    """
    norm = normalise(text)
    for stated in (True, False):
        found = {kind: pattern.search(norm) for (kind, firm), pattern in lex.TASK_INTENT.items()
                 if firm is stated}
        if stated:  # "logistic regression" is a classifier, not a regression
            logistic = re.search(lex.LOGISTIC, norm)
            if logistic:
                found["classification"] = logistic
                rest = re.sub(lex.LOGISTIC, " ", norm)
                found["regression"] = lex.TASK_INTENT[("regression", True)].search(rest)
        said = {kind: m for kind, m in found.items() if m}
        if len(said) == 1:
            kind, m = next(iter(said.items()))
            return TaskIntent(kind, stated, m[0].strip())  # type: ignore[arg-type]
        if said:
            return TaskIntent()
    return TaskIntent()


def has_task_intent(text: str) -> bool:
    """Whether the text asks for a model or prediction at all ("hello there" does not)."""
    return bool(re.search(lex.INTENT, normalise(text)))


def understand(text: str, columns: list[str]) -> Understanding:
    """Read a whole request against the data's column names.

    A missing target is not an error (the planner asks the user); every field the request
    does not state is None (or empty).

    Raises:
        RequestError: the stated budget is zero, negative or unbounded.
    """
    reading = read_metric(text)
    metric = reading.metric
    return Understanding(
        target=find_target(text, columns),
        metric=metric,
        metric_reading=reading,
        task_intent=read_task_intent(text),
        goal=parse_goal(text, metric),
        budget_s=parse_budget(text),
        drop_columns=find_drop_columns(text, columns),
        task_type_hint=find_task_type_hint(text),
        has_intent=has_task_intent(text),
    )
