"""Model & data: can the churn model be trusted today? Registry, quality, drift, realised
vs predicted; admins also promote, roll back and retrain."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components import charts, ops, ops_charts
from components.shared import auth, cache, kpi
from components.shared import format as fmt
from components.shared.status import read_only_notice
from engine.churn import baselines, explain, monitoring, quality, registry, retrain, training
from engine.churn import status as churn_status
from engine.core import exports
from engine.core.errors import RadarError
from engine.data import health

FLASH = "model_data_flash"
JOB = "model_data_job"
STATUS_ICONS = {
    "ok": ":material/check_circle:",
    "pending": ":material/hourglass_empty:",
    "watch": ":material/visibility:",
    "act": ":material/error:",
}
NO_BAR = {"displayModeBar": False}

viewer = auth.require_viewer("model_data")
is_admin = viewer.can("retrain")
st.title("Model & data")
read_only_notice(viewer)
data_dir = cache.current_data_dir()

flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash, icon=":material/check_circle:")


def _median_text(value: object) -> str:
    if fmt.is_missing(value):
        return fmt.MISSING
    return f"{value:,.4g}" if isinstance(value, int | float) else str(value)


def done(message: str) -> None:
    ops.after_change()
    st.session_state[FLASH] = message
    st.rerun()


def drift_note(kept) -> None:
    """When and for which scores drift was measured; stale results say so, and admins may measure again."""
    if not kept.stale:
        st.caption(kept.note)
        return
    st.warning(
        f"{kept.note} Newer scores exist: drift is measured again by the next scoring run"
        + (", or now with the button below." if is_admin else " (an admin can also measure it now)."),
        icon=":material/update:",
    )
    if is_admin and st.button("Measure drift now", icon=":material/refresh:", key="drift_recompute"):
        try:
            with st.spinner("Comparing populations…"):
                ops.measure_drift(data_dir, kept.model_version)
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            done("Drift measured for the latest scores.")


def glance(entry, table: pd.DataFrame, drift, realised) -> None:
    """The verdict first: one line per check, worst state on top."""
    hash_ok = bool(table.loc[table["version"] == entry.version, "hash_ok"].all()) if entry else False
    young = churn_status.too_young(cache.warehouse(data_dir)) if entry is None else None
    checks = monitoring.trust_checks(entry, hash_ok, drift, realised, young)
    worst = (
        "act"
        if any(c.status == "act" for c in checks)
        else "watch"
        if any(c.status == "watch" for c in checks)
        else "pending"
        if all(c.status == "pending" for c in checks)
        else "ok"
    )
    lines = "\n".join(f"- {STATUS_ICONS[c.status]} **{c.check}**: {c.detail}" for c in checks)
    heading = {
        "ok": "The serving model looks trustworthy today.",
        "watch": "The serving model works, but something needs watching.",
        "act": "Something needs action before the scores can be fully trusted.",
        "pending": "No churn model to judge yet.",
    }[worst]
    box = {"ok": st.success, "watch": st.warning, "act": st.error, "pending": st.info}[worst]
    box(f"**{heading}**\n\n{lines}", icon=STATUS_ICONS[worst])


try:
    as_of = cache.data_as_of(data_dir)
    stamp = ops.stamps(data_dir)
    table = ops.registry_table(data_dir, stamp)
    entry = registry.production("churn", data_dir)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

if as_of is None:
    st.info(
        f"No customer data yet in `{data_dir}`. Load data on the Data page (admins) or run "
        "`.venv/bin/python -m engine demo`.",
        icon=":material/database:",
    )
    st.stop()
dates_warning = health.out_of_range_warning(cache.warehouse(data_dir))
if dates_warning:
    st.warning(dates_warning, icon=":material/event_busy:")

drift = realised = kept = None
if entry is not None:
    try:
        kept = ops.kept_drift(data_dir, entry.version, stamp)
        if kept is None:  # scores written before drift was kept with them: measured once, then kept
            with st.spinner("Comparing populations (once; scoring keeps it from now on)…"):
                kept = ops.measure_drift(data_dir, entry.version)
        drift = kept.report
    except RadarError as exc:
        st.warning(f"Drift could not be measured: {exc}", icon=":material/warning:")
    realised = ops.realised(data_dir, stamp)

cards = [
    kpi.Kpi("Serving model", entry.version if entry else fmt.MISSING),
    kpi.Kpi(
        "Out-of-time AUC",
        f"{entry.metrics['auc']:.3f}" if entry and entry.metrics.get("auc") is not None else fmt.MISSING,
        help="Measured when it was trained, on later months than it learned from.",
    ),
    kpi.Kpi(
        "Features drifting",
        f"{drift.counts['act'] + drift.counts['watch']} of {len(drift.features)}" if drift else fmt.MISSING,
        f"{drift.counts['act']} need action" if drift else None,
        good="neutral",
        help="Inputs whose spread of values today differs from what the model learned on: "
        f"{drift.counts['act'] if drift else 0} need action, {drift.counts['watch'] if drift else 0} to watch. "
        f"Measured as the population stability index (PSI): above {monitoring.PSI_ACT} act, "
        f"{monitoring.PSI_WATCH}–{monitoring.PSI_ACT} watch.",
    ),
    kpi.Kpi(
        "Realised AUC",
        f"{headline['auc']:.3f}"
        if (headline := realised.headline if realised is not None else None) is not None and pd.notna(headline["auc"])
        else fmt.MISSING,
        help="Out-of-sample AUC: how well the predictions made on the newest scoring date after the model's last "
        "labelled snapshot ranked who churned, once its 90 days have passed. In-sample dates are never headlined.",
    ),
]
kpi.kpi_row(cards)
baseline_serves = quality.baseline_headline(data_dir)
if baseline_serves:
    st.warning(baseline_serves, icon=":material/rule:")
if realised is not None:
    st.caption(realised.headline_note)
glance(entry, table, drift, realised)

names = ["Registry", "Quality", "Drift", "Realised vs predicted"] + (["Retrain"] if is_admin else [])
tabs = dict(zip(names, st.tabs(names), strict=True))

# The out-of-time metrics, shown alike in the registry and the model-vs-baselines tables.
METRIC_COLUMNS = {
    "auc": st.column_config.NumberColumn("AUC", format="%.3f"),
    "pr_auc": st.column_config.NumberColumn("PR-AUC", format="%.3f"),
    "brier": st.column_config.NumberColumn("Brier", format="%.4f"),
}

# -- registry -------------------------------------------------------------------------------------
with tabs["Registry"]:
    st.caption(
        "Every churn model version, newest first. Hash: the artifact on disk still matches its registry row. "
        "The judged months fall inside the trained ones on purpose: each judged month is scored by a model fitted "
        "only on the months before it (rolling origin), and the version that serves is then refit on every closed "
        "month, so it learns from the latest outcomes too."
    )
    st.dataframe(
        table.drop(columns=["hash_ok"]),
        hide_index=True,
        column_config={
            "version": "Version",
            "stage": "Stage",
            **METRIC_COLUMNS,
            "top_decile_lift": st.column_config.NumberColumn("Top-decile lift", format="%.2f"),
            "train_from": "Trained from",
            "train_to": "Trained to",
            "valid_from": st.column_config.TextColumn(
                "Judged from", help="First out-of-time month: scored by a model that had not seen it"
            ),
            "valid_to": "Judged to",
            "features": "Features",
            "created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
            "promoted_at": st.column_config.DatetimeColumn("Promoted", format="YYYY-MM-DD HH:mm"),
            "hash_status": "Hash",
        },
    )
    st.download_button(
        "Versions as CSV", exports.csv_text(table), "model_versions.csv", "text/csv", icon=":material/download:"
    )
    comparison = ops.baseline_comparison(data_dir, stamp)
    if not comparison.empty:
        st.markdown("#### Churn model vs baselines")
        st.caption(
            "Each training run also fits a tenure and a tenure + usage logistic regression on the same rows and "
            "judges them on the same out-of-time months; the churn model serves only when it beats the best of "
            f"them (AUC within {baselines.BASELINE_TOLERANCE} counts), otherwise that baseline serves."
        )
        st.dataframe(
            ops.baseline_table(comparison),
            hide_index=True,
            column_config={
                "version": "Training run",
                "contender": "Model",
                **METRIC_COLUMNS,
                "serves": "Chosen",
            },
        )
    versions = table["version"].tolist()
    if is_admin and versions:
        left, right = st.columns(2)
        with left.form("promote_form"):
            st.markdown("**Promote a version**")
            others = [v for v in versions if v != (entry.version if entry else None)]
            choice = st.selectbox("Version", others, key="promote_version", disabled=not others)
            if not others:
                st.caption(f"Nothing else to promote: {versions[0]} is the only version.")
            if st.form_submit_button("Promote", icon=":material/publish:", disabled=not others):
                try:
                    promoted = retrain.promote(choice, viewer, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    done(f"{promoted.version} is now production. Refresh scores on the Data page to use it.")
        with right.form("rollback_form"):
            st.markdown("**Roll back**")
            target = retrain.rollback_target(data_dir)
            if target is not None:
                st.caption(f"Return to {target.version}, the version that served before {entry.version}.")
            elif entry is None:
                st.caption("Nothing to roll back: no version is in production.")
            else:
                st.caption(
                    f"Nothing to roll back to: {entry.version} is the first version that served. "
                    "Roll back becomes possible once another version has been promoted after it."
                )
            if st.form_submit_button("Roll back", icon=":material/undo:", disabled=target is None):
                try:
                    back = retrain.rollback(viewer, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    done(f"Rolled back: {back.version} is production again. Refresh scores on the Data page.")
    elif versions:
        st.caption("Only admins can promote or roll back versions.")
    if len(versions) >= 2:
        st.markdown("#### Compare two versions")
        left, right = st.columns(2)
        a = left.selectbox("Version A", versions, index=1, key="diff_a")
        b = right.selectbox("Version B", versions, index=0, key="diff_b")
        diff = quality.diff_versions(a, b, data_dir)
        for title, frame in (("Metrics", diff.metrics), ("Parameters", diff.params), ("Data window", diff.data_window)):
            st.markdown(f"**{title}**")
            st.dataframe(ops.version_diff_table(frame, a, b), hide_index=True)
        st.caption(
            f"Features: {diff.features_common} in both; added in {b}: {explain.in_words(diff.features_added)}; "
            f"removed: {explain.in_words(diff.features_removed)}.",
            help=f"Added: {', '.join(diff.features_added) or 'none'}. Removed: {', '.join(diff.features_removed) or 'none'}.",
        )

# -- quality ----------------------------------------------------------------------------------------
with tabs["Quality"]:
    if table.empty:
        st.info("No model yet.", icon=":material/model_training:")
    else:
        default = versions.index(entry.version) if entry is not None and entry.version in versions else 0
        version = st.selectbox("Version", versions, index=default, key="quality_version")
        try:
            kept_quality = ops.version_quality(data_dir, version, stamp)
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            q = kept_quality.report
            st.caption(
                f"{version} on its out-of-time months {fmt.day(q.valid_from)} – {fmt.day(q.valid_to)}: "
                f"{fmt.count(q.rows)} customer-months, {fmt.percent(q.churn_rate)} churned within 90 days. "
                f"{kept_quality.note}"
            )
            left, right = st.columns(2)
            with left.container(border=True):
                st.markdown("#### ROC curve")
                st.plotly_chart(ops_charts.roc_curve(q.roc, q.metrics.get("auc")), config=NO_BAR)
            with right.container(border=True):
                st.markdown("#### Precision and recall")
                st.plotly_chart(
                    ops_charts.precision_recall(q.precision_recall, q.churn_rate, q.metrics.get("pr_auc")),
                    config=NO_BAR,
                )
            left, right = st.columns(2)
            with left.container(border=True):
                st.markdown("#### Calibration")
                st.caption("Points on the diagonal: a 20% prediction churns 20% of the time.")
                st.plotly_chart(ops_charts.calibration(q.calibration), config=NO_BAR)
            with right.container(border=True):
                st.markdown("#### Lift by risk tenth")
                st.plotly_chart(ops_charts.lift(q.lift), config=NO_BAR)
            with st.container(border=True):
                st.markdown("#### What drives the model")
                st.caption(
                    "Each dot is a customer-month; right of zero raises churn risk. Colour: the feature's value.",
                    help="The push is the feature's SHAP value, in log-odds of churning: +0.7 roughly doubles "
                    "the odds, −0.7 halves them.",
                )
                st.plotly_chart(ops_charts.beeswarm(q.beeswarm), config=NO_BAR)
            st.download_button(
                "Importance as CSV",
                exports.csv_text(q.importance),
                f"importance_{version}.csv",
                "text/csv",
                icon=":material/download:",
            )

# -- drift -------------------------------------------------------------------------------------------
with tabs["Drift"]:
    if drift is None:
        st.info("Drift is measured against the production model's training data; there is none yet.")
    else:
        st.caption(
            f"Customers active at the latest month ends of {drift.model_version}'s "
            f"training ({fmt.day(drift.reference_from or drift.reference_as_of)} to {fmt.day(drift.reference_as_of)}, "
            f"{fmt.count(drift.reference_rows)} rows) against {fmt.day(drift.current_as_of)} "
            f"({fmt.count(drift.current_rows)}). *Shift* measures how far each input's spread of values moved: "
            f"below {monitoring.PSI_WATCH} stable, {monitoring.PSI_WATCH}–{monitoring.PSI_ACT} watch, above "
            f"{monitoring.PSI_ACT} act; a change of {monitoring.MISSING_WATCH:.0%} / {monitoring.MISSING_ACT:.0%} "
            "in the share missing is watch / act. Tenure is watched at most: it rises as the book ages, and the "
            "next retrain learns the older accounts.",
            help="The shift is the population stability index (PSI); the test column is a KS test for numbers "
            "and a chi-square test for categories.",
        )
        if kept is not None:
            drift_note(kept)
        counts = drift.counts
        score = drift.score
        kpi.kpi_row(
            [
                kpi.Kpi("Act", str(counts["act"])),
                kpi.Kpi("Watch", str(counts["watch"])),
                kpi.Kpi("Stable", str(counts["stable"])),
                kpi.Kpi(
                    "Score shift",
                    f"{score.psi:.2f}" if score else fmt.MISSING,
                    score.status if score else None,
                    good="neutral",
                    help="How far the spread of predicted churn moved between the model's last test month and "
                    "now (population stability index, PSI).",
                ),
            ]
        )
        left, right = st.columns([1.2, 1])
        with left.container(border=True):
            st.markdown("#### Worst features")
            st.plotly_chart(ops_charts.drift_bars(drift.features), config=NO_BAR)
        with right.container(border=True):
            st.markdown("#### Distribution then and now")
            labels = dict(zip(drift.features["label"], drift.features["feature"], strict=True))
            picked = st.selectbox("Feature", list(labels), key="drift_feature")
            st.plotly_chart(
                ops_charts.distribution(
                    drift.bins[drift.bins["feature"] == labels[picked]],
                    f"Training (to {drift.reference_as_of})",
                    f"Now ({drift.current_as_of})",
                ),
                config=NO_BAR,
            )
            if score is not None:
                st.markdown("#### Predicted churn then and now")
                st.plotly_chart(
                    ops_charts.distribution(score.bins, f"Out-of-time ({score.reference_as_of})", "Now"),
                    config=NO_BAR,
                )
        # Medians as text: a category (GTM stage) has none, shown as a dash rather than "None".
        medians = {c: drift.features[c].map(_median_text) for c in ("reference_median", "current_median")}
        st.dataframe(
            drift.features.assign(**medians),
            hide_index=True,
            column_order=[
                "label",
                "status",
                "psi",
                "test",
                "statistic",
                "p_value",
                "reference_median",
                "current_median",
                "reference_missing",
                "current_missing",
            ],
            column_config={
                "label": st.column_config.TextColumn("Feature", width="medium"),
                "status": "Status",
                "test": "Test",
                "reference_median": st.column_config.TextColumn("Median then"),
                "current_median": st.column_config.TextColumn("Median now"),
                "psi": st.column_config.NumberColumn(
                    "Shift",
                    format="%.3f",
                    help=f"Population stability index (PSI): above {monitoring.PSI_ACT} act, "
                    f"{monitoring.PSI_WATCH}–{monitoring.PSI_ACT} watch",
                ),
                "statistic": st.column_config.NumberColumn("Statistic", format="%.3f"),
                "p_value": st.column_config.NumberColumn("p-value", format="%.2g"),
                "reference_missing": st.column_config.NumberColumn("Missing then", format="percent"),
                "current_missing": st.column_config.NumberColumn("Missing now", format="percent"),
            },
        )
        st.download_button(
            "Drift as CSV", exports.csv_text(drift.features), "drift.csv", "text/csv", icon=":material/download:"
        )

# -- realised vs predicted ------------------------------------------------------------------------------
with tabs["Realised vs predicted"]:
    if realised is None or realised.by_date.empty:
        st.info(
            "No scoring date is 90 days old yet, so no prediction can be checked. "
            "`.venv/bin/python -m engine demo` back-scores past month ends.",
            icon=":material/hourglass_top:",
        )
    else:
        by_date = realised.by_date
        st.caption(
            "For each scoring date whose 90-day window has closed: what was predicted then against what happened. "
            "Hollow markers: the model had already seen those outcomes when it was trained, so they flatter it.",
            help="Hollow markers are *in-sample* dates (seen in training or calibration); filled ones are a fair test.",
        )
        left, right = st.columns(2)
        with left.container(border=True):
            st.markdown("#### Accuracy over time")
            st.plotly_chart(ops_charts.realised_over_time(by_date), config=NO_BAR)
        with right.container(border=True):
            st.markdown("#### Predicted vs realised churn rate")
            st.plotly_chart(charts.predicted_vs_realised(by_date), config=NO_BAR)
        dates = [pd.Timestamp(d).date() for d in by_date["as_of"]]
        picked = st.selectbox(
            "Calibration of the predictions made on", dates, index=len(dates) - 1, format_func=fmt.day, key="cal_date"
        )
        cal = realised.calibration[pd.to_datetime(realised.calibration["as_of"]).dt.date == picked]
        with st.container(border=True):
            st.plotly_chart(ops_charts.calibration(cal), config=NO_BAR)
        st.dataframe(
            by_date.assign(as_of=pd.to_datetime(by_date["as_of"]).dt.date),
            hide_index=True,
            column_config={
                "as_of": st.column_config.DateColumn("Scored on", format="MMM D, YYYY"),
                "model_version": "Model",
                "customers": st.column_config.NumberColumn("Accounts", format="localized"),
                "expected_churned": st.column_config.NumberColumn("Expected churns", format="%.1f"),
                "churned": st.column_config.NumberColumn("Churned", format="localized"),
                "predicted_rate": st.column_config.NumberColumn("Predicted", format="percent"),
                "realised_rate": st.column_config.NumberColumn("Realised", format="percent"),
                "auc": st.column_config.NumberColumn("AUC", format="%.3f"),
                "pr_auc": st.column_config.NumberColumn("PR-AUC", format="%.3f"),
                "brier": st.column_config.NumberColumn("Brier", format="%.4f"),
                "in_sample": st.column_config.CheckboxColumn(
                    "Seen in training", help="The model had learned this date's outcomes: a flattering test"
                ),
            },
        )
        st.download_button(
            "Realised vs predicted as CSV",
            exports.csv_text(by_date),
            "realised_vs_predicted.csv",
            "text/csv",
            icon=":material/download:",
        )
    for row in realised.pending.itertuples() if realised is not None else ():
        st.caption(f"Scores of {fmt.day(pd.Timestamp(row.as_of).date())} can be judged from {fmt.day(row.known_on)}.")

# -- retrain (admins) -------------------------------------------------------------------------------------
if is_admin:
    with tabs["Retrain"]:
        st.caption(
            "Trains a candidate on the warehouse in the background (other users keep working), judges it and "
            f"production on the same out-of-time months, and promotes it only if its AUC is at most "
            f"{training.PROMOTION_MARGIN} below production's; otherwise it stays a candidate with the reason. "
            "A promoted model then re-scores every active customer. If anything fails, production keeps serving."
        )
        force = st.checkbox(
            "Retrain even if the data has not changed",
            key="retrain_force",
            help="Without this, a retrain on the same data as production says so and trains nothing.",
        )
        tune_col, _ = st.columns([1, 2])
        trials = tune_col.number_input(
            "Tune the settings first: trials (0 = keep them)",
            min_value=0,
            max_value=50,
            value=0,
            step=5,
            key="retrain_tune",
            help="Each trial fits one model per out-of-time month with settings Optuna proposes; the first trial is "
            "the current settings, so tuning keeps them unless another does better. 20 trials take a few minutes.",
        )
        if st.button("Retrain now", icon=":material/model_training:", type="primary", key="retrain_start"):
            tuning = {"tune": int(trials)} if trials else {}
            try:
                st.session_state[JOB] = retrain.start_retrain(data_dir, viewer, force=force, **tuning)
            except RadarError as exc:
                st.error(str(exc), icon=":material/error:")

        latest = retrain.latest_job(data_dir)
        polling = latest is not None and not latest.done

        # Polls only while a job runs; the page's other tabs are not re-run by it.
        @st.fragment(run_every=2 if polling else None)
        def job_panel() -> None:
            job = retrain.latest_job(data_dir)
            if job is None:
                st.caption("No retrain has run since the app started.")
                return
            label = f"Retrain started by {job.started_by} at {job.started_at:%H:%M:%S} UTC"
            state = {"queued": "running", "running": "running", "succeeded": "complete", "failed": "error"}[job.state]
            with st.status(label, state=state, expanded=not job.done):
                st.progress(job.fraction, text=job.messages[-1] if job.messages else "starting")
                for message in job.messages[-12:]:
                    st.caption(message)
            if job.state == "succeeded" and job.result is not None:
                result = job.result
                if job.unchanged:
                    st.info(result.reason, icon=":material/do_not_disturb_on:")
                else:
                    (st.success if result.promoted else st.warning)(result.reason, icon=":material/info:")
                if st.session_state.get(JOB) == job.job_id:
                    st.session_state.pop(JOB)
                    ops.after_change()
                    st.rerun(scope="app")
            elif job.state == "failed":
                st.error(
                    f"The retrain failed: {job.error} Production ({job.production_before or 'none'}) is still serving.",
                    icon=":material/error:",
                )

        job_panel()
