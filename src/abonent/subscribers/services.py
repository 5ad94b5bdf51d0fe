"""Subscriber use cases; each owns its unit of work and writes an audit row with the change."""

from __future__ import annotations

from dataclasses import dataclass, replace

from abonent.core.errors import AlreadyExists, InvalidAmount, NotFound, ValidationError
from abonent.core.iin import parse_iin
from abonent.core.money import Tiyn, require_tiyn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import (
    AccountKind,
    subscriber_account_code,
    system_account_code,
    transfer_request,
)
from abonent.subscribers.domain import (
    Language,
    PaymentType,
    Subscriber,
    SubscriberStatus,
    brand_for_prefix,
    check_transition,
    clean_email,
    clean_name,
)


@dataclass(frozen=True, slots=True)
class NewSubscriber:
    msisdn: str
    name: str
    iin: str | None = None
    payment_type: PaymentType = PaymentType.PREPAID
    opening_balance: Tiyn = 0
    language: Language = Language.RU
    email: str | None = None
    brand: str | None = None  # given for a ported number; otherwise from the prefix table


@dataclass(frozen=True, slots=True)
class SubscriberView:
    subscriber: Subscriber
    balance: Tiyn
    floor: Tiyn | None
    home_network: bool


def add_subscriber(
    db: Database, new: NewSubscriber, *, actor: str, postpaid_credit_limit: Tiyn
) -> SubscriberView:
    """Register a number with its main balance account, opening balance and audit entry."""
    msisdn = parse_msisdn(new.msisdn)
    name = clean_name(new.name)
    iin = parse_iin(new.iin) if new.iin else None
    email = clean_email(new.email)
    opening = require_tiyn(new.opening_balance, field="balance")
    if opening < 0:
        raise InvalidAmount("opening balance cannot be negative", field="balance")
    with db.uow() as uow:
        if uow.subscribers.by_msisdn(msisdn) is not None:
            raise AlreadyExists(f"subscriber {msisdn} already exists")
        brand_code = new.brand or brand_for_prefix(msisdn, uow.subscribers.prefixes())
        brand = uow.subscribers.brand(brand_code) if brand_code else None
        if brand is None:
            raise ValidationError(f"no brand known for {msisdn}; give one explicitly")
        now = uow.clock.now()
        floor = 0 if new.payment_type is PaymentType.PREPAID else -postpaid_credit_limit
        account_id = uow.ledger.create_account(
            subscriber_account_code(msisdn), AccountKind.SUBSCRIBER_MAIN, floor, now
        )
        subscriber = Subscriber(
            id=0,
            msisdn=msisdn,
            name=name,
            iin=iin,
            language=new.language,
            payment_type=new.payment_type,
            status=SubscriberStatus.ACTIVE,
            brand=brand.code,
            account_id=account_id,
            email=email,
            created_at=now,
            status_changed_at=now,
        )
        subscriber_id = uow.subscribers.insert(subscriber)
        transaction_id = None
        if opening > 0:
            transaction_id = _post_opening_balance(uow, msisdn, account_id, opening)
        uow.audit.record(
            at=now,
            actor=actor,
            action="subscriber.added",
            subject=f"subscriber:{msisdn}",
            details={"payment_type": new.payment_type.value, "opening_balance": opening},
            transaction_id=transaction_id,
        )
        uow.commit()
    return SubscriberView(
        subscriber=replace(subscriber, id=subscriber_id),
        balance=opening,
        floor=floor,
        home_network=brand.home,
    )


def _post_opening_balance(uow: UnitOfWork, msisdn: str, account_id: int, amount: Tiyn) -> int:
    source_account = system_account(uow, AccountKind.OPENING_BALANCE)
    posted = ledger.record(
        uow,
        transfer_request(
            kind="opening_balance",
            source="subscribers",
            idempotency_key=f"opening:{msisdn}",
            debit_account_id=source_account,
            credit_account_id=account_id,
            amount=amount,
            reference=f"opening balance of {msisdn}",
        ),
    )
    return posted.id


def system_account(uow: UnitOfWork, kind: str, name: str = "main") -> int:
    """The id of a system account (no floor), created on first use."""
    return uow.ledger.ensure_account(system_account_code(kind, name), kind, None, uow.clock.now())


def get_subscriber(db: Database, msisdn_text: str) -> SubscriberView:
    msisdn = parse_msisdn(msisdn_text)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        account = uow.ledger.account(subscriber.account_id)
        brand = uow.subscribers.brand(subscriber.brand)
    assert account is not None  # guaranteed by the foreign key
    return SubscriberView(
        subscriber=subscriber,
        balance=account.balance,
        floor=account.floor,
        home_network=bool(brand and brand.home),
    )


def set_status(
    db: Database, msisdn_text: str, target: SubscriberStatus, *, actor: str, reason: str = ""
) -> Subscriber:
    """Move a number to another status if the lifecycle allows it."""
    msisdn = parse_msisdn(msisdn_text)
    with db.uow() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn, lock=True)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        check_transition(subscriber.status, target)
        now = uow.clock.now()
        uow.subscribers.set_status(subscriber.id, target, now)
        uow.audit.record(
            at=now,
            actor=actor,
            action="subscriber.status_changed",
            subject=f"subscriber:{msisdn}",
            details={"from": subscriber.status.value, "to": target.value, "reason": reason},
        )
        uow.commit()
    return replace(subscriber, status=target, status_changed_at=now)
