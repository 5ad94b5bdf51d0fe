"""PostgreSQL only: races SQLite's single writer cannot show."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from abonent.bills import services as bills
from abonent.bills.tables import bills as bills_table
from abonent.cashdesk import services as cashdesk
from abonent.cashdesk.domain import AuthMethod, NoteEvent
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.subscribers.services import get_subscriber
from tests.integration.bills.helpers import add_postpaid, charge, pay
from tests.integration.cashdesk.test_sessions_api import FEB_1

pytestmark = pytest.mark.postgres_only


def together(work: Callable[[], object], times: int) -> list[BaseException]:
    return all_at_once([work] * times)


def all_at_once(works: list[Callable[[], object]]) -> list[BaseException]:
    barrier = threading.Barrier(len(works))
    errors: list[BaseException] = []

    def run(work: Callable[[], object]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_concurrent_bill_runs_bill_each_number_once(pg_db: Database, clock: FrozenClock) -> None:
    numbers = [f"70812345{i:02d}" for i in range(12)]
    for national in numbers:
        add_postpaid(pg_db, national)
        charge(pg_db, "+7" + national, tenge(1_000))
    clock.set(FEB_1)
    errors = together(lambda: bills.run_bills(pg_db, bills.BillingPolicy(), chunk=5), 4)
    assert errors == []
    with pg_db.reading() as uow:
        count = uow.connection.execute(sa.select(sa.func.count()).select_from(bills_table))
        assert count.scalar_one() == len(numbers)


def test_payments_racing_a_bill_run_are_allocated_exactly(
    pg_db: Database, clock: FrozenClock
) -> None:
    add_postpaid(pg_db)
    charge(pg_db, "+77081234567", tenge(15_000))
    clock.set(FEB_1)

    pay(pg_db, "+77081234567", tenge(5_000))  # before the bill: carried credit

    errors = all_at_once(
        [
            lambda: bills.run_bills(pg_db, bills.BillingPolicy()),
            lambda: pay(pg_db, "+77081234567", tenge(20_000)),
        ]
    )

    assert errors == []
    (bill,) = bills.bills_of_number(pg_db, "7081234567")
    subscriber = get_subscriber(pg_db, "7081234567")
    with pg_db.reading() as uow:
        account = bills.account_bills(uow, subscriber.subscriber)
    # Either order ends the same: 15 000 billed, 25 000 paid in all, 10 000 carried.
    assert bill.charges == tenge(15_000)
    assert account.outstanding == 0 and account.credit == tenge(10_000)
    assert subscriber.balance == tenge(10_000)
    assert audit_ledger(pg_db).ok


def test_the_same_note_event_sent_at_once_counts_once(pg_db: Database, clock: FrozenClock) -> None:
    secret = "test-secret"
    add_postpaid(pg_db)
    _, key = cashdesk.register_machine(pg_db, "ATM-9", "Офис", secret=secret)
    session = cashdesk.open_session(
        pg_db, "ATM-9", key, method=AuthMethod.MSISDN, value="7081234567", secret=secret
    )
    errors = together(
        lambda: cashdesk.insert_note(
            pg_db,
            "ATM-9",
            key,
            session.id,
            NoteEvent(1, tenge(5_000)),
            secret=secret,
            limit=tenge(100_000),
        ),
        6,
    )
    assert errors == []
    state = cashdesk.get_session(pg_db, "ATM-9", key, session.id, secret=secret)
    assert (state.inserted, state.notes) == (tenge(5_000), 1)
