"""Finding the dataset a chat line or a Slack message names.

People write "predict species from penguins.csv", "use data/churn.parquet" or "predict
churn from the customers dataset". A file name is resolved through the data roots (see
`guardrails/data_roots.py`): inside a root, symlinks followed, or refused with the rule; a
bare name ("customers") matches a file of the data folder (`MLPILOT_DATASETS_DIR`) by its
stem, and that file must lie inside the roots too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mlpilot.guardrails.data_roots import DataRootError, DataRoots

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
_FILE = re.compile(r"""(?<![\w./~-])([\w./~-]+\.(?:csv|tsv|parquet|pq))(?![\w])""",
                   re.IGNORECASE)


@dataclass(frozen=True)
class DataMention:
    """A dataset named in a message: the words used, the file they resolve to (or None),
    and why the data roots refused it (or None)."""

    words: str
    path: Path | None
    refused: str | None = None


def find_dataset(text: str, folder: Path | None, roots: DataRoots | None = None
                 ) -> DataMention | None:
    """The dataset `text` names, or None when it names none.

    Args:
        text: the message.
        folder: the data folder whose files bare names ("the customers dataset") match.
        roots: where files may be read from; None only to learn whether `text` names a
            file at all (the mention's path is then not looked up).
    """
    match = _FILE.search(text)
    if match:
        words = match.group(1).rstrip(".")
        return _resolved(words, words, roots)
    if folder is None or not folder.is_dir():
        return None
    lowered = _words(text)
    for path in sorted(available(folder, roots), key=lambda p: -len(p.stem)):
        name = re.escape(_words(path.stem).removesuffix("s")) + "s?"  # penguin(s)
        if re.search(rf"(?<!\w){name}(?!\w)", lowered):
            return _resolved(path.stem, str(path), roots)
    return None


def available(folder: Path | None, roots: DataRoots | None = None) -> list[Path]:
    """The data files in the data folder, by name (with `roots`: those inside them)."""
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir()
                  if p.suffix.lower() in DATA_SUFFIXES and p.is_file()
                  and (roots is None or _readable(p, roots)))


def _readable(path: Path, roots: DataRoots) -> bool:
    try:
        roots.resolve(path)
    except DataRootError:
        return False
    return True


def _resolved(words: str, path: str, roots: DataRoots | None) -> DataMention:
    if roots is None:
        return DataMention(words, None)
    try:
        found = roots.resolve(path)
    except DataRootError as err:
        return DataMention(words, None, refused=str(err))
    return DataMention(words, found if found.is_file() else None)


def _words(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.lower())
