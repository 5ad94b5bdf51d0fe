"""Trust credit from taking it to the unbar, with the injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from abonent.bootstrap import Container
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.credit.domain import CreditStatus
from abonent.credit.services import current_credit, run_deadlines
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.ledger.services import audit_ledger, post
from abonent.subscribers.services import get_subscriber
from tests.factories import system_account
from tests.integration.ussd.helpers import (
    Phone,
    agent_top_up,
    balance,
    floor,
    make_channel,
    make_veteran,
    run_steps,
    sms_texts,
    status,
)

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"


def spend(db: Database, msisdn: str, amount: int, key: str) -> None:
    """Usage charged to the balance (calls, data): money leaves to revenue."""
    account = get_subscriber(db, msisdn).subscriber.account_id
    revenue = system_account(db, AccountKind.REVENUE, "usage")
    post(
        db,
        transfer_request(
            kind="usage",
            source="test-usage",
            idempotency_key=key,
            debit_account_id=account,
            credit_account_id=revenue,
            amount=amount,
        ),
    )


def test_trust_credit_lifecycle(db: Database, clock: FrozenClock) -> None:
    channel = make_channel(db)
    make_veteran(db, clock, A, balance=tenge(100))
    from tests.integration.ussd.helpers import new_subscriber

    new_subscriber(db, B, balance=tenge(100))

    # Take 500 ₸ (fee 25 ₸): the balance grows by 500, 525 ₸ is owed within 3 days.
    screens = run_steps(Phone(channel, A), "*141#", ["1", "1"])
    assert screens[-1] == "END Зачислено 500 тг. Верните 525 тг до 20.03.2026."
    assert balance(db, A) == tenge(600)
    credit = current_credit(db, A)
    assert credit is not None and credit.outstanding == tenge(525)
    assert credit.status is CreditStatus.OPEN

    # One open credit at a time; no outgoing transfer while it is owed.
    assert run_steps(Phone(channel, A), "*141#", []) == ["END Сначала погасите долг 525 тг."]
    assert run_steps(Phone(channel, A), "*145*7071234568*100#", []) == [
        "END Перевод невозможен до погашения доверительного платежа."
    ]

    # A top-up of 200 ₸ repays 200 ₸ of the debt first: the balance stays at 600.
    agent_top_up(db, A, tenge(200))
    assert balance(db, A) == tenge(600)
    credit = current_credit(db, A)
    assert credit is not None and credit.outstanding == tenge(325)
    assert sms_texts(db, A)[-2:] == [
        "В счет доверительного платежа удержано 200 тг. Осталось 325 тг.",
        "Баланс пополнен на 200.00 тг. Баланс: 600.00 тг. Чек " + sms_texts(db, A)[-1][-11:],
    ]

    # Calls and data spend 500 ₸; the deadline is not reached yet, nothing happens.
    spend(db, A, tenge(500), "calls-1")
    clock.advance(days=2, hours=23)
    assert run_deadlines(db) == []

    # At the deadline the 325 ₸ still owed is taken although only 100 ₸ is there.
    clock.advance(hours=1)
    (outcome,) = run_deadlines(db)
    assert (outcome.debited, outcome.balance_after, outcome.barred) == (
        tenge(325),
        -tenge(225),
        True,
    )
    assert balance(db, A) == -tenge(225)
    assert floor(db, A) == -tenge(225)  # the floor followed the forced debit down
    assert status(db, A) == "barred"
    assert sms_texts(db, A)[-1] == (
        "Срок доверительного платежа истек: списано 325 тг, баланс -225 тг. "
        "Исходящие услуги ограничены до пополнения."
    )
    assert audit_ledger(db).ok
    assert run_deadlines(db) == []  # once only

    # Barred: chargeable outgoing services are refused; the debt cannot be spent again.
    assert run_steps(Phone(channel, A), "*145*7071234568*100#", []) == [
        "END Услуга недоступна: номер ограничен за долг. Пополните баланс."
    ]
    assert run_steps(Phone(channel, A), "*141#", []) == [
        "END Услуга недоступна: номер ограничен за долг. Пополните баланс."
    ]

    # A partial repayment: still below zero, still barred; the floor follows the balance up.
    agent_top_up(db, A, tenge(100))
    assert (balance(db, A), floor(db, A), status(db, A)) == (-tenge(125), -tenge(125), "barred")
    credit = current_credit(db, A)
    assert credit is not None and credit.status is CreditStatus.OVERDUE
    assert credit.outstanding == tenge(125)
    assert audit_ledger(db).ok

    # Repaid: floor back at 0, the bar lifted, the credit closed.
    agent_top_up(db, A, tenge(300))
    assert (balance(db, A), floor(db, A), status(db, A)) == (tenge(175), 0, "active")
    assert current_credit(db, A) is None
    assert "Долг погашен, ограничения сняты." in sms_texts(db, A)
    assert audit_ledger(db).ok

    # Owing nothing again, the subscriber may take a new credit.
    assert run_steps(Phone(channel, A), "*141#", [])[0].startswith("CON Доверительный платеж")


def test_deadline_with_enough_money_repays_without_bar(db: Database, clock: FrozenClock) -> None:
    channel = make_channel(db)
    make_veteran(db, clock, A, balance=tenge(100))
    run_steps(Phone(channel, A), "*141#", ["1", "1"])
    clock.advance(days=3)

    (outcome,) = run_deadlines(db)

    assert (outcome.debited, outcome.balance_after, outcome.barred) == (
        tenge(525),
        tenge(75),
        False,
    )
    assert (balance(db, A), floor(db, A), status(db, A)) == (tenge(75), 0, "active")
    assert current_credit(db, A) is None
    assert sms_texts(db, A)[-1] == "Доверительный платеж погашен. Спасибо!"
    assert audit_ledger(db).ok


def test_received_transfer_repays_the_credit_first(db: Database, clock: FrozenClock) -> None:
    channel = make_channel(db)
    make_veteran(db, clock, A, balance=tenge(100))
    from tests.integration.ussd.helpers import new_subscriber

    new_subscriber(db, B, balance=tenge(2000))
    run_steps(Phone(channel, A), "*141#", ["1", "1"])

    run_steps(Phone(channel, B), "*145*7071234567*1000#", ["1"])

    credit = current_credit(db, A)
    assert credit is None  # 950 ₸ arrived; 525 ₸ repaid at once
    assert balance(db, A) == tenge(600 + 950 - 525)
    assert audit_ledger(db).ok


def test_spend_on_services_counts_towards_the_tiers(db: Database, clock: FrozenClock) -> None:
    """A long-standing subscriber living off an old, large top-up is offered the tiers that
    the month's spend earns, not only what this month's small top-up would."""
    from abonent.credit.services import offer

    make_veteran(db, clock, A, balance=tenge(5000))
    clock.advance(days=400)  # the big top-up is now more than 30 days old
    agent_top_up(db, A, tenge(100))  # this month's only top-up
    assert [t.amount for t in offer(db, A).tiers] == [tenge(500)]

    spend(db, A, tenge(3000), "usage-1")
    assert [t.amount for t in offer(db, A).tiers] == [
        tenge(500),
        tenge(1000),
        tenge(1500),
        tenge(2000),
    ]


def test_the_servers_scheduler_runs_the_deadlines(
    container: Container, db: Database, clock: FrozenClock
) -> None:
    """Deadlines are a due job: ``abonent serve``'s scheduler (and ``jobs run-due``) run them."""
    from abonent.charging.jobs import run_due

    channel = make_channel(db)
    make_veteran(db, clock, A, balance=0)
    agent_top_up(db, A, tenge(10))
    run_steps(Phone(channel, A), "*141#", ["1", "1"])
    clock.advance(days=1)
    assert "trust credit: 0 past their deadline debited, 0 barred" in run_due(container)

    clock.advance(days=2)
    assert "trust credit: 1 past their deadline debited, 1 barred" in run_due(container)
    assert (balance(db, A), status(db, A)) == (tenge(10) - tenge(25), "barred")
    assert "trust credit: 0 past their deadline debited, 0 barred" in run_due(container)
    assert audit_ledger(db).ok
