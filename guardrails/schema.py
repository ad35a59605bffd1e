"""The schema layer: pydantic validation errors turned into findings an LLM can act on."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from .findings import Finding

_BOUNDS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}
_KIND_HINTS = {
    "int": "use a whole number.",
    "float": "use a number.",
    "bool": "use true or false.",
    "list": "use a JSON list.",
    "tuple": "use a JSON list of two values, [low, high].",
    "string": "use a string.",
}


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The nested pydantic model found by following field names `loc` from `model`."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hint(error: dict[str, Any], model: type[BaseModel], field: str) -> str:
    kind, ctx, loc = error["type"], error.get("ctx") or {}, error["loc"]
    if kind == "missing":
        return f"add {field}."
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        if parent is None:
            return f"remove {field}."
        allowed = list(parent.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        guess = f" Did you mean {close[0]!r}?" if close else ""
        return f"remove {field}; allowed fields here: {', '.join(allowed)}.{guess}"
    if kind in ("literal_error", "enum"):
        return f"use one of {ctx.get('expected', 'the allowed values')}."
    if kind in _BOUNDS:
        key, op = _BOUNDS[kind]
        return f"use a value {op} {ctx.get(key)}."
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"use a JSON object for {field}."
    for prefix, hint in _KIND_HINTS.items():
        if kind.startswith(prefix):
            return hint
    return f"change {field} so that it is valid: {error['msg']}."


def schema_findings(
    exc: ValidationError, model: type[BaseModel], prefix: str = ""
) -> list[Finding]:
    """One "schema" error finding per pydantic error, on the dotted field path (with `prefix`)."""
    findings = []
    for error in exc.errors():
        path = ".".join(str(p) for p in error["loc"])
        field = prefix + path if path else (prefix.rstrip(".") or "config")
        message = error["msg"]
        if error["type"] not in ("missing", "extra_forbidden") and "input" in error:
            message += f" (got {_short_repr(error['input'])})"
        findings.append(Finding(
            check_id="schema", severity="error", field=field,
            message=message + ".", hint=_hint(error, model, field),
        ))
    return findings
