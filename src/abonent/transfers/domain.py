"""Balance transfer rules: amount range, fee bands, limits, the balance that must remain.

The fee is deducted from the amount sent: the sender pays ``amount``, the recipient gets
``amount - fee``. Defaults follow the operator's public terms; all of them are configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from abonent.core.money import Tiyn


@dataclass(frozen=True, slots=True)
class FeeBand:
    low: Tiyn  # inclusive
    high: Tiyn  # inclusive
    fee: Tiyn


@dataclass(frozen=True, slots=True)
class TransferRules:
    min_amount: Tiyn = 5_000
    max_amount: Tiyn = 200_000
    fee_bands: tuple[FeeBand, ...] = field(
        default_factory=lambda: (
            FeeBand(5_000, 19_999, 3_000),
            FeeBand(20_000, 49_999, 4_000),
            FeeBand(50_000, 149_999, 5_000),
            FeeBand(150_000, 200_000, 6_000),
        )
    )
    daily_count: int = 5
    daily_amount: Tiyn = 500_000
    monthly_amount: Tiyn = 3_000_000
    min_remaining: Tiyn = 10_000
    utc_offset_hours: int = 5  # days and months are counted in Kazakhstan time


@dataclass(frozen=True, slots=True)
class Quote:
    amount: Tiyn
    fee: Tiyn

    @property
    def net(self) -> Tiyn:
        return self.amount - self.fee


class TransferRefusal(StrEnum):
    RANGE = "transfer_range"
    DAILY_COUNT = "transfer_daily_count"
    DAILY_AMOUNT = "transfer_daily_limit"
    MONTHLY_AMOUNT = "transfer_monthly_limit"
    MIN_BALANCE = "transfer_min_balance"


def fee_for(amount: Tiyn, rules: TransferRules) -> Tiyn | None:
    for band in rules.fee_bands:
        if band.low <= amount <= band.high:
            return band.fee
    return None


def quote(amount: Tiyn, rules: TransferRules) -> Quote | None:
    """The fee for ``amount``, or None when the amount is outside the allowed range."""
    if not rules.min_amount <= amount <= rules.max_amount:
        return None
    fee = fee_for(amount, rules)
    if fee is None or fee >= amount:
        return None
    return Quote(amount, fee)


def limit_refusal(
    amount: Tiyn,
    *,
    balance: Tiyn,
    today_count: int,
    today_sum: Tiyn,
    month_sum: Tiyn,
    rules: TransferRules,
) -> TransferRefusal | None:
    if today_count >= rules.daily_count:
        return TransferRefusal.DAILY_COUNT
    if today_sum + amount > rules.daily_amount:
        return TransferRefusal.DAILY_AMOUNT
    if month_sum + amount > rules.monthly_amount:
        return TransferRefusal.MONTHLY_AMOUNT
    if balance - amount < rules.min_remaining:
        return TransferRefusal.MIN_BALANCE
    return None
