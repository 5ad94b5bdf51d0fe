from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from abonent.catalog.domain import Bundles, Period, Product, ProductKind, Rates, Rounding
from abonent.charging.domain import (
    BundleState,
    Counter,
    Direction,
    UsageKind,
    UsageRecord,
    apply_takes,
    authorise,
    billable_seconds,
    check_record,
    kilobytes,
    price_kilobytes,
    price_seconds,
    rate_record,
)
from abonent.core.errors import ValidationError

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
RATES = Rates(
    onnet_minute=500, offnet_minute=1500, international_minute=12000, sms=1000, data_mb=1000
)


NO_BUNDLES = Bundles()


def tariff(rounding: Rounding = Rounding.PER_SECOND, bundles: Bundles = NO_BUNDLES) -> Product:
    return Product(
        code="T",
        kind=ProductKind.TARIFF,
        names={"ru": "T"},
        period=Period.DAYS_30,
        fee=0,
        bundles=bundles,
        rates=RATES,
        rounding=rounding,
    )


def call(seconds: int, kind: str = "call", callee: str = "+77011234567") -> UsageRecord:
    return UsageRecord("r1", kind, "+77071234567", callee, NOW, duration_seconds=seconds)


def state(product: Product, sid: int = 1, *, granted: bool = True, days: int = 30) -> BundleState:
    return BundleState(sid, product, NOW + timedelta(days=days), granted)


def test_units_round_up_per_minute_per_kilobyte_and_to_the_tiyn() -> None:
    assert billable_seconds(61, Rounding.PER_MINUTE) == 120
    assert billable_seconds(60, Rounding.PER_MINUTE) == 60
    assert billable_seconds(0, Rounding.PER_MINUTE) == 0
    assert billable_seconds(61, Rounding.PER_SECOND) == 61
    assert price_seconds(1, 1500) == 25
    assert price_seconds(1, 1550) == 26  # 25.83 tiyn rounds up
    assert kilobytes(1) == 1 and kilobytes(1024) == 1 and kilobytes(1025) == 2
    assert price_kilobytes(1, 1000) == 1  # 0.98 tiyn rounds up


def test_per_second_call_off_net_costs_the_off_net_rate() -> None:
    rated = rate_record(
        call(90),
        UsageKind.CALL,
        tariff=tariff(),
        bundles=[],
        direction=Direction.OFFNET,
        collect_rate=1300,
    )
    assert (rated.units, rated.bundle_units, rated.amount) == (90, 0, 2250)


def test_per_minute_call_bills_every_started_minute() -> None:
    rated = rate_record(
        call(61),
        UsageKind.CALL,
        tariff=tariff(Rounding.PER_MINUTE),
        bundles=[],
        direction=Direction.ONNET,
        collect_rate=1300,
    )
    assert (rated.units, rated.amount) == (120, 1000)


def test_bundle_minutes_first_then_the_balance() -> None:
    product = tariff(bundles=Bundles(onnet_minutes=1))
    bundles = [state(product)]
    rated = rate_record(
        call(100),
        UsageKind.CALL,
        tariff=product,
        bundles=bundles,
        direction=Direction.ONNET,
        collect_rate=1300,
    )
    assert (rated.bundle_units, rated.amount) == (60, price_seconds(40, 500))
    apply_takes(rated, {1: bundles[0]})
    assert bundles[0].left(Counter.ONNET) == 0
    # Off-net calls do not touch on-net minutes.
    offnet = rate_record(
        call(60),
        UsageKind.CALL,
        tariff=product,
        bundles=bundles,
        direction=Direction.OFFNET,
        collect_rate=1300,
    )
    assert offnet.bundle_units == 0 and offnet.amount == 1500


def test_the_bundle_that_expires_first_is_used_first() -> None:
    product = tariff(bundles=Bundles(data_mb=1))
    late, early = state(product, 1, days=30), state(product, 2, days=1)
    rated = rate_record(
        UsageRecord("d", "data", "+77071234567", "", NOW, volume_bytes=1536 * 1024),
        UsageKind.DATA,
        tariff=product,
        bundles=[late, early],
        direction=Direction.NONE,
        collect_rate=1300,
    )
    assert rated.takes == ((2, Counter.DATA, 1024), (1, Counter.DATA, 512))
    assert rated.amount == 0


def test_unpaid_period_grants_no_bundles() -> None:
    product = tariff(bundles=Bundles(sms=10))
    rated = rate_record(
        UsageRecord("s", "sms", "+77071234567", "+77011234567", NOW),
        UsageKind.SMS,
        tariff=product,
        bundles=[state(product, granted=False)],
        direction=Direction.OFFNET,
        collect_rate=1300,
    )
    assert (rated.bundle_units, rated.amount) == (0, 1000)


def test_collect_call_costs_the_collect_rate_per_started_minute_without_bundles() -> None:
    product = tariff(bundles=Bundles(onnet_minutes=100))
    rated = rate_record(
        call(61, "collect_call"),
        UsageKind.COLLECT_CALL,
        tariff=product,
        bundles=[state(product)],
        direction=Direction.ONNET,
        collect_rate=1300,
    )
    assert (rated.units, rated.bundle_units, rated.amount) == (120, 0, 2600)


def test_international_calls_use_the_international_rate() -> None:
    rated = rate_record(
        call(60, callee="+4930123456"),
        UsageKind.CALL,
        tariff=tariff(),
        bundles=[],
        direction=Direction.INTERNATIONAL,
        collect_rate=1300,
    )
    assert rated.amount == 12000


def test_bad_records_name_the_field() -> None:
    good = call(10)
    check_record(good)
    for bad, field in (
        (UsageRecord("", "call", good.caller, good.callee, NOW), "record_id"),
        (UsageRecord("x", "fax", good.caller, good.callee, NOW), "kind"),
        (UsageRecord("x", "call", good.caller, "12345", NOW), "callee"),
        (
            UsageRecord("x", "call", good.caller, good.callee, NOW.replace(tzinfo=None)),
            "started_at",
        ),
        (UsageRecord("x", "call", good.caller, good.callee, NOW, duration_seconds=-1), "duration"),
    ):
        with pytest.raises(ValidationError, match=field):
            check_record(bad)
    check_record(UsageRecord("x", "data", good.caller, "", NOW, volume_bytes=10))


def test_authorisation_adds_bundles_and_what_the_balance_pays_for() -> None:
    product = tariff(bundles=Bundles(onnet_minutes=2))
    answer = authorise(
        UsageKind.CALL,
        tariff=product,
        bundles=[state(product)],
        direction=Direction.ONNET,
        available=1000,
        collect_rate=1300,
    )
    assert (answer.units, answer.unit) == (120 + 120, "second")
    broke = authorise(
        UsageKind.CALL,
        tariff=product,
        bundles=[],
        direction=Direction.OFFNET,
        available=0,
        collect_rate=1300,
    )
    assert broke.insufficient
    collect = authorise(
        UsageKind.COLLECT_CALL,
        tariff=product,
        bundles=[],
        direction=Direction.ONNET,
        available=2600,
        collect_rate=1300,
    )
    assert collect.units == 120
    per_minute = authorise(
        UsageKind.CALL,
        tariff=tariff(Rounding.PER_MINUTE),
        bundles=[],
        direction=Direction.OFFNET,
        available=2999,
        collect_rate=1300,
    )
    assert per_minute.units == 60
    data = authorise(
        UsageKind.DATA,
        tariff=product,
        bundles=[],
        direction=Direction.NONE,
        available=1000,
        collect_rate=1300,
    )
    assert (data.units, data.unit) == (1024 * 1024, "byte")
