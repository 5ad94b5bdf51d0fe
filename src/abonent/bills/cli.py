"""``abonent bills ...``: the month's bill run, overdue bars, showing and printing a bill."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abonent.bills import services
from abonent.bills.domain import parse_month
from abonent.cli_support import actor, console, container
from abonent.core.money import format_tenge

bills_app = typer.Typer(help="Postpaid bills: month-end run, overdue bars.", no_args_is_help=True)


@bills_app.command("run")
def run(
    month: Annotated[
        str | None, typer.Option("--month", help="YYYY-MM (default: the month that ended last)")
    ] = None,
) -> None:
    """Cut the bills of every postpaid number for a month; running it again bills no one twice."""
    c = container()
    report = services.run_bills(
        c.db,
        services.BillingPolicy.from_settings(c.settings),
        month=parse_month(month) if month is not None else None,
        actor=actor(),
    )
    console.print(
        f"bills for {report.month}: {report.created} created, "
        f"{report.already_billed} already billed, {format_tenge(report.total_due)} ₸ due"
    )


@bills_app.command("overdue")
def overdue() -> None:
    """Mark unpaid bills overdue and bar numbers whose grace period has run out."""
    c = container()
    report = services.check_overdue(
        c.db, services.BillingPolicy.from_settings(c.settings), actor=actor()
    )
    console.print(f"{report.marked_overdue} bills became overdue; {len(report.barred)} barred")
    for msisdn in report.barred:
        console.print(f"barred {msisdn}")


@bills_app.command("show")
def show(msisdn: Annotated[str, typer.Argument(help="The postpaid number")]) -> None:
    """List a number's bills, newest first, with their share links."""
    c = container()
    base = c.settings.public_base_url.rstrip("/")
    found = services.bills_of_number(c.db, msisdn)
    for bill in found:
        console.print(
            f"{bill.month}  due {format_tenge(bill.amount_due)} ₸  paid {format_tenge(bill.paid)} ₸"
            f"  {bill.status.value}  by {bill.due_at.date().isoformat()}"
            f"  {base}/bills/{bill.share_token}"
        )
    if not found:
        console.print("no bills")


@bills_app.command("pdf")
def pdf(
    msisdn: Annotated[str, typer.Argument(help="The postpaid number")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the PDF")],
) -> None:
    """Write a bill as PDF."""
    from abonent.bills.rendering import bill_pdf  # fpdf is slow to import

    c = container()
    bill = services.bill_for_month(c.db, msisdn, parse_month(month))
    s = c.settings
    out.write_bytes(bill_pdf(bill, s.operator_name, s.operator_bin, s.operator_address))
    console.print(f"wrote {out}")
