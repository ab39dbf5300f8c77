"""Saved scenarios: a run stored under a name, with tags, in the app-state DB (engine.core.store).

A saved scenario keeps its plan and the JSON of its ScenarioResult, so it reopens with the numbers
it was saved with, whatever the scores say today. Snapshots written before results were contract
models (by `ScenarioResult.as_dict()`) have the same keys and shapes, and open the same way.
Executives read saved plans; analysts and admins save, clone and delete them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, delete, func, insert, select

from engine.core.access import Viewer
from engine.core.contracts import Contract, to_dict
from engine.core.errors import BadInputError, NotFoundError
from engine.core.store import get_engine
from engine.core.store import scenarios as scenarios_table
from engine.data.warehouse import Warehouse
from engine.scenarios.plan import Discount, Outreach, Plan, Segment
from engine.scenarios.results import ScenarioResult
from engine.scenarios.simulate import simulate

NAME_MAX, TAG_MAX, TAGS_MAX = 120, 40, 10
SAMPLE_NAME = "Sample: renewal save plan"
SAMPLE_TAGS = ("sample", "renewals")


class SavedScenario(Contract):
    """A saved plan: who saved it when, its headline figures and (once opened) its stored result."""

    id: int
    name: str
    tags: tuple[str, ...]
    author: str
    created_at: datetime
    cloned_from: int | None
    model_version: str | None
    data_as_of: date | None
    revenue_retained: float
    cost: float
    roi: float | None
    result: ScenarioResult | None = None  # loaded by open_saved, not by list_saved

    @property
    def plan(self) -> Plan:
        return self.opened.plan

    @property
    def opened(self) -> ScenarioResult:
        """The stored result; only a scenario from `open_saved` (or `save`, `clone`) has one."""
        if self.result is None:
            raise BadInputError("Open the saved scenario to read its plan.")
        return self.result


class SavedRun(ScenarioResult):
    """A saved scenario as `scenario save/show --json` print it: the result's fields, plus `saved`
    (the id, name, tags and headline figures, without the result again)."""

    saved: SavedScenario

    @classmethod
    def of(cls, saved: SavedScenario) -> SavedRun:
        return cls(**dict(saved.opened), saved=saved.model_copy(update={"result": None}))


def clean_tags(tags: str | Iterable[Any] | None) -> tuple[str, ...]:
    """Tags as lower-case words, without duplicates, in the order given."""
    if isinstance(tags, str):
        tags = tags.split(",")
    out: list[str] = []
    for tag in tags or ():
        text = str(tag).strip().lower()
        if not text:
            continue
        if len(text) > TAG_MAX:
            raise BadInputError(f"Tag '{text[:20]}...' is longer than {TAG_MAX} characters.")
        if text not in out:
            out.append(text)
    if len(out) > TAGS_MAX:
        raise BadInputError(f"At most {TAGS_MAX} tags per scenario; got {len(out)}.")
    return tuple(out)


def _clean_name(name: str) -> str:
    text = (name or "").strip()
    if not text:
        raise BadInputError("Give the scenario a name, e.g. 'Q3 save plan'.")
    if len(text) > NAME_MAX:
        raise BadInputError(f"Scenario names are at most {NAME_MAX} characters; this one has {len(text)}.")
    return text


def _holder(conn: Any, name: str) -> int | None:
    """The id of the saved plan called `name` (case-insensitive), or None."""
    same = func.lower(scenarios_table.c.name) == name.lower()
    return conn.execute(select(scenarios_table.c.id).where(same).limit(1)).scalar()


def _refuse_taken_name(conn: Any, name: str) -> None:
    """Names find plans in pickers and comparisons: two plans under one name cannot be told apart."""
    taken = _holder(conn, name)
    if taken is not None:
        raise BadInputError(
            f"A saved plan is already called '{name}' (#{taken}). Choose another name, or delete #{taken} first."
        )


def _free_name(base: str, data_dir: str | Path | None) -> str:
    """`base`, or `base (2)`, `base (3)` ...: the first name no saved plan has."""
    with get_engine(data_dir).connect() as conn:
        for n in range(1, 1000):
            name = base if n == 1 else f"{base[: NAME_MAX - 6]} ({n})"
            if _holder(conn, name) is None:
                return name
    raise BadInputError(f"Too many plans are called '{base}'; give the copy a name.")


def parse_id(value: Any) -> int:
    """A saved scenario's id from what a person typed, or a message saying what an id is."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadInputError(f"'{value}' is not a scenario id; ids are whole numbers, see `scenario list`.") from None
    if number < 1:
        raise BadInputError(f"Scenario ids start at 1; got {number}.")
    return number


def _saved(row: Row[Any], with_result: bool) -> SavedScenario:
    m = row._mapping
    return SavedScenario(
        id=int(m["id"]),
        name=m["name"],
        tags=tuple(m["tags"] or ()),
        author=m["author"],
        created_at=m["created_at"],
        cloned_from=m["cloned_from"],
        model_version=m["model_version"],
        data_as_of=m["data_as_of"],
        revenue_retained=m["revenue_retained"],
        cost=m["cost"],
        roi=m["roi"],
        result=ScenarioResult.model_validate(m["result"]) if with_result else None,
    )


def save(
    name: str,
    result: ScenarioResult,
    viewer: Viewer,
    tags: str | Iterable[Any] | None = (),
    data_dir: str | Path | None = None,
    cloned_from: int | None = None,
) -> SavedScenario:
    """Store a run (its assumptions and the JSON of its numbers) under a name; returns it."""
    viewer.require("edit_scenarios")
    snapshot = to_dict(result)
    row = {
        "name": _clean_name(name),
        "tags": list(clean_tags(tags)),
        "author": viewer.username,
        "created_at": datetime.now(UTC),
        "cloned_from": cloned_from,
        "assumptions": snapshot["plan"],
        "result": snapshot,
        "model_version": result.model_version or result.scores_model_version,
        "data_as_of": result.as_of,
        "revenue_retained": result.revenue_retained,
        "cost": result.cost,
        "roi": result.roi,
    }
    with get_engine(data_dir).begin() as conn:
        _refuse_taken_name(conn, row["name"])
        key = conn.execute(insert(scenarios_table).values(**row)).inserted_primary_key
    assert key is not None  # an INSERT of one row always has one
    return open_saved(int(key[0]), viewer, data_dir)


def list_saved(viewer: Viewer, tag: str | None = None, data_dir: str | Path | None = None) -> list[SavedScenario]:
    """Saved scenarios, newest first, without their results; with `tag`, only those carrying it."""
    viewer.require_page("scenarios")
    columns = [c for c in scenarios_table.c if c.name not in ("result", "assumptions")]
    query = select(*columns).order_by(scenarios_table.c.created_at.desc(), scenarios_table.c.id.desc())
    with get_engine(data_dir).connect() as conn:
        found = [_saved(r, with_result=False) for r in conn.execute(query)]
    wanted = tag.strip().lower() if tag else ""
    return [s for s in found if not wanted or wanted in s.tags]


def open_saved(scenario_id: Any, viewer: Viewer, data_dir: str | Path | None = None) -> SavedScenario:
    """One saved scenario with its stored result (the numbers as they were when saved)."""
    viewer.require_page("scenarios")
    wanted = parse_id(scenario_id)
    with get_engine(data_dir).connect() as conn:
        row = conn.execute(select(scenarios_table).where(scenarios_table.c.id == wanted)).first()
    if row is None:
        raise NotFoundError(
            f"No saved scenario with id {wanted}. List them with `.venv/bin/python -m engine scenario list`."
        )
    return _saved(row, with_result=True)


def clone(
    scenario_id: Any, viewer: Viewer, name: str | None = None, data_dir: str | Path | None = None
) -> SavedScenario:
    """A copy of a saved scenario under a new name (default 'Copy of ...'), remembering its origin."""
    viewer.require("edit_scenarios")
    original = open_saved(scenario_id, viewer, data_dir)
    new_name = name or _free_name(f"Copy of {original.name}"[:NAME_MAX], data_dir)
    return save(new_name, original.opened, viewer, original.tags, data_dir, cloned_from=original.id)


def delete_saved(scenario_id: Any, viewer: Viewer, data_dir: str | Path | None = None) -> None:
    viewer.require("edit_scenarios")
    wanted = parse_id(scenario_id)
    with get_engine(data_dir).begin() as conn:
        gone = conn.execute(delete(scenarios_table).where(scenarios_table.c.id == wanted)).rowcount
    if not gone:
        raise NotFoundError(f"No saved scenario with id {wanted}; nothing was deleted.")


# -- the demo's sample plan ------------------------------------------------------------------------
def sample_plan() -> Plan:
    """A plan a CS leader would plausibly run: call the 50 accounts with the most ARR at risk
    (20% lower churn each, $400 of CSM time per call) and offer a 10% renewal discount to
    high and critical accounts renewing within 90 days."""
    return Plan(
        outreach=Outreach(top_n=50, churn_reduction=20.0, cost_per_account=400.0),
        discount=Discount(
            percent=10.0, elasticity=1.5, segment=Segment(risk_tiers=("high", "critical"), renewal_within_days=90)
        ),
    )


def save_sample_plan(
    wh: Warehouse, data_dir: str | Path | None = None, author: str = "analyst"
) -> SavedScenario | None:
    """Save the sample plan (run on the current scores) so an executive opening Scenarios on a
    fresh demo has a plan to read. Does nothing and returns None when any plan is saved already."""
    viewer = Viewer(author, "analyst")
    if list_saved(viewer, data_dir=data_dir):
        return None
    result = simulate(wh, sample_plan(), viewer, data_dir)
    return save(SAMPLE_NAME, result, viewer, SAMPLE_TAGS, data_dir)
