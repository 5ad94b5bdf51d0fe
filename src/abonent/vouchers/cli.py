"""``abonent voucher ...``: batches (create, activate, block, list), support redemption."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from abonent.cli_support import actor, console, container, err_console, print_json
from abonent.core.errors import AlreadyExists, ValidationError
from abonent.core.money import format_tenge, parse_tenge
from abonent.core.msisdn import display
from abonent.vouchers import services
from abonent.vouchers.domain import (
    BatchSummary,
    PrintedVoucher,
    VoucherBatch,
    require_batch_size,
    require_nominal,
)

voucher_app = typer.Typer(help="Instant payment cards (vouchers).", no_args_is_help=True)
batch_app = typer.Typer(
    help="Voucher batches: create, activate, block, list.", no_args_is_help=True
)
voucher_app.add_typer(batch_app, name="batch")

CSV_HEADER = ("batch", "serial", "nominal", "code")


class CsvExport:
    """Writes printable codes to a file created exclusively (never overwrites), mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: TextIO = os.fdopen(fd, "w", newline="", encoding="ascii")
        self._writer = csv.writer(self._file)
        self._writer.writerow(CSV_HEADER)

    def __call__(self, batch: VoucherBatch, chunk: Sequence[PrintedVoucher]) -> None:
        self._writer.writerows((v.batch, v.serial, format_tenge(v.nominal), v.code) for v in chunk)

    def finish(self) -> None:
        """Flush to disk before the batch commits: a committed batch always has its file."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class _FinishingExport:
    """Calls ``finish`` after the last chunk, still inside the batch's transaction."""

    def __init__(self, export: CsvExport, count: int) -> None:
        self.export = export
        self.remaining = count

    def __call__(self, batch: VoucherBatch, chunk: Sequence[PrintedVoucher]) -> None:
        self.export(batch, chunk)
        self.remaining -= len(chunk)
        if self.remaining <= 0:
            self.export.finish()


@batch_app.command("create")
def create(
    nominal: Annotated[str, typer.Option("--nominal", help="500, 1000, 2000 or 5000 (tenge)")],
    count: Annotated[int, typer.Option("--count", help="How many cards", min=1)],
    out: Annotated[Path, typer.Option("--out", help="CSV for the printer; must not exist")],
) -> None:
    """Create a batch; its codes are written once, to OUT, and never stored in clear."""
    amount = parse_tenge(nominal, field="nominal")
    require_nominal(amount)
    require_batch_size(count)
    if out.exists():
        raise AlreadyExists(f"{out} already exists; codes are never overwritten")
    export = CsvExport(out)
    c = container()
    try:
        with Progress(
            TextColumn("creating vouchers"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("vouchers", total=count)
            batch = services.create_batch(
                c.db,
                nominal=amount,
                count=count,
                actor=actor(),
                export=_FinishingExport(export, count),
                progress=lambda n: bar.advance(task, n),
                settings=c.settings,
            )
    except BaseException:
        export.discard()
        raise
    console.print(
        f"batch {batch.number}: {count} vouchers of {format_tenge(amount)} ₸ created "
        f"(state created; activate it to sell). Codes written to {out} — the only copy."
    )


@batch_app.command("activate")
def activate(batch: Annotated[str, typer.Argument(help="Batch number, e.g. B000001")]) -> None:
    """Make a batch sellable (its nominal becomes a voucher liability)."""
    c = container()
    summary = services.activate_batch(c.db, batch, actor=actor(), settings=c.settings)
    console.print(
        f"batch {summary.batch.number} is active: {summary.by_state.get('active', 0)} vouchers, "
        f"liability {format_tenge(summary.liability)} ₸"
    )


@batch_app.command("block")
def block(
    batch: Annotated[str, typer.Argument(help="Batch number, e.g. B000001")],
    reason: Annotated[str, typer.Option("--reason", help="Why (stolen, misprinted...)")] = "",
) -> None:
    """Block a batch for good: its unredeemed cards can no longer be redeemed."""
    c = container()
    summary = services.block_batch(c.db, batch, actor=actor(), reason=reason, settings=c.settings)
    console.print(
        f"batch {summary.batch.number} is blocked: {summary.by_state.get('blocked', 0)} vouchers "
        f"blocked, {summary.by_state.get('redeemed', 0)} already redeemed"
    )


def summary_as_json(s: BatchSummary) -> dict[str, Any]:
    b = s.batch
    return {
        "batch": b.number,
        "nominal": format_tenge(b.nominal),
        "nominal_tiyn": b.nominal,
        "count": b.count,
        "state": b.state.value,
        "vouchers": {k: s.by_state.get(k, 0) for k in ("created", "active", "redeemed", "blocked")},
        "liability": format_tenge(s.liability),
        "liability_tiyn": s.liability,
        "key_matches": s.key_matches,
        "created_at": b.created_at.isoformat(),
        "created_by": b.created_by,
        "activated_at": b.activated_at.isoformat() if b.activated_at else None,
        "blocked_at": b.blocked_at.isoformat() if b.blocked_at else None,
    }


@batch_app.command("list")
def list_batches(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Batches with their vouchers by state and their open liability."""
    c = container()
    summaries = services.list_batches(c.db, settings=c.settings)
    if as_json:
        print_json([summary_as_json(s) for s in summaries])
        return
    table = Table(
        "batch",
        "nominal",
        "count",
        "state",
        "active",
        "redeemed",
        "blocked",
        "liability",
        "created",
    )
    for s in summaries:
        state = s.batch.state.value + ("" if s.key_matches else " (other key!)")
        table.add_row(
            s.batch.number,
            format_tenge(s.batch.nominal),
            str(s.batch.count),
            state,
            str(s.by_state.get("active", 0)),
            str(s.by_state.get("redeemed", 0)),
            str(s.by_state.get("blocked", 0)),
            format_tenge(s.liability),
            s.batch.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table if summaries else "no voucher batches")


def _operator(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > 60 or not clean.isprintable():
        raise ValidationError("operator name is required (at most 60 characters)")
    return clean


@voucher_app.command("redeem")
def redeem(
    code: Annotated[str, typer.Argument(help="The 13-digit card code")],
    msisdn: Annotated[str, typer.Option("--msisdn", help="Number to credit")],
    operator: Annotated[str, typer.Option("--operator", help="Support operator's name")],
) -> None:
    """Redeem a card for a caller (support); audited under the operator's name."""
    result = services.redeem_voucher(
        container().db,
        code=code,
        msisdn=msisdn,
        channel="support",
        actor=f"support:{_operator(operator)}",
    )
    console.print(
        f"credited {format_tenge(result.amount)} ₸ to {display(result.msisdn)} "
        f"(card {result.serial}); receipt {result.receipt_number}; "
        f"balance {format_tenge(result.balance_after)} ₸"
    )


@voucher_app.command("unlock")
def unlock(
    msisdn: Annotated[str, typer.Argument(help="Number locked out of voucher entry")],
    operator: Annotated[str, typer.Option("--operator", help="Support operator's name")],
) -> None:
    """Lift a number's wrong-code lock (support, after checking the caller)."""
    cleared = services.unlock_entry(container().db, msisdn, actor=f"support:{_operator(operator)}")
    console.print("voucher entry unlocked" if cleared else "the number had no wrong-code record")
