"""Training a table model: label checks, the random stratified split, fitting, the test
holdout, and the registry (versions `table-v1`, `table-v2`, ... of kind "table")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from engine.churn import registry
from engine.churn.model import ChurnModel, registry_params
from engine.churn.table import candidates
from engine.churn.table.schema import (
    DroppedColumn,
    FeatureColumn,
    TableInputError,
    TableSchema,
    check_ids,
    detect_schema,
    find_column,
    model_frame,
    parse_labels,
    read_table,
)
from engine.churn.training import evaluate
from engine.core.contracts import Contract, Versioned, to_dict
from engine.core.errors import ModelUnavailableError, NotFoundError

KIND = "table"
MIN_ROWS = 200  # labelled rows needed: 20% of them must still make a meaningful test holdout
MIN_PER_CLASS = 50  # each of the three splits then holds at least ~10 of the rarer class
TEST_FRACTION = 0.2
VALID_FRACTION = 0.2
MIN_BAGS, MAX_BAGS = 2, 50

Progress = Callable[[float, str], None]


class FeatureShare(Contract):
    """A file column's share of the model's total gain (the shares sum to 1)."""

    feature: str
    share: float


class TableTrainResult(Versioned):
    """A registered table model: holdout metrics, the detected features and what was dropped."""

    kind: str
    source: str
    rows: int
    churn_rate: float
    features: list[FeatureColumn]
    dropped: list[DroppedColumn]
    metrics: dict[str, Any]
    importance: list[FeatureShare]
    notes: list[str] = []
    seconds: float = 0.0

    def summary(self) -> str:
        m = self.metrics
        lines = [
            f"{self.version}: trained on {self.rows:,} labelled rows of {self.source} "
            f"({self.churn_rate * 100:.1f}% churned) in {self.seconds:.1f} s.",
            f"Test holdout ({m['rows']:,} rows the model never saw): AUC {m.get('auc', float('nan')):.3f}, "
            f"PR-AUC {m.get('pr_auc', float('nan')):.3f}, Brier {m['brier']:.4f}.",
            "Features: " + ", ".join(f"{f.name} ({f.type})" for f in self.features) + ".",
        ]
        compared = m.get("candidates") or {}
        if compared:
            lines.insert(1, f"Serving the {m['chosen']}: the best by {m['cv_folds']}-fold cross-validated AUC.")
            lines[3:3] = [
                f"  {name}: cross-validated AUC {c['cv_auc']:.3f} ± {c['cv_auc_sd']:.3f}, "
                f"test holdout AUC {c['holdout_auc']:.3f}"
                for name, c in compared.items()
            ]
        if m.get("tuning"):
            t = m["tuning"]
            lines.append(
                f"Trees tuned over {t['trials']} trials: cross-validated AUC {t['best_auc']:.3f} "
                f"({t['best_auc'] - t['default_auc']:+.3f} vs the default settings)."
            )
        lines += [f"Dropped {d.column}: {d.reason}." for d in self.dropped]
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)


def check_classes(y: np.ndarray, column: str, source: str) -> None:
    """Refuses a label with one class, too few rows, or too few of the rarer class."""
    churned, stayed = int((y == 1).sum()), int((y == 0).sum())
    if churned + stayed == 0:
        raise TableInputError(
            f"{source} has no labelled rows: every '{column}' cell is blank (or the file has no data rows). "
            "Fill in whether each customer churned."
        )
    if churned == 0 or stayed == 0:
        answer = "churned" if stayed == 0 else "did not churn"
        raise TableInputError(
            f"All {churned + stayed:,} labelled rows of {source} give the same answer in '{column}' (every customer "
            f"{answer}), so there is nothing to tell apart. A churn model needs both churned and retained "
            "customers: add the other kind, or check that --label names the right column."
        )
    if churned + stayed < MIN_ROWS:
        raise TableInputError(
            f"{source} has {churned + stayed:,} labelled rows; at least {MIN_ROWS:,} are needed (with at least "
            f"{MIN_PER_CLASS} churned and {MIN_PER_CLASS} retained) to train and still hold out a fair test set. "
            "Add more customers, e.g. a longer period."
        )
    if min(churned, stayed) < MIN_PER_CLASS:
        rarer, count = ("churned", churned) if churned < stayed else ("retained", stayed)
        raise TableInputError(
            f"{source} has only {count:,} {rarer} customers among {churned + stayed:,} labelled rows; at least "
            f"{MIN_PER_CLASS} of each kind are needed ({MIN_PER_CLASS - count:,} more {rarer}) so that training, "
            "calibration and the test holdout each see enough of them. Add rows, e.g. a longer period."
        )


# -- training --------------------------------------------------------------------------------------
def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random stratified (train, validation, test) row positions: 60 / 20 / 20."""
    positions = np.arange(len(y))
    rest, test = train_test_split(positions, test_size=TEST_FRACTION, stratify=y, random_state=seed)
    train, valid = train_test_split(
        rest, test_size=VALID_FRACTION / (1 - TEST_FRACTION), stratify=y[rest], random_state=seed + 1
    )
    return np.sort(train), np.sort(valid), np.sort(test)


def _check_bags(n_bags: int) -> None:
    if not MIN_BAGS <= n_bags <= MAX_BAGS:
        raise TableInputError(
            f"--bags {n_bags}: use {MIN_BAGS} to {MAX_BAGS} ensemble members (the interval needs at least two; "
            "6 is the default)."
        )


def train_table(
    path: str | Path,
    id_column: str,
    label_column: str,
    *,
    data_dir: str | Path | None = None,
    n_bags: int = 6,
    seed: int = 0,
    dates: str = "number",
    drop: Iterable[str] = (),
    keep: Iterable[str] = (),
    tune: int = 0,
    progress: Progress | None = None,
) -> TableTrainResult:
    """Train a churn model on a labelled table and register it as kind "table".

    The served model is chosen by cross-validated AUC among a ridge logistic regression,
    gradient-boosted trees and their blend (`candidates`); `tune` > 0 first searches the
    trees' settings over that many trials on the same folds (the trees' cross-validated
    score is then slightly optimistic for that choice). Returns the new version with its test-holdout metrics, detected features and
    dropped columns. Nothing is registered when the table is refused."""
    say = progress or (lambda _f, _m: None)
    t0 = time.perf_counter()
    _check_bags(n_bags)
    if tune:
        from engine.churn.tuning import check_trials

        check_trials(tune)
    if dates not in ("number", "drop"):
        raise TableInputError(f"dates='{dates}': use 'number' (days since 1970-01-01) or 'drop'.")
    path = Path(path)
    say(0.02, f"reading {path.name}")
    frame, decimal_comma = read_table(path)
    source = path.name
    id_column = find_column(frame, id_column, "id", "--id", source)
    label_column = find_column(frame, label_column, "label", "--label", source)
    if id_column == label_column:
        raise TableInputError(f"--id and --label both name '{id_column}'; the label must be a separate column.")
    check_ids(frame, id_column, source)
    y_all = parse_labels(frame[label_column], label_column, source)
    check_classes(y_all[~np.isnan(y_all)], label_column, source)
    say(0.08, "detecting column types")
    schema = detect_schema(frame, id_column, label_column, y_all, dates, drop, keep, decimal_comma)
    notes = [f"{c.name}: {c.note}" for c in schema.columns if c.note]
    unlabelled = int(np.isnan(y_all).sum())
    if unlabelled:
        notes.append(f"{unlabelled:,} row(s) with a blank '{label_column}' were left out of training")
    if decimal_comma:
        notes.append("the file is not comma-separated, so '1,5' was read as 1.5")
    labelled = frame[~np.isnan(y_all)].reset_index(drop=True)
    y = y_all[~np.isnan(y_all)].astype(int)
    X = model_frame(labelled, schema, decimal_comma)
    train_rows, valid_rows, test_rows = _split(y, seed)
    trees = ChurnModel(schema.features, schema.categorical_features, n_bags=n_bags, seed=seed)
    development = np.sort(np.concatenate([train_rows, valid_rows]))  # everything but the test holdout
    trees.set_categories(X.iloc[development])
    folds = candidates.cv_folds(y[development], seed)
    tuned = _tune(trees, X.iloc[development], y[development], folds, tune, seed, say) if tune else None
    say(0.4, f"comparing {', '.join(candidates.CANDIDATES)} by {len(folds)}-fold cross-validation")
    scores = candidates.cross_validate(trees, X.iloc[development], y[development], folds)
    chosen = candidates.choose(scores)
    say(0.5, f"fitting the {chosen}" + ("" if chosen == candidates.LINEAR else " (trees and regression)"))
    trees.fit(
        X.iloc[train_rows],
        y[train_rows],
        X.iloc[valid_rows],
        y[valid_rows],
        progress=lambda step, total, msg: say(0.5 + 0.4 * step / total, msg),
    )
    linear = candidates.LinearTableModel(schema.features, schema.categorical_features, seed).fit(
        X.iloc[development], y[development]
    )
    fitted: dict[str, Any] = {
        candidates.LINEAR: linear,
        candidates.TREES: trees,
        candidates.BLEND: candidates.BlendTableModel(trees, linear),
    }
    model = fitted[chosen]
    model.table_schema_ = to_dict(schema)  # saved inside the artifact, so its hash covers it
    say(0.92, "measuring on the test holdout")
    holdout = {name: m.predict(X.iloc[test_rows]) for name, m in fitted.items()}
    pred = holdout[chosen]
    metrics = evaluate(y[test_rows], pred.churn_probability, pred.ci_low, pred.ci_high)
    metrics.update(
        best_iteration=trees.best_iteration_,
        train_rows=len(train_rows),
        validation_rows=len(valid_rows),
        test_rows=len(test_rows),
        table_rows=len(y),
        table_churn_rate=float(y.mean()),
        chosen=chosen,
        candidates=_compared(scores, holdout, y[test_rows]),
        cv_folds=len(folds),
        trees_interval=getattr(trees, "spread_check_", {}),
    )
    if tuned is not None:
        metrics["tuning"] = {k: tuned[k] for k in ("trials", "best", "best_auc", "default_auc")}
    importance = _importance(model, schema)
    family = {candidates.LINEAR: candidates.LINEAR_FAMILY, candidates.BLEND: candidates.BLEND_FAMILY}
    params = registry_params(
        trees, dates=dates, chosen=chosen, **({"family": family[chosen]} if chosen in family else {})
    )
    if chosen != candidates.TREES:
        params["ridge_C"] = linear.C_
    if tuned is not None:
        params["tuning"] = tuned
    window = {
        "source": source,
        "rows": len(y),
        "id_column": id_column,
        "label_column": label_column,
        "split": (
            "random stratified: 60% train, 20% stopping and calibration, 20% test holdout; the model is "
            f"chosen by {len(folds)}-fold cross-validation on the 80% outside the holdout"
        ),
        "schema": to_dict(schema),
    }
    version = registry.register(model, KIND, params, schema.names, window, metrics, data_dir, notes="; ".join(notes))
    say(1.0, f"registered {version.version}")
    return TableTrainResult(
        version=version.version,
        kind=KIND,
        source=source,
        rows=len(y),
        churn_rate=float(y.mean()),
        features=list(schema.columns),
        dropped=list(schema.dropped),
        metrics=metrics,
        importance=importance,
        notes=notes,
        seconds=round(time.perf_counter() - t0, 2),
    )


def _tune(
    trees: ChurnModel, X: Any, y: np.ndarray, folds: list, trials: int, seed: int, say: Progress
) -> dict[str, Any]:
    """Search the trees' settings over the cross-validation folds; set the best on `trees`."""
    from engine.churn import tuning

    found = tuning.search(trees, trees._matrix(X), y, folds, trials, seed, lambda f, m: say(0.1 + 0.3 * f, m))
    tuning.apply(trees, found.best)
    return found.as_params()


def _compared(
    scores: dict[str, candidates.CandidateScores], holdout: dict[str, Any], y_test: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per candidate: its cross-validated AUC (mean, spread, folds) and its test-holdout AUC/Brier."""
    out = {}
    for name, pred in holdout.items():
        judged = evaluate(y_test, pred.churn_probability)
        out[name] = {
            **scores[name].as_dict(),
            "holdout_auc": round(float(judged.get("auc", float("nan"))), 4),
            "holdout_brier": round(float(judged["brier"]), 4),
        }
    return out


def _importance(model: Any, schema: TableSchema) -> list[FeatureShare]:
    names = {c.feature: c.name for c in schema.columns}
    shares = model.feature_importance()
    return [FeatureShare(feature=names[f], share=round(float(s), 4)) for f, s in shares.items()]


# -- registry --------------------------------------------------------------------------------------
def load_table_model(
    version: str | None = None, data_dir: str | Path | None = None
) -> tuple[registry.ModelVersion, ChurnModel, TableSchema]:
    """(version row, verified model, schema) of `version`, default the newest table model."""
    if version is None:
        table_versions = registry.versions(KIND, data_dir)
        if not table_versions:
            raise NotFoundError(
                "No table model yet. Train one with `.venv/bin/python -m engine train-table FILE --id COLUMN --label COLUMN`."
            )
        chosen = max(table_versions, key=_version_number)
    else:
        chosen = registry.get(version, data_dir)
        if chosen.kind != KIND:
            known = ", ".join(v.version for v in registry.versions(KIND, data_dir)[:10]) or "none yet"
            raise TableInputError(
                f"{chosen.version} is a {chosen.kind} model (trained on warehouse snapshots), not a table model, so "
                f"it cannot score a table. Table models: {known}. Leave out --version to use the newest."
            )
    try:
        model = registry.load(chosen, data_dir)  # re-hashes the artifact; refuses a changed one
    except ModelUnavailableError:
        problem = (
            "does not match its registered SHA-256 (it was changed or truncated)"
            if registry.artifact(chosen, data_dir).exists()
            else "is missing"
        )
        others = ", ".join(v.version for v in registry.versions(KIND, data_dir) if v.version != chosen.version)
        raise ModelUnavailableError(
            f"Table model {chosen.version}: its artifact {registry.artifact(chosen, data_dir)} {problem}, so it will "
            "not be loaded. Retrain with `.venv/bin/python -m engine train-table FILE --id COLUMN --label COLUMN`"
            + (f", or pick another version with --version ({others})." if others else ".")
        ) from None
    state = getattr(model, "table_schema_", None)
    if state is None:
        raise ModelUnavailableError(
            f"{chosen.version}'s artifact has no table schema, so new files cannot be checked against it. "
            "Retrain it with `.venv/bin/python -m engine train-table`."
        )
    return chosen, model, TableSchema.model_validate(state)


def _version_number(version: registry.ModelVersion) -> int:
    number = version.version.rsplit("-v", 1)[-1]
    return int(number) if number.isdigit() else 0
