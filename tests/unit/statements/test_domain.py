from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abonent.core.errors import ValidationError
from abonent.statements.domain import (
    MoneyLine,
    UsageLine,
    check_period,
    full_csv,
    short_statement,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def usage(kind: str, units: int, amount: int) -> UsageLine:
    return UsageLine(T0, kind, "+77071234567", "+77771234567", "offnet", units, 0, units, 0, amount)


def test_period_rules() -> None:
    check_period(T0, T0 + timedelta(days=31), T0 + timedelta(days=40))
    for start, end in ((T0, T0), (T0 + timedelta(days=1), T0), (T0, T0 + timedelta(days=400))):
        with pytest.raises(ValidationError):
            check_period(start, end, T0 + timedelta(days=500))
    with pytest.raises(ValidationError, match="not started"):
        check_period(T0 + timedelta(days=2), T0 + timedelta(days=3), T0)
    with pytest.raises(ValidationError, match="time zone"):
        check_period(T0.replace(tzinfo=None), T0 + timedelta(days=1), T0)


def test_short_statement_totals_by_category() -> None:
    s = short_statement(
        "+77071234567",
        T0,
        T0 + timedelta(days=30),
        [
            usage("call", 60, 1500),
            usage("call", 120, 0),
            usage("sms", 1, 1000),
            usage("collect_call", 60, 1300),
        ],
        [
            MoneyLine(T0, "topup.agent", "top-up", 500000),
            MoneyLine(T0, "renewal.tariff", "MONTH", -299000),
            MoneyLine(T0, "usage", "usage charges", -3800),
            MoneyLine(T0, "statement_fee", "full statement", -3000),
        ],
    )
    totals = {c.category: (c.count, c.units, c.amount) for c in s.categories}
    assert totals == {
        "calls": (2, 180, 1500),
        "collect_calls": (1, 60, 1300),
        "sms": (1, 1, 1000),
        "tariff_fees": (1, 0, 299000),
        "statement_fees": (1, 0, 3000),
        "top_ups": (1, 0, 500000),
    }
    assert s.charged == 1500 + 1300 + 1000 + 299000 + 3000
    assert s.credited == 500000


def test_full_csv_lists_every_record_and_movement() -> None:
    text = full_csv([usage("call", 60, 1500)], [MoneyLine(T0, "usage", "usage charges", -1500)])
    lines = text.splitlines()
    assert lines[0].startswith("started_at,kind,caller,callee")
    assert lines[1].endswith(",15.00")
    assert lines[-1].endswith("usage,usage charges,-15.00")
