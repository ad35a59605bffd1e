"""The suite's one scripted chat model: it replays AI messages (tool calls included) in
order and records what it was sent, so tests can drive the LLM path of every agent."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

_ids = itertools.count()


def tool_call(tool: str, /, **args: Any) -> AIMessage:
    """An AI message that calls one tool with `args`."""
    return AIMessage(content="", tool_calls=[{"name": tool, "args": args, "id": f"call-{next(_ids)}"}])


class ScriptedChatModel(BaseChatModel):
    """Answers each call with the next scripted message; fails loudly when the script runs out."""

    script: list[AIMessage]
    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _bound: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        """The message lists the model was called with, in order."""
        return self._calls

    @property
    def bound(self) -> list[dict[str, Any]]:
        """The options each `bind_tools` was given (e.g. `max_tokens`), in order."""
        return self._bound

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        """Tools are accepted and ignored: the script already says which to call. The
        options are recorded (`bound`)."""
        self._bound.append(kwargs)
        return self

    def _generate(self, messages: list[BaseMessage], stop=None, run_manager=None, **kwargs: Any
                  ) -> ChatResult:
        self._calls.append(list(messages))
        if len(self._calls) > len(self.script):
            raise AssertionError(f"scripted model called {len(self._calls)} times; "
                                 f"the script has {len(self.script)} answers")
        return ChatResult(generations=[ChatGeneration(message=self.script[len(self._calls) - 1])])
