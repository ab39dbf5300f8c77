"""Who is calling: `Authorization: Bearer <key>` -> the key's record and Viewer, its scope checked
and its rate limit applied; and the warehouse each request reads.

A key acts as a `Viewer` of its role (a CSM key as its owner), so every engine function scopes
the data exactly as it does for a person logged into the app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.api.errors import Problem
from engine.api.ratelimit import RateLimiter
from engine.auth import keys
from engine.core.access import Viewer
from engine.core.errors import NotFoundError
from engine.data.warehouse import Warehouse, serving_reader

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="API key",
    description="An API key from `.venv/bin/python -m engine keys create`, sent as `Authorization: Bearer rk_...`.",
)


@dataclass(frozen=True)
class Caller:
    """The authenticated key, who it acts as, and the data dir it reads."""

    key: keys.ApiKey
    viewer: Viewer
    data_dir: str


def _unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("Send an API key as `Authorization: Bearer <key>`.")
    data_dir = request.app.state.data_dir
    key = keys.authenticate(credentials.credentials, data_dir)  # KeyRejected -> 401
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(key.name)
    if wait:
        raise Problem(
            429,
            f"API key '{key.name}' made more than {limiter.capacity:g} requests in a minute. Try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return Caller(key=key, viewer=key.viewer(keys.csm_book_owner(key, data_dir)), data_dir=data_dir)


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the caller, when its key holds `scope` (401 without a usable key, 429 over
    the rate limit, 403 without the scope).

    The dependencies run on the event loop (a key lookup and a snapshot lookup each take well
    under a millisecond): a sync dependency is a hop to the thread pool and back, and under 50
    concurrent clients those hops, not the work, made the slowest answers."""
    if scope not in keys.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")  # a typo in a route, caught at import

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Caller:
        found = _authenticate(request, credentials)
        if not found.key.allows(scope):
            raise Problem(
                403,
                f"API key '{found.key.name}' does not have the scope '{scope}' ({keys.SCOPES[scope]}). "
                f"Its scopes: {', '.join(found.key.scopes) or 'none'}.",
            )
        return found

    return caller


async def warehouse(request: Request) -> Warehouse:
    """The warehouse this request reads: resolved once per request (FastAPI caches a dependency
    within a request) and never kept across requests."""
    try:
        return serving_reader(request.app.state.data_dir)
    except NotFoundError as exc:
        raise Problem(503, str(exc), title="No warehouse") from exc


# Route parameters: the caller holding a scope, and the request's warehouse.
ScoresRead = Annotated[Caller, Depends(require("scores:read"))]
CustomersRead = Annotated[Caller, Depends(require("customers:read"))]
AiWrite = Annotated[Caller, Depends(require("ai:write"))]
ForecastsRead = Annotated[Caller, Depends(require("forecasts:read"))]
ScenariosRead = Annotated[Caller, Depends(require("scenarios:read"))]
ScenariosWrite = Annotated[Caller, Depends(require("scenarios:write"))]
ModelsRead = Annotated[Caller, Depends(require("models:read"))]
Reader = Annotated[Warehouse, Depends(warehouse)]
