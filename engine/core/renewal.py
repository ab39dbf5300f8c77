"""The one renewal rule every screen, feature and AI fact uses (see `renewal_date_sql`)."""

from __future__ import annotations


def renewal_date_sql(
    d: str = "d", signup: str = "signup_date", cycle: str = "billing_cycle", contract_end: str = "contract_end_date"
) -> str:
    """THE renewal rule, as a SQL expression over the given column names (identifiers written
    by the engine, never user text): the next renewal strictly after day `d` is

    * the next signup anniversary (yearly) for annual billing,
    * the next monthly signup anniversary for monthly billing,
    * otherwise the contract end date when it falls after `d` (else unknown, NULL).

    Features (the model's `days_to_renewal`), the stored predictions the risk board reads,
    Customer 360, the AI fact sheet and the Ask-AI portfolio view all use this expression,
    so every screen names the same renewal date. `contract_end_date` describes the present,
    so for a billing cycle the anniversary is used even when a contract end is on record:
    the same rule holds for a past snapshot (no look-ahead) and for today.
    """
    years = f"date_diff('year', {signup}, {d})"
    months = f"date_diff('month', {signup}, {d})"
    return f"""(CASE
            WHEN {cycle} = 'annual' THEN
                CASE WHEN {signup} + to_years({years}) > {d} THEN {signup} + to_years({years})
                     ELSE {signup} + to_years({years} + 1) END
            WHEN {cycle} = 'monthly' THEN
                CASE WHEN {signup} + to_months({months}) > {d} THEN {signup} + to_months({months})
                     ELSE {signup} + to_months({months} + 1) END
            WHEN {contract_end} > {d} THEN {contract_end}
        END)::DATE"""
