"""Subscriptions: loading them derives mrr_history (new / expansion / contraction / churn /
reactivation / flat) and churn dates, in the load's one transaction; unknown customers give
one message. Expectations are computed by hand from the rule in engine.data.ingest.subscriptions."""

from __future__ import annotations

from datetime import date

import pytest

from engine.data.ingest import IngestError, load_file
from engine.data.warehouse import get_warehouse
from tests.test_ingest import checksum, write

CUSTOMERS = """\
customer_id,signup_date
A1,2023-01-01
A2,2023-01-01
A3,2023-03-01
"""
# A1: core Jan-Mar, a gap in April-May, back in June with an add-on July-August: still active.
# A2: one subscription, still running.   A3: ended 2023-05-01.
SUBSCRIPTIONS = """\
customer_id,product,start_date,end_date,mrr,quantity,bill_period_months,discount
A1,core,2023-01-01,2023-04-01,100,1,monthly,
A1,core,2023-06-01,,150,1,annual,0.1
A1,addon,2023-07-01,2023-09-01,50,2,1,
A2,core,2023-01-15,,80,,,
A3,core,2023-03-01,2023-05-01,80,,,
"""
# The data date: the newest activity loaded (a login on 2023-09-01). Subscription end dates
# do not count: an export's last term often ends after the last day it recorded.


@pytest.fixture
def wh(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    wh.execute(
        "INSERT INTO usage_daily (customer_id, date, event_type, events) VALUES ('A2', DATE '2023-09-01', 'login', 1)"
    )
    return wh


def test_a_term_ending_after_the_last_activity_does_not_move_the_data_date(empty_dir, tmp_path):
    """A customer whose paid term runs past the export's last day is active, not churned."""
    wh = get_warehouse(empty_dir)
    load_file(
        wh, "customers", write(tmp_path, "customers.csv", "customer_id,signup_date\nB1,2024-01-01\nB2,2024-01-01\n")
    )
    terms = (
        "customer_id,product,start_date,end_date,mrr\n"
        "B1,core,2024-01-01,2024-07-01,100\n"  # runs to July: active on the data date (June 1)
        "B2,core,2024-06-01,2025-06-01,100\n"  # a yearly term started in June: still running
    )
    load_file(wh, "subscriptions", write(tmp_path, "terms.csv", terms))
    assert wh.rows("SELECT customer_id, status FROM customers ORDER BY 1") == [("B1", "active"), ("B2", "active")]
    assert wh.scalar("SELECT max(month) FROM mrr_history") == date(2024, 6, 1)


def history(wh, customer_id: str) -> list[tuple]:
    return [
        (m.isoformat()[:7], mrr, change)
        for m, mrr, change in wh.rows(
            "SELECT month, mrr, change_type FROM mrr_history WHERE customer_id = ? ORDER BY month", [customer_id]
        )
    ]


def test_subscriptions_derive_monthly_mrr_with_change_types(wh, tmp_path):
    report = load_file(wh, "subscriptions", write(tmp_path, "s.csv", SUBSCRIPTIONS))
    assert (report.inserted, report.rejected) == (5, 0)
    assert history(wh, "A1") == [
        ("2023-01", 100.0, "new"),
        ("2023-02", 100.0, "flat"),
        ("2023-03", 100.0, "flat"),
        ("2023-04", 0.0, "churn"),  # core ended on 04-01: not active on April's first day
        ("2023-06", 150.0, "reactivation"),  # May at 0 has no row
        ("2023-07", 200.0, "expansion"),
        ("2023-08", 200.0, "flat"),
        ("2023-09", 150.0, "contraction"),  # the add-on ended 09-01
    ]
    # Started 01-15: first active on a month's first day in February.
    assert history(wh, "A2")[:2] == [("2023-02", 80.0, "new"), ("2023-03", 80.0, "flat")]
    assert history(wh, "A2")[-1] == ("2023-09", 80.0, "flat")
    assert history(wh, "A3") == [("2023-03", 80.0, "new"), ("2023-04", 80.0, "flat"), ("2023-05", 0.0, "churn")]
    summary = report.summary()
    assert "Derived mrr_history for 3 customers from their subscriptions: 19 monthly rows" in summary
    assert "1 reactivation" in summary and "2 churn" in summary
    assert "Set churn dates from subscriptions: 1 customer churned, 0 active again." in summary


def test_churn_dates_and_status_follow_the_subscriptions(wh, tmp_path):
    load_file(wh, "subscriptions", write(tmp_path, "s.csv", SUBSCRIPTIONS))
    assert wh.rows("SELECT customer_id, status, churn_date FROM customers ORDER BY 1") == [
        ("A1", "active", None),  # churned in April but came back: active on the data date
        ("A2", "active", None),
        ("A3", "churned", date(2023, 5, 1)),
    ]
    # A3 comes back: a new subscription makes it active again, its derived churn date is cleared.
    back = "customer_id,product,start_date,end_date,mrr\nA3,core,2023-08-01,,90\n"
    report = load_file(wh, "subscriptions", write(tmp_path, "back.csv", back))
    assert "0 customers churned, 1 active again" in report.summary()
    assert wh.rows("SELECT status, churn_date FROM customers WHERE customer_id = 'A3'") == [("active", None)]
    assert history(wh, "A3") == [
        ("2023-03", 80.0, "new"),
        ("2023-04", 80.0, "flat"),
        ("2023-05", 0.0, "churn"),
        ("2023-08", 90.0, "reactivation"),
        ("2023-09", 90.0, "flat"),
    ]


def test_a_churn_date_from_the_customers_file_is_kept(empty_dir, tmp_path):
    wh = get_warehouse(empty_dir)
    given = "customer_id,signup_date,churn_date\nA1,2023-01-01,2023-03-15\n"
    load_file(wh, "customers", write(tmp_path, "c.csv", given))
    subs = "customer_id,product,start_date,end_date,mrr\nA1,core,2023-01-01,2023-04-01,100\n"
    load_file(wh, "subscriptions", write(tmp_path, "s.csv", subs))
    assert wh.rows("SELECT status, churn_date FROM customers") == [("churned", date(2023, 3, 15))]


def test_reloading_subscriptions_changes_nothing(wh, tmp_path):
    path = write(tmp_path, "s.csv", SUBSCRIPTIONS)
    load_file(wh, "subscriptions", path)
    before = checksum(wh)
    again = load_file(wh, "subscriptions", path)
    assert checksum(wh) == before
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)


def test_derived_history_replaces_only_the_loaded_customers_rows(wh, tmp_path):
    direct = "customer_id,month,mrr,change_type\nA2,2022-12-01,5,new\nA3,2023-01-01,7,new\n"
    load_file(wh, "mrr_history", write(tmp_path, "m.csv", direct))
    load_file(
        wh, "subscriptions", write(tmp_path, "s.csv", "customer_id,product,start_date,mrr\nA2,core,2023-01-01,80\n")
    )
    assert wh.scalar("SELECT count(*) FROM mrr_history WHERE customer_id = 'A2' AND month = DATE '2022-12-01'") == 0
    assert history(wh, "A3") == [("2023-01", 7.0, "new")]  # not in the subscriptions file: untouched


def test_mrr_history_loaded_directly_accepts_reactivation(wh, tmp_path):
    direct = "customer_id,month,mrr,change_type\nA1,2023-01,10,new\nA1,2023-02,0,churn\nA1,2023-04,12,reactivation\n"
    report = load_file(wh, "mrr_history", write(tmp_path, "m.csv", direct))
    assert report.inserted == 3


def test_unknown_customers_give_one_message_and_nothing_is_written(wh, tmp_path):
    before = checksum(wh)
    rows = "".join(f"Z{i},core,2023-01-01,,10\n" for i in range(7))
    text = "customer_id,product,start_date,end_date,mrr\nA1,core,2023-01-01,,10\n" + rows
    with pytest.raises(IngestError) as caught:
        load_file(wh, "subscriptions", write(tmp_path, "s.csv", text))
    error = caught.value
    assert error.problem_count == 1
    assert "load customers first: 7 customer ids are unknown, e.g. Z0, Z1, Z2." in str(error)
    assert error.report is not None and error.report.rejected == 7
    assert checksum(wh) == before


def test_a_bad_subscriptions_file_writes_nothing(wh, tmp_path):
    before = checksum(wh)
    text = (
        "customer_id,product,start_date,end_date,mrr,discount\n"
        "A1,core,2023-01-01,,10,\n"
        "A2,core,2023-05-01,2023-04-01,10,\n"  # ends before it starts
        "A3,core,2023-01-01,,-1,2\n"  # negative MRR, discount above 1
    )
    with pytest.raises(IngestError) as caught:
        load_file(wh, "subscriptions", write(tmp_path, "s.csv", text))
    message = str(caught.value)
    assert "row 3, column end_date: end_date 2023-04-01 is not after start_date 2023-05-01" in message
    assert "row 4, column mrr: '-1' is below 0" in message
    assert "row 4, column discount: '2' is above 1" in message
    assert checksum(wh) == before


def test_the_renewal_is_the_end_of_the_main_subscriptions_current_term(wh, tmp_path):
    """A subscription company's renewal: the end of the running term of the subscription that
    bills most (an annual plan bought mid-life renews on its own date, not on the signup
    anniversary; an add-on expiring is not the renewal). Known at each date from the rows
    started by then: the past sees the term it was in."""
    from engine.ai import facts, offline
    from engine.churn import features
    from engine.core.access import SYSTEM

    load_file(wh, "subscriptions", write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS))

    def renewal(as_of: date, customer: str = "A1"):
        found = features.renewal_dates(wh, as_of, customer)
        return found["renewal_date"].iloc[0] if len(found) else None

    # A1: monthly core to 2023-04-01, annual core from 2023-06-01 (open-ended, 12-month periods).
    assert renewal(date(2023, 3, 10)) == date(2023, 4, 1)  # the term it was in, not the later annual
    assert renewal(date(2023, 8, 15)) == date(2024, 6, 1)  # not the add-on's 2023-09-01
    assert renewal(date(2024, 7, 1)) == date(2025, 6, 1)  # the next annual period
    assert renewal(date(2023, 2, 1), "A2") is None  # no end date, no billing period: unknown
    sheet = facts.load_facts(wh, "A1", SYSTEM, as_of=date(2023, 8, 15))
    assert "renewal" not in sheet.not_loaded and sheet.renewal_date == date(2024, 6, 1)
    assert (
        offline.answer(sheet, "When does it renew?")[0]
        == "For A1, the renewal is due on 2024-06-01, in 291 days (billing: annual)."
    )
    frame = features.features_as_of(wh, date(2023, 8, 15))
    assert frame.set_index("customer_id").loc["A1", "days_to_renewal"] == (date(2024, 6, 1) - date(2023, 8, 15)).days
    assert "days_to_renewal" not in features.absent_features(wh, date(2023, 8, 15))


def test_the_billing_cycle_follows_the_subscription_the_renewal_follows(wh, tmp_path):
    """Customer 360, the AI fact sheet and Ask AI's portfolio said 'billing: unknown' for a
    subscription company (its customers file has no billing_cycle): the cycle is the running term
    of the subscription that bills most, as the renewal reads it, and 'on the annual plan' filters."""
    from engine.accounts import customer
    from engine.ai import facts
    from engine.ai.portfolio_sql import ask_portfolio
    from engine.churn import features
    from engine.core.access import SYSTEM
    from engine.core.renewal import billed_words

    load_file(wh, "subscriptions", write(tmp_path, "subscriptions.csv", SUBSCRIPTIONS))
    assert features.renewal_dates(wh, date(2023, 3, 10), "A1")["billing_months"].iloc[0] == 1
    assert features.renewal_dates(wh, date(2023, 8, 15), "A1")["billing_months"].iloc[0] == 12
    assert facts.load_facts(wh, "A1", SYSTEM, as_of=date(2023, 8, 15)).billing_cycle == "annual"
    assert customer.customer_360(wh, SYSTEM, "A1").profile.billing_cycle == "annual"
    assert (
        billed_words("annual") == "billed annually" and billed_words("monthly") == "billed monthly"
    )  # not "billed annual"
    answer = ask_portfolio(wh, "How many accounts are on the annual plan?", SYSTEM, client=None, data_dir=tmp_path)
    assert "billing_cycle = ?" in answer.sql and "annual" in answer.params, answer.answer
    assert answer.table["accounts"].iloc[0] == 1, answer.table


def test_a_renewal_starting_after_the_last_day_is_not_in_the_customers_mrr_history(empty_dir, tmp_path):
    """Subscriptions loaded before the events (the README's order) set the data date by their
    starts: a term starting Dec 1 after a log ending Nov 30 put '1 Dec' on the Customer 360 MRR line."""
    from engine.accounts import customer
    from engine.core.access import SYSTEM

    wh = get_warehouse(empty_dir)
    load_file(wh, "customers", write(tmp_path, "customers.csv", "customer_id,signup_date\nC1,2024-09-01\n"))
    terms = (
        "customer_id,product,start_date,end_date,mrr\n"
        "C1,core,2024-09-01,2024-12-01,100\n"
        "C1,core,2024-12-01,2025-03-01,120\n"  # the next term, starting the day after the log ends
    )
    load_file(wh, "subscriptions", write(tmp_path, "terms.csv", terms))
    events = "customer_id,timestamp,event_type\nC1,2024-11-30T10:00:00,login\n"
    load_file(wh, "events", write(tmp_path, "events.csv", events))
    history = customer.customer_360(wh, SYSTEM, "C1").mrr_history
    assert list(history["month"].astype(str)) == ["2024-09-01", "2024-10-01", "2024-11-01"]
    assert history["mrr"].iloc[-1] == 100
