"""Bill arithmetic without a database: composing bills and allocating payments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abonent.bills.domain import (
    BillStatus,
    Category,
    InvalidMonth,
    Month,
    UnpaidBill,
    allocate,
    category_of,
    charges_by_category,
    compose_bill,
    last_closed_month,
    month_of,
    parse_month,
    status_after,
)
from abonent.core.clock import FrozenClock
from abonent.core.errors import InvalidAmount
from abonent.core.money import tenge

JAN, FEB, MAR = Month(2026, 1), Month(2026, 2), Month(2026, 3)


def test_seed_example_bill_15000_paid_20000_next_bill_is_10000() -> None:
    january = compose_bill({Category.FEES: tenge(15_000)}, carried_credit=0, previous_unpaid=0)
    assert january.amount_due == tenge(15_000)

    allocations, excess = allocate(tenge(20_000), [UnpaidBill(1, JAN, january.amount_due)])
    assert [(a.bill_id, a.amount, a.settles) for a in allocations] == [(1, tenge(15_000), True)]
    assert excess == tenge(5_000)

    february = compose_bill(
        {Category.FEES: tenge(15_000)}, carried_credit=excess, previous_unpaid=0
    )
    assert february.carried_in == tenge(5_000)  # its own line on the bill
    assert february.amount_due == tenge(10_000)
    assert february.credit_left == 0


def test_partial_payments_leave_the_bill_open_until_covered() -> None:
    bill = UnpaidBill(7, JAN, tenge(15_000))
    first, excess = allocate(tenge(6_000), [bill])
    assert first[0].amount == tenge(6_000) and not first[0].settles and excess == 0
    assert status_after(tenge(15_000), tenge(6_000), BillStatus.OPEN) is BillStatus.OPEN

    rest, excess = allocate(tenge(9_000), [UnpaidBill(7, JAN, tenge(9_000))])
    assert rest[0].settles and excess == 0
    assert status_after(tenge(15_000), tenge(15_000), BillStatus.OVERDUE) is BillStatus.PAID


def test_several_open_bills_are_paid_oldest_month_first() -> None:
    unpaid = [
        UnpaidBill(3, MAR, tenge(3_000)),
        UnpaidBill(1, JAN, tenge(1_000)),
        UnpaidBill(2, FEB, tenge(2_000)),
    ]
    allocations, excess = allocate(tenge(3_500), unpaid)
    assert [(a.bill_id, a.amount, a.settles) for a in allocations] == [
        (1, tenge(1_000), True),
        (2, tenge(2_000), True),
        (3, tenge(500), False),
    ]
    assert excess == 0


def test_carried_credit_larger_than_the_next_bill_keeps_carrying() -> None:
    bill = compose_bill(
        {Category.USAGE: tenge(4_000)}, carried_credit=tenge(10_000), previous_unpaid=0
    )
    assert bill.carried_in == tenge(4_000)
    assert bill.amount_due == 0
    assert bill.credit_left == tenge(6_000)

    following = compose_bill(
        {Category.FEES: tenge(15_000)}, carried_credit=bill.credit_left, previous_unpaid=0
    )
    assert following.amount_due == tenge(9_000) and following.credit_left == 0


def test_a_month_of_net_refunds_adds_to_the_carried_credit() -> None:
    bill = compose_bill(
        {Category.ADJUSTMENTS: -tenge(500)}, carried_credit=tenge(100), previous_unpaid=0
    )
    assert bill.amount_due == 0 and bill.credit_left == tenge(600)


def test_previous_unpaid_is_shown_but_not_added_to_this_bill() -> None:
    bill = compose_bill(
        {Category.FEES: tenge(15_000)}, carried_credit=0, previous_unpaid=tenge(2_000)
    )
    assert bill.amount_due == tenge(15_000)
    assert bill.total_to_pay == tenge(17_000)


def test_ledger_kinds_map_to_bill_lines_and_payments_are_not_charges() -> None:
    net = {
        "fee.monthly": -tenge(5_000),
        "charge.usage.voice": -tenge(1_200),
        "charge.usage.data": -tenge(800),
        "topup.cash": tenge(20_000),
        "reversal": tenge(300),
        "something.new": -tenge(10),
    }
    assert charges_by_category(net) == {
        Category.FEES: tenge(5_000),
        Category.USAGE: tenge(2_000),
        Category.ADJUSTMENTS: -tenge(300),
        Category.OTHER: tenge(10),
    }
    assert category_of("topup.agent") is None


def test_a_payment_with_nothing_to_pay_is_all_excess() -> None:
    assert allocate(tenge(1_000), []) == ([], tenge(1_000))
    with pytest.raises(InvalidAmount):
        allocate(0, [])


def test_month_boundaries_are_cut_at_local_midnight_with_an_injected_clock() -> None:
    # 2026-01-31 19:00 UTC is already 1 February 00:00 in Kazakhstan (UTC+5).
    clock = FrozenClock(datetime(2026, 1, 31, 18, 59, 59, tzinfo=UTC))
    assert month_of(clock.now(), 5) == JAN
    clock.advance(seconds=1)
    assert month_of(clock.now(), 5) == FEB
    assert last_closed_month(clock.now(), 5) == JAN
    start, end = JAN.bounds(5)
    assert start == datetime(2025, 12, 31, 19, tzinfo=UTC)
    assert end == datetime(2026, 1, 31, 19, tzinfo=UTC)
    clock.advance(days=29)  # past the end of February (a short month)
    assert month_of(clock.now(), 5) == MAR
    assert Month(2026, 12).next() == Month(2027, 1) and JAN.previous() == Month(2025, 12)


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-01", "", "2026-01-01", "abcd-ef"])
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(InvalidMonth):
        parse_month(text)
