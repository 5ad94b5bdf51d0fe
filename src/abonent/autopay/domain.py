"""Auto top-up rules, free of storage.

- **threshold**: when the target's balance falls to ``threshold`` or below, top up ``amount``.
  Prepaid numbers only. Fires at most once per crossing: when a debit takes the balance from
  above the threshold to at or below it, or while the rule is *armed* (new, after a declined
  attempt so the next debit retries, or the day after the daily cap stopped it).
- **schedule**: daily, weekly (on a weekday, Monday = 1) or monthly (on a day 1–31; a day past
  the end of a shorter month means its last day), at a configured local hour.
- **renewal**: on the last day of the tariff period (the 24 hours before it renews) top up what
  the fee needs (``amount``, or fee − balance when no amount is set).
Every rule may target the owner's own number or a friend's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from abonent.core.errors import AbonentError, InvalidStatusTransition, ValidationError
from abonent.core.money import Tiyn, require_positive_tiyn


class RuleKind(StrEnum):
    THRESHOLD = "threshold"
    SCHEDULE = "schedule"
    RENEWAL = "renewal"


class RuleStatus(StrEnum):
    PENDING_CARD = "pending_card"  # created by USSD; waits for the owner to link a card
    ACTIVE = "active"
    PAUSED = "paused"  # by the owner, or its card was removed
    STOPPED = "stopped"  # after N consecutive declines; the owner resumes it
    DELETED = "deleted"


RULE_TRANSITIONS: dict[RuleStatus, frozenset[RuleStatus]] = {
    RuleStatus.PENDING_CARD: frozenset({RuleStatus.ACTIVE, RuleStatus.DELETED}),
    RuleStatus.ACTIVE: frozenset({RuleStatus.PAUSED, RuleStatus.STOPPED, RuleStatus.DELETED}),
    RuleStatus.PAUSED: frozenset({RuleStatus.ACTIVE, RuleStatus.DELETED}),
    RuleStatus.STOPPED: frozenset({RuleStatus.ACTIVE, RuleStatus.DELETED}),
    RuleStatus.DELETED: frozenset(),
}


def check_rule_transition(current: RuleStatus, target: RuleStatus) -> None:
    if target not in RULE_TRANSITIONS[current]:
        raise InvalidStatusTransition(
            f"a {current.value} rule cannot become {target.value}",
            current=current.value,
            target=target.value,
        )


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class TriggerStatus(StrEnum):
    PENDING = "pending"
    CHARGING = "charging"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    SKIPPED = "skipped"


class AutopayNotAllowed(AbonentError):
    code = "autopay_not_allowed"
    http_status = 409


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What a subscriber asks for; ``validate`` refuses anything incomplete or contradictory."""

    kind: RuleKind
    amount: Tiyn | None = None
    threshold: Tiyn | None = None
    period: Period | None = None
    day: int | None = None

    def validate(self) -> RuleSpec:
        if self.kind is RuleKind.THRESHOLD:
            if self.threshold is None or self.amount is None:
                raise ValidationError("a threshold rule needs a threshold and an amount")
            require_positive_tiyn(self.amount)
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
                raise ValidationError("threshold must be a whole number of tiyn")
            if self.threshold < 0:
                raise ValidationError("threshold cannot be negative")
            return RuleSpec(self.kind, self.amount, self.threshold)
        if self.kind is RuleKind.SCHEDULE:
            if self.period is None or self.amount is None:
                raise ValidationError("a schedule rule needs a period and an amount")
            require_positive_tiyn(self.amount)
            day = self.day
            if self.period is Period.DAILY:
                day = None
            elif self.period is Period.WEEKLY:
                if not (isinstance(day, int) and 1 <= day <= 7):
                    raise ValidationError("a weekly rule needs a weekday 1 (Monday) to 7 (Sunday)")
            elif not (isinstance(day, int) and 1 <= day <= 31):
                raise ValidationError("a monthly rule needs a day of the month 1 to 31")
            return RuleSpec(self.kind, self.amount, None, self.period, day)
        if self.amount is not None:
            require_positive_tiyn(self.amount)
        return RuleSpec(self.kind, self.amount)


@dataclass(frozen=True, slots=True)
class Rule:
    id: int
    owner_msisdn: str
    target_msisdn: str
    target_account_id: int
    card_id: int | None
    kind: RuleKind
    amount: Tiyn | None
    threshold: Tiyn | None
    period: Period | None
    day: int | None
    next_run_at: datetime | None
    armed: bool
    rearm_at: datetime | None
    consecutive_declines: int
    status: RuleStatus
    channel: str
    created_at: datetime
    updated_at: datetime

    @property
    def for_friend(self) -> bool:
        return self.owner_msisdn != self.target_msisdn

    @property
    def spec(self) -> RuleSpec:
        return RuleSpec(self.kind, self.amount, self.threshold, self.period, self.day)


@dataclass(frozen=True, slots=True)
class PendingRule:
    """A rule created by USSD, completed when the owner links a card."""

    id: int
    owner_msisdn: str
    target_msisdn: str
    kind: RuleKind
    threshold: Tiyn | None
    amount: Tiyn | None
    status: RuleStatus
    channel: str
    created: bool  # False when an identical pending rule already existed


def last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def schedule_dates_after(period: Period, day: int | None, after: date) -> date:
    """The first scheduled date strictly after ``after``."""
    if period is Period.DAILY:
        return after + timedelta(days=1)
    if period is Period.WEEKLY:
        assert day is not None
        ahead = (day - 1 - after.weekday()) % 7 or 7
        return after + timedelta(days=ahead)
    assert day is not None
    year, month = after.year, after.month
    for _ in range(3):
        candidate = date(year, month, min(day, last_day(year, month)))
        if candidate > after:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def next_schedule_run(
    period: Period, day: int | None, after: datetime, zone: tzinfo, hour: int
) -> datetime:
    """The next run strictly after ``after``, at ``hour`` local time, as an aware datetime."""
    local = after.astimezone(zone)
    today_run = datetime.combine(local.date(), time(hour), zone)
    start = local.date() - timedelta(days=1) if today_run > local else local.date()
    run_date = schedule_dates_after(period, day, start)
    return datetime.combine(run_date, time(hour), zone)


def renewal_window(period_end: datetime) -> tuple[datetime, datetime]:
    """The last day of a period: the 24 hours before it renews."""
    return period_end - timedelta(days=1), period_end


def renewal_amount(
    rule_amount: Tiyn | None, fee: Tiyn, balance: Tiyn, minimum: Tiyn
) -> Tiyn | None:
    """What to charge so the fee is covered, or None when the balance already covers it."""
    if balance >= fee:
        return None
    if rule_amount is not None:
        return rule_amount
    return max(fee - balance, minimum)


def local_day_start(moment: datetime, zone: tzinfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime.combine(local.date(), time(0), zone)
