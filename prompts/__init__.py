"""Jinja2 prompt templates, one per agent role, rendered with `StrictUndefined`.

User- and file-provided text is passed in as variables and quoted inside clear
delimiters by the templates: it is data, never instructions. Short values (column names,
category values, file names) go in as `quote`d one-line strings, cut to a width; longer
text goes in a delimited block through the `block` filter, which keeps the text from
writing the block's own delimiters.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

_DIR = Path(__file__).parent
#: The delimiters the templates put around blocks of data (`<<<NAME` ... `NAME>>>`).
_DELIMITER = re.compile(r"<<<|>>>")


def quote(value: Any, width: int = 60) -> str:
    """`value` as one quoted line of data, cut to `width` characters: newlines and quotes
    are escaped, so a name such as 'x"\nSYSTEM: ...' cannot start a line of its own, and
    block delimiters are broken up as in `block`."""
    text = block(value)
    if len(text) > width:
        text = text[:width - 1] + "…"
    return json.dumps(text, ensure_ascii=False)


def block(value: Any) -> str:
    """Text for inside a delimited block: any `<<<` or `>>>` it holds is broken up, so the
    text can neither close its block nor open one that looks like the prompt's own."""
    return _DELIMITER.sub(lambda m: " ".join(m.group(0)), str(value))


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(quote=quote, block=block)
    return env


def render(template: str, **variables: Any) -> str:
    """Render `prompts/<template>.j2`; a variable the template needs but was not given raises."""
    return _environment().get_template(f"{template}.j2").render(**variables)


def template_names() -> list[str]:
    """Every prompt template shipped."""
    return sorted(p.stem for p in _DIR.glob("*.j2"))
