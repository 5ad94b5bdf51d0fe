"""The bill cycle on a real database: bills from the ledger, allocation, overdue bars."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from abonent.bills import services as bills
from abonent.bills.domain import BillingPeriodNotOver, BillStatus, Month
from abonent.bills.services import BillingPolicy
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.subscribers.domain import SubscriberStatus
from abonent.subscribers.services import get_subscriber
from tests.factories import add_subscriber
from tests.integration.bills.helpers import add_postpaid, balance, charge, pay

pytestmark = pytest.mark.storage

POSTPAID = "+77081234567"
PREPAID = "+77071234567"
POLICY = BillingPolicy(utc_offset_hours=5, due_days=15, grace_days=10)
JAN, FEB = Month(2026, 1), Month(2026, 2)
# 06:00 UTC on the 1st is 11:00 in Almaty: the previous month has ended.
FEB_1 = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def outstanding_and_credit(db: Database, msisdn: str) -> tuple[int, int]:
    view = get_subscriber(db, msisdn)
    with db.reading() as uow:
        account = bills.account_bills(uow, view.subscriber)
    return account.outstanding, account.credit


def test_bill_run_bills_the_ledger_charges_of_the_month_once(
    db: Database, clock: FrozenClock
) -> None:
    add_postpaid(db)
    add_subscriber(db, "7071234567", balance=tenge(100))
    charge(db, POSTPAID, tenge(5_000), "fee.monthly")
    charge(db, POSTPAID, tenge(1_200), "charge.usage.voice")
    clock.set(datetime(2026, 1, 31, 18, 59, tzinfo=UTC))  # 23:59 in Almaty, still January
    charge(db, POSTPAID, tenge(300), "charge.usage.data")
    clock.set(datetime(2026, 1, 31, 19, 0, tzinfo=UTC))  # 1 February 00:00 in Almaty
    charge(db, POSTPAID, tenge(999), "charge.usage.data")  # February's

    clock.set(FEB_1)
    report = bills.run_bills(db, POLICY)
    again = bills.run_bills(db, POLICY, month=JAN)

    assert (report.month, report.created, report.total_due) == (JAN, 1, tenge(6_500))
    assert (again.created, again.already_billed) == (0, 1)
    bill = bills.bill_for_month(db, POSTPAID, JAN)
    assert bill.amount_due == tenge(6_500) and bill.status is BillStatus.OPEN
    assert {(line.category, line.amount) for line in bill.lines} == {
        ("fees", tenge(5_000)),
        ("usage", tenge(1_500)),
    }
    assert bill.due_at == datetime(2026, 2, 15, 19, 0, tzinfo=UTC)
    assert bills.bills_of_number(db, PREPAID) == []
    assert audit_ledger(db).ok


def test_a_month_that_has_not_ended_is_not_billed(db: Database, clock: FrozenClock) -> None:
    add_postpaid(db)
    with pytest.raises(BillingPeriodNotOver):
        bills.run_bills(db, POLICY, month=JAN)
    assert bills.bills_of_number(db, POSTPAID) == []


def test_seed_example_overpayment_lowers_next_months_bill(db: Database, clock: FrozenClock) -> None:
    add_postpaid(db)
    charge(db, POSTPAID, tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, POLICY)

    pay(db, POSTPAID, tenge(20_000))

    january = bills.bill_for_month(db, POSTPAID, JAN)
    assert january.status is BillStatus.PAID and january.paid == tenge(15_000)
    assert outstanding_and_credit(db, POSTPAID) == (0, tenge(5_000))
    clock.advance(days=3)
    charge(db, POSTPAID, tenge(15_000))
    clock.set(MAR_1)
    bills.run_bills(db, POLICY)
    february = bills.bill_for_month(db, POSTPAID, FEB)
    assert february.carried_in == tenge(5_000)
    assert february.amount_due == tenge(10_000)
    # The bills and the ledger tell the same story: owed minus carried = -balance.
    owed, credit = outstanding_and_credit(db, POSTPAID)
    assert owed - credit == -balance(db, POSTPAID) == tenge(10_000)
    assert audit_ledger(db).ok


def test_payments_go_to_the_oldest_open_bill_first(db: Database, clock: FrozenClock) -> None:
    add_postpaid(db)
    charge(db, POSTPAID, tenge(1_000))
    clock.set(FEB_1)
    bills.run_bills(db, POLICY)
    charge(db, POSTPAID, tenge(2_000))
    clock.set(MAR_1)
    bills.run_bills(db, POLICY)
    february = bills.bill_for_month(db, POSTPAID, FEB)
    assert february.previous_unpaid == tenge(1_000)
    assert february.total_to_pay == tenge(3_000)

    pay(db, POSTPAID, tenge(1_500))  # a partial payment

    assert bills.bill_for_month(db, POSTPAID, JAN).status is BillStatus.PAID
    february = bills.bill_for_month(db, POSTPAID, FEB)
    assert february.paid == tenge(500) and february.status is BillStatus.OPEN
    assert outstanding_and_credit(db, POSTPAID) == (tenge(1_500), 0)
    pay(db, POSTPAID, tenge(1_500))
    assert bills.bill_for_month(db, POSTPAID, FEB).status is BillStatus.PAID
    assert audit_ledger(db).ok


def test_overdue_bill_bars_after_grace_and_paying_unbars(db: Database, clock: FrozenClock) -> None:
    add_postpaid(db)
    charge(db, POSTPAID, tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, POLICY)

    clock.set(datetime(2026, 2, 16, 6, 0, tzinfo=UTC))  # due date passed, grace running
    report = bills.check_overdue(db, POLICY)
    assert report.marked_overdue == 1 and report.barred == []
    assert bills.bill_for_month(db, POSTPAID, JAN).status is BillStatus.OVERDUE
    assert get_subscriber(db, POSTPAID).subscriber.status is SubscriberStatus.ACTIVE

    clock.set(datetime(2026, 2, 26, 6, 0, tzinfo=UTC))  # grace period over
    report = bills.check_overdue(db, POLICY)
    assert report.barred == [POSTPAID]
    assert get_subscriber(db, POSTPAID).subscriber.status is SubscriberStatus.BARRED
    assert bills.check_overdue(db, POLICY).barred == []  # once per bill

    charge(db, POSTPAID, tenge(3_000), "charge.usage.voice")  # February usage, not billed yet
    pay(db, POSTPAID, tenge(10_000))  # not enough: stays barred
    assert get_subscriber(db, POSTPAID).subscriber.status is SubscriberStatus.BARRED
    pay(db, POSTPAID, tenge(5_000))  # the overdue bill is paid; balance still -3 000

    view = get_subscriber(db, POSTPAID)
    assert view.balance == -tenge(3_000)
    assert view.subscriber.status is SubscriberStatus.ACTIVE
    with db.reading() as uow:
        actions = [a["action"] for a in uow.audit.for_subject(f"subscriber:{POSTPAID}")]
        sms = uow.outbox.messages(topic="sms", recipient=POSTPAID)
    assert "subscriber.barred" in actions and actions.count("subscriber.unbarred") == 1
    assert any("ограничена" in m["payload"]["text"] for m in sms)
    assert audit_ledger(db).ok


def test_prepaid_payments_are_not_allocated(db: Database) -> None:
    add_subscriber(db, "7071234567")
    pay(db, PREPAID, tenge(500))
    assert balance(db, PREPAID) == tenge(500)
    assert bills.bills_of_number(db, PREPAID) == []
