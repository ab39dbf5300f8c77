"""Text from customers' data shown inside Streamlit markdown, made inert.

Names, ticket subjects, industries and owners come from files a customer's systems wrote.
Streamlit renders titles, captions, alerts, labels and markdown as GitHub-flavoured
markdown: an image in a name (`![x](//host/beacon.png)`) makes every viewer's browser
fetch that host, a link invites a click, `:red[...]` or `$...$` restyle the page. `plain()`
escapes every character markdown gives a meaning to, so a value (a name, an id, a tier)
shows exactly as written, on one line. `inert()` does the same for longer text (AI answers,
refusals, questions) while keeping its line breaks and list items readable.
"""

from __future__ import annotations

import re

from engine.core.formatting import MISSING, is_missing

# Every ASCII punctuation character CommonMark lets a backslash escape that Streamlit's
# markdown (GFM + directives + emoji shortcodes + KaTeX) could act on. `:` breaks
# `:material/...:` shortcodes and `:red[...]` directives.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")
# GFM's bare autolinks (`https://…`, `www.…`, `name@host`) are found in the text *after*
# escapes are undone, so a backslash does not stop them (seen in Chromium: `dana\@acme\.com`
# still became a mailto link). An invisible word joiner inside the pattern does.
_JOIN = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(?=://)|(?<=\bwww)(?=\.)|(?<=@)")
_LINE_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")


def plain(text: object, missing: str = MISSING) -> str:
    """`text` as inert markdown on one line: shows as written, never as a link, image or style."""
    if is_missing(text):
        return missing
    one_line = _LINE_BREAKS.sub(" ", str(text)).strip()
    return _SPECIAL.sub(r"\\\1", _no_autolinks(one_line)) if one_line else missing


def _no_autolinks(text: str) -> str:
    return _AUTOLINK.sub(_JOIN, text)


# Markdown (and HTML) syntax that could make the browser fetch or follow something, or
# change what the text looks like: escaped so it shows as the characters it is.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~$])")


def inert(body: str) -> str:
    """Text for st.markdown with every markdown/HTML construct shown literally: no live
    link, image (a `![x](//host/beacon.png)` in a ticket subject is never fetched), HTML
    or auto-link. Line breaks and '-' list items stay readable."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _no_autolinks(body))
