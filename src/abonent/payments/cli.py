"""``abonent payment ...``: corrections by support."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from abonent.cli_support import actor, console, container
from abonent.core.money import format_tenge
from abonent.core.msisdn import display
from abonent.payments.corrections import redirect_payment

payment_app = typer.Typer(help="Payments: corrections by support.", no_args_is_help=True)


@payment_app.command("redirect")
def redirect(
    receipt: Annotated[str, typer.Argument(help="Receipt number of the mistaken payment")],
    to: Annotated[str, typer.Option("--to", help="The number the money was meant for")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
) -> None:
    """Move a payment to the right number (reversal + new credit, as far as the balance allows)."""
    report = redirect_payment(container().db, receipt, to=to, reason=reason, actor=actor())
    table = Table("", "", show_header=False, box=None)
    table.add_row("payment", report.receipt)
    table.add_row("from", display(report.from_msisdn))
    table.add_row("to", display(report.to_msisdn))
    table.add_row("amount", f"{format_tenge(report.amount)} ₸")
    table.add_row("moved", f"{format_tenge(report.moved)} ₸")
    table.add_row("not moved (already spent)", f"{format_tenge(report.not_moved)} ₸")
    table.add_row("new receipt", report.new_receipt)
    table.add_row("return receipt", report.return_receipt)
    console.print(table)
    if report.not_moved:
        console.print(
            f"only {format_tenge(report.moved)} of {format_tenge(report.amount)} ₸ could be "
            f"moved; {format_tenge(report.not_moved)} ₸ was already spent by the wrong number"
        )
