"""Receipts (and bills) as PDF with Cyrillic text, and the verification QR code.

The font is Roboto from the ``font-roboto`` package (it covers Russian and Kazakh letters and
the tenge sign); DejaVu Sans from Debian's ``fonts-dejavu-core`` is the fallback.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from abonent.core.money import Tiyn, format_tenge
from abonent.receipts.domain import Receipt

FONT = "AbonentSans"
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
LOCAL_OFFSET_HOURS = 5  # receipts show Kazakhstan time (UTC+5)


@lru_cache(maxsize=1)
def font_files() -> tuple[str, str]:
    """(regular, bold) TrueType files with Cyrillic glyphs."""
    try:
        import font_roboto

        return str(font_roboto.Roboto), str(font_roboto.RobotoBold)
    except ImportError:  # pragma: no cover - the package is a dependency
        regular, bold = _DEJAVU / "DejaVuSans.ttf", _DEJAVU / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            return str(regular), str(bold)
        raise RuntimeError("no Cyrillic font: install font-roboto or fonts-dejavu-core") from None


def tenge_text(amount: Tiyn) -> str:
    return f"{format_tenge(amount)} ₸"


def local_time(moment: datetime) -> str:
    local = moment.astimezone(timezone(timedelta(hours=LOCAL_OFFSET_HOURS)))
    return local.strftime("%d.%m.%Y %H:%M:%S")


def qr_svg(url: str) -> str:
    """An inline SVG QR code of ``url`` (for HTML pages)."""
    return str(segno.make(url, error="m").svg_inline(scale=4, border=2))


class Document(FPDF):
    """An A4 page set up with the Cyrillic font."""

    def __init__(self, title: str, created_at: datetime) -> None:
        super().__init__(format="A4")
        regular, bold = font_files()
        self.add_font(FONT, "", regular)
        self.add_font(FONT, "B", bold)
        self.set_title(title)
        self.set_creation_date(created_at)
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()
        self.set_font(FONT, size=10)

    def heading(self, text: str, size: int = 16) -> None:
        self.set_font(FONT, "B", size)
        self.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=10)
        self.ln(2)

    def line_text(self, text: str, *, bold: bool = False, size: int = 10) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, 5.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=10)

    def pair(self, label: str, value: str, *, bold: bool = False) -> None:
        self.set_font(FONT, "", 10)
        self.cell(70, 6.5, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        self.set_font(FONT, "B" if bold else "", 10)
        self.multi_cell(0, 6.5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=10)

    def rule(self) -> None:
        y = self.get_y() + 1
        self.line(self.l_margin, y, self.w - self.r_margin, y)
        self.ln(3)

    def qr(self, url: str, size_mm: float = 32) -> None:
        """Draw the QR code of ``url`` as vector squares at the current position."""
        code = segno.make(url, error="m")
        rows = list(code.matrix_iter(border=2))
        module = size_mm / len(rows)
        x0, y0 = self.l_margin, self.get_y()
        if y0 + size_mm > self.h - self.b_margin:
            self.add_page()
            y0 = self.get_y()
        self.set_fill_color(0, 0, 0)
        for r, row in enumerate(rows):
            for c, dark in enumerate(row):
                if dark:
                    self.rect(x0 + c * module, y0 + r * module, module, module, style="F")
        self.set_y(y0 + size_mm + 2)

    def bytes(self) -> bytes:
        return bytes(self.output())


def receipt_pdf(receipt: Receipt, public_base_url: str) -> bytes:
    doc = Document(f"{receipt.title} {receipt.number}", receipt.issued_at)
    doc.heading(receipt.seller_name, 13)
    doc.line_text(f"БИН {receipt.seller_bin}")
    doc.line_text(receipt.seller_address)
    doc.rule()
    doc.heading(f"{receipt.title} № {receipt.number}", 14)
    doc.pair("Дата и время", local_time(receipt.issued_at))
    doc.pair("Услуга", receipt.service)
    doc.pair("Номер абонента", receipt.msisdn_masked)
    doc.pair("Сумма", tenge_text(receipt.amount), bold=True)
    doc.pair(f"в т.ч. НДС {receipt.vat_rate_percent}%", tenge_text(receipt.vat))
    doc.pair("Способ оплаты", receipt.channel_title)
    if receipt.method:
        doc.pair("Средство оплаты", receipt.method)
    doc.pair("Агент", receipt.agent)
    doc.pair("Номер транзакции агента", receipt.agent_txn_id)
    if receipt.reason:
        doc.pair("Причина возврата", receipt.reason)
    if receipt.fiscal_sign:
        doc.pair("Фискальный признак", receipt.fiscal_sign)
    doc.rule()
    url = receipt.verification_url(public_base_url)
    doc.line_text("Проверить чек:")
    doc.line_text(url)
    doc.qr(url)
    doc.line_text("Электронный чек имеет такую же юридическую силу, как и бумажный.", size=8)
    return doc.bytes()
