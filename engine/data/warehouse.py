"""The DuckDB warehouse: one connection per process, a cursor per call, versioned schema.

Streamlit serves each session on its own thread, so callers never share a cursor:
every helper here opens `connection.cursor()`, consumes the whole result and closes
it. duckdb errors are wrapped in the engine's own exceptions.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.core import config
from engine.core.errors import NotFoundError, WarehouseError, WarehouseLockedError

# Each migration runs once, in order, inside one transaction. Never edit a shipped
# migration: append a new one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "core tables of the data model",
        [
            """CREATE TABLE customers (
                customer_id VARCHAR PRIMARY KEY,
                name VARCHAR NOT NULL,
                plan_tier VARCHAR NOT NULL,
                industry VARCHAR,
                region VARCHAR,
                seats INTEGER,
                signup_date DATE NOT NULL,
                contract_end_date DATE,
                billing_cycle VARCHAR,
                csm_owner VARCHAR,
                gtm_stage VARCHAR,
                status VARCHAR NOT NULL,
                churn_date DATE
            )""",
            """CREATE TABLE mrr_history (
                customer_id VARCHAR NOT NULL,
                month DATE NOT NULL,
                mrr DOUBLE NOT NULL,
                change_type VARCHAR NOT NULL
            )""",
            """CREATE TABLE usage_daily (
                customer_id VARCHAR NOT NULL,
                date DATE NOT NULL,
                event_type VARCHAR NOT NULL,
                events INTEGER NOT NULL,
                active_users INTEGER
            )""",
            """CREATE TABLE support_tickets (
                ticket_id VARCHAR PRIMARY KEY,
                customer_id VARCHAR NOT NULL,
                opened_at TIMESTAMP NOT NULL,
                closed_at TIMESTAMP,
                priority VARCHAR NOT NULL,
                topic VARCHAR,
                status VARCHAR NOT NULL,
                csat DOUBLE,
                subject VARCHAR
            )""",
            """CREATE TABLE gtm_opportunities (
                opportunity_id VARCHAR PRIMARY KEY,
                customer_id VARCHAR NOT NULL,
                stage VARCHAR NOT NULL,
                opportunity_type VARCHAR NOT NULL,
                amount DOUBLE,
                created_date DATE,
                close_date DATE,
                owner VARCHAR
            )""",
            """CREATE TABLE risk_signals (
                customer_id VARCHAR NOT NULL,
                as_of DATE NOT NULL,
                compliance_gap_score DOUBLE,
                vendor_risk_flags INTEGER
            )""",
            """CREATE TABLE predictions (
                customer_id VARCHAR NOT NULL,
                as_of DATE NOT NULL,
                model_version VARCHAR NOT NULL,
                churn_probability DOUBLE NOT NULL,
                ci_low DOUBLE NOT NULL,
                ci_high DOUBLE NOT NULL,
                risk_score DOUBLE,
                risk_tier VARCHAR,
                drivers JSON,
                recommended_action VARCHAR,
                scored_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE ground_truth (
                customer_id VARCHAR NOT NULL,
                as_of DATE NOT NULL,
                true_churn_prob_90d DOUBLE NOT NULL
            )""",
        ],
    ),
    (
        2,
        "point-in-time MRR, renewal and top driver stored with each prediction (risk board reads them)",
        [
            "ALTER TABLE predictions ADD COLUMN mrr DOUBLE",
            "ALTER TABLE predictions ADD COLUMN days_to_renewal INTEGER",
            "ALTER TABLE predictions ADD COLUMN top_driver VARCHAR",
        ],
    ),
    (
        3,
        "the risk score's components stored with each prediction (Customer 360 shows the ones behind the score)",
        [
            "ALTER TABLE predictions ADD COLUMN usage_decay_score DOUBLE",
            "ALTER TABLE predictions ADD COLUMN compliance_gap_score DOUBLE",
            "ALTER TABLE predictions ADD COLUMN vendor_risk_flags DOUBLE",
        ],
    ),
    (
        4,
        "what real companies have: billing cycles in months, subscriptions, custom account attributes, event values",
        [
            # 'monthly' / 'annual' become 1 / 12 months; other cycles (3, 6, 24 ...) now fit.
            "ALTER TABLE customers ADD COLUMN billing_months INTEGER",
            "UPDATE customers SET billing_months = CASE lower(billing_cycle) WHEN 'monthly' THEN 1 "
            "WHEN 'annual' THEN 12 END",
            "ALTER TABLE customers DROP COLUMN billing_cycle",
            "ALTER TABLE customers RENAME COLUMN billing_months TO billing_cycle",
            # The name and plan may be unknown in a minimal customers file (name then defaults to the id).
            "ALTER TABLE customers ALTER COLUMN plan_tier DROP NOT NULL",
            """CREATE TABLE subscriptions (
                customer_id VARCHAR NOT NULL,
                product VARCHAR NOT NULL,
                start_date DATE NOT NULL,
                end_date DATE,
                mrr DOUBLE NOT NULL,
                quantity DOUBLE,
                bill_period_months INTEGER,
                discount DOUBLE
            )""",
            """CREATE TABLE customer_attributes (
                customer_id VARCHAR NOT NULL,
                attribute VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                number_value DOUBLE,
                text_value VARCHAR,
                date_value DATE
            )""",
            "ALTER TABLE usage_daily ADD COLUMN value DOUBLE",
        ],
    ),
]

# Tables in the data model, in load order (parents first).
TABLES = (
    "customers",
    "customer_attributes",
    "subscriptions",
    "mrr_history",
    "usage_daily",
    "support_tickets",
    "gtm_opportunities",
    "risk_signals",
    "predictions",
    "ground_truth",
)

_LOCK_PID = re.compile(r"PID (\d+)")


def latest_predictions_sql(where: str = "TRUE") -> str:
    """SELECT of the newest prediction per customer and scoring date, among rows matching `where`.

    A customer scored twice on one date (a rescore) has two rows; the later run wins. Every
    reader of predictions goes through this one definition. `where` is engine-written SQL whose
    values are bound by the caller.
    """
    return (
        f"SELECT * FROM predictions WHERE {where} "  # noqa: S608 - engine-written condition, values bound
        "QUALIFY row_number() OVER (PARTITION BY customer_id, as_of ORDER BY scored_at DESC) = 1"
    )


def _wrap(exc: duckdb.Error, path: Path) -> Exception:
    """Turn a duckdb error into an engine error with advice."""
    text = str(exc)
    if "lock" in text.lower() and ("conflicting" in text.lower() or "could not set" in text.lower()):
        pid = _LOCK_PID.search(text)
        holder = f"process {pid.group(1)}" if pid else "another process"
        return WarehouseLockedError(
            f"The warehouse {path} is in use by {holder} (a running app or another "
            "`.venv/bin/python -m engine` command holds its write lock). Wait for that command to "
            "finish or stop it, then run this again; or point --data-dir / RADAR_DATA_DIR "
            "at another folder."
        )
    return WarehouseError(f"Warehouse error: {text.splitlines()[0]}")


class Warehouse:
    """Owns the process's DuckDB connection to `<data dir>/warehouse.duckdb`."""

    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise NotFoundError(
                f"No warehouse at {self.path}. Create one with `.venv/bin/python -m engine demo` "
                "(demo data) or `.venv/bin/python -m engine ingest TABLE FILE` (your data)."
            )
        try:
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise _wrap(exc, self.path) from exc
        if not read_only:
            self.migrate()
        elif self.schema_version() < latest_schema_version():
            raise WarehouseError(
                f"The warehouse {self.path} uses an older schema. Open it once with a "
                "writable command (for example `.venv/bin/python -m engine info`) to upgrade it."
            )

    # -- cursors ---------------------------------------------------------------
    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh cursor for one call; duckdb errors become engine errors."""
        cur = self._con.cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            raise _wrap(exc, self.path) from exc
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN/COMMIT; any error rolls everything back."""
        with self.cursor() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    def df(self, sql: str, params: Sequence[Any] | dict | None = None) -> pd.DataFrame:
        """Run a query with bound parameters and return all rows as a DataFrame."""
        with self.cursor() as cur:
            return cur.execute(sql, params or []).df()

    def rows(self, sql: str, params: Sequence[Any] | dict | None = None) -> list[tuple]:
        with self.cursor() as cur:
            return cur.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | dict | None = None) -> Any:
        found = self.rows(sql, params)
        return found[0][0] if found else None

    def execute(self, sql: str, params: Sequence[Any] | dict | None = None) -> None:
        with self.cursor() as cur:
            cur.execute(sql, params or [])

    # -- schema ----------------------------------------------------------------
    def schema_version(self) -> int:
        with self.cursor() as cur:
            exists = cur.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
            ).fetchall()[0][0]
            if not exists:
                return 0
            return cur.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]

    def migrate(self) -> list[int]:
        """Apply pending migrations; returns the versions applied (empty when current)."""
        with self.cursor() as cur:
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
            )
        current = self.schema_version()
        applied = []
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            with self.transaction() as cur:
                for statement in statements:
                    cur.execute(statement)
                cur.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, description])
            applied.append(version)
        return applied

    def table_counts(self) -> dict[str, int]:
        return {t: self.scalar(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608 - fixed names

    def is_empty(self) -> bool:
        return self.scalar("SELECT count(*) FROM customers") == 0

    def close(self) -> None:
        self._con.close()
        self.closed = True

    closed = False  # set by close(): lets callers that keep a warehouse know it is gone, without a query


def latest_schema_version() -> int:
    return MIGRATIONS[-1][0]


_instances: dict[Path, Warehouse] = {}
_instances_lock = threading.Lock()


def get_warehouse(data_dir: str | Path | None = None, read_only: bool = False) -> Warehouse:
    """The process-wide warehouse for a data dir (opened on first use).

    A read-only holder is reopened writable when a writer asks; a writable one serves
    readers too (DuckDB allows one mode per file per process).
    """
    path = config.warehouse_path(data_dir)
    with _instances_lock:
        current = _instances.get(path)
        if current is not None and (read_only or not current.read_only):
            return current
        if current is not None:
            current.close()
        _instances[path] = Warehouse(path, read_only=read_only)
        return _instances[path]


def close_all() -> None:
    """Close every open warehouse (tests and the CLI call this before exiting)."""
    with _instances_lock:
        for wh in _instances.values():
            wh.close()
        _instances.clear()
