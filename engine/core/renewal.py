"""The one renewal rule every screen, feature and AI fact uses (see `renewal_date_sql`)."""

from __future__ import annotations

# Billing cycles people name in words, in months (anything else is given as a number of months).
CYCLE_WORDS = {
    "monthly": 1,
    "month": 1,
    "quarterly": 3,
    "quarter": 3,
    "semiannual": 6,
    "semi-annual": 6,
    "half-yearly": 6,
    "annual": 12,
    "annually": 12,
    "yearly": 12,
    "year": 12,
    "biennial": 24,
}
_CYCLE_NAMES = {1: "monthly", 3: "quarterly", 6: "semiannual", 12: "annual", 24: "biennial"}


def billing_cycle_text(months: int | float | None) -> str | None:
    """12 -> 'annual', 1 -> 'monthly', 9 -> 'every 9 months'; None when unknown."""
    try:
        whole = int(months)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # None, NaN, NA
        return None
    return _CYCLE_NAMES.get(whole, f"every {whole} months")


_BILLED = {"annual": "annually", "semiannual": "every six months", "biennial": "every two years"}


def billed_words(cycle: str) -> str:
    """'billed annually' for the cycle 'annual' (`billing_cycle_text`), 'billed monthly', ..."""
    return f"billed {_BILLED.get(cycle, cycle)}"


def renewal_sources_sql(cutoff: str | None = None) -> str:
    """A query counting what a renewal date comes from (billing cycles, contract ends,
    subscriptions with a billing period): 0 means no account can have one. With `cutoff` (a SQL
    expression such as "CAST(? AS DATE)"), only accounts signed up and subscriptions started by it."""
    signed, started = (
        ("", "") if cutoff is None else (f" WHERE signup_date <= {cutoff}", f" AND start_date <= {cutoff}")
    )
    return (
        f"SELECT (SELECT count(billing_cycle) + count(contract_end_date) FROM customers{signed}) "  # noqa: S608
        f"+ (SELECT count(*) FROM (SELECT 1 FROM subscriptions WHERE bill_period_months >= 1{started} LIMIT 1))"
    )


def billing_cycle_label_sql(cycle: str = "billing_cycle") -> str:
    """`billing_cycle_text` in SQL: the model reads the cycle as this label (a category)."""
    cases = " ".join(f"WHEN {m} THEN '{name}'" for m, name in _CYCLE_NAMES.items())
    return (
        f"(CASE {cycle} {cases} ELSE CASE WHEN {cycle} IS NULL THEN NULL ELSE 'every ' || {cycle} || ' months' END END)"
    )


def renewal_date_sql(
    d: str = "d",
    signup: str = "signup_date",
    cycle: str = "billing_cycle",
    contract_end: str = "contract_end_date",
    customer: str | None = None,
) -> str:
    """THE renewal rule, as a SQL expression over the given column names (identifiers written
    by the engine, never user text): the next renewal strictly after day `d` is

    * when `customer` (the id column) is given and the account has subscriptions with a
      billing period running on `d`: the end of the current `bill_period_months` period,
      counted from its start, of the one that bills most (an add-on expiring is not the
      renewal; of equal ones, the soonest). Only what is known on `d` is read: the rows
      started by then, their start and period. An `end_date` is not: an export rewrites it
      when a cancellation comes later, which would tell a past snapshot what came next;
    * for a billing cycle of N months (`cycle`, 1 monthly, 12 annual, 3, 6, 24 ...): the end
      of the current N-month period counted from signup,
    * otherwise the contract end date when it falls after `d` (else unknown, NULL).

    Features (the model's `days_to_renewal`), the stored predictions the risk board reads,
    Customer 360, the AI fact sheet and the Ask-AI portfolio view all use this expression,
    so every screen names the same renewal date. `contract_end_date` describes the present,
    so for a billing cycle the anniversary is used even when a contract end is on record:
    the same rule holds for a past snapshot (no look-ahead) and for today.
    """
    by_cycle = _period_end_sql(d, signup, cycle)
    rule = f"""CASE
            WHEN {cycle} >= 1 THEN {by_cycle}
            WHEN {contract_end} > {d} THEN {contract_end}
        END"""
    if customer is None:
        return f"({rule})::DATE"
    # A subscription company's renewal is the end of the term it is in (an annual plan bought
    # mid-life renews on its own date, not on the signup anniversary).
    # Identifiers only (see above); no value is interpolated.
    return f"(coalesce({_main_subscription_sql(d, customer, 'ends')}, {rule}))::DATE"


def billing_months_sql(d: str, cycle: str = "billing_cycle", customer: str | None = None) -> str:
    """An account's billing cycle in months on day `d`, by the renewal rule's reading: the billing
    period of the running subscription that bills most (when `customer` is given and it has one),
    else the customers file's `cycle`. NULL when neither is known."""
    if customer is None:
        return cycle
    return f"coalesce({_main_subscription_sql(d, customer, 'months')}, {cycle})"


def _main_subscription_sql(d: str, customer: str, field: str) -> str:
    """`field` ('ends': the end of its current billing period; 'months': that period) of the
    subscription running on `d` that bills most (of equal ones, the soonest to end), from the
    rows started by `d` (identifiers only; no value is interpolated)."""
    ends = _period_end_sql(d, "s.start_date", "s.bill_period_months")
    return (
        f"(SELECT arg_max({field}, struct_pack(mrr := mrr, soon := -epoch(ends))) FROM ("  # noqa: S608
        f"SELECT {ends} AS ends, s.bill_period_months AS months, s.mrr FROM subscriptions s "
        f"WHERE s.customer_id = {customer} AND s.start_date <= {d} AND (s.end_date > {d} OR s.end_date IS NULL)) "
        "WHERE ends IS NOT NULL)"
    )


def _period_end_sql(d: str, start: str, months: str) -> str:
    """The end of the `months`-long period running on `d`, periods counted from `start`
    (strictly after `d`); NULL when `months` is not a whole number of months >= 1."""
    # Whole periods since the start; the renewal is the end of the current one.
    periods = f"(date_diff('month', {start}, {d}) // {months})"
    this_end = f"({start} + to_months(CAST({months} * {periods} AS INTEGER)))"
    next_end = f"({start} + to_months(CAST({months} * ({periods} + 1) AS INTEGER)))"
    return f"(CASE WHEN {months} >= 1 THEN CASE WHEN {this_end} > {d} THEN {this_end} ELSE {next_end} END END)"
