"""PostgreSQL only: concurrent job runners and concurrent usage deliveries charge once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from abonent.bootstrap import Container
from abonent.charging import services
from abonent.charging.jobs import Scheduler
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from tests.factories import add_subscriber
from tests.integration.charging.support import (
    assert_audit_ok,
    balance,
    load_test_catalogue,
    record,
    transactions_of_kind,
)


def _together(*work: Callable[[], object]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(work))

    def run(job: Callable[[], object]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres_only
def test_two_renewal_runners_at_once_charge_each_subscription_once(
    pg_db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(pg_db)
    numbers = [f"+770712345{i:02d}" for i in range(20)]
    for number in numbers:
        add_subscriber(pg_db, number, balance=100000)
        services.change_tariff(pg_db, number, "DAILY", actor="test")
    clock.advance(days=1)
    now = clock.now()
    errors = _together(
        lambda: services.run_renewals(pg_db, now, chunk_size=4),
        lambda: services.run_renewals(pg_db, now, chunk_size=4),
    )
    assert errors == []
    assert transactions_of_kind(pg_db, "renewal.") == 20
    assert all(balance(pg_db, n) == 100000 - 2 * 7900 for n in numbers)
    assert_audit_ok(pg_db)


@pytest.mark.postgres_only
def test_the_same_usage_sent_twice_at_once_is_charged_once(
    pg_db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(pg_db)
    add_subscriber(pg_db, "+77071234567", balance=100000)
    batch = [record(f"p{i}", "sms", "+77071234567", "+77771234567", clock.now()) for i in range(50)]
    errors = _together(
        lambda: services.rate_usage(pg_db, batch), lambda: services.rate_usage(pg_db, batch)
    )
    assert errors == []
    assert balance(pg_db, "+77071234567") == 100000 - 50 * 1000
    assert_audit_ok(pg_db)


@pytest.mark.storage
def test_the_scheduler_tick_runs_due_jobs_as_of_the_injected_clock(
    container: Container, db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, "+77071234567", balance=100000)
    services.change_tariff(db, "+77071234567", "DAILY", actor="test")
    scheduler = Scheduler(container, interval=0)

    def line(prefix: str) -> str:
        return next(text for text in scheduler.tick() if text.startswith(prefix))

    assert line("renewals:").startswith("renewals: 0 renewed")
    clock.advance(days=1)
    assert line("renewals:").startswith("renewals: 1 renewed")
    assert "SMTP not configured" in line("e-mails:")
