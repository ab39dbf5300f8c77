"""The churn model as it serves one account at a time: loaded once per version and kept, one
feature row checked against the model's schema and scored exactly as batch scoring scores it,
and the range of values each feature took in training.

The registry is asked on every call (a promotion or roll back takes effect at once); a loaded
model is kept per (data dir, version, artifact hash), since an artifact never changes under a
registered version and loading it (with its hash check) takes most of a second. The API's
`POST /v1/predict`, the what-if of one account (`engine.accounts.whatif`) and the CLI share it.
"""

from __future__ import annotations

import math
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from engine.churn import explain, registry, risk, scoring
from engine.churn.features import LABELS
from engine.core.contracts import ConfidenceInterval, Contract
from engine.core.errors import BadInputError

if TYPE_CHECKING:
    from engine.churn.model import ChurnModel

TOP_DRIVERS = 5
MODELS_KEPT = 2

_models: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


class PredictResult(Contract):
    """The churn prediction for one feature row."""

    churn_probability: float
    confidence_interval: ConfidenceInterval
    risk_tier: str
    top_shap_features: list[explain.Driver]
    recommended_action: str
    model_version: str
    missing_features: list[str]  # features not given (scored as missing values)


class FeatureSpec(Contract):
    name: str
    label: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] | None = None  # the levels the model knows (others read as missing)


class FeatureSchema(Contract):
    """The features one prediction accepts for the production model."""

    model_version: str
    features: list[FeatureSpec]


class UnknownFeaturesError(BadInputError):
    """Feature names the model does not read; `unknown` lists them all."""

    def __init__(self, message: str, unknown: list[str]):
        super().__init__(message)
        self.unknown = unknown


class FeatureTypeError(BadInputError):
    """Values of the wrong type; `errors` holds {field, message, type} per value."""

    def __init__(self, message: str, errors: list[dict[str, str]]):
        super().__init__(message)
        self.errors = errors


# -- the model, kept per version ---------------------------------------------------------------
def _kept(data_dir: str | Path | None, version: registry.ModelVersion) -> ChurnModel:
    key = (str(data_dir), version.version, version.artifact_sha256)
    with _lock:
        found = _models.get(key)
    if found is None:
        found = registry.load(version, data_dir)  # checks the artifact's hash
        with _lock:
            _models[key] = found
            for old in list(_models)[:-MODELS_KEPT]:
                del _models[old]
    return found


def production_model(data_dir: str | Path | None) -> tuple[registry.ModelVersion, ChurnModel]:
    """The production version and its model (ModelUnavailableError when none can serve)."""
    current = registry.production("churn", data_dir)
    if current is None:
        return registry.load_production("churn", data_dir)  # raises with the engine's advice
    return current, _kept(data_dir, current)


def model_of(data_dir: str | Path | None, version: str) -> tuple[registry.ModelVersion, ChurnModel]:
    """A registered version and its model, kept like production's (NotFoundError when unknown,
    ModelUnavailableError when its artifact fails its checks)."""
    entry = registry.get(version, data_dir)
    return entry, _kept(data_dir, entry)


# -- one feature row ---------------------------------------------------------------------------
def _categories(model: ChurnModel, name: str) -> list[str] | None:
    return list(getattr(model, "categories_", {}).get(name, [])) if name in model.categorical else None


def feature_schema(version: registry.ModelVersion, model: ChurnModel) -> FeatureSchema:
    return FeatureSchema(
        model_version=version.version,
        features=[
            FeatureSpec(
                name=name,
                label=LABELS.get(name, name),
                kind="categorical" if name in model.categorical else "numeric",
                categories=_categories(model, name),
            )
            for name in model.features
        ],
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _type_error(name: str, value: Any, categorical: bool) -> dict[str, str] | None:
    """Why `value` cannot be the feature's value, or None when it can."""
    if value is None:
        return None
    if categorical:
        if isinstance(value, str):
            return None
        return {"field": f"body.features.{name}", "message": "must be text (a category) or null", "type": "string_type"}
    if isinstance(value, bool | int | float) and not (isinstance(value, float) and math.isinf(value)):
        return None
    return {"field": f"body.features.{name}", "message": "must be a number or null", "type": "float_type"}


def check_features(model: ChurnModel, values: dict[str, Any]) -> None:
    """Refuse names the model does not read (all listed) and values of the wrong type."""
    known = set(model.features)
    unknown = sorted(name for name in values if name not in known)
    if unknown:
        raise UnknownFeaturesError(
            f"Unknown feature(s): {', '.join(unknown)}. The production model reads: {', '.join(model.features)} "
            "(GET /v1/predict/schema lists them with their kinds).",
            unknown,
        )
    wrong = [e for name, v in values.items() if (e := _type_error(name, v, name in model.categorical))]
    if wrong:
        raise FeatureTypeError("; ".join(f"{e['field']}: {e['message']}" for e in wrong), wrong)


def feature_frame(model: ChurnModel, values: dict[str, Any]) -> pd.DataFrame:
    """One feature row as scoring builds it: numbers as float64 (missing as NaN), categories as text."""
    columns: dict[str, Any] = {"customer_id": ["request"]}
    for name in model.features:
        value = values.get(name)
        if name in model.categorical:
            columns[name] = pd.Series([value], dtype="object")
        else:
            columns[name] = pd.Series([np.nan if value is None else float(value)], dtype="float64")
    return pd.DataFrame(columns)


def tier_cuts(version: registry.ModelVersion, model: ChurnModel) -> risk.TierCuts:
    """The risk-tier thresholds batch scoring writes this version's scores with."""
    return risk.tier_cuts(scoring.base_rate(model, version))


def predict(version: registry.ModelVersion, model: ChurnModel, values: dict[str, Any]) -> PredictResult:
    """The churn prediction for one feature dictionary, with the version's tiers.

    A feature left out is a missing value, which both kinds of serving model accept (LightGBM
    routes it down each tree's learnt missing-value branch; a baseline imputes its training
    median), exactly as for an account without, say, support tickets."""
    check_features(model, values)
    row = scoring.score_features(model, feature_frame(model, values), TOP_DRIVERS, tier_cuts(version, model)).iloc[0]
    return PredictResult(
        churn_probability=float(row["churn_probability"]),
        confidence_interval=ConfidenceInterval(
            lower=float(row["ci_low"]), upper=float(row["ci_high"]), level=model.interval_level
        ),
        risk_tier=str(row["risk_tier"]),
        top_shap_features=explain.drivers_from_json(row["drivers"]),
        recommended_action=str(row["recommended_action"]),
        model_version=version.version,
        missing_features=[name for name in model.features if _missing(values.get(name))],
    )


# -- training ranges ---------------------------------------------------------------------------
_ranges_read: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, float]]] = weakref.WeakKeyDictionary()


def training_ranges(model: ChurnModel) -> dict[str, tuple[float, float]]:
    """(lowest, highest) value each numeric feature took in the rows the model learnt from.

    Stored with the artifact by training (`feature_ranges_`, every column the run built, read
    by the model or not). A model trained before that reads them from its LightGBM members,
    which record each feature's range in their training data (the union over members: each
    learnt from a resample); a model with neither (an older baseline) has none."""
    stored = getattr(model, "feature_ranges_", None)
    if stored:
        return {name: (float(lo), float(hi)) for name, (lo, hi) in stored.items()}
    if not getattr(model, "boosters_", None):
        return {}
    found = _ranges_read.get(model)
    if found is None:
        found = _ranges_read[model] = _booster_ranges(model)
    return found


def _booster_ranges(model: ChurnModel) -> dict[str, tuple[float, float]]:
    numeric = [name for name in model.features if name not in model.categorical]
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for booster in model.boosters_:
        infos = booster.dump_model(num_iteration=1).get("feature_infos", {})  # one tree: the header is the point
        for name in numeric:
            info = infos.get(name)
            if not isinstance(info, dict) or "min_value" not in info:
                continue  # "none": the member saw one value only, or none
            lows[name] = min(lows.get(name, math.inf), float(info["min_value"]))
            highs[name] = max(highs.get(name, -math.inf), float(info["max_value"]))
    return {name: (lows[name], highs[name]) for name in lows}
