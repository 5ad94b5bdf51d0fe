"""Crediting a top-up: the one path every channel's money takes into a subscriber balance.

``credit_topup`` runs inside the caller's unit of work so that a channel's own bookkeeping
(an agent payment row, a voucher marked redeemed, a card payment captured) commits atomically
with the credit. ``top_up`` wraps it in its own unit of work, exactly once per
``(source, external_id)``.
"""

from __future__ import annotations

from dataclasses import replace

from abonent.core.errors import IdempotencyConflict, NotFound
from abonent.core.money import format_tenge
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import TransactionRequest, transfer_request
from abonent.outbox.repository import enqueue_sms
from abonent.payments import hooks
from abonent.payments.domain import (
    Payment,
    PaymentStatus,
    SubscriberClosed,
    TopUpRequest,
    fingerprint_of,
)
from abonent.payments.repository import SqlPaymentRepository
from abonent.subscribers.domain import Language, Subscriber, SubscriberStatus

SMS_SENDER = "Abonent"
_TOPUP_SMS = {
    Language.RU: "Баланс пополнен на {amount} тг. Баланс: {balance} тг. Чек {receipt}",
    Language.KK: "Балансқа {amount} тг түсті. Баланс: {balance} тг. Чек {receipt}",
    Language.EN: "Top-up of {amount} KZT received. Balance: {balance} KZT. Receipt {receipt}",
}


def payments_of(uow: UnitOfWork) -> SqlPaymentRepository:
    return SqlPaymentRepository(uow.connection)


def topup_transfer(request: TopUpRequest, subscriber: Subscriber) -> TransactionRequest:
    """The ledger transfer of a top-up: the channel's clearing account to the subscriber's."""
    return transfer_request(
        kind=f"topup.{request.channel.value}",
        source=request.source,
        idempotency_key=request.external_id,
        debit_account_id=request.clearing_account_id,
        credit_account_id=subscriber.account_id,
        amount=request.amount,
        reference=f"top-up {request.msisdn} via {request.source}",
    )


def credit_topup(uow: UnitOfWork, request: TopUpRequest) -> Payment:
    """Credit ``request`` in the caller's unit of work; the caller commits.

    Refuses a closed number (barred and suspended numbers accept payments). Runs the
    registered top-up hooks (trust credit repayment, renewal retry) in the same transaction,
    lifts a debt bar once the balance covers it, queues the SMS and writes the audit row.
    """
    subscriber = uow.subscribers.by_msisdn(request.msisdn, lock=True)
    if subscriber is None:
        raise NotFound(f"no subscriber {request.msisdn}")
    if subscriber.status is SubscriberStatus.CLOSED:
        raise SubscriberClosed("the number is closed; payments are not accepted")
    now = uow.clock.now()
    posted = ledger.record(uow, topup_transfer(request, subscriber))
    payment_id, receipt = payments_of(uow).insert(
        source=request.source,
        external_id=request.external_id,
        external_date=request.external_date,
        fingerprint=fingerprint_of(request),
        msisdn=request.msisdn,
        subscriber_id=subscriber.id,
        amount=request.amount,
        channel=request.channel,
        method=request.method,
        transaction_id=posted.id,
        now=now,
    )
    payment = Payment(
        id=payment_id,
        receipt_number=receipt,
        msisdn=request.msisdn,
        subscriber_id=subscriber.id,
        amount=request.amount,
        channel=request.channel,
        source=request.source,
        external_id=request.external_id,
        external_date=request.external_date,
        method=request.method,
        transaction_id=posted.id,
        status=PaymentStatus.CREDITED,
        created_at=now,
        fingerprint=fingerprint_of(request),
    )
    credited = hooks.CreditedTopUp(
        payment_id=payment_id,
        subscriber=subscriber,
        amount=request.amount,
        channel=request.channel.value,
        transaction_id=posted.id,
        payment=payment,
    )
    hooks.run_hooks(uow, credited)
    account = uow.ledger.account(subscriber.account_id)
    assert account is not None
    if subscriber.status is SubscriberStatus.BARRED and account.balance >= 0:
        uow.subscribers.set_status(subscriber.id, SubscriberStatus.ACTIVE, now)
        uow.audit.record(
            at=now,
            actor=request.actor,
            action="subscriber.unbarred",
            subject=f"subscriber:{subscriber.msisdn}",
            details={"reason": "top-up covered the debt", "payment_id": payment_id},
        )
    enqueue_sms(
        uow.outbox,
        to=subscriber.msisdn,
        sender=SMS_SENDER,
        text=_TOPUP_SMS[subscriber.language].format(
            amount=format_tenge(request.amount),
            balance=format_tenge(account.balance),
            receipt=receipt,
        ),
        now=now,
    )
    uow.audit.record(
        at=now,
        actor=request.actor,
        action="payment.credited",
        subject=f"subscriber:{subscriber.msisdn}",
        details={"payment_id": payment_id, "amount": request.amount, "source": request.source},
        transaction_id=posted.id,
    )
    return payment


def find_replay(uow: UnitOfWork, request: TopUpRequest) -> Payment | None:
    """The earlier payment with this key, or None; a different request with it is a conflict."""
    earlier = payments_of(uow).by_key(request.source, request.external_id)
    if earlier is None:
        return None
    if not earlier.same_request(request):
        raise IdempotencyConflict(
            "this payment id was already used for another number or amount",
            source=request.source,
            external_id=request.external_id,
        )
    return replace(earlier, replayed=True)


def top_up(db: Database, request: TopUpRequest) -> Payment:
    """Credit a top-up in its own transaction, exactly once per (source, external_id)."""

    def work(uow: UnitOfWork) -> Payment:
        return credit_topup(uow, request)

    return db.run_once(work, lambda uow: find_replay(uow, request))
