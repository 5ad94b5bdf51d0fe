"""``abonent bench renewal``: tariff renewals at a period boundary, full double entry.

On each database (SQLite in a temporary file with WAL and ``synchronous=FULL``; PostgreSQL with
``synchronous_commit=on``) ``--subscribers`` prepaid numbers are loaded in bulk, each on a daily
tariff whose period ends at the same moment; 2 % of them cannot pay. Then
``charging.services.run_renewals`` runs for that moment and is timed: chunks of 5,000
subscriptions per unit of work, ``record_batch`` for the fees (one ledger transaction and two
postings per renewal, balances moved once per account), the periods moved on in bulk, an SMS
for each lapse (queued in one insert per chunk). A re-run for the same moment must charge
nothing. Then the renewal transactions are counted and the ledger audited. Targets (2 cores):
1,000,000 renewals in ≤ 60 s on SQLite and ≤ 120 s on PostgreSQL, peak memory < 1 GiB.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
import typer

from abonent.catalog.services import load_catalogue
from abonent.charging.services import run_renewals
from abonent.charging.tables import subscriptions
from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.ledger.tables import ledger_transactions
from bench import common, seeding

CATALOGUE = """\
version: "bench"
tariffs:
  - code: DAILY
    names: {ru: Суточный, kk: Тәуліктік, en: Daily}
    period: day
    fee: 79
    bundles: {onnet_minutes: 300, data_mb: 1024}
    rates: {onnet_minute: 0, offnet_minute: 20, sms: 10, data_mb: 10}
"""
FEE = 7_900
RICH = 1_000_000  # 10,000 ₸
POOR = 5_000  # 50 ₸: cannot pay 79 ₸
POOR_EVERY = 50  # 2 %
LOAD_CHUNK = 20_000
DUE = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
TARGETS = {
    "SQLite": common.Target(60, "s", at_least=False),
    "PostgreSQL": common.Target(120, "s", at_least=False),
}
MEMORY_TARGET = common.Target(1024, "MiB", at_least=False)
CPU_NOTE = {
    "SQLite": "Python and SQLite (in-process); wall time ≫ CPU time on a busy machine",
    "PostgreSQL": "Python only (the server's CPU is not counted)",
}


def bench_renewal(
    subscribers_count: Annotated[
        int, typer.Option("--subscribers", help="Subscriptions to renew.", min=1)
    ] = 1_000_000,
    sqlite_only: Annotated[bool, typer.Option(help="Skip PostgreSQL.")] = False,
    postgres_only: Annotated[bool, typer.Option(help="Skip SQLite.")] = False,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            help=f"Use this server instead of a throwaway one (or ${common.POSTGRES_URL_ENV})."
        ),
    ] = None,
    write: Annotated[bool, typer.Option(help="Write the figures to docs/benchmarks.md.")] = True,
) -> None:
    """Tariff renewals at a period boundary: time, renewals per second, peak memory."""
    report = common.Report("renewal", "tariff renewals at a period boundary", common.command_line())
    failures = common.measure_databases(
        report,
        lambda url, database: _measure(report, url, database, subscribers_count),
        "abonent_bench_renewal",
        sqlite=not postgres_only,
        postgresql=not sqlite_only,
        postgres_url=postgres_url,
    )
    report.add(
        common.Figure("peak memory of the run", common.peak_rss_mib(), "MiB", target=MEMORY_TARGET)
    )
    report.notes += [
        f"{subscribers_count:,} prepaid numbers on a daily tariff (79 ₸), all due at the same "
        f"moment; every {POOR_EVERY}th cannot pay (lapses, SMS queued). Loaded in bulk, not timed.",
        "timed: `run_renewals` (the due ids read once from the (state, period end) index, then "
        "chunks of 5,000 per unit of work: the chunk's rows read again by id; `record_batch`: one "
        "ledger transaction + 2 postings per renewal, one balance update per account; periods "
        "moved by one statement per group of rows sharing a boundary, guarded by the period end "
        "read; the lapse SMS in one insert). The re-run for the same moment charges 0.",
        "checked: renewal transactions = renewed, lapsed = the poor ones, `audit_ledger` passed.",
    ]
    common.finish(report, write=write, failures=failures)


def _measure(report: common.Report, url: str, database: str, count: int) -> list[str]:
    engine = create_engine(url)
    try:
        common.console.print(f"{database}: loading {count:,} subscriptions ...")
        clock = FrozenClock(DUE - timedelta(days=1))
        db = Database(engine, clock)
        load_catalogue(db, CATALOGUE, actor="bench")
        _load(engine, count)
        clock.set(DUE + timedelta(minutes=1))
        common.console.print(f"{database}: renewing ...")
        started, cpu = time.perf_counter(), time.process_time()
        first = run_renewals(db, clock.now(), notify=True)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        started = time.perf_counter()
        again = run_renewals(db, clock.now())
        rerun = time.perf_counter() - started
        poor = len(range(0, count, POOR_EVERY))
        failures = []
        with engine.connect() as conn:
            charged = conn.execute(
                sa.select(sa.func.count())
                .select_from(ledger_transactions)
                .where(ledger_transactions.c.kind == "renewal.tariff")
            ).scalar_one()
        if first.renewed != count - poor or first.lapsed != poor or charged != first.renewed:
            failures.append(
                f"{database}: renewed {first.renewed}, lapsed {first.lapsed}, charged {charged}"
            )
        if again.renewed or again.lapsed:
            failures.append(f"{database}: the re-run renewed {again.renewed}")
        audited = audit_ledger(db).ok
        if not audited:
            failures.append(f"{database}: ledger audit failed")
        ok = "audit ok" if not failures else "FAILED"
        report.add(
            common.Figure(
                f"{database}: {count:,} renewals",
                elapsed,
                "s",
                target=TARGETS[database] if count >= 1_000_000 else None,
                note=f"{first.renewed:,} renewed, {first.lapsed:,} lapsed, {ok}",
            )
        )
        report.add(common.Figure(f"{database}: renewals per second", count / elapsed, "rows/s"))
        report.add(
            common.Figure(
                f"{database}: CPU time of this process",
                cpu,
                "s",
                note=CPU_NOTE[database],
            )
        )
        report.add(common.Figure(f"{database}: idempotent re-run", rerun, "s", note="0 charged"))
        return failures
    finally:
        engine.dispose()


def _load(engine: sa.Engine, count: int) -> None:
    """Numbers, accounts with their opening balances (one ledger transaction) and due
    subscriptions, by bulk inserts."""
    at = DUE - timedelta(days=1)
    balances = [POOR if n % POOR_EVERY == 0 else RICH for n in range(count)]
    with engine.begin() as conn:
        opening = seeding.insert_opening(conn, sum(balances), at)
    for first in range(0, count, LOAD_CHUNK):
        numbers = range(first, min(first + LOAD_CHUNK, count))
        with engine.begin() as conn:
            _, subscriber_ids = seeding.insert_numbers(
                conn,
                numbers,
                balance_of=balances.__getitem__,
                floor=0,
                at=at,
                name="Bench Prepaid",
                opening_transaction=opening,
            )
            conn.execute(
                subscriptions.insert(),
                [
                    {
                        "subscriber_id": sid,
                        "slot": "tariff",
                        "product_code": "DAILY",
                        "kind": "tariff",
                        "state": "active",
                        "period_start": at,
                        "period_end": DUE,
                        "anchor_day": None,
                        "fee_paid": FEE,
                        "tariff_changes": 0,
                        "created_at": at,
                    }
                    for sid in subscriber_ids
                ],
            )
