"""``abonent receipts ...``: list a number's receipts, backfill, send to the fiscal service."""

from __future__ import annotations

from typing import Annotated

import typer

from abonent.cli_support import console, container
from abonent.core.money import format_tenge
from abonent.receipts import services
from abonent.receipts.domain import RecordingFiscalRegistrar

receipts_app = typer.Typer(help="Electronic receipts of payments.", no_args_is_help=True)


@receipts_app.command("list")
def list_receipts(msisdn: Annotated[str, typer.Argument(help="The number")]) -> None:
    """A number's receipts, newest first, with their share links."""
    c = container()
    found = services.receipts_of_number(c.db, msisdn)
    for r in found:
        console.print(
            f"{r.number}  {r.kind.value}  {format_tenge(r.amount)} ₸ (VAT {format_tenge(r.vat)})"
            f"  {r.channel}  {r.verification_url(c.settings.public_base_url)}"
        )
    if not found:
        console.print("no receipts")


@receipts_app.command("backfill")
def backfill() -> None:
    """Issue receipts for payments that have none (made before receipts existed)."""
    console.print(f"{services.backfill_receipts(container().db)} receipts issued")


@receipts_app.command("fiscal")
def fiscal() -> None:
    """Register pending receipts with the fiscal service (embedded: the recording fake)."""
    done = services.register_pending(container().db, RecordingFiscalRegistrar())
    console.print(f"{done} receipts registered")
