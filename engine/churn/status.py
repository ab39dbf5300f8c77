"""Whether the churn model can serve: which model scored whom, and readiness for the pages."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from engine.churn import registry, risk
from engine.core.contracts import Contract
from engine.core.errors import ModelUnavailableError
from engine.data import health
from engine.data.health import WarehouseStatus, latest_scoring_date
from engine.data.warehouse import Warehouse, latest_predictions_sql

# Newest scores at one date, counted by the model version that wrote them.
_SCORES_BY_MODEL = (
    "SELECT model_version, count(*) FROM (<LATEST>) GROUP BY model_version ORDER BY count(*) DESC, model_version"
).replace("<LATEST>", latest_predictions_sql("as_of = ?"))


class ScoreStatus(Contract):
    """Who is scored at the latest scoring date and by which model, and the production model.

    `customers` counts each customer once at that date (its newest score); `by_model` says
    how many of those scores each model version wrote.
    """

    as_of: date | None
    customers: int
    by_model: dict[str, int]
    production: str | None
    production_note: str | None = None  # why a baseline serves, when one does

    @property
    def text(self) -> str:
        """One line for `info` and the data page."""
        serving = f"production model {self.production}" if self.production else "no production model"
        if self.production_note:
            serving += f" ({self.production_note.rstrip('.')})"
        if not self.customers and self.production is None and self.production_note:
            return f"{serving}; no scores yet"
        if not self.customers:
            return f"{serving}; no scores yet (run `.venv/bin/python -m engine demo`, or `train` then `score`)"
        writers = self.by_model
        names = ", ".join(f"{v} ({n:,})" for v, n in writers.items()) if len(writers) > 1 else next(iter(writers))
        text = f"{serving}; {self.customers:,} customers scored as of {self.as_of} by {names}"
        if self.production and set(writers) != {self.production}:
            text += (
                f". Those scores are not from {self.production}: run `.venv/bin/python -m engine score` to refresh them"
            )
        return text


class InstallStatus(WarehouseStatus):
    """What `info` reports: the warehouse's status, plus who is scored and by which model."""

    scores: ScoreStatus
    model: str


def score_status(wh: Warehouse, data_dir: str | Path | None = None) -> ScoreStatus:
    """The scores at the latest scoring date (see ScoreStatus)."""
    try:
        current = registry.production("churn", data_dir)
    except Exception:  # an unreadable registry must not stop `info`: it reports what it can
        current = None
    as_of = latest_scoring_date(wh)
    by_model: dict[str, int] = {}
    if as_of is not None:
        rows = wh.rows(_SCORES_BY_MODEL, [as_of])
        by_model = {str(version): int(count) for version, count in rows}
    return ScoreStatus(
        as_of=as_of,
        customers=sum(by_model.values()),
        by_model=by_model,
        production=current.version if current is not None else None,
        production_note=serving_note(current) if current is not None else too_young(wh),
    )


def too_young(wh: Warehouse) -> str | None:
    """Why no model can serve yet when the book is too young to train on (None otherwise)."""
    from engine.churn import training  # LightGBM and the feature code load only on this path

    short = training.history_readiness(wh)
    return short.text if short is not None else None


def serving_note(current: registry.ModelVersion | None) -> str | None:
    """The plain statement that a baseline serves because the churn model did not beat it."""
    if current is None or not registry.is_baseline(current):
        return None
    return current.notes or f"{current.version} is a baseline serving in place of the churn model"


def tiers_in_use(data_dir: str | Path | None = None) -> risk.TierCuts:
    """The risk-tier thresholds scores are written with: the configured ones for the production
    model's training base rate (the seed's absolute ones while no model serves)."""
    try:
        current = registry.production("churn", data_dir)
    except Exception:  # an unreadable registry must not hide the legend
        current = None
    return risk.tier_cuts(registry.base_rate(current) if current is not None else None)


def tier_legend(data_dir: str | Path | None = None) -> str:
    """The legend under the board, the overview and Customer 360: the thresholds in use."""
    return tiers_in_use(data_dir).legend


def install_status(wh: Warehouse, data_dir: str | Path | None = None) -> InstallStatus:
    """The warehouse's status with the model's (for `info`)."""
    scores = score_status(wh, data_dir)
    return InstallStatus(**dict(health.status(wh)), scores=scores, model=scores.text)


class Readiness(Contract):
    """Whether the churn pages can serve (like a readiness probe): `ready` False means
    show `message` (what is wrong and how to fix it) instead of scores."""

    ready: bool
    status: Literal["ready", "no_model", "model_unavailable", "not_scored"]
    message: str
    model_version: str | None = None
    # Nothing is wrong: the book is too young to train on, and `message` says from when scores start.
    pending: bool = False


def model_readiness(wh: Warehouse, data_dir: str | Path | None = None) -> Readiness:
    """Production model present, its artifact verified, and scores written."""
    current = registry.production("churn", data_dir)
    if current is None:
        young = too_young(wh)
        return Readiness(ready=False, status="no_model", message=_no_model_message(young), pending=young is not None)
    try:
        registry.verify(current, data_dir)
    except ModelUnavailableError as exc:
        return Readiness(
            ready=False,
            status="model_unavailable",
            message=f"The churn model cannot be used: {exc}",
            model_version=current.version,
        )
    if not wh.scalar("SELECT count(*) FROM predictions"):
        return Readiness(
            ready=False,
            status="not_scored",
            message=f"Model {current.version} is ready but no customer has been scored yet. "
            "An admin can run `.venv/bin/python -m engine score`.",
            model_version=current.version,
        )
    return Readiness(ready=True, status="ready", message=f"Scores by {current.version}.", model_version=current.version)


def _no_model_message(short: str | None) -> str:
    """Why there are no churn scores: a book too young to train on (`short`, `too_young`'s
    sentence) says from when it can have them."""
    if short is not None:
        return (
            f"No churn scores yet. {short} Until then, Customer 360 shows each account's revenue, usage "
            "and subscriptions from the data itself."
        )
    return (
        "No production churn model yet, so there are no churn scores. An admin can create one with "
        "`.venv/bin/python -m engine train` then `.venv/bin/python -m engine score` (or `make run` for the demo)."
    )
