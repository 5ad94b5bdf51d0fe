from __future__ import annotations

from datetime import UTC, datetime

from abonent.catalog.domain import Bundles, Period, Product, ProductKind, Rates
from abonent.charging.domain import anchor_for, plan_renewal, plan_tariff_change


def at(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)


def product(period: Period, fee: int = 300000, change_fee: int = 50000) -> Product:
    return Product(
        code="P",
        kind=ProductKind.TARIFF,
        names={"ru": "P"},
        period=period,
        fee=fee,
        bundles=Bundles(sms=10),
        rates=Rates(),
        change_fee=change_fee,
        suspended_fee=10000,
    )


def test_monthly_renewals_walk_month_ends_through_a_leap_year() -> None:
    monthly = product(Period.CALENDAR_MONTH)
    start = at(2028, 1, 31, 10)
    anchor = anchor_for(monthly, start)
    ends = []
    for _ in range(3):
        plan = plan_renewal(monthly, start, anchor, suspended=False)
        ends.append(plan.end)
        start = plan.end
    assert ends == [at(2028, 2, 29, 10), at(2028, 3, 31, 10), at(2028, 4, 30, 10)]


def test_thirty_day_and_daily_periods_ignore_month_lengths() -> None:
    assert plan_renewal(product(Period.DAYS_30), at(2027, 2, 1), None, suspended=False).end == at(
        2027, 3, 3
    )
    assert plan_renewal(product(Period.DAY), at(2028, 2, 28), None, suspended=False).end == at(
        2028, 2, 29
    )


def test_renewal_charges_the_fee_and_grants_bundles() -> None:
    plan = plan_renewal(product(Period.DAY), at(2026, 1, 1), None, suspended=False)
    assert (plan.amount, plan.grants_bundles) == (300000, True)


def test_suspended_numbers_pay_only_the_suspended_fee_and_get_no_bundles() -> None:
    plan = plan_renewal(product(Period.DAY), at(2026, 1, 1), None, suspended=True)
    assert (plan.amount, plan.grants_bundles) == (10000, False)


def test_tariff_change_mid_period_refunds_the_unused_part_and_first_change_is_free() -> None:
    new = product(Period.CALENDAR_MONTH, fee=500000)
    first = plan_tariff_change(
        new,
        now=at(2026, 4, 16),
        changes_made=0,
        old_fee_paid=300000,
        old_period_start=at(2026, 4, 1),
        old_period_end=at(2026, 5, 1),
    )
    assert (first.refund, first.change_fee, first.fee) == (150000, 0, 500000)
    assert first.period_end == at(2026, 5, 16)
    second = plan_tariff_change(
        new,
        now=at(2026, 4, 16),
        changes_made=1,
        old_fee_paid=0,
        old_period_start=None,
        old_period_end=None,
    )
    assert (second.refund, second.change_fee) == (0, 50000)
