"""Write or delete the login cookie in the browser, and hear back when it is done.

A Streamlit v2 component: its few lines of JavaScript run in the page itself, so nothing is
fetched and no iframe starts a framework (the cookie manager of extra-streamlit-components
loaded a React app and a style sheet twice per login, the slowest part of the page after
login). Written by JavaScript, the cookie cannot be HttpOnly (see components.shared.auth).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import streamlit as st

# Reports "written" once the browser has set (or expired) the cookie; `data` says how.
_JS = """
export default function ({ data, setStateValue }) {
  const parts = [`${data.name}=${data.value}`, "path=/", "SameSite=Strict", `expires=${data.expires}`];
  if (data.secure) parts.push("Secure");
  document.cookie = parts.join("; ");
  setStateValue("written", true);
}
"""
_COMPONENT = st.components.v2.component("radar_login_cookie", js=_JS)
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
_SAFE = re.compile(r"[A-Za-z0-9._~-]+")  # the cookie's name and a JWT need no quoting


def _http_date(when: datetime) -> str:
    when = when.astimezone(UTC) if when.tzinfo else when  # a naive time is taken as UTC
    return when.strftime("%a, %d %b %Y %H:%M:%S GMT")


def cookie_data(name: str, value: str | None, expires: datetime | None, secure: bool) -> dict:
    """What the browser is told: set `name` to `value` until `expires` (UTC), or delete it (value None)."""
    if not _SAFE.fullmatch(name) or (value is not None and not _SAFE.fullmatch(value)):
        raise ValueError("a login cookie holds only URL-safe characters")
    if value is None:
        return {"name": name, "value": "", "expires": _EXPIRED, "secure": secure}
    if expires is None:
        raise ValueError("a login cookie needs its expiry")
    return {"name": name, "value": value, "expires": _http_date(expires), "secure": secure}


def written(key: str) -> bool:
    """Whether the browser reported the write drawn under `key` done."""
    state = st.session_state.get(key)
    return bool(state and state.get("written"))


def draw(key: str, data: dict) -> None:
    """Draw the writer; the browser runs it once, then reports back (a rerun of the caller's fragment)."""
    _COMPONENT(key=key, data=data, on_written_change=lambda: None, height=0)
