"""Behavioural segments: eight interpretable axes per account, archetypes from their levels,
and per archetype its churn, NRR, LTV and playbook.

Where each job lives (imports flow one way, down this list):

* axes.py        the eight axes, their point-in-time values (one DuckDB statement for every
                 account and date), which are present, and low/mid/high cuts learned from the book;
* playbooks.py   the motion, talking points and channel per archetype;
* archetypes.py  the archetypes, their rules (descriptions generated from them) and `assign`;
* book.py        the contracts, `book_segments`, `segment_of_accounts` (`segments_at_dates` for several),
                 `account_segment`, `axis_cuts`;
* cli.py         `python -m engine segments [--as-of D] [--json]`.

Use it as `from engine import segments; segments.book_segments(wh, viewer)`.
"""

from __future__ import annotations

from engine.segments.archetypes import ARCHETYPES, Archetype, Condition, assign
from engine.segments.axes import AXES, AXIS_KEYS, LEVELS, Axis
from engine.segments.book import (
    AccountSegment,
    ArchetypeStats,
    AxisCuts,
    AxisReading,
    SegmentPoint,
    SegmentReport,
    account_segment,
    axis_cuts,
    book_segments,
    segment_of_accounts,
    segments_at_dates,
)
from engine.segments.playbooks import PLAYBOOKS, Playbook

__all__ = [
    "ARCHETYPES",
    "AXES",
    "AXIS_KEYS",
    "LEVELS",
    "PLAYBOOKS",
    "AccountSegment",
    "Archetype",
    "ArchetypeStats",
    "Axis",
    "AxisCuts",
    "AxisReading",
    "Condition",
    "Playbook",
    "SegmentPoint",
    "SegmentReport",
    "account_segment",
    "assign",
    "axis_cuts",
    "book_segments",
    "segment_of_accounts",
    "segments_at_dates",
]
