"""Jinja2 prompt templates, one per agent role, rendered with `StrictUndefined`.

User- and file-provided text is passed in as variables and quoted inside clear
delimiters by the templates: it is data, never instructions.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

_DIR = Path(__file__).parent


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(template: str, **variables: Any) -> str:
    """Render `prompts/<template>.j2`; a variable the template needs but was not given raises."""
    return _environment().get_template(f"{template}.j2").render(**variables)


def template_names() -> list[str]:
    """Every prompt template shipped."""
    return sorted(p.stem for p in _DIR.glob("*.j2"))
