"""Which names the model registry accepts.

MLflow's registry refuses a name that is blank, holds "/" or ":" (and, in its file
store, "\\" or "%"), or that a file path would turn into another name ("a/../b", "."),
and its SQL store keeps at most 256 characters. A model is also loaded as
`models:/<name>@<alias>` (or `.../<version>`), so "@" would make that URI ambiguous.
Checking here lets a submission be refused at once instead of after training.
"""

from __future__ import annotations

import posixpath
import unicodedata

#: The longest name MLflow's SQL store keeps.
MAX_MODEL_NAME_CHARS = 256
#: Characters the registry refuses or that break a `models:/name@alias` URI.
FORBIDDEN_CHARS = frozenset("/\\:%@")


def model_name_problem(name: str) -> str | None:
    """Why the registry would refuse `name` (one line naming the rule), or None if it is fine."""
    if not name.strip():
        return "a model name cannot be blank"
    if name != name.strip():
        return "a model name cannot start or end with spaces"
    if len(name) > MAX_MODEL_NAME_CHARS:
        return f"a model name has at most {MAX_MODEL_NAME_CHARS} characters"
    bad = sorted({c for c in name if c in FORBIDDEN_CHARS})
    if bad:
        return (f"a model name cannot contain {' '.join(repr(c) for c in bad)}: "
                "use letters, digits, '-', '_' and '.'")
    if any(unicodedata.category(c).startswith("C") for c in name):
        return "a model name cannot contain control characters"
    normal = posixpath.normpath(name)
    if normal != name or normal == "." or normal.startswith(".."):
        return f"a model name must not read as a path ({name!r} would resolve to {normal!r})"
    return None
