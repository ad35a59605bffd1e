"""Config patches: the small language knowledge-base fixes are written in.

A patch is a flat dict from a dotted path in a `TrainingConfig` dump to an
instruction:

- a number, bool, None, list or dict **sets** the value
  (`{"optimizer.grad_clip_norm": 1.0}`, `{"optimizer.grad_clip_norm": None}` turns clipping off);
- a string `"x<factor>"` **multiplies** the current number (`{"optimizer.learning_rate": "x0.1"}`);
- a string `"+<n>"` or `"-<n>"` **adds** to the current number
  (`{"early_stopping_patience": "+10"}`);
- any other string **sets** that string (`{"optimizer.scheduler": "plateau"}`);
- a string `"$fault.<name>"` stands for a fact of the fault being fixed; `fill_facts`
  replaces it before the patch is applied (`{"preprocessing.drop_columns": "$fault.columns"}`
  drops the columns the fault named, next to those already dropped).

An empty patch changes nothing: "retry as is" (a crashed worker restarts from its checkpoint).

Arithmetic on an integer field gives an integer (rounded, and at least 1 when the
field was positive, so `batch_size` "x0.5" on 1 stays 1). Arithmetic on a missing
or non-numeric value is an error: the fix was written for another config.
The patch never creates keys, so a typo in a path fails instead of being ignored.
Range limits (learning rate <= 10 ...) are the config model's job: validate after patching.
"""

from __future__ import annotations

import copy
import re
from typing import Any

#: A patch value that starts with this names a fact of the fault (see `fill_facts`).
FACT_PREFIX = "$fault."
_ARITH = re.compile(r"^\s*(?P<op>[x*+-])\s*(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)\s*$")


def _resolve(config: dict, path: str) -> tuple[dict, str]:
    """The dict holding the last key of `path`, and that key; KeyError if any part is unknown."""
    parts = path.split(".")
    node: Any = config
    for depth, key in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if not isinstance(node, dict):
            raise KeyError(f"unknown config path {path!r}: {where!r} is not a section")
        if key not in node:
            known = ", ".join(sorted(node)) or "none"
            raise KeyError(
                f"unknown config path {path!r}: no key {key!r} in {where} (known: {known})"
            )
        if depth == len(parts) - 1:
            return node, key
        node = node[key]
    raise KeyError(f"empty config path {path!r}")  # pragma: no cover - split never returns []


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _arithmetic(path: str, current: Any, op: str, amount: float) -> int | float:
    if not _is_number(current):
        raise ValueError(
            f"cannot apply '{op}{amount:g}' to {path!r}: its current value is {current!r}, "
            "not a number; set it to a number instead"
        )
    result = current * amount if op in "x*" else current + amount if op == "+" else current - amount
    if isinstance(current, int):
        result = round(result)
        if current > 0:
            result = max(result, 1)
    return result


def apply_patch(config: dict, patch: dict) -> dict:
    """Return a copy of `config` with `patch` applied (see the module docstring for the rules).

    Args:
        config: A nested config dict, e.g. `TrainingConfig().model_dump()`; not modified.
        patch: Dotted path -> instruction.

    Raises:
        KeyError: a path that does not exist in `config` (the message lists the known keys).
        ValueError: arithmetic on a value that is not a number.
    """
    result = copy.deepcopy(config)
    for path, instruction in patch.items():
        holder, key = _resolve(result, path)
        match = _ARITH.match(instruction) if isinstance(instruction, str) else None
        if match:
            holder[key] = _arithmetic(path, holder[key], match["op"], float(match["num"]))
        else:
            holder[key] = copy.deepcopy(instruction)
    return result


def fill_facts(patch: dict, facts: dict[str, Any], config: dict) -> dict:
    """`patch` with each "$fault.NAME" value replaced by `facts[NAME]`; a list fact for a
    path that holds a list joins that list (keeping its items first, without repeats).

    Raises:
        KeyError: `facts` lacks a name the patch uses (the patch is for another fault).
    """
    filled = {}
    for path, value in patch.items():
        if isinstance(value, str) and value.startswith(FACT_PREFIX):
            name = value[len(FACT_PREFIX):]
            if name not in facts:
                raise KeyError(f"{path!r} needs the fault's {name!r}, which this fault lacks")
            value = copy.deepcopy(facts[name])
            try:
                holder, key = _resolve(config, path)
                current = holder[key]
            except KeyError:
                current = None
            if isinstance(value, list) and isinstance(current, list):
                value = [*current, *(v for v in value if v not in current)]
        filled[path] = value
    return filled


def describe_patch(patch: dict) -> str:
    """One line for people: `optimizer.learning_rate x0.1, optimizer.grad_clip_norm = 1.0`
    ("no change" for an empty patch)."""
    if not patch:
        return "no change"
    parts = []
    for path, instruction in patch.items():
        if isinstance(instruction, str) and _ARITH.match(instruction):
            parts.append(f"{path} {instruction.strip()}")
        else:
            parts.append(f"{path} = {instruction!r}")
    return ", ".join(parts)
