"""What a customers load adds to the plain upsert: the derived columns and the custom
account attributes.

* Derived columns. Only `customer_id` and `signup_date` are required. `name` defaults to
  the customer_id (an empty name cell too). `status` follows `churn_date`: 'churned' when
  a churn_date is given, else 'active'; an empty status cell is derived the same way, and
  a status that contradicts the churn_date is a row problem (spec check). A file with
  neither column keeps an existing customer's status; a new customer is 'active'.
* Custom attributes. Every other column of the file (acquisition channel, company size,
  country, contract type ...) is kept as a custom attribute in `customer_attributes`
  (long form: customer_id, attribute, kind, number_value / text_value / date_value). The
  kind is decided per column from all its values with the cell readers ingestion uses
  everywhere (engine.core.values): every value a plain number -> 'number'; every value an
  ISO date (YYYY-MM-DD) -> 'date'; otherwise 'category'. Names become safe identifiers
  (lower case, runs of other characters as `_`: "Company Size" -> company_size). A column
  that is mostly unique text (notes, e-mail addresses, ids: more than half its values
  distinct over at least MIN_ROWS_TO_JUDGE values, or more than MAX_LEVELS distinct values)
  is not kept: as a category it would be thousands of one-account levels. The report says
  which columns were kept, as what, and which were not and why.
* Reloads. For each customer in the file, each kept attribute is REPLACED (an empty cell
  removes it, a column empty in every row removes it for all the file's customers);
  attributes the file does not mention are left alone. Loading the same file
  twice therefore changes nothing. An attribute keeps one kind across customers: values
  that read as another kind than the one stored are refused (unless the stored kind is
  'category', which holds anything as text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from engine.core.values import cell_text, null_tokens_to_na, text_to_numbers
from engine.data.ingest.report import Problem, file_problem, map_hint
from engine.data.ingest.specs import TableSpec

NUMBER, CATEGORY, DATE_KIND = "number", "category", "date"
MIN_ROWS_TO_JUDGE = 20  # a column needs this many values before "mostly unique" is judged
UNIQUE_SHARE = 0.5  # more distinct values than this share of the values: free text, not a category
MAX_LEVELS = 1000  # a category this wide is never a useful account attribute
MAX_NAME = 63
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00(?:\.0+)?)?)?"
ATTRIBUTE_COLUMNS = ("customer_id", "attribute", "kind", "number_value", "text_value", "date_value")


@dataclass
class Attribute:
    """One file column kept as a custom attribute: its clean name, kind and typed values."""

    column: str  # as named in the file
    name: str
    kind: str
    values: pd.Series  # float (number), text (category) or datetime64 (date), NA where empty
    text: pd.Series  # the cells as text, for a category fallback


@dataclass
class AttributePlan:
    """The file's extra columns sorted out: kept attributes, columns left out, problems."""

    kept: list[Attribute] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # file columns still ignored
    emptied: list[str] = field(default_factory=list)  # attributes given as an all-empty column: cleared
    notes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str | None:
        if not self.kept:
            return None
        listed = ", ".join(f"{a.name} ({a.kind})" for a in self.kept)
        plural = "s" if len(self.kept) != 1 else ""
        return f"kept {len(self.kept)} custom attribute{plural}: {listed}"


def attribute_name(column: str) -> str:
    """A file column's name as a safe identifier: "Company Size (FTE)" -> company_size_fte."""
    name = re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_")
    if name and name[0].isdigit():
        name = "attr_" + name
    return name[:MAX_NAME]


def plan_attributes(raw: pd.DataFrame, extra: list[str], spec: TableSpec, thousands_ok: bool) -> AttributePlan:
    """Which of the file's `extra` columns become custom attributes, typed; the rest stay ignored."""
    plan = AttributePlan()
    taken: dict[str, str] = {}
    for column in extra:
        name = attribute_name(column)
        if not name:
            plan.left_out.append(column)
            plan.notes.append(f"did not keep column '{column}': its name has no letters or digits to name it by")
            continue
        if name in spec.names:
            plan.problems.append(
                file_problem(
                    f"column '{column}' looks like the customers column {name}, but its name differs.",
                    f"Rename it to {name}, or {map_hint(name, column)}.",
                )
            )
            continue
        if name in taken:
            plan.problems.append(
                file_problem(
                    f"columns '{taken[name]}' and '{column}' would both be the custom attribute {name}.",
                    "Rename or remove one of them.",
                )
            )
            continue
        taken[name] = column
        text = null_tokens_to_na(cell_text(raw[column].reset_index(drop=True)))
        present = text.dropna()
        if present.empty:
            plan.emptied.append(name)
            plan.notes.append(
                f"column '{column}' is empty: the file's customers hold no {name} attribute (stored values are cleared)"
            )
            continue
        kept = _typed(column, name, text, thousands_ok)
        distinct = int(present.nunique())
        wide = distinct > MAX_LEVELS or (len(present) >= MIN_ROWS_TO_JUDGE and distinct > UNIQUE_SHARE * len(present))
        if kept.kind == CATEGORY and wide:
            plan.left_out.append(column)
            plan.notes.append(
                f"did not keep column '{column}' as a custom attribute: {distinct:,} different values in "
                f"{len(present):,} rows look like free text or ids (notes, e-mails), not a category"
            )
            continue
        plan.kept.append(kept)
    return plan


def _typed(column: str, name: str, text: pd.Series, thousands_ok: bool) -> Attribute:
    present = text.notna()
    numbers = text_to_numbers(text, thousands=thousands_ok)
    if bool((numbers.notna() | ~present).all()):
        return Attribute(column, name, NUMBER, numbers, text)
    shaped = text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    if bool((shaped | ~present).all()):
        dates = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        if bool((dates.notna() | ~present).all()):
            return Attribute(column, name, DATE_KIND, dates.astype("datetime64[us]"), text)
    return Attribute(column, name, CATEGORY, text, text)


def long_form(customer_ids: pd.Series, kept: list[Attribute]) -> pd.DataFrame:
    """The attributes' non-empty cells as customer_attributes rows."""
    parts = []
    ids = customer_ids.reset_index(drop=True)
    for attribute in kept:
        has = attribute.values.notna().to_numpy() & ids.notna().to_numpy()
        n = int(has.sum())
        part = pd.DataFrame(
            {
                "customer_id": ids[has].to_numpy(),
                "attribute": np.full(n, attribute.name, dtype=object),
                "kind": np.full(n, attribute.kind, dtype=object),
                "number_value": attribute.values[has].to_numpy(dtype="float64") if attribute.kind == NUMBER else np.nan,
                "text_value": attribute.values[has].to_numpy(dtype=object) if attribute.kind == CATEGORY else None,
                "date_value": attribute.values[has].to_numpy() if attribute.kind == DATE_KIND else pd.NaT,
            }
        )
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(ATTRIBUTE_COLUMNS))
    frame["number_value"] = frame["number_value"].astype("float64")
    frame["text_value"] = frame["text_value"].astype("object")
    frame["date_value"] = pd.to_datetime(frame["date_value"]).astype("datetime64[us]")
    return frame[list(ATTRIBUTE_COLUMNS)]


def reconcile_kinds(cur: Any, plan: AttributePlan, customer_ids: pd.Series) -> list[Problem]:
    """Keep one kind per attribute: a stored category takes any values as text; other mismatches are problems."""
    if not plan.kept:
        return []
    names = [a.name for a in plan.kept]
    stored = dict(
        cur.execute(
            "SELECT attribute, min(kind) FROM customer_attributes WHERE list_contains(?, attribute) "
            "AND NOT list_contains(?, customer_id) GROUP BY attribute",
            [names, [str(c) for c in customer_ids.dropna().unique()]],
        ).fetchall()
    )
    problems = []
    for attribute in plan.kept:
        before = stored.get(attribute.name)
        if before is None or before == attribute.kind:
            continue
        if before == CATEGORY:
            attribute.kind, attribute.values = CATEGORY, attribute.text
            continue
        problems.append(
            file_problem(
                f"column '{attribute.column}' reads as a {attribute.kind}, but the custom attribute "
                f"{attribute.name} already holds {before} values for other customers.",
                f"Give {before} values in this column, or rename the column to keep it as another attribute.",
            )
        )
    return problems


def store_attributes(cur: Any, plan: AttributePlan, customer_ids: pd.Series) -> int:
    """Replace the file's customers' values of the kept attributes; returns the values stored."""
    if not (plan.kept or plan.emptied):
        return 0
    rows = long_form(customer_ids, plan.kept)
    ids = [str(c) for c in customer_ids.dropna().unique()]
    cur.execute(
        "DELETE FROM customer_attributes WHERE list_contains(?, attribute) AND list_contains(?, customer_id)",
        [[a.name for a in plan.kept] + plan.emptied, ids],
    )
    view = "_ingest_attributes_view"  # the name the INSERT below reads
    cur.register(view, rows)
    try:
        cur.execute(
            "INSERT INTO customer_attributes (customer_id, attribute, kind, number_value, text_value, date_value) "
            "SELECT customer_id, attribute, kind, number_value, text_value, CAST(date_value AS DATE) "
            "FROM _ingest_attributes_view"
        )
    finally:
        cur.unregister(view)
    return len(rows)


def derive_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`name` and `status` filled from the row where the file leaves them empty (see the module doc)."""
    frame = frame.copy()
    if "name" in frame:
        frame["name"] = frame["name"].fillna(frame["customer_id"])
    if "churn_date" in frame:
        follows = pd.Series(np.where(frame["churn_date"].notna(), "churned", "active"), index=frame.index, dtype="str")
        frame["status"] = frame["status"].fillna(follows) if "status" in frame else follows
    return frame


def fill_absent(cur: Any, stage: str, present: list[str], ident: Any) -> list[str]:
    """Add `name` / `status` to the staged rows when the file has no such column: an existing
    customer keeps its value, a new one gets its id / 'active'. Returns the columns now present."""
    present = list(present)
    fills = {
        "name": "coalesce((SELECT c.name FROM customers c WHERE c.customer_id = s.customer_id), s.customer_id)",
        # Without a churn_date column (else derive_columns set status), a stored status stands.
        "status": "coalesce((SELECT c.status FROM customers c WHERE c.customer_id = s.customer_id), 'active')",
    }
    for column, value in fills.items():
        if column in present:
            continue
        cur.execute(" ".join(["ALTER TABLE", ident(stage), "ADD COLUMN", ident(column), "VARCHAR"]))
        # `value` is one of the engine-written fill expressions above.
        cur.execute(" ".join(["UPDATE", ident(stage), "AS s SET", ident(column), "=", value]))
        present.append(column)
    return present


__all__ = [
    "ATTRIBUTE_COLUMNS",
    "Attribute",
    "AttributePlan",
    "attribute_name",
    "derive_columns",
    "fill_absent",
    "long_form",
    "plan_attributes",
    "reconcile_kinds",
    "store_attributes",
]
