"""The forecast benchmark's public series (bench/forecast_accuracy.py) load from the installed
packages, as the issue asks: at least 30 monthly, quarterly or weekly series from statsmodels,
pmdarima and sktime, each long enough for its five rolling origins."""

from __future__ import annotations

import pandas as pd

from bench.forecast_accuracy import PLANS, collection, split


def test_every_source_gives_regular_series_long_enough_for_the_origins():
    series = collection()
    sources = {name.split("_")[0] for name in series}
    assert {"pmdarima", "sktime"} <= sources  # the dev install brings both
    assert len(series) >= 30
    for name, (label, values) in series.items():
        assert label in PLANS, name
        assert values.notna().all() and pd.api.types.is_float_dtype(values), name
        assert values.index.is_monotonic_increasing and values.index.inferred_freq is not None, name
        window, actual = split(label, values, origin=4)
        assert len(actual) == PLANS[label][1] and len(window) >= 2 * PLANS[label][0], name


def test_sktime_series_are_its_files_read_as_published():
    series = collection()
    ksi = series["sktime_seatbelts_KSI"][1]
    assert (ksi.index[0], len(ksi), ksi.iloc[0]) == (pd.Timestamp("1969-01-01"), 192, 1687.0)
    savings = series["sktime_uschange_Savings"][1]
    assert savings.index[0] == pd.Timestamp("1970-01-01") and len(savings) == 187
