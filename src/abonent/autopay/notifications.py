"""SMS texts of auto top-up, in the owner's language (every text is at most two SMS parts)."""

from __future__ import annotations

from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import display
from abonent.db.uow import UnitOfWork
from abonent.outbox.repository import enqueue_sms
from abonent.subscribers.domain import Language

SENDER = "Abonent"

TEXTS: dict[str, dict[Language, str]] = {
    "charged": {
        Language.RU: "Автопополнение: {amount} тг с карты {card} на номер {target}.",
        Language.KK: "Автотолықтыру: {card} картасынан {target} нөміріне {amount} тг.",
        Language.EN: "Auto top-up: {amount} KZT from card {card} to {target}.",
    },
    "declined": {
        Language.RU: "Автопополнение {target} на {amount} тг не прошло: "
        "карта {card} отклонила платёж.",
        Language.KK: "{target} автотолықтыруы өтпеді: "
        "{card} картасы {amount} тг төлемді қабылдамады.",
        Language.EN: "Auto top-up of {target} for {amount} KZT failed: card {card} was declined.",
    },
    "stopped": {
        Language.RU: "Автопополнение {target} остановлено после {count} отказов карты. "
        "Включите его снова в кабинете.",
        Language.KK: "{target} автотолықтыруы картаның {count} бас тартуынан кейін тоқтатылды.",
        Language.EN: "Auto top-up of {target} stopped after {count} declines. "
        "Turn it on again in the cabinet.",
    },
    "capped": {
        Language.RU: "Автопополнение {target} на сегодня исчерпано (дневной лимит).",
        Language.KK: "{target} автотолықтыруының бүгінгі лимиті таусылды.",
        Language.EN: "Auto top-up of {target}: today's limit is reached.",
    },
    "rule_created": {
        Language.RU: "Автопополнение {target} подключено: {what}.",
        Language.KK: "{target} автотолықтыруы қосылды: {what}.",
        Language.EN: "Auto top-up of {target} is on: {what}.",
    },
    "rule_pending": {
        Language.RU: "Чтобы подключить автопополнение {target}, привяжите карту в личном кабинете.",
        Language.KK: "{target} автотолықтыруын қосу үшін жеке кабинетте картаны байланыстырыңыз.",
        Language.EN: "To turn on auto top-up of {target}, link a card in your cabinet.",
    },
    "rule_changed": {
        Language.RU: "Автопополнение {target} изменено: {what}.",
        Language.KK: "{target} автотолықтыруы өзгертілді: {what}.",
        Language.EN: "Auto top-up of {target} changed: {what}.",
    },
    "friend_added": {
        Language.RU: "Абонент {owner} подключил автопополнение вашего номера.",
        Language.KK: "{owner} абоненті сіздің нөміріңізге автотолықтыру қосты.",
        Language.EN: "{owner} turned on auto top-up of your number.",
    },
}


def language_of(uow: UnitOfWork, msisdn: str) -> Language:
    subscriber = uow.subscribers.by_msisdn(msisdn)
    return subscriber.language if subscriber else Language.RU


def notify(uow: UnitOfWork, to: str, key: str, **values: object) -> None:
    """Queue an SMS in the caller's unit of work (it leaves only if that commits)."""
    formatted = {
        k: (display(v) if k in ("target", "owner") and isinstance(v, str) else v)
        for k, v in values.items()
    }
    text = TEXTS[key][language_of(uow, to)].format(**formatted)
    enqueue_sms(uow.outbox, to=to, sender=SENDER, text=text, now=uow.clock.now())


def money(amount: Tiyn) -> str:
    return format_tenge(amount)
