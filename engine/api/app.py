"""The FastAPI application: `create_app(data_dir)`.

Everything lives under /v1; the OpenAPI docs are at /docs. Routes call the engine functions
the app's pages call and return the same contracts, serialised as `--json` prints them.
"""

from __future__ import annotations

import os
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

import engine
from engine.api import errors
from engine.api.ratelimit import RateLimiter, per_minute_from_env
from engine.api.routers import ai, customers, health, planning, portfolio, predictions, segments
from engine.auth.keys import SCOPES
from engine.core import config

TITLE = "Customer Radar API"
DESCRIPTION = f"""
Churn scores, Customer 360, AI texts, forecasts and scenarios from the Customer Radar engine.

**Auth**: send an API key as `Authorization: Bearer rk_...` (create one with
`.venv/bin/python -m engine keys create NAME --role ROLE`). A key acts with its role, like a
person logged into the app: a CSM key sees its own book only. Each route needs one scope:

{chr(10).join(f"* `{scope}`: {what}" for scope, what in SCOPES.items())}

**Errors** are `application/problem+json` (RFC 7807). **Rate limit**: `RADAR_API_RATE_LIMIT`
requests per minute per key (429 with `Retry-After` beyond it).
"""


def create_app(data_dir: str | os.PathLike | None = None) -> FastAPI:
    """The API over the data dir `data_dir` (default: RADAR_DATA_DIR, else ./data)."""
    app = FastAPI(
        title=TITLE,
        version=engine.__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below from local files: the default page loads its scripts from a CDN
        redoc_url=None,
        openapi_tags=[
            {"name": "health", "description": "Probes, no key needed"},
            {"name": "customers", "description": "One account's scores, 360 and lifetime value"},
            {"name": "ai", "description": "Grounded AI texts about one account (audited)"},
            {"name": "portfolio", "description": "The key's book: headline figures, questions (audited)"},
            {"name": "predictions", "description": "Scores of the key's book; one prediction from features"},
            {"name": "forecasts", "description": "Business series forecasts (leaders)"},
            {"name": "scenarios", "description": "What-if retention plans (leaders; running them: analysts)"},
            {"name": "models", "description": "Model registry and drift (leaders)"},
        ],
    )
    app.state.data_dir = str(config.data_dir(data_dir))
    app.state.rate_limiter = RateLimiter(per_minute_from_env())
    errors.install(app)
    v1 = APIRouter(prefix="/v1", responses=errors.documented(401, 403, 422, 429, 500))
    routers = (customers.router, ai.router, portfolio.router, predictions.router, planning.router, segments.router)
    for router in routers:
        v1.include_router(router)
    app.include_router(health.router, prefix="/v1")
    app.include_router(v1)
    _problem_openapi(app)
    _local_docs(app)
    return app


DOCS_ASSETS = "/docs-assets"


def _local_docs(app: FastAPI) -> None:
    """/docs with Swagger UI 5's files from the swagger-ui-py package: no network needed."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(files("swagger_ui") / "static")), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{TITLE} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def _problem_openapi(app: FastAPI) -> None:
    """The OpenAPI document with every error typed as a problem document (built once)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = errors.problem_docs(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
