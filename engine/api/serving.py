"""POST /v1/predict over the engine's one-row serving (`engine.churn.serving`): the same kept
model, schema checks, frame and scoring as the what-if of one account and the CLI; here only
the engine's refusals become problem documents with their extra members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.api.errors import Problem
from engine.churn import registry
from engine.churn import serving as engine_serving
from engine.churn.serving import FeatureSchema, PredictResult

if TYPE_CHECKING:
    from engine.churn.model import ChurnModel

TOP_DRIVERS = engine_serving.TOP_DRIVERS
production_model = engine_serving.production_model
feature_schema = engine_serving.feature_schema

__all__ = ["FeatureSchema", "PredictResult", "feature_schema", "predict", "production_model"]


def predict(version: registry.ModelVersion, model: ChurnModel, values: dict[str, Any]) -> PredictResult:
    """The engine's prediction; 422 listing every unknown name, or every value of the wrong type."""
    try:
        return engine_serving.predict(version, model, values)
    except engine_serving.UnknownFeaturesError as exc:
        raise Problem(422, str(exc), unknown_features=exc.unknown) from exc
    except engine_serving.FeatureTypeError as exc:
        raise Problem(422, str(exc), errors=exc.errors) from exc
