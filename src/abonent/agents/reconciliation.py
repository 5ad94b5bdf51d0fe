"""Reconciling an agent's daily registry with our records: pure comparison, no storage.

A registry is CSV with the columns ``txn_id, date, account, sum`` (a header line is optional).
Every line lands in exactly one category: matched, missing on our side, mismatched (sum or
number differ, or we cancelled it); and each of our credited payments on the registry's days
that the registry lacks is missing on theirs.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from abonent.agents.domain import TXN_ID, AgentPayment, AgentPaymentStatus
from abonent.core.errors import AbonentError, ValidationError
from abonent.core.money import Tiyn, format_tenge, parse_tenge
from abonent.core.msisdn import national10, parse_msisdn

_DATE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T ]?\d{2}:?\d{2}:?\d{2})?")
MAX_LINES = 1_000_000


class Category(StrEnum):
    MATCHED = "matched"
    MISSING_OURS = "missing_on_our_side"
    MISSING_THEIRS = "missing_on_their_side"
    MISMATCHED = "mismatched"


@dataclass(frozen=True, slots=True)
class RegistryLine:
    line: int
    txn_id: str
    date: str
    day: str  # YYYY-MM-DD
    msisdn: str
    amount: Tiyn


@dataclass(frozen=True, slots=True)
class ReportLine:
    category: Category
    txn_id: str
    their_date: str = ""
    our_date: str = ""
    their_account: str = ""
    our_account: str = ""
    their_sum: Tiyn | None = None
    our_sum: Tiyn | None = None
    prv_txn: int | None = None
    note: str = ""

    def as_row(self) -> dict[str, str]:
        return {
            "category": self.category.value,
            "txn_id": self.txn_id,
            "their_date": self.their_date,
            "our_date": self.our_date,
            "their_account": self.their_account,
            "our_account": self.our_account,
            "their_sum": "" if self.their_sum is None else format_tenge(self.their_sum),
            "our_sum": "" if self.our_sum is None else format_tenge(self.our_sum),
            "prv_txn": "" if self.prv_txn is None else str(self.prv_txn),
            "note": self.note,
        }


REPORT_COLUMNS = list(ReportLine(Category.MATCHED, "").as_row())


@dataclass(frozen=True)
class ReconciliationReport:
    agent: str
    days: list[str]
    lines: list[ReportLine] = field(default_factory=list)

    def of(self, category: Category) -> list[ReportLine]:
        return [x for x in self.lines if x.category is category]

    def counts(self) -> dict[Category, int]:
        return {c: len(self.of(c)) for c in Category}

    @property
    def clean(self) -> bool:
        return all(x.category is Category.MATCHED for x in self.lines)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for line in self.lines:
            writer.writerow(line.as_row())
        return out.getvalue()


def parse_registry(text: str) -> list[RegistryLine]:
    """Parse a registry; any bad line refuses the whole file (naming the line)."""
    lines: list[RegistryLine] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and cells and cells[0].lower() in {"txn_id", "receipt", "id"}:
            continue
        if len(cells) != 4:
            raise ValidationError(f"line {number}: expected txn_id,date,account,sum")
        txn_id, date, account, amount = cells
        if not TXN_ID.fullmatch(txn_id):
            raise ValidationError(f"line {number}: txn_id must be 1-20 digits")
        if txn_id in seen:
            raise ValidationError(f"line {number}: txn_id {txn_id} repeats line {seen[txn_id]}")
        seen[txn_id] = number
        try:
            msisdn = parse_msisdn(account)
            tiyn = parse_tenge(amount)
        except AbonentError as exc:
            raise ValidationError(f"line {number}: {exc.message}") from None
        lines.append(RegistryLine(number, txn_id, date, _day(date, number), msisdn, tiyn))
        if len(lines) > MAX_LINES:
            raise ValidationError(f"a registry has at most {MAX_LINES} lines")
    return lines


def _day(text: str, number: int) -> str:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValidationError(f"line {number}: date must look like 2026-01-15 or 20260115093000")
    year, month, day = match.groups()
    return f"{year}-{month}-{day}"


def compare(
    agent: str, days: list[str], lines: Sequence[RegistryLine], ours: Sequence[AgentPayment]
) -> ReconciliationReport:
    by_txn = {p.txn_id: p for p in ours}
    report: list[ReportLine] = []
    for line in lines:
        our = by_txn.pop(line.txn_id, None)
        theirs = {
            "txn_id": line.txn_id,
            "their_date": line.date,
            "their_account": national10(line.msisdn),
            "their_sum": line.amount,
        }
        if our is None:
            report.append(ReportLine(Category.MISSING_OURS, **theirs))  # type: ignore[arg-type]
            continue
        mine = {
            "our_date": our.txn_date or "",
            "our_account": national10(our.msisdn),
            "our_sum": our.amount,
            "prv_txn": our.payment_id,
        }
        notes = []
        if our.status is AgentPaymentStatus.CANCELLED:
            notes.append("cancelled on our side")
        if our.amount != line.amount:
            notes.append("sums differ")
        if our.msisdn != line.msisdn:
            notes.append("numbers differ")
        category = Category.MISMATCHED if notes else Category.MATCHED
        report.append(ReportLine(category, note="; ".join(notes), **theirs, **mine))  # type: ignore[arg-type]
    for our in sorted(by_txn.values(), key=lambda p: p.id):
        if our.status is not AgentPaymentStatus.CREDITED:
            continue
        report.append(
            ReportLine(
                Category.MISSING_THEIRS,
                txn_id=our.txn_id,
                our_date=our.txn_date or "",
                our_account=national10(our.msisdn),
                our_sum=our.amount,
                prv_txn=our.payment_id,
            )
        )
    return ReconciliationReport(agent=agent, days=days, lines=report)
