"""Bill arithmetic, free of storage: months, what a bill is made of, how a payment is allocated.

Invariants:
- a bill is cut per (account, month) once; its figures never change afterwards, only ``paid``
  and the status move as payments are allocated;
- ``amount_due = max(charges, 0) - carried_in`` and never negative; credit that a bill cannot
  absorb (carried credit larger than the charges, or a month of net refunds) stays carried;
- a payment pays the oldest unpaid bill first; what is left over becomes carried credit, shown
  on the next bill as its own line ("carried from previous payments");
- money is int tiyn; months are cut at midnight of a fixed UTC offset (Kazakhstan: +5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache

from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn, require_positive_tiyn, require_tiyn


class BillStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    OVERDUE = "overdue"


class InvalidMonth(ValidationError):
    code = "invalid_month"


class BillingPeriodNotOver(ValidationError):
    code = "billing_period_not_over"


_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, utc_offset_hours: int) -> tuple[datetime, datetime]:
        """The period as UTC instants ``[start, end)``: local midnight of the 1st to the next."""
        zone = timezone(timedelta(hours=utc_offset_hours))
        start = datetime(self.year, self.month, 1, tzinfo=zone)
        following = self.next()
        end = datetime(following.year, following.month, 1, tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def parse_month(text: str) -> Month:
    """``"2026-01"`` → ``Month(2026, 1)``; anything else is ``InvalidMonth``."""
    match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or not 2000 <= int(match.group(1)) <= 2999:
        raise InvalidMonth("month must look like 2026-01")
    return Month(int(match.group(1)), int(match.group(2)))


def month_of(moment: datetime, utc_offset_hours: int) -> Month:
    """The billing month ``moment`` falls in, at the operator's local time."""
    local = moment.astimezone(timezone(timedelta(hours=utc_offset_hours)))
    return Month(local.year, local.month)


def last_closed_month(now: datetime, utc_offset_hours: int) -> Month:
    """The month a bill run at ``now`` bills by default: the one that ended most recently."""
    return month_of(now, utc_offset_hours).previous()


# -- what a bill is made of --------------------------------------------------------------
class Category(StrEnum):
    FEES = "fees"
    USAGE = "usage"
    ADJUSTMENTS = "adjustments"
    OTHER = "other"


CATEGORY_TITLES: dict[str, str] = {
    Category.FEES: "Абонентская плата и услуги",
    Category.USAGE: "Звонки, SMS и интернет",
    Category.ADJUSTMENTS: "Корректировки",
    Category.OTHER: "Прочие начисления",
}
CARRIED_TITLE = "Перенесено с предыдущих платежей"
PREVIOUS_TITLE = "Не оплачено по предыдущим счетам"

# Ledger kinds that are payments into the account, not charges: allocated, never billed.
PAYMENT_KIND_PREFIXES = ("topup.",)
_USAGE_WORDS = ("usage", "call", "sms", "data", "rating", "roaming", "voice", "internet")
_FEE_WORDS = ("fee", "subscription", "renewal", "tariff", "option", "service")
_ADJUSTMENT_WORDS = ("reversal", "correction", "refund", "adjust", "compensation")


@lru_cache(maxsize=1024)
def category_of(kind: str) -> Category | None:
    """The bill category of a ledger transaction kind, or None for a payment (not a charge).

    Charging posts kinds like ``charge.usage.voice`` or ``fee.monthly``; the words decide, so a
    new kind lands in a sensible line without a change here ("other" at worst).
    """
    if kind.startswith(PAYMENT_KIND_PREFIXES):
        return None
    lowered = kind.lower()
    if any(word in lowered for word in _ADJUSTMENT_WORDS):
        return Category.ADJUSTMENTS
    if any(word in lowered for word in _USAGE_WORDS):
        return Category.USAGE
    if any(word in lowered for word in _FEE_WORDS):
        return Category.FEES
    return Category.OTHER


_ORDER = {category.value: index for index, category in enumerate(Category)}


def _line_order(category: str) -> int:
    return _ORDER.get(category, len(_ORDER))


@dataclass(frozen=True, slots=True)
class BillLine:
    category: str
    amount: Tiyn  # positive: charged; negative: credited back


@dataclass(frozen=True, slots=True)
class BillDraft:
    """A bill before it is stored."""

    lines: tuple[BillLine, ...]
    charges: Tiyn  # sum of the lines (negative if the month was net refunds)
    carried_in: Tiyn  # carried credit this bill absorbs ("carried from previous payments")
    previous_unpaid: Tiyn  # still owed on earlier bills (shown; those bills stay open)
    amount_due: Tiyn  # what this bill itself asks for
    credit_left: Tiyn  # carried credit after this bill

    @property
    def total_to_pay(self) -> Tiyn:
        """This bill plus what earlier bills still owe: the figure a cash machine shows."""
        return self.amount_due + self.previous_unpaid


def charges_by_category(net_by_kind: Mapping[str, Tiyn]) -> dict[str, Tiyn]:
    """Ledger net amounts on the account by kind (debits negative) → charges by category."""
    totals: dict[str, Tiyn] = {}
    for kind, net in net_by_kind.items():
        category = category_of(kind)
        if category is None or net == 0:
            continue
        totals[category] = totals.get(category, 0) - require_tiyn(net)
    return {c: a for c, a in totals.items() if a != 0}


def compose_bill(
    charges: Mapping[str, Tiyn], *, carried_credit: Tiyn, previous_unpaid: Tiyn
) -> BillDraft:
    """The bill for a month's ``charges`` (by category) given the credit carried in."""
    if require_tiyn(carried_credit) < 0 or require_tiyn(previous_unpaid) < 0:
        raise ValidationError("carried credit and previous debt cannot be negative")
    lines = tuple(BillLine(c, charges[c]) for c in sorted(charges, key=_line_order))
    total = sum(line.amount for line in lines)
    chargeable = max(total, 0)
    carried_in = min(carried_credit, chargeable)
    return BillDraft(
        lines=lines,
        charges=total,
        carried_in=carried_in,
        previous_unpaid=previous_unpaid,
        amount_due=chargeable - carried_in,
        credit_left=carried_credit - carried_in + max(-total, 0),
    )


# -- paying bills ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UnpaidBill:
    id: int
    month: Month
    outstanding: Tiyn


@dataclass(frozen=True, slots=True)
class Allocation:
    bill_id: int
    amount: Tiyn
    settles: bool  # the bill is fully paid by this allocation


def allocate(amount: Tiyn, unpaid: Iterable[UnpaidBill]) -> tuple[list[Allocation], Tiyn]:
    """Spread a payment over unpaid bills, oldest month first; returns (allocations, excess)."""
    left = require_positive_tiyn(amount)
    allocations: list[Allocation] = []
    for bill in sorted(unpaid, key=lambda b: (b.month, b.id)):
        if left == 0:
            break
        if bill.outstanding <= 0:
            continue
        part = min(left, bill.outstanding)
        allocations.append(Allocation(bill.id, part, part == bill.outstanding))
        left -= part
    return allocations, left


def due_date(period_end: datetime, due_days: int) -> datetime:
    return period_end + timedelta(days=due_days)


def bar_date(due_at: datetime, grace_days: int) -> datetime:
    """When an unpaid bill bars the number: the grace period after its due date."""
    return due_at + timedelta(days=grace_days)


def status_after(amount_due: Tiyn, paid: Tiyn, current: BillStatus) -> BillStatus:
    """A bill is paid once ``paid`` covers it; otherwise it keeps open/overdue."""
    return BillStatus.PAID if paid >= amount_due else current


def total_outstanding(bills: Sequence[UnpaidBill]) -> Tiyn:
    return sum(max(b.outstanding, 0) for b in bills)


@dataclass(frozen=True, slots=True)
class Bill:
    """A stored bill. Only ``paid``, ``status``, ``paid_at`` and ``barred_at`` ever change."""

    id: int
    subscriber_id: int
    account_id: int
    msisdn: str
    month: Month
    period_start: datetime
    period_end: datetime
    charges: Tiyn
    carried_in: Tiyn
    previous_unpaid: Tiyn
    amount_due: Tiyn
    paid: Tiyn
    status: BillStatus
    lines: tuple[BillLine, ...]
    due_at: datetime
    barred_at: datetime | None
    paid_at: datetime | None
    share_token: str
    created_at: datetime

    @property
    def outstanding(self) -> Tiyn:
        return max(self.amount_due - self.paid, 0)

    @property
    def total_to_pay(self) -> Tiyn:
        """As printed: this bill plus what earlier bills owed when it was cut."""
        return self.amount_due + self.previous_unpaid

    def as_unpaid(self) -> UnpaidBill:
        return UnpaidBill(self.id, self.month, self.outstanding)
