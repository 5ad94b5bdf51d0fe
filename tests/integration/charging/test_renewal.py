from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abonent.charging import services
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.subscribers.domain import SubscriberStatus
from abonent.subscribers.services import set_status
from tests.factories import add_subscriber
from tests.integration.charging.support import (
    assert_audit_ok,
    balance,
    load_test_catalogue,
    pay,
    record,
    transactions_of_kind,
)

pytestmark = pytest.mark.storage
A = "+77071234567"


class Crash(Exception):
    pass


def test_renewal_with_funds_charges_the_fee_and_grants_fresh_bundles(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=700000)
    services.change_tariff(db, A, "MONTH", actor="test")
    assert balance(db, A) == 700000 - 299000
    services.rate_usage(db, [record("c1", "call", A, "+77071112233", clock.now(), seconds=600)])
    summary = services.subscription_summary(db, A)
    assert summary is not None
    assert next(r for r in summary.remainders if r.kind == "onnet_minutes").left == 90

    clock.advance(days=31)  # past 15 Feb 09:00
    report = services.run_renewals(db, clock.now())

    assert (report.renewed, report.lapsed) == (1, 0)
    assert balance(db, A) == 700000 - 2 * 299000
    summary = services.subscription_summary(db, A)
    assert summary is not None and summary.state == "active"
    assert summary.period_start == datetime(2026, 2, 15, 9, tzinfo=UTC)
    assert summary.period_end == datetime(2026, 3, 15, 9, tzinfo=UTC)
    assert (
        next(r for r in summary.remainders if r.kind == "onnet_minutes").left == 100
    )  # no rollover
    assert services.current_period(db, A) == (summary.period_start, summary.period_end, 299000)
    assert_audit_ok(db)


def test_renewal_without_funds_lapses_then_retries_right_after_a_top_up(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=300000)
    services.change_tariff(db, A, "MONTH", actor="test")  # 10 ₸ left
    clock.advance(days=31)

    report = services.run_renewals(db, clock.now())

    assert (report.renewed, report.lapsed) == (0, 1)
    assert balance(db, A) == 1000
    summary = services.subscription_summary(db, A)
    assert summary is not None and summary.state == "lapsed" and summary.remainders == []
    with db.reading() as uow:
        texts = [m["payload"]["text"] for m in uow.outbox.messages(topic="sms", recipient=A)]
    assert any("Недостаточно средств" in t for t in texts)
    # Pay-as-you-go at the tariff's rates while lapsed: 1 minute off-net = 15 ₸ > 10 ₸ left.
    refused = services.rate_usage(
        db, [record("c1", "call", A, "+77011234567", clock.now(), seconds=60)]
    )
    assert refused.outcomes[0].reason == "insufficient_funds"
    ok = services.rate_usage(db, [record("c2", "call", A, "+77071112233", clock.now(), seconds=60)])
    assert ok.outcomes[0].amount == 200  # on-net 2 ₸/min, no bundle
    # Re-running the job changes nothing: a lapsed tariff waits for a top-up.
    assert services.run_renewals(db, clock.now()).lapsed == 0

    clock.advance(hours=5)
    pay(db, A, 500000)

    assert balance(db, A) == 800 + 500000 - 299000
    summary = services.subscription_summary(db, A)
    assert summary is not None and summary.state == "active"
    assert summary.period_start == clock.now()
    assert summary.period_end == clock.now() + timedelta(days=28)  # 15 Feb 14:00 → 15 Mar
    assert transactions_of_kind(db, "renewal.tariff") == 1
    pay(db, A, 1000)  # another top-up does not renew twice
    assert transactions_of_kind(db, "renewal.tariff") == 1
    assert_audit_ok(db)


def test_crash_mid_batch_then_rerun_charges_every_subscription_exactly_once(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    numbers = [f"+7707123450{i}" for i in range(7)]
    for number in numbers:
        add_subscriber(db, number, balance=100000)
        services.change_tariff(db, number, "DAILY", actor="test")
    clock.advance(days=1)

    def crash_on_second_chunk(_uow: object, chunk: int) -> None:
        if chunk == 2:
            raise Crash("power cut after the ledger writes, before commit")

    with pytest.raises(Crash):
        services.run_renewals(db, clock.now(), chunk_size=3, after_chunk=crash_on_second_chunk)
    assert transactions_of_kind(db, "renewal.") == 3  # the first chunk committed, not the second

    again = services.run_renewals(db, clock.now(), chunk_size=3)
    assert again.renewed == 4
    assert services.run_renewals(db, clock.now(), chunk_size=3).renewed == 0
    assert transactions_of_kind(db, "renewal.") == 7
    assert all(balance(db, n) == 100000 - 2 * 7900 for n in numbers)
    assert_audit_ok(db)


def test_missed_periods_are_caught_up_one_by_one(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    services.change_tariff(db, A, "DAILY", actor="test")
    clock.advance(days=3, hours=1)
    report = services.run_renewals(db, clock.now())
    assert report.renewed == 3
    assert balance(db, A) == 100000 - 4 * 7900
    summary = services.subscription_summary(db, A)
    assert summary is not None
    assert summary.period_end == datetime(2026, 1, 19, 9, tzinfo=UTC)
    assert_audit_ok(db)


def test_postpaid_fee_accrues_for_the_bill(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, "+77081234567", postpaid=True)
    services.change_tariff(db, "+77081234567", "MONTH", actor="test")
    clock.advance(days=31)
    services.run_renewals(db, clock.now())
    # Accrued on the postpaid balance (down to the credit limit) for the monthly bill.
    assert balance(db, "+77081234567") == -2 * 299000
    assert_audit_ok(db)


def test_suspended_number_pays_only_the_suspended_fee_and_uses_nothing(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=400000)
    services.change_tariff(db, A, "MONTH", actor="test")
    services.suspend_number(db, A, actor="test")
    refused = services.rate_usage(db, [record("s1", "sms", A, "+77011234567", clock.now())])
    assert refused.outcomes[0].reason == "suspended"
    clock.advance(days=31)
    services.run_renewals(db, clock.now())
    assert balance(db, A) == 400000 - 299000 - 10000
    summary = services.subscription_summary(db, A)
    assert summary is not None and summary.remainders == []  # no bundles while suspended
    services.resume_number(db, A, actor="test")
    assert services.rate_usage(db, [record("s2", "sms", A, "+77011234567", clock.now())]).rated == 1
    assert_audit_ok(db)


def test_a_closed_number_ends_its_subscriptions(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    services.change_tariff(db, A, "DAILY", actor="test")
    set_status(db, A, SubscriberStatus.CLOSED, actor="test")
    clock.advance(days=2)
    report = services.run_renewals(db, clock.now())
    assert (report.renewed, report.ended) == (0, 1)
    assert services.subscription_summary(db, A) is None
    assert_audit_ok(db)
