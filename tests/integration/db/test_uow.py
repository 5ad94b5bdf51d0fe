"""The unit of work on both databases, including SQLite's lean path (connections kept per
thread, BEGIN and COMMIT at the driver): it rolls back unless committed, nests, and leaves no
connection behind."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from abonent.core.errors import InsufficientFunds
from abonent.db.uow import Database, ThreadConnections
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.ledger.tables import accounts

pytestmark = pytest.mark.storage


def _account_count(db: Database) -> int:
    with db.reading() as uow:
        return int(
            uow.connection.execute(sa.select(sa.func.count()).select_from(accounts)).scalar_one()
        )


def _create(db: Database, code: str) -> int:
    with db.uow() as uow:
        account_id = uow.ledger.create_account(code, AccountKind.SUSPENSE, None, uow.clock.now())
        uow.commit()
    return account_id


def test_statements_of_sqlalchemy_and_of_the_driver_are_one_transaction(db: Database) -> None:
    a, b = _create(db, "a"), _create(db, "b")
    with db.uow() as uow:
        # the ledger's hot statements go to the driver, this one through SQLAlchemy
        ledger.record(
            uow,
            transfer_request(
                kind="t",
                source="s",
                idempotency_key="1",
                debit_account_id=a,
                credit_account_id=b,
                amount=5,
            ),
        )
        uow.ledger.create_account("c", AccountKind.SUSPENSE, None, uow.clock.now())
        # not committed
    assert _account_count(db) == 2
    with db.reading() as uow:
        assert uow.ledger.find_transaction("s", "1") is None


def test_a_failed_unit_of_work_rolls_back_and_the_thread_goes_on(db: Database) -> None:
    a, b = _create(db, "a"), _create(db, "b")
    with pytest.raises(RuntimeError), db.uow() as uow:
        uow.ledger.create_account("c", AccountKind.SUSPENSE, None, uow.clock.now())
        raise RuntimeError("boom")
    assert _account_count(db) == 2
    with db.uow() as uow:
        uow.ledger.set_floor(a, 0)
        uow.commit()
    request = transfer_request(
        kind="t",
        source="s",
        idempotency_key="1",
        debit_account_id=a,
        credit_account_id=b,
        amount=5,
    )
    with pytest.raises(InsufficientFunds):
        ledger.post(db, request)
    assert _account_count(db) == 2
    with db.reading() as uow:
        assert uow.ledger.find_transaction("s", "1") is None


def test_a_read_inside_a_write_in_one_thread_sees_the_committed_state(db: Database) -> None:
    _create(db, "a")
    with db.uow() as outer:
        outer.ledger.create_account("b", AccountKind.SUSPENSE, None, outer.clock.now())
        assert _account_count(db) == 1  # a nested unit of work: another connection
        outer.commit()
    assert _account_count(db) == 2


def test_many_threads_write_at_once_beyond_the_kept_connections(db: Database) -> None:
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(3):
                _create(db, f"t{n}-{i}")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(ThreadConnections.LIMIT + 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert _account_count(db) == (ThreadConnections.LIMIT + 4) * 3


def test_dispose_gives_every_kept_connection_back(db: Database) -> None:
    pool = db.engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    _create(db, "a")
    worker = threading.Thread(target=_create, args=(db, "b"))
    worker.start()
    worker.join()
    # The ended thread's connection went back with the thread; this thread's at most is out.
    assert pool.checkedout() <= 1
    db.dispose()
    assert pool.checkedout() == 0
    assert _account_count(db) == 2  # and the database still works afterwards


def test_databases_on_one_engine_share_this_threads_connection(db: Database) -> None:
    pool = db.engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    other = Database(db.engine, db.clock)  # as a USSD step makes one per request
    _create(db, "a")
    _create(other, "b")
    assert pool.checkedout() <= 1
    with other.reading() as uow:
        driver = uow.connection.connection.driver_connection
    db.engine.dispose()  # directly, as tests and scripts do: the connection is closed
    assert _closed(driver)
    assert _account_count(other) == 2


def _closed(driver: Any) -> bool:
    if isinstance(driver, sqlite3.Connection):
        try:
            driver.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            return True
        return False
    return bool(driver.closed)  # psycopg


def _in_thread(work: Any) -> Any:
    """Run ``work()`` in a new thread (which keeps its own connection) and return its result."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(work()))
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(results) == 1
    return results[0]


def _writing_driver(db: Database) -> Any:
    with db.uow() as uow:
        uow.ledger.create_account(f"w{threading.get_ident()}", "suspense", None, uow.clock.now())
        driver = uow.connection.connection.driver_connection
        uow.commit()
    return driver


def test_writing_threads_take_turns_on_one_connection_with_a_warm_cache(db: Database) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: one writer at a time")
    mine = _writing_driver(db)
    theirs = _in_thread(lambda: _writing_driver(db))
    assert theirs is mine
    with db.reading() as uow:  # reads keep this thread's own connection
        assert uow.connection.connection.driver_connection is not mine
    assert _account_count(db) == 2


def test_a_failed_write_gives_the_writer_connection_and_the_gate_back(db: Database) -> None:
    a, b = _create(db, "a"), _create(db, "b")
    with pytest.raises(RuntimeError), db.uow() as uow:
        uow.ledger.set_floor(a, 0)
        raise RuntimeError("boom")
    with db.uow() as uow:
        uow.ledger.set_floor(a, 0)
        uow.commit()
    with pytest.raises(InsufficientFunds), db.uow() as uow:  # a failure inside the ledger
        ledger.record(
            uow,
            transfer_request(
                kind="t",
                source="s",
                idempotency_key="1",
                debit_account_id=a,
                credit_account_id=b,
                amount=5,
            ),
        )
    # another thread writes at once (it would wait the whole busy timeout for a gate not given
    # back), and so does this one
    _in_thread(lambda: _create(db, "c"))
    _create(db, "d")
    assert _account_count(db) == 4


def test_a_read_after_the_commit_gives_the_writer_connection_and_the_gate_back(
    db: Database,
) -> None:
    a = _create(db, "a")
    with db.uow() as uow:
        uow.ledger.set_floor(a, 0)
        uow.commit()
        # SQLAlchemy begins again for this read; the unit of work must end that one too
        assert uow.ledger.account(a) is not None
    _in_thread(lambda: _create(db, "b"))
    _create(db, "c")
    assert _account_count(db) == 3
