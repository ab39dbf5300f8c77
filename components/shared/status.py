"""Page states shared by every page that shows churn scores."""

from __future__ import annotations

import streamlit as st

from components.shared import cache
from engine.core import config
from engine.core.access import ACTION_ROLES, READ_ONLY_MESSAGE, Viewer


def require_scores(data_dir: str) -> None:
    """Stop the page with what is wrong and how to fix it when scores cannot be served
    (no data, no production model, a model failing verification, or nothing scored yet)."""
    if cache.data_as_of(data_dir) is None:
        st.info(
            f"No customer data yet in `{data_dir}`. Run `make run` (demo company) or load your data with "
            "`.venv/bin/python -m engine ingest customers customers.csv`, then reload this page.",
            icon=":material/database:",
        )
        st.stop()
    ready = cache.readiness(data_dir)
    if not ready.ready:
        st.warning(f"**Churn scores unavailable.** {ready.message}", icon=":material/model_training:")
        st.stop()


def read_only_notice(viewer: Viewer) -> None:
    """On a read-only replica, tell an admin why loading, retraining and promoting are off."""
    if config.read_only() and viewer.role in ACTION_ROLES["load_data"]:
        st.info(READ_ONLY_MESSAGE, icon=":material/lock:")
