"""Number formatting for pages: a thin re-export of `engine.core.formatting`, the one place
figures are formatted (so a page, an export caption, the CLI and an AI text agree).
"""

from __future__ import annotations

from engine.core.formatting import (  # noqa: F401 - re-exported for pages
    MISSING,
    count,
    day,
    days,
    is_missing,
    label,
    money,
    percent,
    percent_points,
    plural,
    signed_count,
    signed_money,
    tenure,
    value,
)
