"""Demo data for ``make run``: brands, subscribers and balances (and what later features add).

Idempotent: running it twice changes nothing. Each feature that has demo data adds a loader to
``DEMO_LOADERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from abonent.bootstrap import Container
from abonent.core.iin import make_iin
from abonent.core.money import tenge
from abonent.core.msisdn import parse_msisdn
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import Language, PaymentType

DemoLoader = Callable[[Container], list[str]]


def _iin(birth: date, century_sex: int) -> str:
    for serial in range(1, 100):
        iin = make_iin(birth, century_sex, serial)
        if iin:
            return iin
    raise AssertionError("no valid IIN serial")  # pragma: no cover


DEMO_SUBSCRIBERS: tuple[subscribers.NewSubscriber, ...] = (
    subscribers.NewSubscriber(
        "7071234567",
        "Айгерим Сейтқали",
        _iin(date(1990, 3, 14), 4),
        opening_balance=tenge(1500),
        email="aigerim@example.kz",
    ),
    subscribers.NewSubscriber(
        "7071234568", "Ерлан Жумабаев", _iin(date(1985, 11, 2), 3), opening_balance=tenge(250)
    ),
    subscribers.NewSubscriber(
        "7001234567",
        "Dana Omarova",
        _iin(date(2001, 6, 30), 6),
        opening_balance=tenge(3000),
        language=Language.EN,
    ),
    subscribers.NewSubscriber(
        "7471234567",
        "Нурлан Ахметов",
        _iin(date(1978, 1, 21), 3),
        opening_balance=0,
        language=Language.KK,
    ),
    subscribers.NewSubscriber(
        "7081234567",
        "ТОО «Кайнар» (corporate)",
        None,
        payment_type=PaymentType.POSTPAID,
        email="billing@kainar.example.kz",
    ),
    # Ported in from Kcell: the prefix says kcell, the register says tele2.
    subscribers.NewSubscriber(
        "7011112233",
        "Олжас Беков",
        _iin(date(1995, 8, 8), 3),
        opening_balance=tenge(100),
        brand="tele2",
    ),
)


def load_subscribers(c: Container) -> list[str]:
    added = []
    for new in DEMO_SUBSCRIBERS:
        with c.db.reading() as uow:
            exists = uow.subscribers.by_msisdn(parse_msisdn(new.msisdn)) is not None
        if not exists:
            subscribers.add_subscriber(
                c.db, new, actor="demo", postpaid_credit_limit=c.settings.postpaid_credit_limit_tiyn
            )
            added.append(f"subscriber {new.msisdn}")
    return added


def load_agents(c: Container) -> list[str]:
    from abonent.agents.demo import load_agents as load

    return load(c)


def load_vouchers(c: Container) -> list[str]:
    from abonent.vouchers.demo import load_demo_vouchers

    return load_demo_vouchers(c)


def load_charging(c: Container) -> list[str]:
    from abonent.charging.demo import load_charging_demo

    return load_charging_demo(c)


def load_autopay(c: Container) -> list[str]:
    from abonent.autopay.demo import load_autopay_demo

    return load_autopay_demo(c)


def load_cashdesk(c: Container) -> list[str]:
    from abonent.cashdesk.demo import load_cashdesk as load_cashdesk_demo

    return load_cashdesk_demo(c)


DEMO_LOADERS: list[DemoLoader] = [
    load_subscribers,
    load_agents,
    load_vouchers,
    load_charging,
    load_autopay,
    load_cashdesk,
]


def load_demo(c: Container) -> list[str]:
    added: list[str] = []
    for loader in DEMO_LOADERS:
        added.extend(loader(c))
    return added
