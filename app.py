"""Customer Radar entry point: page config, secrets, login, role-based navigation. Nothing else.

Run with `streamlit run app.py`. Who sees which page: engine/core/access.py (PAGE_ROLES); the
page table: components/shared/nav.py; login and the page guard: components/shared/auth.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from components.shared import auth, cache, nav

# The icon is a file in the repo: a ":material/...:" or emoji icon makes the browser fetch it
# from a font or emoji host, and the app must work with no network. The sidebar starts at
# 240 px (Streamlit's default is wider) so KPI cards and the board's columns fit at 1280 px.
ICON = Path(__file__).resolve().parent / "static" / "radar.png"
SIDEBAR_WIDTH = 240
st.set_page_config(page_title="Customer Radar", page_icon=str(ICON), layout="wide", initial_sidebar_state=SIDEBAR_WIDTH)


def secrets_to_env() -> None:
    """Top-level string secrets become environment variables, unless already set."""
    try:
        items = dict(st.secrets)
    except (StreamlitSecretNotFoundError, FileNotFoundError):  # no secrets.toml: env only
        return
    for key, value in items.items():
        if isinstance(value, str):
            os.environ.setdefault(key, value)


secrets_to_env()

cache.warm_up(cache.current_data_dir())  # each snapshot's book-wide reads are computed as it is published
viewer = auth.authenticate()
if viewer is None:
    nav.navigation_before_login()  # keeps a deep link's page and query parameters for after login
    auth.sync_cookie()
    st.stop()

page = nav.navigation(viewer)
auth.account_sidebar(viewer)
cache.pin_snapshot(cache.current_data_dir())  # one warehouse snapshot for the whole run
auth.run_page(page)
