"""The DuckDB warehouse: published snapshots for readers, one writer at a time, a cursor
per call, versioned schema.

How processes share it is `engine.data.snapshots`. Streamlit serves each session on its
own thread, so callers never share a cursor: every helper here opens
`connection.cursor()`, consumes the whole result and closes it. duckdb errors are wrapped
in the engine's own exceptions.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from engine.core import config
from engine.core.errors import NotFoundError, WarehouseError, WarehouseLockedError
from engine.data import snapshots

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
    (
        5,
        "an index on predictions by customer: one account's scores without scanning every scoring run",
        # The API's churn lookup read all rows of every scoring date (7 ms on 400k rows, growing
        # with each run); through the index it takes under 1 ms and stays so as runs pile up.
        ["CREATE INDEX predictions_by_customer ON predictions (customer_id)"],
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


def billing_sql(source: str = "subscriptions", **dates: str) -> str:
    """SELECT customer_id and, per named date expression, what the customer's running
    subscriptions bill on that day (start <= day < end): the MRR of an account whose first
    mrr_history month row has not come yet (rows start on the 1st, so one that signed up this
    month has none). The KPIs, benchmarks and Ask AI's portfolio view read MRR with it, as
    scoring does. `source` may join a dates CTE (e.g. "subscriptions s, _d")."""
    sums = ", ".join(
        f"sum(mrr) FILTER (WHERE start_date <= {day} AND (end_date IS NULL OR end_date > {day})) AS {name}"
        for name, day in dates.items()
    )
    return f"SELECT customer_id, {sums} FROM {source} GROUP BY customer_id"  # noqa: S608 - engine-written


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
    """A DuckDB connection to one warehouse file: a published snapshot (read-only) or the
    generation a writer is building (see `engine.data.snapshots`)."""

    def __init__(self, path: Path, read_only: bool = False, generation: int | None = None):
        self._locate(path, read_only, generation)
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
            self._con.close()
            raise WarehouseError(
                f"The warehouse {self.path} uses an older schema. Run any writing command once "
                "(for example `.venv/bin/python -m engine score`) to upgrade it."
            )

    def _locate(self, path: Path, read_only: bool, generation: int | None) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.generation = generation
        # the data dir (models, app state): a snapshot lives one folder below it
        self.data_dir = self.path.parent.parent if self.path.parent.name == snapshots.SNAPSHOT_DIR else self.path.parent
        self.link = config.warehouse_path(self.data_dir) if generation is not None else self.path

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

    def commit(self) -> None:
        """Readers see this warehouse's writes from now on (a no-op for a reader)."""
        self.close()

    def reading(self) -> Warehouse:
        """Where to read what this warehouse holds before writing anything (itself)."""
        return self

    def abort(self) -> None:
        """Drop every write since the warehouse was opened (a no-op for a reader)."""
        self.close()

    closed = False  # set by close(): lets callers that keep a warehouse know it is gone, without a query


def latest_schema_version() -> int:
    return MIGRATIONS[-1][0]


class WriteSession(Warehouse):
    """A writer's private generation: the current snapshot copied under the writer lock.

    `commit()` checkpoints it and publishes it as the new snapshot; `abort()` (or a crash)
    drops it, so readers only ever see whole states.
    """

    def __init__(self, link: Path, purpose: str | None = None, private: bool = False, wait: float | None = None):
        self.link = link
        self.private = private
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._opening = threading.Lock()
        self._base_reader: Warehouse | None = None
        self._lock = snapshots.acquire(link, purpose, wait, notify=_say)
        target = None
        try:
            _checkpoint_plain_file(link)
            target, base = snapshots.start_generation(link)
        except BaseException:
            if target is not None:
                snapshots.discard(target)
            self._lock.release()
            raise
        self._locate(target, False, snapshots.generation_of(target))
        self.base = base
        # The copy of a large warehouse takes seconds: it runs while the writer reads what it
        # needs from the published snapshot (`reading`), and the first cursor waits for it.
        self._copied: BaseException | None = None
        self._copying = threading.Thread(target=self._copy, name="radar-snapshot-copy", daemon=True)
        self._copying.start()

    def _copy(self) -> None:
        try:
            if self.base is not None:
                snapshots.copy_generation(self.base, self.path)
        except BaseException as exc:  # noqa: BLE001 - raised where the copy is first needed
            self._copied = exc

    @property
    def _con(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            with self._opening:
                if self._connection is None:
                    self._open()
        assert self._connection is not None
        return self._connection

    @_con.setter
    def _con(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    def _open(self) -> None:
        """Wait for the copy, then open it to write (the base reader is no longer needed)."""
        self._copying.join()
        self._close_base_reader()
        try:
            if self._copied is not None:
                raise self._copied
            super().__init__(self.path, read_only=False, generation=snapshots.generation_of(self.path))
        except BaseException:
            self.abort()
            raise

    def reading(self) -> Warehouse:
        """Before this session has opened its copy: the published snapshot it copies (the same
        bytes: the writer lock keeps anyone else from publishing meanwhile), so reading need
        not wait for the copy; it is closed when the session opens its copy, so read from it
        only before writing. Afterwards, the session itself (it may hold its own writes)."""
        if self._connection is not None or self.closed or self.base is None:
            return self
        if self._base_reader is None:
            try:
                self._base_reader = Warehouse(self.base.path, read_only=True, generation=self.base.generation)
            except WarehouseError:  # an older schema: only the migrated copy can be read
                return self
        return self._base_reader

    def _close_base_reader(self) -> None:
        if self._base_reader is not None:
            with contextlib.suppress(duckdb.Error):
                self._base_reader.close()
            self._base_reader = None

    def commit(self) -> None:
        if self.closed:
            return
        try:
            with self.cursor() as cur:
                cur.execute("CHECKPOINT")
            self._con.close()
            snapshots.publish(self.link, self.path)
        except BaseException:
            snapshots.discard(self.path)
            raise
        finally:
            self.closed = True
            self._lock.release()

    def abort(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._copying.join()
        self._close_base_reader()
        if self._connection is not None:
            with contextlib.suppress(duckdb.Error):
                self._connection.close()
        snapshots.discard(self.path)
        self._lock.release()

    close = commit


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _checkpoint_plain_file(link: Path) -> None:
    """A warehouse from before snapshots may have a write-ahead log; fold it into the file
    before the file is copied, so the copy is complete."""
    if link.exists() and not link.is_symlink() and link.with_name(link.name + ".wal").exists():
        try:
            with duckdb.connect(str(link)) as con:
                con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise _wrap(exc, link) from exc


_instances_lock = threading.RLock()
_sessions: dict[Path, WriteSession] = {}  # the process's open write, per warehouse
_readers: dict[Path, Warehouse] = {}  # read-only connections, per snapshot file
READERS_KEPT = 3


def get_warehouse(data_dir: str | Path | None = None, read_only: bool = False) -> Warehouse:
    """The warehouse of a data dir.

    `read_only=True`: the latest published snapshot, opened read-only (cheap after the first
    call; resolve it once per request and pass it down). In a process that has an open write
    (a CLI command mid-run, a test), that write, so a command reads what it wrote.

    `read_only=False`: this process's write session (opened on first call: waits for the
    writer lock, copies the current snapshot). `close_all()` publishes it; an error path
    calls `close_all(commit=False)` to drop it.
    """
    link = config.warehouse_path(data_dir)
    with _instances_lock:
        session = _sessions.get(link)
        if session is not None and not session.closed:
            return session
        if not read_only:
            _sessions[link] = WriteSession(link)
            return _sessions[link]
        return _reader(link)


def _reader(link: Path) -> Warehouse:
    snapshot = snapshots.current(link)
    if snapshot is None:
        raise NotFoundError(
            f"No warehouse at {link}. Create one with `.venv/bin/python -m engine demo` "
            "(demo data) or `.venv/bin/python -m engine ingest TABLE FILE` (your data)."
        )
    reader = _readers.get(snapshot.path)
    if reader is None or reader.closed:
        reader = Warehouse(snapshot.path, read_only=True, generation=snapshot.generation)
        _readers[snapshot.path] = reader
        _forget_old_readers(link)
    return reader


_opening_snapshots: set[Path] = set()  # snapshots a server is opening in the background
_failed_snapshots: set[Path] = set()  # ... whose background opening failed (the next request reports why)


def serving_reader(data_dir: str | Path | None = None) -> Warehouse:
    """For a server answering many requests on one event loop (the API): like
    `get_warehouse(read_only=True)`, but a newly published snapshot is opened in a background
    thread while requests keep reading the previous one, which is whole and was current a
    moment ago. Opening a snapshot of a large book and its first query took 30-75 ms, and
    done inline they stalled every concurrent request once per scoring run."""
    link = config.warehouse_path(data_dir)
    snapshot = snapshots.current(link)
    with _instances_lock:
        session = _sessions.get(link)
        if session is not None and not session.closed:
            return session
        reader = _readers.get(snapshot.path) if snapshot is not None else None
        if reader is not None and not reader.closed:
            return reader
        previous = _newest_reader(link)
        if snapshot is None or previous is None or snapshot.path in _failed_snapshots:
            if snapshot is not None:
                _failed_snapshots.discard(snapshot.path)
            return _reader(link)  # nothing open to fall back on, or the error to show: open it here
        if snapshot.path not in _opening_snapshots:
            _opening_snapshots.add(snapshot.path)
            threading.Thread(
                target=_open_in_background, args=(link, snapshot), name="radar-open-snapshot", daemon=True
            ).start()
        return previous


def _newest_reader(link: Path) -> Warehouse | None:
    mine = [r for p, r in _readers.items() if not r.closed and p.parent == link.parent / snapshots.SNAPSHOT_DIR]
    return max(mine, key=lambda r: r.generation or 0, default=None)


def _open_in_background(link: Path, snapshot: snapshots.Snapshot) -> None:
    try:
        reader = Warehouse(snapshot.path, read_only=True, generation=snapshot.generation)
        with reader.cursor() as cur:  # the first query reads the catalog: pay for it here too
            cur.execute("SELECT count(*) FROM duckdb_tables()").fetchall()
    except Exception:  # noqa: BLE001 - the next request opens it inline and reports why
        with _instances_lock:
            _failed_snapshots.add(snapshot.path)
            _opening_snapshots.discard(snapshot.path)
        return
    with _instances_lock:
        _opening_snapshots.discard(snapshot.path)
        if snapshot.path in _readers and not _readers[snapshot.path].closed:
            reader.close()  # opened meanwhile by another path
            return
        _readers[snapshot.path] = reader
        _forget_old_readers(link)


def _forget_old_readers(link: Path) -> None:
    """Close connections to snapshots several generations old (a page run or request that
    started on one has long finished by then)."""
    mine = sorted(
        (r for p, r in _readers.items() if p.parent == link.parent / snapshots.SNAPSHOT_DIR or p == link),
        key=lambda r: r.generation or 0,
    )
    for old in mine[:-READERS_KEPT]:
        old.close()
        _readers.pop(old.path, None)


@contextmanager
def writing(
    data_dir: str | Path | None = None, purpose: str | None = None, wait: float | None = None
) -> Iterator[Warehouse]:
    """A private write (the app's loads, retrains and rescoring): published when the block
    ends normally, dropped when it raises. Readers, this process's included, see the new
    state only after it is published. `wait`: seconds to wait for another writer
    (default RADAR_WRITE_WAIT_SECONDS)."""
    with _session(data_dir, purpose, wait) as (session, owned):
        yield session
        if owned:
            session.commit()


@contextmanager
def trial(
    data_dir: str | Path | None = None, purpose: str | None = None, wait: float | None = None
) -> Iterator[Warehouse]:
    """A throwaway copy of the latest snapshot to write into (a dry-run load): never published."""
    with _session(data_dir, purpose, wait) as (session, owned):
        yield session
        if owned:
            session.abort()


@contextmanager
def _session(
    data_dir: str | Path | None, purpose: str | None, wait: float | None
) -> Iterator[tuple[WriteSession, bool]]:
    link = config.warehouse_path(data_dir)
    with _instances_lock:
        open_write = _sessions.get(link)
    if open_write is not None and not open_write.closed:  # this process is already writing: join it
        yield open_write, False
        return
    session = WriteSession(link, purpose, private=True, wait=wait)
    try:
        yield session, True
    except BaseException:
        session.abort()
        raise


def close_all(commit: bool = True) -> None:
    """Publish (or with commit=False drop) this process's writes and close every connection."""
    with _instances_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
        readers = list(_readers.values())
        _readers.clear()
    errors = []
    for session in sessions:
        try:
            session.commit() if commit else session.abort()
        except Exception as exc:  # noqa: BLE001 - publish the others, then report
            errors.append(exc)
    for reader in readers:
        with contextlib.suppress(duckdb.Error):
            reader.close()
    if errors:
        raise errors[0]
