"""Baselines trained alongside the churn model, the gate against them, a baseline serving,
and risk tiers at any base rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.churn import baselines, quality, registry, risk, scoring, status, training
from engine.core.errors import BadInputError
from engine.data import warehouse


@dataclass(frozen=True)
class _Fold:
    train_dates: tuple[date, ...]
    valid_date: date


def _snapshots(months: list[date], customers: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Snapshots where churn falls with tenure and usage (and nothing else matters)."""
    rng = np.random.default_rng(seed)
    parts = []
    for as_of in months:
        tenure = rng.integers(30, 1500, customers).astype(float)
        events = rng.poisson(40, customers).astype(float)
        logit = 1.0 - 0.6 * np.log1p(tenure) - 0.08 * (events - 40)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"c{k}" for k in range(customers)],
                    "as_of": pd.Timestamp(as_of),
                    "tenure_days": tenure,
                    "events_last_30d": events,
                    "usage_trend": rng.normal(0, 0.3, customers),
                    "mrr": np.where(rng.random(customers) < 0.1, np.nan, rng.uniform(100, 5000, customers)),
                    "churned": (rng.random(customers) < 1 / (1 + np.exp(-logit))).astype(int),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


MONTHS = [date(2025, m, 28) for m in range(1, 11)]


def test_a_baseline_predicts_an_interval_and_explains_itself_in_log_odds(tmp_path):
    snaps = _snapshots(MONTHS[:4])
    model = baselines.BaselineModel("tenure_usage").fit(snaps, snaps["churned"], snaps["customer_id"])
    assert model.features == ["tenure_days", "events_last_30d", "usage_trend", "mrr"]
    pred = model.predict(snaps)
    assert np.all(pred.ci_low <= pred.churn_probability) and np.all(pred.churn_probability <= pred.ci_high)
    assert np.median(pred.ci_high - pred.ci_low) > 0  # the bootstrap refits disagree a little
    contributions = model.contributions(snaps)
    logit = np.log(pred.churn_probability / (1 - pred.churn_probability))
    np.testing.assert_allclose(contributions.sum(axis=1), logit, atol=1e-9)
    # Longer tenure and more usage lower the risk, as the data was made.
    coefficients = model.coefficients()
    assert coefficients["tenure_days"] < 0 and coefficients["events_last_30d"] < 0
    # Missing MRR is handled (training median plus an indicator), not refused.
    assert not np.isnan(pred.churn_probability).any()
    model.save(tmp_path / "b.pkl")
    again = baselines.BaselineModel.load(tmp_path / "b.pkl")
    np.testing.assert_allclose(again.predict(snaps).churn_probability, pred.churn_probability)


def test_baselines_are_judged_on_exactly_the_models_rows_and_learn_only_from_each_folds_past():
    snaps = _snapshots(MONTHS)
    folds = [_Fold(tuple(MONTHS[: i - 3]), MONTHS[i]) for i in (7, 8, 9)]
    rows = snaps[snaps["as_of"].isin([pd.Timestamp(f.valid_date) for f in folds])][["customer_id", "as_of", "churned"]]
    rows = rows.assign(fold=rows["as_of"]).sample(frac=1.0, random_state=1)  # any order is kept
    probabilities, judged = baselines.compare(snaps, folds, rows, training.evaluate)
    assert list(probabilities.index) == list(rows.index) and not probabilities.isna().any().any()
    for name in baselines.NAMES:
        assert judged[name]["rows"] == len(rows)
    assert judged["tenure_usage"]["auc"] > judged["tenure"]["auc"] > 0.5  # usage adds what the data holds
    # Time safety: rewriting the labels of the judged months changes no fold's predictions.
    leaked = snaps.copy()
    leaked.loc[leaked["as_of"] >= pd.Timestamp(MONTHS[7]), "churned"] = 1
    again = baselines.out_of_time(leaked, folds, rows)
    pd.testing.assert_frame_equal(again, probabilities)


def test_the_best_baseline_and_the_tolerance():
    judged = {"tenure": {"auc": 0.69}, "tenure_usage": {"auc": 0.65}}
    assert baselines.best(judged) == "tenure"
    assert not baselines.model_beats(0.64, 0.69)
    assert baselines.model_beats(0.69 - baselines.BASELINE_TOLERANCE / 2, 0.69)
    message = baselines.lost_message("tenure_usage", 0.64, 0.69)
    assert message == (
        "The churn model did not beat a tenure + usage baseline out of time (AUC 0.640 vs 0.690), "
        "so the baseline serves."
    )


def test_relative_tiers_fire_at_a_low_base_rate(monkeypatch):
    monkeypatch.delenv("RADAR_RISK_TIERS", raising=False)
    scores = np.linspace(0.001, 0.285, 200)
    cuts = risk.tier_cuts(0.038)
    assert cuts.mode == "relative"
    np.testing.assert_allclose(cuts.cuts, (0.057, 0.114, 0.228))
    tiers = risk.risk_tier(scores, cuts)
    assert set(tiers) == {"low", "medium", "high", "critical"}
    assert "5.7%" in cuts.legend and "3.8% base rate" in cuts.legend
    # The seed's absolute thresholds call every one of these accounts low or medium, never critical.
    monkeypatch.setenv("RADAR_RISK_TIERS", "absolute")
    absolute = risk.tier_cuts(0.038)
    assert absolute.cuts == (0.10, 0.25, 0.50) and "critical" not in set(risk.risk_tier(scores, absolute))
    assert absolute.legend == risk.TIER_LEGEND
    monkeypatch.setenv("RADAR_RISK_TIER_CUTS", "0.05,0.10,0.20")
    assert risk.tier_cuts(0.038).cuts == (0.05, 0.10, 0.20)


def test_relative_tiers_stay_ordered_at_a_high_base_rate_and_settings_are_checked(monkeypatch):
    monkeypatch.delenv("RADAR_RISK_TIERS", raising=False)
    cuts = risk.tier_cuts(0.4).cuts
    assert cuts[0] < cuts[1] < cuts[2] <= risk.HIGHEST_CUT
    assert risk.tier_cuts(None).mode == "absolute"  # a model without a recorded base rate
    monkeypatch.setenv("RADAR_RISK_TIER_LIFTS", "3,2,6")
    with pytest.raises(BadInputError, match="RADAR_RISK_TIER_LIFTS"):
        risk.tier_cuts(0.1)
    monkeypatch.setenv("RADAR_RISK_TIERS", "percentile")
    with pytest.raises(BadInputError, match="relative or absolute"):
        risk.tier_cuts(0.1)


def test_a_model_that_does_not_beat_the_best_baseline_does_not_serve(data_dir_copy, monkeypatch):
    """The gate's baseline check is real: demand more than any model can give (a tolerance of
    -1 AUC) and the best baseline must be registered, promoted, score, explain and be named."""
    monkeypatch.setattr(baselines, "BASELINE_TOLERANCE", -1.0)
    wh = warehouse.get_warehouse(data_dir_copy)
    result = training.train(wh, data_dir=data_dir_copy)
    best = result.metrics["best_baseline"]
    assert result.serves == best and result.baseline_version
    assert result.metrics["baselines"][best]["rows"] == result.metrics["rows"]
    assert "did not beat" in result.reason and "so the baseline serves" in result.reason
    assert registry.get(result.version, data_dir_copy).stage == "candidate"
    production = registry.production("churn", data_dir_copy)
    assert production.version == result.baseline_version and registry.is_baseline(production)
    # It scores with an interval and drivers Customer 360 can show.
    report = scoring.score(wh, data_dir=data_dir_copy)
    assert report.model_version == production.version and report.customers > 0
    entry, model = registry.load_production("churn", data_dir_copy)
    cid = wh.scalar("SELECT customer_id FROM predictions WHERE model_version = ? LIMIT 1", [entry.version])
    one = scoring.explain_customer(wh, model, cid, model_version=entry.version)
    assert one.confidence_interval.lower <= one.churn_probability <= one.confidence_interval.upper
    assert one.top_shap_features and {d.feature for d in one.top_shap_features} <= set(model.features)
    # The app says so plainly: `info`, and the Model & data comparison.
    text = status.score_status(wh, data_dir_copy).text
    assert "did not beat" in text and production.version in text
    assert "did not beat" in (quality.baseline_headline(data_dir_copy) or "")
    table = quality.baseline_comparison(data_dir_copy)
    run = table[table["version"] == result.version]
    assert set(run["contender"]) == {"model", *baselines.NAMES}
    assert run.loc[run["serves"], "contender"].tolist() == [best]
    # Its tiers use the base rate it was trained on.
    assert status.tiers_in_use(data_dir_copy).base_rate == pytest.approx(registry.base_rate(production))


def test_the_train_command_line_names_each_baseline_and_the_verdict():
    won = {"auc": 0.73, "baselines": {"tenure": {"auc": 0.61}, "tenure_usage": {"auc": 0.64}}}
    line = baselines.comparison({**won, "best_baseline": "tenure_usage", "beats_baselines": True})
    assert line == (
        "Baselines on the same out-of-time rows (AUC): tenure 0.610, tenure + usage 0.640. "
        "The churn model's 0.730 beats the best (0.640) by +0.090."
    )
    lost = baselines.comparison({**won, "auc": 0.60, "best_baseline": "tenure_usage", "beats_baselines": False})
    assert lost is not None and lost.endswith("The churn model's 0.600 does not beat the best (0.640).")
    assert baselines.comparison({"auc": 0.7}) is None  # a run from before baselines were recorded


def test_a_serving_baselines_inputs_are_built_even_when_the_models_screening_dropped_them():
    """A baseline serves with the data's feature set, whose screening may have dropped an event
    type the baseline reads (a ChurnSim CRM company: 'evt_create_list_count_90d'): scoring, the
    drift reference and quality all build the baseline's own inputs."""
    from types import SimpleNamespace

    from engine.churn import features as feats

    chosen = feats.FeatureSet(
        base=("tenure_days", "mrr"),
        dropped=frozenset({"evt_create_list_count_90d", "evt_create_list_count_7d", "attr_channel"}),
    )
    baseline = SimpleNamespace(feature_set_=chosen, features=["tenure_days", "evt_create_list_count_90d", "mrr"])
    built = feats.set_of(baseline)
    assert built.dropped == {"evt_create_list_count_7d", "attr_channel"}  # only what nothing reads stays out
    assert scoring.scoring_features(baseline).dropped == {"evt_create_list_count_7d", "attr_channel"}
    tree = SimpleNamespace(feature_set_=chosen, features=["tenure_days", "mrr"])
    assert feats.set_of(tree) is chosen
    assert feats.set_of(SimpleNamespace(features=["tenure_days"])) is None
