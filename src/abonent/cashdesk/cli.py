"""``abonent cashdesk ...``: register machines, issue login tokens for them."""

from __future__ import annotations

from typing import Annotated

import typer

from abonent.cashdesk import services
from abonent.cli_support import console, container

cashdesk_app = typer.Typer(help="Self-service cash machines.", no_args_is_help=True)


@cashdesk_app.command("register")
def register(
    code: Annotated[str, typer.Argument(help="Machine code, e.g. ATM-ALM-0001")],
    name: Annotated[str, typer.Option("--name", help="Where it stands, as people say it")],
) -> None:
    """Register a machine and print its API key (shown only this once)."""
    c = container()
    machine, key = services.register_machine(c.db, code, name, secret=c.settings.secret_key)
    console.print(f"machine {machine.code} registered; key (keep it secret): {key}")


@cashdesk_app.command("qr")
def qr(msisdn: Annotated[str, typer.Argument(help="The payer's number")]) -> None:
    """Issue a one-time QR login token (what the cabinet/app shows as a QR code)."""
    c = container()
    console.print(services.issue_qr_token(c.db, msisdn, secret=c.settings.secret_key))


@cashdesk_app.command("link-card")
def link_card(
    msisdn: Annotated[str, typer.Argument(help="The payer's number")],
    card_token: Annotated[str, typer.Argument(help="The acquirer's token of the card")],
) -> None:
    """Let a bank card authorise this number at the machines."""
    c = container()
    services.link_card_token(c.db, msisdn, card_token, secret=c.settings.secret_key)
    console.print("card linked")
