"""Customer Radar entry point: page config, secrets, navigation. Nothing else.

Run with `streamlit run app.py`. Login goes between the secrets and the navigation
(a `components/auth.py` deciding the role, then only that role's pages).
"""

from __future__ import annotations

import os

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

st.set_page_config(page_title="Customer Radar", page_icon=":material/radar:", layout="wide")


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

pages = {
    "Portfolio": [
        st.Page("pages/overview.py", title="Portfolio overview", icon=":material/monitoring:", default=True),
    ],
}
st.navigation(pages).run()
