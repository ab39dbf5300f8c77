"""Page states shared by every page that shows churn scores."""

from __future__ import annotations

import streamlit as st

from components.shared import cache
from engine.churn.status import Readiness
from engine.core import config
from engine.core.access import ACTION_ROLES, READ_ONLY_MESSAGE, Viewer


def require_scores(data_dir: str) -> None:
    """Stop the page with what is wrong and how to fix it when scores cannot be served
    (no data, no production model, a model failing verification, or nothing scored yet)."""
    require_data(data_dir)
    _stop_unless_ready(cache.readiness(data_dir))


def _stop_unless_ready(ready: Readiness) -> None:
    if not ready.ready:
        unavailable(ready)
        st.stop()


def unavailable(ready: Readiness, what: str = "Churn scores unavailable", then: str = "") -> None:
    """Why churn scores are not served (`ready.message`, then `then`): a fault in yellow under
    `what`; a book too young to train on in blue, as nothing is wrong and scores start on a
    known date (said once: the message itself starts "No churn scores yet")."""
    said = f"{ready.message} {then}".strip()
    if ready.pending:
        st.info(said, icon=":material/hourglass_top:")
    else:
        st.warning(f"**{what}.** {said}", icon=":material/model_training:")


def scores_or_book(data_dir: str, scored: bool) -> None:
    """For a page that can list the book without scores (the risk board): stop as
    `require_scores` does when scores exist but cannot be served (a model failing
    verification); before the first scores (a company too young to train on, or not scored
    yet), say why above the list instead of showing nothing."""
    ready = cache.readiness(data_dir)
    if scored or ready.status == "model_unavailable":
        _stop_unless_ready(ready)
    elif not ready.ready:
        unavailable(ready, then="Meanwhile the accounts are listed by MRR.")


def require_data(data_dir: str) -> None:
    """Stop the page with how to load data when the warehouse holds none."""
    if cache.data_as_of(data_dir) is None:
        st.info(
            f"No customer data yet in `{data_dir}`. Run `make run` (demo company) or load your data with "
            "`.venv/bin/python -m engine ingest customers customers.csv`, then reload this page.",
            icon=":material/database:",
        )
        st.stop()


def read_only_notice(viewer: Viewer) -> None:
    """On a read-only replica, tell an admin why loading, retraining and promoting are off."""
    if config.read_only() and viewer.role in ACTION_ROLES["load_data"]:
        st.info(READ_ONLY_MESSAGE, icon=":material/lock:")
