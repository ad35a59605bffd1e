"""Knowledge: search the fault knowledge base (error signature -> diagnosis -> fix)."""

from __future__ import annotations

import threading
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request

from mlpilot.interfaces.auth import Viewer
from mlpilot.interfaces.problems import problem_responses
from mlpilot.knowledge.kb import Hit, KnowledgeBase

router = APIRouter(prefix="/knowledge", tags=["knowledge"], responses=problem_responses(401, 403))
# The fault doctor opens the same embedded ChromaDB from worker threads; searches open
# it one at a time too, and close it again (a client held open would go stale).
_KB_LOCK = threading.Lock()


@router.get("/search", response_model=list[Hit])
async def search_knowledge(
    request: Request, caller: Viewer,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="An error text.")],
    k: Annotated[int, Query(ge=1, le=50, description="How many results.")] = 5,
    kind: Annotated[str | None, Query(max_length=100, description="Only this fault kind.")] = None,
) -> list[Hit]:
    """What the knowledge base knows about an error, best fix first."""
    folder = request.app.state.settings.knowledge_dir

    def search() -> list[Hit]:
        with _KB_LOCK, KnowledgeBase(folder) as kb:
            return kb.search(q, k=k, fault_kind=kind)

    return await anyio.to_thread.run_sync(search)
