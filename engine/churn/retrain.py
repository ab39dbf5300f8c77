"""Admin operations on the serving model: retrain in the background, promote, roll back, rescore.

Retraining runs on a thread of the app process, one at a time per data dir: a second
click while a run is going returns the running job instead of starting another. The
thread uses the process's warehouse (a fresh cursor per query, like every session), so
other users keep reading scores while it trains. Production changes only at the very
end, through `training.train`'s promotion gate; a failure anywhere records the error on
the job and leaves the registry's production model serving.

Every function here takes the acting `Viewer` and refuses roles that may not act.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import computed_field

from engine.churn import registry, scoring, training
from engine.core import config
from engine.core.access import Viewer
from engine.core.contracts import Contract
from engine.core.errors import NotFoundError, RadarError
from engine.data.warehouse import get_warehouse, writing

JobState = Literal["queued", "running", "succeeded", "failed"]
QUEUED: JobState = "queued"
RUNNING: JobState = "running"
SUCCEEDED: JobState = "succeeded"
FAILED: JobState = "failed"
MAX_MESSAGES = 200
KEEP_FINISHED = 20  # finished jobs kept per data dir so a page can show the last outcome

Trainer = Callable[..., training.TrainResult]


class JobStatus(Contract):
    """A snapshot of a background job: state, progress 0..1, messages so far, and the
    outcome (`result` on success, `error` on failure)."""

    job_id: str
    kind: str
    data_dir: str
    started_by: str
    state: JobState
    fraction: float
    messages: tuple[str, ...]
    result: training.TrainResult | None
    error: str | None
    production_before: str | None
    started_at: datetime
    finished_at: datetime | None
    unchanged: bool = False  # the data matched production's training data: nothing was trained

    @computed_field  # type: ignore[prop-decorator]
    @property
    def done(self) -> bool:
        """Finished, either way."""
        return self.state in (SUCCEEDED, FAILED)


@dataclass
class _Job:
    job_id: str
    kind: str
    data_dir: str
    started_by: str
    production_before: str | None
    started_at: datetime
    state: JobState = QUEUED
    fraction: float = 0.0
    messages: list[str] = field(default_factory=list)
    result: training.TrainResult | None = None
    error: str | None = None
    finished_at: datetime | None = None
    thread: threading.Thread | None = None
    unchanged: bool = False


_jobs: dict[str, _Job] = {}
_running: dict[str, str] = {}  # data dir -> id of its running job
_lock = threading.Lock()


def _key(data_dir: str | Path | None) -> str:
    return str(config.data_dir(data_dir).resolve())


def _snapshot(job: _Job) -> JobStatus:
    return JobStatus(
        job_id=job.job_id,
        kind=job.kind,
        data_dir=job.data_dir,
        started_by=job.started_by,
        state=job.state,
        fraction=job.fraction,
        messages=tuple(job.messages),
        result=job.result,
        error=job.error,
        production_before=job.production_before,
        started_at=job.started_at,
        finished_at=job.finished_at,
        unchanged=job.unchanged,
    )


def _record(job: _Job, fraction: float | None, message: str) -> None:
    with _lock:
        if fraction is not None:
            job.fraction = max(job.fraction, min(float(fraction), 1.0))
        job.messages.append(message)
        del job.messages[:-MAX_MESSAGES]


def unchanged_since(wh, data_dir: str | Path | None = None) -> registry.ModelVersion | None:
    """Production, when the warehouse holds exactly the data it was trained on (same
    fingerprint, same cutoff); else None (changed data, no production, or a version trained
    before fingerprints were recorded)."""
    current = registry.production("churn", data_dir)
    recorded = (current.data_window or {}).get("data_fingerprint") if current else None
    if not recorded:
        return None
    try:
        cutoff = training.snapshot_plan(wh)[2]
    except RadarError:  # too little data: the trainer says so itself
        return None
    return current if training.data_fingerprint(wh, cutoff) == recorded else None


def _no_change(current: registry.ModelVersion, seconds: float) -> training.TrainResult:
    return training.TrainResult(
        version=current.version,
        metrics=current.metrics,
        data_window=current.data_window,
        promoted=False,
        reason=f"No change: the data is the same as {current.version} was trained on (fingerprint "
        f"{current.data_window['data_fingerprint']}), so no new version was trained and {current.version} "
        "keeps serving. Load new data first, or retrain anyway.",
        seconds=round(seconds, 2),
        production_metrics=current.metrics,
    )


def _run(job: _Job, trainer: Trainer, rescore: bool, options: dict, force: bool = False) -> None:
    with _lock:
        job.state = RUNNING
    try:
        wh = get_warehouse(job.data_dir, read_only=True)  # training only reads; readers never wait for it
        if not force and not options:
            _record(job, 0.02, "checking whether the data changed since production was trained")
            t0 = time.perf_counter()
            current = unchanged_since(wh, job.data_dir)
            if current is not None:
                result = _no_change(current, time.perf_counter() - t0)
                _record(job, 1.0, result.reason)
                with _lock:
                    job.unchanged = True
                _finish(job, result, SUCCEEDED, None)
                return
        result = trainer(
            wh,
            data_dir=job.data_dir,
            promote="auto",
            progress=lambda f, m: _record(job, 0.9 * f if rescore else f, m),
            **options,
        )
        if rescore and result.promoted:
            _record(job, 0.9, f"scoring every active customer with {result.version}")
            with writing(job.data_dir, "rescore after retrain") as target:
                report = scoring.score(target, data_dir=job.data_dir)
            _record(job, 1.0, f"scored {report.customers:,} customers as of {report.as_of}")
        outcome, error = SUCCEEDED, None
    except Exception as exc:  # the job reports every failure; production was never touched
        result, outcome = None, FAILED
        error = str(exc) if isinstance(exc, RadarError) else f"{type(exc).__name__}: {exc}"
        _record(job, None, "failed: " + "".join(traceback.format_exception_only(exc)).strip())
    _finish(job, result, outcome, error)


def _finish(job: _Job, result: training.TrainResult | None, outcome: JobState, error: str | None) -> None:
    with _lock:
        job.result, job.error, job.state = result, error, outcome
        job.fraction = 1.0 if outcome == SUCCEEDED else job.fraction
        job.finished_at = datetime.now(UTC)
        if _running.get(job.data_dir) == job.job_id:
            del _running[job.data_dir]
        _forget_old(job.data_dir)


def _forget_old(data_dir: str) -> None:
    finished = sorted(
        (j for j in _jobs.values() if j.data_dir == data_dir and j.finished_at is not None),
        key=lambda j: j.finished_at or j.started_at,
    )
    for old in finished[:-KEEP_FINISHED]:
        del _jobs[old.job_id]


def start_retrain(
    data_dir: str | Path | None,
    viewer: Viewer,
    *,
    rescore: bool = True,
    trainer: Trainer | None = None,
    force: bool = False,
    **options,
) -> str:
    """Start training a candidate in the background; returns the job id.

    Admins only. While a job runs for this data dir, returns that job's id instead of
    starting a second. The candidate is promoted only if it passes the gate (AUC at most
    `training.PROMOTION_MARGIN` below production on the same out-of-time rows); with
    `rescore`, a promoted model then scores every active customer. `options` go to the
    trainer (seed, cutoff; `fail_at` for crash tests); `trainer` (default `training.train`,
    looked up at call time) is replaceable for tests.

    Unless `force` (or `options`) is given, a run first compares the warehouse with the data
    production was trained on (`training.data_fingerprint`): when nothing changed it trains
    nothing and succeeds with `unchanged` set and a "No change" reason, instead of
    registering and promoting a copy of production.
    """
    viewer.require("retrain")
    key = _key(data_dir)
    with _lock:
        running = _running.get(key)
        if running is not None:
            return running
        current = registry.production("churn", key)
        job = _Job(
            job_id=uuid.uuid4().hex[:12],
            kind="retrain",
            data_dir=key,
            started_by=viewer.username,
            production_before=current.version if current else None,
            started_at=datetime.now(UTC),
        )
        job.messages.append(
            f"{viewer.username} started a retrain; {job.production_before or 'no model'} keeps serving meanwhile"
        )
        _jobs[job.job_id] = job
        _running[key] = job.job_id
        job.thread = threading.Thread(
            target=_run,
            args=(job, trainer or training.train, rescore, options, force),
            name=f"retrain-{job.job_id}",
            daemon=True,
        )
        job.thread.start()
    return job.job_id


def job_status(job_id: str) -> JobStatus:
    """The job's state, progress, messages and outcome; NotFoundError for an unknown id."""
    with _lock:
        job = _jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"No background job '{job_id}' in this app process (it may have restarted).")
        return _snapshot(job)


def latest_job(data_dir: str | Path | None) -> JobStatus | None:
    """The running job for this data dir, else the most recently started one, else None."""
    key = _key(data_dir)
    with _lock:
        running = _running.get(key)
        if running is not None:
            return _snapshot(_jobs[running])
        mine = [j for j in _jobs.values() if j.data_dir == key]
        return _snapshot(max(mine, key=lambda j: j.started_at)) if mine else None


def wait(job_id: str, timeout: float | None = None) -> JobStatus:
    """Block until the job finishes (or `timeout` seconds pass); returns its status."""
    with _lock:
        job = _jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"No background job '{job_id}' in this app process.")
    if job.thread is not None:
        job.thread.join(timeout)
    return job_status(job_id)


# -- promote / roll back / rescore -----------------------------------------------------------------
def promote(version: str, viewer: Viewer, data_dir: str | Path | None = None) -> registry.ModelVersion:
    """Make `version` production (admins only); the previous one is archived."""
    viewer.require("promote")
    return registry.promote(version, data_dir)


def rollback_target(data_dir: str | Path | None = None, kind: str = "churn") -> registry.ModelVersion | None:
    """The version a roll back would return to (the one that served before production), or
    None when there is none: no production model, or it is the first that ever served."""
    return registry.rollback_target(kind, data_dir)


def rollback(viewer: Viewer, data_dir: str | Path | None = None) -> registry.ModelVersion:
    """Return to the version that served before the current production one (admins only)."""
    viewer.require("promote")
    return registry.rollback("churn", data_dir)


def refresh_scores(
    viewer: Viewer, data_dir: str | Path | None = None, progress: scoring.Progress | None = None
) -> scoring.ScoreReport:
    """Score every active customer with the production model as of the data's latest day
    (admins: after loading data or changing the model)."""
    viewer.require("load_data")
    with writing(data_dir, "rescore") as wh:
        return scoring.score(wh, data_dir=data_dir, progress=progress)
