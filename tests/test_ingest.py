"""Ingestion: validated, atomic, idempotent loads (engine.data.ingest) and the `ingest` CLI command."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from engine import cli
from engine.core import config
from engine.core.errors import BadInputError
from engine.data import ingest
from engine.data.ingest import TABLE_SPECS, IngestError, load_file, load_frame, preview_file
from engine.data.ingest import load as ingest_load
from engine.data.warehouse import TABLES, get_warehouse

CUSTOMERS = """\
customer_id,name,plan_tier,industry,region,seats,signup_date,contract_end_date,billing_cycle,csm_owner,gtm_stage,status,churn_date
c1,Acme Corp,growth,software,EMEA,50,2023-01-15,2025-01-15,annual,ana.silva,adoption,active,
c2,Beta LLC,starter,retail,APAC,10,2023-06-01,,monthly,ben.okafor,onboarding,churned,2024-02-01
c3,Gamma AG,enterprise,fintech,North America,400,2022-03-10,2026-03-10,annual,ana.silva,renewal,active,
"""
MRR = """\
customer_id,month,mrr,change_type
c1,2024-01-01,2750,new
c1,2024-02-01,3000.5,expansion
c2,2024-01-01,290,churn
"""
USAGE = """\
customer_id,date,event_type,events,active_users
c1,2024-03-01,login,12,5
c1,2024-03-01,report_view,30,
c3,2024-03-02,login,7,3
"""
TICKETS = """\
ticket_id,customer_id,opened_at,closed_at,priority,topic,status,csat,subject
T-1,c1,2024-03-01 09:15:00,2024-03-01 17:00:00,high,billing,closed,4,Invoice wrong
T-2,c3,2024-03-02T10:00:00,,urgent,bug,open,,Export broken
"""
OPPORTUNITIES = """\
opportunity_id,customer_id,stage,opportunity_type,amount,created_date,close_date,owner
O-1,c1,proposal,expansion,12000,2024-02-01,2024-04-30,kara.patel
O-2,c3,negotiation,renewal,96000,2024-01-15,,liam.obrien
"""
SIGNALS = """\
customer_id,as_of,compliance_gap_score,vendor_risk_flags
c1,2024-02-29,0.42,1
c3,2024-02-29,0.1,0
"""
SUBSCRIPTIONS = """\
customer_id,product,start_date,end_date,mrr,quantity,bill_period_months,discount
c1,core,2023-01-15,,2750,50,annual,0.1
c3,core,2022-03-10,,9000,400,12,
c3,analytics,2023-05-01,2024-02-01,500,1,monthly,
"""
CHILDREN = {  # subscriptions derive mrr_history, so they are loaded on their own (test_subscriptions.py)
    "mrr_history": MRR,
    "usage_daily": USAGE,
    "support_tickets": TICKETS,
    "gtm_opportunities": OPPORTUNITIES,
    "risk_signals": SIGNALS,
}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def checksum(wh) -> dict[str, tuple]:
    """Row count and an order-independent hash of every row, per table."""
    return {
        table: tuple(wh.rows(f"SELECT count(*), coalesce(sum(hash(x::VARCHAR)::HUGEINT), 0) FROM {table} x")[0])
        for table in TABLES
    }


@pytest.fixture
def loaded(empty_dir, tmp_path):
    """A small warehouse holding the three customers and one file for every child table."""
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    for table, text in CHILDREN.items():
        load_file(wh, table, write(tmp_path, f"{table}.csv", text))
    return wh


# -- specs --------------------------------------------------------------------------------------
def test_table_specs_cover_the_warehouse_schema(empty_dir):
    wh = get_warehouse(empty_dir)
    assert set(TABLE_SPECS) == set(TABLES) - set(ingest.NOT_LOADABLE)
    assert set(ingest.NOT_LOADABLE) == {"predictions", "ground_truth", "customer_attributes"}
    for table, spec in TABLE_SPECS.items():
        schema = wh.df(
            "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        )
        assert list(spec.names) == schema["column_name"].tolist(), table
        not_null = set(schema.loc[schema["is_nullable"] == "NO", "column_name"])
        derived = {c.name for c in spec.columns if c.derived}
        assert not_null <= set(spec.required) | derived, f"{table}: NOT NULL columns must be required or derived"
        assert set(spec.key) <= set(spec.required)


def test_identifiers_outside_the_allow_list_are_refused():
    assert ingest_load.ident("customers") == '"customers"'
    with pytest.raises(ValueError):
        ingest_load.ident('customers"; DROP TABLE customers; --')


# -- good loads --------------------------------------------------------------------------------
def test_customers_then_children_load_with_types_and_counts(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    report = load_file(wh, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    assert (report.table, report.rows_in_file, report.inserted, report.updated, report.unchanged, report.rejected) == (
        "customers",
        3,
        3,
        0,
        0,
        0,
    )
    assert report.problems == []
    for table, text in CHILDREN.items():
        rows = len(text.strip().splitlines()) - 1
        report = load_file(wh, table, write(tmp_path, f"{table}.csv", text))
        assert (report.inserted, report.updated, report.unchanged) == (rows, 0, 0), table
    counts = wh.table_counts()
    assert counts == {
        "customers": 3,
        "customer_attributes": 0,
        "subscriptions": 0,
        "mrr_history": 3,
        "usage_daily": 3,
        "support_tickets": 2,
        "gtm_opportunities": 2,
        "risk_signals": 2,
        "predictions": 0,
        "ground_truth": 0,
    }
    c2 = wh.df("SELECT * FROM customers WHERE customer_id = 'c2'").iloc[0]
    assert c2["signup_date"] == pd.Timestamp("2023-06-01") and c2["churn_date"] == pd.Timestamp("2024-02-01")
    assert pd.isna(c2["contract_end_date"]) and c2["seats"] == 10
    assert wh.scalar("SELECT mrr FROM mrr_history WHERE month = DATE '2024-02-01'") == 3000.5
    assert wh.scalar("SELECT active_users FROM usage_daily WHERE event_type = 'report_view'") is None
    ticket = wh.rows("SELECT opened_at, closed_at, csat FROM support_tickets WHERE ticket_id = 'T-2'")[0]
    assert ticket == (datetime(2024, 3, 2, 10, 0), None, None)
    types = dict(
        wh.rows("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'support_tickets'")
    )
    assert types["opened_at"] == "TIMESTAMP"


def test_values_are_stripped_normalised_and_empty_is_null(empty_dir, tmp_path):
    text = (
        " Customer_ID , NAME ,plan_tier,seats,signup_date,status,region\n"
        '  c9 ,  Delta Co  , Enterprise ," 1,200 ",2024-05-01 00:00:00, ACTIVE ,NA\n'
        "c10,Echo,starter,,2024-05-02,active,\n"
    )
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "c.csv", text))
    rows = wh.rows(
        "SELECT customer_id, name, plan_tier, seats, signup_date, status, region FROM customers ORDER BY customer_id"
    )
    assert rows == [
        ("c10", "Echo", "starter", None, date(2024, 5, 2), "active", None),
        ("c9", "Delta Co", "Enterprise", 1200, date(2024, 5, 1), "active", "NA"),  # "NA" is text in a text column
    ]


def test_semicolon_and_tab_separated_files_are_sniffed(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    report = load_file(wh, "customers", write(tmp_path, "semi.csv", CUSTOMERS.replace(",", ";")))
    assert report.inserted == 3
    assert "';'-separated" in report.summary()
    mrr = "customer_id\tmonth\tmrr\tchange_type\nc1\t2024-01-01\t12.5\tnew\n"
    report = load_file(wh, "mrr_history", write(tmp_path, "mrr.tsv", mrr))
    assert report.inserted == 1
    assert wh.scalar("SELECT mrr FROM mrr_history") == 12.5


def test_utf8_bom_and_non_ascii_names_load(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    text = "customer_id,name,plan_tier,signup_date,status\nc1,Café Zürich,growth,2024-01-01,active\n"
    load_file(wh, "customers", write(tmp_path, "bom.csv", "\ufeff".encode() + text.encode("utf-8")))
    assert wh.scalar("SELECT name FROM customers") == "Café Zürich"


def test_thousands_separators_are_accepted_in_comma_files(loaded, tmp_path):
    text = 'customer_id,month,mrr,change_type\nc3,2024-01-01,"1,234.50",new\n'
    load_file(loaded, "mrr_history", write(tmp_path, "m.csv", text))
    assert loaded.scalar("SELECT mrr FROM mrr_history WHERE customer_id = 'c3'") == 1234.5


def test_month_is_normalised_to_the_first_of_the_month(loaded, tmp_path):
    text = "customer_id,month,mrr,change_type\nc3,2024-03-15,100,new\nc3,2024-04,110,expansion\n"
    report = load_file(loaded, "mrr_history", write(tmp_path, "m.csv", text))
    assert report.inserted == 2
    assert "Moved 1 month value to the first day of their month" in report.summary()
    months = [r[0] for r in loaded.rows("SELECT month FROM mrr_history WHERE customer_id = 'c3' ORDER BY month")]
    assert months == [date(2024, 3, 1), date(2024, 4, 1)]


def test_timestamps_accept_iso_forms_and_convert_offsets_to_utc(loaded, tmp_path):
    text = (
        "ticket_id,customer_id,opened_at,priority,status\n"
        "T-10,c1,2024-03-01,low,open\n"
        "T-11,c1,2024-03-01 08:30,low,open\n"
        "T-12,c1,2024-03-01T08:30:15.250Z,low,open\n"
        "T-13,c1,2024-03-02T01:00:00+02:00,low,pending\n"
    )
    load_file(loaded, "support_tickets", write(tmp_path, "t.csv", text))
    got = dict(loaded.rows("SELECT ticket_id, opened_at FROM support_tickets WHERE ticket_id LIKE 'T-1_'"))
    assert got == {
        "T-10": datetime(2024, 3, 1),
        "T-11": datetime(2024, 3, 1, 8, 30),
        "T-12": datetime(2024, 3, 1, 8, 30, 15, 250000),
        "T-13": datetime(2024, 3, 1, 23, 0),
    }


# -- idempotence and updates ---------------------------------------------------------------------
def test_loading_the_same_file_twice_changes_nothing(loaded, tmp_path):
    before = checksum(loaded)
    for table, text in {"customers": CUSTOMERS, **CHILDREN}.items():
        rows = len(text.strip().splitlines()) - 1
        report = load_file(loaded, table, write(tmp_path, f"again_{table}.csv", text))
        assert (report.inserted, report.updated, report.unchanged, report.rejected) == (0, 0, rows, 0), table
    assert checksum(loaded) == before


def test_one_changed_row_is_updated_and_a_new_row_inserted(loaded, tmp_path):
    changed = CUSTOMERS.replace("c1,Acme Corp,growth,software,EMEA,50", "c1,Acme Corp,growth,software,EMEA,75")
    changed += "c4,Delta,starter,media,LATAM,3,2024-01-01,,monthly,,onboarding,active,\n"
    report = load_file(loaded, "customers", write(tmp_path, "changed.csv", changed))
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 2)
    assert loaded.scalar("SELECT seats FROM customers WHERE customer_id = 'c1'") == 75
    assert loaded.scalar("SELECT count(*) FROM customers") == 4
    # Other columns of the updated row are untouched.
    assert loaded.scalar("SELECT csm_owner FROM customers WHERE customer_id = 'c1'") == "ana.silva"


def test_missing_optional_columns_keep_existing_values_and_are_null_for_new_rows(loaded, tmp_path):
    text = (
        "customer_id,name,plan_tier,signup_date,status\n"
        "c1,Acme Corporation,growth,2023-01-15,active\n"  # renamed: updated
        "c3,Gamma AG,enterprise,2022-03-10,active\n"  # same in the columns given: unchanged
        "c5,Echo,starter,2024-02-02,active\n"  # new
    )
    report = load_file(loaded, "customers", write(tmp_path, "partial.csv", text))
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 1)
    c1 = loaded.df("SELECT * FROM customers WHERE customer_id = 'c1'").iloc[0]
    assert c1["name"] == "Acme Corporation"
    assert (c1["csm_owner"], c1["seats"], c1["region"]) == ("ana.silva", 50, "EMEA")  # kept
    c5 = loaded.df("SELECT * FROM customers WHERE customer_id = 'c5'").iloc[0]
    assert pd.isna(c5["csm_owner"]) and pd.isna(c5["seats"]) and pd.isna(c5["churn_date"])


def test_an_empty_cell_in_a_present_column_clears_the_value(loaded, tmp_path):
    text = "customer_id,name,plan_tier,signup_date,status,csm_owner\nc1,Acme Corp,growth,2023-01-15,active,\n"
    report = load_file(loaded, "customers", write(tmp_path, "clear.csv", text))
    assert report.updated == 1
    assert loaded.scalar("SELECT csm_owner FROM customers WHERE customer_id = 'c1'") is None


def test_cross_column_rules_use_the_existing_value_of_an_absent_column(loaded, tmp_path):
    # c2 is churned with a churn_date in the warehouse: a file without churn_date keeps it, so this is fine.
    ok = "customer_id,name,plan_tier,signup_date,status\nc2,Beta LLC,starter,2023-06-01,churned\n"
    assert load_file(loaded, "customers", write(tmp_path, "ok.csv", ok)).unchanged == 1
    # A new churned customer has no churn_date anywhere: refused.
    bad = ok + "c7,New One,starter,2024-01-01,churned\n"
    before = checksum(loaded)
    with pytest.raises(IngestError) as caught:
        load_file(loaded, "customers", write(tmp_path, "bad.csv", bad))
    assert "row 3, column churn_date: status is 'churned' but churn_date is empty" in str(caught.value)
    assert "the file has no churn_date column" in str(caught.value)
    # Moving c2's signup after its existing churn date is refused too.
    later = "customer_id,name,plan_tier,signup_date,status\nc2,Beta LLC,starter,2024-06-01,churned\n"
    with pytest.raises(IngestError, match="churn_date 2024-02-01 is before signup_date 2024-06-01"):
        load_file(loaded, "customers", write(tmp_path, "later.csv", later))
    assert checksum(loaded) == before


def test_generated_data_round_trips_unchanged(data_dir_copy, tmp_path):
    wh = get_warehouse(data_dir_copy)
    before = checksum(wh)
    for table in ("customers", "mrr_history", "support_tickets", "risk_signals"):
        frame = wh.df(f"SELECT * FROM {table}")
        path = tmp_path / f"{table}.csv"
        frame.to_csv(path, index=False)
        report = load_file(wh, table, path)
        assert (report.inserted, report.updated, report.unchanged) == (0, 0, len(frame)), table
    assert checksum(wh) == before


# -- mapping, parquet, frames -----------------------------------------------------------------------
def test_mapping_renames_file_columns_and_extra_columns_are_reported(empty_dir, tmp_path):
    text = "account_id,company,tier,start,state,favourite_colour\na1,Acme,growth,2024-01-01,active,blue\n"
    wh = get_warehouse(empty_dir)
    mapping = {
        "customer_id": "account_id",
        "name": "company",
        "plan_tier": "TIER",
        "signup_date": "start",
        "status": "state",
    }
    report = load_file(wh, "customers", write(tmp_path, "m.csv", text), mapping)
    assert report.inserted == 1
    # An extra column of a customers file is a custom attribute, not ignored (test_ingest_customers).
    assert report.ignored_columns == []
    assert "Kept 1 custom attribute: favourite_colour (category)" in report.summary()
    assert wh.rows("SELECT customer_id, name, plan_tier FROM customers") == [("a1", "Acme", "growth")]


def test_parquet_input_loads_typed_columns_and_reloads_unchanged(loaded, tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c3"],
            "date": pd.to_datetime(["2024-03-05", "2024-03-05"]),
            "event_type": ["api_call", "api_call"],
            "events": pd.array([1000, 0], dtype="Int64"),
            "active_users": [3.0, None],
        }
    )
    path = tmp_path / "usage.parquet"
    frame.to_parquet(path)
    report = load_file(loaded, "usage_daily", path)
    assert report.inserted == 2
    got = loaded.rows(
        "SELECT customer_id, date, events, active_users FROM usage_daily "
        "WHERE event_type = 'api_call' ORDER BY customer_id"
    )
    assert got == [("c1", date(2024, 3, 5), 1000, 3), ("c3", date(2024, 3, 5), 0, None)]
    assert load_file(loaded, "usage_daily", path).unchanged == 2


def test_load_frame_accepts_python_objects_and_names_its_source(loaded):
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c3"],
            "as_of": [date(2024, 3, 31), date(2024, 3, 31)],
            "compliance_gap_score": [0.5, 0.25],
            "vendor_risk_flags": [2, 0],
        }
    )
    report = load_frame(loaded, "risk_signals", frame, source="signals.csv")
    assert report.inserted == 2 and report.source == "signals.csv"
    bad = frame.assign(compliance_gap_score=[0.5, 1.5])
    with pytest.raises(IngestError, match=r"row 3, column compliance_gap_score: '1.5' is above 1"):
        load_frame(loaded, "risk_signals", bad, source="signals.csv")


def test_load_frame_converts_time_zone_aware_timestamps_to_utc(loaded):
    frame = pd.DataFrame(
        {
            "ticket_id": ["T-50"],
            "customer_id": ["c1"],
            "opened_at": pd.to_datetime(["2024-03-02 01:00"]).tz_localize("Europe/Berlin"),
            "priority": ["low"],
            "status": ["open"],
        }
    )
    load_frame(loaded, "support_tickets", frame)
    assert loaded.scalar("SELECT opened_at FROM support_tickets WHERE ticket_id = 'T-50'") == datetime(2024, 3, 2, 0, 0)


def test_preview_reads_like_load_without_validation(tmp_path):
    path = write(tmp_path, "semi.csv", CUSTOMERS.replace(",", ";"))
    preview = preview_file(path, n=2)
    assert list(preview.columns)[:3] == ["customer_id", "name", "plan_tier"]
    assert len(preview) == 2
    assert pd.api.types.is_string_dtype(preview["seats"])  # text: no validation
    with pytest.raises(IngestError, match="not UTF-8"):
        preview_file(write(tmp_path, "latin.csv", "name\nCaf\xe9\n".encode("latin-1")))


# -- event logs ---------------------------------------------------------------------------------------
EVENT_LOG = """\
customer_id,timestamp,event_type,user_id
c1,2024-03-01 09:00:00,login,u1
c1,2024-03-01 09:00:00,login,u1
c1,2024-03-01 10:00:00,login,u1
c1,2024-03-01 11:00:00,login,u2
c1,2024-03-02T01:30:00+02:00,login,u3
c1,2024-03-01 12:00:00,report_view,u1
c1,2024-03-02 08:00:00,login,u3
c3,2024-03-01 08:00:00,login,
"""


def test_event_log_rolls_up_into_usage_daily_and_replaces_those_days(loaded, tmp_path):
    # The fixture's totals for (c1, 2024-03-01, login / report_view) are replaced; other keys are left alone.
    # Replacing needs --mode replace-days now (issue 14): the default, new-days, refuses days already loaded
    # (tests/test_events.py holds the modes' own tests).
    path = write(tmp_path, "events.csv", EVENT_LOG)
    with pytest.raises(IngestError, match="already have totals"):
        load_file(loaded, "events", path)
    report = ingest.events.load_events(loaded, path, mode="replace-days")
    assert report.table == "usage_daily" and report.rows_in_file == 8
    got = loaded.rows(
        "SELECT customer_id, date, event_type, events, active_users FROM usage_daily "
        "WHERE date BETWEEN DATE '2024-03-01' AND DATE '2024-03-02' ORDER BY ALL"
    )
    assert got == [
        # 09:00 twice (identical events both count), 10:00, 11:00 and 2024-03-02T01:30+02:00
        # (= 03-01 23:30 UTC); users u1, u2, u3.
        ("c1", date(2024, 3, 1), "login", 5, 3),  # replaces the earlier 12 events / 5 users
        ("c1", date(2024, 3, 1), "report_view", 1, 1),  # replaces the earlier 30 events
        ("c1", date(2024, 3, 2), "login", 1, 1),
        ("c3", date(2024, 3, 1), "login", 1, None),  # no user id on that day
        ("c3", date(2024, 3, 2), "login", 7, 3),  # not in the log: untouched
    ]
    assert (report.inserted, report.updated, report.unchanged) == (2, 2, 0)
    assert "Rolled up 8 events into 4 usage_daily rows" in report.summary()
    assert loaded.scalar("SELECT count(*) FROM usage_daily") == 5
    again = ingest.events.load_events(loaded, write(tmp_path, "events2.csv", EVENT_LOG), mode="replace-days")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)


def test_event_log_without_user_id_leaves_active_users_null(loaded, tmp_path):
    log = "customer_id,timestamp,event_type\nc1,2024-04-01 09:00,login\nc1,2024-04-01 10:00,login\n"
    load_file(loaded, "events", write(tmp_path, "e.csv", log))
    assert loaded.rows("SELECT events, active_users FROM usage_daily WHERE date = DATE '2024-04-01'") == [(2, None)]


def test_event_log_with_unknown_customer_or_bad_timestamp_is_refused(loaded, tmp_path):
    before = checksum(loaded)
    log = "customer_id,timestamp,event_type\nc1,2024-04-01 09:00,login\nghost,2024-04-01 10:00,login\nc1,yesterday,x\n"
    with pytest.raises(IngestError) as caught:
        load_file(loaded, "events", write(tmp_path, "e.csv", log))
    message = str(caught.value)
    assert "load customers first: 1 customer id is unknown, e.g. ghost." in message  # one message, not one per row
    assert "row 4, column timestamp: 'yesterday' is not a date-time" in message
    assert checksum(loaded) == before


# -- refusals: nothing written --------------------------------------------------------------------------
GOOD_NEW = "c8,Fresh,starter,,,1,2024-01-01,,,,,active,\n"  # a valid new row rides along in every bad file
HEADER = CUSTOMERS.splitlines()[0] + "\n"

BAD_INPUTS = {
    "missing required column": (
        "customers",
        "c.csv",
        "customer_id,name,status\nc8,Fresh,active\n",
        None,
        [
            "missing required column signup_date",
            "Columns found in the file: 'customer_id', 'name'",
            "--map signup_date=FILE_COLUMN",
        ],
    ),
    "unparseable date": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,5,15/03/2024,,,,,active,\n",
        None,
        ["row 3, column signup_date: '15/03/2024' is not in the YYYY-MM-DD format"],
    ),
    "impossible date": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,5,2024-02-30,,,,,active,\n",
        None,
        ["row 3, column signup_date: '2024-02-30' is not a real calendar date"],
    ),
    "unparseable number": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,five,2024-01-01,,,,,active,\n",
        None,
        ["row 3, column seats: 'five' is not a number"],
    ),
    "fraction in an integer column": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,1.5,2024-01-01,,,,,active,\n",
        None,
        ["row 3, column seats: '1.5' is not a whole number"],
    ),
    "value not allowed": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,gold,,,5,2024-01-01,,,,,gone,\n",
        None,
        ["row 3, column status: 'gone' is not an allowed status; use one of: active, churned"],
    ),
    "empty required value": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,5,,,,,,active,\n",
        None,
        ["row 3, column signup_date: is empty, but every row needs a signup_date"],
    ),
    "duplicate key in the file": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + GOOD_NEW,
        None,
        ["row 3, column customer_id: duplicate key (customer_id='c8') also on row 2"],
    ),
    "duplicate composite key": (
        "mrr_history",
        "m.csv",
        "customer_id,month,mrr,change_type\nc1,2024-05-01,1,flat\nc1,2024-05,2,flat\n",
        None,
        ["row 3, column month: duplicate key (customer_id='c1', month='2024-05-01') also on row 2"],
    ),
    "unknown customer in a child table": (
        "mrr_history",
        "m.csv",
        "customer_id,month,mrr,change_type\nc1,2024-05-01,1,flat\nc404,2024-05-01,2,new\n",
        None,
        ["load customers first: 1 customer id is unknown, e.g. c404.", "engine ingest customers FILE"],
    ),
    "negative mrr": (
        "mrr_history",
        "m.csv",
        "customer_id,month,mrr,change_type\nc1,2024-05-01,1,flat\nc3,2024-05-01,-20,new\n",
        None,
        ["row 3, column mrr: '-20' is below 0; mrr cannot be less than 0"],
    ),
    "churn date before signup": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,5,2024-01-01,,,,,churned,2023-12-31\n",
        None,
        ["row 3, column churn_date: churn_date 2023-12-31 is before signup_date 2024-01-01"],
    ),
    "churned without churn date": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + "c9,Bad,growth,,,5,2024-01-01,,,,,churned,\n",
        None,
        ["row 3, column churn_date: status is 'churned' but churn_date is empty"],
    ),
    "ticket closed before opened": (
        "support_tickets",
        "t.csv",
        "ticket_id,customer_id,opened_at,closed_at,priority,status,csat\n"
        "T-9,c1,2024-03-01 10:00,2024-03-01 09:00,low,closed,3\n",
        None,
        ["row 2, column closed_at: closed_at 2024-03-01 09:00:00 is before opened_at 2024-03-01 10:00:00"],
    ),
    "csat out of range": (
        "support_tickets",
        "t.csv",
        "ticket_id,customer_id,opened_at,priority,status,csat\nT-9,c1,2024-03-01,low,closed,6\n",
        None,
        ["row 2, column csat: '6' is above 5; csat must be between 1 and 5"],
    ),
    "bad month": (
        "mrr_history",
        "m.csv",
        "customer_id,month,mrr,change_type\nc1,March 2024,1,flat\n",
        None,
        ["row 2, column month: 'March 2024' is not a date", "2024-03-01 or 2024-03"],
    ),
    "zero-byte file": ("customers", "c.csv", b"", None, ["c.csv is empty (0 bytes)"]),
    "blank lines only": ("customers", "c.csv", "\n\n  \n", None, ["is empty (only blank lines)"]),
    "header without rows": ("customers", "c.csv", HEADER, None, ["has column names but no data rows"]),
    "not utf-8": (
        "customers",
        "c.csv",
        (HEADER + GOOD_NEW + "c9,Caf\xe9,growth,,,5,2024-01-01,,,,,active,\n").encode("cp1252"),
        None,
        ["c.csv is not UTF-8 text: line 3 has the byte 0xE9", "Save it as UTF-8"],
    ),
    "utf-16 export": ("customers", "c.csv", HEADER.encode("utf-16"), None, ["is UTF-16 text", "CSV UTF-8"]),
    "excel workbook renamed to csv": ("customers", "c.csv", b"PK\x03\x04rest", None, ["Excel workbook"]),
    "one column: unknown delimiter": (
        "customers",
        "c.csv",
        HEADER.replace(",", ":") + GOOD_NEW.replace(",", ":"),
        None,
        ["missing required columns", "Only one column was found"],
    ),
    "row with more values than the header": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW + GOOD_NEW.replace("c8", "c9").rstrip("\n") + ",extra\n",
        None,
        ["row 3 has 14 values but the header has 13 columns", "double quotes"],
    ),
    "decimal comma in a semicolon file": (
        "mrr_history",
        "m.csv",
        "customer_id;month;mrr;change_type\nc1;2024-05-01;12,5;flat\n",
        None,
        ["row 2, column mrr: '12,5' is not a number here; use a dot for decimals"],
    ),
    "header names a column twice": (
        "customers",
        "c.csv",
        "customer_id,name,name,plan_tier,signup_date,status\nc8,A,B,growth,2024-01-01,active\n",
        None,
        ["names column 'name' twice"],
    ),
    "unknown table": (
        "customer",
        "c.csv",
        HEADER + GOOD_NEW,
        None,
        ["unknown table 'customer'", "customers, subscriptions, mrr_history, usage_daily", "events"],
    ),
    "ground_truth is not loadable": (
        "ground_truth",
        "g.csv",
        "customer_id,as_of,true_churn_prob_90d\nc1,2024-02-29,0.12\n",
        None,
        ["ground_truth holds the demo generator's true churn probabilities", "Tables you can load: customers"],
    ),
    "custom attributes are not loaded on their own": (
        "customer_attributes",
        "a.csv",
        "customer_id,attribute\nc1,x\n",
        None,
        ["extra columns of the customers file"],
    ),
    "predictions are not loadable": ("predictions", "p.csv", "customer_id\nc1\n", None, ["written by the scorer"]),
    "unknown extension": ("customers", "c.xlsx", HEADER + GOOD_NEW, None, ["extension '.xlsx'", "Save As"]),
    "map source not in the file": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW,
        {"name": "company_name"},
        ["The column mapping name=company_name: the file has no column 'company_name'", "Columns found: 'customer_id'"],
    ),
    "map destination not in the table": (
        "customers",
        "c.csv",
        HEADER + GOOD_NEW,
        {"colour": "name"},
        ["customers has no column 'colour'"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_is_refused_and_nothing_changes(case, loaded, tmp_path):
    table, name, content, mapping, expected = BAD_INPUTS[case]
    path = write(tmp_path, name, content)
    before = checksum(loaded)
    with pytest.raises(IngestError) as caught:
        load_file(loaded, table, path, mapping)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert "nothing was written" in message.lower()
    assert isinstance(caught.value, BadInputError)
    assert caught.value.problems and caught.value.report is not None
    if "row " in message and "Row numbers" not in message:
        assert caught.value.problem_count == 1  # single-problem messages are one sentence
    assert checksum(loaded) == before


def test_file_not_found_is_refused(loaded, tmp_path):
    with pytest.raises(IngestError, match="file not found"):
        load_file(loaded, "customers", tmp_path / "nope.csv")


def test_message_lists_twenty_problems_then_counts_the_rest(loaded, tmp_path):
    rows = "".join(f"x{i},C{i},gold,,,lots,2024-01-01,,,,,active,\n" for i in range(30))
    before = checksum(loaded)
    with pytest.raises(IngestError) as caught:
        load_file(loaded, "customers", write(tmp_path, "many.csv", HEADER + GOOD_NEW + rows))
    error = caught.value
    message = str(error)
    assert "30 problems; nothing was written" in message
    assert "header as row 1, so the first data row is row 2" in message
    listed = [line for line in message.splitlines() if line.startswith("  - row ")]
    assert len(listed) == 20
    assert listed[0].startswith("  - row 3, column seats: 'lots'")  # the good row 2 is not listed
    assert message.rstrip().endswith("... and 10 more problems")
    assert error.problem_count == 30 and len(error.problems) == 30
    assert (error.report.rows_in_file, error.report.rejected, error.report.inserted) == (31, 30, 0)
    assert "Refused many.csv for customers: 30 problems in 30 of 31 rows" in error.report.summary()
    assert checksum(loaded) == before


def test_a_failure_during_the_write_rolls_everything_back(loaded, tmp_path, monkeypatch):
    real_merge = ingest_load._merge

    def merge_then_fail(cur, *args):
        real_merge(cur, *args)  # rows are written inside the transaction...
        raise RuntimeError("disk full")  # ...then something breaks

    monkeypatch.setattr(ingest_load, "_merge", merge_then_fail)
    before = checksum(loaded)
    changed = CUSTOMERS.replace(",50,", ",51,") + GOOD_NEW
    with pytest.raises(RuntimeError):
        load_file(loaded, "customers", write(tmp_path, "c.csv", changed))
    assert checksum(loaded) == before


# -- CLI ------------------------------------------------------------------------------------------------
def test_cli_ingest_success_and_json(empty_dir, tmp_path, capsys):
    path = write(tmp_path, "customers.csv", CUSTOMERS)
    assert cli.main(["--data-dir", str(empty_dir), "ingest", "customers", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Loaded customers.csv into customers: 3 rows read; 3 inserted" in out
    assert cli.main(["--data-dir", str(empty_dir), "ingest", "customers", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["inserted"], payload["unchanged"], payload["problems"]) == (0, 3, [])


def test_cli_map_option(empty_dir, tmp_path, capsys):
    path = write(tmp_path, "c.csv", "account,name,plan_tier,signup_date,status\na1,A,growth,2024-01-01,active\n")
    argv = ["--data-dir", str(empty_dir), "ingest", "customers", str(path), "--map", "customer_id=account"]
    assert cli.main(argv) == 0
    assert "1 inserted" in capsys.readouterr().out
    assert get_warehouse(empty_dir).scalar("SELECT customer_id FROM customers") == "a1"


def test_cli_bad_input_exits_2_with_the_message_and_no_traceback(empty_dir, tmp_path, capsys):
    path = write(tmp_path, "c.csv", HEADER + "c1,Acme,growth,,,-3,2024-01-01,,,,,active,\n")
    assert cli.main(["--data-dir", str(empty_dir), "ingest", "customers", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: Could not load c.csv into customers")
    assert "row 2, column seats: '-3' is below 0" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert get_warehouse(empty_dir).scalar("SELECT count(*) FROM customers") == 0
    assert cli.main(["--data-dir", str(empty_dir), "ingest", "nope", str(path)]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err


# -- dates outside reality (issue 12, item 3) -------------------------------------------------------
TODAY = date(2026, 7, 1)
ONE_EVENT = "customer_id,timestamp,event_type,user_id\nc1,2024-04-01 09:00,login,u1\n"
DATE_COLUMNS = [
    (spec.name, col.name, col.type, col.planned)
    for spec in (*TABLE_SPECS.values(), ingest.EVENT_LOG_SPEC)
    for col in spec.columns
    if col.type in (ingest.DATE, ingest.TIMESTAMP)
]


@pytest.fixture
def fixed_today(monkeypatch):
    monkeypatch.setattr(config, "today", lambda: TODAY)
    return TODAY


def _with_value(table: str, column: str, value: str) -> str:
    """The test file for `table` with `column` of its first data row set to `value`."""
    text = (
        CUSTOMERS
        if table == "customers"
        else ONE_EVENT
        if table == "events"
        else SUBSCRIPTIONS
        if table == "subscriptions"
        else CHILDREN[table]
    )
    frame = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
    frame.loc[0, column] = value
    return frame.to_csv(index=False)


def test_every_date_column_is_checked():
    """The columns below are all the date/timestamp columns of every loadable table."""
    assert {(t, c) for t, c, _, _ in DATE_COLUMNS} == {
        ("customers", "signup_date"),
        ("customers", "contract_end_date"),
        ("customers", "churn_date"),
        ("mrr_history", "month"),
        ("usage_daily", "date"),
        ("support_tickets", "opened_at"),
        ("support_tickets", "closed_at"),
        ("gtm_opportunities", "created_date"),
        ("gtm_opportunities", "close_date"),
        ("risk_signals", "as_of"),
        ("subscriptions", "start_date"),
        ("subscriptions", "end_date"),
        ("events", "timestamp"),
    }
    # Only plans may lie ahead: a contract's or subscription's end and an open deal's expected close.
    assert {(t, c) for t, c, _, planned in DATE_COLUMNS if planned} == {
        ("customers", "contract_end_date"),
        ("subscriptions", "end_date"),
        ("gtm_opportunities", "close_date"),
    }


@pytest.mark.parametrize(
    ("table", "column", "kind", "planned"), DATE_COLUMNS, ids=[f"{t}.{c}" for t, c, *_ in DATE_COLUMNS]
)
@pytest.mark.parametrize("value", ["9999-12-31", "1899-12-31"])
def test_dates_outside_reality_are_refused_row_by_row(
    table, column, kind, planned, value, loaded, tmp_path, fixed_today
):
    before = checksum(loaded)
    shown = value if kind == ingest.DATE else f"{value} 00:00:00"
    path = write(tmp_path, f"{table}.csv", _with_value(table, column, value if kind == ingest.DATE else shown))
    with pytest.raises(IngestError) as caught:
        load_file(loaded, table, path)
    message = str(caught.value)
    assert f"row 2, column {column}: '{shown}' " in message, message
    if value.startswith("9999"):
        assert ("10 years ahead" if planned else "is in the future (after 2026-07-02") in message
        assert ("leave" if planned else "remove the row") in message
    else:
        assert "is before 1990-01-01, the earliest date accepted" in message and "RADAR_EARLIEST_DATE" in message
    assert checksum(loaded) == before  # all or nothing: the good rows were not written either


def test_future_dates_are_accepted_within_a_day_of_tolerance(loaded, tmp_path, fixed_today):
    ok = "customer_id,date,event_type,events\nc1,2026-07-01,login,1\nc1,2026-07-02,login,1\n"
    assert load_file(loaded, "usage_daily", write(tmp_path, "u.csv", ok)).inserted == 2
    late = "customer_id,date,event_type,events\nc1,2026-06-30,login,1\nc1,2026-07-03,login,1\n"
    with pytest.raises(IngestError, match=r"row 3, column date: '2026-07-03' is in the future"):
        load_file(loaded, "usage_daily", write(tmp_path, "u2.csv", late))
    log = "customer_id,timestamp,event_type\nc1,2026-07-02T23:59:59,login\nc1,2026-07-03T00:00:00,login\n"
    with pytest.raises(IngestError) as caught:
        load_file(loaded, "events", write(tmp_path, "e.csv", log))
    assert caught.value.problem_count == 1 and "row 3, column timestamp" in str(caught.value)


def test_planned_dates_may_lie_ahead_up_to_ten_years(loaded, tmp_path, fixed_today):
    plans = _with_value("customers", "contract_end_date", "2036-06-30")
    assert load_file(loaded, "customers", write(tmp_path, "c.csv", plans)).updated == 1
    deal = _with_value("gtm_opportunities", "close_date", "2027-03-31")
    assert load_file(loaded, "gtm_opportunities", write(tmp_path, "o.csv", deal)).updated == 1
    # A signup or churn in the future has not happened yet.
    with pytest.raises(IngestError, match="signup_date: '2026-09-01' is in the future"):
        load_file(loaded, "customers", write(tmp_path, "c2.csv", _with_value("customers", "signup_date", "2026-09-01")))


def test_typed_frames_and_parquet_are_checked_too(loaded, tmp_path, fixed_today):
    frame = pd.DataFrame(
        {"customer_id": ["c1", "c3"], "as_of": [pd.Timestamp("2026-05-31"), pd.Timestamp("2100-01-01")]}
    )
    with pytest.raises(IngestError, match=r"row 3, column as_of: '2100-01-01' is in the future"):
        load_frame(loaded, "risk_signals", frame)
    frame = pd.DataFrame(
        {
            "customer_id": ["c1"],
            "timestamp": [datetime(9999, 12, 31, 23, 0)],
            "event_type": ["login"],
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    with pytest.raises(IngestError, match=r"row 2, column timestamp: '9999-12-31 23:00:00' is in the future"):
        load_file(loaded, "events", path)


def test_earliest_date_is_configurable(loaded, tmp_path, fixed_today, monkeypatch):
    old = "customer_id,date,event_type,events\nc1,1985-06-01,login,1\n"
    with pytest.raises(IngestError, match="before 1990-01-01"):
        load_file(loaded, "usage_daily", write(tmp_path, "u.csv", old))
    monkeypatch.setenv("RADAR_EARLIEST_DATE", "1980-01-01")
    assert load_file(loaded, "usage_daily", write(tmp_path, "u.csv", old)).inserted == 1
    monkeypatch.setenv("RADAR_EARLIEST_DATE", "the eighties")
    with pytest.raises(BadInputError, match="RADAR_EARLIEST_DATE is 'the eighties'"):
        load_file(loaded, "usage_daily", write(tmp_path, "u.csv", old))
