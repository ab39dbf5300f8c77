"""Forecasts: business series with model forecasts and 80/95% bands, the backtest the automatic
choice was made on (the same one, so the chart and the table never disagree), and the
churn-adjusted MRR outlook for the next 3, 6 and 12 months."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import forecast_charts as charts
from components.shared import auth, cache, kpi, status
from components.shared import format as fmt
from engine.core import exports
from engine.core.errors import RadarError
from engine.data import health
from engine.forecasting import series as business
from engine.forecasting.auto import ForecastResult
from engine.forecasting.backtest import MIN_TRAIN, longest_backtest_horizon
from engine.forecasting.models import AUTO, MODELS

OUTLOOK_MONTHS = (3, 6, 12)
DEFAULT_HORIZON = {"monthly": 12, "weekly": 13}
MAX_HORIZON = {"monthly": 24, "weekly": 52}
PERIODS = {"monthly": "months", "weekly": "weeks"}
METRICS = {
    "mase": "MASE",
    "wape": "WAPE %",
    "smape": "sMAPE %",
    "mae": "MAE",
    "rmse": "RMSE",
    "bias": "Bias",
    "coverage_80": "80% coverage",
    "coverage_95": "95% coverage",
}
NO_CHART_BAR = {"displayModeBar": False}

viewer = auth.require_viewer("forecasts")
who = cache.viewer_key(viewer)
st.title("Forecasts")
st.caption(
    "Where the business is heading: forecasts from several models with 80% and 95% intervals, "
    "a backtest on past data that says which model to trust, and the MRR outlook after expected churn."
)

data_dir = cache.current_data_dir()
try:
    as_of = cache.data_as_of(data_dir)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()
if as_of is None:
    st.info(
        "No data yet. Run `make run` (demo data) or load your tables with `.venv/bin/python -m engine ingest`, then reload.",
        icon=":material/database:",
    )
    st.stop()
dates_warning = health.out_of_range_warning(cache.warehouse(data_dir))
if dates_warning:
    st.warning(dates_warning, icon=":material/event_busy:")


def csv_button(label: str, frame: pd.DataFrame, file_name: str) -> None:
    st.download_button(label, exports.csv_text(frame), file_name=file_name, mime="text/csv", icon=":material/download:")


def pick_series() -> tuple[str, business.SeriesInfo, list[str], int]:
    """The series, models and horizon the user asked for."""
    names: dict[str, str] = dict(business.series_options())
    left, mid, right = st.columns([1.3, 2.6, 0.8], vertical_alignment="bottom")
    name = str(left.selectbox("Series", list(names), format_func=lambda n: names[n], key="fc_series"))
    info = business.series_info(name)
    models = mid.multiselect(
        "Models",
        [AUTO, *MODELS],
        default=[AUTO, "seasonal_naive"],
        format_func=charts.model_label,
        key="fc_models",
        help="The first model gets the shaded 80% and 95% bands. 'Automatic choice' uses the combination of "
        "exponential smoothing, Theta and ARIMA unless a single model clearly beat it in the backtest below.",
    )
    horizon = right.number_input(
        f"Horizon ({PERIODS[info.frequency]})",
        min_value=1,
        max_value=MAX_HORIZON[info.frequency],
        value=DEFAULT_HORIZON[info.frequency],
        key=f"fc_horizon_{info.frequency}",
    )
    return name, info, models, int(horizon)


def chosen_sentence(result: ForecastResult, uid: str, several: bool) -> str:
    """Which model drew the bold line, its fitted form when that says more (e.g. ETS(A,Ad,N)), and why."""
    lead = result.models[0]
    form = result.form(uid, lead)
    picked = result.chosen.get(uid, lead)
    form = form.removeprefix(f"{picked}: ")
    detail = f" (`{form}`)" if form and form not in (picked, lead, picked.replace("_", " ")) else ""
    if lead == AUTO:
        why = " (why: the backtest below)" if result.backtested(uid) else ", the default when there is no backtest"
        return f"The automatic choice{f' for **{uid}**' if several else ''} is **{charts.model_label(picked)}**{detail}{why}."
    return f"**{charts.model_label(picked)}**{detail} draws the bold line."


def winner_sentence(metrics: pd.DataFrame, winner: str, reason: str) -> str:
    """The model the automatic choice trusts, why (from the choice itself), and how it compares with seasonal naive."""
    own = float(metrics.loc[metrics["model"] == winner, "mase"].iloc[0])
    parts = [f"The automatic choice trusts **{charts.model_label(winner)}** (error {own:.3f}). {reason}"]
    naive = metrics.loc[metrics["model"] == "seasonal_naive", "mase"]
    if winner != "seasonal_naive" and len(naive) and float(naive.iloc[0]) > 0:
        gain = 1 - own / float(naive.iloc[0])
        parts.append(
            f"Against seasonal naive ({float(naive.iloc[0]):.3f}): "
            + (
                f"{gain:.0%} lower."
                if gain >= 0.01
                else ("about the same." if gain > -0.01 else f"{-gain:.0%} higher.")
            )
        )
    return " ".join(parts) + " An error below 1 beats simply repeating last season's values."


def fallback_labels(result: ForecastResult, uid: str) -> dict[str, str]:
    """Legend names for models that fell back to another form on this series: a seasonal naive
    short of two seasons draws naive, and its line says so."""
    return (
        {"seasonal_naive": "Naive (too short for seasonal naive)"}
        if result.form(uid, "seasonal_naive") == "naive"
        else {}
    )


def span_sentence(periods: pd.Series, frequency: str) -> str:
    """'16 complete months, Aug 2024 to Nov 2025' ('… weeks, from the week of Sep 1, 2025 to the
    week of Nov 24, 2025'): a month is named, not its first day."""
    first, last = periods.min().date(), periods.max().date()
    if frequency == "monthly":
        return f"{len(periods)} complete months, {first:%b %Y} to {last:%b %Y}"
    return f"{len(periods)} complete {PERIODS[frequency]}, from the week of {fmt.day(first)} to the week of {fmt.day(last)}"


def no_backtest_sentence(points: int, horizon: int, periods: str, launch: int = 0) -> str:
    """Why a series has no backtest, and the horizon that would give it one; `launch` periods at
    its start were left out of the fit (the book still starting) and do not count."""
    longest = longest_backtest_horizon(points)
    first = periods[:-1] if launch == 1 else fmt.plural(launch, periods[:-1], periods)
    after = f" after its first {first}, left out as its launch," if launch else ""
    said = (
        f"No backtest for this series: {points} complete {periods}{after} are too short to test a {horizon}-"
        f"{periods[:-1]} forecast on their own past (each past forecast is fitted on at least {MIN_TRAIN} {periods})."
    )
    if longest >= 1:
        return f"{said} A horizon of {longest} {periods if longest > 1 else periods[:-1]} or less can be backtested."
    period = periods[:-1]

    def more(n: int) -> str:
        return f"{n} more {periods if n > 1 else period}"

    return (
        f"{said} A backtest of a 1-{period} forecast needs {more(MIN_TRAIN + 1 - points)}, "
        f"one of this {horizon}-{period} forecast {more(MIN_TRAIN + horizon - points)}."
    )


def highlight_winner(frame: pd.DataFrame, winner: str):
    """The metrics table with the winner's row shaded; errors in the series' scale, shares in %."""
    shade = "background-color: rgba(79, 70, 229, 0.12); font-weight: 600"
    scale = "{:,.0f}" if frame["MAE"].abs().max() >= 100 else "{:,.2f}"
    formats = {"MASE": "{:.3f}", "WAPE %": "{:.1f}", "sMAPE %": "{:.1f}", "MAE": scale, "RMSE": scale, "Bias": scale}
    formats.update({c: "{:.0%}" for c in ("80% coverage", "95% coverage")})
    return frame.style.apply(
        lambda row: [shade if row["model"] == charts.short_label(winner) else "" for _ in row], axis=1
    ).format({k: v for k, v in formats.items() if k in frame}, na_rep="–")


def backtest_section(history: pd.DataFrame, forecast: ForecastResult, name: str, uid: str, info, horizon: int) -> None:
    st.subheader("Backtest: which model to trust")
    result = forecast.selection
    if result is None or uid not in forecast.picked or not forecast.backtested(uid):
        points = forecast.fitted_points.get(uid, len(history))  # a launch left out of the fit does not count
        said = no_backtest_sentence(points, horizon, PERIODS[info.frequency], launch=len(history) - points)
        st.warning(said, icon=":material/history:")
        return
    metrics = result.metrics[result.metrics["unique_id"] == uid].drop(columns=["unique_id"])
    winner = forecast.picked[uid]
    cutoffs = result.folds.loc[result.folds["unique_id"] == uid, "cutoff"].drop_duplicates().sort_values()
    st.caption(
        f"The backtest the automatic choice was made on: each model was refitted at {len(cutoffs)} past "
        f"date{'s' if len(cutoffs) != 1 else ''} "
        f"({', '.join(fmt.day(pd.Timestamp(c).date()) for c in cutoffs)}), using only the data up to that date, "
        f"and forecast the next {horizon} {PERIODS[info.frequency]}."
    )
    st.markdown(
        winner_sentence(metrics, winner, forecast.reasons.get(uid, "")),
        help="The error is the MASE (mean absolute scaled error): the forecast's average miss divided by the "
        "average miss of a seasonal naive forecast made inside the sample.",
    )
    left, right = st.columns([1, 1.3], gap="medium")
    with left.container(border=True):
        st.markdown("#### Error by model")
        st.plotly_chart(charts.backtest_bars(metrics, winner), config=NO_CHART_BAR)
    with right.container(border=True):
        shown = st.selectbox(
            "Backtest forecasts of",
            list(metrics["model"]),
            index=list(metrics["model"]).index(winner),
            format_func=charts.model_label,
            key=f"fc_fold_model_{name}_{uid}_{horizon}",  # each series' own, starting on its pick
        )
        folds_frame = result.folds[result.folds["unique_id"] == uid]
        recent = history[history["ds"] >= folds_frame["ds"].min() - (folds_frame["ds"].max() - folds_frame["ds"].min())]
        st.plotly_chart(charts.backtest_folds_chart(recent, folds_frame, shown, info.unit), config=NO_CHART_BAR)
    table = metrics.assign(model=metrics["model"].map(charts.short_label)).rename(columns=METRICS)
    table = table[["model", "folds", *[c for c in METRICS.values() if c in table]]]
    st.dataframe(highlight_winner(table, winner), hide_index=True, width="stretch")
    st.caption(
        "MAE/RMSE in the series' unit; sMAPE and WAPE in %; bias = mean forecast minus actual (positive: "
        "over-forecast); coverage = share of actuals inside the interval (aim: the nominal level). "
        "The shaded row is the automatic choice, which may differ from the lowest average error: a single model "
        "must beat the combination in most past dates, by a margin that grows when there are few."
        + (
            " The automatic choice's bands in the chart above are not these models' own: they are made at least as "
            "wide as the errors its model made here."
            if forecast.bands_from_backtest(uid)
            else ""
        )
    )
    stood_in = result.stood_in.get(uid, {})
    if stood_in:
        folds = len(cutoffs)
        st.caption(
            "Too little history at the past dates to fit "
            + ", ".join(f"{charts.model_label(m)} ({n} of {folds})" for m, n in stood_in.items())
            + ": a naive forecast stood in for them there, so their rows repeat the naive one's and say little "
            "about those models."
        )
    csv_button("Backtest metrics (CSV)", result.metrics, f"backtest_{name}_{as_of}.csv")


def series_tab() -> None:
    name, info, models, horizon = pick_series()
    st.caption(info.description)
    if not models:
        st.warning("Pick at least one model to forecast with.", icon=":material/tune:")
        return
    try:
        history = cache.business_series(data_dir, who, name, as_of)
        with st.spinner("Fitting models…"):
            # The automatic choice always runs: its backtest is the one the page reports.
            result = cache.forecast_run(data_dir, who, name, tuple(dict.fromkeys([*models, AUTO])), horizon, as_of)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    ids = list(dict.fromkeys(history["unique_id"]))
    uid = ids[0] if len(ids) == 1 else st.segmented_control("Show", ids, default=ids[0], key="fc_uid") or ids[0]
    own_history = history[history["unique_id"] == uid]
    own_forecast = result.forecast[result.forecast["unique_id"] == uid]
    with st.container(border=True):
        st.markdown(f"#### {info.label}{'' if len(ids) == 1 else f': {uid}'}")
        bands = result.keeps_bands(uid, models[0])
        shaded = (
            f"shaded: {charts.model_label(models[0])} 80% and 95% intervals. "
            if bands
            else f"no bands: {charts.model_label(models[0])}'s 95% interval held only "
            f"{result.band_coverage(uid, models[0]):.0%} of the actuals in the backtest below, so its bands would "
            "promise a certainty it does not have. "
        )
        st.caption(
            span_sentence(own_history["ds"], info.frequency)
            + "; "
            + shaded
            + chosen_sentence(result, uid, len(ids) > 1)
        )
        st.plotly_chart(
            charts.forecast_chart(
                own_history,
                own_forecast,
                models,
                result.levels,
                info.unit,
                bands=bands,
                labels=fallback_labels(result, uid),
            ),
            config=NO_CHART_BAR,
        )
        notes = [n for n in result.notes if n]
        if notes:
            with st.expander("How the forecast was made"):
                for note in notes:
                    st.markdown(f"- {note}")
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption("Download:", width="content")
        csv_button("Forecast (CSV)", result.forecast, f"forecast_{name}_{as_of}.csv")
        csv_button("History (CSV)", history, f"history_{name}_{as_of}.csv")
    backtest_section(own_history, result, name, uid, info, horizon)


def outlook_tab() -> None:
    ready = cache.readiness(data_dir)
    if not ready.ready:
        status.unavailable(ready, "The churn-adjusted outlook needs scores")
        return
    months = max(OUTLOOK_MONTHS)
    try:
        result = cache.mrr_outlook(data_dir, who, months, cache.snapshot_stamp(data_dir))
        history = cache.business_series(data_dir, who, "mrr_total", as_of)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.caption(
        f"From today's {fmt.money(result.current_mrr)} MRR (scores as of {fmt.day(result.as_of)}, "
        f"model `{ready.model_version}`): each account's MRR weighted by its chance of staying, plus new and "
        "expansion revenue at the recent pace."
    )
    cards = []
    for m in OUTLOOK_MONTHS:
        row = result.at(m)
        cards.append(
            kpi.Kpi(
                f"MRR in {m} months",
                fmt.money(row.expected_mrr),
                delta=fmt.signed_money(row.expected_mrr - result.current_mrr),
                help=f"{row.month:%B %Y}. 90% band {fmt.money(row.lo)} – {fmt.money(row.hi)}; "
                f"expected churned MRR from today's accounts {fmt.money(row.expected_churned_mrr)}.",
            )
        )
    twelve = result.at(12)
    cards.append(
        kpi.Kpi(
            "Churned MRR, 12 mo",
            fmt.money(twelve.expected_churned_mrr),
            help="Today's MRR minus what today's accounts are expected to still pay in 12 months.",
        )
    )
    kpi.kpi_row(cards, delta_description="vs today")
    with st.container(border=True):
        st.markdown("#### Churn-adjusted MRR outlook")
        recent = history[history["ds"] >= history["ds"].max() - pd.DateOffset(months=24)]
        if len(recent) and pd.Timestamp(result.as_of) > recent["ds"].max():
            # The actual line ends on today's MRR, where the outlook starts: the last month row
            # (the 1st) leaves out this month's new accounts, and the line seemed to jump.
            today = pd.DataFrame({"ds": [pd.Timestamp(result.as_of)], "y": [result.current_mrr]})
            recent = pd.concat([recent[["ds", "y"]], today], ignore_index=True)
        st.plotly_chart(charts.outlook_chart(recent, result.frame, 0.90), config=NO_CHART_BAR)
        with st.expander("Assumptions"):
            for line in result.assumptions:
                st.markdown(f"- {line}")
    table = result.frame.rename(
        columns={
            "month_ahead": "Months ahead",
            "month": "Month",
            "expected_mrr": "Expected MRR",
            "lo": "Low, 90%",
            "hi": "High, 90%",
            "book_mrr": "From today's accounts",
            "inflow_mrr": "From new + expansion",
            "expected_churned_mrr": "Expected churned MRR",
        }
    )
    money_columns = [c for c in table.columns if c not in ("Months ahead", "Month")]
    # Money as the cards write it ("$40.4M"): a month-ordered table is read, not sorted; the CSV keeps the figures.
    st.dataframe(
        table.assign(
            Month=pd.to_datetime(table["Month"]).dt.strftime("%b %Y"),
            **{c: table[c].map(fmt.money) for c in money_columns},
        ),
        hide_index=True,
        width="stretch",
    )
    csv_button("Outlook (CSV)", result.frame, f"mrr_outlook_{result.as_of}.csv")


series, outlook = st.tabs(["Series forecasts", "Churn-adjusted MRR outlook"])
with series:
    series_tab()
with outlook:
    outlook_tab()
