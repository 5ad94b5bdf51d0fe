"""Many writers at once on PostgreSQL: money is conserved, floors hold, keys act once.

SQLite has a single writer, so these races only exist on PostgreSQL. Nothing is retried: a
deadlock or serialization failure would surface as ``StorageUnavailable`` and fail the test.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import sqlalchemy as sa

from abonent.core.errors import AbonentError, InsufficientFunds
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import (
    AccountKind,
    AlreadyReversed,
    TransactionRequest,
    transfer_request,
)
from abonent.ledger.tables import accounts, ledger_transactions
from tests.factories import floored_account, system_account, transfer
from tests.integration.cli.run import run_abonent

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]

THREADS = 32
TRANSFERS_PER_THREAD = 500
ACCOUNTS = 100
OPENING = 5_000  # tiyn per account: with transfers up to 3,000 some must hit the floor
T = TypeVar("T")


def run_together(workers: int, job: Callable[[int], T]) -> list[T]:
    """Run ``job(i)`` in ``workers`` threads released at the same moment."""
    start = threading.Barrier(workers)

    def go(index: int) -> T:
        start.wait()
        return job(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(go, range(workers)))


def fund_accounts(db: Database, count: int, amount: int) -> tuple[int, list[int]]:
    bank = system_account(db, AccountKind.OPENING_BALANCE)
    wallets = [floored_account(db, f"wallet{i:03d}") for i in range(count)]
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow,
            [
                transfer_request(
                    kind="opening_balance",
                    source="tests",
                    idempotency_key=f"fund-{w}",
                    debit_account_id=bank,
                    credit_account_id=w,
                    amount=amount,
                )
                for w in wallets
            ],
        )
        uow.commit()
    assert all(o.posted for o in outcomes)
    return bank, wallets


def wallet_balances(db: Database, wallets: list[int]) -> dict[int, tuple[int, int | None]]:
    with db.reading() as uow:
        rows = uow.connection.execute(
            sa.select(accounts.c.id, accounts.c.balance, accounts.c.floor).where(
                accounts.c.id.in_(wallets)
            )
        ).all()
    return {int(i): (int(b), None if f is None else int(f)) for i, b, f in rows}


def transaction_count(db: Database) -> int:
    with db.reading() as uow:
        return int(
            uow.connection.execute(
                sa.select(sa.func.count()).select_from(ledger_transactions)
            ).scalar_one()
        )


def test_parallel_random_transfers_conserve_money_and_respect_floors(
    pg_db: Database, postgres_url: str
) -> None:
    # Given 100 prepaid accounts with 50 tenge each
    _, wallets = fund_accounts(pg_db, ACCOUNTS, OPENING)
    before = transaction_count(pg_db)

    # When 32 threads each make 500 random transfers among them, retrying nothing
    def transfers(thread: int) -> Counter[str]:
        rng = random.Random(thread)
        outcome: Counter[str] = Counter()
        for i in range(TRANSFERS_PER_THREAD):
            src, dst = rng.sample(wallets, 2)
            request = transfer_request(
                kind="transfer",
                source="tests",
                idempotency_key=f"t{thread}-{i}",
                debit_account_id=src,
                credit_account_id=dst,
                amount=rng.randint(1, 3_000),
            )
            try:
                ledger.post(pg_db, request)
                outcome["posted"] += 1
            except InsufficientFunds:
                outcome["refused"] += 1
            except AbonentError as exc:  # a deadlock would arrive here as StorageUnavailable
                outcome[f"{exc.code}: {exc.message}"] += 1
        return outcome

    totals = sum(run_together(THREADS, transfers), Counter())

    # Then every transfer was either posted or refused by a floor, nothing else went wrong
    assert set(totals) == {"posted", "refused"}, totals
    assert totals["posted"] + totals["refused"] == THREADS * TRANSFERS_PER_THREAD
    assert totals["refused"] > 0
    assert transaction_count(pg_db) == before + totals["posted"]
    # and the money among the accounts is exactly what was put in, none below its floor
    balances = wallet_balances(pg_db, wallets)
    assert sum(balance for balance, _ in balances.values()) == ACCOUNTS * OPENING
    assert all(floor is not None and balance >= floor for balance, floor in balances.values())
    report = ledger.audit_ledger(pg_db)
    assert report.ok, report.problems
    # and the real `abonent audit` agrees
    audit = run_abonent(["audit"], postgres_url)
    assert audit.returncode == 0, audit.stderr
    assert "audit OK" in audit.stdout


def test_fifty_simultaneous_posts_of_one_key_make_one_transaction(pg_db: Database) -> None:
    # Given a funded account
    bank, (wallet, other) = fund_accounts(pg_db, 2, OPENING)
    before = transaction_count(pg_db)
    request = transfer_request(
        kind="transfer",
        source="tests",
        idempotency_key="same-key",
        debit_account_id=wallet,
        credit_account_id=other,
        amount=1_000,
    )

    # When 50 threads post the same request at the same moment
    results = run_together(50, lambda _: ledger.post(pg_db, request))

    # Then one of them recorded it, the 49 others got that same transaction back
    assert len({r.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert transaction_count(pg_db) == before + 1
    balances = wallet_balances(pg_db, [wallet, other])
    assert balances[wallet][0] == OPENING - 1_000
    assert balances[other][0] == OPENING + 1_000
    assert bank not in balances
    assert ledger.audit_ledger(pg_db).ok


def test_simultaneous_reversals_under_different_keys_undo_once(pg_db: Database) -> None:
    # Given a transfer
    _, (wallet, other) = fund_accounts(pg_db, 2, OPENING)
    paid = ledger.post(
        pg_db,
        transfer_request(
            kind="transfer",
            source="tests",
            idempotency_key="pay",
            debit_account_id=wallet,
            credit_account_id=other,
            amount=700,
        ),
    )

    # When 20 operators reverse it at once, each with their own key
    def reverse(i: int) -> str:
        try:
            ledger.reverse(pg_db, paid.id, source="tests", idempotency_key=f"rev{i}", reason="x")
        except AlreadyReversed:
            return "already reversed"
        return "reversed"

    outcomes = Counter(run_together(20, reverse))

    # Then exactly one reversal was recorded and the money came back once
    assert outcomes == Counter({"reversed": 1, "already reversed": 19})
    balances = wallet_balances(pg_db, [wallet, other])
    assert balances[wallet][0] == OPENING
    assert balances[other][0] == OPENING
    assert ledger.audit_ledger(pg_db).ok


@pytest.mark.parametrize("early_write_min_batch", [1, 1_000_000], ids=["write first", "lock first"])
def test_single_posts_and_batches_at_once_neither_deadlock_nor_overdraw(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch, early_write_min_batch: int
) -> None:
    # Given 20 funded accounts, and batches whose rows go in before or after their locks
    monkeypatch.setattr(ledger, "EARLY_WRITE_MIN_BATCH", early_write_min_batch)
    _, wallets = fund_accounts(pg_db, 20, OPENING)

    def random_transfer(rng: random.Random, key: str) -> TransactionRequest:
        src, dst = rng.sample(wallets, 2)  # both directions: higher id to lower id too
        return transfer(src, dst, rng.randint(1, 3_000), key)

    # When 12 threads post single transfers while 4 threads commit batches of 20
    def work(thread: int) -> Counter[str]:
        rng = random.Random(thread)
        outcome: Counter[str] = Counter()
        for i in range(60):
            try:
                if thread < 4:
                    requests = [random_transfer(rng, f"b{thread}-{i}-{j}") for j in range(20)]
                    with pg_db.uow() as uow:
                        lines = ledger.record_batch(uow, requests)
                        uow.commit()
                    outcome.update("posted" if line.posted else "refused" for line in lines)
                else:
                    ledger.post(pg_db, random_transfer(rng, f"s{thread}-{i}"))
                    outcome["posted"] += 1
            except InsufficientFunds:
                outcome["refused"] += 1
            except AbonentError as exc:  # a deadlock arrives here as StorageUnavailable
                outcome[f"{exc.code}: {exc.__cause__}"] += 1
        return outcome

    totals = sum(run_together(16, work), Counter())

    # Then nothing failed but floors, and the money is all there
    assert set(totals) == {"posted", "refused"}, totals
    balances = wallet_balances(pg_db, wallets)
    assert sum(balance for balance, _ in balances.values()) == 20 * OPENING
    assert all(balance >= 0 for balance, _ in balances.values())
    assert ledger.audit_ledger(pg_db).ok


@pytest.mark.parametrize("early_write_min_batch", [1, 1_000_000], ids=["write first", "lock first"])
def test_batches_sharing_keys_post_each_key_once(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch, early_write_min_batch: int
) -> None:
    # Given the same four batches of 100 transfers, sent by six threads at once
    monkeypatch.setattr(ledger, "EARLY_WRITE_MIN_BATCH", early_write_min_batch)
    _, wallets = fund_accounts(pg_db, 10, OPENING)
    rng = random.Random(5)
    batches = [
        [
            transfer(*rng.sample(wallets, 2), rng.randint(1, 40), f"shared-{b}-{i}")
            for i in range(100)
        ]
        for b in range(4)
    ]

    # When each thread records them in order, sending a batch again if the database refused a
    # key another thread stored meanwhile (what a caller does with IntegrityError)
    def work(thread: int) -> Counter[str]:
        outcome: Counter[str] = Counter()
        for requests in batches:
            while True:
                try:
                    with pg_db.uow() as uow:
                        lines = ledger.record_batch(uow, requests)
                        uow.commit()
                except sa.exc.IntegrityError:
                    outcome["sent again"] += 1
                    continue
                outcome.update("posted" if line.posted else "replayed" for line in lines)
                break
        return outcome

    totals = sum(run_together(6, work), Counter())

    # Then every key was posted once and replayed to the other threads, and the money is exact
    assert totals["posted"] == 400
    assert totals["replayed"] == 5 * 400
    if early_write_min_batch == 1:  # a stored key fails the early insert, then replays
        assert totals["sent again"] == 0
    assert transaction_count(pg_db) == 10 + 400
    balances = wallet_balances(pg_db, wallets)
    assert sum(balance for balance, _ in balances.values()) == 10 * OPENING
    assert ledger.audit_ledger(pg_db).ok
