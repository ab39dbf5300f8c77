"""A SaaS company's exports, simulated by a program this project did not write.

fightchurn's ChurnSim (Carl Gold, "Fighting Churn with Data"; `fightchurn==1.2.0`) is
run offline with its `socialnet7` configuration (its own default, the book's dataset;
`config="crm6"` or `"crm5"` selects another): its own behaviour model (log-normal event
rates per account and channel), utility model (churn, upgrades, downgrades, add-ons,
billing periods, discounts) and simulation loop (`ChurnSimulation.simulate_customer`)
decide who signs up, what they do, what they pay and when they leave. In socialnet7 an
account's monthly churn chance falls with the events it has had since signup (each
type's count relative to the population's monthly mean, saturating; unfriends, ad views
and dislikes count against) and with a satisfaction propensity drawn per account, partly
from its age. crm6 is not the default because its churn is essentially unpredictable:
utilities of ~1e4 make utility-driven churn ~0.001 a month next to 0.02 of random churn.
Two things are replaced, neither of which changes what is simulated:

- its PostgreSQL writer (`add_customer_to_database`, `customer_events_subs_to_database`,
  schema set-up and debug queries) collects the rows in memory instead;
- `Customer.generate_events` draws the same quantities (a Poisson count per day and
  behaviour times the day-of-week multiplier times that day's users, plan limits capped
  per month, log-normal values for valued behaviours, the running counts the utility
  model reads) with numpy arrays per month instead of one Python tuple per event: the
  original takes ~0.6 s per account-year, which would keep a few hundred accounts out
  of the test suite. Draws come in a different order, so rows are not the original's
  byte for byte; the distributions are the same.

What is written is what a SaaS company would export (no column named for this project):

- `accounts.csv`: customer_id, signup_date, channel, country, date_of_birth (ChurnSim's
  account table; "date of birth" is the account's age, which the simulator makes matter)
- `subscriptions.csv`: customer_id, product, start_date, end_date, mrr, quantity,
  bill_period_months, discount, one row per product and billing term as ChurnSim writes
  them (its writer adds every add-on row for every account; kept as the source does it)
- `events.parquet`: customer_id, timestamp, event_type, user_id, value (value only for
  the valued behaviours, otherwise null)

Deterministic per seed. `python -m tests.foreign.churnsim OUT_DIR --accounts N --months M [--config crm6]`.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import tempfile
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dateutil.relativedelta import relativedelta

CONFIG = "socialnet7"
DEFAULT_END = date(2025, 12, 1)  # every annual term that started by then has ended by 2026-12
FILES = ("accounts.csv", "subscriptions.csv", "events.parquet")
CHANCES = "churn_chances.csv"


@dataclass
class _Collected:
    """Rows the patched writer keeps instead of sending them to PostgreSQL."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[tuple] = field(default_factory=list)
    events: list[dict[str, np.ndarray]] = field(default_factory=list)
    # (customer_id, month end, the simulator's churn chance there, churn intents so far this
    # term, its next renewal, its billing period in months): the oracle, never exported
    chances: list[tuple[int, date, float, int, date, int]] = field(default_factory=list)


def _import_churnsim() -> types.ModuleType:
    """fightchurn.churnsim.churnsim imports its PostgreSQL drivers at module level. The
    simulation never reaches them here (the writer is replaced), so when they are not
    installed, empty stand-ins let the module import; nothing of theirs is ever called."""
    for name in ("psycopg2", "postgres"):
        try:
            __import__(name)
        except ImportError:
            stand_in = types.ModuleType(name)
            stand_in.Postgres = None  # type: ignore[attr-defined]
            sys.modules[name] = stand_in
    from fightchurn.churnsim import churnsim

    return churnsim


def _vector_events(self, start_date: date, end_date: date) -> list:
    """ChurnSim's Customer.generate_events for [start_date, end_date), drawn per month
    with arrays (see the module docstring). Same side effects: `event_counts` (what the
    utility model reads) and `events` (one chunk of arrays per call)."""
    days = (end_date - start_date).days
    if self.event_counts is None:
        self.reset_event_counts()
    if days <= 0:
        return self.event_counts
    dates = [start_date + relativedelta(days=i) for i in range(days)]
    dow = np.array([type(self).get_day_multiplier(d, self.args) for d in dates])
    rates = self.behavior_rates
    names = rates["behavior"].to_numpy()
    positions = rates.index.to_numpy()  # the original indexes event_counts and event types by these
    if self.users is None:
        users_today = np.ones(days, dtype=np.int64)
    else:
        users_today = np.rint(dow * np.random.poisson(self.users, size=days)).astype(np.int64)
        if "users" in self.limits:
            users_today = np.minimum(users_today, int(self.limits["users"]))
    draws = np.random.poisson(rates["daily_rate"].to_numpy(dtype=float), size=(days, len(names)))
    counts = np.rint(dow[:, None] * draws * users_today[:, None]).astype(np.int64)
    for col, name in enumerate(names):
        if name in self.limits:  # a plan limit caps the month's running total
            capped = np.minimum(np.cumsum(counts[:, col]), int(self.limits[name]))
            counts[:, col] = np.diff(capped, prepend=0)
    day_idx, col_idx = np.nonzero(counts)
    reps = counts[day_idx, col_idx]
    ev_day = np.repeat(day_idx, reps)
    ev_col = np.repeat(col_idx, reps)
    n = len(ev_day)
    seconds = np.random.randint(0, 86400, size=n)
    users = users_today[ev_day]
    user_id = (np.random.random(n) * np.maximum(users, 1)).astype(np.int64) if self.users is not None else np.zeros(n)
    values = np.full(n, np.nan)
    mean_values = rates["mean_value"].to_numpy()
    for col in range(len(names)):
        sel = ev_col == col
        valued = mean_values[col] is not None and not pd.isna(mean_values[col])
        if valued and sel.any():
            values[sel] = np.round(np.exp(np.random.normal(np.log(float(mean_values[col])), size=int(sel.sum()))), 2)
            self.event_counts[positions[col]] += float(values[sel].sum())
        elif not valued:
            self.event_counts[positions[col]] += int(sel.sum())
    if self.users is not None:
        self.event_counts[-1] = int(math.ceil((self.event_counts[-1] + int(users_today.sum())) / days))
    start = np.datetime64(start_date, "s")
    self.events.append(
        {
            "timestamp": start + ev_day.astype("timedelta64[D]") + seconds.astype("timedelta64[s]"),
            "event_index": positions[ev_col].astype(np.int16),
            "user_id": user_id.astype(np.int32),
            "value": values,
        }
    )
    return self.event_counts


def _offline_class(churnsim: types.ModuleType, collected: _Collected) -> type:
    base = churnsim.ChurnSimulation

    class OfflineSimulation(base):  # type: ignore[misc, valid-type]
        """ChurnSimulation with its database writer replaced by in-memory lists."""

        def first_sim_setup(self, force: bool) -> None:  # no schema to create
            self.remove_tmp_files()

        def sim_rate_debug_query(self) -> None:  # reads PostgreSQL; nothing to read
            return None

        def add_customer_to_database(self, customer) -> None:
            collected.accounts.append(
                {
                    "customer_id": customer.id,
                    "signup_date": customer.start_date,
                    "channel": customer.channel,
                    "country": None if customer.country == "None" else customer.country,
                    "date_of_birth": customer.date_of_birth,
                }
            )

        def customer_month_end(self, customer, next_month):
            # The month end's chance of a churn intent: random (acausal) churn, else the utility
            # model's. Utility is a function of what happened so far (no draws); the customer's
            # kept utility is put back, so the simulation runs exactly as it would unobserved.
            acausal = float(self.args.acausal_churn)
            kept = (customer.current_utility, customer.utility_contribs)
            utility = self.util_mod.utility_function(customer)
            customer.current_utility, customer.utility_contribs = kept
            chance = acausal + (1 - acausal) * float(self.util_mod.churn_probability(utility))
            collected.chances.append(
                (
                    customer.id,
                    next_month,
                    chance,
                    customer.churn_intent_count,
                    customer.next_renewal,
                    customer.bill_period,
                )
            )
            return super().customer_month_end(customer, next_month)

        def customer_events_subs_to_database(self, customer) -> None:
            collected.subscriptions.extend((customer.id, *s) for s in customer.subscriptions)
            for chunk in customer.events:
                collected.events.append({**chunk, "customer_id": np.full(len(chunk["value"]), customer.id)})
            customer.clear_history()

    return OfflineSimulation


def _initial_accounts(accounts: int, months: int, growth: float) -> int:
    """ChurnSim starts with `init_customers` and adds ceil(previous * (1 + growth)) a month;
    the largest start whose total stays within `accounts`."""

    def total(init: int) -> int:
        n_add, count = math.ceil(init * growth), init
        for _ in range(months - 1):
            count += n_add
            n_add = math.ceil(n_add * (1 + growth))
        return count

    init = max(1, accounts)
    while init > 1 and total(init) > accounts:
        init -= 1
    return init


@contextlib.contextmanager
def _sandbox(work: Path, customer_cls: type) -> Iterator[None]:
    """ChurnSim keeps its id counter in a file in the system temp dir, a class-level cache
    of day multipliers and writes config copies to $CHURN_OUT_DIR: all three are pointed at
    a private folder for the run and put back afterwards, so runs are independent."""
    saved = (customer_cls.ID_FILE, customer_cls.ID_LOCK_FILE, customer_cls.date_multipliers)
    saved_events, saved_env = customer_cls.generate_events, os.environ.get("CHURN_OUT_DIR")
    customer_cls.ID_FILE, customer_cls.ID_LOCK_FILE = str(work / "ids.txt"), str(work / "ids.lock")
    customer_cls.date_multipliers = {}
    customer_cls.generate_events = _vector_events
    os.environ["CHURN_OUT_DIR"] = str(work)
    try:
        yield
    finally:
        customer_cls.ID_FILE, customer_cls.ID_LOCK_FILE, customer_cls.date_multipliers = saved
        customer_cls.generate_events = saved_events
        if saved_env is None:
            os.environ.pop("CHURN_OUT_DIR", None)
        else:
            os.environ["CHURN_OUT_DIR"] = saved_env


def simulate(
    accounts: int, months: int, seed: int, end: date = DEFAULT_END, config: str = CONFIG
) -> tuple[pd.DataFrame, ...]:
    """(accounts, subscriptions, events, churn chances) frames of one simulated company; the
    chances (`oracle`) are the simulator's own and are not part of the exports."""
    churnsim = _import_churnsim()
    from fightchurn.churnsim.customer import Customer
    from hydra import compose, initialize_config_dir

    start = end - relativedelta(months=months)
    conf_dir = str(Path(churnsim.__file__).parent / "conf")
    with initialize_config_dir(config_dir=conf_dir, version_base=None):
        cfg = compose(config_name=config)
    init = _initial_accounts(accounts, months, float(cfg.growth_rate))
    with initialize_config_dir(config_dir=conf_dir, version_base=None):
        cfg = compose(
            config_name=config,
            overrides=[
                f"init_customers={init}",
                f"start_date={start.isoformat()}",
                f"end_date={end.isoformat()}",
                f"random_seed={seed}",
                "n_parallel=1",
                "dev=False",
            ],
        )
    collected = _Collected()
    with tempfile.TemporaryDirectory() as tmp, _sandbox(Path(tmp), Customer), contextlib.redirect_stdout(None):
        random.seed(seed)
        np.random.seed(seed)
        sim = _offline_class(churnsim, collected)(cfg)  # seeds numpy again from random_seed, as ChurnSim does
        sim.run_simulation(force=True)
        event_names = list(sim.behavior_models[next(iter(sim.behavior_models))].behave_names)
    return (*_frames(collected, event_names, end), _chances(collected))


CHANCE_COLUMNS = ("customer_id", "month_end", "churn_chance", "intents", "next_renewal", "bill_period")


def _chances(collected: _Collected) -> pd.DataFrame:
    return pd.DataFrame(collected.chances, columns=list(CHANCE_COLUMNS))


def oracle(chances: pd.DataFrame, as_of: date, horizon_days: int = 90) -> pd.Series:
    """Per customer, the chance the simulator itself gave of churning in (as_of, as_of +
    horizon]: its churn-intent chance at each month end in the window, played through
    ChurnSim's own term rule (`customer_month_end`): an intent ends the account at its next
    renewal; before it, two intents end a 2-6 month term and three a longer one. A monthly
    account so churns at its first intent (one minus the product of its "no" chances); an
    annual one eight months from renewal hardly can. Month ends the account did not live
    to see take its last chance. An upper bound on what the data can tell: those chances
    also know the events still to come."""
    end = pd.Timestamp(as_of) + pd.Timedelta(days=horizon_days)
    when = pd.to_datetime(chances["month_end"])
    inside = chances[(when > pd.Timestamp(as_of)) & (when <= end)].sort_values(["customer_id", "month_end"])
    out = {cid: _term_churn_chance(rows, end.date()) for cid, rows in inside.groupby("customer_id", sort=False)}
    return pd.Series(out, dtype=float, name="oracle")


def _term_churn_chance(rows: pd.DataFrame, end: date) -> float:
    """One account's chance of churning at its month ends from its first row to `end`, by the
    distribution of its churn intents this term (0, 1, 2, 3 or more)."""
    first = rows.iloc[0]
    months = max(int(first["bill_period"]), 1)
    limit = 2 if months <= 6 else 3  # intents that end a term before its renewal
    intents = np.zeros(4)
    intents[min(int(first["intents"]), 3)] = 1.0
    steps = [
        (_as_date(m), float(c), _as_date(r))
        for m, c, r in rows[["month_end", "churn_chance", "next_renewal"]].itertuples(index=False)
    ]
    last, chance, renewal = steps[-1]
    while (last := last + relativedelta(months=1)) <= end:  # month ends it did not live to see
        if last > renewal:
            renewal += relativedelta(months=months)
        steps.append((last, chance, renewal))
    gone = 0.0
    for month_end, chance, renewal in steps:
        # an intent this month end moves each count up by one (three or more stays three)
        intents = intents * (1 - chance) + np.array([0.0, *intents[:2], intents[2] + intents[3]]) * chance
        if month_end >= renewal:  # renewal: any intent this term ends it; the rest start a new term
            gone += intents[1:].sum()
            intents = np.array([intents[0], 0.0, 0.0, 0.0])
        else:  # mid-term: two intents end a 2-6 month term, three a longer one
            gone += intents[limit:].sum()
            intents[limit:] = 0.0
    return float(gone)


def _as_date(value: Any) -> date:
    return pd.Timestamp(value).date()


def _frames(
    collected: _Collected, event_names: list[str], end: date
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    accounts = pd.DataFrame(collected.accounts)
    subs = pd.DataFrame(
        collected.subscriptions,
        columns=[
            "customer_id",
            "product",
            "start_date",
            "end_date",
            "mrr",
            "quantity",
            "units",
            "bill_period_months",
            "discount",
        ],
    ).drop(columns="units")
    subs["mrr"] = subs["mrr"].astype(float)
    subs["quantity"] = subs["quantity"].astype("Int64")
    subs["bill_period_months"] = subs["bill_period_months"].astype(int)
    subs["discount"] = subs["discount"].astype(float).round(4)
    chunks = collected.events
    events = pd.DataFrame(
        {
            "customer_id": np.concatenate([c["customer_id"] for c in chunks]).astype(np.int64),
            "timestamp": np.concatenate([c["timestamp"] for c in chunks]),
            "event_type": pd.Categorical.from_codes(
                np.concatenate([c["event_index"] for c in chunks]), categories=event_names
            ),
            "user_id": np.concatenate([c["user_id"] for c in chunks]),
            "value": np.concatenate([c["value"] for c in chunks]),
        }
    )
    # ChurnSim simulates each account's last month to its end; an export taken on `end` has none of it
    events = events[events["timestamp"] < pd.Timestamp(end)]
    events = events.sort_values(["timestamp", "customer_id"], kind="stable").reset_index(drop=True)
    return accounts, subs, events


def generate(
    out_dir: str | Path,
    accounts: int = 300,
    months: int = 14,
    seed: int = 7,
    end: date = DEFAULT_END,
    config: str = CONFIG,
) -> dict:
    """Write accounts.csv, subscriptions.csv and events.parquet for one simulated company
    into `out_dir`; returns their paths by name ('accounts', 'subscriptions', 'events')."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc, subs, events, chances = simulate(accounts, months, seed, end, config)
    paths = {name: out / file for name, file in zip(("accounts", "subscriptions", "events"), FILES, strict=True)}
    # The simulator's own churn chances, for benchmarks only (`oracle`): not an export.
    paths["chances"] = out / CHANCES
    chances.to_csv(paths["chances"], index=False)
    acc.to_csv(paths["accounts"], index=False)
    subs.to_csv(paths["subscriptions"], index=False)
    table = pa.Table.from_pandas(events.astype({"event_type": str}), preserve_index=False)
    pq.write_table(table, paths["events"], compression="zstd")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="simulation end (YYYY-MM-DD)")
    parser.add_argument("--config", default=CONFIG, help="ChurnSim configuration (socialnet7, crm6, crm5)")
    args = parser.parse_args()
    paths = generate(args.out_dir, args.accounts, args.months, args.seed, args.end, args.config)
    for name, path in paths.items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
