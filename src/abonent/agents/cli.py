"""``abonent agent ...``: register agents, list them, reconcile their daily registries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from abonent.agents import services
from abonent.agents.domain import DEFAULT_MAX_SUM, DEFAULT_MIN_SUM
from abonent.agents.reconciliation import Category, parse_registry
from abonent.cli_support import actor, console, container
from abonent.core.errors import ValidationError
from abonent.core.money import format_tenge, parse_tenge

agent_app = typer.Typer(help="Payment agents (banks, Kaspi, terminals).", no_args_is_help=True)


@agent_app.command("add")
def add(
    code: Annotated[str, typer.Argument(help="Agent code, e.g. KASPI (the HTTP Basic user)")],
    name: Annotated[str, typer.Option("--name")],
    protocol: Annotated[str, typer.Option("--protocol", help="osmp, kaspi or cyberplat")],
    password: Annotated[str, typer.Option("--password", help="HTTP Basic password")],
    allow_ip: Annotated[
        list[str] | None, typer.Option("--allow-ip", help="Allowed address or CIDR (repeatable)")
    ] = None,
    min_sum: Annotated[str | None, typer.Option("--min-sum", help="Tenge")] = None,
    max_sum: Annotated[str | None, typer.Option("--max-sum", help="Tenge")] = None,
) -> None:
    """Register an agent with its own clearing account."""
    agent = services.add_agent(
        container().db,
        services.NewAgent(
            code=code,
            name=name,
            protocol=protocol,
            password=password,
            allow_ips=tuple(allow_ip or ()),
            min_sum=parse_tenge(min_sum, field="min-sum")
            if min_sum is not None
            else DEFAULT_MIN_SUM,
            max_sum=parse_tenge(max_sum, field="max-sum")
            if max_sum is not None
            else DEFAULT_MAX_SUM,
        ),
        actor=actor(),
    )
    console.print(
        f"added agent {agent.code} ({agent.dialect.value}), endpoint /agents/{agent.code}, "
        f"sums {format_tenge(agent.min_sum)}–{format_tenge(agent.max_sum)} ₸"
    )


@agent_app.command("list")
def list_agents() -> None:
    """Agents with their dialect, limits and clearing balance."""
    table = Table("code", "name", "protocol", "auth", "min ₸", "max ₸", "paid in ₸")
    for agent, balance in services.list_agents(container().db):
        auth = ", ".join(
            x for x in ("password" if agent.password_hash else "", " ".join(agent.allow_ips)) if x
        )
        table.add_row(
            agent.code,
            agent.name,
            agent.dialect.value,
            auth,
            format_tenge(agent.min_sum),
            format_tenge(agent.max_sum),
            format_tenge(-balance),
        )
    console.print(table)


@agent_app.command("reconcile")
def reconcile(
    code: Annotated[str, typer.Argument(help="Agent code")],
    registry: Annotated[Path, typer.Argument(help="CSV: txn_id,date,account,sum")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Report CSV (default: REGISTRY.report.csv)")
    ] = None,
    day: Annotated[
        list[str] | None, typer.Option("--day", help="Also cover this day (YYYY-MM-DD)")
    ] = None,
) -> None:
    """Compare an agent's registry with our payments; never moves money."""
    try:
        text = registry.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("the registry must be UTF-8 text") from None
    days = [d.strip() for d in day or []]
    for d in days:
        if len(d) != 10 or d[4] != "-" or d[7] != "-":
            raise ValidationError(f"--day must look like 2026-01-15, not {d!r}")
    report = services.reconcile(container().db, code, parse_registry(text), days=days)
    target = out or registry.with_name(registry.name + ".report.csv")
    target.write_text(report.to_csv(), encoding="utf-8")
    counts = report.counts()
    summary = Table("category", "count")
    for category in Category:
        summary.add_row(category.value, str(counts[category]))
    console.print(f"agent {report.agent}, days {', '.join(report.days) or '-'}")
    console.print(summary)
    problems = [x for x in report.lines if x.category is not Category.MATCHED]
    if problems:
        detail = Table("category", "txn_id", "their sum", "our sum", "account", "note")
        for line in problems[:50]:
            row = line.as_row()
            detail.add_row(
                row["category"],
                row["txn_id"],
                row["their_sum"],
                row["our_sum"],
                row["their_account"] or row["our_account"],
                row["note"],
            )
        console.print(detail)
        if len(problems) > 50:
            console.print(f"... and {len(problems) - 50} more in the report")
    console.print(f"report written to {target}")
    if not report.clean:
        raise typer.Exit(1)
