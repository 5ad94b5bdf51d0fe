"""How many units of work a USSD step opens: menus that move no money read once (or not at all),
a cancel reads nothing, and what a session already knows is not read again."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from abonent.core.errors import StorageUnavailable
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ussd.services import StepDatabase
from tests.integration.ussd.helpers import Phone, make_channel, new_subscriber

A, B = "7071234567", "7071234568"


@contextmanager
def units_of_work(db: Database) -> Iterator[list[int]]:
    """Counts the transactions begun on ``db`` while the block runs."""
    begun: list[int] = []

    def count(_connection: Any) -> None:
        begun.append(1)

    sa.event.listen(db.engine, "begin", count)
    try:
        yield begun
    finally:
        sa.event.remove(db.engine, "begin", count)


def test_menu_steps_read_once_and_a_cancel_reads_nothing(db: Database) -> None:
    new_subscriber(db, A, balance=tenge(1000))
    new_subscriber(db, B)
    phone = Phone(make_channel(db), A)
    with units_of_work(db) as begun:
        assert phone.dial("*145*7071234568*100#").startswith("CON ")
    assert len(begun) == 1  # the caller and the quote share one read
    with units_of_work(db) as begun:
        assert phone.answer("2").startswith("END ")
    assert begun == []  # nothing was done in this session: nothing to look up
    with units_of_work(db) as begun:
        assert phone.dial("*111#").startswith("CON ")
    assert len(begun) == 1
    with units_of_work(db) as begun:
        assert phone.dial("*141#").startswith("END ")
    assert len(begun) == 1


def test_a_confirmed_transfer_replays_from_the_database(db: Database) -> None:
    new_subscriber(db, A, balance=tenge(1000))
    new_subscriber(db, B)
    phone = Phone(make_channel(db), A)
    phone.dial("*145*7071234568*100#")
    done = phone.answer("1")
    assert done.startswith("END ")
    with units_of_work(db) as begun:
        assert phone.answer("1") == done  # inputs past the last step replay the answer
    assert len(begun) == 1  # the session acted: the replay looks its result up


def test_a_steps_reads_share_one_unit_of_work_until_a_write(db: Database) -> None:
    step = StepDatabase(db)
    try:
        with step.reading() as first, step.reading() as nested:
            assert nested is first
            with step.uow() as writing:  # a write inside a read leaves the read alone
                assert writing is not first
            assert first.connection.execute(sa.text("SELECT 1")).scalar() == 1
        with step.reading() as again:
            assert again is first
        with step.uow():
            pass
        with step.reading() as after_write:
            assert after_write is not first
        with pytest.raises(StorageUnavailable), step.reading():
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("the disk is gone"))
        with step.reading() as fresh:  # a broken read is not reused
            assert fresh is not after_write
            assert fresh.connection.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        step.release()


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on ``db`` while the block runs."""
    seen: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", keep)


def test_a_credit_refused_for_tenure_does_not_sum_the_months_activity(db: Database) -> None:
    new_subscriber(db, A, balance=tenge(1000))
    phone = Phone(make_channel(db), A)
    with statements(db) as seen:
        assert phone.dial("*141#").startswith("END Услуга доступна через 60 дн.")
    assert seen, "the offer was read"
    assert not [s for s in seen if "payments" in s or "postings" in s]
