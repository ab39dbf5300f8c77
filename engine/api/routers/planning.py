"""For leaders: forecasts of the business series, what-if scenarios, the model registry and drift.

Role checks are the app's (`engine.core.access`): forecasts, scenarios and Model & data open for
executives, analysts and admins; running a scenario is for analysts and admins. Plain `def`
routes, as forecasts and simulations take seconds: they run in the threadpool.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from engine import scenarios
from engine.api.auth import ForecastsRead, ModelsRead, Reader, ScenariosRead, ScenariosWrite
from engine.api.errors import Problem, documented
from engine.api.models import contract_json
from engine.churn import monitoring, registry
from engine.forecasting import reports
from engine.forecasting import series as business
from engine.forecasting.auto import forecast
from engine.forecasting.models import AUTO, MODELS

router = APIRouter()

MAX_HORIZON = 36


@router.get(
    "/forecasts/{series}",
    response_model=reports.SeriesForecast,
    tags=["forecasts"],
    summary="Forecast a business series (mrr_total, mrr_by_plan, active_customers, usage_weekly, tickets_weekly)",
    responses=documented(404),
)
def series_forecast(
    series: str,
    caller: ForecastsRead,
    wh: Reader,
    horizon: Annotated[
        int, Query(ge=1, le=MAX_HORIZON, description="periods ahead (months or weeks, as the series)")
    ] = 6,
    model: Annotated[str, Query(description=f"{AUTO} (chosen by backtest) or one of: {', '.join(MODELS)}")] = AUTO,
) -> Response:
    caller.viewer.require_page("forecasts")
    if series not in business.SERIES:
        raise Problem(404, f"Unknown series '{series}'. Series are: {', '.join(business.SERIES)}.")
    info = business.series_info(series)
    history = business.load_series(wh, series, caller.viewer)
    result = forecast(history, horizon, model=model)
    return contract_json(reports.series_forecast(info, history, result, model))


@router.post(
    "/scenarios/run",
    response_model=scenarios.ScenarioResult,
    tags=["scenarios"],
    summary="Run a what-if retention plan against the latest scores",
)
def run_scenario(
    plan: scenarios.Plan,
    caller: ScenariosWrite,
    wh: Reader,
) -> Response:
    return contract_json(scenarios.simulate(wh, plan, caller.viewer, data_dir=caller.data_dir))


@router.get(
    "/scenarios",
    response_model=list[scenarios.SavedScenario],
    tags=["scenarios"],
    summary="Saved scenarios, newest first (headline figures; open one for its full result)",
)
def saved_scenarios(
    caller: ScenariosRead,
    tag: Annotated[str | None, Query(description="only scenarios with this tag")] = None,
) -> Response:
    return contract_json(scenarios.list_saved(caller.viewer, tag, data_dir=caller.data_dir))


@router.get(
    "/scenarios/{scenario_id}",
    response_model=scenarios.SavedScenario,
    tags=["scenarios"],
    summary="One saved scenario with the result it was saved with",
    responses=documented(404),
)
def saved_scenario(scenario_id: int, caller: ScenariosRead) -> Response:
    return contract_json(scenarios.open_saved(scenario_id, caller.viewer, data_dir=caller.data_dir))


@router.get(
    "/models",
    response_model=list[registry.ModelVersion],
    tags=["models"],
    summary="The model registry, newest first",
)
def models(
    caller: ModelsRead,
    kind: Annotated[str | None, Query(description="churn (warehouse) or table (a labelled file)")] = None,
) -> Response:
    caller.viewer.require_page("model_data")
    return contract_json(registry.versions(kind, data_dir=caller.data_dir))


@router.get(
    "/drift",
    response_model=monitoring.DriftReport,
    tags=["models"],
    summary="Input and score drift of the production model (training reference vs today)",
    responses=documented(503),
)
def drift(caller: ModelsRead, wh: Reader) -> Response:
    caller.viewer.require_page("model_data")
    return contract_json(monitoring.drift_report(wh, caller.data_dir))
