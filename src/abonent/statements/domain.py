"""Statements, free of storage: the period rule, totals by category, the CSV of a full one.

A short statement (free) gives totals by category for the period; a full one (a fee, charged
once per number and period) lists every rated usage record and every money movement.
Periods are half-open ``[from, to)`` in UTC, at most ``MAX_PERIOD_DAYS`` long, not in the future.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn, format_tenge

MAX_PERIOD_DAYS = 366

# Ledger transaction kinds → statement categories (usage is split by the usage records).
_CATEGORY_BY_KIND = {
    "renewal.tariff": "tariff_fees",
    "tariff_change": "tariff_fees",
    "renewal.option": "options",
    "option_fee": "options",
    "statement_fee": "statement_fees",
}
USAGE_CATEGORY = {
    "call": "calls",
    "collect_call": "collect_calls",
    "sms": "sms",
    "data": "data",
}
UNIT_OF = {"calls": "second", "collect_calls": "second", "sms": "sms", "data": "KB"}
CATEGORY_NAMES = {
    "calls": "Звонки / Calls",
    "collect_calls": "Звонки за счёт собеседника / Collect calls",
    "sms": "SMS",
    "data": "Интернет / Data",
    "tariff_fees": "Абонентская плата / Tariff fees",
    "options": "Услуги / Options",
    "statement_fees": "Детализация / Statements",
    "top_ups": "Пополнения / Top-ups",
    "other": "Прочее / Other",
}


def check_period(period_from: datetime, period_to: datetime, now: datetime) -> None:
    if period_from.tzinfo is None or period_to.tzinfo is None:
        raise ValidationError("the period needs moments with a time zone")
    if period_from >= period_to:
        raise ValidationError("the period must end after it starts")
    if period_to - period_from > timedelta(days=MAX_PERIOD_DAYS):
        raise ValidationError(f"a statement covers at most {MAX_PERIOD_DAYS} days")
    if period_from > now:
        raise ValidationError("the period has not started yet")


def category_of_kind(kind: str) -> str:
    if kind.startswith("topup."):
        return "top_ups"
    return _CATEGORY_BY_KIND.get(kind, "other")


@dataclass(frozen=True, slots=True)
class UsageLine:
    started_at: datetime
    kind: str
    caller: str
    callee: str
    direction: str
    duration_seconds: int
    volume_bytes: int
    units: int
    bundle_units: int
    amount: Tiyn


@dataclass(frozen=True, slots=True)
class MoneyLine:
    at: datetime
    kind: str
    reference: str
    amount: Tiyn  # + credited to the subscriber, - charged


@dataclass(frozen=True, slots=True)
class CategoryTotal:
    category: str
    count: int
    units: int
    unit: str
    amount: Tiyn  # charged (positive number), or credited for top-ups


@dataclass(frozen=True, slots=True)
class ShortStatement:
    msisdn: str
    period_from: datetime
    period_to: datetime
    categories: list[CategoryTotal]
    charged: Tiyn
    credited: Tiyn


def short_statement(
    msisdn: str,
    period_from: datetime,
    period_to: datetime,
    usage: list[UsageLine],
    money: list[MoneyLine],
) -> ShortStatement:
    count: dict[str, int] = defaultdict(int)
    units: dict[str, int] = defaultdict(int)
    amount: dict[str, int] = defaultdict(int)
    for line in usage:
        category = USAGE_CATEGORY.get(line.kind, "other")
        count[category] += 1
        units[category] += line.units
        amount[category] += line.amount
    credited = 0
    for m in money:
        if m.kind == "usage":
            continue  # itemised above from the usage records
        category = category_of_kind(m.kind)
        count[category] += 1
        if m.amount > 0:
            credited += m.amount
        amount[category] += abs(m.amount)
    order = list(CATEGORY_NAMES)
    categories = [
        CategoryTotal(c, count[c], units.get(c, 0), UNIT_OF.get(c, ""), amount[c])
        for c in sorted(count, key=order.index)
    ]
    charged = sum(c.amount for c in categories if c.category != "top_ups")
    return ShortStatement(msisdn, period_from, period_to, categories, charged, credited)


CSV_HEADER = (
    "started_at",
    "kind",
    "caller",
    "callee",
    "direction",
    "duration_seconds",
    "volume_bytes",
    "billed_units",
    "from_bundle",
    "amount_kzt",
)


def full_csv(usage: list[UsageLine], money: list[MoneyLine]) -> str:
    """Every usage record, then every money movement, as CSV (UTF-8, comma separated)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for u in usage:
        writer.writerow(
            [
                u.started_at.isoformat(),
                u.kind,
                u.caller,
                u.callee,
                u.direction,
                u.duration_seconds,
                u.volume_bytes,
                u.units,
                u.bundle_units,
                format_tenge(u.amount),
            ]
        )
    writer.writerow([])
    writer.writerow(["at", "operation", "reference", "amount_kzt"])
    for m in money:
        writer.writerow([m.at.isoformat(), m.kind, m.reference, format_tenge(m.amount)])
    return out.getvalue()
