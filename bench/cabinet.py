"""``abonent bench cabinet``: dashboard page time with a realistically large database.

Seeds N subscribers and M ledger postings (half top-ups, half charges, spread over six
months, balances consistent so ``audit`` passes), opens sessions for a sample of subscribers,
then requests ``GET /cabinet`` (the dashboard: balance, spending chart, recent operations) and
``GET /api/v1/subscribers/{msisdn}`` in-process through the real ASGI app. The time measured
is the whole in-process request (client + server), an upper bound of the server time.
Target: dashboard p95 ≤ 50 ms with 100,000 subscribers and 10,000,000 ledger rows.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.progress import Progress

from abonent.auth.domain import Session, new_token, token_hash
from abonent.auth.repository import SqlAuthRepository
from abonent.bootstrap import Container
from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger.tables import accounts, ledger_transactions, postings
from abonent.settings import Settings
from abonent.subscribers.tables import subscribers
from bench import common, seeding

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CHUNK = 20_000


def seed(url: str, subscriber_count: int, posting_count: int, progress: Progress) -> None:
    """Bulk-load subscribers and a consistent ledger (postings sum to zero, balances match)."""
    engine = create_engine(url)
    per_subscriber = max(2, posting_count // 2 // subscriber_count)  # transactions each
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.execute(
            accounts.insert(),
            [
                {
                    "id": 1,
                    "code": "system:agent_clearing:BENCH",
                    "kind": "agent_clearing",
                    "balance": 0,
                    "floor": None,
                    "created_at": NOW,
                },
                {
                    "id": 2,
                    "code": "system:revenue:usage",
                    "kind": "revenue",
                    "balance": 0,
                    "floor": None,
                    "created_at": NOW,
                },
            ],
        )
    task = progress.add_task("seeding subscribers", total=subscriber_count, status="")
    system_in, revenue, next_tx, next_posting = 0, 0, 1, 1
    for start in range(0, subscriber_count, CHUNK // per_subscriber or 1):
        stop = min(subscriber_count, start + max(1, CHUNK // per_subscriber))
        account_rows, subscriber_rows, tx_rows, posting_rows = [], [], [], []
        for i in range(start, stop):
            account_id = 3 + i
            balance = 0
            for k in range(per_subscriber):
                at = NOW - timedelta(
                    days=180 * (per_subscriber - k) / per_subscriber, seconds=rng.randint(0, 3600)
                )
                if k % 2 == 0:
                    amount, kind, debit, credit = (
                        rng.choice((50_000, 100_000, 200_000)),
                        "topup.agent",
                        1,
                        account_id,
                    )
                    balance += amount
                    system_in -= amount
                else:
                    amount = rng.randint(1, max(1, balance // 2))
                    kind = rng.choice(("renewal", "usage.call", "usage.data", "usage.sms"))
                    debit, credit = account_id, 2
                    balance -= amount
                    revenue += amount
                tx_rows.append(
                    {
                        "id": next_tx,
                        "kind": kind,
                        "source": "bench",
                        "idempotency_key": f"b{next_tx}",
                        "reference": kind,
                        "fingerprint": "-",
                        "reverses_id": None,
                        "created_at": at,
                    }
                )
                posting_rows.append(
                    {
                        "id": next_posting,
                        "transaction_id": next_tx,
                        "account_id": debit,
                        "amount": -amount,
                    }
                )
                posting_rows.append(
                    {
                        "id": next_posting + 1,
                        "transaction_id": next_tx,
                        "account_id": credit,
                        "amount": amount,
                    }
                )
                next_tx += 1
                next_posting += 2
            account_rows.append(
                {
                    "id": account_id,
                    "code": f"subscriber:{seeding.msisdn(i)}:main",
                    "kind": "subscriber_main",
                    "balance": balance,
                    "floor": 0,
                    "created_at": NOW,
                }
            )
            subscriber_rows.append(
                {
                    "id": 1 + i,
                    "msisdn": seeding.msisdn(i),
                    "name": f"Абонент {i}",
                    "iin": None,
                    "language": "ru",
                    "payment_type": "prepaid",
                    "status": "active",
                    "brand_code": "tele2",
                    "account_id": account_id,
                    "email": None,
                    "created_at": NOW,
                    "status_changed_at": NOW,
                }
            )
        with engine.begin() as conn:
            conn.execute(accounts.insert(), account_rows)
            conn.execute(subscribers.insert(), subscriber_rows)
            conn.execute(ledger_transactions.insert(), tx_rows)
            conn.execute(postings.insert(), posting_rows)
        progress.update(task, completed=stop, status=f"{next_posting - 1:,} postings")
    with engine.begin() as conn:
        conn.execute(accounts.update().where(accounts.c.id == 1).values(balance=system_in))
        conn.execute(accounts.update().where(accounts.c.id == 2).values(balance=revenue))
        if engine.dialect.name == "postgresql":
            for table in ("accounts", "subscribers", "ledger_transactions", "postings"):
                conn.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            conn.execute(sa.text("ANALYZE"))
        else:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def measure(
    url: str, subscriber_count: int, requests: int, progress: Progress
) -> dict[str, list[float]]:
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    from abonent.web.app import create_app

    clock = FrozenClock(NOW)
    db = Database(create_engine(url), clock)
    settings = Settings(
        database_url=url,
        mode="development",
        cookie_secure=False,
        log_json=True,
        log_level="WARNING",
    )
    app = create_app(Container(settings=settings, db=db, clock=clock))
    rng = random.Random(11)
    sample = [rng.randrange(subscriber_count) for _ in range(min(requests, 1000))]
    tokens: dict[int, str] = {}
    with db.uow() as uow:
        repo = SqlAuthRepository(uow.connection)
        for i in set(sample):
            token = new_token()
            tokens[i] = token
            repo.add_session(
                Session(
                    id_hash=token_hash(token),
                    subscriber_id=1 + i,
                    msisdn=seeding.msisdn(i),
                    kind="web",
                    created_at=NOW,
                    last_seen_at=NOW,
                    csrf_token="x",
                    device_id="",
                    ip="127.0.0.1",
                    user_agent="bench",
                    stepped_up_at=None,
                    revoked_at=None,
                )
            )
        uow.commit()
    times: dict[str, list[float]] = {"dashboard": [], "api": []}
    task = progress.add_task("dashboard requests", total=requests, status="")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for n in range(requests):
            i = sample[n % len(sample)]
            cookies = {"abonent_session": tokens[i]}
            began = time.perf_counter()
            page = client.get("/cabinet", cookies=cookies)
            times["dashboard"].append(time.perf_counter() - began)
            if page.status_code != 200 or "Абонент" not in page.text:
                raise common.BenchError(f"dashboard failed: {page.status_code}")
            began = time.perf_counter()
            api = client.get(
                f"/api/v1/subscribers/{seeding.msisdn(i)[2:]}",
                headers={"Authorization": f"Bearer {tokens[i]}"},
            )
            times["api"].append(time.perf_counter() - began)
            if api.status_code != 200:
                raise common.BenchError(f"api failed: {api.status_code} {api.text[:200]}")
            progress.update(task, completed=n + 1)
    db.dispose()
    return times


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000


def bench_cabinet(
    subscribers_n: Annotated[int, typer.Option("--subscribers")] = 100_000,
    rows: Annotated[int, typer.Option("--rows", help="ledger postings to seed")] = 10_000_000,
    requests: Annotated[int, typer.Option("--requests")] = 1000,
    sqlite_only: Annotated[bool, typer.Option("--sqlite-only")] = False,
    postgres_url: Annotated[str | None, typer.Option("--postgres-url")] = None,
) -> None:
    """Dashboard page time (p50/p95/p99) with N subscribers and M ledger rows."""
    report = common.Report(
        "cabinet", "Cabinet dashboard time with a large ledger", command=common.command_line()
    )
    target = common.Target(50, "ms", at_least=False)
    report.notes.append(
        f"{subscribers_n:,} subscribers, {rows:,} ledger postings ({rows // 2:,} transactions) "
        "over six months; time is the whole in-process request through the ASGI app "
        "(client + server), sequential, warm."
    )
    with (
        tempfile.TemporaryDirectory(prefix="abonent-bench-cabinet-") as tmp,
        common.bench_progress() as progress,
    ):
        runs: list[tuple[str, str]] = [("SQLite", common.sqlite_database(Path(tmp)))]
        version = None
        pg_context = common.postgres(postgres_url) if not sqlite_only else None
        pg = pg_context.__enter__() if pg_context else None
        try:
            if pg is not None:
                url = pg.create_database("abonent_bench_cabinet")
                common.migrate(url)
                runs.append(("PostgreSQL", url))
                version = pg.version
            for label, url in runs:
                began = time.perf_counter()
                seed(url, subscribers_n, rows, progress)
                seeded = time.perf_counter() - began
                times = measure(url, subscribers_n, requests, progress)
                for what, values in times.items():
                    name = (
                        "dashboard GET /cabinet"
                        if what == "dashboard"
                        else "API GET /api/v1/subscribers/{n}"
                    )
                    report.add(
                        common.Figure(
                            f"{label}: {name} p95",
                            _pct(values, 95),
                            "ms",
                            target=target if what == "dashboard" else None,
                            latency_ms=(_pct(values, 50), _pct(values, 99)),
                            note=(
                                f"{len(values)} requests, mean "
                                f"{statistics.mean(values) * 1000:.1f} ms; seeded in {seeded:.0f} s"
                            ),
                        )
                    )
        finally:
            if pg_context is not None:
                pg_context.__exit__(None, None, None)
        report.machine = common.describe_machine(version or "not used", disk_dir=Path(tmp))
    common.print_report(report)
    common.write_report(report)
