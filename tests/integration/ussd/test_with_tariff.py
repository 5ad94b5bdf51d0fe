"""``*111#`` and collect calls with the charging engine's real catalogue and subscriptions."""

from __future__ import annotations

import pytest

from abonent.charging import services as charging
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.messaging.services import calls_for, finish_collect_call
from tests.integration.charging.support import load_test_catalogue
from tests.integration.ussd.helpers import Phone, balance, make_channel, new_subscriber, run_steps

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"


def test_balance_menu_shows_tariff_and_remainders(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    new_subscriber(db, A, balance=tenge(5000))
    charging.change_tariff(db, A, "MONTH", actor="test")
    channel = make_channel(db)

    tariff = run_steps(Phone(channel, A), "*111#", ["1"])
    remainders = run_steps(Phone(channel, A), "*111#", ["2"])

    assert tariff[0] == f"CON Баланс: {balance(db, A) // 100} тг\n1 Тариф\n2 Остатки пакетов"
    assert tariff[1] == "END Тариф Месяц: 2990 тг, до 15.02.2026"
    assert remainders[1] == "END Остатки до 15.02.2026: 100 мин, 10 мин, 5 SMS, 100 МБ"


def test_accepted_collect_call_is_rated_by_the_charging_engine(
    db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    new_subscriber(db, A, balance=tenge(100))
    new_subscriber(db, B, balance=tenge(5000))
    charging.change_tariff(db, B, "MONTH", actor="test")
    channel = make_channel(db)
    run_steps(Phone(channel, A), "*133*7071234568#", [])
    assert run_steps(Phone(channel, B), "*133#", ["1"])[-1] == (
        "END Звонок принят. Стоимость 13 тг/мин."
    )
    before_a, before_b = balance(db, A), balance(db, B)
    (call,) = calls_for(db, B)

    done = finish_collect_call(db, call.id, 121)
    again = finish_collect_call(db, call.id, 121)

    assert done.charged == again.charged == tenge(39)  # three started minutes at 13 ₸
    assert (balance(db, A), balance(db, B)) == (before_a, before_b - tenge(39))
    assert audit_ledger(db).ok
