"""How a typed tool is declared: type hints + a docstring whose `Args:` describe every
parameter, and a risk level next to the definition that the risk policy reads.

A tool without parameter descriptions fails at import time, not in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool

Risk = Literal["low", "medium", "high", "critical"]


def typed_tool(risk: Risk, name: str | None = None) -> Callable[[Callable[..., Any]], BaseTool]:
    """Turn a function into a LangChain tool whose schema comes from its hints and docstring."""

    def wrap(func: Callable[..., Any]) -> BaseTool:
        tool = StructuredTool.from_function(
            func,
            name=name or func.__name__,
            parse_docstring=True,
            error_on_invalid_docstring=True,
            metadata={"risk": risk},
        )
        schema = tool.tool_call_schema.model_json_schema()
        undocumented = [p for p, spec in schema.get("properties", {}).items()
                        if not spec.get("description")]
        if undocumented:
            raise TypeError(f"tool {tool.name!r} has no description for {undocumented}")
        return tool

    return wrap


def risk_of(tool: BaseTool | Callable[..., Any]) -> Risk:
    """The declared risk level of a tool (LangChain tool or plain typed function)."""
    metadata = getattr(tool, "metadata", None) or {}
    risk = metadata.get("risk") or getattr(tool, "risk", None)
    if risk is None:
        raise LookupError(f"tool {getattr(tool, 'name', tool)!r} declares no risk level")
    return risk


def declare_risk(risk: Risk) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a plain typed function (called by nodes, not by the LLM) with its risk level."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func.risk = risk  # type: ignore[attr-defined]
        return func

    return wrap
