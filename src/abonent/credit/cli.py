"""``abonent credit deadlines``: debit trust credits past their deadline (run by cron)."""

from __future__ import annotations

import typer

from abonent.cli_support import console, container
from abonent.core.money import format_tenge
from abonent.credit.services import run_deadlines

credit_app = typer.Typer(help="Trust credit (доверительный платёж).", no_args_is_help=True)


@credit_app.command("deadlines")
def deadlines() -> None:
    """Debit every open trust credit past its deadline; bar numbers that go below zero."""
    outcomes = run_deadlines(container().db)
    for o in outcomes:
        console.print(
            f"credit {o.credit_id}: debited {format_tenge(o.debited)} ₸, balance "
            f"{format_tenge(o.balance_after)} ₸{' (barred)' if o.barred else ''}"
        )
    console.print(f"{len(outcomes)} credits past their deadline processed")
