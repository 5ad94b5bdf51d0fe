"""The bulk paths of rating and renewals decide exactly what one-by-one processing decides."""

from __future__ import annotations

import gc
from datetime import timedelta

import pytest
import sqlalchemy as sa

from abonent.charging import services
from abonent.charging.domain import UsageRecord
from abonent.charging.tables import usage_records
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from tests.factories import add_subscriber
from tests.integration.charging.support import (
    assert_audit_ok,
    balance,
    load_test_catalogue,
    record,
    transactions_of_kind,
)

pytestmark = pytest.mark.storage

# Six payers per group: tariffs with and without bundles, small balances that run dry.
_SETUP = [
    ("MONTH", 400000),
    ("MONTH", 300500),  # 5 ₸ left after the fee
    (None, 3000),  # the default tariff (PAYG), 30 ₸
    (None, 100000),
    ("MONTH", 1000000),
    (None, 0),
]
OTHER_NETWORK = "+77771234567"
ABROAD = "+4930123456"


def _numbers(group: int) -> list[str]:
    return [f"+7707{group}00000{i}" for i in range(len(_SETUP))]


def _prepare(db: Database, group: int) -> list[str]:
    numbers = _numbers(group)
    for number, (tariff, money) in zip(numbers, _SETUP, strict=True):
        add_subscriber(db, number, balance=money)
        if tariff:
            services.change_tariff(db, number, tariff, actor="test")
    return numbers


def _traffic(numbers: list[str], prefix: str, clock: FrozenClock) -> list[UsageRecord]:
    """Forty records mixing kinds, payers and networks; each payer's in a fixed order."""
    at = clock.now()
    found = []
    for i in range(40):
        me = numbers[i % len(numbers)]
        peer = numbers[(i * 5 + 1) % len(numbers)]
        rid = f"{prefix}{i}"
        match i % 7:
            case 0 | 1:
                found.append(record(rid, "call", me, peer, at, seconds=170 + 13 * i))
            case 2:
                found.append(record(rid, "call", me, OTHER_NETWORK, at, seconds=200 + i))
            case 3:
                found.append(record(rid, "sms", me, ABROAD, at))
            case 4:
                found.append(record(rid, "data", me, "", at, volume=(i + 1) * 700_000))
            case 5:
                found.append(record(rid, "collect_call", me, peer, at, seconds=61))
            case _:
                found.append(record(rid, "call", me, ABROAD, at, seconds=45))
    return found


def _decisions(report: services.RatingReport) -> list[tuple[object, ...]]:
    return [(o.status, o.reason, o.amount, o.units, o.bundle_units) for o in report.outcomes]


def test_rating_in_chunks_and_lanes_gives_what_rating_one_by_one_gives(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    batched, single = _prepare(db, 1), _prepare(db, 2)

    # chunk_size=4: ten units of work; on PostgreSQL in two lanes of payers at once.
    report = services.rate_usage(db, _traffic(batched, "b", clock), chunk_size=4)
    one_by_one = [services.rate_usage(db, [r]) for r in _traffic(single, "s", clock)]

    assert _decisions(report) == [d for r in one_by_one for d in _decisions(r)]
    assert {o.status for o in report.outcomes} >= {"rated", "refused"}
    for mine, theirs in zip(batched, single, strict=True):
        assert balance(db, mine) == balance(db, theirs)
        ours, others = (services.subscription_summary(db, n) for n in (mine, theirs))
        assert (ours and ours.remainders) == (others and others.remainders)
    assert_audit_ok(db)


def test_a_record_id_repeated_later_in_the_same_call_is_a_duplicate(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    a, b = "+77071234567", "+77071234568"
    add_subscriber(db, a, balance=100000)
    add_subscriber(db, b, balance=100000)
    now = clock.now()
    records = [
        record("d1", "sms", a, OTHER_NETWORK, now),
        record("d2", "sms", b, OTHER_NETWORK, now),
        record("d3", "sms", a, OTHER_NETWORK, now),
        record("d4", "sms", b, OTHER_NETWORK, now),
        record("d1", "sms", b, OTHER_NETWORK, now),  # another payer, the same id: a repeat
    ]

    report = services.rate_usage(db, records, chunk_size=2)

    assert [o.status for o in report.outcomes] == ["rated"] * 4 + ["duplicate"]
    assert (balance(db, a), balance(db, b)) == (100000 - 2000, 100000 - 2000)
    assert services.rate_usage(db, records, chunk_size=2).duplicates == 5
    assert_audit_ok(db)


def test_renewals_across_chunks_and_missed_periods_charge_each_period_once(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    rich = [f"+7707123450{i}" for i in range(5)]
    poor = [f"+7707123460{i}" for i in range(3)]
    for number in rich:
        add_subscriber(db, number, balance=100000)
        services.change_tariff(db, number, "DAILY", actor="test")
    for number in poor:
        add_subscriber(db, number, balance=7900 + 100)  # the first fee, then 1 ₸ left
        services.change_tariff(db, number, "DAILY", actor="test")
    clock.advance(days=2, hours=1)

    report = services.run_renewals(db, clock.now(), chunk_size=3)

    assert (report.renewed, report.lapsed) == (2 * len(rich), len(poor))
    assert report.charged == 2 * len(rich) * 7900
    assert all(balance(db, n) == 100000 - 3 * 7900 for n in rich)
    assert all(balance(db, n) == 100 for n in poor)
    assert transactions_of_kind(db, "renewal.") == 2 * len(rich)
    for number in poor:
        summary = services.subscription_summary(db, number)
        assert summary is not None and summary.state == "lapsed"
        with db.reading() as uow:
            (sms,) = uow.outbox.messages(topic="sms", recipient=number, limit=1)
        # Queued in bulk, as ``enqueue_sms`` queues one.
        assert (sms["status"], sms["attempts"], sms["payload"]["to"]) == ("pending", 0, number)
        assert sms["next_attempt_at"] == sms["created_at"] == clock.now()
        assert "Недостаточно средств" in sms["payload"]["text"]
    again = services.run_renewals(db, clock.now() + timedelta(minutes=1), chunk_size=3)
    assert (again.renewed, again.lapsed, again.charged) == (0, 0, 0)
    assert_audit_ok(db)


def test_each_stored_record_points_at_its_payers_charge_of_the_chunk(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    charged, free = "+77071234567", "+77071234568"
    add_subscriber(db, charged, balance=100000)
    add_subscriber(db, free, balance=400000)
    services.change_tariff(db, free, "MONTH", actor="test")  # 5 SMS in its bundle
    now = clock.now()
    records = [
        record("p1", "sms", charged, OTHER_NETWORK, now),
        record("f1", "sms", free, OTHER_NETWORK, now),
        record("p2", "data", charged, "", now, volume=1024 * 1024),
        record("f2", "sms", free, OTHER_NETWORK, now),
    ]

    report = services.rate_usage(db, records)

    assert [o.amount for o in report.outcomes] == [1000, 0, 1500, 0]
    stored = _stored_transactions(db)
    assert stored["f1"] is None and stored["f2"] is None
    assert stored["p1"] is not None and stored["p1"] == stored["p2"]
    with db.reading() as uow:
        posted = uow.ledger.transaction(stored["p1"])
        payer = uow.subscribers.by_msisdn(charged)
    assert posted is not None and payer is not None
    assert {(p.account_id, p.amount) for p in posted.postings if p.amount < 0} == {
        (payer.account_id, -2500)
    }
    assert_audit_ok(db)


def test_rating_leaves_the_garbage_collector_as_it_found_it(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, "+77071234567", balance=100000)
    records = [record(f"g{i}", "sms", "+77071234567", OTHER_NETWORK, clock.now()) for i in range(3)]
    was_enabled = gc.isenabled()
    try:
        gc.enable()
        services.rate_usage(db, records[:1])
        assert gc.isenabled()
        gc.disable()
        services.rate_usage(db, records[1:2])
        assert not gc.isenabled()
        gc.enable()
        services.rate_usage(db, [*records[2:], UsageRecord("", "sms", "", "", clock.now())])
        assert gc.isenabled()
    finally:
        if not was_enabled:
            gc.disable()


def _stored_transactions(db: Database) -> dict[str, int | None]:
    with db.reading() as uow:
        rows = uow.connection.execute(
            sa.select(usage_records.c.record_id, usage_records.c.transaction_id)
        )
        return {record_id: transaction_id for record_id, transaction_id in rows}
