"""``abonent statement short|full`` commands."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from abonent.cli_support import actor, console, container
from abonent.core.errors import ValidationError
from abonent.core.money import format_tenge
from abonent.statements import services
from abonent.statements.domain import CATEGORY_NAMES

statement_app = typer.Typer(
    help="Statements: short (free) and full call detail (a fee).", no_args_is_help=True
)


def _moment(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{name}: not an ISO-8601 date or moment: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@statement_app.command("short")
def short(
    msisdn: str,
    period_from: Annotated[str, typer.Option("--from", help="2026-01-01 (UTC) or a moment")],
    period_to: Annotated[str, typer.Option("--to", help="end, exclusive")],
) -> None:
    """Totals by category for a period (free)."""
    s = services.short_statement_for(
        container().db, msisdn, _moment(period_from, "--from"), _moment(period_to, "--to")
    )
    table = Table("category", "count", "units", "amount ₸")
    for c in s.categories:
        table.add_row(
            CATEGORY_NAMES.get(c.category, c.category),
            str(c.count),
            f"{c.units} {c.unit}".strip(),
            format_tenge(c.amount),
        )
    console.print(table)
    console.print(f"charged {format_tenge(s.charged)} ₸, credited {format_tenge(s.credited)} ₸")


@statement_app.command("full")
def full(
    msisdn: str,
    period_from: Annotated[str, typer.Option("--from")],
    period_to: Annotated[str, typer.Option("--to")],
    email: Annotated[
        str | None, typer.Option("--email", help="Instead of the subscriber's")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write CSV and PDF here")] = None,
) -> None:
    """Full call detail (charged once per period), e-mailed through the outbox."""
    c = container()
    result = services.order_full_statement(
        c.db,
        msisdn,
        _moment(period_from, "--from"),
        _moment(period_to, "--to"),
        actor=actor(),
        settings=c.settings,
        email=email,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"statement-{result.order_id}.csv").write_text(result.csv_text, encoding="utf-8")
        (out / f"statement-{result.order_id}.pdf").write_bytes(result.pdf)
    fee = (
        f"fee {format_tenge(result.fee)} ₸ charged"
        if result.charged_now
        else "no fee (paid before)"
    )
    where = f"e-mail queued to {result.emailed_to}" if result.emailed_to else "no e-mail address"
    console.print(f"statement {result.order_id}: {fee}; {where}")
