"""Card use cases: link a card, list and remove cards, top up by card, 3-D Secure, the
acquirer's notifications and the reconciler.

The acquirer is never called inside one of our database transactions: a payment is written as
``created`` and claimed (``processing``) in one transaction, the acquirer is called, and its
answer is applied in the next. Applying an answer is a conditional state change
(``repository.move``), so duplicate, late or out-of-order answers (charge reply, notification,
reconciler) change nothing once the payment has moved on; the credit to the balance happens in
the same transaction as the move to ``captured`` and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache

import structlog

from abonent.cards import hooks
from abonent.cards.acquirer import (
    Acquirer,
    AcquirerError,
    AcquirerUnavailable,
    ChargeResult,
    ChargeStatus,
    OperationState,
)
from abonent.cards.domain import (
    Card,
    CardLinkNotReady,
    CardNotUsable,
    CardPayment,
    CardPaymentConflict,
    CardPaymentStatus,
    CardStatus,
    Initiator,
    TopUpLimits,
    sources_of,
)
from abonent.cards.repository import SqlCardRepository
from abonent.cards.settings import CardSettings
from abonent.core.errors import (
    AbonentError,
    Forbidden,
    IdempotencyConflict,
    InvalidStatusTransition,
    NotFound,
    ValidationError,
)
from abonent.core.ids import public_token
from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, reversal_request
from abonent.payments.domain import Channel, PaymentStatus, SubscriberClosed, TopUpRequest
from abonent.payments.services import credit_topup, payments_of
from abonent.subscribers.domain import SubscriberStatus
from abonent.subscribers.services import system_account

log = structlog.get_logger("abonent.cards")

S = CardPaymentStatus
CARD_SOURCE = "card"
MAX_KEY = 160


@lru_cache(maxsize=1)
def card_settings() -> CardSettings:
    return CardSettings()


def cards_of(uow: UnitOfWork) -> SqlCardRepository:
    return SqlCardRepository(uow.connection)


def clearing_account_code_name(acquirer: str) -> str:
    """Clearing account ``system:card_clearing:<acquirer>``: what the acquirer owes us."""
    return acquirer


# -- linking cards ------------------------------------------------------------------------
def start_card_link(
    db: Database, acquirer: Acquirer, *, owner_msisdn: str, return_url: str
) -> tuple[str, str]:
    """Open a card-entry session on the acquirer's page; returns (session id, URL to open).

    ``return_url`` may contain ``{session}``; the acquirer sends the browser back there.
    """
    owner = parse_msisdn(owner_msisdn)
    session_id = "cl" + public_token(24)
    with db.uow() as uow:
        _subscriber_for_cards(uow, owner)
        cards_of(uow).insert_session(
            session_id=session_id, owner_msisdn=owner, acquirer=acquirer.name, now=uow.clock.now()
        )
        uow.commit()
    start = acquirer.start_tokenization(session_id, return_url.replace("{session}", session_id))
    return session_id, start.redirect_url


def complete_card_link(db: Database, acquirer: Acquirer, session_id: str, *, actor: str) -> Card:
    """Store the card tokenised in a session (once; a repeat returns the same card)."""
    if not isinstance(session_id, str) or not 1 <= len(session_id) <= 64:
        raise NotFound("no such card-link session")
    with db.reading() as uow:
        session = cards_of(uow).session(session_id)
    if session is None or session["acquirer"] != acquirer.name:
        raise NotFound("no such card-link session")
    if session["status"] == "completed":
        with db.reading() as uow:
            card = cards_of(uow).card(int(session["card_id"]))
        assert card is not None
        return card
    tokenized = acquirer.tokenization_result(session_id)
    if tokenized is None:
        raise CardLinkNotReady("the card has not been entered yet")
    with db.uow() as uow:
        repo = cards_of(uow)
        locked = repo.session(session_id, lock=True)
        assert locked is not None
        if locked["status"] == "completed":
            card = repo.card(int(locked["card_id"]))
            assert card is not None
            return card
        now = uow.clock.now()
        owner = str(session["owner_msisdn"])
        existing = repo.card_by_token(owner, acquirer.name, tokenized.token)
        if existing is not None:
            card_id = existing.id
            repo.set_card_status(card_id, CardStatus.ACTIVE, now)
        else:
            card_id = repo.insert_card(
                owner_msisdn=owner,
                acquirer=acquirer.name,
                token=tokenized.token,
                last4=tokenized.last4,
                brand=tokenized.brand,
                exp_month=tokenized.exp_month,
                exp_year=tokenized.exp_year,
                now=now,
            )
        repo.complete_session(session_id, card_id, now)
        card = repo.card(card_id)
        assert card is not None
        uow.audit.record(
            at=now,
            actor=actor,
            action="card.linked",
            subject=f"subscriber:{owner}",
            details={"card_id": card_id, "card": card.label},
        )
        for hook in hooks.AFTER_CARD_LINKED:
            hook(uow, card)
        uow.commit()
    log.info("card.linked", card_id=card.id, card=card.label)
    return card


def list_cards(db: Database, owner_msisdn: str) -> list[Card]:
    owner = parse_msisdn(owner_msisdn)
    with db.reading() as uow:
        return cards_of(uow).cards_of(owner)


def remove_card(db: Database, *, owner_msisdn: str, card_id: int, actor: str) -> Card:
    """Unlink a card: no new payment can use it; rules that used it are paused."""
    owner = parse_msisdn(owner_msisdn)
    with db.uow() as uow:
        repo = cards_of(uow)
        card = repo.card(card_id, lock=True)
        if card is None or card.owner_msisdn != owner:
            raise NotFound("no such card")
        if card.status is CardStatus.REMOVED:
            return card
        now = uow.clock.now()
        repo.set_card_status(card.id, CardStatus.REMOVED, now)
        card = replace(card, status=CardStatus.REMOVED)
        uow.audit.record(
            at=now,
            actor=actor,
            action="card.removed",
            subject=f"subscriber:{owner}",
            details={"card_id": card.id, "card": card.label},
        )
        for hook in hooks.AFTER_CARD_REMOVED:
            hook(uow, card)
        uow.commit()
    return card


# -- card payments ------------------------------------------------------------------------
def create_card_payment(
    uow: UnitOfWork,
    *,
    card_id: int,
    owner_msisdn: str,
    target_msisdn: str,
    amount: Tiyn,
    initiator: Initiator,
    idempotency_key: str,
    limits: TopUpLimits,
) -> CardPayment:
    """Write a ``created`` payment in the caller's unit of work (nothing is charged yet).

    Locks the card row, so the caller may count the owner's payments race-free (daily caps).
    """
    limits.check(amount)
    if not idempotency_key or len(idempotency_key) > MAX_KEY:
        raise ValidationError("an idempotency key is required (at most 160 characters)")
    repo = cards_of(uow)
    earlier = repo.payment_by_key(idempotency_key)
    if earlier is not None:
        if (earlier.card_id, earlier.target_msisdn, earlier.amount) != (
            card_id,
            target_msisdn,
            amount,
        ):
            raise IdempotencyConflict("this payment key was already used for another payment")
        return replace(earlier, replayed=True)
    card = repo.card(card_id, lock=True)
    if card is None or card.owner_msisdn != owner_msisdn:
        raise NotFound("no such card")
    now = uow.clock.now()
    if card.status is not CardStatus.ACTIVE:
        raise CardNotUsable("this card has been removed")
    if card.expired(now):
        raise CardNotUsable("this card has expired")
    target = uow.subscribers.by_msisdn(target_msisdn)
    if target is None:
        raise NotFound(f"no subscriber {target_msisdn}")
    if target.status is SubscriberStatus.CLOSED:
        raise SubscriberClosed("the number is closed; payments are not accepted")
    operation_id = "cp" + public_token(18)
    payment_id = repo.insert_payment(
        operation_id=operation_id,
        idempotency_key=idempotency_key,
        card=card,
        target_msisdn=target_msisdn,
        amount=amount,
        initiator=initiator,
        now=now,
    )
    uow.audit.record(
        at=now,
        actor=f"subscriber:{owner_msisdn}" if initiator is Initiator.CUSTOMER else "system:autopay",
        action="card_payment.created",
        subject=f"card_payment:{operation_id}",
        details={"amount": amount, "target": target_msisdn, "card": card.label},
    )
    created = repo.payment(payment_id)
    assert created is not None
    return created


def request_card_topup(
    db: Database,
    *,
    owner_msisdn: str,
    card_id: int,
    target_msisdn: str,
    amount: Tiyn,
    idempotency_key: str,
    limits: TopUpLimits | None = None,
) -> CardPayment:
    """Record a customer's card top-up (exactly once per key); ``execute_card_payment`` runs it."""
    owner = parse_msisdn(owner_msisdn)
    target = parse_msisdn(target_msisdn)
    chosen = limits or card_settings().limits

    def work(uow: UnitOfWork) -> CardPayment:
        return create_card_payment(
            uow,
            card_id=card_id,
            owner_msisdn=owner,
            target_msisdn=target,
            amount=amount,
            initiator=Initiator.CUSTOMER,
            idempotency_key=f"customer:{owner}:{idempotency_key}",
            limits=chosen,
        )

    def replay(uow: UnitOfWork) -> CardPayment | None:
        key = f"customer:{owner}:{idempotency_key}"
        earlier = cards_of(uow).payment_by_key(key)
        if earlier is None:
            return None
        if (earlier.card_id, earlier.target_msisdn, earlier.amount) != (card_id, target, amount):
            raise IdempotencyConflict("this payment key was already used for another payment")
        return replace(earlier, replayed=True)

    return db.run_once(work, replay)


def card_topup(
    db: Database,
    acquirer: Acquirer,
    *,
    owner_msisdn: str,
    card_id: int,
    target_msisdn: str,
    amount: Tiyn,
    idempotency_key: str,
    limits: TopUpLimits | None = None,
) -> CardPayment:
    """Top up a number (own or another) from a linked card; credited only once captured."""
    payment = request_card_topup(
        db,
        owner_msisdn=owner_msisdn,
        card_id=card_id,
        target_msisdn=target_msisdn,
        amount=amount,
        idempotency_key=idempotency_key,
        limits=limits,
    )
    result = execute_card_payment(db, acquirer, payment.id)
    return replace(result, replayed=payment.replayed)


def execute_card_payment(db: Database, acquirer: Acquirer, payment_id: int) -> CardPayment:
    """Charge a ``created`` payment once; any other state is returned as it is.

    Two callers racing (two triggers, a retry) are settled by the claim: only the one that moves
    the row from ``created`` to ``processing`` calls the acquirer.
    """
    settings = card_settings()
    with db.uow() as uow:
        repo = cards_of(uow)
        payment = repo.payment(payment_id, lock=True)
        if payment is None:
            raise NotFound("no such card payment")
        if payment.status is not S.CREATED:
            return payment
        card = repo.card(payment.card_id)
        assert card is not None
        now = uow.clock.now()
        if card.status is not CardStatus.ACTIVE or card.expired(now):
            failed = _move(uow, payment, S.FAILED, reason="card removed or expired")
            uow.commit()
            return failed or payment
        # If we crash while the acquirer is busy, the reconciler looks after this moment.
        claimed = repo.move(
            payment.id,
            {S.CREATED},
            S.PROCESSING,
            now,
            next_check_at=now + timedelta(seconds=settings.reconcile_after_seconds),
        )
        uow.commit()
    if not claimed:  # pragma: no cover - the row lock makes this the same check as above
        return _reload(db, payment_id)
    try:
        result = acquirer.charge(
            token=card.token,
            amount=payment.amount,
            operation_id=payment.operation_id,
            description=f"Top-up {payment.target_msisdn}",
            customer=payment.initiator is Initiator.CUSTOMER,
        )
    except AcquirerError as exc:
        log.warning("card_payment.unknown", operation_id=payment.operation_id, error=exc.code)
        return apply_answer(db, payment.id, S.UNKNOWN, reason=exc.code)
    return apply_charge_result(db, payment.id, result)


def apply_charge_result(db: Database, payment_id: int, result: ChargeResult) -> CardPayment:
    if result.status is ChargeStatus.APPROVED:
        return apply_answer(db, payment_id, S.CAPTURED, acquirer_txn_id=result.acquirer_txn_id)
    if result.status is ChargeStatus.DECLINED:
        return apply_answer(
            db,
            payment_id,
            S.DECLINED,
            acquirer_txn_id=result.acquirer_txn_id,
            reason=result.reason or "declined",
        )
    return apply_answer(
        db,
        payment_id,
        S.PENDING_3DS,
        acquirer_txn_id=result.acquirer_txn_id,
        acs_url=result.acs_url,
    )


def apply_answer(
    db: Database,
    payment_id: int,
    target: CardPaymentStatus,
    *,
    acquirer_txn_id: str | None = None,
    reason: str = "",
    acs_url: str | None = None,
) -> CardPayment:
    """Apply what the acquirer said, in its own unit of work; a stale answer changes nothing."""
    with db.uow() as uow:
        payment = cards_of(uow).payment(payment_id, lock=True)
        if payment is None:
            raise NotFound("no such card payment")
        moved = _move(
            uow, payment, target, acquirer_txn_id=acquirer_txn_id, reason=reason, acs_url=acs_url
        )
        uow.commit()
    return moved or _reload(db, payment_id)


def _move(
    uow: UnitOfWork,
    payment: CardPayment,
    target: CardPaymentStatus,
    *,
    acquirer_txn_id: str | None = None,
    reason: str = "",
    acs_url: str | None = None,
) -> CardPayment | None:
    """Move ``payment`` (read under lock) to ``target`` if the state machine allows it.

    ``captured`` credits the target number here, in the same transaction. Returns the moved
    payment, or None when the move is not allowed from the current state (a stale answer).
    """
    if payment.status not in sources_of(target):
        if target is S.CAPTURED and payment.status in (S.DECLINED, S.FAILED):
            _record_late_capture(uow, payment)
        return None
    settings = card_settings()
    repo = cards_of(uow)
    now = uow.clock.now()
    values: dict[str, object] = {}
    if acquirer_txn_id:
        values["acquirer_txn_id"] = acquirer_txn_id[:100]
    if reason:
        values["reason"] = reason[:200]
    if target is S.PENDING_3DS:
        values["acs_url"] = (acs_url or "")[:500] or None
        values["next_check_at"] = now + timedelta(seconds=settings.three_ds_expiry_seconds)
    elif target is S.UNKNOWN:
        values["next_check_at"] = now + timedelta(seconds=settings.reconcile_after_seconds)
    elif target in (S.CAPTURED, S.DECLINED, S.FAILED, S.REFUNDED):
        values["next_check_at"] = None
    if target is S.CAPTURED:
        card = repo.card(payment.card_id)
        assert card is not None
        credited = credit_topup(
            uow,
            TopUpRequest(
                msisdn=payment.target_msisdn,
                amount=payment.amount,
                channel=Channel.CARD,
                source=CARD_SOURCE,
                external_id=payment.operation_id,
                clearing_account_id=system_account(
                    uow, AccountKind.CARD_CLEARING, clearing_account_code_name(payment.acquirer)
                ),
                method=card.label,
                actor=(
                    f"subscriber:{payment.owner_msisdn}"
                    if payment.initiator is Initiator.CUSTOMER
                    else "system:autopay"
                ),
            ),
        )
        values["payment_id"] = credited.id
    if not repo.move(payment.id, {payment.status}, target, now, **values):
        return None  # pragma: no cover - the row is locked by the caller
    moved = repo.payment(payment.id)
    assert moved is not None
    uow.audit.record(
        at=now,
        actor=f"acquirer:{payment.acquirer}",
        action=f"card_payment.{target.value}",
        subject=f"card_payment:{payment.operation_id}",
        details={"from": payment.status.value, "amount": payment.amount, "reason": reason},
    )
    log.info(
        "card_payment.moved",
        operation_id=payment.operation_id,
        previous=payment.status.value,
        status=target.value,
    )
    if target in (S.CAPTURED, S.DECLINED, S.FAILED):
        for hook in hooks.AFTER_PAYMENT_RESOLVED:
            hook(uow, moved)
    return moved


def _record_late_capture(uow: UnitOfWork, payment: CardPayment) -> None:
    """The acquirer captured a payment we had given up on: operators must refund it."""
    uow.audit.record(
        at=uow.clock.now(),
        actor=f"acquirer:{payment.acquirer}",
        action="card_payment.late_capture",
        subject=f"card_payment:{payment.operation_id}",
        details={"status": payment.status.value, "amount": payment.amount},
    )
    log.error("card_payment.late_capture", operation_id=payment.operation_id)


def _reload(db: Database, payment_id: int) -> CardPayment:
    with db.reading() as uow:
        payment = cards_of(uow).payment(payment_id)
    if payment is None:
        raise NotFound("no such card payment")
    return payment


def get_card_payment(db: Database, operation_id: str) -> CardPayment:
    with db.reading() as uow:
        payment = cards_of(uow).payment_by_operation(operation_id)
    if payment is None:
        raise NotFound("no such card payment")
    return payment


def get_card_payment_by_id(db: Database, payment_id: int) -> CardPayment:
    return _reload(db, payment_id)


def card_payments_of(db: Database, owner_msisdn: str, *, limit: int = 50) -> list[CardPayment]:
    owner = parse_msisdn(owner_msisdn)
    with db.reading() as uow:
        return cards_of(uow).payments_of(owner, limit=limit)


def complete_3ds(
    db: Database, acquirer: Acquirer, *, operation_id: str, pa_res: str
) -> CardPayment:
    """The cardholder came back from the 3-D Secure page: finish the charge."""
    payment = get_card_payment(db, operation_id)
    if payment.status is not S.PENDING_3DS or payment.acquirer_txn_id is None:
        return payment
    claimed = _claim_3ds(db, payment)
    if not claimed:
        return _reload(db, payment.id)
    try:
        result = acquirer.confirm_3ds(acquirer_txn_id=payment.acquirer_txn_id, pa_res=pa_res)
    except AcquirerError as exc:
        return apply_answer(db, payment.id, S.UNKNOWN, reason=exc.code)
    if result.status is ChargeStatus.REQUIRES_3DS:
        return apply_answer(db, payment.id, S.UNKNOWN, reason="3-D Secure still pending")
    return apply_charge_result(db, payment.id, result)


def _claim_3ds(db: Database, payment: CardPayment) -> bool:
    with db.uow() as uow:
        now = uow.clock.now()
        claimed = cards_of(uow).move(
            payment.id,
            {S.PENDING_3DS},
            S.PROCESSING,
            now,
            next_check_at=now + timedelta(seconds=card_settings().reconcile_after_seconds),
        )
        uow.commit()
    return claimed


# -- refunds ------------------------------------------------------------------------------
def refund_card_payment(
    db: Database, acquirer: Acquirer, *, operation_id: str, actor: str, reason: str = ""
) -> CardPayment:
    """Return a captured top-up to the card.

    The money is taken back from the balance first (a reversal of the credit, refused with
    ``InsufficientFunds`` if it has been spent), in one transaction with the move to
    ``refunding``; then the acquirer is asked to refund (idempotent by our operation id). If it
    does not answer, the reconciler asks again until the payment is ``refunded``.
    """
    payment = get_card_payment(db, operation_id)
    if payment.status is S.CAPTURED:
        with db.uow() as uow:
            locked = cards_of(uow).payment(payment.id, lock=True)
            assert locked is not None
            if locked.status is S.CAPTURED:
                _take_back(uow, locked, actor=actor, reason=reason)
                uow.commit()
        payment = _reload(db, payment.id)
    if payment.status is S.REFUNDING:
        return _send_refund(db, acquirer, payment)
    if payment.status is S.REFUNDED:
        return payment
    raise InvalidStatusTransition(
        f"a {payment.status.value} card payment cannot be refunded", current=payment.status.value
    )


def _take_back(uow: UnitOfWork, payment: CardPayment, *, actor: str, reason: str) -> None:
    assert payment.payment_id is not None
    credited = payments_of(uow).by_id(payment.payment_id)
    assert credited is not None
    original = uow.ledger.transaction(credited.transaction_id)
    assert original is not None
    reversal = ledger.record(
        uow,
        reversal_request(
            original,
            source="card-refund",
            idempotency_key=payment.operation_id,
            reference=f"refund to card: {reason}"[:200],
        ),
    )
    payments_of(uow).set_status(credited.id, PaymentStatus.CANCELLED)
    now = uow.clock.now()
    cards_of(uow).move(payment.id, {S.CAPTURED}, S.REFUNDING, now, next_check_at=now)
    uow.audit.record(
        at=now,
        actor=actor,
        action="card_payment.refunding",
        subject=f"card_payment:{payment.operation_id}",
        details={"amount": payment.amount, "reason": reason[:200]},
        transaction_id=reversal.id,
    )


def _send_refund(db: Database, acquirer: Acquirer, payment: CardPayment) -> CardPayment:
    if payment.acquirer_txn_id is None:
        info = acquirer.query(payment.operation_id)
        txn = info.acquirer_txn_id
    else:
        txn = payment.acquirer_txn_id
    try:
        if txn is None:
            raise AcquirerUnavailable("the acquirer did not name the transaction to refund")
        acquirer.refund(
            acquirer_txn_id=txn, amount=payment.amount, operation_id=payment.operation_id
        )
    except AcquirerError as exc:
        log.warning(
            "card_payment.refund_pending", operation_id=payment.operation_id, error=exc.code
        )
        _postpone(db, payment)
        return _reload(db, payment.id)
    return apply_answer(db, payment.id, S.REFUNDED, acquirer_txn_id=txn)


# -- notifications (the acquirer's webhook) ---------------------------------------------------
def verify_signature(body: bytes, signature: str, secret: str) -> None:
    import hashlib

    try:
        given = base64.b64decode(signature.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise Forbidden("the notification signature is not valid") from None
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise Forbidden("the notification signature is not valid")


def handle_notification(
    db: Database, *, acquirer_name: str, body: bytes, signature: str, secret: str | None = None
) -> CardPayment:
    """A signed notification from the acquirer: ``{"operation_id", "state", "amount", ...}``.

    Duplicates and out-of-order deliveries are harmless: the answer is applied through the same
    conditional state change as the charge reply, and ``pending`` never moves a payment back.
    """
    verify_signature(body, signature, secret or card_settings().callback_secret)
    try:
        data = json.loads(body)
        operation_id = str(data["operation_id"])
        state = OperationState(str(data["state"]))
        amount = data["amount"]
        txn = str(data.get("txn_id") or "") or None
    except (ValueError, KeyError, TypeError):
        raise ValidationError("the notification is not in the expected format") from None
    with db.reading() as uow:
        payment = cards_of(uow).payment_by_operation(operation_id)
    if payment is None or payment.acquirer != acquirer_name:
        raise NotFound("no such card payment")
    if amount != payment.amount:
        raise CardPaymentConflict("the notified amount differs from the payment")
    if state is OperationState.CAPTURED:
        return apply_answer(db, payment.id, S.CAPTURED, acquirer_txn_id=txn)
    if state is OperationState.DECLINED:
        return apply_answer(db, payment.id, S.DECLINED, acquirer_txn_id=txn, reason="declined")
    return payment


# -- reconciler ---------------------------------------------------------------------------
@dataclass
class ReconcileReport:
    checked: int = 0
    captured: int = 0
    declined: int = 0
    failed: int = 0
    still_unknown: int = 0
    errors: list[str] = field(default_factory=list)


def reconcile_unknown(
    db: Database, acquirer: Acquirer, *, now: datetime | None = None, limit: int = 200
) -> ReconcileReport:
    """Ask the acquirer about payments whose outcome we do not know, and apply its answer.

    Covers ``unknown`` (timeout, 5xx), ``processing`` left behind by a crash (older than the
    reconcile delay) and ``pending_3ds`` the cardholder abandoned. ``not_found`` fails an
    ``unknown`` payment (nothing was charged); a stale ``processing`` one first becomes
    ``unknown`` so that a charge still in flight gets one more delay before we conclude.
    """
    report = ReconcileReport()
    moment = now or db.clock.now()
    with db.reading() as uow:
        due = cards_of(uow).due_for_check(
            (S.UNKNOWN, S.PROCESSING, S.PENDING_3DS, S.REFUNDING), moment, limit=limit
        )
    for payment in due:
        if payment.acquirer != acquirer.name:
            continue
        report.checked += 1
        if payment.status is S.REFUNDING:
            if _send_refund(db, acquirer, payment).status is not S.REFUNDED:
                report.still_unknown += 1
            continue
        try:
            info = acquirer.query(payment.operation_id)
        except AcquirerError as exc:
            report.errors.append(f"{payment.operation_id}: {exc.code}")
            _postpone(db, payment)
            report.still_unknown += 1
            continue
        try:
            result = _apply_query(db, payment, info.state, info.acquirer_txn_id)
        except AbonentError as exc:  # e.g. the number was closed meanwhile: an operator looks
            report.errors.append(f"{payment.operation_id}: {exc.code}")
            report.still_unknown += 1
            continue
        if result.status is S.CAPTURED:
            report.captured += 1
        elif result.status is S.DECLINED:
            report.declined += 1
        elif result.status is S.FAILED:
            report.failed += 1
        else:
            report.still_unknown += 1
    return report


def _apply_query(
    db: Database, payment: CardPayment, state: OperationState, txn: str | None
) -> CardPayment:
    if state is OperationState.CAPTURED:
        return apply_answer(db, payment.id, S.CAPTURED, acquirer_txn_id=txn)
    if state in (OperationState.DECLINED, OperationState.REFUNDED):
        return apply_answer(db, payment.id, S.DECLINED, acquirer_txn_id=txn, reason=state.value)
    if state is OperationState.NOT_FOUND:
        if payment.status is S.UNKNOWN:
            return apply_answer(db, payment.id, S.FAILED, reason="not charged (acquirer)")
        if payment.status is S.PROCESSING:
            return apply_answer(db, payment.id, S.UNKNOWN, reason="left in processing")
    _postpone(db, payment)
    return _reload(db, payment.id)


def _postpone(db: Database, payment: CardPayment) -> None:
    """Ask again later, with a growing pause (1, 2, 4 ... up to 64 reconcile delays)."""
    delay = card_settings().reconcile_after_seconds * (2 ** min(payment.checks, 6))
    with db.uow() as uow:
        now = uow.clock.now()
        cards_of(uow).update(
            payment.id,
            now,
            checks=payment.checks + 1,
            next_check_at=now + timedelta(seconds=delay),
        )
        uow.commit()


def _subscriber_for_cards(uow: UnitOfWork, msisdn: str) -> None:
    subscriber = uow.subscribers.by_msisdn(msisdn)
    if subscriber is None:
        raise NotFound(f"no subscriber {msisdn}")
    if subscriber.status is SubscriberStatus.CLOSED:
        raise SubscriberClosed("the number is closed")


def describe(payment: CardPayment) -> str:
    return f"{payment.operation_id} {format_tenge(payment.amount)} {payment.status.value}"
