"""``abonent bench bills``: the month-end bill run over many postpaid numbers.

On each database (SQLite in a temporary file with WAL and ``synchronous=FULL``; PostgreSQL with
``synchronous_commit=on``) ``--accounts`` postpaid numbers are loaded in bulk, each with a
monthly fee and usage charges posted to its ledger account during January (half of them also
paid part of an earlier bill, so carried credit is in play). Then ``bills.services.run_bills``
bills January and is timed; a second run must create no bill (idempotency, also timed). After
it the bills are counted (one per number), their sum is checked against the ledger, and the
ledger is audited. Target (2 cores): 100,000 bills in ≤ 30 s on each database.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import sqlalchemy as sa
import typer

from abonent.bills.domain import Month
from abonent.bills.services import BillingPolicy, run_bills
from abonent.bills.tables import bill_credits, bills
from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind, system_account_code
from abonent.ledger.services import audit_ledger
from abonent.ledger.tables import accounts, ledger_transactions, postings
from bench import common, seeding

TARGET_SECONDS = common.Target(30, "s", at_least=False)
MONTH = Month(2026, 1)
FEE = 500_000  # 5,000 ₸
USAGE = 123_456
CREDIT = 100_000
LOAD_CHUNK = 10_000


def bench_bills(
    accounts_count: Annotated[
        int, typer.Option("--accounts", help="Postpaid numbers to bill.", min=1)
    ] = 100_000,
    sqlite_only: Annotated[bool, typer.Option(help="Skip PostgreSQL.")] = False,
    postgres_url: Annotated[
        str | None,
        typer.Option(
            help=f"Use this server instead of a throwaway one (or ${common.POSTGRES_URL_ENV})."
        ),
    ] = None,
    write: Annotated[bool, typer.Option(help="Write the figures to docs/benchmarks.md.")] = True,
) -> None:
    """Month-end bill run: bills per second and the time for --accounts numbers."""
    report = common.Report("bills", "month-end bill run", common.command_line())
    failures = common.measure_databases(
        report,
        lambda url, database: _measure(report, url, database, accounts_count),
        "abonent_bench_bills",
        postgresql=not sqlite_only,
        postgres_url=postgres_url,
    )
    report.notes += [
        f"{accounts_count:,} postpaid numbers, each with a fee and a usage charge posted in "
        f"{MONTH} (2 ledger transactions, 4 postings per number); every other number carries "
        "credit from an earlier overpayment. Loaded in bulk (not timed).",
        "timed: `run_bills` for the month (chunks of 5,000 numbers per unit of work: subscriber "
        "row locks, one aggregate over the month's postings, bulk insert of bills, carried "
        "credit consumed). The second run is the idempotent re-run (creates 0).",
        "checked: one bill per number, bills' charges equal the ledger's debits, re-run created "
        "none, `audit_ledger` passed.",
    ]
    common.finish(report, write=write, failures=failures)


def _measure(report: common.Report, url: str, database: str, count: int) -> list[str]:
    engine = create_engine(url)
    try:
        common.console.print(f"{database}: loading {count:,} postpaid numbers ...")
        _load(engine, count)
        _, end = MONTH.bounds(5)
        clock = FrozenClock(datetime(2026, 2, 1, 6, 0, tzinfo=UTC))
        assert end <= clock.now()
        db = Database(engine, clock)
        policy = BillingPolicy()
        started = time.perf_counter()
        first = run_bills(db, policy, month=MONTH)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        again = run_bills(db, policy, month=MONTH)
        rerun = time.perf_counter() - started
        failures = _verify(engine, db, count, first.created, again.created, database)
        ok = "ok" if not failures else "FAILED"
        report.add(
            common.Figure(
                f"{database}: bill run, {count:,} numbers",
                elapsed,
                "s",
                target=TARGET_SECONDS if count >= 100_000 else None,
                note=f"{first.created:,} bills, {ok}",
            )
        )
        report.add(
            common.Figure(f"{database}: bills per second", first.created / elapsed, "bills/s")
        )
        report.add(
            common.Figure(
                f"{database}: idempotent re-run", rerun, "s", note=f"{again.created} created"
            )
        )
        return failures
    finally:
        engine.dispose()


def _load(engine: sa.Engine, count: int) -> None:
    """Numbers, accounts and the month's charges, by bulk inserts (balances kept exact)."""
    at = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        revenue = conn.execute(
            accounts.insert().returning(accounts.c.id),
            {
                "code": system_account_code(AccountKind.REVENUE, "bench"),
                "kind": AccountKind.REVENUE,
                "balance": count * (FEE + USAGE),
                "floor": None,
                "created_at": at,
            },
        ).scalar_one()
    for first in range(0, count, LOAD_CHUNK):
        numbers = range(first, min(first + LOAD_CHUNK, count))
        with engine.begin() as conn:
            ids, _ = seeding.insert_numbers(
                conn,
                numbers,
                balance_of=lambda n: -(FEE + USAGE),
                floor=-10_000_000,
                at=at,
                payment_type="postpaid",
                name="Bench Postpaid",
            )
            transactions = []
            for n, _aid in zip(numbers, ids, strict=True):
                for kind in ("fee.monthly", "charge.usage.voice"):
                    transactions.append(
                        {
                            "kind": kind,
                            "source": "bench",
                            "idempotency_key": f"{kind}:{n}",
                            "reference": "",
                            "fingerprint": "bench",
                            "reverses_id": None,
                            "created_at": at,
                        }
                    )
            txn_ids = (
                conn.execute(
                    ledger_transactions.insert().returning(
                        ledger_transactions.c.id, sort_by_parameter_order=True
                    ),
                    transactions,
                )
                .scalars()
                .all()
            )
            legs = []
            for index, aid in enumerate(ids):
                for txn, amount in zip(
                    txn_ids[2 * index : 2 * index + 2], (FEE, USAGE), strict=True
                ):
                    legs.append({"transaction_id": txn, "account_id": aid, "amount": -amount})
                    legs.append({"transaction_id": txn, "account_id": revenue, "amount": amount})
            conn.execute(postings.insert(), legs)
            conn.execute(
                bill_credits.insert(),
                [
                    {"account_id": aid, "amount": CREDIT, "updated_at": at}
                    for index, aid in enumerate(ids)
                    if index % 2 == 0
                ],
            )


def _verify(
    engine: sa.Engine, db: Database, count: int, created: int, recreated: int, database: str
) -> list[str]:
    failures = []
    with engine.connect() as conn:
        stored, charges, due = conn.execute(
            sa.select(
                sa.func.count(), sa.func.sum(bills.c.charges), sa.func.sum(bills.c.amount_due)
            ).where(bills.c.month == str(MONTH))
        ).one()
    expected_due = count * (FEE + USAGE) - ((count + 1) // 2) * CREDIT
    if created != count or stored != count:
        failures.append(f"{database}: {stored} bills stored, {created} created, {count} numbers")
    if charges != count * (FEE + USAGE) or due != expected_due:
        failures.append(f"{database}: bills sum to {charges}/{due}, ledger says otherwise")
    if recreated:
        failures.append(f"{database}: the re-run created {recreated} bills")
    if not audit_ledger(db).ok:
        failures.append(f"{database}: ledger audit failed")
    return failures
