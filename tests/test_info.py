"""`python -m engine info` (issue 12, item 12): customers scored at the latest scoring date, and
the production model named, with the model that wrote those scores when it differs."""

from __future__ import annotations

import json

from engine import cli
from engine.churn import registry, training
from engine.data import warehouse
from tests.conftest import DEMO_END


def _info(data, capsys, *extra: str) -> str:
    assert cli.main(["--data-dir", str(data), "info", *extra]) == 0
    return capsys.readouterr().out


def _scored_at_latest(data) -> tuple[int, int]:
    wh = warehouse.get_warehouse(data, read_only=True)
    latest = wh.scalar("SELECT count(DISTINCT customer_id) FROM predictions WHERE as_of = ?", [DEMO_END])
    every = wh.scalar("SELECT count(DISTINCT customer_id) FROM predictions")
    warehouse.close_all()
    return latest, every


def test_info_counts_the_latest_scoring_date_and_names_the_production_model(scored_copy, capsys):
    latest, every = _scored_at_latest(scored_copy)
    assert every > latest  # back-scored month ends hold customers who have churned since
    first = registry.production("churn", scored_copy).version
    out = _info(scored_copy, capsys)
    assert f"Model: production model {first}; {latest:,} customers scored as of {DEMO_END} by {first}\n" in out

    # Retrain and promote: production is the new version, the scores are still the old one's.
    wh = warehouse.get_warehouse(scored_copy)
    second = training.train(wh, data_dir=scored_copy, promote="always").version
    warehouse.close_all()
    assert registry.production("churn", scored_copy).version == second != first
    out = _info(scored_copy, capsys)
    assert f"production model {second}; {latest:,} customers scored as of {DEMO_END} by {first}." in out
    assert f"Those scores are not from {second}: run `.venv/bin/python -m engine score`" in out
    status = json.loads(_info(scored_copy, capsys, "--json"))
    assert status["scores"] == {
        "as_of": str(DEMO_END),
        "customers": latest,
        "by_model": {first: latest},
        "production": second,
        "production_note": None,  # set when a baseline serves instead of the churn model
    }

    # Scoring again with the new production model: the same customers, now by it alone.
    assert cli.main(["--data-dir", str(scored_copy), "score"]) == 0
    capsys.readouterr()
    out = _info(scored_copy, capsys)
    assert f"Model: production model {second}; {latest:,} customers scored as of {DEMO_END} by {second}\n" in out
    assert "not from" not in out


def test_info_on_an_unscored_warehouse(data_dir_copy, capsys):
    out = _info(data_dir_copy, capsys)
    assert "Model: no production model; no scores yet" in out


def test_info_json_is_the_install_status_contract(scored_copy, capsys):
    """`info --json` prints InstallStatus, and that JSON reads back as the same model."""
    from engine.churn.status import InstallStatus
    from engine.core.contracts import from_json, to_json

    assert cli.main(["--data-dir", str(scored_copy), "info", "--json"]) == 0
    printed = capsys.readouterr().out
    status = from_json(InstallStatus, printed)
    assert to_json(status) == printed.strip()
    assert status.scores.customers > 0 and status.model == status.scores.text
