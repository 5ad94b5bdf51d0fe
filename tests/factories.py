"""Builders for test data, going through the real services (no hand-made rows)."""

from __future__ import annotations

from abonent.core.money import Tiyn
from abonent.db.uow import Database
from abonent.ledger.domain import (
    AccountKind,
    TransactionRequest,
    system_account_code,
    transfer_request,
)
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import PaymentType

CREDIT_LIMIT: Tiyn = 1_000_000


def add_subscriber(
    db: Database,
    msisdn: str = "7071234567",
    *,
    balance: Tiyn = 0,
    postpaid: bool = False,
    name: str = "Test Subscriber",
    brand: str | None = None,
) -> subscribers.SubscriberView:
    return subscribers.add_subscriber(
        db,
        subscribers.NewSubscriber(
            msisdn=msisdn,
            name=name,
            payment_type=PaymentType.POSTPAID if postpaid else PaymentType.PREPAID,
            opening_balance=balance,
            brand=brand,
        ),
        actor="test",
        postpaid_credit_limit=CREDIT_LIMIT,
    )


def system_account(
    db: Database, kind: str = AccountKind.OPENING_BALANCE, name: str = "main"
) -> int:
    with db.uow() as uow:
        account_id = uow.ledger.ensure_account(
            system_account_code(kind, name), kind, None, uow.clock.now()
        )
        uow.commit()
    return account_id


def floored_account(db: Database, code: str, floor: Tiyn | None = 0) -> int:
    with db.uow() as uow:
        account_id = uow.ledger.create_account(
            code, AccountKind.SUBSCRIBER_MAIN, floor, uow.clock.now()
        )
        uow.commit()
    return account_id


def transfer(
    src: int, dst: int, amount: int, key: str, source: str = "tests"
) -> TransactionRequest:
    """A request to move ``amount`` from ``src`` to ``dst`` under ``(source, key)``."""
    return transfer_request(
        kind="test",
        source=source,
        idempotency_key=key,
        debit_account_id=src,
        credit_account_id=dst,
        amount=amount,
    )
