"""The typed contracts every engine result leaves the engine in.

A result is a pydantic model (`Contract`). The views read its fields, the CLI's `--json`
prints `to_json(result)`, and the HTTP API returns the same model, so all three serialise a
result the same way, once. Tables inside a result are pandas DataFrames typed as `Table`:
they stay DataFrames in Python and become a list of row objects in JSON (dates as
YYYY-MM-DD, missing values as null).

Field names follow the seed contracts: `churn_probability`, `confidence_interval {lower,
upper, level}`, `top_shap_features [{feature, value, shap_impact, reason}]`,
`recommended_action`, `model_version`, `risk_score`, `components`, `risk_tier`,
`confidence_score`, `guardrail_flags`, `scope_exceeded`, `generated_at`, `model_used`,
`llm_provider`.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    computed_field,
    model_validator,
)


class Contract(BaseModel):
    """Base of every result model: immutable, DataFrames allowed, no unknown fields."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid", ser_json_inf_nan="null")

    @model_validator(mode="before")
    @classmethod
    def _ignore_computed(cls, data: Any) -> Any:
        """Computed fields are output only: a result read back from its own JSON drops them
        (they are derived again), while any other unknown key is still refused."""
        computed = cls.model_computed_fields
        if isinstance(data, dict) and computed:
            return {k: v for k, v in data.items() if k not in computed}
        return data


def plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN/inf/NaT to None, dates to ISO text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NaT or value is pd.NA or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return (
            value.date().isoformat()
            if value == datetime.combine(value.date(), datetime.min.time())
            else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-friendly rows of a DataFrame: dates as YYYY-MM-DD, missing values as None."""
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _to_frame(value: Any) -> pd.DataFrame:
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, list):
        return pd.DataFrame.from_records(value)
    if isinstance(value, dict):  # {"columns": [...], "rows": [...]} or column -> values
        return pd.DataFrame(value)
    raise ValueError("expected a table: a list of row objects")


# A DataFrame field: a DataFrame in Python, a list of row objects in JSON.
Table = Annotated[
    pd.DataFrame,
    PlainValidator(_to_frame),
    PlainSerializer(records, return_type=list[dict[str, Any]]),
    WithJsonSchema({"type": "array", "items": {"type": "object"}}),
]


class Versioned(Contract):
    """A result about one registered model version; `model_version` is the seed contract's name."""

    version: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model_version(self) -> str:
        return self.version


class ConfidenceInterval(Contract):
    """The interval around an estimate, e.g. a churn probability's 90% interval: how sure the
    model is about the estimate (in about 9 of 10 cases the probability the customer's recorded
    facts imply lies inside), not a range of outcomes for the customer."""

    lower: float
    upper: float
    level: float = 0.9


class ShapFeature(Contract):
    """One reason behind a churn score: the feature, its value and its push on the score."""

    feature: str
    value: Any = None
    shap_impact: float
    reason: str = ""


class RiskComponents(Contract):
    """The three parts of the risk score; None for a part whose source was never loaded (no
    usage log, no risk signals): absent, not a zero that would read as "no risk here"."""

    compliance_gap_score: float | None = None
    vendor_risk_flags: float | None = None
    usage_decay_score: float | None = None


ModelT = TypeVar("ModelT", bound=BaseModel)


def to_json(result: BaseModel | list[BaseModel], indent: int | None = 2) -> str:
    """The JSON text of a result (or a list of results): what `--json` prints and the API sends."""
    if isinstance(result, list):
        return json.dumps([r.model_dump(mode="json") for r in result], indent=indent)
    return result.model_dump_json(indent=indent)


def to_dict(result: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a result."""
    return result.model_dump(mode="json")


def from_json(model: type[ModelT], text: str | bytes | dict[str, Any]) -> ModelT:
    """The result back from its JSON (text or parsed)."""
    if isinstance(text, dict):
        return model.model_validate(text)
    return model.model_validate_json(text)
