"""``abonent cards ...``: operators look at linked cards and card payments, run the reconciler."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from abonent.cards import services
from abonent.cards.acquirers import acquirer_for
from abonent.cli_support import actor, console, container, print_json
from abonent.core.money import format_tenge
from abonent.core.msisdn import display

cards_app = typer.Typer(help="Linked bank cards and card payments.", no_args_is_help=True)


@cards_app.command("list")
def list_cards(
    msisdn: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Cards linked by a number (only last four digits, brand and expiry are kept)."""
    found = services.list_cards(container().db, msisdn)
    rows = [
        {
            "id": c.id,
            "card": c.label,
            "expiry": f"{c.exp_month:02d}/{c.exp_year % 100:02d}",
            "acquirer": c.acquirer,
            "linked_at": c.created_at.isoformat(),
        }
        for c in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "card", "expiry", "acquirer", "linked at")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table if rows else "no cards linked")


@cards_app.command("remove")
def remove(msisdn: str, card_id: int) -> None:
    """Unlink a card (its auto top-up rules are paused)."""
    card = services.remove_card(container().db, owner_msisdn=msisdn, card_id=card_id, actor=actor())
    console.print(f"{card.label} removed from {display(card.owner_msisdn)}")


@cards_app.command("payments")
def payments(
    msisdn: str,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Recent card payments of a card owner, with their state."""
    found = services.card_payments_of(container().db, msisdn, limit=limit)
    rows = [
        {
            "operation_id": p.operation_id,
            "amount": format_tenge(p.amount),
            "target": p.target_msisdn,
            "status": p.status.value,
            "initiator": p.initiator.value,
            "reason": p.reason,
            "created_at": p.created_at.isoformat(),
        }
        for p in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("operation", "amount ₸", "to", "status", "by", "reason", "created")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table if rows else "no card payments")


@cards_app.command("reconcile")
def reconcile() -> None:
    """Ask the acquirer about payments in an unknown state and apply its answers."""
    c = container()
    report = services.reconcile_unknown(c.db, acquirer_for(c))
    console.print(
        f"checked {report.checked}: captured {report.captured}, declined {report.declined}, "
        f"failed {report.failed}, still unknown {report.still_unknown}"
    )
    for line in report.errors[:20]:
        console.print(f"  {line}")
