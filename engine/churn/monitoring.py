"""Is the model still right? Drift of its inputs and scores, and how its predictions turned out.

Drift compares the *training reference* (customers active at the version's last
REFERENCE_MONTHS training month ends, pooled: the model learned from month ends that fall
on every day of the week, so one Saturday month end would make "days since last activity"
look drifted against a Wednesday) with the *current population* (customers active at the
latest scoring date). Per feature:

* PSI over 10 bins. Numeric bins are cut at the reference's deciles, each cut moved to
  the midpoint between neighbouring distinct reference values, so counts and ratios
  (1/3 vs 1/4 steps) are not split at the very values they take. Categorical PSI is over
  the categories seen in either population. Empty bins count as EPSILON so the log is finite.
* Missing values are judged on their own: PSI is over the values present, and a change in
  the share missing of 5 points or more is "watch", 10 points or more "act" (a feed that
  stops is drift). A missing bin inside PSI would turn a 3% share of brand-new accounts
  without a first monthly signal into "act" on its own.
* A two-sample test as a second opinion: Kolmogorov-Smirnov for numbers, chi-square
  for categories. With thousands of rows tiny shifts are "significant", so the status
  follows PSI: < 0.10 stable, 0.10-0.20 watch, > 0.20 act.

Score drift is the PSI of predicted churn probability: the version's predictions on its
last out-of-time month (`valid_to`) against its predictions on the current population.

Realised vs predicted: for each scoring date whose 90-day outcome is known, the churn
predicted then against what happened (AUC, Brier, calibration), built on
`predicted_vs_realised`.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import computed_field
from scipy import stats

from engine.churn import features as feats
from engine.churn import registry, training
from engine.churn.model import ChurnModel
from engine.core import formatting, store
from engine.core.access import Viewer
from engine.core.contracts import Contract, Table, records
from engine.core.errors import BadInputError, RadarError
from engine.data import health
from engine.data.warehouse import Warehouse, latest_predictions_sql

PSI_WATCH = 0.10
PSI_ACT = 0.20
BINS = 10
EPSILON = 1e-4
MISSING_BIN = "(missing)"
MISSING_WATCH = 0.05  # change in the share of rows missing a feature
MISSING_ACT = 0.10
STATUS_ORDER = ("act", "watch", "stable")
REFERENCE_MONTHS = 6


DriftStatus = Literal["stable", "watch", "act"]


AGEING = frozenset({"tenure_days"})  # rises with the calendar in any book that keeps its accounts


def drift_status(psi: float, missing_change: float = 0.0) -> DriftStatus:
    """stable (PSI < 0.10), watch (0.10-0.20) or act (> 0.20); a change of 5 / 10 points or
    more in the share missing raises it to watch / act."""
    change = 0.0 if np.isnan(missing_change) else abs(missing_change)
    if psi > PSI_ACT or change >= MISSING_ACT:
        return "act"
    return "watch" if psi >= PSI_WATCH or change >= MISSING_WATCH else "stable"


# -- PSI and tests -------------------------------------------------------------------------------
def numeric_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Inner bin edges from the reference's quantiles, at midpoints between distinct values."""
    values = np.sort(reference[~np.isnan(reference)])
    if len(values) == 0:
        return np.array([])
    cuts = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1], method="lower"))
    distinct = np.unique(values)
    above = np.searchsorted(distinct, cuts) + 1
    inside = above < len(distinct)
    # The midpoint written so that it cannot overflow for values near the float limit.
    return np.unique(cuts[inside] + (distinct[above[inside]] - cuts[inside]) / 2)


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of values per bin (len(edges) + 1 bins) and, last, the share missing."""
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing]), minlength=len(edges) + 1)
    return np.append(counts, missing.sum()) / max(len(values), 1)


def _psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> float:
    """PSI of two share vectors over the same bins; empty bins count as EPSILON."""
    ref = np.maximum(reference_shares, EPSILON)
    cur = np.maximum(current_shares, EPSILON)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _numeric_labels(edges: np.ndarray, form: str = "{:,.4g}") -> list[str]:
    if len(edges) == 0:
        return ["all values", MISSING_BIN]
    shown = [form.format(e) for e in edges]
    labels = [f"< {shown[0]}"]
    labels += [f"{lo} – {hi}" for lo, hi in zip(shown[:-1], shown[1:], strict=True)]
    labels.append(f"≥ {shown[-1]}")
    return [*labels, MISSING_BIN]


def _present(shares: np.ndarray) -> np.ndarray:
    """Bin shares without the last (missing) bin, renormalised over the values present."""
    present = shares[:-1]
    total = present.sum()
    return present / total if total > 0 else present


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = BINS) -> float:
    """PSI of a numeric feature over the values present (NaN = missing, judged apart)."""
    edges = numeric_edges(reference, bins)
    return _psi(_present(_numeric_shares(reference, edges)), _present(_numeric_shares(current, edges)))


def _category_counts(reference: pd.Series, current: pd.Series) -> tuple[list[str], np.ndarray, np.ndarray]:
    ref = reference.astype("str").where(reference.notna(), MISSING_BIN)
    cur = current.astype("str").where(current.notna(), MISSING_BIN)
    ref_counts, cur_counts = ref.value_counts(), cur.value_counts()
    categories = sorted(set(ref_counts.index) | set(cur_counts.index))
    ref_counts = ref_counts.reindex(categories, fill_value=0).to_numpy()
    cur_counts = cur_counts.reindex(categories, fill_value=0).to_numpy()
    return categories, ref_counts, cur_counts


def psi_categorical(reference: pd.Series, current: pd.Series) -> float:
    """PSI over the categories of either population (missing judged apart)."""
    categories, ref, cur = _category_counts(reference, current)
    present = np.array([c != MISSING_BIN for c in categories], dtype=bool)
    ref, cur = ref[present], cur[present]
    return _psi(ref / max(ref.sum(), 1), cur / max(cur.sum(), 1))


def psi(reference: Any, current: Any, bins: int = BINS) -> float:
    """The population stability index of `current` against `reference`, two samples of one
    feature (raw values, not shares): 0 for the same distribution, never negative; < 0.10
    stable, 0.10-0.20 watch, > 0.20 act.

    Numbers (NaN = missing) use `psi_numeric`'s bins at the reference's deciles; anything
    else (text, categories, yes/no) `psi_categorical`'s categories. Missing values are
    judged apart (see `drift_status`), so they do not enter the index."""
    ref, cur = pd.Series(reference), pd.Series(current)
    numeric = pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur)
    if numeric and not (pd.api.types.is_bool_dtype(ref) or pd.api.types.is_bool_dtype(cur)):
        return psi_numeric(ref.to_numpy(dtype=float, na_value=np.nan), cur.to_numpy(dtype=float, na_value=np.nan), bins)
    return psi_categorical(ref, cur)


def weekly_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """`numeric_edges` of a count of days, in whole weeks: each edge falls between day 7k-1 and 7k.

    A "days since" feature moves with the scoring date's weekday, not with the customers:
    on a Monday everyone whose last activity was Friday is 3 days out, on a Wednesday 0-1.
    Training month ends fall on any weekday, so daily bins compare a weekday mix with one
    weekday and raise an alarm nobody can act on (PSI 0.21 for "days since last API call"
    on a fresh 800-customer demo scored on a Wednesday). Weeks still show accounts going quiet."""
    return 7 * numeric_edges(np.floor(reference / 7), bins) + 3


def counts_days(name: str) -> bool:
    """Whether feature `name` counts days since something (days_since_last_event, evt_*_days_since_last, ...)."""
    return "days_since" in name


def _numeric_row(name: str, ref: np.ndarray, cur: np.ndarray) -> tuple[dict, pd.DataFrame]:
    days = counts_days(name)
    edges = weekly_edges(ref) if days else numeric_edges(ref)
    ref_shares, cur_shares = _numeric_shares(ref, edges), _numeric_shares(cur, edges)
    ref_ok, cur_ok = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    step = 7.0 if days else 1.0  # the test compares the same weeks the index does
    ks = _ks(np.floor(ref_ok / step), np.floor(cur_ok / step)) if len(ref_ok) and len(cur_ok) else None
    psi = _psi(_present(ref_shares), _present(cur_shares))
    row = {
        "psi": psi,
        "test": "KS",
        "statistic": float(ks.statistic) if ks is not None else np.nan,
        "p_value": float(ks.pvalue) if ks is not None else np.nan,
        "reference_median": float(np.median(ref_ok)) if len(ref_ok) else np.nan,
        "current_median": float(np.median(cur_ok)) if len(cur_ok) else np.nan,
        "reference_missing": float(np.isnan(ref).mean()) if len(ref) else np.nan,
        "current_missing": float(np.isnan(cur).mean()) if len(cur) else np.nan,
    }
    bins = pd.DataFrame(
        {"feature": name, "bin": _numeric_labels(edges), "reference_share": ref_shares, "current_share": cur_shares}
    )
    # The missing bin is shown only when someone is missing.
    return row, bins[(bins["bin"] != MISSING_BIN) | (bins["reference_share"] + bins["current_share"] > 0)]


KS_EXACT_ROWS = 10_000  # scipy's own bound for its exact two-sample p-value


def _ks(ref: np.ndarray, cur: np.ndarray) -> Any:
    """Two-sample Kolmogorov-Smirnov. Past 10,000 rows a side, the p-value is Kolmogorov's
    limit: scipy's finite-n series for a training reference of ~800,000 rows took a third of
    a scoring run's drift time and differs from the limit far below any decision it informs."""
    if max(len(ref), len(cur)) <= KS_EXACT_ROWS:
        return stats.ks_2samp(ref, cur)
    ref, cur = np.sort(ref), np.sort(cur)
    # The gap between the two step functions changes only at a value one of them holds: each
    # distinct value once (most features are counts, a few hundred values over 800,000 rows).
    values = np.concatenate([_distinct(ref), _distinct(cur)])
    gap = np.searchsorted(ref, values, side="right") / len(ref) - np.searchsorted(cur, values, side="right") / len(cur)
    statistic = float(np.max(np.abs(gap)))
    effective = len(ref) * len(cur) / (len(ref) + len(cur))
    return _KsResult(statistic, float(stats.kstwobign.sf(statistic * np.sqrt(effective))))


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """Each value of a sorted array once."""
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if len(ordered) else ordered


@dataclass(frozen=True)
class _KsResult:
    statistic: float
    pvalue: float


def _categorical_row(name: str, ref: pd.Series, cur: pd.Series) -> tuple[dict, pd.DataFrame]:
    categories, ref_counts, cur_counts = _category_counts(ref, cur)
    ref_shares = ref_counts / max(ref_counts.sum(), 1)
    cur_shares = cur_counts / max(cur_counts.sum(), 1)
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] > 1 and table.sum(axis=1).all():
        chi = stats.chi2_contingency(table)
        statistic, p_value = float(chi.statistic), float(chi.pvalue)
    else:
        statistic, p_value = np.nan, np.nan
    row = {
        "psi": psi_categorical(ref, cur),
        "test": "chi-square",
        "statistic": statistic,
        "p_value": p_value,
        "reference_median": np.nan,
        "current_median": np.nan,
        "reference_missing": float(ref.isna().mean()) if len(ref) else np.nan,
        "current_missing": float(cur.isna().mean()) if len(cur) else np.nan,
    }
    bins = pd.DataFrame(
        {"feature": name, "bin": categories, "reference_share": ref_shares, "current_share": cur_shares}
    )
    return row, bins


def feature_drift(
    reference: pd.DataFrame, current: pd.DataFrame, features: tuple[feats.Feature, ...] = feats.FEATURES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per feature, worst PSI first; the bins behind each PSI) for two feature frames."""
    rows, bins = [], []
    for feature in features:
        if feature.name not in reference.columns or feature.name not in current.columns:
            continue
        if feature.kind == "categorical":
            row, part = _categorical_row(feature.name, reference[feature.name], current[feature.name])
        else:
            row, part = _numeric_row(
                feature.name,
                reference[feature.name].to_numpy(dtype=float, na_value=np.nan),
                current[feature.name].to_numpy(dtype=float, na_value=np.nan),
            )
        rows.append({"feature": feature.name, "label": feature.label, "kind": feature.kind, **row})
        bins.append(part)
    table = pd.DataFrame(rows)
    if table.empty:
        return table, pd.DataFrame(columns=["feature", "bin", "reference_share", "current_share"])
    table["missing_change"] = table["current_missing"] - table["reference_missing"]
    status = [drift_status(p, m) for p, m in zip(table["psi"], table["missing_change"], strict=True)]
    # A book's age rises every month (fast in a young company): watched, not an alarm, or every
    # growing company would see red for good; the next retrain learns the older accounts.
    status = ["watch" if f in AGEING and s == "act" else s for f, s in zip(table["feature"], status, strict=True)]
    table.insert(4, "status", status)
    severity = table["status"].map({status: rank for rank, status in enumerate(STATUS_ORDER)})
    table = (
        table.assign(_severity=severity)
        .sort_values(["_severity", "psi"], ascending=[True, False], kind="stable")
        .drop(columns="_severity")
        .reset_index(drop=True)
    )
    return table, pd.concat(bins, ignore_index=True)


def predicted_vs_realised(wh: Warehouse, viewer) -> pd.DataFrame:
    """For each past scoring date whose 90-day window has closed: the churn predicted then
    (mean probability, expected churned accounts) against what happened (churned in (D, D+90])."""
    end = health.data_as_of(wh)
    if end is None:
        return pd.DataFrame(
            columns=["as_of", "customers", "expected_churned", "churned", "predicted_rate", "realised_rate"]
        )
    scope, params = viewer.owner_filter("c.csm_owner")
    sql = f"""
        WITH latest AS ({latest_predictions_sql("as_of + INTERVAL 90 DAY <= ?")})
        SELECT p.as_of, count(*) AS customers, sum(p.churn_probability) AS expected_churned,
               count(*) FILTER (WHERE c.churn_date > p.as_of AND c.churn_date <= p.as_of + INTERVAL 90 DAY) AS churned,
               any_value(p.model_version) AS model_version
        FROM latest p JOIN customers c ON c.customer_id = p.customer_id
        WHERE {scope}
        GROUP BY p.as_of ORDER BY p.as_of
    """  # noqa: S608 - {scope} is written by engine.core.access, values are bound
    frame = wh.df(sql, [end, *params])
    frame["predicted_rate"] = frame["expected_churned"] / frame["customers"]
    frame["realised_rate"] = frame["churned"] / frame["customers"]
    return frame


# -- drift reports ---------------------------------------------------------------------------------
class ScoreDrift(Contract):
    """PSI of predicted churn probability: out-of-time month vs the current population.

    `bins`: bin, reference_share, current_share."""

    reference_as_of: date
    psi: float
    status: DriftStatus
    reference_mean: float
    current_mean: float
    bins: Table


class DriftReport(Contract):
    """Feature (and score) drift between the training reference and the current population.

    `features`: feature, label, kind, psi, status, test, statistic, p_value,
    reference_median, current_median, reference_missing, current_missing (worst first).
    `bins`: feature, bin, reference_share, current_share.
    """

    model_version: str | None
    reference_as_of: date
    reference_from: date | None = None  # first of the pooled reference month ends (None: one date)
    current_as_of: date
    reference_rows: int
    current_rows: int
    features: Table
    bins: Table
    score: ScoreDrift | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def thresholds(self) -> dict[str, float]:
        """The PSI from which a feature is to watch or to act on."""
        return {"watch": PSI_WATCH, "act": PSI_ACT}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """How many features are stable / watch / act."""
        found = self.features["status"].value_counts() if "status" in self.features else pd.Series(dtype=int)
        return {s: int(found.get(s, 0)) for s in STATUS_ORDER}

    def flagged(self, status: DriftStatus = "act") -> list[str]:
        """Features with this status, worst first."""
        if "status" not in self.features:
            return []
        return self.features.loc[self.features["status"] == status, "feature"].tolist()


def _population(wh: Warehouse, as_of: date, what: str, feature_set: feats.FeatureSet | None = None) -> pd.DataFrame:
    frame = feats.features_as_of(wh, as_of, feature_set=feature_set)
    if frame.empty:
        raise BadInputError(f"No customer was active on {as_of}, so there is no {what} population to compare.")
    return frame


def training_month_ends(window: dict, months: int = REFERENCE_MONTHS) -> list[date]:
    """The last `months` month ends of a version's training window (`train_from` .. `train_to`)."""
    start, end = date.fromisoformat(window["train_from"]), date.fromisoformat(window["train_to"])
    ends = [d.date() for d in pd.date_range(start, end, freq="ME")]
    return ends[-months:] or [end]


def _reference(wh: Warehouse, month_ends: list[date], feature_set: feats.FeatureSet | None = None) -> pd.DataFrame:
    return pd.concat([_population(wh, d, "reference", feature_set) for d in month_ends], ignore_index=True)


def _model_features(feature_set: feats.FeatureSet | None, names: list[str]) -> tuple[feats.Feature, ...]:
    """The model's features as drift rows: the fixed ones with their kind, every data-driven
    one (event types, attributes, subscriptions) labelled as the feature set names it. Only
    what the model reads (`names`): a serving baseline reads 7 of the data's 36 columns, and
    drift in the other 29 changes none of its scores."""
    if feature_set is None:
        return tuple(f for f in feats.FEATURES if f.name in set(names))
    categorical = set(feature_set.categorical)
    labels = feature_set.labels
    reads = set(names) or set(feature_set.names)
    return tuple(
        feats.Feature(n, labels.get(n, n), "categorical" if n in categorical else "numeric")
        for n in feature_set.names
        if n in reads
    )


def drift_between(wh: Warehouse, reference_as_of: date, current_as_of: date) -> DriftReport:
    """Feature drift between customers active at `reference_as_of` and at `current_as_of` (no model)."""
    reference = _population(wh, reference_as_of, "reference")
    current = _population(wh, current_as_of, "current")
    table, bins = feature_drift(reference, current)
    return DriftReport(
        model_version=None,
        reference_as_of=reference_as_of,
        current_as_of=current_as_of,
        reference_rows=len(reference),
        current_rows=len(current),
        features=table,
        bins=bins,
    )


def latest_scoring_date(wh: Warehouse) -> date | None:
    """The newest plausible as-of date in predictions, else the data's latest day."""
    return health.latest_scoring_date(wh) or health.data_as_of(wh)


def _score_drift(ref: np.ndarray, reference_as_of: date, cur: np.ndarray) -> ScoreDrift:
    """PSI of predicted churn: the out-of-time month's probabilities `ref` against `cur`."""
    edges = numeric_edges(ref)
    ref_shares, cur_shares = _numeric_shares(ref, edges), _numeric_shares(cur, edges)
    psi = _psi(ref_shares, cur_shares)
    bins = pd.DataFrame(
        # Probabilities read as percentages ("0.152% – 0.206%", not "0.001522 – 0.002061").
        {
            "bin": _numeric_labels(edges * 100, "{:.3g}%")[:-1],
            "reference_share": ref_shares[:-1],
            "current_share": cur_shares[:-1],
        }
    )
    return ScoreDrift(
        reference_as_of=reference_as_of,
        psi=psi,
        status=drift_status(psi),
        reference_mean=float(ref.mean()),
        current_mean=float(cur.mean()),
        bins=bins,
    )


REFERENCE_FILE = "drift_reference.parquet"
SCORE_REFERENCE_FILE = "drift_score_reference.parquet"


def _reference_file(entry: registry.ModelVersion, data_dir: str | Path | None) -> Path:
    return registry.artifact(entry, data_dir).parent / REFERENCE_FILE


def _kept(path: Path, build, columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A frame kept at `path`, built by `build()` the first time (and again if the copy is
    damaged, or lacks one of `columns`: a copy kept before its model's columns were all built)."""
    if path.exists():
        try:
            kept = pd.read_parquet(path)
        except (OSError, ValueError):
            pass
        else:
            if set(columns) <= set(kept.columns):
                return kept
    frame = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        frame.to_parquet(part, index=False)
        part.replace(path)  # readers never see half a file
    except OSError:  # a read-only models folder: measured, just not kept
        pass
    return frame


def _kept_reference(
    wh: Warehouse,
    entry: registry.ModelVersion,
    data_dir: str | Path | None,
    month_ends: list[date],
    feature_set: feats.FeatureSet | None,
) -> pd.DataFrame:
    """The training reference of `entry`, built from the warehouse the first time and kept beside
    the model's artifact: it is the population the version learned from, so later loads (a new
    day of events) do not change it, and a scoring run reads it instead of rebuilding six month
    ends of features (minutes on a large book)."""
    folder = registry.artifact(entry, data_dir).parent
    reads = tuple(feature_set.names) if feature_set is not None else ()
    return _kept(folder / REFERENCE_FILE, lambda: _reference(wh, month_ends, feature_set), reads)


def _kept_score_reference(
    wh: Warehouse,
    entry: registry.ModelVersion,
    model: ChurnModel,
    data_dir: str | Path | None,
    as_of: date,
    feature_set: feats.FeatureSet | None,
) -> np.ndarray:
    """The version's predicted churn on its last out-of-time month (kept like the reference)."""
    folder = registry.artifact(entry, data_dir).parent

    def build() -> pd.DataFrame:
        frame = _population(wh, as_of, "out-of-time", feature_set)
        return pd.DataFrame({"churn_probability": model.predict(frame).churn_probability})

    return _kept(folder / SCORE_REFERENCE_FILE, build)["churn_probability"].to_numpy(dtype=float)


@dataclass(frozen=True)
class DriftReference:
    """What a version's drift compares a population with: the feature rows of its last training
    month ends and its predicted churn on its last out-of-time month (both kept beside the
    model's artifact, built from the warehouse the first time)."""

    dates: list[date]
    score_as_of: date
    feature_set: feats.FeatureSet | None  # the model's own columns (or an older model's fixed ones)
    features: pd.DataFrame
    probabilities: np.ndarray


def drift_reference(
    wh: Warehouse, entry: registry.ModelVersion, model: ChurnModel, data_dir: str | Path | None
) -> DriftReference:
    if entry.kind != "churn":
        raise BadInputError(f"{entry.version} is a {entry.kind} model; drift is measured for warehouse churn models.")
    window = entry.data_window
    dates = training_month_ends(window)
    score_as_of = date.fromisoformat(window["valid_to"])
    feature_set = feats.set_of(model)
    return DriftReference(
        dates,
        score_as_of,
        feature_set,
        _kept_reference(wh, entry, data_dir, dates, feature_set),
        _kept_score_reference(wh, entry, model, data_dir, score_as_of, feature_set),
    )


def drift_against(
    entry: registry.ModelVersion,
    reference: DriftReference,
    current_as_of: date,
    current: pd.DataFrame,
    current_probabilities: np.ndarray,
) -> DriftReport:
    """Drift of the population `current` (at `current_as_of`, with its predicted churn) from
    `reference`: computed from the frames alone, no warehouse read."""
    table, bins = feature_drift(
        reference.features, current, _model_features(reference.feature_set, list(entry.features))
    )
    return DriftReport(
        model_version=entry.version,
        reference_as_of=reference.dates[-1],
        reference_from=reference.dates[0],
        current_as_of=current_as_of,
        reference_rows=len(reference.features),
        current_rows=len(current),
        features=table,
        bins=bins,
        score=_score_drift(reference.probabilities, reference.score_as_of, current_probabilities),
    )


def _drift_of(
    wh: Warehouse,
    entry: registry.ModelVersion,
    model: ChurnModel,
    data_dir: str | Path | None,
    current_as_of: date,
    current: pd.DataFrame | None = None,
    current_probabilities: np.ndarray | None = None,
) -> DriftReport:
    """Drift of `entry` at `current_as_of`; `current` (and its probabilities), when given, is that
    population as scoring just built it."""
    reference = drift_reference(wh, entry, model, data_dir)
    if current is None:
        current = _population(wh, current_as_of, "current", reference.feature_set)
    if current_probabilities is None:
        current_probabilities = model.predict(current).churn_probability
    return drift_against(entry, reference, current_as_of, current, current_probabilities)


def drift_report(
    wh: Warehouse, data_dir: str | Path | None = None, version: str | None = None, current_as_of: date | None = None
) -> DriftReport:
    """Drift of `version` (default production): its training reference vs the population at
    `current_as_of` (default: the latest scoring date), features and predicted scores."""
    entry = registry.get(version, data_dir) if version else registry.load_production("churn", data_dir)[0]
    if entry.kind != "churn":
        raise BadInputError(f"{entry.version} is a {entry.kind} model; drift is measured for warehouse churn models.")
    model = registry.load(entry, data_dir)
    current_as_of = current_as_of or latest_scoring_date(wh)
    if current_as_of is None:
        raise BadInputError("The warehouse has no data; load data before measuring drift.")
    return _drift_of(wh, entry, model, data_dir, current_as_of)


# -- kept results: measured when scores are written, read by the Model & data page ------------------
class Kept(Contract):
    """A monitoring result as kept: what it is about and when it was measured."""

    kind: Literal["drift", "quality"]
    model_version: str
    scores_as_of: date | None
    computed_at: datetime
    seconds: float

    @property
    def note(self) -> str:
        """The line the page shows under the result."""
        scores = f" for the scores of {self.scores_as_of:%Y-%m-%d}" if self.scores_as_of else ""
        return (
            f"Computed at {self.computed_at:%Y-%m-%d %H:%M} UTC{scores} by {self.model_version} ({self.seconds:.1f} s)."
        )


class KeptDrift(Kept):
    report: DriftReport
    stale: bool = False  # newer scores (or another serving model) exist than the ones it measured


class KeptQuality(Kept):
    report: Any  # quality.QualityReport (typed loosely: quality imports this module's neighbours)


def keep(kind: str, report: Contract, model_version: str, scores_as_of: date | None, seconds: float, data_dir) -> None:
    """Store `report` (replacing the one of the same kind, version and scoring date)."""
    rows = store.monitoring_results
    with store.get_engine(data_dir).begin() as conn:
        same = (rows.c.kind == kind) & (rows.c.model_version == model_version)
        conn.execute(
            sa.delete(rows).where(
                same & (rows.c.scores_as_of == scores_as_of if scores_as_of else rows.c.scores_as_of.is_(None))
            )
        )
        conn.execute(
            sa.insert(rows).values(
                kind=kind,
                model_version=model_version,
                scores_as_of=scores_as_of,
                computed_at=datetime.now(UTC),
                seconds=round(seconds, 2),
                payload=report.model_dump_json(),
            )
        )
        # Drift of the last KEPT_RUNS scoring dates per version is enough to look back on.
        old = (
            sa.select(rows.c.id)
            .where(same)
            .order_by(rows.c.scores_as_of.desc(), rows.c.id.desc())
            .offset(KEPT_RUNS)
            .scalar_subquery()
        )
        conn.execute(sa.delete(rows).where(rows.c.id.in_(old)))


KEPT_RUNS = 12


def _latest_kept(kind: str, model_version: str, data_dir) -> Any:
    rows = store.monitoring_results
    with store.get_engine(data_dir).connect() as conn:
        return conn.execute(
            sa.select(rows)
            .where((rows.c.kind == kind) & (rows.c.model_version == model_version))
            .order_by(rows.c.scores_as_of.desc(), rows.c.computed_at.desc())
            .limit(1)
        ).first()


def _scored_at(wh: Warehouse, as_of: date, model_version: str) -> datetime | None:
    found = wh.scalar(
        "SELECT max(scored_at) FROM predictions WHERE as_of = ? AND model_version = ?", [as_of, model_version]
    )
    return pd.Timestamp(found).to_pydatetime() if found is not None else None


def stored_drift(wh: Warehouse, data_dir: str | Path | None, model_version: str) -> KeptDrift | None:
    """The newest drift kept for `model_version`, marked stale when the latest scoring date or
    the scores at it are newer than what it measured; None when none was kept (scores written
    before monitoring was kept, or a warehouse scored another way)."""
    row = _latest_kept("drift", model_version, data_dir)
    if row is None:
        return None
    computed_at = row.computed_at.replace(tzinfo=None) if row.computed_at.tzinfo else row.computed_at
    latest = latest_scoring_date(wh)
    scored_at = _scored_at(wh, row.scores_as_of, model_version) if row.scores_as_of else None
    stale = latest != row.scores_as_of or (scored_at is not None and scored_at > computed_at)
    return KeptDrift(
        kind="drift",
        model_version=row.model_version,
        scores_as_of=row.scores_as_of,
        computed_at=computed_at,
        seconds=row.seconds,
        report=DriftReport.model_validate_json(row.payload),
        stale=stale,
    )


def stored_quality(data_dir: str | Path | None, model_version: str) -> KeptQuality | None:
    """The out-of-time quality kept for `model_version` (it depends on the version only), or None."""
    from engine.churn import quality  # quality reads scoring, which reads this module when it runs

    row = _latest_kept("quality", model_version, data_dir)
    if row is None:
        return None
    computed_at = row.computed_at.replace(tzinfo=None) if row.computed_at.tzinfo else row.computed_at
    return KeptQuality(
        kind="quality",
        model_version=row.model_version,
        scores_as_of=None,
        computed_at=computed_at,
        seconds=row.seconds,
        report=quality.QualityReport.model_validate_json(row.payload),
    )


def measure_drift(
    wh: Warehouse,
    data_dir: str | Path | None,
    entry: registry.ModelVersion,
    model: ChurnModel | None = None,
    as_of: date | None = None,
    current: pd.DataFrame | None = None,
    probabilities: np.ndarray | None = None,
) -> KeptDrift:
    """Measure drift of `entry` at `as_of` (default: the latest scoring date) and keep it."""
    t0 = time.perf_counter()
    as_of = as_of or latest_scoring_date(wh)
    if as_of is None:
        raise BadInputError("The warehouse has no data; load data before measuring drift.")
    model = model if model is not None else registry.load(entry, data_dir)
    report = _drift_of(wh, entry, model, data_dir, as_of, current, probabilities)
    seconds = time.perf_counter() - t0
    keep("drift", report, entry.version, as_of, seconds, data_dir)
    return KeptDrift(
        kind="drift",
        model_version=entry.version,
        scores_as_of=as_of,
        computed_at=datetime.now(UTC).replace(tzinfo=None),
        seconds=round(seconds, 2),
        report=report,
    )


def measure_quality(wh: Warehouse, data_dir: str | Path | None, entry: registry.ModelVersion) -> KeptQuality:
    """Measure `entry`'s out-of-time quality and keep it."""
    from engine.churn import quality

    t0 = time.perf_counter()
    report = quality.version_quality(wh, entry.version, data_dir)
    seconds = time.perf_counter() - t0
    keep("quality", report, entry.version, None, seconds, data_dir)
    return KeptQuality(
        kind="quality",
        model_version=entry.version,
        scores_as_of=None,
        computed_at=datetime.now(UTC).replace(tzinfo=None),
        seconds=round(seconds, 2),
        report=report,
    )


def drift_alongside(
    pool: Executor,
    wh: Warehouse,
    data_dir: str | Path | None,
    entry: registry.ModelVersion,
    model: ChurnModel,
    as_of: date,
    current: pd.DataFrame,
    probabilities: np.ndarray,
) -> Future[tuple[DriftReport, float]] | None:
    """Drift of a scoring run's population, compared in `pool` while the run writes its scores
    (the comparison reads no warehouse; the reference is read, or built the first time, here
    from `wh` before the write). Gives the report and the seconds it took; None for a model
    without a warehouse reference or a reference that cannot be had (then `record_after_scoring`
    measures and reports as before)."""
    if entry.kind != "churn":
        return None
    t0 = time.perf_counter()
    try:
        reference = drift_reference(wh, entry, model, data_dir)
    except RadarError:
        return None
    read = time.perf_counter() - t0

    def compare() -> tuple[DriftReport, float]:
        t1 = time.perf_counter()
        return drift_against(entry, reference, as_of, current, probabilities), read + time.perf_counter() - t1

    return pool.submit(compare)


def record_after_scoring(
    wh: Warehouse,
    data_dir: str | Path | None,
    entry: registry.ModelVersion,
    model: ChurnModel,
    as_of: date,
    current: pd.DataFrame,
    probabilities: np.ndarray,
    say=None,
    drift: Future[tuple[DriftReport, float]] | None = None,
) -> dict[str, float]:
    """What a scoring run measures once its predictions are written: drift of the population it
    scored (from the rows and probabilities it built; `drift`, when given, was compared while
    they were written) and, the first time a version scores, that version's quality; returns
    the seconds each added to the run. A failure here is reported and never undoes the scores."""
    say = say or (lambda _f, _m: None)
    seconds: dict[str, float] = {}
    if entry.kind != "churn":  # baselines and table models have no warehouse training reference
        return seconds
    try:
        say(0.8, "measuring drift of the scored population")
        t0 = time.perf_counter()
        if drift is None:
            measure_drift(wh, data_dir, entry, model, as_of, current, probabilities)
        else:
            report, spent = drift.result()
            keep("drift", report, entry.version, as_of, spent, data_dir)
        seconds["drift"] = round(time.perf_counter() - t0, 3)
        if _latest_kept("quality", entry.version, data_dir) is None:
            say(0.9, f"measuring {entry.version}'s out-of-time quality (once per version)")
            t0 = time.perf_counter()
            try:
                measure_quality(wh, data_dir, entry)
            finally:
                seconds["quality"] = round(time.perf_counter() - t0, 3)
    except RadarError as exc:
        say(0.95, f"monitoring not measured: {exc}")
    return seconds


# -- realised vs predicted ------------------------------------------------------------------------
class RealisedReport(Contract):
    """How past predictions turned out, per scoring date whose 90-day window has closed.

    `by_date`: as_of, model_version, customers, expected_churned, churned, predicted_rate,
    realised_rate, auc, pr_auc, brier, in_sample (the model had seen that date's outcome
    when it was trained or calibrated). `calibration`: as_of, bin, mean_predicted,
    observed_rate, rows. `pending`: scoring dates still inside their window (as_of,
    customers, known_on).
    """

    data_as_of: date | None
    by_date: Table
    calibration: Table
    pending: Table

    @computed_field  # type: ignore[prop-decorator]
    @property
    def horizon_days(self) -> int:
        """Days after a scoring date by which its outcome is known."""
        return training.HORIZON_DAYS

    @property
    def out_of_sample(self) -> pd.DataFrame:
        """The scoring dates after the model's last labelled (training or calibration) snapshot:
        the only ones whose realised accuracy says how the model does on data it never saw."""
        if self.by_date.empty or "in_sample" not in self.by_date:
            return self.by_date.iloc[0:0]
        return self.by_date[~self.by_date["in_sample"].astype(bool)]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def headline(self) -> dict[str, Any] | None:
        """The newest out-of-sample scoring date's row (as_of, auc, predicted_rate,
        realised_rate, ...; missing values None), or None when every judged date is
        in-sample: headlines never show in-sample figures."""
        rows = self.out_of_sample
        return records(rows.tail(1))[0] if len(rows) else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def headline_note(self) -> str:
        """What the headline stands on, or why there is none yet."""
        row = self.headline
        if row is not None:
            return (
                f"Out of sample: scores of {formatting.day(pd.Timestamp(row['as_of']).date())}, after the model's last labelled "
                f"snapshot, judged {training.HORIZON_DAYS} days later."
            )
        known = list(self.pending["known_on"]) if "known_on" in self.pending else []
        when = f" The first can be judged on {formatting.day(pd.Timestamp(min(known)).date())}." if known else ""
        judged = len(self.by_date)
        return (
            "No out-of-sample result yet: "
            + (
                f"{'the scoring date judged so far falls' if judged == 1 else f'the {judged} scoring dates judged so far fall'} "
                "inside the model's training or calibration window."
                if judged
                else "no scoring date's 90-day window has closed."
            )
            + when
        )


def _row_level(wh: Warehouse, end: date, viewer: Viewer) -> pd.DataFrame:
    scope, params = viewer.owner_filter("c.csm_owner")
    sql = f"""
        WITH latest AS ({latest_predictions_sql("as_of + INTERVAL 90 DAY <= ?")})
        SELECT p.as_of, p.churn_probability,
               (c.churn_date > p.as_of AND c.churn_date <= p.as_of + INTERVAL 90 DAY)::INTEGER AS churned
        FROM latest p JOIN customers c ON c.customer_id = p.customer_id
        WHERE {scope}
    """  # noqa: S608 - {scope} is written by engine.core.access, values are bound
    frame = wh.df(sql, [end, *params])
    frame["churned"] = frame["churned"].fillna(0).astype(int)
    return frame


def _in_sample(versions: pd.Series, dates: pd.Series, data_dir) -> list[bool]:
    """True where the model's training or calibration saw that date's outcome."""
    seen: dict[str, date | None] = {}
    out = []
    for version, as_of in zip(versions, dates, strict=True):
        if version not in seen:
            try:
                seen[version] = date.fromisoformat(registry.get(version, data_dir).data_window["valid_to"])
            except Exception:  # an unregistered or foreign version: unknown, treat as out of sample
                seen[version] = None
        last = seen[version]
        out.append(bool(last is not None and pd.Timestamp(as_of).date() <= last))
    return out


def realised_vs_predicted(wh: Warehouse, data_dir: str | Path | None = None, *, viewer: Viewer) -> RealisedReport:
    """AUC, Brier and calibration of what was predicted at each past scoring date, over the
    accounts `viewer` may see (required: `engine.core.access.SYSTEM` for the whole portfolio)."""
    end = health.data_as_of(wh)
    base = predicted_vs_realised(wh, viewer)
    empty_cal = pd.DataFrame(columns=["as_of", "bin", "mean_predicted", "observed_rate", "rows"])
    pending = _pending(wh, end)
    if end is None or base.empty:
        by_date = base.assign(auc=pd.Series(dtype=float), pr_auc=pd.Series(dtype=float), brier=[], in_sample=[])
        return RealisedReport(data_as_of=end, by_date=by_date, calibration=empty_cal, pending=pending)
    rows = _row_level(wh, end, viewer)
    metrics, calibration = [], []
    for as_of, group in rows.groupby("as_of", sort=True):
        scored = training.evaluate(group["churned"].to_numpy(), group["churn_probability"].to_numpy())
        metrics.append(
            {"as_of": as_of, "auc": scored.get("auc"), "pr_auc": scored.get("pr_auc"), "brier": scored["brier"]}
        )
        calibration += [{"as_of": as_of, **b} for b in scored["calibration"]]
    by_date = base.merge(pd.DataFrame(metrics), on="as_of", how="left")
    by_date["in_sample"] = _in_sample(by_date["model_version"], by_date["as_of"], data_dir)
    return RealisedReport(
        data_as_of=end,
        by_date=by_date,
        calibration=pd.DataFrame(calibration) if calibration else empty_cal,
        pending=pending,
    )


def _pending(wh: Warehouse, end: date | None) -> pd.DataFrame:
    if end is None:
        return pd.DataFrame(columns=["as_of", "customers", "known_on"])
    frame = wh.df(
        "SELECT as_of, count(DISTINCT customer_id) AS customers FROM predictions "
        "WHERE as_of + INTERVAL 90 DAY > ? AND as_of <= ? GROUP BY as_of ORDER BY as_of",
        [end, end],  # scores dated after the data (outside reality) are not pending, they are wrong
    )
    frame["known_on"] = [pd.Timestamp(d).date() + timedelta(days=training.HORIZON_DAYS) for d in frame["as_of"]]
    return frame


# -- at a glance -----------------------------------------------------------------------------------
TrustStatus = Literal["ok", "watch", "act", "pending"]


class TrustCheck(Contract):
    """One line of "can the model be trusted today": ok / watch / act (or pending: not judged yet) and why."""

    check: str
    status: TrustStatus
    detail: str


def _check(check: str, status: TrustStatus, detail: str) -> TrustCheck:
    return TrustCheck(check=check, status=status, detail=detail)


def trust_checks(
    entry: registry.ModelVersion | None,
    hash_ok: bool,
    drift: DriftReport | None,
    realised: RealisedReport | None,
    no_model_yet: str | None = None,
) -> list[TrustCheck]:
    """Serving model, its artifact, input and score drift, and realised accuracy, each judged.
    `no_model_yet`: why there can be no model yet (a book too young to train on): pending, not
    an alarm, since no admin action can make one."""
    if entry is None:
        if no_model_yet:
            return [_check("Serving model", "pending", no_model_yet)]
        return [_check("Serving model", "act", "No production model: an admin must train one.")]
    checks = [
        _check(
            "Artifact",
            "ok" if hash_ok else "act",
            "matches its registered SHA-256" if hash_ok else "changed or missing: roll back or retrain",
        )
    ]
    auc = entry.metrics.get("auc")
    checks.append(
        _check(
            "Out-of-time AUC at training",
            "ok" if auc is not None and auc >= 0.7 else "watch",
            f"{auc:.3f} on {entry.data_window.get('valid_from')} – {entry.data_window.get('valid_to')}"
            if auc is not None
            else "not recorded",
        )
    )
    if drift is not None:
        counts = drift.counts
        status: TrustStatus = "act" if counts["act"] else "watch" if counts["watch"] else "ok"
        worst = ", ".join(drift.features.loc[drift.features["status"] == "act", "label"].head(3))
        detail = f"{counts['act']} to act on, {counts['watch']} to watch, {counts['stable']} stable"
        checks.append(_check("Input drift", status, detail + (f" (worst: {worst})" if worst else "")))
        if drift.score is not None:
            s = drift.score
            checks.append(
                _check(
                    "Score drift",
                    "ok" if s.status == "stable" else s.status,
                    f"PSI {s.psi:.3f}; mean predicted churn {s.reference_mean:.1%} then, {s.current_mean:.1%} now",
                )
            )
    if realised is not None:
        last = realised.headline  # out-of-sample only: in-sample accuracy flatters the model
        if last is None:
            # Not a warning: no model can be judged on outcomes that have not happened yet.
            checks.append(_check("Realised vs predicted", "pending", realised.headline_note))
        else:
            gap = abs(float(last["predicted_rate"]) - float(last["realised_rate"]))
            auc_now = last["auc"]
            judged: TrustStatus = "ok" if gap <= 0.05 and (pd.isna(auc_now) or auc_now >= 0.65) else "watch"
            auc_text = "n/a" if pd.isna(auc_now) else f"{auc_now:.3f}"
            checks.append(
                _check(
                    "Realised vs predicted",
                    judged,
                    f"scored {pd.Timestamp(last['as_of']).date()} (out of sample): predicted "
                    f"{last['predicted_rate']:.1%}, realised {last['realised_rate']:.1%}, AUC {auc_text}",
                )
            )
    return checks
