"""``abonent bench rating``: usage records rated and posted.

On each database ``--records`` usage records (60 % calls on-net/off-net, 20 % SMS, 15 % data
sessions, 5 % collect calls) for numbers on a tariff with bundles are rated with
``charging.services.rate_usage`` in batches of 50,000 (units of work of 5,000 records): bundles
first, then the balance, one ledger transaction per payer per unit of work, every record
stored with its charge. On PostgreSQL the payers are split in two lanes rated at the same time
(each payer's records in order, in one lane), so the client and the server both work. Then
the first batch is sent again (all duplicates), the stored records are counted and the ledger
audited. Target (2 cores): ≥ 20,000 records rated and posted per second, peak memory < 1 GiB.
Only the ``rate_usage`` calls are timed; on a PostgreSQL server on this machine its processes'
CPU time over those calls is reported too (the rate alone is noisy on a shared machine).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from abonent.catalog.services import load_catalogue
from abonent.charging.domain import UsageRecord
from abonent.charging.services import rate_usage
from abonent.charging.tables import subscriptions, usage_records
from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from bench import common, seeding

CATALOGUE = """\
version: "bench"
charges: {collect_call_per_minute: 13}
tariffs:
  - code: MONTH
    names: {ru: Месяц, kk: Ай, en: Month}
    period: calendar_month
    fee: 2990
    bundles: {onnet_minutes: 100, offnet_minutes: 20, sms: 20, data_mb: 100}
    rates: {onnet_minute: 2, offnet_minute: 15, sms: 8, data_mb: 8}
"""
BALANCE = 10_000_000  # 100,000 ₸: nobody runs dry, so every record is charged
BATCH = 50_000
LOAD_CHUNK = 20_000
START = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)
TARGET = common.Target(20_000, "records/s")
MEMORY_TARGET = common.Target(1024, "MiB", at_least=False)
CPU_NOTE = {
    "SQLite": "Python and SQLite (in-process); wall time ≫ CPU time on a busy machine",
    "PostgreSQL": "Python only (the server's CPU is not counted)",
}


def bench_rating(
    records: Annotated[int, typer.Option("--records", help="Usage records to rate.", min=1)] = (
        1_000_000
    ),
    subscribers_count: Annotated[
        int, typer.Option("--subscribers", help="Numbers the records belong to.", min=10)
    ] = 100_000,
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
    """Usage records rated and posted per second, and peak memory."""
    report = common.Report("rating", "usage records rated and posted", common.command_line())
    failures = common.measure_databases(
        report,
        lambda url, database: _measure(report, url, database, records, subscribers_count),
        "abonent_bench_rating",
        sqlite=not postgres_only,
        postgresql=not sqlite_only,
        postgres_url=postgres_url,
    )
    report.add(
        common.Figure("peak memory of the run", common.peak_rss_mib(), "MiB", target=MEMORY_TARGET)
    )
    report.notes += [
        f"{records:,} records over {subscribers_count:,} prepaid numbers on a monthly tariff "
        "with bundles (60 % calls, 20 % SMS, 15 % data, 5 % collect calls; callees on own and "
        "other networks). Numbers loaded in bulk, not timed; each batch of records generated "
        "before it is rated, not timed (the time and CPU figures are those of `rate_usage`).",
        f"timed: `rate_usage` in batches of {BATCH:,} (units of work of 5,000: duplicate check, "
        "subscription and account locks, bundles then balance, one ledger transaction per payer "
        "via `record_batch`, bulk insert of the rated records — COPY on PostgreSQL — and one "
        "bulk update of the bundle counters). On PostgreSQL a batch is rated in two lanes of "
        "payers at once, one connection each (payers share nothing a decision reads): one lane "
        "rates in Python while the server writes and commits the other's chunk.",
        "checked: stored records = rated, a repeated batch is all duplicates, `audit_ledger` "
        "passed.",
        "PostgreSQL: the two lanes are threads of one process (one GIL) and meet at the "
        "revenue account's row, locked from a chunk's ledger posting to its commit; only the "
        "records of the payers that chunk charged are written after the posting (they carry "
        "its transaction ids), the rest before. Python's cyclic garbage collector is paused "
        "while a batch is rated (full collections were a third of this process's CPU).",
    ]
    common.finish(report, write=write, failures=failures)


def _records(count: int, numbers: int) -> Iterator[UsageRecord]:
    for i in range(count):
        caller = seeding.msisdn(i % numbers)
        at = START + timedelta(seconds=i % 86_400)
        kind = i % 20
        if kind < 12:
            callee = (
                seeding.msisdn((i * 7 + 1) % numbers) if kind % 2 else f"+7777{i % 9999999:07d}"
            )
            yield UsageRecord(f"r{i}", "call", caller, callee, at, duration_seconds=30 + i % 200)
        elif kind < 16:
            yield UsageRecord(f"r{i}", "sms", caller, f"+7701{i % 9999999:07d}", at)
        elif kind < 19:
            yield UsageRecord(f"r{i}", "data", caller, "", at, volume_bytes=(i % 5000) * 1024 + 17)
        else:
            payer = seeding.msisdn((i * 3 + 5) % numbers)
            yield UsageRecord(f"r{i}", "collect_call", caller, payer, at, duration_seconds=75)


def _batches(records: Iterator[UsageRecord]) -> Iterator[list[UsageRecord]]:
    batch: list[UsageRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _measure(report: common.Report, url: str, database: str, count: int, numbers: int) -> list[str]:
    engine = create_engine(url)
    try:
        common.console.print(f"{database}: loading {numbers:,} numbers ...")
        clock = FrozenClock(START)
        db = Database(engine, clock)
        load_catalogue(db, CATALOGUE, actor="bench")
        _load(engine, numbers)
        clock.set(START + timedelta(days=1))
        common.console.print(f"{database}: rating {count:,} records ...")
        rated = duplicates = refused = 0
        first_batch: list[UsageRecord] | None = None
        elapsed = cpu = server_cpu = 0.0
        postmaster = common.postmaster_pid(engine)
        for batch in _batches(_records(count, numbers)):
            # Timed: rating only (the records stand for input that arrives ready).
            server_before = _tree_cpu_seconds(postmaster)
            started, cpu_before = time.perf_counter(), time.process_time()
            result = rate_usage(db, batch)
            elapsed += time.perf_counter() - started
            cpu += time.process_time() - cpu_before
            server_cpu += _tree_cpu_seconds(postmaster) - server_before
            rated += result.rated
            duplicates += result.duplicates
            refused += result.refused
            first_batch = first_batch or batch
        failures = []
        assert first_batch is not None
        again = rate_usage(db, first_batch[:5000])
        if again.duplicates != min(5000, len(first_batch)):
            failures.append(f"{database}: a repeated batch rated {again.rated} again")
        with engine.connect() as conn:
            stored = conn.execute(
                sa.select(sa.func.count()).select_from(usage_records)
            ).scalar_one()
        if rated != count or stored != count:
            failures.append(f"{database}: {rated} rated, {stored} stored, {refused} refused")
        if not audit_ledger(db).ok:
            failures.append(f"{database}: ledger audit failed")
        ok = "audit ok" if not failures else "FAILED"
        report.add(
            common.Figure(
                f"{database}: records rated and posted per second",
                count / elapsed,
                "records/s",
                target=TARGET,
                note=f"{count:,} in {elapsed:.1f} s, {ok}",
            )
        )
        report.add(
            common.Figure(
                f"{database}: records per CPU second of this process",
                count / cpu,
                "records/s",
                note=CPU_NOTE[database],
            )
        )
        if postmaster is not None:
            report.add(
                common.Figure(
                    f"{database}: CPU µs a record (this process + the server's)",
                    (cpu + server_cpu) / count * 1e6,
                    "µs",
                    note=f"this process {cpu / count * 1e6:.1f} µs, "
                    f"the PostgreSQL server's processes {server_cpu / count * 1e6:.1f} µs",
                )
            )
        return failures
    finally:
        engine.dispose()


def _tree_cpu_seconds(root: int | None) -> float:
    """User + system CPU time so far of ``root`` and its children, the running ones and those
    that ended (an autovacuum worker, a closed connection's backend), 0 when unknown."""
    if root is None:
        return 0.0
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(entry.name) == root:
            ticks += sum(int(f) for f in fields[11:15])  # its own and its ended children's
        elif int(fields[1]) == root:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _load(engine: sa.Engine, count: int) -> None:
    at = START - timedelta(days=1)
    with engine.begin() as conn:
        opening = seeding.insert_opening(conn, BALANCE * count, at)
    for first in range(0, count, LOAD_CHUNK):
        numbers = range(first, min(first + LOAD_CHUNK, count))
        with engine.begin() as conn:
            _, subscriber_ids = seeding.insert_numbers(
                conn,
                numbers,
                balance_of=lambda n: BALANCE,
                floor=0,
                at=at,
                opening_transaction=opening,
            )
            conn.execute(
                subscriptions.insert(),
                [
                    {
                        "subscriber_id": sid,
                        "slot": "tariff",
                        "product_code": "MONTH",
                        "kind": "tariff",
                        "state": "active",
                        "period_start": at,
                        "period_end": at + timedelta(days=31),
                        "anchor_day": at.day,
                        "fee_paid": 299_000,
                        "tariff_changes": 0,
                        "created_at": at,
                    }
                    for sid in subscriber_ids
                ],
            )
