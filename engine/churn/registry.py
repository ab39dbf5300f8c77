"""Model registry: versions, stages, artifact hashes, promotion and rollback.

Artifacts live in `<data dir>/models/<version>/model.pkl`, written to a temporary file
and renamed into place, so a crash mid-write never leaves a half artifact under a
registered name. Rows live in `engine.core.store` (SQLAlchemy). Promotion swaps stages in one
transaction. Loading re-hashes the artifact and refuses one that changed.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import field_serializer
from sqlalchemy import select, update

from engine.core import config
from engine.core.contracts import Contract
from engine.core.errors import ModelUnavailableError, NotFoundError
from engine.core.store import get_engine, model_versions

if TYPE_CHECKING:
    from engine.churn.model import ChurnModel


class ModelVersion(Contract):
    """One registered model: its stage, settings, data window, metrics and artifact hash.

    Rows written by any earlier version of Customer Radar still load: every field has been
    there from the first registry on."""

    version: str
    kind: str  # "churn" (warehouse snapshots) or "table" (a labelled file)
    stage: Literal["candidate", "production", "archived"]
    created_at: datetime
    promoted_at: datetime | None
    params: dict[str, Any]
    features: list[str]
    data_window: dict[str, Any]
    metrics: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    notes: str | None = None

    @field_serializer("created_at", "promoted_at")
    def _iso(self, moment: datetime | None) -> str | None:
        """ISO text as Python writes it (`+00:00`, not `Z`), as `models --json` always printed."""
        return moment.isoformat() if moment is not None else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _row(row: Any) -> ModelVersion:
    values = dict(row._mapping)
    return ModelVersion.model_validate({name: values[name] for name in ModelVersion.model_fields if name in values})


def _next_version(conn, kind: str) -> str:
    taken = conn.execute(select(model_versions.c.version).where(model_versions.c.kind == kind)).scalars().all()
    numbers = [int(v.rsplit("-v", 1)[1]) for v in taken if v.rsplit("-v", 1)[-1].isdigit()]
    return f"{kind}-v{max(numbers, default=0) + 1}"


def register(
    model,
    kind: str,
    params: dict,
    features: list,
    data_window: dict,
    metrics: dict,
    data_dir: str | Path | None = None,
    notes: str | None = None,
) -> ModelVersion:
    """Save the model's artifact and register it as a candidate; returns the new version."""
    engine = get_engine(data_dir)
    with engine.begin() as conn:
        version = _next_version(conn, kind)
        folder = config.data_dir(data_dir) / "models" / version
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / "model.pkl"
        temporary = folder / "model.pkl.tmp"
        model.save(temporary)
        os.replace(temporary, final)
        row = {
            "version": version,
            "kind": kind,
            "stage": "candidate",
            "created_at": datetime.now(UTC),
            "promoted_at": None,
            "params": params,
            "features": list(features),
            "data_window": data_window,
            "metrics": metrics,
            "artifact_path": f"models/{version}/model.pkl",
            "artifact_sha256": sha256_of(final),
            "notes": notes,
        }
        conn.execute(model_versions.insert().values(**row))
    return ModelVersion.model_validate(row)


def versions(kind: str | None = None, data_dir: str | Path | None = None) -> list[ModelVersion]:
    """All versions, newest first."""
    query = select(model_versions).order_by(model_versions.c.created_at.desc())
    if kind:
        query = query.where(model_versions.c.kind == kind)
    with get_engine(data_dir).connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def get(version: str, data_dir: str | Path | None = None) -> ModelVersion:
    with get_engine(data_dir).connect() as conn:
        row = conn.execute(select(model_versions).where(model_versions.c.version == version)).first()
    if row is None:
        known = ", ".join(v.version for v in versions(data_dir=data_dir)[:10]) or "none yet"
        raise NotFoundError(f"No model version '{version}'. Known versions: {known}.")
    return _row(row)


def production(kind: str = "churn", data_dir: str | Path | None = None) -> ModelVersion | None:
    with get_engine(data_dir).connect() as conn:
        row = conn.execute(
            select(model_versions).where((model_versions.c.kind == kind) & (model_versions.c.stage == "production"))
        ).first()
    return _row(row) if row else None


def promote(version: str, data_dir: str | Path | None = None) -> ModelVersion:
    """Make `version` production (the current one becomes archived), atomically."""
    target = get(version, data_dir)
    verify(target, data_dir)
    with get_engine(data_dir).begin() as conn:
        conn.execute(
            update(model_versions)
            .where((model_versions.c.kind == target.kind) & (model_versions.c.stage == "production"))
            .values(stage="archived")
        )
        conn.execute(
            update(model_versions)
            .where(model_versions.c.version == version)
            .values(stage="production", promoted_at=datetime.now(UTC))
        )
    return get(version, data_dir)


def rollback_target(kind: str = "churn", data_dir: str | Path | None = None) -> ModelVersion | None:
    """The version a roll back returns to (the one that served before production), or None when
    there is none: no production model, or it is the first that ever served."""
    current = production(kind, data_dir)
    if current is None or current.promoted_at is None:
        return None
    served_from = _promoted(current)
    earlier = [
        v
        for v in versions(kind, data_dir)
        if v.promoted_at is not None and v.version != current.version and _promoted(v) < served_from
    ]
    return max(earlier, key=_promoted) if earlier else None


def rollback(kind: str = "churn", data_dir: str | Path | None = None) -> ModelVersion:
    """Return to the version that served before the current production one."""
    current = production(kind, data_dir)
    if current is None:
        raise NotFoundError(f"No production {kind} model to roll back from.")
    previous = rollback_target(kind, data_dir)
    if previous is None:
        raise NotFoundError(
            f"{current.version} is the first production {kind} model; there is nothing to roll back to."
        )
    verify(previous, data_dir)
    with get_engine(data_dir).begin() as conn:
        conn.execute(
            update(model_versions)
            .where(model_versions.c.version == current.version)
            .values(stage="archived", promoted_at=None)
        )
        conn.execute(
            update(model_versions).where(model_versions.c.version == previous.version).values(stage="production")
        )
    return get(previous.version, data_dir)


def _promoted(version: ModelVersion) -> datetime:
    """When the version was promoted, timezone-aware (SQLite returns naive UTC); the earliest
    possible moment when it never was."""
    moment = version.promoted_at or datetime.min
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def artifact(version: ModelVersion, data_dir: str | Path | None = None) -> Path:
    """The artifact's file; paths are stored relative to the data dir so it can move."""
    path = Path(version.artifact_path)
    return path if path.is_absolute() else config.data_dir(data_dir) / path


def verify(version: ModelVersion, data_dir: str | Path | None = None) -> None:
    """Raise ModelUnavailableError if the artifact is missing or its hash changed."""
    path = artifact(version, data_dir)
    if not path.exists():
        raise ModelUnavailableError(
            f"Model {version.version}: artifact {path} is missing. Retrain with "
            "`.venv/bin/python -m engine train` or roll back with `.venv/bin/python -m engine rollback`."
        )
    actual = sha256_of(path)
    if actual != version.artifact_sha256:
        raise ModelUnavailableError(
            f"Model {version.version}: artifact {path} does not match its registered SHA-256 (it was changed or "
            "truncated), so it will not be loaded. Retrain with `.venv/bin/python -m engine train` or roll back with "
            "`.venv/bin/python -m engine rollback`."
        )


def is_baseline(version: ModelVersion) -> bool:
    """Whether the version is a baseline that serves because the churn model did not beat it."""
    from engine.churn.baselines import FAMILY

    return (version.params or {}).get("family") == FAMILY


def base_rate(version: ModelVersion) -> float | None:
    """The churn rate of the rows a version was trained on (relative risk tiers are multiples of
    it): recorded in params, else from the training counts every version records; None if unknown."""
    if (version.params or {}).get("base_rate") is not None:
        return float(version.params["base_rate"])
    rows, churners = version.metrics.get("train_rows"), version.metrics.get("train_churners")
    return float(churners) / rows if rows and churners is not None else None


def load(version: ModelVersion, data_dir: str | Path | None = None) -> ChurnModel:
    """The verified model object for a registered version: the churn model, or the baseline
    that serves in its place. A BaselineModel offers everything callers use of a ChurnModel
    (features, categorical, interval_level, predict, predict_proba, contributions,
    feature_importance, save), so it is handed out under that type."""
    verify(version, data_dir)
    if is_baseline(version):
        from engine.churn.baselines import BaselineModel

        return cast("ChurnModel", BaselineModel.load(artifact(version, data_dir)))
    if (version.params or {}).get("family") in ("table_logistic", "table_blend"):
        from engine.churn.table.candidates import load_candidate  # a table's regression or blend

        return cast("ChurnModel", load_candidate(artifact(version, data_dir)))
    from engine.churn.model import ChurnModel  # LightGBM loads only when a model is

    return ChurnModel.load(artifact(version, data_dir))


def load_production(kind: str = "churn", data_dir: str | Path | None = None) -> tuple[ModelVersion, ChurnModel]:
    """(ModelVersion, model) of production; ModelUnavailableError if none or it fails checks."""
    current = production(kind, data_dir)
    if current is None:
        raise ModelUnavailableError(
            "No production churn model yet. Run `.venv/bin/python -m engine demo` (demo data) or "
            "`.venv/bin/python -m engine train` then `.venv/bin/python -m engine score`."
        )
    return current, load(current, data_dir)
