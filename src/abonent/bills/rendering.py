"""A bill as PDF (Cyrillic, via the receipts' document) and the data its HTML page shows."""

from __future__ import annotations

from dataclasses import dataclass

from abonent.bills.domain import CARRIED_TITLE, CATEGORY_TITLES, PREVIOUS_TITLE, Bill
from abonent.core.msisdn import masked
from abonent.receipts.rendering import Document, local_time, tenge_text

STATUS_TITLES = {"open": "К оплате", "paid": "Оплачен", "overdue": "Просрочен"}


@dataclass(frozen=True, slots=True)
class PrintedLine:
    title: str
    amount: str


def printed_lines(bill: Bill) -> list[PrintedLine]:
    """The bill's lines as printed: charges by category, then credit carried in."""
    lines = [
        PrintedLine(CATEGORY_TITLES.get(x.category, x.category), tenge_text(x.amount))
        for x in bill.lines
    ]
    if not bill.lines:
        lines.append(PrintedLine("Начислений за период нет", tenge_text(0)))
    if bill.carried_in:
        lines.append(PrintedLine(CARRIED_TITLE, tenge_text(-bill.carried_in)))
    return lines


def bill_context(bill: Bill, seller_name: str, seller_bin: str) -> dict[str, object]:
    return {
        "bill": bill,
        "seller_name": seller_name,
        "seller_bin": seller_bin,
        "number": masked(bill.msisdn),
        "lines": printed_lines(bill),
        "amount_due": tenge_text(bill.amount_due),
        "previous_title": PREVIOUS_TITLE,
        "previous": tenge_text(bill.previous_unpaid),
        "total": tenge_text(bill.total_to_pay),
        "paid": tenge_text(bill.paid),
        "due": local_time(bill.due_at)[:10],
        "status": STATUS_TITLES.get(bill.status.value, bill.status.value),
    }


def bill_pdf(bill: Bill, seller_name: str, seller_bin: str, seller_address: str) -> bytes:
    doc = Document(f"Счёт за {bill.month}", bill.created_at)
    doc.heading(seller_name, 13)
    doc.line_text(f"БИН {seller_bin}")
    doc.line_text(seller_address)
    doc.rule()
    doc.heading(f"Счёт за услуги связи за {bill.month}", 14)
    doc.pair("Номер абонента", masked(bill.msisdn))
    doc.pair("Период", f"{local_time(bill.period_start)[:10]} – {local_time(bill.period_end)[:10]}")
    doc.pair("Оплатить до", local_time(bill.due_at)[:10])
    doc.rule()
    for line in printed_lines(bill):
        doc.pair(line.title, line.amount)
    doc.pair("Итого по счёту", tenge_text(bill.amount_due), bold=True)
    if bill.previous_unpaid:
        doc.pair(PREVIOUS_TITLE, tenge_text(bill.previous_unpaid))
        doc.pair("Всего к оплате", tenge_text(bill.total_to_pay), bold=True)
    doc.pair("Оплачено", tenge_text(bill.paid))
    doc.pair("Статус", STATUS_TITLES.get(bill.status.value, bill.status.value))
    doc.rule()
    doc.line_text("Суммы указаны с учётом НДС. Переплата учитывается в следующем счёте.", size=8)
    return doc.bytes()
