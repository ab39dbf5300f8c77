"""The data capability's results are contract models: each survives to_json -> from_json ->
to_json unchanged, and keeps the JSON keys `info --json` and `ingest --json` print."""

from __future__ import annotations

import json
from datetime import date

import pytest
from pydantic import BaseModel

from engine.core.contracts import from_json, to_dict, to_json
from engine.data import health, ingest, warehouse
from engine.data.health import DataHealth, DateProblem, TableSpan, WarehouseStatus
from engine.data.ingest import IngestError, IngestReport, Problem
from tests.test_ingest import CUSTOMERS, HEADER, write


def round_trip(result: BaseModel) -> BaseModel:
    """The result read back from its JSON; its JSON must not change on the way."""
    text = to_json(result)
    again = from_json(type(result), text)
    assert to_json(again) == text
    return again


def scalars(model: BaseModel) -> dict:
    return {k: v for k, v in model.model_dump().items() if isinstance(v, str | int | float | bool | date | None)}


# -- ingest ---------------------------------------------------------------------------------------
def test_a_load_report_round_trips(empty_dir, tmp_path):
    report = ingest.load_file(warehouse.get_warehouse(empty_dir), "customers", write(tmp_path, "c.csv", CUSTOMERS))
    again = round_trip(report)
    assert isinstance(again, IngestReport) and scalars(again) == scalars(report)
    assert again.summary() == report.summary()
    payload = json.loads(to_json(report))
    assert set(payload) == {
        "table",
        "rows_in_file",
        "inserted",
        "updated",
        "unchanged",
        "rejected",
        "problems",
        "source",
        "ignored_columns",
        "notes",
        "problem_count",
        "seconds",
        "checked_only",
    }


def test_a_refused_load_report_and_its_problems_round_trip(empty_dir, tmp_path):
    bad = HEADER + "c1,,gold,,,1.5,2024-01-01,,,,,active,\n"
    with pytest.raises(IngestError) as caught:
        ingest.load_file(warehouse.get_warehouse(empty_dir), "customers", write(tmp_path, "bad.csv", bad))
    report = caught.value.report
    assert report is not None and report.problems == caught.value.problems
    again = round_trip(report)
    assert again.problems == report.problems and again.summary() == report.summary()
    for problem in caught.value.problems:
        back = round_trip(problem)
        assert back == problem and back.text == problem.text
    seats = next(p for p in caught.value.problems if p.column == "seats")
    assert json.loads(to_json(seats)) == {
        "row": 2,
        "column": "seats",
        "value": "1.5",
        "message": "is not a whole number",
        "fix": "seats counts things: give a whole number",
    }


def test_a_whole_file_problem_has_no_row_and_round_trips(empty_dir, tmp_path):
    with pytest.raises(IngestError) as caught:
        ingest.load_file(warehouse.get_warehouse(empty_dir), "customers", write(tmp_path, "c.csv", b"PK\x03\x04x"))
    (problem,) = caught.value.problems
    assert problem.row is None and problem.column is None and problem.fix.startswith("In Excel use Save As")
    assert round_trip(problem) == problem
    assert isinstance(problem, Problem)


# -- health ---------------------------------------------------------------------------------------
@pytest.fixture
def out_of_range(empty_dir):
    """A warehouse holding one customer signed up in 9999 and one usage row from 1899."""
    wh = warehouse.get_warehouse(empty_dir)
    wh.execute(
        "INSERT INTO customers (customer_id, name, plan_tier, signup_date, status) VALUES "
        "('c1', 'Acme', 'growth', DATE '2024-01-01', 'active'), ('c2', 'Future', 'growth', DATE '9999-12-31', 'active')"
    )
    wh.execute("INSERT INTO usage_daily VALUES ('c1', DATE '1899-01-01', 'login', 1, 1, NULL)")
    wh.execute("INSERT INTO usage_daily VALUES ('c1', DATE '2024-03-01', 'login', 3, 1, NULL)")
    return wh


def test_the_datas_today_is_the_event_logs_last_day_not_a_term_booked_after_it(empty_dir):
    """An export's subscription terms and churn dates run past its event log (ChurnSim's last
    terms start the day after its last event): scoring that day would read it as a day with no
    usage for anyone. Without a daily feed, contract dates are all there is, and they count."""
    wh = warehouse.get_warehouse(empty_dir)
    wh.execute(
        "INSERT INTO customers (customer_id, name, plan_tier, signup_date, status, churn_date) VALUES "
        "('c1', 'Acme', 'growth', DATE '2024-01-01', 'active', NULL), "
        "('c2', 'Bolt', 'growth', DATE '2024-01-05', 'churned', DATE '2024-03-02')"
    )
    wh.execute("INSERT INTO subscriptions VALUES ('c1', 'pro', DATE '2024-03-02', DATE '2024-04-02', 10, 1, 1, 0)")
    assert health.data_as_of(wh) == date(2024, 3, 2)  # no event log or tickets: the contract dates
    wh.execute("INSERT INTO usage_daily VALUES ('c1', DATE '2024-03-01', 'login', 3, 1, NULL)")
    assert health.data_as_of(wh) == date(2024, 3, 1)


def test_warehouse_status_round_trips_and_keeps_the_info_keys(out_of_range):
    result = health.status(out_of_range)
    again = round_trip(result)
    assert isinstance(again, WarehouseStatus) and again == result
    assert result.data_as_of == date(2024, 3, 1)  # the 9999 signup does not move the data's today
    assert {(p.table, p.column) for p in result.date_problems} == {
        ("customers", "signup_date"),
        ("usage_daily", "date"),
    }
    assert result.date_warning and "customers.signup_date has 1 row dated after" in result.date_warning
    printed = to_dict(result)
    assert list(printed) == ["schema_version", "data_as_of", "tables", "date_problems", "date_warning", "out_of_step"]
    assert printed["data_as_of"] == "2024-03-01"
    assert set(printed["tables"][0]) == {"table", "rows", "first", "last"}
    assert set(printed["date_problems"][0]) == {
        "table",
        "column",
        "rows",
        "lowest",
        "highest",
        "accepted_from",
        "accepted_to",
    }


def test_date_problem_and_table_span_round_trip(out_of_range):
    for problem in health.date_problems(out_of_range):
        assert isinstance(round_trip(problem), DateProblem)
        assert round_trip(problem).describe() == problem.describe()
    for span in health.status(out_of_range).tables:
        assert isinstance(round_trip(span), TableSpan)


def test_data_health_round_trips(generated_dir):
    report = health.data_health(warehouse.get_warehouse(generated_dir, read_only=True))
    again = round_trip(report)
    assert isinstance(again, DataHealth)
    assert again.data_as_of == report.data_as_of and again.date_warning == report.date_warning
    assert again.tables["table"].tolist() == report.tables["table"].tolist()
    assert again.nulls["nulls"].tolist() == report.nulls["nulls"].tolist()
    payload = json.loads(to_json(report))
    assert set(payload) == {"data_as_of", "as_of_from", "tables", "nulls", "date_warning"}
    assert set(payload["tables"][0]) == {"table", "rows", "first", "last", "days_behind", "stale", "note"}


# -- the demo generator -------------------------------------------------------------------------------
def test_the_generate_report_round_trips(tmp_path):
    from engine.data import demo
    from engine.data.demo import GenerateReport

    report = demo.generate(warehouse.get_warehouse(tmp_path / "small"), customers=30, seed=1, end=date(2026, 6, 30))
    again = round_trip(report)
    assert isinstance(again, GenerateReport) and again == report
    assert report.row_counts["customers"] == 30 and report.start < report.end
