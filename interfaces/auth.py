"""API keys and roles: viewer < operator < approver.

A key comes in the `X-API-Key` header (or `Authorization: Bearer KEY`). Keys and their
roles come from settings (`MLPILOT_API_KEYS='{"KEY": "viewer", "KEY2": {"role":
"approver", "name": "alice"}}'`). No key: 401; a role too low: 403. A caller's name
(the key's `name`, else a short fingerprint of the key) is what decisions record as "by".
A key is read from headers only, never from the query string; a request with a body has
its key checked before the body is read (`security.KeyBeforeBody`), its role here.

| role | may |
| --- | --- |
| viewer | read jobs, events, approvals, models, deployments, drift, the knowledge base |
| operator | and submit and cancel jobs, predict, send feedback, propose promotions |
| approver | and approve or reject, deploy and roll back |
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from mlpilot.agent.settings import ApiKey, Role

ROLES: tuple[Role, ...] = ("viewer", "operator", "approver")
#: The cookie the web pages keep a signed-in key in (`interfaces/web.py`).
SESSION_COOKIE = "mlpilot_key"

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="An API key from MLPILOT_API_KEYS.")
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


class Caller(BaseModel):
    """Who is calling: the name decisions are recorded under, and their role."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this caller's role includes `role`."""
        return ROLES.index(self.role) >= ROLES.index(role)


def identify(keys: dict[str, ApiKey], given: str | None) -> Caller | None:
    """The caller holding key `given`, or None (keys compared in constant time)."""
    if not given:
        return None
    found = None
    for key, holder in keys.items():
        if hmac.compare_digest(key.encode(), given.encode()):
            found = holder
    if found is None:
        return None
    fingerprint = hashlib.sha256(given.encode()).hexdigest()[:8]
    return Caller(name=found.name or f"{found.role}-key-{fingerprint}", role=found.role)


def require(role: Role):
    """A dependency that lets only callers whose role includes `role` through."""

    async def caller(request: Request,  # async: no thread hop for a dictionary lookup
               key: Annotated[str | None, Security(_api_key)] = None,
               bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
               ) -> Caller:
        given = key or (bearer.credentials if bearer else None)
        if not given:
            raise HTTPException(401, "an API key is required: send it in the X-API-Key header",
                                headers={"WWW-Authenticate": "Bearer"})
        who = identify(request.app.state.settings.api_keys, given)
        if who is None:
            raise HTTPException(401, "unknown API key: use one listed in MLPILOT_API_KEYS",
                                headers={"WWW-Authenticate": "Bearer"})
        if not who.may(role):
            raise HTTPException(403, f"this needs the {role} role; your key has the {who.role} role")
        return who

    return Depends(caller)


Viewer = Annotated[Caller, require("viewer")]
Operator = Annotated[Caller, require("operator")]
Approver = Annotated[Caller, require("approver")]
