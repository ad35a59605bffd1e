"""The one place that builds chat models, and the tool-calling loop the agents share.

`build_chat_model` returns a LangChain chat model for Anthropic, OpenAI or any
OpenAI-compatible server, or `None` for the offline expert (the default when no key or
URL is set). Framework layers move; keeping construction here means a move touches one
file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool

from mlpilot.agent.settings import Settings, resolve_provider
from mlpilot.tools.gate import ToolGate

log = logging.getLogger(__name__)

DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
    "openai_compatible": "llama3.1",
}


class LLMError(RuntimeError):
    """The configured LLM could not produce a usable answer within its turns."""


def build_chat_model(settings: Settings) -> BaseChatModel | None:
    """Build the chat model the settings ask for; `None` means the offline expert."""
    provider = resolve_provider(settings)
    model = settings.llm_model or DEFAULT_MODELS.get(provider)
    if provider == "offline":
        return None
    if provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        if not settings.anthropic_api_key:
            raise ValueError("llm_provider=anthropic needs ANTHROPIC_API_KEY")
        return ChatAnthropic(
            model=model, api_key=settings.anthropic_api_key, temperature=settings.llm_temperature
        )
    from langchain_openai import ChatOpenAI

    if provider == "openai":
        if not settings.openai_api_key:
            raise ValueError("llm_provider=openai needs OPENAI_API_KEY")
        return ChatOpenAI(
            model=model, api_key=settings.openai_api_key, temperature=settings.llm_temperature
        )
    if not settings.llm_base_url:
        raise ValueError("llm_provider=openai_compatible needs MLPILOT_LLM_BASE_URL")
    return ChatOpenAI(
        model=model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key or "not-needed",
        temperature=settings.llm_temperature,
    )


def call_until_submitted(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    tools: Sequence[BaseTool],
    finish: dict[str, Callable[[dict[str, Any]], Any]],
    max_turns: int = 6,
    gate: ToolGate | None = None,
    max_tokens: int | None = None,
) -> tuple[str, Any]:
    """Let the model call `tools` until it calls one named in `finish` with valid arguments.

    Every call passes `gate` first (default: no human approval at all), so a call the risk
    policy sends to a human, or to a tool not offered, is refused and audited. Ordinary
    tools run and their output goes back to the model. A finishing tool's handler
    validates the arguments: it returns the typed result, or raises `ValueError` whose
    text goes back to the model as a retry message naming the field.
    `max_tokens` caps each answer (a tool call is short: a cap stops a small model that
    rambles on after it). Returns `(tool name, handler result)`.
    """
    gate = gate or ToolGate(where="/".join(finish))
    by_name = {t.name: t for t in tools}
    bound = model.bind_tools(list(tools), **({"max_tokens": max_tokens} if max_tokens else {}))
    history: list[BaseMessage] = list(messages)
    for _ in range(max_turns):
        reply = bound.invoke(history)
        history.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            history.append(_nudge(finish))
            continue
        for call in reply.tool_calls:
            name, args = call["name"], call.get("args") or {}
            call_id = call.get("id") or name
            refusal = gate.refusal(call, by_name.get(name))
            if refusal:
                history.append(ToolMessage(refusal, tool_call_id=call_id, status="error"))
                continue
            if name in finish:
                try:
                    return name, finish[name](args)
                except ValueError as err:
                    history.append(ToolMessage(f"Invalid: {err}. Fix it and call {name} again.",
                                               tool_call_id=call_id, status="error"))
                    continue
            history.append(_run_tool(by_name, call, gate))
    raise LLMError(f"the model did not call {' or '.join(finish)} with valid arguments "
                   f"in {max_turns} turns")


def answer_with_tools(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    tools: Sequence[BaseTool],
    max_turns: int = 6,
    gate: ToolGate | None = None,
) -> tuple[str, list[BaseMessage]]:
    """Let the model call `tools` until it answers in plain text (a chat turn).

    Every call passes `gate` first (default: no human approval at all); a refusal goes
    back to the model like a tool's output. Each tool's output (or its complaint about the arguments, as a retry message) goes
    back to the model. Returns the answer and the whole message history, tool calls
    included, for the next turn.
    """
    gate = gate or ToolGate(where="chat")
    by_name = {t.name: t for t in tools}
    bound = model.bind_tools(list(tools))
    history: list[BaseMessage] = list(messages)
    for _ in range(max_turns):
        reply = bound.invoke(history)
        history.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return reply.text, history
        history.extend(_run_tool(by_name, call, gate) for call in reply.tool_calls)
    raise LLMError(f"the model did not answer within {max_turns} tool-calling steps")


def _run_tool(by_name: dict[str, BaseTool], call: dict[str, Any], gate: ToolGate) -> ToolMessage:
    """Run one ordinary tool call the gate allows; its output, or its complaint (the
    gate's refusal included), goes back to the model."""
    call_id = call.get("id") or call["name"]
    tool = by_name.get(call["name"])
    refusal = gate.refusal(call, tool)
    if refusal:
        offered = "" if tool else f" Use one of {sorted(by_name)}."
        return ToolMessage(refusal + offered, tool_call_id=call_id, status="error")
    try:
        output = _as_text(tool.invoke(call.get("args") or {}))
    except Exception as err:  # noqa: BLE001 -- the model gets the complaint and retries
        return ToolMessage(f"Error: {err}", tool_call_id=call_id, status="error")
    return ToolMessage(output, tool_call_id=call_id)


def _nudge(finish: dict[str, Any]) -> BaseMessage:
    from langchain_core.messages import HumanMessage

    return HumanMessage(f"Answer by calling one of these tools: {', '.join(finish)}.")


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return value.model_dump_json()
    return json.dumps(value, default=str)
