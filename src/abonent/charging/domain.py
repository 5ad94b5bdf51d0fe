"""Charging rules, free of storage: usage records, rating, authorisation, renewal charges.

Rating a record (``rate_record``) never touches money; it answers what the record costs and
which bundles it would use. The service applies that only if the payer can afford it: a
record is charged completely or not at all.

Units: calls in seconds (a per-minute tariff bills every started minute in full), SMS by the
message, data by the kilobyte (1 KB = 1024 bytes, every started KB counts). Money rounds up to
the whole tiyn (a 1 s call at 15 ₸/min per second costs 26 tiyn, not 25).
Bundles are used before the balance, the one that expires first before the others; a collect
call is paid by the callee at the catalogue's collect rate per started minute, from the
balance only, and is free for the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from abonent.catalog.domain import Period, Product, Rounding, next_period_end, prorated_refund
from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn

MAX_RECORD_ID = 64
MAX_CALL_SECONDS = 86_400
MAX_VOLUME_BYTES = 1 << 40
# What an authorisation grants when nothing limits it (a free rate): one long call, one day.
UNLIMITED_SECONDS = 4 * 3600
UNLIMITED_SMS = 1000
UNLIMITED_BYTES = 10 * 1024**3
_E164 = re.compile(r"\+[1-9][0-9]{5,14}")


class UsageKind(StrEnum):
    CALL = "call"
    SMS = "sms"
    DATA = "data"
    COLLECT_CALL = "collect_call"  # the callee pays


class Direction(StrEnum):
    ONNET = "onnet"  # to a number of one of the operator's own brands
    OFFNET = "offnet"  # to another Kazakhstan network
    INTERNATIONAL = "international"
    NONE = "none"  # data


class Refusal(StrEnum):
    """Why a record was not charged (stable codes, reported per line)."""

    BAD_RECORD = "bad_record"
    DUPLICATE = "duplicate"
    UNKNOWN_NUMBER = "unknown_number"
    NO_TARIFF = "no_tariff"
    SUSPENDED = "suspended"
    BARRED = "barred"
    CLOSED = "closed"
    INSUFFICIENT_FUNDS = "insufficient_funds"


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One event from the network. ``record_id`` is unique: a repeat is ignored."""

    record_id: str
    kind: str  # "call" | "sms" | "data" | "collect_call"
    caller: str  # E.164
    callee: str  # E.164, may be foreign; empty for data
    started_at: datetime
    duration_seconds: int = 0
    volume_bytes: int = 0


_KINDS = {kind.value: kind for kind in UsageKind}


def _check_count(name: str, value: object, upper: int) -> None:
    """A whole number (not a bool, which is an int too) from 0 to ``upper``."""
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValidationError(f"{name}: a whole number from 0 to {upper}")
    if not 0 <= value <= upper:
        raise ValidationError(f"{name}: a whole number from 0 to {upper}")


def check_record(record: UsageRecord) -> UsageKind:
    """The record's kind if its fields make sense; ``ValidationError`` naming the field if not."""
    if not isinstance(record.record_id, str) or not (
        0 < len(record.record_id) <= MAX_RECORD_ID and record.record_id.isprintable()
    ):
        raise ValidationError(f"record_id: 1-{MAX_RECORD_ID} printable characters")
    kind = _KINDS.get(record.kind) if isinstance(record.kind, str) else None
    if kind is None:
        raise ValidationError("kind: must be call, sms, data or collect_call")
    if not isinstance(record.started_at, datetime) or record.started_at.tzinfo is None:
        raise ValidationError("started_at: a moment with a time zone is required")
    _check_count("duration_seconds", record.duration_seconds, MAX_CALL_SECONDS)
    _check_count("volume_bytes", record.volume_bytes, MAX_VOLUME_BYTES)
    if kind is not UsageKind.DATA and not (
        isinstance(record.callee, str) and _E164.fullmatch(record.callee)
    ):
        raise ValidationError("callee: an E.164 number such as +77071234567 is required")
    return kind


# -- units and prices ------------------------------------------------------------------------
def billable_seconds(duration: int, rounding: Rounding) -> int:
    if rounding is Rounding.PER_MINUTE:
        return -(-duration // 60) * 60
    return duration


def price_seconds(seconds: int, rate_per_minute: Tiyn) -> Tiyn:
    return -(-rate_per_minute * seconds // 60)


def kilobytes(volume_bytes: int) -> int:
    return -(-volume_bytes // 1024)


def price_kilobytes(kb: int, rate_per_mb: Tiyn) -> Tiyn:
    return -(-rate_per_mb * kb // 1024)


class Counter(StrEnum):
    """Which bundle counter a unit of usage draws on (column names of a subscription)."""

    ONNET = "used_onnet_s"
    OFFNET = "used_offnet_s"
    SMS = "used_sms"
    DATA = "used_data_kb"


# Members used for every record rated, looked up once: reading an enum member from its class
# costs about 0.1 µs in Python 3.11.
_ONNET, _OFFNET, _SMS, _DATA = Counter.ONNET, Counter.OFFNET, Counter.SMS, Counter.DATA
_CALL, _SMS_KIND, _DATA_KIND = UsageKind.CALL, UsageKind.SMS, UsageKind.DATA
_COLLECT_CALL = UsageKind.COLLECT_CALL
_ONNET_DIRECTION, _OFFNET_DIRECTION = Direction.ONNET, Direction.OFFNET
_CALL_COUNTERS = {Direction.ONNET: Counter.ONNET, Direction.OFFNET: Counter.OFFNET}


@dataclass(slots=True)
class BundleState:
    """One subscription's bundles in the current period, with its running usage."""

    subscription_id: int
    product: Product
    expires_at: datetime
    granted: bool  # False while the period fee is unpaid: no bundles
    used: dict[Counter, int] = field(default_factory=dict)

    def capacity(self, counter: Counter) -> int:
        if not self.granted:
            return 0
        b = self.product.bundles
        if counter is _ONNET:
            return b.onnet_minutes * 60
        if counter is _OFFNET:
            return b.offnet_minutes * 60
        if counter is _SMS:
            return b.sms
        return b.data_mb * 1024

    def left(self, counter: Counter) -> int:
        if not self.granted:
            return 0
        return max(0, self.capacity(counter) - self.used.get(counter, 0))


class Rated(NamedTuple):
    """What a record costs: units billed, how many came from bundles, and the money.

    A named tuple: one is made for every record rated, at under half the cost of a frozen
    dataclass.
    """

    kind: UsageKind
    direction: Direction
    units: int
    bundle_units: int
    amount: Tiyn
    takes: tuple[tuple[int, Counter, int], ...] = ()  # (subscription id, counter, units)


def _counter_for(kind: UsageKind, direction: Direction) -> Counter | None:
    if kind is _SMS_KIND:
        return _SMS
    if kind is _DATA_KIND:
        return _DATA
    if kind is _CALL:
        return _CALL_COUNTERS.get(direction)
    return None


def _take(
    units: int, counter: Counter | None, bundles: list[BundleState]
) -> tuple[int, tuple[tuple[int, Counter, int], ...]]:
    if counter is None or units <= 0:
        return 0, ()
    takes: list[tuple[int, Counter, int]] = []
    remaining = units
    if len(bundles) > 1:  # the one expiring first is used first
        bundles = sorted(bundles, key=lambda s: (s.expires_at, s.subscription_id))
    for state in bundles:
        left = state.left(counter)
        if left <= 0:
            continue
        taken = min(left, remaining)
        takes.append((state.subscription_id, counter, taken))
        remaining -= taken
        if remaining == 0:
            break
    return units - remaining, tuple(takes)


def rate_record(
    record: UsageRecord,
    kind: UsageKind,
    *,
    tariff: Product,
    bundles: list[BundleState],
    direction: Direction,
    collect_rate: Tiyn,
) -> Rated:
    """Price one record for its payer (the callee of a collect call, else the caller)."""
    rates = tariff.rates
    if kind is _COLLECT_CALL:
        seconds = billable_seconds(record.duration_seconds, Rounding.PER_MINUTE)
        return Rated(kind, direction, seconds, 0, seconds // 60 * collect_rate)
    if kind is _SMS_KIND:
        from_bundle, takes = _take(1, _SMS, bundles)
        return Rated(kind, direction, 1, from_bundle, 0 if from_bundle else rates.sms, takes)
    if kind is _DATA_KIND:
        kb = kilobytes(record.volume_bytes)
        from_bundle, takes = _take(kb, _DATA, bundles)
        amount = price_kilobytes(kb - from_bundle, rates.data_mb)
        return Rated(kind, direction, kb, from_bundle, amount, takes)
    seconds = billable_seconds(record.duration_seconds, tariff.rounding)
    from_bundle, takes = _take(seconds, _counter_for(kind, direction), bundles)
    if direction is _ONNET_DIRECTION:
        rate = rates.onnet_minute
    elif direction is _OFFNET_DIRECTION:
        rate = rates.offnet_minute
    else:
        rate = rates.international_minute
    amount = price_seconds(seconds - from_bundle, rate)
    return Rated(kind, direction, seconds, from_bundle, amount, takes)


def apply_takes(rated: Rated, bundles: dict[int, BundleState]) -> None:
    for subscription_id, counter, units in rated.takes:
        state = bundles[subscription_id]
        state.used[counter] = state.used.get(counter, 0) + units


def _affordable(available: Tiyn | None, unit_price: Tiyn, unlimited: int) -> int:
    if available is None or unit_price <= 0:
        return unlimited
    return max(0, available) // unit_price


@dataclass(frozen=True, slots=True)
class Authorisation:
    units: int  # how much the bundles and the balance allow right now
    unit: str  # "second", "sms" or "byte"

    @property
    def insufficient(self) -> bool:
        return self.units <= 0


def authorise(
    kind: UsageKind,
    *,
    tariff: Product,
    bundles: list[BundleState],
    direction: Direction,
    available: Tiyn | None,
    collect_rate: Tiyn,
) -> Authorisation:
    """How many seconds / messages / bytes the payer may use now (``available`` is the balance
    above the floor, None when there is no floor)."""
    rates = tariff.rates
    if kind is UsageKind.COLLECT_CALL:
        minutes = _affordable(available, collect_rate, UNLIMITED_SECONDS // 60)
        return Authorisation(min(minutes * 60, UNLIMITED_SECONDS), "second")
    if kind is UsageKind.SMS:
        left = sum(b.left(Counter.SMS) for b in bundles)
        return Authorisation(left + _affordable(available, rates.sms, UNLIMITED_SMS), "sms")
    if kind is UsageKind.DATA:
        left_kb = sum(b.left(Counter.DATA) for b in bundles)
        if available is None or rates.data_mb <= 0:
            return Authorisation(UNLIMITED_BYTES, "byte")
        paid_kb = max(0, available) * 1024 // rates.data_mb
        return Authorisation(min((left_kb + paid_kb) * 1024, UNLIMITED_BYTES), "byte")
    counter = _counter_for(kind, direction)
    left_s = sum(b.left(counter) for b in bundles) if counter else 0
    rate = {
        Direction.ONNET: rates.onnet_minute,
        Direction.OFFNET: rates.offnet_minute,
    }.get(direction, rates.international_minute)
    if available is None or rate <= 0:
        return Authorisation(UNLIMITED_SECONDS, "second")
    if tariff.rounding is Rounding.PER_MINUTE:
        left_s -= left_s % 60
        paid_s = max(0, available) // rate * 60
    else:
        paid_s = max(0, available) * 60 // rate
    return Authorisation(min(left_s + paid_s, UNLIMITED_SECONDS), "second")


# -- periods, renewals, changes --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RenewalPlan:
    """What renewing a subscription at ``start`` does: charge ``amount``, grant bundles or not."""

    start: datetime
    end: datetime
    amount: Tiyn
    grants_bundles: bool


def plan_renewal(
    product: Product, start: datetime, anchor_day: int | None, *, suspended: bool
) -> RenewalPlan:
    """The next period from ``start``. A suspended number pays only the catalogue's
    ``suspended_fee`` and gets no bundles; otherwise the full fee and fresh bundles (unused
    ones are gone: no rollover)."""
    end = next_period_end(start, product.period, anchor_day)
    if suspended:
        return RenewalPlan(start, end, product.suspended_fee, False)
    return RenewalPlan(start, end, product.fee, True)


def anchor_for(product: Product, start: datetime) -> int | None:
    return start.day if product.period is Period.CALENDAR_MONTH else None


@dataclass(frozen=True, slots=True)
class TariffChange:
    """Money of a tariff change made at ``now``: the unused part of the old fee back, the
    change fee (the first change is free) and the new tariff's fee for a period from now."""

    refund: Tiyn
    change_fee: Tiyn
    fee: Tiyn
    period_end: datetime


def plan_tariff_change(
    new: Product,
    *,
    now: datetime,
    changes_made: int,
    old_fee_paid: Tiyn,
    old_period_start: datetime | None,
    old_period_end: datetime | None,
) -> TariffChange:
    refund = 0
    if old_period_start is not None and old_period_end is not None:
        refund = prorated_refund(old_fee_paid, old_period_start, old_period_end, now)
    change_fee = new.change_fee if changes_made > 0 else 0
    end = next_period_end(now, new.period, anchor_for(new, now))
    return TariffChange(refund=refund, change_fee=change_fee, fee=new.fee, period_end=end)


class SubscriptionState(StrEnum):
    ACTIVE = "active"  # the period is paid, its bundles granted
    LAPSED = "lapsed"  # the fee was refused: pay-as-you-go until a top-up renews it
    HELD = "held"  # the number is suspended: the suspended fee is paid, no bundles


TARIFF_SLOT = "tariff"


def option_slot(code: str) -> str:
    return f"option:{code}"


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    subscriber_id: int
    slot: str
    product_code: str
    kind: str
    state: SubscriptionState
    period_start: datetime
    period_end: datetime
    anchor_day: int | None
    fee_paid: Tiyn
    used: dict[Counter, int]
    tariff_changes: int

    @property
    def is_tariff(self) -> bool:
        return self.slot == TARIFF_SLOT

    def bundle_state(self, product: Product) -> BundleState:
        return BundleState(
            subscription_id=self.id,
            product=product,
            expires_at=self.period_end,
            granted=self.state is SubscriptionState.ACTIVE,
            used=dict(self.used),
        )
