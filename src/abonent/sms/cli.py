"""``abonent sms outbox [--to MSISDN] [--json]`` and ``abonent sms send``."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table

from abonent.cli_support import console, container, print_json
from abonent.sms.adapters import build_adapter
from abonent.sms.services import deliver_pending, list_outbox
from abonent.ussd.config import ChannelSettings

sms_app = typer.Typer(help="SMS outbox and delivery.", no_args_is_help=True)


@sms_app.command("outbox")
def outbox(
    to: Annotated[str | None, typer.Option("--to", help="Only SMS to this number")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
) -> None:
    """SMS written to the outbox, newest first."""
    messages = list_outbox(container().db, to=to, limit=limit)
    if as_json:
        print_json([m.as_json() for m in messages])
        return
    table = Table("created", "to", "sender", "status", "text")
    for m in messages:
        table.add_row(f"{m.created_at:%Y-%m-%d %H:%M:%S}", m.to, m.sender, m.status, m.text)
    console.print(table)


@sms_app.command("send")
def send(
    loop: Annotated[bool, typer.Option("--loop", help="Keep sending until interrupted")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1)] = 1.0,
) -> None:
    """Deliver pending SMS through the configured adapter (ABONENT_SMS_ADAPTER)."""
    settings = ChannelSettings()
    adapter = build_adapter(settings)
    while True:
        report = deliver_pending(
            container().db,
            adapter,
            max_attempts=settings.sms_max_attempts,
            backoff_base_seconds=settings.sms_backoff_seconds,
        )
        console.print(
            f"sent {report.sent}, retry later {report.retried}, failed {report.failed}, "
            f"uncertain {report.uncertain}"
        )
        if not loop:
            return
        time.sleep(interval)
