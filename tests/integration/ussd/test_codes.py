"""Every service code, table-driven: the screens a subscriber sees, the money that moved and the
SMS that were queued — for the happy path and each refusal. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from abonent.core.clock import FrozenClock
from abonent.core.money import Tiyn, tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.messaging.domain import NotifyKind
from abonent.messaging.services import (
    calls_for,
    finish_collect_call,
    request_collect_call,
    send_request,
)
from abonent.subscribers.domain import Language, SubscriberStatus
from abonent.subscribers.services import set_status
from abonent.transfers.services import send as send_transfer
from abonent.ussd.services import UssdChannel
from tests.integration.ussd.helpers import (
    Phone,
    agent_top_up,
    balance,
    make_channel,
    new_subscriber,
    run_steps,
    sms_texts,
)

pytestmark = pytest.mark.storage

A, B, L, P, C, K, BEELINE, CORP = (
    "7071234567",  # Tele2, ru, 1500
    "7071234568",  # Tele2, ru, 250
    "7001234567",  # Altel, en, 3000
    "7011112233",  # ported from Kcell to Tele2, ru, 100
    "7471234567",  # Tele2, kk, 0
    "7011234567",  # Kcell: not ours, not a subscriber
    "7051234567",  # Beeline: not ours
    "7081234567",  # Altel postpaid (corporate)
)
KNOWN = (A, B, L, P, C, CORP)


@dataclass
class World:
    db: Database
    clock: FrozenClock
    channel: UssdChannel
    vouchers: list[str] = field(default_factory=list)


def base(world: World) -> None:
    db = world.db
    new_subscriber(db, A, balance=tenge(1500))
    new_subscriber(db, B, balance=tenge(250))
    new_subscriber(db, L, balance=tenge(3000), language=Language.EN)
    new_subscriber(db, P, balance=tenge(100), brand="tele2")
    new_subscriber(db, C, language=Language.KK)
    new_subscriber(db, CORP, postpaid=True)


Setup = Callable[[World], None]


def nothing(world: World) -> None:
    del world


def veteran(days: int = 61, topup: int = 100) -> Setup:
    """A is ``days`` old and topped up ``topup`` tenge in the last 30 days."""

    def setup(world: World) -> None:
        world.clock.advance(days=days)
        if topup:
            agent_top_up(world.db, A, tenge(topup))

    return setup


def requests_sent(kind: NotifyKind, per_day: int, days: int) -> Setup:
    def setup(world: World) -> None:
        for day in range(days):
            for i in range(per_day):
                send_request(world.db, kind, A, B, session_key=f"setup:{day}:{i}")
            world.clock.advance(days=1)

    return setup


def requests_today(kind: NotifyKind, count: int) -> Setup:
    def setup(world: World) -> None:
        for i in range(count):
            send_request(world.db, kind, A, B, session_key=f"today:{i}")

    return setup


def collect_waiting(world: World) -> None:
    request_collect_call(world.db, A, B, session_key="setup:collect")


def collect_to_c(world: World) -> None:
    request_collect_call(world.db, A, C, session_key="setup:collect-c")


def collect_expired(world: World) -> None:
    collect_waiting(world)
    world.clock.advance(minutes=6)


def transfers_sent(count: int, amount: int, *, topup: int = 0) -> Setup:
    def setup(world: World) -> None:
        if topup:
            agent_top_up(world.db, A, tenge(topup))
        for i in range(count):
            key = f"setup:{i}"
            send_transfer(world.db, A, B, tenge(amount), session_key=key, actor="test")

    return setup


def month_of_transfers(world: World) -> None:
    """6 days of 2000 + 2000 + 1000: the daily 5000 each day, 30000 in the month."""
    agent_top_up(world.db, A, tenge(31000))
    for day in range(6):
        for i, amount in enumerate((2000, 2000, 1000)):
            key = f"month:{day}:{i}"
            send_transfer(world.db, A, B, tenge(amount), session_key=key, actor="test")
        world.clock.advance(days=1)


def credit_taken(world: World) -> None:
    veteran()(world)
    phone = Phone(world.channel, A)
    run_steps(phone, "*141#", ["1", "1"])


def barred(world: World) -> None:
    set_status(world.db, A, SubscriberStatus.BARRED, actor="test")


def with_voucher(world: World) -> None:
    from tests.integration.vouchers.helpers import make_batch

    _, codes = make_batch(world.db, nominal=tenge(1000), count=1)
    world.vouchers.extend(codes)


def finish_call_after(seconds: int) -> Setup:
    """The switch reports the end of B's accepted collect call after ``seconds``."""

    def after(world: World) -> None:
        (call,) = calls_for(world.db, B)
        finish_collect_call(world.db, call.id, seconds)

    return after


@dataclass(frozen=True)
class Case:
    id: str
    caller: str
    code: str
    answers: list[str]
    screens: list[str]
    moves: dict[str, Tiyn] = field(default_factory=dict)
    sms: dict[str, list[str]] = field(default_factory=dict)
    setup: Setup = nothing
    after: Setup = nothing


REFUSED_NUMBER = "END Неверный номер. Введите 10 цифр, например 7071234567."
AUTOPAY_SMS = "Чтобы подключить автопополнение +7 707 123 45 {}, привяжите карту в личном кабинете."
TOPUP_SMS = "Баланс пополнен на "  # the top-up core's SMS (amount, balance and receipt follow)

CASES = [
    # *111# ---------------------------------------------------------------------------------
    Case(
        "balance-tariff",
        A,
        "*111#",
        ["1"],
        ["CON Баланс: 1500 тг\n1 Тариф\n2 Остатки пакетов", "END Тариф не подключен."],
    ),
    Case(
        "balance-remainders",
        A,
        "*111#",
        ["2"],
        ["CON Баланс: 1500 тг\n1 Тариф\n2 Остатки пакетов", "END Нет действующих пакетов."],
    ),
    Case(
        "balance-bad-choice",
        A,
        "*111#",
        ["7"],
        [
            "CON Баланс: 1500 тг\n1 Тариф\n2 Остатки пакетов",
            "END Неверный выбор. Наберите код снова.",
        ],
    ),
    Case(
        "balance-english", L, "*111#", [], ["CON Balance: 3000 KZT\n1 Tariff\n2 Bundle remainders"]
    ),
    Case("balance-kazakh", C, "*111#", [], ["CON Баланс: 0 тг\n1 Тариф\n2 Пакет қалдықтары"]),
    Case("not-a-subscriber", K, "*111#", [], ["END Номер не обслуживается в сети."]),
    # *110*CODE# ----------------------------------------------------------------------------
    Case(
        "voucher-malformed", A, "*110*12#", [], ["END Неверный код карты оплаты. Введите 13 цифр."]
    ),
    Case(
        "voucher-wrong-code",
        A,
        "*110*1234567890123#",
        [],
        ["END Карта оплаты не принята: код неверен или уже использован."],
    ),
    # *144*N# -------------------------------------------------------------------------------
    Case(
        "callme",
        A,
        "*144*7071234568#",
        [],
        ["END Запрос «Позвони мне» отправлен на 7071234568."],
        sms={B: ["Пожалуйста, позвони мне. Абонент 7071234567"]},
    ),
    Case(
        "callme-8-prefix",
        A,
        "*144*87071234568#",
        [],
        ["END Запрос «Позвони мне» отправлен на 7071234568."],
        sms={B: ["Пожалуйста, позвони мне. Абонент 7071234567"]},
    ),
    Case(
        "callme-plus7",
        A,
        "*144*+77071234568#",
        [],
        ["END Запрос «Позвони мне» отправлен на 7071234568."],
        sms={B: ["Пожалуйста, позвони мне. Абонент 7071234567"]},
    ),
    Case(
        "callme-altel-english",
        A,
        "*144*7001234567#",
        [],
        ["END Запрос «Позвони мне» отправлен на 7001234567."],
        sms={L: ["Please call me back. Subscriber 7071234567"]},
    ),
    Case(
        "callme-ported-in",
        A,
        "*144*7011112233#",
        [],
        ["END Запрос «Позвони мне» отправлен на 7011112233."],
        sms={P: ["Пожалуйста, позвони мне. Абонент 7071234567"]},
    ),
    Case(
        "callme-foreign-brand",
        A,
        "*144*7011234567#",
        [],
        ["END Услуга доступна только для номеров Altel, Tele2."],
    ),
    Case("callme-malformed", A, "*144*12345#", [], [REFUSED_NUMBER]),
    Case("callme-own-number", A, "*144*7071234567#", [], ["END Нельзя указать свой номер."]),
    Case(
        "callme-daily-limit",
        A,
        "*144*7071234568#",
        [],
        ["END Исчерпан лимит: 5 запросов в день."],
        setup=requests_today(NotifyKind.CALL_ME, 5),
    ),
    Case(
        "callme-monthly-limit",
        A,
        "*144*7071234568#",
        [],
        ["END Исчерпан лимит: 30 запросов в месяц."],
        setup=requests_sent(NotifyKind.CALL_ME, per_day=5, days=6),
    ),
    # *143*N# -------------------------------------------------------------------------------
    Case(
        "topupme",
        A,
        "*143*7071234568#",
        [],
        ["END Запрос «Пополни мой счет» отправлен на 7071234568."],
        sms={B: ["Пожалуйста, пополни мой счет. Абонент 7071234567"]},
    ),
    Case(
        "topupme-foreign-brand",
        A,
        "*143*7051234567#",
        [],
        ["END Услуга доступна только для номеров Altel, Tele2."],
    ),
    Case(
        "topupme-daily-limit",
        A,
        "*143*7071234568#",
        [],
        ["END Исчерпан лимит: 5 запросов в день."],
        setup=requests_today(NotifyKind.TOP_UP_ME, 5),
    ),
    # *133*N# and *133# ---------------------------------------------------------------------
    Case(
        "collect-request",
        A,
        "*133*7071234568#",
        [],
        ["END Запрос звонка за счет 7071234568 отправлен. Ждите ответа."],
        sms={B: ["7071234567 просит звонок за ваш счет (13 тг/мин). Ответить: *133#"]},
    ),
    Case(
        "collect-not-served",
        A,
        "*133*7011234567#",
        [],
        ["END Номер 7011234567 не обслуживается в сети."],
    ),
    Case(
        "collect-already-waiting",
        A,
        "*133*7071234568#",
        [],
        ["END Запрос на 7071234568 уже ждет ответа."],
        setup=collect_waiting,
    ),
    Case(
        "collect-accept-and-rate",
        B,
        "*133#",
        ["1"],
        [
            "CON 7071234567 звонит за ваш счет, 13 тг/мин.\n1 Принять\n2 Отклонить",
            "END Звонок принят. Стоимость 13 тг/мин.",
        ],
        moves={B: -tenge(26)},  # 61 s = two started minutes, charged to the callee
        sms={A: ["7071234568 принял звонок за свой счет."]},
        setup=collect_waiting,
        after=finish_call_after(61),
    ),
    Case(
        "collect-decline",
        B,
        "*133#",
        ["2"],
        [
            "CON 7071234567 звонит за ваш счет, 13 тг/мин.\n1 Принять\n2 Отклонить",
            "END Звонок отклонен.",
        ],
        sms={A: ["7071234568 отклонил звонок за свой счет."]},
        setup=collect_waiting,
    ),
    Case(
        "collect-accept-without-money",
        C,
        "*133#",
        ["1"],
        [
            "CON 7071234567 сіздің есебіңізден, 13 тг/мин.\n1 Қабылдау\n2 Бас тарту",
            "END Балансыңызда қаражат жеткіліксіз.",
        ],
        setup=collect_to_c,
    ),
    Case("collect-none-waiting", B, "*133#", [], ["END Нет запросов звонка за ваш счет."]),
    Case(
        "collect-request-expired",
        B,
        "*133#",
        [],
        ["END Нет запросов звонка за ваш счет."],
        setup=collect_expired,
    ),
    # *141# ---------------------------------------------------------------------------------
    Case(
        "credit-take",
        A,
        "*141#",
        ["1", "1"],
        [
            "CON Доверительный платеж на 3 дн., тг:\n1 500",
            "CON Взять 500 тг на 3 дн.? Комиссия 25 тг.\n1 Да\n2 Нет",
            "END Зачислено 500 тг. Верните 525 тг до 20.03.2026.",
        ],
        moves={A: tenge(500)},
        sms={A: ["Доверительный платеж 500 тг зачислен. Верните 525 тг до 20.03.2026."]},
        setup=veteran(),
    ),
    Case(
        "credit-more-tiers",
        A,
        "*141#",
        ["2", "1"],
        [
            "CON Доверительный платеж на 3 дн., тг:\n1 500\n2 1000",
            "CON Взять 1000 тг на 3 дн.? Комиссия 50 тг.\n1 Да\n2 Нет",
            "END Зачислено 1000 тг. Верните 1050 тг до 19.04.2026.",
        ],
        moves={A: tenge(1000)},
        sms={A: ["Доверительный платеж 1000 тг зачислен. Верните 1050 тг до 19.04.2026."]},
        setup=veteran(days=91, topup=1000),
    ),
    Case(
        "credit-cancel",
        A,
        "*141#",
        ["1", "2"],
        [
            "CON Доверительный платеж на 3 дн., тг:\n1 500",
            "CON Взять 500 тг на 3 дн.? Комиссия 25 тг.\n1 Да\n2 Нет",
            "END Операция отменена.",
        ],
        setup=veteran(),
    ),
    Case(
        "credit-bad-choice",
        A,
        "*141#",
        ["4"],
        [
            "CON Доверительный платеж на 3 дн., тг:\n1 500",
            "END Неверный выбор. Наберите код снова.",
        ],
        setup=veteran(),
    ),
    Case("credit-too-new", A, "*141#", [], ["END Услуга доступна через 60 дн. после подключения."]),
    Case(
        "credit-no-topups",
        A,
        "*141#",
        [],
        ["END Нужно хотя бы одно пополнение за последние 30 дней."],
        setup=veteran(topup=0),
    ),
    Case(
        "credit-already-owed",
        A,
        "*141#",
        [],
        ["END Сначала погасите долг 525 тг."],
        setup=credit_taken,
    ),
    Case("credit-postpaid", CORP, "*141#", [], ["END Услуга доступна только на предоплате."]),
    Case(
        "credit-barred",
        A,
        "*141#",
        [],
        ["END Услуга недоступна: номер ограничен за долг. Пополните баланс."],
        setup=barred,
    ),
    # *145*N*AMOUNT# ------------------------------------------------------------------------
    Case(
        "transfer",
        A,
        "*145*7071234568*500#",
        ["1"],
        [
            "CON Перевод 500 тг на 7071234568, комиссия 50, дойдет 450.\n1 Да\n2 Нет",
            "END Переведено 450 тг на 7071234568. Баланс: 1000 тг",
        ],
        moves={A: -tenge(500), B: tenge(450)},
        sms={
            A: ["Перевод 500 тг на 7071234568: дошло 450 тг, комиссия 50 тг. Баланс 1000 тг"],
            B: [
                TOPUP_SMS + "450.00 тг. Баланс: 700.00 тг. Чек *",
                "Вам перевели 450 тг с номера 7071234567. Баланс 700 тг",
            ],
        },
    ),
    Case(
        "transfer-smallest-band",
        A,
        "*145*87071234568*50#",
        ["1"],
        [
            "CON Перевод 50 тг на 7071234568, комиссия 30, дойдет 20.\n1 Да\n2 Нет",
            "END Переведено 20 тг на 7071234568. Баланс: 1450 тг",
        ],
        moves={A: -tenge(50), B: tenge(20)},
        sms={
            A: ["Перевод 50 тг на 7071234568: дошло 20 тг, комиссия 30 тг. Баланс 1450 тг"],
            B: [
                TOPUP_SMS + "20.00 тг. Баланс: 270.00 тг. Чек *",
                "Вам перевели 20 тг с номера 7071234567. Баланс 270 тг",
            ],
        },
    ),
    Case(
        "transfer-cancel",
        A,
        "*145*7071234568*500#",
        ["2"],
        [
            "CON Перевод 500 тг на 7071234568, комиссия 50, дойдет 450.\n1 Да\n2 Нет",
            "END Операция отменена.",
        ],
    ),
    Case(
        "transfer-below-range",
        A,
        "*145*7071234568*49#",
        [],
        ["END Сумма перевода от 50 до 2000 тг."],
    ),
    Case(
        "transfer-above-range",
        A,
        "*145*7071234568*2001#",
        [],
        ["END Сумма перевода от 50 до 2000 тг."],
    ),
    Case(
        "transfer-min-balance",
        A,
        "*145*7071234568*1450#",
        [],
        ["END Мало средств: после перевода должно остаться 100 тг."],
    ),
    Case(
        "transfer-insufficient",
        B,
        "*145*7071234567*2000#",
        [],
        ["END Мало средств: после перевода должно остаться 100 тг."],
    ),
    Case(
        "transfer-daily-count",
        A,
        "*145*7071234568*50#",
        [],
        ["END Превышен лимит: 5 переводов в день."],
        setup=transfers_sent(5, 50),
    ),
    Case(
        "transfer-daily-amount",
        A,
        "*145*7071234568*1500#",
        [],
        ["END Превышен дневной лимит переводов 5000 тг."],
        setup=transfers_sent(2, 2000, topup=10000),
    ),
    Case(
        "transfer-monthly-amount",
        A,
        "*145*7071234568*50#",
        [],
        ["END Превышен месячный лимит переводов 30000 тг."],
        setup=month_of_transfers,
    ),
    Case(
        "transfer-in-debt",
        A,
        "*145*7071234568*500#",
        [],
        ["END Перевод невозможен до погашения доверительного платежа."],
        setup=credit_taken,
    ),
    Case(
        "transfer-foreign",
        A,
        "*145*7011234567*500#",
        [],
        ["END Перевод на номер 7011234567 невозможен."],
    ),
    Case("transfer-own-number", A, "*145*7071234567*500#", [], ["END Нельзя указать свой номер."]),
    Case("transfer-malformed-number", A, "*145*123*500#", [], [REFUSED_NUMBER]),
    Case(
        "transfer-barred",
        A,
        "*145*7071234568*500#",
        [],
        ["END Услуга недоступна: номер ограничен за долг. Пополните баланс."],
        setup=barred,
    ),
    Case(
        "transfer-postpaid",
        CORP,
        "*145*7071234568*500#",
        [],
        ["END Услуга доступна только на предоплате."],
    ),
    # *911*2*2# and *911*2*3# ---------------------------------------------------------------
    Case(
        "autopay-self",
        A,
        "*911*2*2#",
        [],
        ["END Заявка принята. Привяжите карту в личном кабинете."],
        sms={A: [AUTOPAY_SMS.format("67")]},
    ),
    Case(
        "autopay-friend",
        A,
        "*911*2*3#",
        ["7071234568"],
        [
            "CON Введите номер друга (10 цифр):",
            "END Заявка для 7071234568 принята. Привяжите карту в кабинете.",
        ],
        sms={
            A: [AUTOPAY_SMS.format("68")],
            B: ["Абонент +7 707 123 45 67 подключил автопополнение вашего номера."],
        },
    ),
    Case(
        "autopay-friend-own-number",
        A,
        "*911*2*3#",
        ["87071234567"],
        ["CON Введите номер друга (10 цифр):", "END Нельзя указать свой номер."],
    ),
    Case(
        "autopay-friend-malformed",
        A,
        "*911*2*3#",
        ["12"],
        ["CON Введите номер друга (10 цифр):", REFUSED_NUMBER],
    ),
    # unknown codes -------------------------------------------------------------------------
    Case("unknown-code", A, "*999#", [], ["END Неизвестный код. Проверьте набор и повторите."]),
    Case(
        "code-without-number", A, "*144#", [], ["END Неизвестный код. Проверьте набор и повторите."]
    ),
    Case(
        "not-a-dial-string", A, "hello", [], ["END Неизвестный код. Проверьте набор и повторите."]
    ),
]


def _matches(expected: str, actual: str) -> bool:
    return actual.startswith(expected[:-1]) if expected.endswith("*") else actual == expected


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_service_code(case: Case, db: Database, clock: FrozenClock) -> None:
    world = World(db, clock, make_channel(db))
    base(world)
    case.setup(world)
    before = {n: balance(db, n) for n in KNOWN}
    sms_before = {n: len(sms_texts(db, n)) for n in (*KNOWN, K)}

    screens = run_steps(Phone(world.channel, case.caller), case.code, case.answers)
    case.after(world)

    assert screens == case.screens
    moves = {n: balance(db, n) - before[n] for n in KNOWN}
    assert {n: m for n, m in moves.items() if m} == case.moves
    new_sms = {n: sms_texts(db, n)[sms_before[n] :] for n in (*KNOWN, K)}
    got = {n: texts for n, texts in new_sms.items() if texts}
    assert set(got) == set(case.sms), got
    for number, expected in case.sms.items():
        assert len(got[number]) == len(expected), got[number]
        assert all(_matches(e, a) for e, a in zip(expected, got[number], strict=True)), got
    assert audit_ledger(db).ok


def test_voucher_redeemed_by_ussd(db: Database, clock: FrozenClock) -> None:
    world = World(db, clock, make_channel(db))
    base(world)
    with_voucher(world)
    sms_before = len(sms_texts(db, A))

    screens = run_steps(Phone(world.channel, A), f"*110*{world.vouchers[0]}#", [])

    assert screens == ["END Зачислено 1000 тг. Баланс: 2500 тг"]
    assert balance(db, A) == tenge(2500)
    assert [t[: len(TOPUP_SMS)] for t in sms_texts(db, A)[sms_before:]] == [TOPUP_SMS]
    again = run_steps(Phone(world.channel, A), f"*110*{world.vouchers[0]}#", [])
    assert again == ["END Карта оплаты не принята: код неверен или уже использован."]
    assert balance(db, A) == tenge(2500)
    assert audit_ledger(db).ok


def test_session_expires_after_180_seconds(db: Database, clock: FrozenClock) -> None:
    world = World(db, clock, make_channel(db))
    base(world)
    phone = Phone(world.channel, A)
    assert phone.dial("*145*7071234568*500#").startswith("CON ")
    clock.advance(seconds=181)

    assert phone.answer("1") == "END Время сеанса истекло. Наберите код снова."
    assert balance(db, A) == tenge(1500) and balance(db, B) == tenge(250)


def test_continuing_an_unknown_session_is_expired(db: Database, clock: FrozenClock) -> None:
    world = World(db, clock, make_channel(db))
    base(world)
    phone = Phone(world.channel, A)
    phone.session, phone.code, phone.inputs = "never-opened", "*145*7071234568*500#", ["1"]
    assert phone.resend() == "END Время сеанса истекло. Наберите код снова."
    assert balance(db, A) == tenge(1500)
