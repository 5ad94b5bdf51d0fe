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

from abonent.audit.tables import audit_log
from abonent.core.errors import AbonentError, NotFound
from abonent.core.money import format_tenge
from abonent.db.bulk_rows import insert_tuples, read_rows
from abonent.db.id_lists import IdListQuery
from abonent.db.uow import UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.tables import accounts
from abonent.outbox.tables import outbox
from abonent.payments import hooks
from abonent.payments.domain import (
    Channel,
    Payment,
    PaymentStatus,
    SubscriberClosed,
    TopUpRequest,
    fingerprint_of,
)
from abonent.payments.services import _TOPUP_SMS, SMS_SENDER, topup_transfer
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

# The columns of the rows a batch inserts, in the order its tuples hold them.
_PAYMENT_COLUMNS = (
    "receipt_number",
    "source",
    "external_id",
    "external_date",
    "fingerprint",
    "msisdn",
    "subscriber_id",
    "amount",
    "channel",
    "method",
    "transaction_id",
)
_SMS_COLUMNS = ("recipient", "payload")
_AUDIT_COLUMNS = ("actor", "action", "subject", "details", "transaction_id")

# The balances the top-up SMS show: only the two columns, no ``Account`` per row.
_BALANCES = IdListQuery.of("SELECT id, balance FROM accounts WHERE {in_list}", accounts.c.id)


class BatchNotApplicable(AbonentError):
    """A precondition of ``credit_topups`` did not hold; credit the top-ups one by one."""

    code = "batch_not_applicable"


# A request that can be credited: its index in the batch, the request, its subscriber. A tuple,
# not a dataclass: made for every top-up of a group commit.
_Ready = tuple[int, TopUpRequest, Subscriber]

# Enum members by stored value: a dict lookup, not an enum call, per row read.
_LANGUAGES = {m.value: m for m in Language}
_PAYMENT_TYPES = {m.value: m for m in PaymentType}
_STATUSES = {m.value: m for m in SubscriberStatus}
_CREDITED = PaymentStatus.CREDITED.value
# A member's value by dict lookup: ``.value`` is a Python-level property, read per top-up.
_CHANNELS = {m: m.value for m in Channel}


def credit_topups(
    uow: UnitOfWork, requests: Sequence[TopUpRequest]
) -> list[Payment | AbonentError]:
    """Credit every request in the caller's unit of work; the caller commits.

    Per request, in order: its ``Payment``, or the refusal ``credit_topup`` would raise
    (``NotFound``, ``SubscriberClosed``), which writes nothing for that request. Repeats are
    the caller's to answer first: a request whose key is stored already fails the whole batch
    (``BatchNotApplicable``, or the ledger's ``IntegrityError`` for a twin committed meanwhile),
    and the caller undoes it.
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
            ready.append((index, request, subscriber))
    if ready:
        for (index, _, _), payment in zip(ready, _credit(uow, ready), strict=True):
            results[index] = payment
    return [r for r in results if r is not None]


def _lock_subscribers(uow: UnitOfWork, msisdns: list[str]) -> list[Subscriber]:
    """The subscribers of these numbers, locked in one statement in one global order."""
    sql, params = _LOCK_SUBSCRIBERS.text_and_params(uow.connection.dialect, msisdns)
    rows = read_rows(uow.connection, subscribers, _SUBSCRIBER_COLUMNS, sql, params)
    # Positional, in the field order: made for every top-up (keywords cost a dict per call).
    return [
        Subscriber(
            int(sid),
            str(msisdn),
            name,
            iin,
            _LANGUAGES.get(language) or Language(language),
            _PAYMENT_TYPES.get(payment_type) or PaymentType(payment_type),
            _STATUSES.get(status) or SubscriberStatus(status),
            brand,
            int(account_id),
            email,
            created_at,
            status_changed_at,
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
    requests = [request for _, request, _ in ready]
    holders = [subscriber for _, _, subscriber in ready]
    # The caller answered repeats from its own rows already (the only one: agents' group
    # commit); a twin committed meanwhile fails the ledger's insert, which it undoes.
    outcomes = ledger.record_batch(
        uow,
        [topup_transfer(request, holder) for _, request, holder in ready],
        replays_checked=True,
    )
    if not all(o.posted for o in outcomes):
        raise BatchNotApplicable("a key was stored already or a floor would break")
    transaction_ids = [int(o.transaction_id) for o in outcomes if o.transaction_id is not None]
    fingerprints = [fingerprint_of(request) for request in requests]
    receipts = [f"R{tid:010d}" for tid in transaction_ids]
    channels = [_CHANNELS[request.channel] for request in requests]
    inserted = insert_tuples(
        uow.connection,
        payments,
        _PAYMENT_COLUMNS,
        [
            (
                receipt,
                request.source,
                request.external_id,
                request.external_date,
                fingerprint,
                request.msisdn,
                subscriber.id,
                request.amount,
                channel,
                request.method,
                tid,
            )
            for request, subscriber, fingerprint, receipt, tid, channel in zip(
                requests,
                holders,
                fingerprints,
                receipts,
                transaction_ids,
                channels,
                strict=True,
            )
        ],
        shared={"status": _CREDITED, "created_at": now},
        returning=("receipt_number", "id"),
    )
    ids = {str(receipt): int(payment_id) for receipt, payment_id in inserted}
    payment_ids = [ids[receipt] for receipt in receipts]
    credited_payments = [
        Payment(  # positional, in the field order, as ``Subscriber`` above
            payment_id,
            receipt,
            request.msisdn,
            subscriber.id,
            request.amount,
            request.channel,
            request.source,
            request.external_id,
            request.external_date,
            request.method,
            tid,
            PaymentStatus.CREDITED,
            now,
            fingerprint,
        )
        for request, subscriber, payment_id, receipt, tid, fingerprint in zip(
            requests,
            holders,
            payment_ids,
            receipts,
            transaction_ids,
            fingerprints,
            strict=True,
        )
    ]
    hooks.run_batch_hooks(
        uow,
        [
            hooks.CreditedTopUp(
                payment.id, subscriber, payment.amount, channel, payment.transaction_id, payment
            )
            for subscriber, payment, channel in zip(
                holders, credited_payments, channels, strict=True
            )
        ],
    )
    # Numbers are distinct, so each balance read now is the one credit_topup reads after its
    # own hooks.
    balances = {
        int(account_id): int(balance)
        for account_id, balance in _BALANCES.run(
            uow.connection, [subscriber.account_id for subscriber in holders]
        )
    }
    sms: list[tuple[object, ...]] = []
    audit: list[tuple[object, ...]] = []
    tenge: dict[int, str] = {}  # amounts repeat within a batch: each formatted once
    for request, subscriber, payment_id, receipt, tid in zip(
        requests, holders, payment_ids, receipts, transaction_ids, strict=True
    ):
        balance = balances[subscriber.account_id]
        if subscriber.status is SubscriberStatus.BARRED and balance >= 0:
            uow.subscribers.set_status(subscriber.id, SubscriberStatus.ACTIVE, now)
            audit.append(
                _audit_row(
                    request.actor,
                    "subscriber.unbarred",
                    f"subscriber:{subscriber.msisdn}",
                    {"reason": "top-up covered the debt", "payment_id": payment_id},
                    None,
                )
            )
        amount = request.amount
        amount_text = tenge.get(amount)
        if amount_text is None:
            amount_text = tenge[amount] = format_tenge(amount)
        balance_text = tenge.get(balance)
        if balance_text is None:
            balance_text = tenge[balance] = format_tenge(balance)
        text = _TOPUP_SMS[subscriber.language].format(
            amount=amount_text, balance=balance_text, receipt=receipt
        )
        msisdn = subscriber.msisdn
        sms.append((msisdn, {"to": msisdn, "sender": SMS_SENDER, "text": text}))
        audit.append(
            (
                request.actor,
                "payment.credited",
                f"subscriber:{msisdn}",
                {"payment_id": payment_id, "amount": amount, "source": request.source},
                tid,
            )
        )
    pending = {"created_at": now, "topic": "sms", "status": "pending", "attempts": 0}
    insert_tuples(
        uow.connection, outbox, _SMS_COLUMNS, sms, shared={**pending, "next_attempt_at": now}
    )
    insert_tuples(uow.connection, audit_log, _AUDIT_COLUMNS, audit, shared={"at": now})
    return credited_payments


def _audit_row(
    actor: str,
    action: str,
    subject: str,
    details: dict[str, object],
    transaction_id: int | None,
) -> tuple[object, ...]:
    return (actor, action, subject, details, transaction_id)  # _AUDIT_COLUMNS
