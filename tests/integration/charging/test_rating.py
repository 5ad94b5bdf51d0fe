from __future__ import annotations

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
    record,
)

pytestmark = pytest.mark.storage
A = "+77071234567"  # tele2 (own brand)
B = "+77001234567"  # altel (own brand)
BEELINE = "+77771234567"


def test_collect_call_is_charged_to_the_callee_and_free_for_the_caller(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=0)
    add_subscriber(db, B, balance=10000)
    services.change_tariff(db, A, "MONTH", actor="test", allow_unpaid=True)

    report = services.rate_usage(
        db, [record("cc1", "collect_call", A, B, clock.now(), seconds=125)]
    )

    assert report.outcomes[0].status == "rated"
    assert report.outcomes[0].payer == B
    assert report.outcomes[0].amount == 3 * 1300  # 3 started minutes at 13 ₸
    assert balance(db, A) == 0
    assert balance(db, B) == 10000 - 3900
    assert_audit_ok(db)


def test_bundles_are_used_first_then_the_balance(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=400000)
    services.change_tariff(db, A, "MONTH", actor="test")  # 100 on-net, 10 off-net minutes
    start = balance(db, A)

    report = services.rate_usage(
        db,
        [
            record("c1", "call", A, BEELINE, clock.now(), seconds=11 * 60),  # 1 min over
            record("s1", "sms", A, B, clock.now()),
            record("d1", "data", A, "", clock.now(), volume=5 * 1024 * 1024),
        ],
    )

    assert [o.amount for o in report.outcomes] == [1500, 0, 0]
    assert report.outcomes[0].bundle_units == 600
    assert balance(db, A) == start - 1500
    summary = services.subscription_summary(db, A)
    assert summary is not None
    left = {r.kind: r.left for r in summary.remainders}
    assert left == {"onnet_minutes": 100, "offnet_minutes": 0, "sms": 4, "data_mb": 95}
    assert_audit_ok(db)


def test_on_net_is_decided_by_the_callees_brand_including_ported_numbers(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    add_subscriber(db, "+77011112233", brand="tele2")  # ported in from Kcell
    report = services.rate_usage(
        db,
        [
            record("r1", "call", A, B, clock.now(), seconds=60),  # altel: own brand
            record("r2", "call", A, "+77011112233", clock.now(), seconds=60),  # ported: on-net
            record("r3", "call", A, "+77011112234", clock.now(), seconds=60),  # kcell: off-net
            record("r4", "call", A, "+4930123456", clock.now(), seconds=60),  # abroad
        ],
    )
    # PAYG (the default tariff): 10 ₸ on-net, 25 ₸ off-net and abroad, per started minute.
    assert [o.amount for o in report.outcomes] == [1000, 1000, 2500, 2500]
    assert_audit_ok(db)


def test_repeats_unknown_numbers_and_bad_fields_are_reported_and_never_charged(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    now = clock.now()
    first = services.rate_usage(db, [record("x1", "sms", A, B, now)])
    assert first.rated == 1
    report = services.rate_usage(
        db,
        [
            record("x1", "sms", A, B, now),  # repeat of an earlier batch
            record("x2", "sms", A, B, now),
            record("x2", "sms", A, B, now),  # repeat inside the batch
            record("x3", "sms", "+77471230000", B, now),  # nobody
            record("x4", "fax", A, B, now),
            record("x5", "call", A, B, now, seconds=-5),
            record("x6", "call", "12345", B, now, seconds=5),
        ],
    )
    statuses = [(o.status, o.reason) for o in report.outcomes]
    assert statuses == [
        ("duplicate", "duplicate"),
        ("rated", ""),
        ("duplicate", "duplicate"),
        ("refused", "unknown_number"),
        ("refused", "bad_record"),
        ("refused", "bad_record"),
        ("refused", "bad_record"),
    ]
    assert balance(db, A) == 100000 - 2 * 1000
    assert_audit_ok(db)


def test_an_empty_prepaid_balance_stops_chargeable_usage(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=2000)
    assert services.authorize_usage(db, A, "call", BEELINE).result == "insufficient"  # 25 ₸/min
    answer = services.authorize_usage(db, A, "call", B)
    assert (answer.result, answer.units, answer.unit) == ("ok", 120, "second")  # 10 ₸/min
    report = services.rate_usage(
        db,
        [
            record("a", "call", A, BEELINE, clock.now(), seconds=30),  # 25 ₸ > 20 ₸
            record("b", "sms", A, B, clock.now()),
            record("c", "sms", A, B, clock.now()),
            record("d", "sms", A, B, clock.now()),
        ],
    )
    assert [o.reason for o in report.outcomes] == [
        "insufficient_funds",
        "",
        "",
        "insufficient_funds",
    ]
    assert balance(db, A) == 0
    assert services.authorize_usage(db, A, "sms").result == "insufficient"
    assert_audit_ok(db)


def test_barred_numbers_cannot_use_chargeable_services(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    set_status(db, A, SubscriberStatus.BARRED, actor="test")
    report = services.rate_usage(db, [record("b1", "collect_call", B, A, clock.now(), seconds=60)])
    assert report.outcomes[0].reason == "barred"
    assert services.authorize_usage(db, A, "sms").result == "barred"
    assert balance(db, A) == 100000
