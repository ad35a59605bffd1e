"""Columns whose names say they are recorded after the outcome: an explicit lexicon.

A column known only once the outcome is known (how long the sales call lasted, whether a
refund was paid, the date a customer churned) makes a model look better in testing than
it can ever be in use. When such a column predicts the target only moderately, no
statistic on the table tells it from an honest feature (see `data_checks`): a reviewer
spots it by what the name means. This module is that reviewer's judgement written down,
as a lexicon of post-outcome meanings. Each entry has the phrases that name it, words
that must appear in *other* column names for an ambiguous phrase to mean it (a bare
"duration" is a call's length only in a table of calls or contacts; in a loan table it
is the loan's term), and why such a column comes after the outcome.

A match is a question, not a verdict: the flag's action is "ask". Names that say the
value comes from before (previous_outcome, prior_refunds, expected_duration) never match.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mlpilot.guardrails.data_checks import MIN_VALUES, Flag, _single_feature_scores, name_words


@dataclass(frozen=True)
class Meaning:
    """One post-outcome meaning: the name phrases that say it, and why it comes too late."""

    name: str
    phrases: tuple[tuple[str, ...], ...]
    why: str
    #: Words one of the *other* columns' names must contain for the phrase to mean this.
    context: tuple[str, ...] = ()


LEXICON: tuple[Meaning, ...] = (
    Meaning("contact duration", (("call", "duration"), ("call", "length"), ("talk", "time"),
                                 ("handle", "time"), ("contact", "duration")),
            "a call's length is known only when the call has ended, with its outcome"),
    Meaning("contact duration", (("duration",),),
            "in a table of calls or contacts, the duration is the length of the contact that "
            "produced the outcome, known only once it has ended",
            context=("contact", "contacts", "call", "calls", "calling", "campaign", "dial",
                     "dialed", "dialled", "telemarketing")),
    Meaning("outcome recorded afterwards", (("outcome",), ("final", "status"),
                                            ("status", "after"), ("final", "result"),
                                            ("end", "status"), ("disposition",)),
            "an outcome or final status is recorded after the event being predicted"),
    Meaning("after the fact", (("after",), ("post",), ("followup",), ("follow", "up")),
            "the name says the value is measured after the event"),
    Meaning("refund or cancellation", (("refund",), ("refunds",), ("refunded",),
                                       ("chargeback",), ("chargebacks",), ("cancellation",),
                                       ("cancelled",), ("canceled",)),
            "refunds, chargebacks and cancellations happen after the sale or booking"),
    Meaning("date of the event", tuple(
        (event, when) for event in ("churn", "cancel", "cancellation", "termination", "closed",
                                    "close", "death", "discharge", "payoff", "default", "exit")
        for when in ("date", "dt", "at", "on", "time", "day")) + (("date", "of", "death"),),
            "the date of the event is known only once the event has happened"),
    Meaning("time to the event", tuple(
        (unit, link) for unit in ("days", "weeks", "months", "years", "time")
        for link in ("to", "until", "till")) + (("survival", "time"), ("survival", "months")),
            "the time until the event is known only once the event has happened"),
    Meaning("survival status", (("alive",), ("dead",), ("deceased",), ("died",), ("death",),
                                ("vital", "status")),
            "whether someone is alive is known only after the outcome"),
    Meaning("repayment outcome", (("recoveries",), ("recovery",), ("charged", "off"),
                                  ("charge", "off"), ("chargeoff",), ("written", "off"),
                                  ("write", "off"), ("writeoff",), ("settlement",),
                                  ("settled",), ("repaid",), ("paid", "off"),
                                  ("last", "payment"), ("last", "pymnt")),
            "repayments, recoveries and write-offs are recorded after the loan's outcome"),
)

#: Words that place a value before the outcome: a name with one of them never matches.
BEFORE = frozenset({"prev", "previous", "prior", "past", "before", "pre", "history",
                    "historical", "expected", "predicted", "planned", "scheduled", "estimated",
                    "forecast"})


def _contains(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1))


def post_outcome_meaning(column: str, other_columns: list[str]) -> tuple[Meaning, str] | None:
    """The lexicon entry a column name matches, with the context word that made it; or None."""
    tokens = name_words(column)
    if BEFORE.intersection(tokens):
        return None
    others = {t for c in other_columns if c != column for t in name_words(c)}
    for meaning in LEXICON:
        if not any(_contains(tokens, p) for p in meaning.phrases):
            continue
        if not meaning.context:
            return meaning, ""
        found = [w for w in meaning.context if w in others]
        if found:
            return meaning, found[0]
    return None


def find_post_outcome_columns(df: pd.DataFrame, target: str, task_type: str, *, seed: int = 0
                              ) -> list[Flag]:
    """Columns whose names mean "recorded after the outcome", per `LEXICON`; action "ask".

    The evidence names the meaning, the other column that gave the context (when the
    meaning needs one), and how well the column alone predicts the target (the same
    cross-validated single-feature tree as `find_leaky_columns`) with its rank among
    the features: a post-outcome column is often among the strongest.
    """
    if target not in df.columns:
        return []
    columns = [c for c in df.columns if c != target]
    matches = {c: m for c in columns if (m := post_outcome_meaning(c, list(df.columns)))}
    if not matches:
        return []
    data = df[df[target].notna()]
    classification = task_type != "regression"
    scores = {}
    if len(data) >= MIN_VALUES and (classification or pd.api.types.is_numeric_dtype(data[target])):
        scores = {c: s for c, (s, _) in
                  _single_feature_scores(data, target, classification, seed).items()}
    ranked = sorted(scores, key=scores.get, reverse=True)
    metric = "balanced accuracy" if classification else "R^2"
    flags = []
    for column, (meaning, context) in matches.items():
        evidence = f"{column!r} reads as {meaning.name}"
        evidence += f" (the table has {_column_with(df, context, column)!r})" if context else ""
        evidence += f": {meaning.why}"
        if column in scores:
            rank = ranked.index(column) + 1
            evidence += (f"; alone it predicts {target!r} with {metric} {scores[column]:.3f}, "
                         f"the {_ordinal(rank) + ' ' if rank > 1 else ''}strongest of "
                         f"{len(ranked)} features")
        flags.append(Flag(kind="post_outcome", column=column, evidence=evidence,
                          score=round(scores[column], 4) if column in scores else None,
                          action="ask", suggestion=f"is {column!r} known when a prediction is "
                          f"made? If it is recorded after the outcome, drop it (drop_columns: "
                          f"[{column!r}])"))
    return flags


def _column_with(df: pd.DataFrame, word: str, besides: str) -> str:
    return next(c for c in df.columns if c != besides and word in name_words(c))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
