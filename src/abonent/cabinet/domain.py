"""Who may see or move what: owners, family numbers and delegates, in one rule.

A *grant* lets a grantee number act on a target number with a right level:
- ``view``: read balance, history, remainders, receipts;
- ``pay``: view, plus top up and pay (cards, transfers from the target's balance excluded);
- ``full``: everything the owner can do, except managing grants and security settings.
A subscriber always has ``owner`` rights on their own number. Family numbers attached to a
cabinet (confirmed by an SMS code from that number) give the cabinet's owner ``full`` on them;
a delegation gives another person's number the chosen right on the delegating number.
A revoked grant gives nothing, at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from abonent.core.errors import Forbidden, ValidationError


class Right(IntEnum):
    VIEW = 1
    PAY = 2
    FULL = 3
    OWNER = 4  # only ever implicit: your own number


class GrantKind(StrEnum):
    FAMILY = "family"  # the grantee (cabinet owner) attached the target number
    DELEGATE = "delegate"  # the target's owner delegated rights to the grantee


def parse_right(text: str) -> Right:
    try:
        right = Right[text.strip().upper()]
    except KeyError:
        raise ValidationError("right must be one of: view, pay, full") from None
    if right is Right.OWNER:
        raise ValidationError("right must be one of: view, pay, full")
    return right


@dataclass(frozen=True, slots=True)
class Grant:
    id: int
    grantee_subscriber_id: int
    target_subscriber_id: int
    target_msisdn: str
    grantee_msisdn: str
    kind: GrantKind
    right: Right
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def effective_right(principal_id: int, target_id: int, grants: list[Grant]) -> Right | None:
    """The strongest right ``principal_id`` holds on ``target_id``, or None."""
    if principal_id == target_id:
        return Right.OWNER
    rights = [
        g.right
        for g in grants
        if g.active
        and g.grantee_subscriber_id == principal_id
        and g.target_subscriber_id == target_id
    ]
    return max(rights) if rights else None


def require_right(held: Right | None, needed: Right) -> None:
    # Deliberately the same answer for "no such number" and "not yours": no probing.
    if held is None or held < needed:
        raise Forbidden("you have no access to this number")


# Ledger transaction kinds → spending categories shown on the dashboard chart.
CATEGORY_OF_PREFIX = {
    "tariff_change": "tariff",
    "option_fee": "options",
    "statement_fee": "services",
    "trust_credit": "credit",
    "renewal": "tariff",
    "tariff": "tariff",
    "fee": "tariff",
    "option": "options",
    "usage": "usage",
    "call": "usage",
    "sms": "usage",
    "data": "usage",
    "collect_call": "usage",
    "transfer": "transfers",
    "credit": "credit",
    "statement": "services",
}


def category_of(kind: str) -> str:
    head = kind.split(".")[0]
    if kind.startswith("usage."):
        return kind.split(".")[1] if kind.count(".") >= 1 else "usage"
    return CATEGORY_OF_PREFIX.get(head, "other")


def months_back(now: datetime, count: int) -> list[str]:
    """The last ``count`` calendar months as ``YYYY-MM``, oldest first, ending with ``now``'s."""
    year, month = now.year, now.month
    labels = []
    for _ in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        month -= 1
        if month == 0:
            year, month = year - 1, 12
    return list(reversed(labels))


def spending_by_month(
    debits: list[tuple[datetime, str, int]], months: list[str]
) -> dict[str, dict[str, int]]:
    """``{month: {category: tiyn}}`` for the given months (empty months included)."""
    table: dict[str, dict[str, int]] = {m: {} for m in months}
    for at, kind, amount in debits:
        month = f"{at.year:04d}-{at.month:02d}"
        if month in table:
            category = category_of(kind)
            table[month][category] = table[month].get(category, 0) + amount
    return table


# Ledger transaction kinds → what a person reads in the history (English msgids, translated).
OPERATION_LABELS = {
    "opening_balance": "Opening balance",
    "topup.agent": "Top-up via a payment agent",
    "topup.voucher": "Top-up with a voucher",
    "topup.card": "Top-up by bank card",
    "topup.cash": "Cash payment",
    "topup.transfer": "Transfer received",
    "topup.correction": "Payment moved by support",
    "reversal": "Correction (reversal)",
    "renewal": "Tariff fee",
    "tariff_change": "Tariff change",
    "option_fee": "Service fee",
    "statement_fee": "Detailed statement",
    "usage": "Calls, SMS and internet",
    "usage.collect_call": "Collect call",
    "collect_call": "Collect call",
    "transfer.sent": "Balance transfer",
    "trust_credit.taken": "Trust payment",
    "trust_credit.repaid": "Trust payment repaid",
    "trust_credit.forced": "Trust payment debited at the deadline",
}


def operation_label(kind: str) -> str:
    """The label of a transaction kind; falls back on its family (``renewal.monthly``)."""
    if kind in OPERATION_LABELS:
        return OPERATION_LABELS[kind]
    head = kind.split(".")[0]
    return OPERATION_LABELS.get(head, "Operation")
