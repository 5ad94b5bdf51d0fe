"""``abonent usage import``, ``abonent jobs run-due`` and the charging commands of
``abonent subscriber`` (remainders, tariff, option, suspend, resume)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from abonent.charging import services
from abonent.charging.domain import UsageRecord
from abonent.charging.jobs import run_due
from abonent.charging.usage_file import read_usage_csv
from abonent.charging.views import summary_as_json
from abonent.cli_support import actor, console, container, err_console, print_json
from abonent.core.errors import NotFound, ValidationError
from abonent.core.money import format_tenge

usage_app = typer.Typer(help="Network usage records: import and rate.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="Scheduled work (renewals, trust credit deadlines, overdue bills, e-mails).",
    no_args_is_help=True,
)
IMPORT_CHUNK = 5000
SHOWN_PROBLEMS = 200


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"--now: not an ISO-8601 moment: {text!r}") from None
    if moment.tzinfo is None:
        raise ValidationError("--now: give a time zone, e.g. 2026-02-01T00:00:00+05:00")
    return moment.astimezone(UTC)


@jobs_app.command("run-due")
def run_due_command(
    now: Annotated[
        str | None, typer.Option("--now", help="Act as of this ISO-8601 moment (catch up, replay)")
    ] = None,
) -> None:
    """Run every due job once (renewals, credit deadlines, overdue bills, e-mails, auto top-up);
    safe to repeat."""
    for line in run_due(container(), _parse_now(now)):
        console.print(line)


@usage_app.command("import")
def import_usage(
    file: Annotated[Path, typer.Argument(help="CSV: record_id,kind,caller,callee,started_at,...")],
    report: Annotated[
        Path | None, typer.Option("--report", help="Write every line's outcome to this CSV")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar")] = False,
) -> None:
    """Rate a usage file, streaming; every refused, duplicate or bad line is reported."""
    db = container().db
    size = file.stat().st_size
    totals = {"rated": 0, "duplicate": 0, "refused": 0, "amount": 0}
    shown = 0
    report_file = report.open("w", newline="", encoding="utf-8") if report else None
    writer = csv.writer(report_file) if report_file else None
    if writer:
        writer.writerow(["line", "record_id", "status", "amount", "reason", "message"])

    def emit(line: int, rid: str, status: str, amount: int, reason: str, message: str) -> None:
        nonlocal shown
        totals[status] += 1
        totals["amount"] += amount
        if writer:
            writer.writerow([line, rid, status, format_tenge(amount), reason, message])
        if status != "rated" and shown < SHOWN_PROBLEMS:
            err_console.print(f"line {line}: {rid or '-'}: {status} [{reason}] {message}")
            shown += 1

    def flush(batch: list[tuple[int, UsageRecord]]) -> None:
        result = services.rate_usage(db, [r for _, r in batch])
        for (line, _), o in zip(batch, result.outcomes, strict=True):
            emit(line, o.record_id, o.status, o.amount, o.reason, o.message)
        batch.clear()

    try:
        with (
            file.open(encoding="utf-8", newline="") as stream,
            Progress(
                TextColumn("rating"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                console=err_console,
                disable=quiet,
            ) as progress,
        ):
            task = progress.add_task("rating", total=size or 1)
            batch: list[tuple[int, UsageRecord]] = []
            consumed = [0]

            def lines() -> Iterator[str]:
                for text in stream:
                    consumed[0] += len(text)  # characters: bytes for the usual ASCII file
                    yield text

            for line, item, rid in read_usage_csv(lines()):
                if isinstance(item, ValidationError):
                    flush(batch)  # keep the report in file order
                    emit(line, rid[:64], "refused", 0, "bad_record", item.message)
                    continue
                batch.append((line, item))
                if len(batch) >= IMPORT_CHUNK:
                    flush(batch)
                    progress.update(task, completed=consumed[0])
            flush(batch)
            progress.update(task, completed=size or 1)
    except UnicodeDecodeError:
        raise ValidationError(f"{file} is not UTF-8 text") from None
    finally:
        if report_file:
            report_file.close()
    if shown < totals["duplicate"] + totals["refused"]:
        err_console.print(f"... {totals['duplicate'] + totals['refused'] - shown} more (--report)")
    console.print(
        f"{totals['rated']} rated ({format_tenge(totals['amount'])} ₸), "
        f"{totals['duplicate']} duplicates ignored, {totals['refused']} refused"
    )


def remainders(
    msisdn: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Tariff, period and bundle remainders (minutes, SMS, data) with expiry."""
    summary = services.subscription_summary(container().db, msisdn)
    if summary is None:
        raise NotFound("this number has no tariff")
    if as_json:
        print_json(summary_as_json(summary))
        return
    console.print(
        f"{summary.tariff_code} «{summary.names['ru']}», {format_tenge(summary.fee)} ₸ / "
        f"{summary.period}, {summary.state}, period until {summary.period_end:%Y-%m-%d %H:%M} UTC"
    )
    table = Table("bundle", "used", "left", "unit", "expires", "from")
    for r in summary.remainders:
        table.add_row(
            r.kind,
            str(r.used),
            str(r.left),
            r.unit,
            f"{r.expires_at:%Y-%m-%d %H:%M}",
            r.product_code,
        )
    console.print(table)


def set_tariff(msisdn: str, tariff: str) -> None:
    """Move the number to another tariff now (fees per the catalogue)."""
    summary = services.change_tariff(container().db, msisdn, tariff, actor=actor())
    console.print(
        f"{summary.msisdn} is on {summary.tariff_code} until {summary.period_end:%Y-%m-%d}"
    )


def option(
    msisdn: str,
    code: str,
    off: Annotated[bool, typer.Option("--off", help="Disconnect instead")] = False,
) -> None:
    """Connect (or with --off disconnect) an option now."""
    if off:
        services.disconnect_option(container().db, msisdn, code, actor=actor())
        console.print(f"{code.upper()} disconnected")
        return
    result = services.connect_option(container().db, msisdn, code, actor=actor())
    console.print(f"{result.code} connected until {result.period_end:%Y-%m-%d %H:%M} UTC")


def suspend(msisdn: str, reason: Annotated[str, typer.Option("--reason")] = "lost phone") -> None:
    """Voluntary suspension (lost phone): no charges but the catalogue's suspended fee."""
    services.suspend_number(container().db, msisdn, actor=actor(), reason=reason)
    console.print("suspended")


def resume(msisdn: str) -> None:
    """Resume a voluntarily suspended number."""
    services.resume_number(container().db, msisdn, actor=actor())
    console.print("resumed")


def register(app: typer.Typer) -> None:
    from abonent.catalog.cli import catalog_app
    from abonent.statements.cli import statement_app
    from abonent.subscribers.cli import subscriber_app

    app.add_typer(catalog_app, name="catalog")
    app.add_typer(usage_app, name="usage")
    app.add_typer(jobs_app, name="jobs")
    app.add_typer(statement_app, name="statement")
    subscriber_app.command("remainders")(remainders)
    subscriber_app.command("tariff")(set_tariff)
    subscriber_app.command("option")(option)
    subscriber_app.command("suspend")(suspend)
    subscriber_app.command("resume")(resume)
