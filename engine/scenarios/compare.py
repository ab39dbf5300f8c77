"""Comparing saved scenarios: two to five plans ranked by one metric, best first."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import computed_field

from engine.core.access import Viewer
from engine.core.contracts import Contract, Table
from engine.core.errors import BadInputError
from engine.scenarios.results import ScenarioResult
from engine.scenarios.saved import open_saved, parse_id

COMPARE_MIN, COMPARE_MAX = 2, 5


class Metric(Contract):
    """A figure plans are ranked by, and which way is better."""

    key: str
    label: str
    higher_is_better: bool
    kind: str  # money / ratio / count


METRICS = {
    m.key: m
    for m in (
        Metric(key="roi", label="ROI", higher_is_better=True, kind="ratio"),
        Metric(
            key="net_benefit",
            label="Net benefit (retained + price revenue - cost)",
            higher_is_better=True,
            kind="money",
        ),
        Metric(key="revenue_retained", label="ARR retained", higher_is_better=True, kind="money"),
        Metric(key="cost", label="Cost", higher_is_better=False, kind="money"),
        Metric(key="arr_lost_12m", label="ARR lost, 12 months", higher_is_better=False, kind="money"),
        Metric(key="mrr_lost_90d", label="Revenue lost, 90 days", higher_is_better=False, kind="money"),
        Metric(key="expected_churned", label="Expected churned accounts", higher_is_better=False, kind="count"),
    )
}


class Comparison(Contract):
    """The compared plans, best first (`rows`: rank, id, name, author and every metric)."""

    metric: Metric
    rows: Table
    notes: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rank_by(self) -> str:
        return self.metric.key

    @computed_field  # type: ignore[prop-decorator]
    @property
    def higher_is_better(self) -> bool:
        return self.metric.higher_is_better


def metric_values(result: ScenarioResult) -> dict[str, float | None]:
    return {
        "roi": result.roi,
        "net_benefit": result.net_benefit,
        "revenue_retained": result.revenue_retained,
        "cost": result.cost,
        "arr_lost_12m": result.scenario.arr_lost_12m,
        "mrr_lost_90d": result.scenario.mrr_lost_90d,
        "expected_churned": result.scenario.expected_churned,
    }


def compare(
    ids: Iterable[Any], viewer: Viewer, rank_by: str = "net_benefit", data_dir: str | Path | None = None
) -> Comparison:
    """Two to five saved scenarios ranked by a metric (best first; a plan without a value last)."""
    wanted = [parse_id(i) for i in ids]
    if len(set(wanted)) != len(wanted):
        raise BadInputError("Each scenario can appear once in a comparison; remove the repeated id.")
    if not COMPARE_MIN <= len(wanted) <= COMPARE_MAX:
        raise BadInputError(f"Compare {COMPARE_MIN} to {COMPARE_MAX} saved scenarios; got {len(wanted)}.")
    if rank_by not in METRICS:
        raise BadInputError(f"Cannot rank by '{rank_by}'. Choose one of: {', '.join(METRICS)}.")
    metric = METRICS[rank_by]
    opened = [open_saved(i, viewer, data_dir) for i in wanted]
    rows = pd.DataFrame([{"id": s.id, "name": s.name, "author": s.author, **metric_values(s.opened)} for s in opened])
    rows = rows.sort_values(rank_by, ascending=not metric.higher_is_better, na_position="last", kind="stable")
    rows.insert(0, "rank", range(1, len(rows) + 1))
    notes = []
    if len({s.data_as_of for s in opened}) > 1:
        notes.append("The plans were run on scores of different dates; their baselines differ.")
    if len({s.model_version for s in opened}) > 1:
        notes.append("The plans were run with different model versions.")
    return Comparison(metric=metric, rows=rows.reset_index(drop=True), notes=tuple(notes))
