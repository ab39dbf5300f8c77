"""`python -m engine api`: serve the HTTP API with uvicorn.

Registered on import by `engine.cli`.
"""

from __future__ import annotations

import argparse

from engine.core.commands import command

DEFAULT_PORT = 8000


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )


@command("api", "serve the HTTP API (OpenAPI docs at /docs)", _api_args)
def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.api.app import create_app

    app = create_app(args.data_dir)
    print(f"Customer Radar API on http://{args.host}:{args.port}/v1 (docs: /docs), data in {args.data_dir}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
