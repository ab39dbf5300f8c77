"""Archetypes: named behaviour patterns derived from axis levels by transparent rules.

Rules are checked in the order of ARCHETYPES; an account takes the first one it matches.
Risk patterns come first (a contracting account that also uses the product deeply is
"Contracting"), growth patterns next, "Steady core" takes the rest. An account younger than
MIN_TENURE_DAYS, or without any usage when the book has usage, is "Not enough data"; one
that used the product before but did nothing in the last 8 weeks is "Dormant" (its trend
reads "steady" at zero, which no level would flag).

A rule fires only when every axis it reads has a level for the account, so on a book without
(say) support tickets, "Support-heavy" simply has no members and the others still form.
Each description is generated from its rule, so it cannot drift from what the rule does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import computed_field

from engine.core.contracts import Contract
from engine.segments.axes import BY_KEY, DORMANT_WEEKS, MIN_TENURE_DAYS
from engine.segments.playbooks import PLAYBOOKS, Playbook


class Condition(Contract):
    """One axis at one of the given levels."""

    axis: str
    levels: tuple[str, ...]

    def text(self) -> str:
        axis = BY_KEY[self.axis]
        said = [axis.word(lv) if axis.word(lv) == lv else f"{axis.word(lv)} ({lv})" for lv in self.levels]
        return f"{axis.label[0].lower()}{axis.label[1:]} is {' or '.join(said)}"


class Archetype(Contract):
    key: str
    name: str
    gloss: str  # what the pattern means for a CS team, in plain words
    conditions: tuple[Condition, ...] = ()
    kind: str = "rule"  # rule | insufficient (too little history) | dormant (no recent use) | default (the rest)
    playbook: Playbook

    @computed_field  # type: ignore[prop-decorator]
    @property
    def description(self) -> str:
        return f"{self.rule_text()} {self.gloss}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def axes(self) -> tuple[str, ...]:
        return tuple(c.axis for c in self.conditions)

    def rule_text(self) -> str:
        if self.kind == "insufficient":
            return f"Accounts younger than {MIN_TENURE_DAYS} days, or with no product usage recorded yet."
        if self.kind == "dormant":
            return f"Accounts that used the product before but show no activity in the last {DORMANT_WEEKS} weeks."
        if self.kind == "default":
            return "Accounts that match none of the other archetypes."
        clauses = [c.text() for c in self.conditions]
        joined = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
        return f"Accounts whose {joined}."


def _rule(key: str, name: str, gloss: str, *conditions: tuple[str, tuple[str, ...]]) -> Archetype:
    return Archetype(
        key=key,
        name=name,
        gloss=gloss,
        conditions=tuple(Condition(axis=a, levels=lv) for a, lv in conditions),
        playbook=PLAYBOOKS[key],
    )


NOT_ENOUGH_DATA = Archetype(
    key="not_enough_data",
    name="Not enough data",
    gloss="Too early to say how they behave; no archetype is guessed.",
    kind="insufficient",
    playbook=PLAYBOOKS["not_enough_data"],
)
DORMANT = Archetype(
    key="dormant",
    name="Dormant",
    gloss="They still pay, but nobody uses the product any more.",
    kind="dormant",
    playbook=PLAYBOOKS["dormant"],
)
STEADY_CORE = Archetype(
    key="steady_core",
    name="Steady core",
    gloss="None of the risk or growth patterns applies to them.",
    kind="default",
    playbook=PLAYBOOKS["steady_core"],
)

ARCHETYPES: tuple[Archetype, ...] = (
    NOT_ENOUGH_DATA,
    DORMANT,
    _rule(
        "contracting",
        "Contracting",
        "Recurring revenue went down over the last six months.",
        ("commercial_momentum", ("low",)),
    ),
    _rule(
        "support_heavy",
        "Support-heavy",
        "They open many tickets and rate the help they get poorly.",
        ("support_intensity", ("high",)),
        ("sentiment", ("low",)),
    ),
    _rule(
        "quiet_at_risk",
        "Quiet and at risk",
        "Few of their seats are used and activity is falling further.",
        ("seat_utilisation", ("low",)),
        ("engagement_trend", ("low",)),
    ),
    _rule(
        "drifting_power",
        "Drifting power users",
        "Their users work deeply in the product, but activity is falling.",
        ("adoption_depth", ("high",)),
        ("engagement_trend", ("low",)),
    ),
    _rule(
        "cooling",
        "Cooling off",
        "Activity fell over the last eight weeks against the eight before.",
        ("engagement_trend", ("low",)),
    ),
    _rule(
        "new_ramping",
        "New and ramping",
        "Young accounts whose activity is growing.",
        ("lifecycle", ("low",)),
        ("engagement_trend", ("high",)),
    ),
    _rule(
        "expanding",
        "Expanding",
        "Recurring revenue grew over the last six months.",
        ("commercial_momentum", ("high",)),
    ),
    _rule(
        "power_users",
        "Power users",
        "Their users work deeply and across many parts of the product.",
        ("adoption_depth", ("high",)),
        ("feature_breadth", ("high",)),
    ),
    _rule(
        "single_champion",
        "Single-champion / thin adoption",
        "A few people use the product a lot while most seats stay idle.",
        ("seat_utilisation", ("low",)),
        ("adoption_depth", ("mid", "high")),
    ),
    STEADY_CORE,
)
BY_NAME = {a.name: a for a in ARCHETYPES}
BY_ARCHETYPE_KEY = {a.key: a for a in ARCHETYPES}
NAMES = tuple(a.name for a in ARCHETYPES)


def matches(archetype: Archetype, levels: pd.DataFrame) -> pd.Series:
    """Rows whose levels meet every condition of a rule archetype (missing levels never match)."""
    ok = pd.Series(True, index=levels.index)
    for condition in archetype.conditions:
        ok &= levels[condition.axis].isin(condition.levels)
    return ok


def assign(levels: pd.DataFrame, enough: pd.Series, dormant: pd.Series | None = None) -> pd.Series:
    """The archetype name of each row: "Not enough data" where `enough` is False, "Dormant"
    where `dormant` is True, else the first rule archetype it matches, else "Steady core"."""
    names = np.full(len(levels), STEADY_CORE.name, dtype=object)
    decided = ~enough.to_numpy(dtype=bool)
    names[decided] = NOT_ENOUGH_DATA.name
    if dormant is not None:
        quiet = dormant.to_numpy(dtype=bool) & ~decided
        names[quiet] = DORMANT.name
        decided |= quiet
    for archetype in ARCHETYPES:
        if archetype.kind != "rule":
            continue
        hit = matches(archetype, levels).to_numpy() & ~decided
        names[hit] = archetype.name
        decided |= hit
    return pd.Series(names, index=levels.index, name="archetype", dtype="str")


def available(present: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Archetype name -> the axes it needs that the book does not have (empty: it can form)."""
    return {a.name: tuple(k for k in a.axes if k not in present) for a in ARCHETYPES}
