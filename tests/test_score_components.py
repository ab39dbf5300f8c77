"""The risk score's components are stored with each score, and Customer 360 shows those."""

from __future__ import annotations

import pytest

from engine.accounts import customer
from engine.churn import features as feats
from engine.churn import risk
from engine.core.access import Viewer
from engine.data import warehouse

EXEC = Viewer("exec", "executive")


def test_scores_keep_their_components_and_customer_360_shows_them(scored_copy, monkeypatch):
    wh = warehouse.get_warehouse(scored_copy)
    stored = wh.df(
        "SELECT customer_id, risk_score, usage_decay_score, compliance_gap_score, vendor_risk_flags "
        "FROM predictions JOIN customers USING (customer_id) WHERE as_of = (SELECT max(as_of) FROM predictions) "
        # Usage decay of an account younger than two months is not measured (None, tested in test_churn_contracts).
        f"AND date_diff('day', signup_date, as_of) >= {risk.DECAY_DAYS} ORDER BY risk_score DESC LIMIT 5"
    )
    assert len(stored) == 5 and stored[list(risk.COMPONENTS)].notna().all().all()
    # The parts add up to the stored score by the one formula.
    assert risk.risk_components(stored)["risk_score"].tolist() == pytest.approx(stored["risk_score"].tolist(), abs=1e-4)

    def no_recompute(*_args, **_kwargs):
        raise AssertionError("Customer 360 recomputed features although the score keeps its components")

    monkeypatch.setattr(feats, "features_as_of", no_recompute)
    for row in stored.itertuples():
        c360 = customer.customer_360(wh, EXEC, row.customer_id)
        assert c360.components is not None
        assert c360.components.model_dump() == pytest.approx({k: getattr(row, k) for k in risk.COMPONENTS})


def test_scores_written_before_components_were_kept_still_show_them(scored_copy):
    wh = warehouse.get_warehouse(scored_copy)
    customer_id = wh.scalar(
        "SELECT customer_id FROM predictions WHERE as_of = (SELECT max(as_of) FROM predictions) "
        "ORDER BY risk_score DESC LIMIT 1"
    )
    with wh.transaction() as cur:
        cur.execute(
            "UPDATE predictions SET usage_decay_score = NULL, compliance_gap_score = NULL, vendor_risk_flags = NULL"
        )
    c360 = customer.customer_360(wh, EXEC, customer_id)
    assert c360.components is not None and set(c360.components.model_dump()) == set(risk.COMPONENTS)


def test_scoring_builds_no_event_type_that_nothing_reads():
    """Screened-out fixed columns are still built (the action reads them); an event type the
    model screened out is not (each costs a pass over the usage log), unless the serving
    model reads it, as the tenure + usage baseline does."""
    from types import SimpleNamespace

    from engine.churn import features as feats
    from engine.churn import scoring

    login, sync = feats.EventTypeFeatures("login", "login"), feats.EventTypeFeatures("sync", "sync")
    screened = feats.FeatureSet(event_types=(login, sync)).without(
        ["mrr", "region", *login.names, *sync.names, "evt_login_count_7d"]
    )
    model = SimpleNamespace(feature_set_=screened, features=list(screened.names))
    built = scoring.scoring_features(model).names
    assert {"mrr", "region"} <= set(built)
    assert not [n for n in built if n.startswith("evt_")]
    baseline = SimpleNamespace(feature_set_=screened, features=["tenure_days", "evt_sync_count_90d"])
    assert [n for n in scoring.scoring_features(baseline).names if n.startswith("evt_")] == ["evt_sync_count_90d"]
    assert scoring.scoring_features(SimpleNamespace()) is None


def test_a_scoring_run_keeps_the_tree_parts_and_the_next_reads_them(scored_copy, monkeypatch):
    """Building each tree's splits and leaf tables from LightGBM's dump is seconds on a big
    model: the first large run keeps them beside the artifact, the next reads them, and the
    scores are the same either way."""
    from engine.churn import registry, scoring, treeshap

    monkeypatch.setattr(treeshap, "MIN_ROWS", 1)  # the book of 800 explains by grouped paths too
    version = registry.production("churn", scored_copy)
    kept = registry.artifact(version, scored_copy).parent / scoring.TREE_PARTS_FILE
    kept.unlink(missing_ok=True)
    wh = warehouse.get_warehouse(scored_copy)
    latest = (
        "SELECT customer_id, churn_probability, ci_low, ci_high, drivers FROM predictions "
        "WHERE as_of = (SELECT max(as_of) FROM predictions) ORDER BY customer_id"
    )

    scoring.score(wh, data_dir=scored_copy, monitor=False)
    assert kept.exists()
    first = wh.df(latest)
    loaded = []
    real_load = treeshap.load_kept_parts
    monkeypatch.setattr(treeshap, "load_kept_parts", lambda *a: loaded.append(real_load(*a)) or loaded[-1])
    monkeypatch.setattr(treeshap, "_splits", lambda *_a: pytest.fail("parts were built again, not read"))
    scoring.score(wh, data_dir=scored_copy, monitor=False)
    assert loaded == [True]
    second = wh.df(latest)
    assert second["drivers"].tolist() == first["drivers"].tolist()
    assert second[["churn_probability", "ci_low", "ci_high"]].to_numpy() == pytest.approx(
        first[["churn_probability", "ci_low", "ci_high"]].to_numpy(), abs=1e-12
    )
