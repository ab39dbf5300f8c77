"""Settings read from the environment (Streamlit secrets become env vars in app.py)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_GROQ_MODEL = "llama-3.1-8b-instant"


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The runtime data folder: `override`, else RADAR_DATA_DIR, else ./data."""
    raw = override or os.environ.get("RADAR_DATA_DIR") or "data"
    path = Path(raw).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_path(directory: str | os.PathLike | None = None) -> Path:
    return data_dir(directory) / "warehouse.duckdb"


def state_url(directory: str | os.PathLike | None = None) -> str:
    """SQLAlchemy URL for app state: RADAR_STATE_URL, else a SQLite file in the data dir."""
    return os.environ.get("RADAR_STATE_URL") or f"sqlite:///{data_dir(directory) / 'state.db'}"


def groq_model() -> str:
    return os.environ.get("GROQ_MODEL") or DEFAULT_GROQ_MODEL
