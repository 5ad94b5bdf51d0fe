"""Channel rules as plain functions: fees, limits, eligibility, SMS coding and splitting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abonent.core.money import tenge
from abonent.credit.domain import (
    CreditRules,
    CreditStanding,
    Ineligible,
    eligible_tiers,
    refusal,
    repayment,
)
from abonent.messaging.domain import collect_charge, day_and_month_start
from abonent.sms.domain import Coding, backoff_seconds, coding_for, split
from abonent.transfers.domain import TransferRefusal, TransferRules, limit_refusal, quote

RULES = TransferRules()


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (49, None),
        (50, 30),
        (199, 30),
        (200, 40),
        (499, 40),
        (500, 50),
        (1499, 50),
        (1500, 60),
        (2000, 60),
        (2001, None),
    ],
)
def test_transfer_fee_bands(amount: int, fee: int | None) -> None:
    q = quote(tenge(amount), RULES)
    assert (q.fee if q else None) == (tenge(fee) if fee is not None else None)


def test_transfer_limits() -> None:
    ok = dict(balance=tenge(5000), today_count=0, today_sum=0, month_sum=0, rules=RULES)
    assert limit_refusal(tenge(500), **ok) is None  # type: ignore[arg-type]
    assert limit_refusal(tenge(500), **{**ok, "today_count": 5}) is TransferRefusal.DAILY_COUNT  # type: ignore[arg-type]
    assert (
        limit_refusal(tenge(500), **{**ok, "today_sum": tenge(4600)})
        is TransferRefusal.DAILY_AMOUNT
    )  # type: ignore[arg-type]
    assert (
        limit_refusal(tenge(500), **{**ok, "month_sum": tenge(29600)})
        is TransferRefusal.MONTHLY_AMOUNT
    )  # type: ignore[arg-type]
    assert limit_refusal(tenge(500), **{**ok, "balance": tenge(599)}) is TransferRefusal.MIN_BALANCE  # type: ignore[arg-type]


def standing(**overrides: object) -> CreditStanding:
    base = dict(
        prepaid=True,
        barred_or_closed=False,
        tenure_days=400,
        topups_30d_count=3,
        topups_30d_sum=tenge(6000),
        balance=0,
        open_debt=None,
    )
    base.update(overrides)
    return CreditStanding(**base)  # type: ignore[arg-type]


def test_credit_tiers_grow_with_tenure_and_topups() -> None:
    rules = CreditRules()
    amounts = lambda s: [t.amount // 100 for t in eligible_tiers(s, rules)]  # noqa: E731
    assert amounts(standing()) == [500, 1000, 1500, 2000, 2500]
    assert amounts(standing(tenure_days=60, topups_30d_sum=tenge(100))) == [500]
    assert amounts(standing(tenure_days=100, topups_30d_sum=tenge(1000))) == [500, 1000]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"prepaid": False}, Ineligible.POSTPAID),
        ({"barred_or_closed": True}, Ineligible.BARRED),
        ({"open_debt": 100}, Ineligible.OWES),
        ({"balance": -1}, Ineligible.OWES),
        ({"tenure_days": 59}, Ineligible.TENURE),
        ({"topups_30d_count": 0}, Ineligible.NO_TOPUPS),
    ],
)
def test_credit_refusals(overrides: dict[str, object], reason: Ineligible) -> None:
    assert refusal(standing(**overrides), CreditRules()) is reason
    assert eligible_tiers(standing(**overrides), CreditRules()) == []


def test_repayment_takes_the_debt_first_but_never_more_than_came_in() -> None:
    assert repayment(52500, 20000, 60000) == 20000
    assert repayment(52500, 100000, 150000) == 52500
    assert repayment(52500, 20000, 5000) == 5000
    assert repayment(52500, 20000, -100) == 0


def test_collect_call_is_charged_per_started_minute() -> None:
    assert [collect_charge(s, 1300) for s in (0, 1, 60, 61, 120, 121)] == [
        0,
        1300,
        1300,
        2600,
        2600,
        3900,
    ]


def test_days_and_months_are_counted_in_kazakhstan_time() -> None:
    day, month = day_and_month_start(datetime(2026, 1, 31, 20, 0, tzinfo=UTC), 5)
    assert day == datetime(2026, 1, 31, 19, 0, tzinfo=UTC)  # 1 Feb 00:00 in Almaty
    assert month == datetime(2026, 1, 31, 19, 0, tzinfo=UTC)


def test_sms_coding_and_splitting() -> None:
    assert coding_for("Balance 100 KZT") is Coding.GSM7
    assert coding_for("Баланс") is Coding.UCS2
    assert split("a" * 160) == ["a" * 160]
    parts = split("a" * 161)
    assert [len(p) for p in parts] == [153, 8]
    cyr = split("я" * 70)
    assert cyr == ["я" * 70]
    words = split(("слово " * 30).strip())
    assert all(len(p) <= 67 for p in words) and "".join(words) == ("слово " * 30).strip()
    assert all(not p.startswith(" ") for p in words)


def test_backoff_doubles_up_to_a_cap() -> None:
    assert [backoff_seconds(n, 30) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(20, 30) == 3600
