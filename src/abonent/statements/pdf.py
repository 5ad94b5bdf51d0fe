"""PDF of a full statement: fpdf2 with a TrueType font that has Cyrillic and Kazakh letters."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from abonent.core.errors import AbonentError
from abonent.core.money import format_tenge
from abonent.core.msisdn import display
from abonent.statements.domain import CATEGORY_NAMES, MoneyLine, ShortStatement, UsageLine

MAX_PDF_LINES = 20_000


_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _packaged_font() -> Path:
    """Roboto from the font-roboto package (Cyrillic, Kazakh letters and ₸), else DejaVu."""
    try:
        import font_roboto
    except ImportError:  # pragma: no cover - the package is a dependency
        return _DEJAVU
    return Path(str(font_roboto.Roboto))


class StatementFontMissing(AbonentError):
    code = "statement_font_missing"
    http_status = 503


def render_pdf(
    statement: ShortStatement,
    usage: list[UsageLine],
    money: list[MoneyLine],
    *,
    operator: str,
    font_path: str,
) -> bytes:
    font = Path(font_path) if font_path else _packaged_font()
    if not font.is_file():
        raise StatementFontMissing(
            f"the PDF font {font} is missing (set ABONENT_STATEMENT_FONT_PATH to a TrueType "
            "font with Cyrillic, e.g. DejaVuSans.ttf)"
        )
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("Body", "", str(font))
    pdf.add_page()
    pdf.set_font("Body", size=13)
    _line(pdf, 8, f"{operator} — детализация счёта / шот бойынша анықтама")
    pdf.set_font("Body", size=10)
    _line(pdf, 6, f"Номер: {display(statement.msisdn)}")
    _line(
        pdf,
        6,
        f"Период: {statement.period_from:%d.%m.%Y %H:%M} — "
        f"{statement.period_to:%d.%m.%Y %H:%M} UTC",
    )
    pdf.ln(2)
    for c in statement.categories:
        _line(
            pdf,
            5,
            f"{CATEGORY_NAMES.get(c.category, c.category)}: {c.count} — {format_tenge(c.amount)} ₸",
        )
    _line(pdf, 6, f"Итого списано: {format_tenge(statement.charged)} ₸")
    pdf.ln(3)
    pdf.set_font("Body", size=7)
    widths = (32, 18, 26, 26, 18, 16, 18, 22)
    headers = ("Дата/время", "Тип", "Кто", "Кому", "Сеть", "Ед.", "Пакет", "Сумма ₸")
    for width, text in zip(widths, headers, strict=True):
        pdf.cell(width, 5, text, border=1)
    pdf.ln()
    for u in usage[:MAX_PDF_LINES]:
        cells = (
            f"{u.started_at:%d.%m.%Y %H:%M:%S}",
            u.kind,
            u.caller,
            u.callee,
            u.direction,
            str(u.units),
            str(u.bundle_units),
            format_tenge(u.amount),
        )
        for width, text in zip(widths, cells, strict=True):
            pdf.cell(width, 4, text, border=1)
        pdf.ln()
    if len(usage) > MAX_PDF_LINES:
        _line(pdf, 5, f"… ещё {len(usage) - MAX_PDF_LINES} записей в CSV")
    pdf.ln(2)
    pdf.set_font("Body", size=8)
    for m in money:
        _line(
            pdf,
            4,
            f"{m.at:%d.%m.%Y %H:%M}  {m.kind}  {m.reference[:70]}  {format_tenge(m.amount)} ₸",
        )
    return bytes(pdf.output())


def _line(pdf: FPDF, height: float, text: str) -> None:
    pdf.cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
