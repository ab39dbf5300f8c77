"""Text from customers' data shown inside Streamlit markdown, made inert.

Names, ticket subjects, industries and owners come from files a customer's systems wrote.
Streamlit renders titles, captions, alerts, labels and markdown as GitHub-flavoured
markdown: an image in a name (`![x](//host/beacon.png)`) makes every viewer's browser
fetch that host, a link invites a click, `:red[...]` or `$...$` restyle the page. `plain()`
escapes every character markdown gives a meaning to, so the text shows exactly as written.
"""

from __future__ import annotations

import math
import re

MISSING = "—"

# Every ASCII punctuation character CommonMark lets a backslash escape that Streamlit's
# markdown (GFM + directives + emoji shortcodes + KaTeX) could act on. `:` breaks
# `:material/...:` shortcodes, `:red[...]` directives and bare-URL autolinks (`https://`).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")
_LINE_BREAKS = re.compile(r"[\r\n\t\f\v\u2028\u2029]+")


def plain(text: object, missing: str = MISSING) -> str:
    """`text` as inert markdown on one line: shows as written, never as a link, image or style."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or type(text).__name__ == "NAType":
        return missing
    one_line = _LINE_BREAKS.sub(" ", str(text)).strip()
    return _SPECIAL.sub(r"\\\1", one_line) if one_line else missing
