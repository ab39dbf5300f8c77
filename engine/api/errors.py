"""Every error the API answers with is an RFC 7807 problem: `application/problem+json`
`{type, title, status, detail, instance}`.

Engine errors keep their messages (they were written for a person to act on); their class
picks the status. Anything unexpected is a generic 500 whose body says nothing about the
code: the traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.auth.keys import KeyRejected
from engine.core.access import AccessDenied
from engine.core.errors import (
    BadInputError,
    ModelUnavailableError,
    NotFoundError,
    RadarError,
    WarehouseError,
    WarehouseLockedError,
)

log = logging.getLogger("engine.api")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:customer-radar:problem:"
BUSY_RETRY_SECONDS = 5  # a writer holds the warehouse: long enough for a publish, short for a client

# status -> (slug, title): the problem types the API uses.
TITLES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Missing or invalid API key"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    422: ("invalid-input", "Invalid input"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class Problem(Exception):
    """An error the API answers with as it is: status, detail, optional headers and extra members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.headers = dict(headers or {})
        self.extra = extra


class NotScored(Problem):
    """The account exists (and the caller may see it) but has no churn score yet."""

    def __init__(self, customer_id: str, what: str = "churn score", why: str | None = None):
        """`why`: the reason when no account is scored at all (a book too young to train on)."""
        super().__init__(
            409,
            f"Customer '{customer_id}' has no {what} yet: "
            + (
                why
                or "it is not active, or scoring has not run since it was added (an admin can run "
                "`.venv/bin/python -m engine score`)."
            ),
            title="Not scored",
        )


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    slug, default_title = TITLES.get(status, ("error", "Error"))
    body = {
        "type": TYPE_PREFIX + slug,
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON)


def status_of(exc: RadarError) -> int:
    """The HTTP status an engine error stands for."""
    if isinstance(exc, KeyRejected):
        return 401
    if isinstance(exc, NotFoundError):  # a CSM's "not in your book" is one of these: 404, like an unknown id
        return 404
    if isinstance(exc, AccessDenied):
        return 403
    if isinstance(exc, WarehouseLockedError | WarehouseError | ModelUnavailableError):
        return 503
    if isinstance(exc, BadInputError):
        return 422
    return 422  # any other expected failure is about what was asked


def _engine_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RadarError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, WarehouseLockedError):
        headers["Retry-After"] = str(BUSY_RETRY_SECONDS)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return problem_response(request, status, str(exc), headers=headers)


def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(request, exc.status, exc.detail, title=exc.title, headers=exc.headers, **exc.extra)


def _field(loc: tuple[Any, ...]) -> str:
    """'body.features.mrr' for pydantic's ('body', 'features', 'mrr')."""
    return ".".join(str(part) for part in loc)


def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(request, 400, "The request body is not valid JSON.")
    # The values are left out: they may be long, or secret.
    fields = [
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return problem_response(request, 422, detail or "The request is not valid.", errors=fields)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, ("", "Error"))[1]
    return problem_response(request, exc.status_code, detail, headers=exc.headers)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request, 500, "Something went wrong on the server. The error is in the server log; try again later."
    )


def install(app: FastAPI) -> None:
    """Answer every error as a problem document."""
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RadarError, _engine_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (`problem_docs` gives them the problem+json type)."""
    from engine.api.models import ProblemDetails

    return {status: {"model": ProblemDetails, "description": TITLES[status][1]} for status in statuses}


def problem_docs(schema: dict[str, Any]) -> dict[str, Any]:
    """Every error response in an OpenAPI document as `application/problem+json` ProblemDetails
    (FastAPI lists them as application/json, and its own 422 as HTTPValidationError)."""
    problem = {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status)[:1] in "45":
                    response["content"] = {PROBLEM_JSON: problem}
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema
