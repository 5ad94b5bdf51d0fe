"""Posting postpaid charges the way the charging engine does: ledger transactions that debit the
subscriber's main account (floor = -credit limit) and credit revenue."""

from __future__ import annotations

import itertools

from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.payments.domain import Channel, Payment, TopUpRequest
from abonent.payments.services import top_up
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import PaymentType
from abonent.subscribers.services import get_subscriber
from tests.factories import system_account

_keys = itertools.count(1)


def charge(db: Database, msisdn: str, amount: int, kind: str = "fee.monthly") -> None:
    view = get_subscriber(db, msisdn)
    revenue = system_account(db, AccountKind.REVENUE)
    ledger.post(
        db,
        transfer_request(
            kind=kind,
            source="charging-test",
            idempotency_key=f"charge-{next(_keys)}",
            debit_account_id=view.subscriber.account_id,
            credit_account_id=revenue,
            amount=amount,
        ),
    )


def pay(db: Database, msisdn: str, amount: int, channel: Channel = Channel.AGENT) -> Payment:
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    return top_up(
        db,
        TopUpRequest(
            msisdn=msisdn,
            amount=amount,
            channel=channel,
            source="agent:KASPI",
            external_id=f"pay-{next(_keys)}",
            clearing_account_id=clearing,
            method="Kaspi terminal",
        ),
    )


def balance(db: Database, msisdn: str) -> int:
    return get_subscriber(db, msisdn).balance


def add_postpaid(db: Database, national: str = "7081234567", *, iin: str | None = None) -> None:
    """A postpaid number with a 50 000 ₸ credit limit (room for the seed's 15 000 ₸ bills)."""
    subscribers.add_subscriber(
        db,
        subscribers.NewSubscriber(
            msisdn=national, name="Айгуль Postpaid", iin=iin, payment_type=PaymentType.POSTPAID
        ),
        actor="test",
        postpaid_credit_limit=tenge(50_000),
    )
