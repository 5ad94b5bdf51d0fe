"""The ledger benchmark's raw sqlite3 floor writes real, balanced transfers (no timing here)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from abonent.core.clock import SystemClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.tables import ledger_transactions, postings
from bench import common
from bench import ledger as ledger_bench


def test_the_raw_floor_posts_balanced_transfers_the_audit_accepts(tmp_path: Path) -> None:
    # Given the benchmark's SQLite database with its funded accounts
    url = common.sqlite_database(tmp_path)
    engine = create_engine(url)
    setup = ledger_bench.Setup(
        Database(engine, SystemClock()), ledger_bench._open_accounts(engine, 20), "SQLite"
    )
    report = common.Report("ledger", "test", "abonent bench ledger")

    # When the raw sqlite3 loop runs for a moment
    with common.bench_progress() as progress:
        failures = ledger_bench._measure_raw_sqlite(report, setup, url, 0.3, 1.0, progress)

    # Then every transfer it counted is stored once, with two legs summing to zero
    assert failures == []
    (figure,) = report.figures
    assert figure.value > 0 and "audit ok" in figure.note
    with engine.connect() as conn:
        raw = sa.select(ledger_transactions.c.id).where(
            ledger_transactions.c.source == "bench-sqlite-raw-1"
        )
        stored = conn.execute(sa.select(sa.func.count()).select_from(raw.subquery())).scalar_one()
        legs = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(postings.c.amount)).where(
                postings.c.transaction_id.in_(raw)
            )
        ).one()
    assert stored > 0 and tuple(legs) == (2 * stored, 0)
    assert ledger.audit_ledger(setup.db).ok
    engine.dispose()
