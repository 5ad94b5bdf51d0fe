"""Crediting many top-ups at once: ``credit_topup`` for a group commit, with bulk statements.

``credit_topups`` does for a list of top-ups what ``credit_topup`` does for one, in the
caller's unit of work, with the same rows, hooks, SMS and audit entries — but the ledger
transactions go through ``ledger.record_batch`` (each account's balance moves once) and the
payments, SMS and audit rows are inserted with one statement per table.

Preconditions, which the caller guarantees (the agents' group commit does): the top-ups are
for distinct numbers and their keys are new. If the ledger nevertheless finds a key already
stored or a floor broken, ``BatchNotApplicable`` is raised before anything but the ledger was
written; the caller rolls back (a savepoint) and credits them one by one instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from abonent.audit.tables import audit_log
from abonent.core.errors import AbonentError, NotFound
from abonent.core.money import format_tenge
from abonent.db.bulk_rows import insert_rows, read_rows
from abonent.db.id_lists import IdListQuery
from abonent.db.uow import UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import transfer_request
from abonent.outbox.tables import outbox
from abonent.payments import hooks
from abonent.payments.domain import (
    Payment,
    PaymentStatus,
    SubscriberClosed,
    TopUpRequest,
    fingerprint_of,
)
from abonent.payments.services import _TOPUP_SMS, SMS_SENDER
from abonent.payments.tables import payments
from abonent.subscribers.domain import Language, PaymentType, Subscriber, SubscriberStatus
from abonent.subscribers.tables import subscribers

_SUBSCRIBER_COLUMNS = (
    "id",
    "msisdn",
    "name",
    "iin",
    "language",
    "payment_type",
    "status",
    "brand_code",
    "account_id",
    "email",
    "created_at",
    "status_changed_at",
)
_LOCK_SUBSCRIBERS = IdListQuery.of(
    f"SELECT {', '.join(_SUBSCRIBER_COLUMNS)} FROM subscribers"  # noqa: S608
    " WHERE {in_list} ORDER BY msisdn",
    subscribers.c.msisdn,
    lock=True,
)


class BatchNotApplicable(AbonentError):
    """A precondition of ``credit_topups`` did not hold; credit the top-ups one by one."""

    code = "batch_not_applicable"


@dataclass(frozen=True, slots=True)
class _Ready:
    index: int
    request: TopUpRequest
    subscriber: Subscriber


def credit_topups(
    uow: UnitOfWork, requests: Sequence[TopUpRequest]
) -> list[Payment | AbonentError]:
    """Credit every request in the caller's unit of work; the caller commits.

    Per request, in order: its ``Payment``, or the refusal ``credit_topup`` would raise
    (``NotFound``, ``SubscriberClosed``), which writes nothing for that request.
    """
    if len({r.msisdn for r in requests}) != len(requests):
        raise BatchNotApplicable("one number twice in a batch")
    results: list[Payment | AbonentError | None] = [None] * len(requests)
    ready: list[_Ready] = []
    # Numbers are locked with one statement, in one global order (by number), so that two
    # batches, or a batch and another feature's transaction, cannot wait for each other's rows
    # in a cycle.
    found = {s.msisdn: s for s in _lock_subscribers(uow, [r.msisdn for r in requests])}
    for index, request in enumerate(requests):
        subscriber = found.get(request.msisdn)
        if subscriber is None:
            results[index] = NotFound(f"no subscriber {request.msisdn}")
        elif subscriber.status is SubscriberStatus.CLOSED:
            results[index] = SubscriberClosed("the number is closed; payments are not accepted")
        else:
            ready.append(_Ready(index, request, subscriber))
    if ready:
        for item, payment in zip(ready, _credit(uow, ready), strict=True):
            results[item.index] = payment
    return [r for r in results if r is not None]


def _lock_subscribers(uow: UnitOfWork, msisdns: list[str]) -> list[Subscriber]:
    """The subscribers of these numbers, locked in one statement in one global order."""
    sql, params = _LOCK_SUBSCRIBERS.text_and_params(uow.connection.dialect, msisdns)
    rows = read_rows(uow.connection, subscribers, _SUBSCRIBER_COLUMNS, sql, params)
    return [
        Subscriber(
            id=int(sid),
            msisdn=str(msisdn),
            name=name,
            iin=iin,
            language=Language(language),
            payment_type=PaymentType(payment_type),
            status=SubscriberStatus(status),
            brand=brand,
            account_id=int(account_id),
            email=email,
            created_at=created_at,
            status_changed_at=status_changed_at,
        )
        for (
            sid,
            msisdn,
            name,
            iin,
            language,
            payment_type,
            status,
            brand,
            account_id,
            email,
            created_at,
            status_changed_at,
        ) in rows
    ]


def _credit(uow: UnitOfWork, ready: list[_Ready]) -> list[Payment]:
    now = uow.clock.now()
    outcomes = ledger.record_batch(
        uow,
        [
            transfer_request(
                kind=f"topup.{r.request.channel.value}",
                source=r.request.source,
                idempotency_key=r.request.external_id,
                debit_account_id=r.request.clearing_account_id,
                credit_account_id=r.subscriber.account_id,
                amount=r.request.amount,
                reference=f"top-up {r.request.msisdn} via {r.request.source}",
            )
            for r in ready
        ],
    )
    if not all(o.posted for o in outcomes):
        raise BatchNotApplicable("a key was stored already or a floor would break")
    transaction_ids = [int(o.transaction_id) for o in outcomes if o.transaction_id is not None]
    fingerprints = [fingerprint_of(r.request) for r in ready]
    receipts = [f"R{tid:010d}" for tid in transaction_ids]
    inserted = insert_rows(
        uow.connection,
        payments,
        [
            {
                "receipt_number": receipt,
                "source": r.request.source,
                "external_id": r.request.external_id,
                "external_date": r.request.external_date,
                "fingerprint": fingerprint,
                "msisdn": r.request.msisdn,
                "subscriber_id": r.subscriber.id,
                "amount": r.request.amount,
                "channel": r.request.channel.value,
                "method": r.request.method,
                "transaction_id": tid,
                "status": PaymentStatus.CREDITED.value,
                "created_at": now,
            }
            for r, fingerprint, receipt, tid in zip(
                ready, fingerprints, receipts, transaction_ids, strict=True
            )
        ],
        returning=("receipt_number", "id"),
    )
    ids = {str(receipt): int(payment_id) for receipt, payment_id in inserted}
    payment_ids = [int(ids[receipt]) for receipt in receipts]
    credited_payments = [
        Payment(
            id=payment_id,
            receipt_number=receipt,
            msisdn=r.request.msisdn,
            subscriber_id=r.subscriber.id,
            amount=r.request.amount,
            channel=r.request.channel,
            source=r.request.source,
            external_id=r.request.external_id,
            external_date=r.request.external_date,
            method=r.request.method,
            transaction_id=tid,
            status=PaymentStatus.CREDITED,
            created_at=now,
            fingerprint=fingerprint,
        )
        for r, payment_id, receipt, tid, fingerprint in zip(
            ready, payment_ids, receipts, transaction_ids, fingerprints, strict=True
        )
    ]
    hooks.run_batch_hooks(
        uow,
        [
            hooks.CreditedTopUp(
                payment_id=payment.id,
                subscriber=r.subscriber,
                amount=r.request.amount,
                channel=r.request.channel.value,
                transaction_id=payment.transaction_id,
                payment=payment,
            )
            for r, payment in zip(ready, credited_payments, strict=True)
        ],
    )
    # Numbers are distinct, so each balance read now is the one credit_topup reads after its
    # own hooks.
    balances = uow.ledger.accounts_by_id([r.subscriber.account_id for r in ready])
    sms: list[dict[str, object]] = []
    audit: list[dict[str, object]] = []
    for r, payment_id, receipt, tid in zip(
        ready, payment_ids, receipts, transaction_ids, strict=True
    ):
        subscriber, request = r.subscriber, r.request
        balance = balances[subscriber.account_id].balance
        if subscriber.status is SubscriberStatus.BARRED and balance >= 0:
            uow.subscribers.set_status(subscriber.id, SubscriberStatus.ACTIVE, now)
            audit.append(
                _audit_row(
                    now,
                    request.actor,
                    "subscriber.unbarred",
                    f"subscriber:{subscriber.msisdn}",
                    {"reason": "top-up covered the debt", "payment_id": payment_id},
                    None,
                )
            )
        text = _TOPUP_SMS[subscriber.language].format(
            amount=format_tenge(request.amount), balance=format_tenge(balance), receipt=receipt
        )
        sms.append(
            {
                "created_at": now,
                "topic": "sms",
                "recipient": subscriber.msisdn,
                "payload": {"to": subscriber.msisdn, "sender": SMS_SENDER, "text": text},
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
        )
        audit.append(
            _audit_row(
                now,
                request.actor,
                "payment.credited",
                f"subscriber:{subscriber.msisdn}",
                {"payment_id": payment_id, "amount": request.amount, "source": request.source},
                tid,
            )
        )
    insert_rows(uow.connection, outbox, sms)
    insert_rows(uow.connection, audit_log, audit)
    return credited_payments


def _audit_row(
    at: object,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, object],
    transaction_id: int | None,
) -> dict[str, object]:
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
        "transaction_id": transaction_id,
    }
