"""Which column a request asks to predict, as a ranked decision with evidence.

Every column is scored against the request by several kinds of evidence
(`target_evidence`): its name (written out, quoted, in part, abbreviated), the meaning of
its name (static word vectors), its values ("Gentoo, Adelie or Chinstrap"), the shape of
answer the question asks ("how heavy …", "will … ?", "which …"), the stated task and
metric, and whether it could be a target at all. The best column is chosen only when it
wins by a clear margin; otherwise the planner asks, offering the best few as choices.
Columns the request names as inputs ("from its measurements", "根据 …") or asks to drop
are never the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pandas as pd

from mlpilot.agent import target_evidence as ev
from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.glossary import gloss
from mlpilot.agent.understanding import column_mentions, normalise
from mlpilot.engine.config import REGRESSION_METRICS
from mlpilot.engine.data import DataProfile
from mlpilot.knowledge.dictionary import dictionary
from mlpilot.knowledge.word_vectors import word_vectors

ColumnFacts = ev.ColumnFacts

#: The best column must score at least this, and beat the second by MARGIN, to be chosen.
MIN_SCORE = 0.5
MARGIN = 0.3
#: ... and the request itself must have earned it this much: priors alone never decide.
MIN_FROM_REQUEST = 0.4
#: The most a column's meaning can add: less than a whole name written (1.0) by more than
#: the margin, so a named column beats one that is only meant, other evidence equal.
MEANING_CAP = 0.6
#: Meaning counts from FLOOR above the typical column's similarity, reaches the cap SPAN
#: higher, and grows as a power in between (results on the development requests hardly
#: move over floors 0-0.1, spans 0.3-0.5 and powers 1-2).
MEANING_FLOOR, MEANING_SPAN, MEANING_POWER = 0.05, 0.3, 2.0
#: How many columns a question offers when no column wins.
N_CHOICES = 3
#: Columns with at most this many distinct values have their values read as evidence.
MAX_VALUES = 30
#: Names that data sets conventionally give the column to predict.
LABEL_NAMES = frozenset({"y", "target", "label", "labels", "class", "outcome", "response"})


@dataclass
class Candidate:
    """One column's total score as a target and the evidence behind it."""

    column: str
    score: float = 0.0
    evidence: list[str] = field(default_factory=list)
    named: bool = False  # the request writes its whole name
    named_points: float = 0.0  # the points its name earned where the request writes it
    from_request: float = 0.0  # the points that the request earned it, priors left out

    def add(self, points: float, why: str, prior: bool = False) -> None:
        """Add points for one piece of evidence (negative points count against); a
        `prior` comes from the data alone (its name, its position), not the request."""
        if points:
            self.score += points
            self.from_request += 0.0 if prior else points
            self.evidence.append(f"{why} ({points:+.1f})")


@dataclass(frozen=True)
class TargetChoice:
    """The ranked candidates and the decision: `target` when one column wins, else
    `question` and `choices` for the user. `excluded` says why columns were ruled out."""

    ranked: list[Candidate]
    excluded: dict[str, str]
    target: str | None
    reason: str
    question: str | None = None
    choices: list[str] = field(default_factory=list)

    @property
    def related(self) -> bool:
        """Whether the request says anything that points at some column of the data."""
        return bool(self.ranked) and self.ranked[0].from_request >= MIN_FROM_REQUEST


def column_facts(df: pd.DataFrame, profile: DataProfile) -> list[ColumnFacts]:
    """What choosing a target needs to know of each column, from the profile and the data."""
    facts = []
    for i, col in enumerate(profile.columns):  # by position: the profile's names are strings
        values: tuple[str, ...] = ()
        if col.n_unique <= MAX_VALUES:
            counts = df.iloc[:, i].value_counts(dropna=True)
            values = tuple(str(v) for v in counts.index[:MAX_VALUES])
        # unique per row and either counting rows, written as codes, or called an id
        identifier = col.unique_fraction >= 0.95 and col.n_unique > MAX_VALUES and (
            (col.is_integer and col.is_monotonic) or col.kind in ("categorical", "text")
            or "id" in ev.name_tokens(col.name))
        usable = not (identifier or col.is_constant or col.missing_fraction >= 0.9
                      or col.kind in ("datetime", "text"))
        facts.append(ColumnFacts(col.name, col.kind, col.n_unique, values, usable,
                                 whole=bool(col.is_integer)))
    return facts


def choose_target(text: str, facts: list[ColumnFacts], *, metric: str | None = None,
                  task_hint: str | None = None) -> TargetChoice:
    """Rank every column as the target of `text` and decide, or prepare a question.

    Args:
        text: the request, in English or Chinese.
        facts: the columns (see `column_facts`).
        metric: the metric the request or the user states, if any: an error metric asks
            for a quantity, a classification metric for classes.
        task_hint: "binary", "multiclass", "classification" or "regression", if stated.
    """
    norm = gloss(normalise(text))
    names = [f.name for f in facts]
    by_name = {f.name: f for f in facts}
    candidates = {f.name: Candidate(f.name) for f in facts}
    excluded = _mentions(text, norm, names, candidates)
    for f in facts:
        _by_name_and_values(text, norm, f, names, candidates[f.name], excluded)
    _longer_names(norm, names, candidates)
    _by_shape(normalise(text), norm, facts, candidates, metric, task_hint)
    for f in facts:
        if not f.usable:
            # enough to sink a guess, not a column the request asks for by name: the
            # planner's checks then say why it cannot be the target
            candidates[f.name].add(-1.0, "it cannot be a target (an identifier, constant, "
                                         "free text, dates or empty)", prior=True)
        elif f.name.lower() in LABEL_NAMES and f.label_like:
            candidates[f.name].add(0.4, f"'{f.name}' is a conventional name for a label",
                                   prior=True)
    if facts and facts[-1].usable:  # many tables keep the label in their last column
        candidates[facts[-1].name].add(0.1, "it is the last column", prior=True)
    position = {n: i for i, n in enumerate(names)}

    def ranking() -> list[Candidate]:  # ties: usable columns, then the later column, first
        return sorted((c for n, c in candidates.items() if n not in excluded),
                      key=lambda c: (-round(c.score, 6), not by_name[c.column].usable,
                                     -position[c.column]))

    ranked = ranking()
    # meaning adds at most MEANING_CAP to a column: when it cannot change the decision,
    # the word vectors are not even loaded
    scores = [c.score for c in ranked] + [0.0, 0.0]
    meant = scores[0] - scores[1] >= MARGIN + MEANING_CAP and scores[0] >= MIN_SCORE
    if not meant:
        meant = _by_meaning(norm, facts, candidates)
        ranked = ranking()
    choice = _decide(ranked, excluded, position)
    if choice.target is None and _by_synonyms(norm, facts, candidates):
        choice = _decide(ranking(), excluded, position)
    if not meant:
        note = (" (without word vectors: meaning not compared, install the 'wordllama' "
                "package)")
        choice = replace(choice, reason=choice.reason + note)
    return choice


def _mentions(text: str, norm: str, names: list[str], candidates: dict[str, Candidate]
              ) -> dict[str, str]:
    """Points for columns the request names, by role; the columns it rules out, and why."""
    excluded: dict[str, str] = {}
    asked: set[str] = set()
    dropped: set[str] = set()
    # the request as written, and glossed: "预测 收入" names income only in the gloss
    sources = [text] if norm == normalise(text) else [text, norm]
    seen: set[tuple[str, str]] = set()
    for source in sources:
        for m in column_mentions(source, names):
            if (m.column, m.role) in seen:
                continue
            seen.add((m.column, m.role))
            if m.role == "drop":
                excluded[m.column] = m.evidence
                dropped.add(m.column)
            elif m.role == "input":
                excluded.setdefault(m.column, m.evidence)
            elif m.role == "about":  # the unit or whose thing: no evidence either way
                candidates[m.column].evidence.append(m.evidence)
            else:
                asked.add(m.column)
                named = candidates[m.column]
                points = (2.0 if m.role == "target" else 1.0) + (0.6 if m.quoted else 0.0)
                named.named, named.named_points = True, max(named.named_points, points)
                named.add(2.0 if m.role == "target" else 1.0, m.evidence)
                if m.quoted:
                    named.add(0.6, "the request writes its exact name, quoted")
    # a column both asked for and named as an input elsewhere stays a candidate; one asked
    # to be dropped never is
    return {c: why for c, why in excluded.items() if c not in asked or c in dropped}


def _by_name_and_values(written: str, norm: str, f: ColumnFacts, names: list[str],
                        cand: Candidate, excluded: dict[str, str]) -> None:
    """Points for the column's name written in part or abbreviated, and for its values."""
    if not cand.named:
        points, found = ev.name_in_part(norm, f.name, names)
        if points > 0:
            if _after_input_cue(norm, found) and f.name not in excluded:
                excluded[f.name] = f"'{' '.join(found)}' is named as an input"
                return
            cand.add(points, f"the request says {', '.join(map(repr, found))} of its name")
        short = ev.abbreviation(norm, f.name) or ev.proper_abbreviation(written, f.name)
        if short:
            cand.add(0.9, f"'{short}' abbreviates to {f.name!r}")
    values = ev.value_matches(norm, f)
    if values:
        shown = ", ".join(repr(v) for v in values[:4])
        cand.add(min(1.5, 0.6 * len(values)), f"the request writes its values {shown}")


def _longer_names(norm: str, names: list[str], candidates: dict[str, Candidate]) -> None:
    """A column the request names in full, clipped words and all, takes the part of a
    shorter column whose name is inside it: "predict gdp per capita" asks for gdpPercap,
    not gdp, though only "gdp" is a column written as is."""
    for name in names:
        short = candidates[name]
        tokens = set(ev.informative_tokens(name))
        if not short.named or not tokens:
            continue
        for other in names:
            longer = candidates[other]
            own = ev.informative_tokens(other)
            if other == name or longer.named or len(own) <= len(tokens) \
                    or not tokens <= set(own):
                continue
            _, found = ev.name_in_part(norm, other, names)
            if set(found) != set(own):
                continue
            points = short.named_points
            why = f"the request writes all of its name, {', '.join(map(repr, found))}"
            longer.add(points, why + f", which holds {name!r}")
            short.add(-points, f"its name is part of {other!r}, which the request writes whole")


def _after_input_cue(norm: str, found: list[str]) -> bool:
    """Whether every word found is written after an input cue ("given its bill", "根据 …")
    with no task verb in between."""
    # "on", "with" and "by" introduce inputs too loosely to rule a column out by one word
    cues = [(m.start(), kind) for kind in ("target", "feature", "break")
            for m in lex.CUES[kind].finditer(norm) if m[0] not in ("on", "with", "by")]
    for word in found:
        at = [m.start() for m in re.finditer(lex.B + re.escape(word), norm)]
        roles = [max((c for c in cues if c[0] < p), default=(0, None))[1] for p in at]
        if not at or any(role != "feature" for role in roles):
            return False
    return True


def _by_meaning(norm: str, facts: list[ColumnFacts], candidates: dict[str, Candidate]) -> bool:
    """Points for columns whose name means what a phrase of the request says ("worth" and
    price): the similarity above the typical column's, from the packaged word vectors.
    False when there are no word vectors to compare with."""
    vectors = word_vectors()
    if vectors is None:
        return False
    names = [f.name for f in facts]
    phrases = ev.meaning_phrases(norm, names)
    similarity, typical = ev.meaning_similarity(vectors, phrases, names)
    for name, s in zip(names, similarity, strict=True):
        # what counts is how far the column stands out from the typical column; static
        # word vectors put related words only a little apart, so a little counts little
        lead = min(1.0, max(0.0, (float(s) - typical - MEANING_FLOOR) / MEANING_SPAN))
        points = round(MEANING_CAP * lead ** MEANING_POWER, 2)
        # a column whose whole name is written gains nothing from meaning it too
        if points >= 0.05 and not candidates[name].named:
            candidates[name].add(points, "the request's words mean its name "
                                         f"(similarity {s:.2f}, typical {typical:.2f})")
    return True


#: Points for a name word the request writes as a dictionary synonym ("gratuity" for tip):
#: as much as a clipped word, less than the word itself.
SYNONYM_POINTS = 0.6


def _by_synonyms(norm: str, facts: list[ColumnFacts], candidates: dict[str, Candidate]
                 ) -> bool:
    """Points for columns whose name words the request writes as synonyms, from the
    dictionary's thesaurus; only asked when nothing else decided (it loads the dictionary).
    False when nothing was added."""
    words = dictionary()
    if words is None:
        return False
    names = [f.name for f in facts]
    skip = ev.file_words(norm) | ev.owners(norm, names)
    said = [w for w in ev.words(norm) if w not in ev.STOPWORDS and w not in skip and len(w) > 2]
    objects = {next((w for w in ev.words(norm[m.end():])[:4] if w not in ev.STOPWORDS), "")
               for m in lex.CUES["target"].finditer(norm)}
    added = False
    for f in facts:
        cand = candidates[f.name]
        tokens = ev.informative_tokens(f.name)
        if cand.named:
            continue
        for token in tokens:
            if any(ev.same_word(token, w) for w in said):
                continue  # written as is: the name evidence counted it
            meant = next((w for w in said if any(ev.same_word(token, s)
                                                 for s in words.synonyms(w))), None)
            if meant:
                # the object of a task verb ("estimate the gratuity") counts double
                asked = meant in objects  # and a name of several words counts less
                cand.add(round(SYNONYM_POINTS * (2 if asked else 1) / len(tokens) ** 0.5, 2),
                         f"the request's '{meant}' is another word for '{token}' "
                         f"(dictionary){', and it is what the request asks for' if asked else ''}")
                added = True
                break
    return added


def _by_shape(written: str, norm: str, facts: list[ColumnFacts],
              candidates: dict[str, Candidate], metric: str | None, task_hint: str | None
              ) -> None:
    """Points for columns that fit the answer asked for: the question's form (read before
    the glossary rewrites Chinese grammar such as 好坏), the task type and the metric."""
    form = ev.question_form(written) or ev.question_form(norm)
    stated = None
    if task_hint == "regression" or metric in REGRESSION_METRICS:
        stated = "quantity", f"{metric or task_hint} asks for a quantity"
    elif task_hint == "binary" or metric in ("f1", "roc_auc"):
        stated = "binary", f"{task_hint or metric} asks for two classes"
    elif task_hint in ("multiclass", "classification") or metric:
        stated = "classes", f"{task_hint or metric} asks for classes"
    for f in facts:
        for found in (form, stated):
            if found:
                fit = ev.shape_fit(found[0], f)
                what = f"'{found[1]}' asks for {found[0]}" if found is form else found[1]
                candidates[f.name].add(fit, what + (", and it fits" if fit > 0 else
                                                    ", which it does not fit"))


def _decide(ranked: list[Candidate], excluded: dict[str, str], position: dict[str, int]
            ) -> TargetChoice:
    """The winner when it scores enough and leads by the margin; else a question."""
    if not ranked:
        return TargetChoice(ranked, excluded, None, "every column is ruled out",
                            "Which column should I predict? Every column is named as an "
                            "input or to be left out.", [])
    best = ranked[0]
    # the margin is over the columns the request points at too: a rival that only priors
    # favour ("class" is a conventional label name) breaks ties, not a column it names
    rivals = [c.score for c in ranked[1:] if c.from_request > 0] + [0.0]
    second = ranked[1].score if len(ranked) > 1 else 0.0
    if best.score >= MIN_SCORE and best.score - max(rivals) >= MARGIN \
            and best.from_request >= MIN_FROM_REQUEST:
        runner = f" over {ranked[1].column!r} ({second:.1f})" if len(ranked) > 1 else ""
        return TargetChoice(ranked, excluded, best.column,
                            f"score {best.score:.1f}{runner}: " + "; ".join(best.evidence))
    if best.from_request < MIN_FROM_REQUEST:
        # nothing in the request points anywhere: a top few by priors alone would mislead,
        # so every column is offered, in the file's order
        choices = sorted((c.column for c in ranked), key=position.__getitem__)
        question = ("Which column should I predict? The request names or describes none of "
                    "them. Name it in the request or pass --target.")
        return TargetChoice(ranked, excluded, None, "no column is named or described",
                            question, choices)
    choices = [c.column for c in ranked[:N_CHOICES]]
    if best.score < MIN_SCORE:
        why = "no column is clearly named or described"
    else:
        why = (f"{best.column!r} ({best.score:.1f}) and {ranked[1].column!r} ({second:.1f}) "
               "fit about equally")
    question = (f"Which column should I predict? {why[0].upper() + why[1:]}; the likeliest are "
                f"{', '.join(choices)}. Name it in the request or pass --target.")
    return TargetChoice(ranked, excluded, None, why, question, choices)
