"""Trust credit ("доверительный платёж", extra balance): who may take how much, for how long.

Rules (defaults; every figure is configuration):
- eligible if the number is at least ``min_tenure_days`` old, had at least one real top-up in the
  last 30 days (transfers received do not count), owes nothing and is prepaid;
- the amounts offered grow with tenure and with the last 30 days' activity (tiers): the larger
  of the real top-ups' sum and the spend on services (tariff and option fees, usage), so a
  subscriber who spends steadily from a large old top-up is not treated as inactive;
- one open credit at a time; the fee is added to the debt when the credit is taken;
- every top-up repays the debt first; at the deadline the remainder is debited even below zero
  and outgoing chargeable services are barred until the balance is back at zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from abonent.core.money import Tiyn


class CreditStatus(StrEnum):
    OPEN = "open"  # taken, before the deadline; ``outstanding`` is owed
    OVERDUE = "overdue"  # debited at the deadline below zero; the negative balance is owed
    REPAID = "repaid"


@dataclass(frozen=True, slots=True)
class CreditTier:
    amount: Tiyn
    fee: Tiyn
    min_tenure_days: int
    min_topups_30d: Tiyn  # 30-day activity: real top-ups' sum or spend on services, the larger


@dataclass(frozen=True, slots=True)
class CreditRules:
    term_days: int = 3
    min_tenure_days: int = 60
    tiers: tuple[CreditTier, ...] = field(
        default_factory=lambda: (
            CreditTier(50_000, 2_500, 60, 0),
            CreditTier(100_000, 5_000, 90, 100_000),
            CreditTier(150_000, 7_500, 180, 200_000),
            CreditTier(200_000, 10_000, 365, 300_000),
            CreditTier(250_000, 12_500, 365, 500_000),
        )
    )
    # Top-up channels that do not count as "real" money in (received transfers, corrections).
    not_real_topups: tuple[str, ...] = ("transfer", "opening", "correction")
    # Ledger transaction kinds that count as spend on services (not transfers or repayments).
    spend_kinds: tuple[str, ...] = (
        "renewal.tariff",
        "renewal.option",
        "tariff_change",
        "option_fee",
        "usage",
        "usage.collect_call",
        "statement_fee",
    )


@dataclass(frozen=True, slots=True)
class CreditStanding:
    """Facts about a subscriber that decide eligibility (read under the subscriber's lock)."""

    prepaid: bool
    barred_or_closed: bool
    tenure_days: int
    topups_30d_count: int
    topups_30d_sum: Tiyn
    balance: Tiyn
    open_debt: Tiyn | None  # what an open or overdue credit still owes, None if none
    spend_30d: Tiyn = 0  # paid for services in the last 30 days

    @property
    def activity_30d(self) -> Tiyn:
        """What the tiers are judged by: money in or money spent, whichever is larger."""
        return max(self.topups_30d_sum, self.spend_30d)


class Ineligible(StrEnum):
    POSTPAID = "credit_prepaid_only"
    BARRED = "barred"
    OWES = "credit_owed"
    TENURE = "credit_tenure"
    NO_TOPUPS = "credit_no_topups"


def eligible_tiers(standing: CreditStanding, rules: CreditRules) -> list[CreditTier]:
    """The tiers offered, smallest first; raises nothing — see ``refusal`` for why none."""
    if refusal(standing, rules) is not None:
        return []
    return sorted(
        (
            t
            for t in rules.tiers
            if standing.tenure_days >= t.min_tenure_days
            and standing.activity_30d >= t.min_topups_30d
        ),
        key=lambda t: t.amount,
    )


def refusal(standing: CreditStanding, rules: CreditRules) -> Ineligible | None:
    if not standing.prepaid:
        return Ineligible.POSTPAID
    if standing.barred_or_closed:
        return Ineligible.BARRED
    if standing.open_debt is not None or standing.balance < 0:
        return Ineligible.OWES
    if standing.tenure_days < rules.min_tenure_days:
        return Ineligible.TENURE
    if standing.topups_30d_count == 0:
        return Ineligible.NO_TOPUPS
    return None


def repayment(outstanding: Tiyn, topup: Tiyn, available: Tiyn) -> Tiyn:
    """What a top-up repays: the debt first, never more than came in or than is there."""
    return max(0, min(outstanding, topup, available))


@dataclass(frozen=True, slots=True)
class TrustCredit:
    id: int
    subscriber_id: int
    msisdn: str
    amount: Tiyn
    fee: Tiyn
    outstanding: Tiyn
    status: CreditStatus
    taken_at: datetime
    due_at: datetime
    closed_at: datetime | None
    session_key: str
