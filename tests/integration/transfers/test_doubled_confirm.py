"""A transfer happens exactly once however often its confirm arrives."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.transfers.services import send
from abonent.ussd.services import UssdRequest, handle
from tests.integration.ussd.helpers import (
    Phone,
    balance,
    make_channel,
    new_subscriber,
    sms_texts,
)

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"
DONE = "END Переведено 450 тг на 7071234568. Баланс: 1000 тг"


def test_doubled_confirm_moves_money_once(db: Database, clock: FrozenClock) -> None:
    new_subscriber(db, A, balance=tenge(1500))
    new_subscriber(db, B, balance=tenge(250))
    channel = make_channel(db)
    phone = Phone(channel, A)
    assert phone.dial("*145*7071234568*500#").startswith("CON Перевод 500 тг")

    first = phone.answer("1")
    again = phone.resend()  # the gateway repeats the confirm
    phone.inputs.append("1")  # the subscriber presses 1 twice: text "1*1"
    twice = phone.resend()
    # The application server restarted between the repeats (its session memory is gone):
    restarted = make_channel(db)
    restarted.sessions.open_or_check(
        phone.session, "+77071234567", phone.code, first=True, now=clock.now()
    )
    after_restart = Phone(restarted, A)
    after_restart.session, after_restart.code, after_restart.inputs = (
        phone.session,
        phone.code,
        ["1"],
    )

    assert [first, again, twice, after_restart.resend()] == [DONE] * 4
    assert (balance(db, A), balance(db, B)) == (tenge(1000), tenge(450 + 250))
    assert len([t for t in sms_texts(db, A) if t.startswith("Перевод 500 тг")]) == 1
    assert len([t for t in sms_texts(db, B) if t.startswith("Вам перевели")]) == 1
    assert audit_ledger(db).ok


def test_concurrent_confirms_move_money_once(db: Database, clock: FrozenClock) -> None:
    new_subscriber(db, A, balance=tenge(1500))
    new_subscriber(db, B, balance=tenge(250))
    channel = make_channel(db)
    opening = UssdRequest("race-1", "*145*7071234568*500#", A, "")
    assert handle(channel, opening).body.startswith("CON ")
    confirm = UssdRequest("race-1", "*145*7071234568*500#", A, "1")

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: handle(channel, confirm).body, range(8)))

    assert replies == [DONE] * 8
    assert (balance(db, A), balance(db, B)) == (tenge(1000), tenge(700))
    assert audit_ledger(db).ok


def test_same_session_key_in_the_service_replays(db: Database) -> None:
    new_subscriber(db, A, balance=tenge(1500))
    new_subscriber(db, B, balance=tenge(250))
    first = send(db, A, B, tenge(500), session_key="k1", actor="test")
    second = send(db, A, B, tenge(500), session_key="k1", actor="test")
    assert second.replayed and second.id == first.id
    assert balance(db, A) == tenge(1000)
