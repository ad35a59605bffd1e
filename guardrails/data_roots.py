"""Data roots: the only folders a server (REST, Slack, web pages) or the chat reads data from.

A data path from such a caller is checked in two steps. First its text alone, before the
file system is touched: NUL and control characters, over-long paths, URLs and drive letters,
URL-encoded characters, backslashes, `~`, `..` and names that end in a space or a dot are
refused. Then it is resolved against the roots, symlinks followed, and must land inside
one. A refusal is a `DataRootError` whose message names the rule and never anything read
from a file: a file outside the roots is never opened.

A path is written as a file inside a root (`penguins.csv`: the first root holding it), with
the root's label (`datasets:penguins.csv`), or as an absolute path inside a root. Documents
and events show paths in the labelled form (`display`, `redact`), never absolute server paths.

The CLI is not confined: it runs as the file's owner and may read what its user can read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

#: Longest path text accepted (PATH_MAX on Linux), and longest name of one folder or file.
MAX_PATH_CHARS, MAX_NAME_BYTES = 4096, 255
#: The label of the server's own state folder (reports, models), for `display` and `redact`.
STATE_LABEL = "state"
RULE = "data is read only from files inside the data roots"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class DataRootError(ValueError):
    """A data path refused by the data-roots rule (the API answers 403, `data-root`).

    `str(err)` is one line: what was refused, the rule, and what to give instead; it never
    quotes the path's target or anything read from a file.
    """


class DataRoots:
    """The folders data may be read from, each with a short label for display.

    Args:
        folders: the data roots (missing ones are allowed: an upload folder appears later).
        state_dir: the server's own state folder; `display` and `redact` show paths under it
            as `state:...`, but it is not a data root.
    """

    def __init__(self, folders: Iterable[Path | str], *, state_dir: Path | str | None = None):
        self.roots: list[tuple[str, Path]] = []
        self._given: dict[str, Path] = {}  # each root as configured, for `redact`
        for folder in folders:
            real = Path(os.path.realpath(Path(folder).expanduser()))
            if any(real == root for _, root in self.roots):
                continue
            label = _label(real.name, set(self.labels))
            self.roots.append((label, real))
            self._given[label] = Path(folder).expanduser()
        self.state_dir = Path(os.path.realpath(state_dir)) if state_dir is not None else None
        self._prefixes = self._display_prefixes(state_dir)

    @property
    def labels(self) -> list[str]:
        """The roots' labels, in order (e.g. ['datasets', 'uploads'])."""
        return [label for label, _ in self.roots]

    def resolve(self, raw: str | os.PathLike[str], *, field: str = "data") -> Path:
        """The real file `raw` names inside a root; DataRootError if it is refused.

        Relative paths are looked up in each root in turn (the first that holds the file,
        else the first root, so that a missing file gets the loader's "does not exist").
        `field` names the input in the message (data, test_data).
        """
        text = os.fspath(raw) if isinstance(raw, os.PathLike) else str(raw)
        why = self._malformed(text)
        if why:
            raise self._refusal(field, why)
        candidates = self._candidates(text, field)
        chosen = next((c for c in candidates if os.path.lexists(c)), candidates[0])
        real = Path(os.path.realpath(chosen))  # follows every symlink, of files and folders
        if not any(real.is_relative_to(root) for _, root in self.roots):
            raise self._refusal(field, "it leads outside the data roots")
        return real

    def display(self, path: str | os.PathLike[str]) -> str:
        """`path` as documents show it: `label:relative/path` inside a root or the state
        folder, else the file's name alone (never an absolute server path)."""
        real = Path(os.path.realpath(path))
        for label, root in self._all_folders():
            if real.is_relative_to(root):
                return f"{label}:{real.relative_to(root).as_posix()}"
        return Path(path).name

    def redact(self, text: str) -> str:
        """`text` with each absolute path under a root or the state folder shown as
        `label:relative` (for messages and events)."""
        for prefix, label in self._prefixes:
            text = text.replace(prefix, f"{label}:")
        return text

    def redact_json(self, text: str) -> str:
        """`redact` for JSON text, where a path may appear escaped."""
        for prefix, label in self._prefixes:
            text = text.replace(json.dumps(prefix)[1:-1], f"{label}:")
        return text

    # -- internals ------------------------------------------------------------------------

    def _malformed(self, text: str) -> str | None:
        """Why `text` cannot be a data path, judged from its characters alone."""
        if not text.strip():
            return "the path is empty"
        if len(text) > MAX_PATH_CHARS:
            return f"the path is longer than {MAX_PATH_CHARS} characters"
        if _CONTROL.search(text):
            return "the path holds a NUL or control character"
        scheme = _SCHEME.match(text)
        if scheme and scheme.group(1) not in self.labels:
            return "URLs and drive letters are not data paths"
        if "\\" in text:
            return "Windows-style paths (backslashes) are not data paths"
        if _ENCODED.search(text):
            return "URL-encoded characters (%xx) are not decoded"
        if text.startswith("~"):
            return "home folders (~) are not expanded"
        for name in text.split("/"):
            if name == "..":
                return "parent folders (..) are not allowed"
            if name not in ("", ".") and (name != name.strip() or name.endswith(".")):
                return "names that start or end with a space, or end with a dot, are not allowed"
            if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
                return f"a name in the path is longer than {MAX_NAME_BYTES} bytes"
        return None

    def _candidates(self, text: str, field: str) -> list[Path]:
        if not self.roots:
            raise self._refusal(field, "no data roots are configured")
        scheme = _SCHEME.match(text)
        if scheme:  # label:relative/path
            label, rest = scheme.group(1), text[scheme.end():]
            root = dict(self.roots)[label]
            return [root / rest.lstrip("/")]
        if os.path.isabs(text):
            return [Path(text)]
        return [root / text for _, root in self.roots]

    def _refusal(self, field: str, why: str) -> DataRootError:
        where = ", ".join(f"{label}:" for label in self.labels) or "none configured"
        example = f"{self.labels[0]}:file.csv" if self.labels else "file.csv"
        return DataRootError(f"{field}: path refused, {why}: {RULE} ({where}); give a file "
                             f"inside one, e.g. '{example}' (the roots: MLPILOT_DATA_ROOTS)")

    def _all_folders(self) -> list[tuple[str, Path]]:
        folders = list(self.roots)
        if self.state_dir is not None:
            folders.append((STATE_LABEL, self.state_dir))
        return sorted(folders, key=lambda item: -len(str(item[1])))  # the innermost first

    def _display_prefixes(self, state_dir: Path | str | None) -> list[tuple[str, str]]:
        """(absolute folder + '/', label) pairs, the longest first, as given and resolved."""
        given = dict(self._given)
        if state_dir is not None:
            given[STATE_LABEL] = Path(state_dir)
        pairs = set()
        for label, folder in self._all_folders():
            pairs.add((f"{folder}/", label))
            written = given.get(label)
            if written is not None:
                absolute = Path(os.path.abspath(written))
                pairs.add((f"{absolute}/", label))
        return sorted(pairs, key=lambda pair: -len(pair[0]))


def resolve_data_path(raw: str | os.PathLike[str], roots: list[Path]) -> Path:
    """The real file `raw` names inside one of `roots` (see `DataRoots.resolve`)."""
    return DataRoots(roots).resolve(raw)


def display_path(path: str | os.PathLike[str], roots: list[Path]) -> str:
    """`path` relative to its root, as `label:relative` (see `DataRoots.display`)."""
    return DataRoots(roots).display(path)


def _label(name: str, taken: set[str]) -> str:
    """A label for a root folder: its name as a word, made unique (`data`, `data-2`)."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "root"
    if not re.match(r"[a-z]", base):
        base = f"r{base}"
    base = base if base != STATE_LABEL else f"{base}-data"
    label, n = base, 2
    while label in taken:
        label, n = f"{base}-{n}", n + 1
    return label
