"""The kinds of evidence that tie a request to a column it may ask to predict.

Each reader takes the request (normalised, Chinese glossed into English) and what the data
says about the columns (`ColumnFacts`), and returns points and a line of evidence per
column; `target_choice` adds them up and decides. Points are on one scale: about 1 for a
column named in the request, 2 for one a task verb asks for, fractions for weaker hints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from itertools import pairwise

import numpy as np

from mlpilot.agent import understanding_lexicon as lex

#: Words that carry no meaning of their own in a request or a column name.
STOPWORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "by", "for", "with", "and", "or", "is",
    "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those",
    "from", "as", "per", "each", "every", "his", "her", "their", "our", "your", "my", "me",
    "i", "we", "you", "he", "she", "they", "do", "does", "did", "will", "would", "can",
    "could", "should", "has", "have", "had", "what", "which", "who", "whom", "whose",
    "where", "when", "how", "why", "whether", "if", "not", "no", "none", "any", "some",
    "all", "other", "than", "then", "there", "so", "too", "very", "please", "just", "also",
    "into", "out", "off", "up", "about", "num", "number",
})
_WORD = re.compile(r"[a-z][a-z0-9]*|\d+(?:\.\d+)?")
_NAME_TOKENS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True)
class ColumnFacts:
    """What the data says about one column, as far as choosing a target needs."""

    name: str
    kind: str  # numeric, categorical, boolean, datetime, text
    n_unique: int
    values: tuple[str, ...] = ()  # its distinct values when there are few, most common first
    usable: bool = True  # False for identifiers, constants, free text, dates, empty columns
    whole: bool = False  # numbers that are all whole: counts, codes, years

    @property
    def label_like(self) -> bool:
        """Few distinct values, or not numbers: it could be a set of classes."""
        return self.kind != "numeric" or self.n_unique <= 20

    @property
    def integer_codes(self) -> bool:
        """Whole numbers with few enough values to be read (hours 0-23, grades 1-12): codes
        that may be classes when the request asks for classes."""
        try:
            return self.kind == "numeric" and bool(self.values) and all(
                float(v).is_integer() for v in self.values)
        except ValueError:
            return False

    @property
    def quantity_like(self) -> bool:
        """Numbers with many distinct values: it could be a quantity to regress."""
        return self.kind == "numeric" and self.n_unique > 10


def name_tokens(column: str) -> list[str]:
    """The words of a column's name: "median_house_value" -> median, house, value."""
    return [t.lower() for t in _NAME_TOKENS.findall(column)]


def name_readings(column: str) -> list[list[str]]:
    """The ways to read a name's words: `name_tokens`, and where a lone capital stands
    before a capitalised word, also as an acronym run into a word ("TVnews" is T + Vnews
    or TV + news; "ZScore" is Z + Score or ZS + core: the request decides which)."""
    tokens = _NAME_TOKENS.findall(column)
    merged: list[str] = []
    for token in tokens:
        if merged and len(merged[-1]) == 1 and merged[-1].isupper() and len(token) > 2 \
                and token[0].isupper() and token[1:].islower():
            merged[-1] += token[0]
            token = token[1:]
        merged.append(token)
    readings = [[t.lower() for t in tokens]]
    if merged != tokens:
        readings.append([t.lower() for t in merged])
    return readings


def words(text: str) -> list[str]:
    """The ASCII words and numbers of normalised text, in order."""
    return _WORD.findall(text)


_ENDINGS = frozenset({"", "e", "s", "es", "d", "ed", "ing", "al", "ly", "y", "ies", "er", "ers"})


def same_word(a: str, b: str) -> bool:
    """Whether two words are one word as people write it: plurals, "survive"/"survived"."""
    if a == b or a in lex.noun_forms(b) or b in lex.noun_forms(a):
        return True
    # one stem of five letters or more with inflected endings: "survival"/"survived",
    # "month"/"monthly"; not "house"/"housing" (short stem), "employee"/"employment"
    short = min(len(a), len(b))
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), short)
    return common >= 5 and a[common:] in _ENDINGS and b[common:] in _ENDINGS


# --- by name: tokens and abbreviations -------------------------------------------------

def informative_tokens(column: str) -> list[str]:
    """A column's name words that can identify it: no units ("mm"), stopwords or letters."""
    return _informative(name_tokens(column))


#: English ordinals, which name numbered columns ("the third round" is round_3).
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
                  "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10}
#: "the 3rd", "third", "第三": one ordinal; "the first two" counts a group, not a column.
_ORDINAL_SAID = re.compile(
    r"(?<![a-z0-9])(?:(\d+)(?:st|nd|rd|th)|(" + "|".join(_ORDINAL_WORDS) + r"))(?![a-z0-9])"
    r"(?!\s+(?:two|three|four|five|\d))|第([一二三四五六七八九十\d]+)")
#: A possessor: "each region's density", "地方 的 降水量". The entity a request is about,
#: not the thing it asks for.
_POSSESSOR = re.compile(r"([a-z][a-z0-9]*)['’]s\b|((?:[a-z][a-z0-9]*\s+)*[a-z][a-z0-9]*)\s*的")
#: A clipped name word begins a request word at least this much longer ("elev" in
#: "elevation", "pop" in "population"); shorter overhangs are other words ("rate"/"rated").
_CLIP_OVERHANG = 3
#: A clipped word counts this much of a word written whole.
_CLIP_WEIGHT = 0.75


def said_ordinals(norm: str) -> set[str]:
    """The ordinals the request writes, as digits: "the third round", "the 2nd", "第二轮"."""
    found = set()
    for m in _ORDINAL_SAID.finditer(norm):
        try:
            found.add(str(int(m[1]) if m[1] else _ORDINAL_WORDS[m[2]] if m[2]
                          else int(lex.number(m[3]))))
        except (KeyError, ValueError):
            continue
    return found


#: The words that describe the file, not a column: "the bike-rental file", "这份餐厅数据".
_FILE_PHRASE = re.compile(
    r"\b(?:the|this|that|these|my|our|your|a|an)\s+((?:[a-z0-9]+[\s-]+){1,3}?)"
    r"(?:file|data\s*set|dataset|data|table|csv|spreadsheet|sheet|records|export)s?\b"
    # Chinese: glossed words stand between ("这份选民 voter electorate 数据"), so the span
    # is long, but it never runs past the first data word ("这份数据预测价格表")
    r"|(?:这份|这个|这张|该|此|本)((?:(?!数据|表格|文件|表)[^，。？！,.?!]){1,60}?)"
    r"(?:数据|表格|文件|表)")


def file_words(norm: str) -> set[str]:
    """Words that describe the data file ("on the bike-rental file", "用这份餐厅数据"):
    what the data is about, not which of its columns to predict."""
    return {w for m in _FILE_PHRASE.finditer(norm) for w in words(m[1] or m[2])}


def possessors(norm: str, columns: list[str]) -> set[str]:
    """Words that only say whose thing the request asks about: "each region's population
    density" asks for the density, so "region" is not evidence for a region column. A
    possessor counts as such only when the words after it name some column ("the 2nd
    round's score" still names round_2 when no column is a score)."""
    owners = set()
    for m in _POSSESSOR.finditer(norm):
        clause = re.split(r"[,;.!?，。；！？]", norm[m.end():], maxsplit=1)[0]
        head = [w for w in words(clause)[:4] if w not in STOPWORDS]
        if any(same_word(t, w) or clips(t, w) for c in columns for t in informative_tokens(c)
               for w in head):
            owners.update(words(m[1] or m[2]))
    return owners


#: The unit each row describes, named with each/every/per ("the revenue per branch"), and
#: the subject of a question about an amount ("how much will a household spend").
_UNIT = re.compile(
    r"\b(?:each|every|per)\s+([a-z][a-z0-9]*)"
    r"|\bhow\s+(?:much|many)(?:\s+[a-z]+)?\s+(?:will|would|does|do|did|can|could|should|is"
    r"|are|was|were)\s+(?:a|an|the|this|that|each|every|one|some)\s+([a-z][a-z0-9]*)")
#: When, not what, closing a clause: "… next year?", "… in a quarter." (not "the next
#: purchase", "the customer's next purchase", "next purchase amount").
_WHEN = re.compile(r"(?<!the )(?<!a )(?<!['’]s )\b(?:next|last|coming|previous|following)"
                   r"\s+([a-z]+)(?=\s*(?:[,.;!?，。；！？]|$|from\b|using\b|given\b))"
                   r"|\b(?:in|within|during|over|per)\s+(?:a|an|one|each|every)\s+([a-z]+)\b")


def units(norm: str, columns: list[str]) -> set[str]:
    """Column words that only say which unit the request is about: "each branch", "per
    branch", "how much will a household spend". A unit counts as such only when the rest
    of the request names some other column to ask for ("predict each branch" still asks
    for the branch)."""
    found = set()
    for m in _UNIT.finditer(norm):
        unit = m[1] or m[2]
        tokens = {t for c in columns for t in informative_tokens(c)}
        if not any(same_word(unit, t) for t in tokens):
            continue  # "per capita" is a unit of no column: gdpPercap still spells it
        rest = [w for w in words(norm[:m.start()] + " " + norm[m.end():]) if w not in STOPWORDS]
        if any(same_word(t, w) or clips(t, w) for t in tokens if not same_word(t, unit)
               for w in rest):
            found.add(unit)
    # a time adverbial says when, whatever else the request names or not
    found.update(m[1] or m[2] for m in _WHEN.finditer(norm))
    return found


def owners(norm: str, columns: list[str]) -> set[str]:
    """Words that say whose thing or which unit the request is about, not what to predict:
    possessors ("each region's density") and units ("the revenue per branch")."""
    return set(_owners(norm, tuple(columns)))


@lru_cache(maxsize=256)  # asked once per column of a table, for the same request
def _owners(norm: str, columns: tuple[str, ...]) -> frozenset[str]:
    return frozenset(possessors(norm, list(columns)) | units(norm, list(columns)))


def clips(token: str, word: str) -> bool:
    """Whether a name word is a clipped request word: "elev" of "elevation"."""
    return len(token) >= 3 and word.startswith(token) and len(word) >= len(token) + _CLIP_OVERHANG


def _spells_pair(token: str, said: list[str]) -> bool:
    """Whether a run-together name word is the beginnings of two request words in a row
    ("percap" is "per capita"; "windspd" is not "wind speed")."""
    return len(token) >= 5 and any(_spelled(token, [a, b]) and b[:2] != a[:2]
                                   for a, b in pairwise(said))


def _token_weight(token: str, said: list[str], all_said: list[str], ordinals: set[str]
                  ) -> float:
    """How well the request writes one name word: 1 whole (or as an ordinal), less clipped."""
    if token.isdigit():  # "the third round"; a number of two digits or more as written
        return 1.0 if token in ordinals or (len(token) > 1 and token in said) else 0.0
    if any(same_word(token, w) for w in said):
        return 1.0
    if any(clips(token, w) for w in said) or _spells_pair(token, all_said):
        return _CLIP_WEIGHT
    joined = _run_together(token, said)
    if joined:
        return joined
    if any(_holds_word(token, w) for w in said):
        return _PART_WEIGHT
    return 0.0


def _run_together(token: str, said: list[str]) -> float:
    """How well a name word of several words written together ("copperprice",
    "worldconsumption") is the request's words, in any order: 1 when each piece is a word
    of the request, a clipped word's weight when a piece is the beginning of one ("alum"
    of aluminium); 0 unless the whole name word is two pieces or more of three letters."""
    if len(token) < 6:
        return 0.0
    forms = {f for w in said if len(w) >= 3 for f in lex.noun_forms(w)}

    @cache
    def pieces(at: int) -> tuple[int, int] | None:  # (pieces, clipped pieces), fewest clipped
        if at == len(token):
            return 0, 0
        found = []
        for word in forms:
            whole = token.startswith(word, at)
            cut = next((n for n in range(len(word) - 1, 2, -1)
                        if token.startswith(word[:n], at)), 0) if not whole else len(word)
            if cut:
                rest = pieces(at + cut)
                if rest is not None:
                    found.append((rest[0] + 1, rest[1] + (not whole)))
        return min(found, key=lambda p: (p[1], p[0])) if found else None

    best = pieces(0)
    if best is None or best[0] < 2:
        return 0.0
    return 1.0 if best[1] == 0 else _CLIP_WEIGHT


#: A name word that begins or ends with a whole request word counts this much of it.
_PART_WEIGHT = 0.5


def _holds_word(token: str, word: str) -> bool:
    """Whether a run-together name word is a whole request word of four letters or more
    and a clipped two or three: "foodexp" holds "food", "sunactivity" "activity". A
    longer rest makes a compound that is a word of its own ("households" is not house)."""
    return len(word) >= 4 and 2 <= len(token) - len(word) <= 3 and (
        token.startswith(word) or token.endswith(word))


def name_in_part(norm: str, column: str, columns: list[str]) -> tuple[float, list[str]]:
    """Points for the words of a column's name that the request writes, and which words.

    A word counts less the more columns share it ("credit" is in three of german credit's
    names, "loan" in one of a loans table's), and a name counts by the square root of its
    length, so "hours a week" for hours-per-week scores near a whole name. At most 0.9,
    less than the whole name written, unless every word is there ("survive" is survived).
    A name word may be clipped ("elev" for elevation, "percap" for per capita: it counts
    less), or a number the request writes as an ordinal ("the third round" for round_3);
    words that only say whose thing is meant ("each country's population") do not count.
    """
    best: tuple[float, list[str]] = (0.0, [])
    for reading in name_readings(column):
        found = _reading_in_part(norm, reading, columns)
        if found[0] > best[0]:
            best = found
    return best


def _informative(tokens: list[str]) -> list[str]:
    return [t for t in tokens if len(t) > 1 and t not in STOPWORDS and t not in lex.UNIT_TOKENS]


def _reading_in_part(norm: str, reading: list[str], columns: list[str]
                     ) -> tuple[float, list[str]]:
    """`name_in_part` for one reading of a name's words."""
    tokens = _informative(reading)
    digits = [t for t in reading if t.isdigit()]
    tokens += [t for t in digits if t not in tokens]
    if not tokens or tokens == digits:
        return 0.0, []
    about = owners(norm, columns) | file_words(norm)
    all_said = [w for w in words(norm) if w not in about]
    said = [w for w in all_said if w not in STOPWORDS]
    ordinals = said_ordinals(norm) if digits else set()
    weights = {t: _token_weight(t, said, all_said, ordinals) for t in tokens}
    found = [t for t in tokens if weights[t] > 0]
    if not found or all(t.isdigit() and len(t) == 1 for t in found):
        return 0.0, []  # "the 2nd" alone names no column: round_2 needs its "round" too
    shared = {t: sum(t in name_tokens(c) if t.isdigit() else
                     any(same_word(t, o) for o in informative_tokens(c)) for c in columns)
              for t in found}
    weight = sum(weights[t] / max(1, shared[t]) for t in found)
    if weight == len(tokens):  # every word, each its own: the name in other forms
        return 1.0, found
    return round(min(0.9, 0.9 * weight / len(tokens) ** 0.5), 2), found


def abbreviation(norm: str, column: str) -> str | None:
    """The words of the request whose initials spell the column's name ("miles per gallon"
    for mpg, "refractive index" for RI), or whose beginnings do ("parents or children" for
    parch, "maximum temperature" for maxtemp), or None. Only for short names of letters."""
    name = column.lower()
    if not name.isalpha():
        return None
    if 4 <= len(name) <= 9:
        clipped = clipped_words(norm, name)
        if clipped:
            return clipped
    if not 2 <= len(name) <= 5:
        return None
    said = words(norm)
    for i in range(len(said) - len(name) + 1):
        window = said[i:i + len(name)]
        if "".join(w[0] for w in window) != name:
            continue
        # the first and last words must carry meaning: "a new" is not "an"
        if all(len(w) >= 3 and w not in STOPWORDS for w in (window[0], window[-1])):
            return " ".join(window)
    return None


def _forms(word: str) -> tuple[str, ...]:
    """What a name may take the beginning of: the word, and its consonant skeleton (its
    first letter, then its consonants: "hlth" of health, "wrk" of working)."""
    skeleton = word[0] + "".join(c for c in word[1:] if c not in "aeiou")
    return (word, skeleton) if skeleton != word else (word,)


def _spelled(name: str, window: list[str]) -> bool:
    """Whether `name` is the beginnings of the words of `window` in order, two letters or
    more of each word or of its consonant skeleton ("wrkhrs" is working hours)."""
    if not window:
        return not name
    word = window[0]
    return any(name[:n] == form[:n] and _spelled(name[n:], window[1:])
               for form in _forms(word) for n in range(min(len(form), len(name)), 1, -1))


def clipped_words(norm: str, name: str) -> str | None:
    """Two or three consecutive content words of the request whose beginnings spell `name`
    ("parents or children" -> parch), or None. A name the request writes whole is not
    clipped from anything."""
    said = [w for w in words(norm) if w not in STOPWORDS and w.isalpha() and len(w) >= 3]
    if name in said:
        return None
    for n in (2, 3):
        for i in range(len(said) - n + 1):
            window = said[i:i + n]
            # an initial alone may lead: "tbilrate" is treasury bill rate, "iprod"
            # industrial production (then four letters at least of the next word)
            initial = name[0] == window[0][0] and _spelled(name[1:], window[1:]) and (
                n == 3 or len(name) >= 5)
            if _spelled(name, window) or initial:
                return " ".join(window)
    return None


def proper_abbreviation(text: str, column: str) -> str | None:
    """The proper noun of the request that a capitals-only name abbreviates, or None:
    NVDA is Nvidia, ORCL Oracle (its letters in order, the first the noun's first). The
    noun is capitalised as written and not the sentence's first word."""
    if not (column.isalpha() and column.isupper() and 3 <= len(column) <= 5):
        return None
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]{2,})\b", text.strip()):
        word = m[1].lower()
        if len(word) < len(column) + 2 or word[0] != column[0].lower():
            continue
        letters = iter(word)
        if all(c in letters for c in column.lower()):
            return m[1]
    return None


# --- by values ----------------------------------------------------------------------------

_TIMES_AND_METRICS = [lex.EN_DURATION, lex.EN_WORD_DURATION, lex.CN_DURATION,
                      *lex.METRICS.values()]

_MAGNITUDE = {"k": 1e3, "m": 1e6, "万": 1e4, "千": 1e3, "百万": 1e6, "亿": 1e8}
_NUMBER = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?|[" + lex.CN_NUMERAL[1:-2] + r"]+)\s*(百万|[km万千亿])?")


def numbers(text: str) -> set[float]:
    """The numbers written in text, with their magnitudes: "50K", "$50,000", "五万"."""
    found = set()
    for m in _NUMBER.finditer(text):
        if m[1][0] in "千" and m[2] is None:
            continue
        try:
            value = lex.number(m[1]) if not m[1][0].isdigit() else float(m[1].replace(",", ""))
        except (KeyError, ValueError):
            continue
        found.add(value * _MAGNITUDE.get(m[2] or "", 1.0))
    return found


def value_matches(norm: str, facts: ColumnFacts) -> list[str]:
    """The column's values that the request writes: "Gentoo, Adelie or Chinstrap" are
    values of species, "over 50K" writes the 50K of ">50K", "says yes" the "yes" of y.

    Only columns with few values, and only values that are words (a value made of
    stopwords alone, such as "no", or a bare number says too little)."""
    if not facts.values:
        return []
    if facts.kind == "numeric":
        return _ordinal_matches(norm, facts)
    for pattern in _TIMES_AND_METRICS:  # "45 seconds" does not write the class "Second"
        norm = pattern.sub(" ", norm)
    # the possessive "passenger's" writes no value "S"
    said = set(words(re.sub(r"(?<=[a-z])['’]s\b", " ", norm)))
    said_numbers = numbers(norm)
    found = []
    for value in facts.values:
        folded = value.lower()
        if _CJK_VALUE.fullmatch(folded):  # Chinese has no spaces: the value as written
            if folded in norm:
                found.append(value)
            continue
        tokens = [w for w in words(folded) if w not in STOPWORDS]
        letters = [t for t in tokens if t[0].isalpha()]
        if letters and all(any(same_word(t, w) for w in said) for t in letters) \
                and all(any(same_word(t, w) for w in said) or t[0].isdigit() for t in tokens):
            found.append(value)
        elif not letters and re.search(r"[^\d\s.,]", folded) and numbers(folded) & said_numbers:
            found.append(value)  # ">50K" is more than a number: it is a class named by one
    return found


#: A value in Chinese of two characters or more (one character says too little: 男, 是).
_CJK_VALUE = re.compile(r"[\u4e00-\u9fff]{2,}")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b|第([一二三四五六七八九十\d]+)")


def _ordinal_matches(norm: str, facts: ColumnFacts) -> list[str]:
    """The values of a numbered column that the request lists as ordinals: "1st, 2nd or
    3rd" (or 第一, 第二) are the classes of a column numbered 1, 2, 3 and nothing else."""
    said = set()
    for m in _ORDINAL.finditer(norm):
        try:
            said.add(float(m[1]) if m[1] else lex.number(m[2]))
        except (KeyError, ValueError):
            continue
    by_value = {}
    for value in facts.values:
        try:
            by_value[float(value)] = value
        except ValueError:
            continue
    if len(said) < 2 or said != set(by_value):  # every class listed, no other
        return []
    return [by_value[v] for v in sorted(said)]


# --- by the form of the question, and the stated task ----------------------------------

#: Shapes of answer a question asks for, each with the English and Chinese forms that ask it.
QUESTION_FORMS: dict[str, re.Pattern[str]] = {
    # "how many" asks for a count: whole numbers
    "count": re.compile(lex.B + r"how\s+many" + lex.E + r"|几次|几个|几种|多少次|多少个|多少种"),
    "quantity": re.compile(
        lex.B + r"how\s+(?!do\b|does\b|did\b|to\b|is\b|are\b|was\b|can\b|would\b|should\b"
        r"|will\b|could\b|about\b)[a-z]+" + lex.E + r"|多少|多大|多高|多重|多长|多久|多贵|几[个岁年次]"),
    "binary": re.compile(
        lex.B + r"(?:whether|who)" + lex.E + r"|^\s*(?:will|would|does|do|did|is|are|was|were"
        r"|has|have|had)\s+(?![^?]*\bor\b)[^?]*\?"
        # "a good or a bad …": two alternatives, no list before them
        r"|^[^,?]*?" + lex.B + r"[a-z]+\s+or\s+(?:an?\s+|the\s+)?[a-z]+" + lex.E + r"[^,]*\?"
        # A-not-A questions, and antonym pairs that ask for a judgement (好坏, 真假)
        r"|是否|会不会|能不能|是不是|有没有|可不可以|好坏|真假|对错|成败|输赢|有无"),
    "classes": re.compile(
        lex.B + r"(?:which|where|what\s+(?:kind|type|sort|class|category|group)s?"
        r"|is\s+(?:it|this|that|the\s+\w+)\s+[^?]*\bor\b)" + lex.E
        + r"|哪个|哪些|哪种|哪类|哪一|哪里|什么(?:类型|种类|类别)"),
}


def question_form(norm: str) -> tuple[str, str] | None:
    """The shape of answer the request asks for ("count", "quantity", "binary" or
    "classes") and the words that ask it: "how many" a count, "how heavy" a quantity, "will the client …?" yes or no,
    "which …", "is it A or B" classes. None for a plain order ("predict price")."""
    for clause in re.split(r"(?<=[?？.!;。！；])\s*", norm):
        for shape, pattern in QUESTION_FORMS.items():
            m = pattern.search(clause)
            if m:
                phrase = m[0].strip()
                short = " ".join(phrase.split()[:5])
                return shape, short + (" …" if short != phrase and " " in phrase else "")
    return None


def shape_fit(shape: str, facts: ColumnFacts) -> float:
    """How well a column fits an answer of `shape`: positive fits, negative contradicts."""
    # a yes/no question has no continuous answer, and "how much" no answer in words
    if shape == "count":  # whole numbers fit a count best; a measurement less
        if facts.kind != "numeric":
            return -1.0
        return 0.5 if facts.whole and facts.n_unique > 2 else 0.2 if facts.n_unique > 2 else 0.0
    if shape == "quantity":  # a count with few values ("how many children") is one too
        return 0.4 if facts.quantity_like else (-1.0 if facts.kind != "numeric" else (
            0.2 if facts.n_unique > 2 else 0.0))
    if shape == "binary":
        return 0.5 if facts.n_unique == 2 else (0.1 if facts.label_like else -1.0)
    if shape == "classes":  # a choice of several; integer codes may be classes too
        return 0.4 if facts.label_like and facts.n_unique > 2 else (
            0.2 if facts.label_like else 0.1 if facts.integer_codes else -0.6)
    return 0.0


# --- by meaning ---------------------------------------------------------------------------

#: Request words that are about the job, not the data: metrics, times, task verbs, cues.
_JOB_WORDS = [*_TIMES_AND_METRICS, lex.GOAL_NUMBER, re.compile(lex.INTENT),
              re.compile(lex.TARGET_CUES), re.compile(lex.FEATURE_CUES), re.compile(lex.DROP_CUES)]


def meaning_phrases(norm: str, columns: list[str] = ()) -> list[str]:
    """The content words and word pairs of a request, job words (metrics, times, "predict")
    and words that only describe the file or say whose thing is meant removed, for
    comparing with column names by meaning."""
    # inputs and drops are not what the request asks for: "from age and employment years";
    # nor is the file: "这份选民数据" (this voter data)
    norm = _FILE_PHRASE.sub(" | ", norm)
    norm = re.sub(f"(?:{lex.FEATURE_CUES}|{lex.DROP_CUES})[^,;.!?，。；！？]*", " | ", norm)
    for pattern in _JOB_WORDS:
        norm = pattern.sub(" | ", norm)
    phrases: list[str] = []
    about_file = file_words(norm) | owners(norm, list(columns))
    for part in re.split(r"[|,;.!?，。；！？、]", norm):
        content = [w for w in re.findall(r"[a-z]+", part)
                   if w not in STOPWORDS and len(w) > 1 and w not in about_file]
        phrases += content + [f"{a} {b}" for a, b in pairwise(content)]
        # Chinese has no spaces: its words are among the runs' two- and three-character pieces
        for run in re.findall(r"[\u4e00-\u9fff]+", part):
            phrases += [run[i:i + n] for n in (2, 3) for i in range(len(run) - n + 1)]
    return list(dict.fromkeys(phrases))


def meaning_similarity(vectors, phrases: list[str], columns: list[str]
                       ) -> tuple[np.ndarray, float]:
    """Per column, the best cosine between a request phrase and the column's name words,
    and the typical column's best (the level that means nothing).

    Phrases that write a word of any column's name are spent on that name (the name
    evidence counts them), and each phrase counts only for the columns it is nearest to:
    "passenger" may mean one column a little, not every column somewhat."""
    if not phrases:
        return np.zeros(len(columns)), 0.0
    tokens = [name_tokens(c) for c in columns]
    named = {t for own in tokens for t in own if len(t) > 1 and t not in STOPWORDS}
    free = [p for p in phrases if not any(same_word(w, t) for w in p.split() for t in named)]
    if not free:
        return np.zeros(len(columns)), 0.0
    similarity = vectors.similarity(free, [" ".join(t) or c for t, c in
                                           zip(tokens, columns, strict=True)])
    typical = float(np.median(similarity.max(axis=0)))
    nearest = similarity >= similarity.max(axis=1, keepdims=True) - 0.05
    return np.where(nearest, similarity, -1.0).max(axis=0), typical
