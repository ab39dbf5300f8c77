"""`python -m engine api`: serve the HTTP API with uvicorn.

Registered on import by `engine.cli`.
"""

from __future__ import annotations

import argparse
import os

from engine.core.commands import command
from engine.core.errors import BadInputError

DEFAULT_PORT = 8000


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (default 1); one per core keeps tail latency low under many clients. "
        "Each process keeps its own per-key rate limit.",
    )


@command("api", "serve the HTTP API (OpenAPI docs at /docs)", _api_args)
def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from engine.api.app import create_app

    if args.workers < 1:
        raise BadInputError(f"--workers is {args.workers}; give 1 or more server processes.")
    print(f"Customer Radar API on http://{args.host}:{args.port}/v1 (docs: /docs), data in {args.data_dir}", flush=True)
    if args.workers == 1:
        uvicorn.run(create_app(args.data_dir), host=args.host, port=args.port, log_level="info")
        return 0
    # Several processes import the app by name, so each builds its own over the same data dir.
    os.environ["RADAR_DATA_DIR"] = str(args.data_dir)
    uvicorn.run(
        "engine.api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="info",
    )
    return 0
