"""The 90% interval claims "how sure the model is about this estimate": it should hold the
probability the customer's recorded facts imply about 9 times in 10. Tested where that
probability is known (tests/known_truth.py): real feature rows (statsmodels' Fair affairs
survey and the generated warehouse's monthly snapshots) get a true churn probability that is
a function of their observed columns, labels are drawn from it for 9,000 rows drawn from the
table, the churn model is trained on them as usual, and we count how often its interval holds
the known probability on rows it never saw."""

from __future__ import annotations

import numpy as np
import pytest

from engine.churn import spread
from engine.churn.model import ChurnModel
from tests.known_truth import ROWS, coverage, fair_table, known_truth, snapshot_table

REPEATS = 2


@pytest.fixture(scope="module")
def coverages(generated_dir) -> dict[str, list[tuple[float, float, ChurnModel]]]:
    out = {}
    for name, (X, y) in {"fair": fair_table(), "snapshots": snapshot_table(generated_dir)}.items():
        truth = known_truth(X, y)
        out[name] = [coverage(X, truth, seed) for seed in range(REPEATS)]
    return out


def test_the_tables_are_real_rows_of_realistic_size(generated_dir):
    assert len(fair_table()[1]) > 6000 and len(snapshot_table(generated_dir)[1]) > 4000
    assert int(ROWS * 0.6) >= 5000


def test_the_interval_holds_a_known_probability_about_nine_times_in_ten(coverages):
    print({name: [(round(c, 3), round(u, 3)) for c, u, _m in runs] for name, runs in coverages.items()})
    served = [c for runs in coverages.values() for c, _u, _m in runs]
    unwidened = [u for runs in coverages.values() for _c, u, _m in runs]
    # The ensemble's spread alone misses the error its members share (0.36-0.79 here); the
    # self-simulated widening brings it to the claim: 0.867 on average over 128 runs (0.61-0.98,
    # bench/interval_coverage.py), with a member boosted twice as long as each simulation's
    # truth (0.835 with a member like the model's, 0.79 with the ensemble mean) and the number
    # of rounds chosen afresh in each simulation.
    assert 0.78 <= np.mean(served) <= 0.96, served
    assert np.mean(served) > np.mean(unwidened) + 0.05, (served, unwidened)
    assert min(served) >= 0.6, served


def test_training_records_the_self_simulated_check(coverages):
    for runs in coverages.values():
        for _c, _u, model in runs:
            check = model.spread_check_
            assert 1.0 <= check["interval_spread_factor"] <= 5.0
            assert 0.75 <= check["interval_coverage_self_simulated"] <= 0.97
            assert check["interval_self_simulations"] == spread.SIMULATIONS


def test_the_interval_says_what_it_is_in_the_api_and_the_cli(scored_dir, capsys):
    from engine import cli
    from engine.api.models import PredictionRow
    from engine.churn.spread import MEANING

    assert "how sure the model is" in MEANING and "not a range of outcomes" in MEANING
    assert MEANING in PredictionRow.model_json_schema()["properties"]["ci_low"]["description"]
    assert cli.main(["--data-dir", str(scored_dir), "evaluate"]) == 0
    out = capsys.readouterr().out
    assert "90% interval: how sure the model is about this estimate" in out
    assert "covers a known probability (self-simulation at training)" in out
