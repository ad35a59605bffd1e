"""Finding the dataset a chat line or a Slack message names.

People write "predict species from penguins.csv", "use data/churn.parquet" or "predict
churn from the customers dataset". A file name is looked up as written (chat only), then
in the data folder (`MLPILOT_DATASETS_DIR`); a bare name ("customers") matches a file
of the data folder by its stem. Slack users may only name files inside the data folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DATA_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
_FILE = re.compile(r"""(?<![\w./~-])([\w./~-]+\.(?:csv|tsv|parquet|pq))(?![\w])""",
                   re.IGNORECASE)


@dataclass(frozen=True)
class DataMention:
    """A dataset named in a message: the words used, and the file they resolve to (or None)."""

    words: str
    path: Path | None


def find_dataset(text: str, folder: Path | None, *, only_in_folder: bool = False
                 ) -> DataMention | None:
    """The dataset `text` names, or None when it names none.

    Args:
        text: the message.
        folder: the data folder that bare names and relative file names resolve against.
        only_in_folder: refuse anything outside `folder` (for remote users, e.g. Slack).
    """
    match = _FILE.search(text)
    if match:
        words = match.group(1).rstrip(".")
        return DataMention(words, _resolve(words, folder, only_in_folder))
    if folder is None or not folder.is_dir():
        return None
    lowered = _words(text)
    for path in sorted(available(folder), key=lambda p: -len(p.stem)):
        name = re.escape(_words(path.stem).removesuffix("s")) + "s?"  # penguin(s)
        if re.search(rf"(?<!\w){name}(?!\w)", lowered):
            return DataMention(path.stem, path.resolve())
    return None


def available(folder: Path | None) -> list[Path]:
    """The data files in the data folder, by name."""
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in DATA_SUFFIXES)


def _resolve(name: str, folder: Path | None, only_in_folder: bool) -> Path | None:
    written = Path(name).expanduser()
    candidates = [] if only_in_folder else [written]
    if folder is not None and not written.is_absolute():
        candidates.append(Path(folder) / written)
    for candidate in candidates:
        if candidate.is_file() and (not only_in_folder or _inside(candidate, folder)):
            return candidate.resolve()
    return None


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(Path(folder).resolve())


def _words(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.lower())
