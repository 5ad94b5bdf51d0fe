"""Builders and probes for USSD/SMS tests, through the real services."""

from __future__ import annotations

import itertools

from abonent.core.clock import FrozenClock
from abonent.core.money import Tiyn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind
from abonent.payments.domain import Channel, TopUpRequest
from abonent.payments.services import top_up
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import Language, PaymentType
from abonent.ussd.config import ChannelSettings
from abonent.ussd.services import UssdChannel, UssdReply, UssdRequest, handle
from abonent.ussd.sessions import SessionStore
from tests.factories import CREDIT_LIMIT, system_account

_ids = itertools.count(1)


def new_subscriber(
    db: Database,
    msisdn: str,
    *,
    balance: Tiyn = 0,
    language: Language = Language.RU,
    postpaid: bool = False,
    brand: str | None = None,
) -> None:
    subscribers.add_subscriber(
        db,
        subscribers.NewSubscriber(
            msisdn=msisdn,
            name=f"Subscriber {msisdn}",
            payment_type=PaymentType.POSTPAID if postpaid else PaymentType.PREPAID,
            opening_balance=balance,
            language=language,
            brand=brand,
        ),
        actor="test",
        postpaid_credit_limit=CREDIT_LIMIT,
    )


def agent_top_up(db: Database, msisdn: str, amount: Tiyn) -> None:
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    top_up(
        db,
        TopUpRequest(
            msisdn=subscribers.get_subscriber(db, msisdn).subscriber.msisdn,
            amount=amount,
            channel=Channel.AGENT,
            source="agent:KASPI",
            external_id=f"t{next(_ids)}",
            clearing_account_id=clearing,
        ),
    )


def make_veteran(db: Database, clock: FrozenClock, msisdn: str, *, balance: Tiyn = 0) -> None:
    """A number 61 days old with one real top-up (of ``balance``) in the last 30 days."""
    new_subscriber(db, msisdn)
    clock.advance(days=61)
    if balance:
        agent_top_up(db, msisdn, balance)


def balance(db: Database, msisdn: str) -> Tiyn:
    return subscribers.get_subscriber(db, msisdn).balance


def floor(db: Database, msisdn: str) -> Tiyn | None:
    return subscribers.get_subscriber(db, msisdn).floor


def status(db: Database, msisdn: str) -> str:
    return subscribers.get_subscriber(db, msisdn).subscriber.status.value


def sms_texts(db: Database, msisdn: str) -> list[str]:
    """Every SMS queued for ``msisdn``, oldest first."""
    with db.reading() as uow:
        rows = uow.outbox.messages(topic="sms", recipient=parse_msisdn(msisdn), limit=1000)
    return [str(r["payload"]["text"]) for r in reversed(rows)]


def sms_count(db: Database) -> int:
    with db.reading() as uow:
        return len(uow.outbox.messages(topic="sms", limit=100_000))


def make_channel(db: Database, settings: ChannelSettings | None = None) -> UssdChannel:
    settings = settings or ChannelSettings()
    return UssdChannel(
        db=db, settings=settings, sessions=SessionStore(settings.ussd_session_seconds)
    )


class Phone:
    """A handset: dials a code and answers menus in one session, as a gateway relays them."""

    def __init__(self, channel: UssdChannel, msisdn: str) -> None:
        self.channel = channel
        self.msisdn = msisdn
        self.session = ""
        self.code = ""
        self.inputs: list[str] = []

    def dial(self, code: str) -> str:
        self.session = f"s{next(_ids)}"
        self.code = code
        self.inputs = []
        return self._send()

    def answer(self, text: str) -> str:
        self.inputs.append(text)
        return self._send()

    def resend(self) -> str:
        """The gateway repeats the last request (a doubled confirm)."""
        return self._send()

    def _send(self) -> str:
        reply: UssdReply = handle(
            self.channel,
            UssdRequest(
                session_id=self.session,
                service_code=self.code,
                phone_number=self.msisdn,
                text="*".join(self.inputs),
                network_code="40177",
            ),
        )
        return reply.body


def run_steps(phone: Phone, code: str, answers: list[str]) -> list[str]:
    screens = [phone.dial(code)]
    for a in answers:
        screens.append(phone.answer(a))
    return screens
