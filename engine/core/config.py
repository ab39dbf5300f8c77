"""Settings read from the environment (Streamlit secrets become env vars in app.py)."""

from __future__ import annotations

import functools
import os
import stat
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from engine.core.errors import BadInputError

DEFAULT_GROQ_MODEL = "llama-3.1-8b-instant"

# Dates the data may hold (ingest refuses others; readers ignore and report them).
DEFAULT_EARLIEST_DATE = date(1990, 1, 1)
FUTURE_TOLERANCE_DAYS = 1  # "today" differs by a day across time zones
FORWARD_YEARS = 10  # how far ahead a planned date (contract end, expected close) may lie
# A churn or NRR rate on fewer customers is shown but never compared (one account moves it 3+ points).
SMALL_COHORT = 30

# Runtime files hold customer data, password hashes and model artifacts: only the owner
# may read them. Files are created 0600 and folders 0700 (see `data_dir`).
PRIVATE_UMASK = 0o077
_private_done: set[Path] = set()
_private_lock = threading.Lock()


@functools.lru_cache(maxsize=256)
def _resolved(raw: str, cwd: str) -> Path:
    """An absolute data dir path; cached, since every page run asks for it several times."""
    return Path(cwd, raw).expanduser().resolve() if not raw.startswith("~") else Path(raw).expanduser().resolve()


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The runtime data folder: `override`, else RADAR_DATA_DIR, else ./data.

    The one place file modes are set: the process umask becomes 0o077 (so the warehouse,
    its WAL, the app-state DB, model artifacts and the auth file are created 0600 and
    folders 0700), and an existing data dir is tightened once per process.
    """
    raw = override or os.environ.get("RADAR_DATA_DIR") or "data"
    path = _resolved(str(raw), os.getcwd())
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    _make_private(path)
    return path


# What the app keeps in the data dir (tightened when found looser): the warehouse link, its
# writer lock and its snapshots, the app-state DB and its journals, the auth file and its lock,
# and the model artifacts.
RUNTIME_FILES = ("warehouse.duckdb*", "warehouse.lock", "state.db*", "auth.yaml*")
RUNTIME_FOLDERS = ("models", "warehouse.snapshots")


def _make_private(path: Path) -> None:
    with _private_lock:
        os.umask(PRIVATE_UMASK)
        if path in _private_done:
            return
        _private_done.add(path)
        items = [path]
        for pattern in RUNTIME_FILES:
            items += path.glob(pattern)
        for folder in RUNTIME_FOLDERS:
            if (path / folder).is_dir():
                items += [path / folder, *(path / folder).rglob("*")]
        for item in items:
            _owner_only(item)


def _owner_only(item: Path) -> None:
    """Drop group/other access from a file or folder we own (never a shared folder such as /tmp)."""
    try:
        info = item.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & stat.S_ISVTX:
            return
        if info.st_mode & 0o077:
            item.chmod(stat.S_IMODE(info.st_mode) & 0o700)
    except OSError:  # removed meanwhile, or not ours to change: leave it
        return


READ_ONLY_ENV = "RADAR_READ_ONLY"


def read_only() -> bool:
    """RADAR_READ_ONLY=1: this app process only reads the warehouse (a serving replica).

    DuckDB lets many processes open a file read-only, or one process read-write, so
    replicas behind a load balancer each run read-only; loads, retrains and rescoring
    then run from the command line while the replicas are stopped.
    """
    return os.environ.get(READ_ONLY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def warehouse_path(directory: str | os.PathLike | None = None) -> Path:
    return data_dir(directory) / "warehouse.duckdb"


def state_url(directory: str | os.PathLike | None = None) -> str:
    """SQLAlchemy URL for app state: RADAR_STATE_URL, else a SQLite file in the data dir."""
    return os.environ.get("RADAR_STATE_URL") or f"sqlite:///{data_dir(directory) / 'state.db'}"


def groq_model() -> str:
    return os.environ.get("GROQ_MODEL") or DEFAULT_GROQ_MODEL


# -- plausible dates ---------------------------------------------------------------------------
def today() -> date:
    """Today's date in UTC (one function, so tests can fix the clock)."""
    return datetime.now(UTC).date()


def earliest_date() -> date:
    """The earliest date data may hold: RADAR_EARLIEST_DATE (YYYY-MM-DD), default 1990-01-01."""
    raw = (os.environ.get("RADAR_EARLIEST_DATE") or "").strip()
    if not raw:
        return DEFAULT_EARLIEST_DATE
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadInputError(
            f"RADAR_EARLIEST_DATE is '{raw}', which is not a date; set it as YYYY-MM-DD (e.g. 1990-01-01) or unset it."
        ) from None


def latest_date() -> date:
    """The latest date data about the past may hold: today plus a day of time-zone tolerance."""
    return today() + timedelta(days=FUTURE_TOLERANCE_DAYS)


PLAN_TIERS_ENV = "RADAR_PLAN_TIERS"
DEFAULT_PLAN_TIERS = ("starter", "growth", "enterprise")


def plan_tiers() -> tuple[str, ...]:
    """RADAR_PLAN_TIERS: the order plan tiers are shown in (comma list, lowest first; default
    starter,growth,enterprise). plan_tier is free text in the data: tiers not listed follow, by name."""
    raw = os.environ.get(PLAN_TIERS_ENV) or ""
    tiers = tuple(part.strip() for part in raw.split(",") if part.strip())
    return tiers or DEFAULT_PLAN_TIERS


def latest_planned_date() -> date:
    """The latest date a planned date (contract end, expected close) may hold."""
    now = today()
    return now.replace(year=now.year + FORWARD_YEARS, day=min(now.day, 28) if now.month == 2 else now.day)


# -- risk tiers (engine.churn.risk) --------------------------------------------------------------
RISK_TIERS_ENV = "RADAR_RISK_TIERS"
TIER_MODES = ("relative", "absolute")
DEFAULT_TIER_LIFTS = (1.5, 3.0, 6.0)  # medium, high, critical: this many times the training base rate
DEFAULT_TIER_CUTS = (0.10, 0.25, 0.50)  # the seed's absolute thresholds on the 90-day churn probability


def risk_tier_mode() -> str:
    """RADAR_RISK_TIERS: `relative` (default; tiers are multiples of the base rate the model was
    trained on, so they separate accounts at any base rate) or `absolute` (fixed probabilities)."""
    raw = (os.environ.get(RISK_TIERS_ENV) or "relative").strip().lower()
    if raw not in TIER_MODES:
        raise BadInputError(f"{RISK_TIERS_ENV} is '{raw}'; set it to relative or absolute, or unset it.")
    return raw


def _three_rising(name: str, default: tuple[float, float, float], upper: float | None) -> tuple[float, float, float]:
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        values = ()
    rising = len(values) == 3 and 0 < values[0] < values[1] < values[2] and (upper is None or values[2] < upper)
    if not rising:
        bound = f", below {upper:g}" if upper is not None else ""
        raise BadInputError(
            f"{name} is '{raw}'; set three rising positive numbers{bound} for medium, high and critical, "
            f"e.g. {','.join(f'{v:g}' for v in default)}, or unset it."
        )
    return values[0], values[1], values[2]


def risk_tier_lifts() -> tuple[float, float, float]:
    """RADAR_RISK_TIER_LIFTS (relative tiers): e.g. `1.5,3,6` = medium from 1.5x, high from 3x and
    critical from 6x the training base rate."""
    return _three_rising("RADAR_RISK_TIER_LIFTS", DEFAULT_TIER_LIFTS, None)


def risk_tier_cuts() -> tuple[float, float, float]:
    """RADAR_RISK_TIER_CUTS (absolute tiers): e.g. `0.10,0.25,0.50` = medium from 10%, high from
    25% and critical from 50% churn probability."""
    return _three_rising("RADAR_RISK_TIER_CUTS", DEFAULT_TIER_CUTS, 1.0)


# Model threads: LightGBM's OpenMP threads spin while they wait for each other, so more
# threads than free cores turns a seconds-long fit into minutes (seen with two test workers
# each fitting on two threads on a 2-core machine). RADAR_THREADS caps them (the test suite
# runs one per worker); small jobs use one thread, as starting a second costs more than it saves.
MODEL_THREADS_ENV = "RADAR_THREADS"
DEFAULT_MODEL_THREADS = 2


def model_threads(rows: int | None = None, small: int = 0) -> int:
    """Threads for a model fit or prediction over `rows` rows (also forecast worker processes):
    one below `small`, else the RADAR_THREADS cap (default 2, never more than this process's cores)."""
    if rows is not None and rows < small:
        return 1
    raw = (os.environ.get(MODEL_THREADS_ENV) or "").strip()
    cap = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MODEL_THREADS
    return max(1, min(cap, len(os.sched_getaffinity(0))))
