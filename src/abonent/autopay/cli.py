"""``abonent autopay ...``: operators list, pause, resume and delete rules and run due work."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from abonent.autopay import jobs, services
from abonent.autopay.domain import Rule, RuleStatus
from abonent.cli_support import actor, console, container, print_json
from abonent.core.money import format_tenge

autopay_app = typer.Typer(help="Auto top-up rules.", no_args_is_help=True)


def rule_as_json(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "owner": rule.owner_msisdn,
        "target": rule.target_msisdn,
        "kind": rule.kind.value,
        "amount": None if rule.amount is None else format_tenge(rule.amount),
        "threshold": None if rule.threshold is None else format_tenge(rule.threshold),
        "period": rule.period.value if rule.period else None,
        "day": rule.day,
        "next_run_at": rule.next_run_at.isoformat() if rule.next_run_at else None,
        "status": rule.status.value,
        "card_id": rule.card_id,
        "declines_in_a_row": rule.consecutive_declines,
        "channel": rule.channel,
    }


@autopay_app.command("list")
def list_rules(
    msisdn: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Rules a number owns and rules that top it up."""
    db = container().db
    seen: dict[int, Rule] = {r.id: r for r in services.list_rules(db, msisdn)}
    seen.update({r.id: r for r in services.rules_for_number(db, msisdn)})
    rows = [rule_as_json(r) for r in sorted(seen.values(), key=lambda r: r.id)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no auto top-up rules")
        return
    table = Table("id", "owner", "target", "kind", "amount", "threshold", "period", "status")
    for row in rows:
        table.add_row(
            *(
                "" if row[k] is None else str(row[k])
                for k in (
                    "id",
                    "owner",
                    "target",
                    "kind",
                    "amount",
                    "threshold",
                    "period",
                    "status",
                )
            )
        )
    console.print(table)


def _set_status(owner: str, rule_id: int, status: RuleStatus) -> None:
    rule = services.update_rule(
        container().db, owner_msisdn=owner, rule_id=rule_id, status=status, actor=actor()
    )
    console.print(f"rule {rule.id} is {rule.status.value}")


@autopay_app.command("pause")
def pause(owner: str, rule_id: int) -> None:
    """Pause a rule (OWNER is the number that owns it)."""
    _set_status(owner, rule_id, RuleStatus.PAUSED)


@autopay_app.command("resume")
def resume(owner: str, rule_id: int) -> None:
    """Resume a paused or stopped rule (its decline count starts again)."""
    _set_status(owner, rule_id, RuleStatus.ACTIVE)


@autopay_app.command("delete")
def delete(owner: str, rule_id: int) -> None:
    """Delete a rule."""
    rule = services.delete_rule(container().db, owner_msisdn=owner, rule_id=rule_id, actor=actor())
    console.print(f"rule {rule.id} deleted")


@autopay_app.command("run-due")
def run_due() -> None:
    """Fire due schedule and renewal rules and charge pending triggers (also run by the
    job runner)."""
    report = jobs.run_due(container())
    console.print(
        f"schedule {report.schedule_fired}, renewal {report.renewal_fired}, "
        f"triggers charged {report.triggers_processed}, re-armed {report.rearmed}"
    )
    for line in report.errors[:20]:
        console.print(f"  {line}")
