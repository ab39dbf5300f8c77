"""While the login form is open, the browser fetches the code of the first page after login.

Streamlit's frontend loads each kind of element's code (metrics, buttons, download buttons, the
data grid ...) the first time a page shows one. In a new browser that is after the "Log in"
click, one wave of requests after another, on a server busy drawing the page: about a second
of the overview's time after login. The login form runs a small script that imports those
modules while the person types, so the page after login finds them loaded.

Only an optimisation: a module Streamlit no longer ships under its name is skipped, and a
failed import is ignored (the page then loads it as it would have anyway).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import streamlit as st

STREAMLIT_JS = Path(st.__file__).resolve().parent / "static" / "static" / "js"

# The elements the landing pages show (the overview for executives, analysts and admins, the
# risk board for CSMs; the cookie writer after every login), by their module's name.
AFTER_LOGIN = (
    "BidiComponent",
    "Button",
    "Metric",
    "DownloadButton",
    "Spinner",
    "rehype-raw",
    "DataFrame",
    "Multiselect",
    "Selectbox",
    "Checkbox",
    "NumberInput",
)

_SCRIPT = """<script>
(() => {
  if (window.__radarPreloaded) return;
  const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
  if (!main) return;
  window.__radarPreloaded = true;
  const files = %s;
  const load = () => {
    files.forEach((file) => import(new URL(file, main.src).href).catch(() => {}));
    if (document.fonts) document.fonts.load('italic 400 1em "Source Sans"').catch(() => {});
  };
  (window.requestIdleCallback || window.setTimeout)(load);
})();
</script>"""


@functools.cache
def module_files(folder: Path = STREAMLIT_JS, names: tuple[str, ...] = AFTER_LOGIN) -> tuple[str, ...]:
    """The file of each named module in Streamlit's build (`Metric.MSVuxtnf.js`), where exactly one is."""
    files = {path.name for path in folder.glob("*.js")} if folder.is_dir() else set()
    found = []
    for name in names:
        matches = sorted(f for f in files if re.fullmatch(rf"{re.escape(name)}\.[\w-]+\.js", f))
        if len(matches) == 1:
            found.append(matches[0])
    return tuple(found)


def script(files: tuple[str, ...]) -> str:
    """The script that imports `files` (resolved next to Streamlit's own main module) when idle."""
    return _SCRIPT % json.dumps(list(files))


def after_login_code() -> None:
    """Draw the preloading script (nothing when no module is found)."""
    files = module_files()
    if files:
        st.html(script(files), unsafe_allow_javascript=True)
