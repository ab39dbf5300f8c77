"""Caches for the Model & data and Data pages, keyed so a change shows at once.

Drift and a version's quality are measured when scores are written and kept in the app-state
store (`engine.churn.monitoring`); the page reads them, measuring once when none was kept.
Realised vs predicted depends on the scores, so it is keyed on the scores stamp; everything
on the registry stamp (versions and stages). Admin actions clear these caches.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from components.shared.cache import RESULT_TTL_SECONDS, snapshot_stamp, warehouse
from engine.churn import monitoring, quality, registry
from engine.core.access import SYSTEM
from engine.data.health import DataHealth, data_health

OPS_TTL_SECONDS = RESULT_TTL_SECONDS

# The Data page's two event-log choices (engine.data.ingest.events' --mode and --epoch).
EVENT_MODE_LABEL = "What the file holds"
TIMESTAMPS_LABEL = "Timestamps"
TIMESTAMP_CHOICES = {"text": "date-times or dates (ISO 8601)", "s": "Unix seconds", "ms": "Unix milliseconds"}
_PAGE_WORDS = [
    (re.compile(r"--epoch s\|ms"), f'"Unix seconds" or "Unix milliseconds" under {TIMESTAMPS_LABEL}'),
    (
        re.compile(r"--epoch s \(seconds since 1970-01-01\) or --epoch ms \(milliseconds\)"),
        f'"Unix seconds" or "Unix milliseconds" under {TIMESTAMPS_LABEL}',
    ),
    (re.compile(r"--epoch (s|ms)\b"), lambda m: f'"{TIMESTAMP_CHOICES[m[1]]}" under {TIMESTAMPS_LABEL}'),
    (re.compile(r"without --epoch"), f'with "{TIMESTAMP_CHOICES["text"]}" under {TIMESTAMPS_LABEL}'),
    (re.compile(r"--mode (new-days|append|replace-days)\b"), rf'"\1" under {EVENT_MODE_LABEL}'),
]


def in_page_words(text: str) -> str:
    """An ingest message as the Data page says it: the command line's --epoch and --mode become
    the page's own choices ("load with --epoch ms" is no instruction in a browser)."""
    for pattern, words in _PAGE_WORDS:
        text = pattern.sub(words, text)
    return text


def registry_stamp(data_dir: str) -> str:
    """Changes whenever a version is added, promoted, archived or rolled back."""
    return "|".join(f"{v.version}:{v.stage}:{v.promoted_at}" for v in registry.versions(data_dir=data_dir))


def stamps(data_dir: str) -> str:
    return f"{registry_stamp(data_dir)}#{snapshot_stamp(data_dir)}"


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner=False)
def registry_table(data_dir: str, stamp: str) -> pd.DataFrame:
    return quality.registry_table(data_dir)


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner=False)
def baseline_comparison(data_dir: str, stamp: str) -> pd.DataFrame:
    return quality.baseline_comparison(data_dir)


CONTENDERS = {
    "model": "Churn model",
    "tenure": "Tenure baseline",
    "tenure_usage": "Tenure + usage baseline",
    "tenure_events": "Tenure + usage by event type baseline",
}


def baseline_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """The model-vs-baselines table as the page shows it: contenders named, the serving one marked."""
    shown = comparison.copy()
    shown["contender"] = shown["contender"].map(lambda name: CONTENDERS.get(name, name))
    # The run's pick serves only while its version is production: a candidate's pick "would serve".
    stage = shown["stage"].astype("object").where(shown["stage"].notna(), None)
    shown["serves"] = [
        ("serves" if s == "production" else "would serve" if s == "candidate" else "chosen") if picked else ""
        for picked, s in zip(shown["serves"], stage, strict=True)
    ]
    return shown.drop(columns=["stage"])


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner="Scoring the out-of-time months (once, then kept)…", max_entries=16)
def version_quality(data_dir: str, version: str, stamp: str) -> monitoring.KeptQuality:
    """The version's quality as scoring kept it; measured (and kept) here when it never was."""
    kept = monitoring.stored_quality(data_dir, version)
    if kept is not None:
        return kept
    return monitoring.measure_quality(warehouse(data_dir), data_dir, registry.get(version, data_dir))


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner=False, max_entries=16)
def kept_drift(data_dir: str, version: str, stamp: str) -> monitoring.KeptDrift | None:
    """Drift as the last scoring run measured it (None when none was kept)."""
    return monitoring.stored_drift(warehouse(data_dir), data_dir, version)


def measure_drift(data_dir: str, version: str) -> monitoring.KeptDrift:
    """Measure drift for the latest scores now and keep it (scores written before drift was kept,
    or an admin's recompute)."""
    result = monitoring.measure_drift(warehouse(data_dir), data_dir, registry.get(version, data_dir))
    kept_drift.clear()
    return result


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner=False)
def realised(data_dir: str, stamp: str) -> monitoring.RealisedReport:
    # Model & data is analyst/admin-only (checked by the page): model quality is portfolio-wide.
    return monitoring.realised_vs_predicted(warehouse(data_dir), data_dir, viewer=SYSTEM)


@st.cache_data(ttl=OPS_TTL_SECONDS, show_spinner=False)
def health(data_dir: str, stamp: str) -> DataHealth:
    return data_health(warehouse(data_dir))


def data_stamp(data_dir: str) -> str:
    """Changes with every published warehouse snapshot (a load, a rescore)."""
    return snapshot_stamp(data_dir)


def after_change() -> None:
    """Forget cached results after a load, a retrain, a promotion or a rescore: every page
    (risk board, overview, these) then reads the new state."""
    st.cache_data.clear()


# How the version comparison names its rows (anything else keeps its registry name, spaced).
DIFF_NAMES = {
    "auc": "AUC, out of time",
    "pr_auc": "PR-AUC",
    "brier": "Brier score",
    "top_decile_lift": "Top-decile lift",
    "rows": "Judged customer-months",
    "churn_rate": "Churn rate, judged months",
    "mean_probability": "Mean predicted churn",
    "train_rows": "Training customer-months",
}


def _shown(value) -> str:
    """A registry value as a person reads it: 0.606, 2,039, — for none."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 100 else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def version_diff_table(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """One side-by-side frame of `quality.diff_versions` (name, a, b, changed[, difference]) for
    the page: readable names and numbers, the versions as column titles, "changed" as a mark."""
    shown = pd.DataFrame(
        {
            "": [DIFF_NAMES.get(n, str(n).replace("_", " ")) for n in frame["name"]],
            a: [_shown(v) for v in frame["a"]],
            b: [_shown(v) for v in frame["b"]],
        }
    )
    if "difference" in frame:
        shown[f"{b} − {a}"] = [
            "—" if d is None or pd.isna(d) else ("0" if d == 0 else f"{d:+.4g}") for d in frame["difference"]
        ]
    shown["changed"] = ["changed" if c else "" for c in frame["changed"]]
    return shown
