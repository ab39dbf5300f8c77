"""Small tables drawn on the server as static HTML, part of the page as soon as its text is.

A table of a few dozen rows (an account's opportunities, the overview's top accounts and
segment tables) needs no interactive grid: Streamlit's grid loads its own bundle and paints
a canvas after the page has appeared (the overview in a new browser took 1.62 s with three
grids, 1.42 s with these tables; bench/browser_speed.py). Cells are text the caller has
formatted; text from the data is escaped (`html_charts.esc`) and shows exactly as written.
A heading's help text is its tooltip; a column can colour its cells (better or worse).
`html_charts.show` puts a table on the page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from components.html_charts import esc
from components.shared import format as fmt

_SPACES = re.compile(r"[ \t\r\n\f\v]+")
CELL = "padding:0.3rem 0.6rem 0.3rem 0;border:none;border-bottom:1px solid #E2E8F0;vertical-align:top;background:none"
HEAD = "font-weight:400;color:#64748B"


@dataclass(frozen=True)
class Column:
    """One column: the frame's `key`, its heading, how it sits and what it links to."""

    key: str
    heading: str
    right: bool = False  # numbers align right
    width: str = ""  # a CSS width ("7rem"); empty: as wide as the text needs
    help: str = ""  # the heading's tooltip
    link: str = ""  # the cell links to its value (an address in the app), shown as this text
    nowrap: bool = False  # short figures never break across lines


def _cell(column: Column, value: object, tone: str) -> str:
    # Line breaks and runs of spaces read as one space; a no-break space (a date) stays.
    text = fmt.MISSING if fmt.is_missing(value) else _SPACES.sub(" ", str(value)).strip() or fmt.MISSING
    style = f"{CELL};text-align:{'right' if column.right else 'left'}"
    style += ";white-space:nowrap" if column.nowrap else ";overflow-wrap:break-word"
    if tone:
        style += f";color:{tone}"
    if column.link and text != fmt.MISSING:
        return f"<td style='{style}'><a href='{esc(text)}' target='_self'>{esc(column.link)}</a></td>"
    return f"<td style='{style}'>{esc(text)}</td>"


def _heading(column: Column) -> str:
    style = f"{CELL};{HEAD};text-align:{'right' if column.right else 'left'}"
    if column.width:
        style += f";width:{column.width}"
    if column.nowrap:
        style += ";white-space:nowrap"
    tip = f" title='{esc(column.help)}'" if column.help else ""
    return f"<th style='{style}'{tip}>{esc(column.heading)}</th>"


def table_html(
    frame: pd.DataFrame,
    columns: Sequence[Column],
    name: str,
    tones: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """`frame`'s `columns` as one line of HTML, in a `<div data-radar-table=name>`; `tones`
    gives a column's text colour per row ("" for none)."""
    tones = tones or {}
    head = "".join(_heading(c) for c in columns)
    body = "".join(
        "<tr>"
        + "".join(_cell(c, frame[c.key].iloc[i], tones[c.key][i] if c.key in tones else "") for c in columns)
        + "</tr>"
        for i in range(len(frame))
    )
    return (
        f"<div data-radar-table='{esc(name)}' style='font-size:0.875rem;line-height:1.35;overflow-x:auto'>"
        "<table style='width:100%;border-collapse:collapse;border:none;margin:0'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
