"""Where a request names the data's columns, and the part it gives each: the target, an
input, a column to leave out.

A column matches however people write it (any case, "_"/"-"/space, plurals, no unit);
quoted or parenthesised names are marked, since they name the column exactly.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from mlpilot.agent import target_evidence as ev
from mlpilot.agent import understanding_lexicon as lex
from mlpilot.agent.glossary import gloss_english
from mlpilot.agent.request_text import Mention, longest_first, normalise


@dataclass(frozen=True)
class TargetMatch:
    """The column a request asks to predict, and the words of the request that say so."""

    column: str
    evidence: str



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


def _column_mentions(norm: str, columns: list[str]) -> list[Mention]:
    found = []
    for column in columns:
        if _column_anchor(column) not in norm:
            continue
        for m in _column_pattern(column).finditer(norm):
            # quoted, or in parentheses: "ticket class (pclass)" names the column exactly
            quoted = (m.start() > 0 and norm[m.start() - 1] in "`'\"("
                      and m.end() < len(norm) and norm[m.end()] in "`'\")")
            found.append(Mention(m.start(), m.end(), column, quoted))
    return longest_first(found)


def _cues(norm: str) -> list[Mention]:
    return longest_first([Mention(m.start(), m.end(), kind)
                           for kind, pattern in lex.CUES.items() for m in pattern.finditer(norm)])


def _listed(norm: str, mentions: list[Mention], position: int, backward: bool = False
            ) -> list[Mention]:
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


def _dropped(norm: str, mentions: list[Mention], cues: list[Mention]) -> list[Mention]:
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


#: Input cues that also say other things ("on a plan", "with a smile", "by far"): they make
#: a column an input only when it follows at once.
_LOOSE_INPUT_CUES = frozenset({"on", "with", "by"})
_ARTICLES = r"\b(?:a|an|the|its|their|his|her)\b"


@dataclass(frozen=True)
class ColumnMention:
    """One place the request names a column, and the part it gives the column there.

    `role` is "target" (a task verb or "… prediction" asks for it), "input" (after
    "from"/"using"/"根据"), "drop" (asked to be left out), "about" (the unit or owner the
    request is about: "each branch", "the firm's value") or "named" (named otherwise);
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
    # a list after an input cue is all inputs, past the commas that end a clause elsewhere:
    # "from open, high and low"
    listed_inputs = {m: c for c in cues if c.name == "feature"
                     for m in _listed(norm, eligible, c.end)}
    # the unit the request is about ("each branch", "how much will a household spend")
    # and whose thing it asks for ("the firm's market value") are not what it asks for
    about = ev.owners(norm, columns)
    units = {m for m in eligible if m not in dropped and (tokens := ev.informative_tokens(
        m.name)) and all(any(ev.same_word(t, a) for a in about) for t in tokens)}
    found = []
    for mention in eligible:
        phrase = norm[mention.start:mention.end]
        if mention in dropped:
            found.append(ColumnMention(mention.name, "drop", mention.quoted,
                                       f"'{phrase}' is asked to be left out", mention.start))
            continue
        if mention in units:
            found.append(ColumnMention(mention.name, "about", mention.quoted,
                                       f"'{phrase}' says which unit or whose thing the request "
                                       "is about, not what to predict", mention.start))
            continue
        cue = next((c for c in reversed(cues) if c.end <= mention.start), None)
        if cue and cue.name == "feature" and norm[cue.start:cue.end] in _LOOSE_INPUT_CUES \
                and _word_count(re.sub(_ARTICLES, " ", norm[cue.end:mention.start])) > 1:
            # "is the account on a premium plan (premium)": "on" introduces an input only
            # right before it ("trained on age"), not across a phrase
            cue = None
        suffix = re.match(r"\s*(?:'s\s*)?" + lex.TARGET_SUFFIX, norm[mention.end:])
        cn_verb = re.match(lex.CN_TARGET_AROUND[1], norm[mention.end:])
        cn_object = cn_verb and re.search(lex.CN_TARGET_AROUND[0], norm[:mention.start])
        first_after_cue = cue is not None and not any(
            cue.end <= m.start < mention.start for m in eligible
            if m not in dropped and m not in units)
        end = mention.end + mention.quoted  # keep a closing quote in the evidence
        role, rank = "target", 3
        # "predict each region's population density" asks for the density, not the region
        possessor = not suffix and re.match(r"['’]s\b", norm[mention.end:])
        if cue and cue.name == "target" and first_after_cue and not possessor \
                and _word_count(norm[cue.end:mention.start]) <= 6:
            evidence = f"'{norm[cue.start:end]}' asks to predict it"
        elif suffix:
            evidence = f"'{norm[mention.start:mention.end + suffix.end()]}' asks for it"
        elif cn_object:  # "对 species 分类"
            end = mention.end + cn_verb.end()  # type: ignore[union-attr]
            evidence = f"'{norm[cn_object.start():end]}' asks for it"
        elif cue and cue.name == "feature":
            role, rank, evidence = "input", 0, f"'{norm[cue.start:end]}' names an input"
        elif mention in listed_inputs:
            listed = listed_inputs[mention]
            role, rank, evidence = "input", 0, f"'{norm[listed.start:end]}' lists it as an input"
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
