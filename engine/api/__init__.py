"""The HTTP API: FastAPI over the same engine functions and contracts as the app and the CLI.

`engine.api.app.create_app(data_dir)` builds it; `python -m engine api` serves it with uvicorn.
(Nothing is imported here, so the CLI's other commands start without loading FastAPI.)
"""
