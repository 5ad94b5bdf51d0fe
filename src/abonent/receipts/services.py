"""Receipt use cases. The contract for other features is in ``receipts/README.md``:

- ``issue_receipt(uow, payment_id)`` — the sale receipt of a payment, inside the caller's unit of
  work; idempotent (a second call returns the first receipt). Registered as an AFTER_CREDIT
  top-up hook, so every payment made through ``credit_topup`` gets its receipt atomically.
- ``issue_return_receipt(uow, payment_id, amount=..., reason=..., key=...)`` — a correction.
- ``receipt_for_payment(db, payment_id)`` — read it, issuing it lazily for payments made
  before this feature existed (or by a path that did not call ``issue_receipt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from abonent.core.errors import Conflict, InvalidAmount, NotFound, ValidationError
from abonent.core.ids import public_token, public_tokens
from abonent.core.money import Tiyn, require_positive_tiyn
from abonent.core.msisdn import masked, parse_msisdn
from abonent.db.bulk_rows import insert_tuples
from abonent.db.uow import Database, UnitOfWork
from abonent.payments import hooks
from abonent.payments.domain import Payment
from abonent.payments.repository import SqlPaymentRepository
from abonent.receipts.domain import (
    FiscalRegistrar,
    FiscalStatus,
    Receipt,
    ReceiptKind,
    SellerIdentity,
    return_number,
    service_for,
    vat_included,
)
from abonent.receipts.repository import SqlReceiptRepository
from abonent.receipts.tables import receipts as receipt_rows
from abonent.settings import Settings

MAX_REASON = 200


def seller_from(settings: Settings) -> SellerIdentity:
    return SellerIdentity(
        name=settings.operator_name,
        bin=settings.operator_bin,
        address=settings.operator_address,
        vat_rate_percent=settings.vat_rate_percent,
        public_base_url=settings.public_base_url,
    )


@lru_cache(maxsize=1)
def default_seller() -> SellerIdentity:
    """The seller printed by receipts issued from hooks (which get no settings): the
    environment's, read once per process."""
    return seller_from(Settings())


def receipts_of(uow: UnitOfWork) -> SqlReceiptRepository:
    return SqlReceiptRepository(uow.connection)


def issue_receipt(
    uow: UnitOfWork, payment_id: int, *, seller: SellerIdentity | None = None
) -> Receipt:
    """The sale receipt of payment ``payment_id``, issued in the caller's unit of work once."""
    repo = receipts_of(uow)
    key = f"sale:{payment_id}"
    existing = repo.by_key(key)
    if existing is not None:
        return existing
    payment = SqlPaymentRepository(uow.connection).by_id(payment_id)
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    subscriber = uow.subscribers.by_id(payment.subscriber_id)
    payment_type = subscriber.payment_type.value if subscriber else "prepaid"
    issued = repo.by_id(_insert_sale(uow, payment, payment_type, seller or default_seller()))
    assert issued is not None
    return issued


def _insert_sale(
    uow: UnitOfWork, payment: Payment, payment_type: str, identity: SellerIdentity
) -> int:
    return receipts_of(uow).insert(_sale_values(uow, payment, payment_type, identity))


def _sale_values(
    uow: UnitOfWork, payment: Payment, payment_type: str, identity: SellerIdentity
) -> dict[str, Any]:
    return {
        "number": payment.receipt_number,
        "kind": ReceiptKind.SALE.value,
        "payment_id": payment.id,
        "idempotency_key": f"sale:{payment.id}",
        "share_token": public_token(),
        "issued_at": uow.clock.now(),
        "seller_name": identity.name,
        "seller_bin": identity.bin,
        "seller_address": identity.address,
        "service": service_for(payment_type),
        "msisdn_masked": masked(payment.msisdn),
        "amount": payment.amount,
        "vat": vat_included(payment.amount, identity.vat_rate_percent),
        "vat_rate_percent": identity.vat_rate_percent,
        "channel": payment.channel.value,
        "method": payment.method,
        "agent": payment.source,
        "agent_txn_id": payment.external_id,
        "agent_txn_date": payment.external_date,
        "reason": "",
        "fiscal_status": FiscalStatus.PENDING.value,
    }


def issue_return_receipt(
    uow: UnitOfWork,
    payment_id: int,
    *,
    amount: Tiyn,
    reason: str,
    key: str,
    seller: SellerIdentity | None = None,
) -> Receipt:
    """A separate return receipt for (part of) a payment, e.g. a refund or a redirect.

    ``key`` identifies the correction (the caller's idempotency key): the same key returns the
    same receipt; the same key for another amount is a ``Conflict``. The returned total never
    exceeds the payment. The sale receipt is left untouched.
    """
    require_positive_tiyn(amount)
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text or len(text) > MAX_REASON:
        raise ValidationError(f"a return needs a reason (at most {MAX_REASON} characters)")
    if not key or len(key) > 100:
        raise ValidationError("a return needs its key (at most 100 characters)")
    repo = receipts_of(uow)
    full_key = f"return:{key}"
    existing = repo.by_key(full_key)
    if existing is not None:
        if existing.payment_id != payment_id or -existing.amount != amount:
            raise Conflict("this return key was already used for another return")
        return existing
    sale = issue_receipt(uow, payment_id, seller=seller)
    returned = -repo.returned_total(payment_id)
    if returned + amount > sale.amount:
        raise InvalidAmount(
            "a return cannot exceed what is left of the payment",
            returnable=sale.amount - returned,
        )
    identity = seller or default_seller()
    sequence = sum(1 for r in repo.of_payment(payment_id) if r.kind is ReceiptKind.RETURN) + 1
    receipt_id = repo.insert(
        {
            "number": return_number(sale.number, sequence),
            "kind": ReceiptKind.RETURN.value,
            "payment_id": payment_id,
            "idempotency_key": full_key,
            "share_token": public_token(),
            "issued_at": uow.clock.now(),
            "seller_name": identity.name,
            "seller_bin": identity.bin,
            "seller_address": identity.address,
            "service": sale.service,
            "msisdn_masked": sale.msisdn_masked,
            "amount": -amount,
            "vat": -vat_included(amount, identity.vat_rate_percent),
            "vat_rate_percent": identity.vat_rate_percent,
            "channel": sale.channel,
            "method": sale.method,
            "agent": sale.agent,
            "agent_txn_id": sale.agent_txn_id,
            "agent_txn_date": sale.agent_txn_date,
            "reason": text,
            "fiscal_status": FiscalStatus.PENDING.value,
        }
    )
    issued = repo.by_id(receipt_id)
    assert issued is not None
    return issued


def receipt_by_token(db: Database, token: str) -> Receipt:
    """The receipt behind a share link. Unknown or malformed tokens are ``NotFound``."""
    if not isinstance(token, str) or not 16 <= len(token) <= 40:
        raise NotFound("no such receipt")
    with db.reading() as uow:
        receipt = receipts_of(uow).by_token(token)
    if receipt is None:
        raise NotFound("no such receipt")
    return receipt


def receipt_for_payment(db: Database, payment_id: int) -> Receipt:
    """The sale receipt of a payment, issued now if the payment has none yet."""
    with db.reading() as uow:
        existing = receipts_of(uow).by_key(f"sale:{payment_id}")
    if existing is not None:
        return existing

    def work(uow: UnitOfWork) -> Receipt:
        return issue_receipt(uow, payment_id)

    return db.run_once(work, lambda uow: receipts_of(uow).by_key(f"sale:{payment_id}"))


def receipts_of_number(db: Database, msisdn_text: str, *, limit: int = 50) -> list[Receipt]:
    """A subscriber's receipts, newest first (for the cabinet and the API)."""
    msisdn = parse_msisdn(msisdn_text)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        return receipts_of(uow).of_subscriber(subscriber.id, limit=limit)


def backfill_receipts(db: Database, *, batch: int = 500) -> int:
    """Issue the missing sale receipts of payments made without one; returns how many."""
    issued = 0
    while True:
        with db.uow() as uow:
            missing = receipts_of(uow).payments_without_receipt(limit=batch)
            for payment_id in missing:
                issue_receipt(uow, payment_id)
            uow.commit()
        issued += len(missing)
        if len(missing) < batch:
            return issued


def register_pending(db: Database, registrar: FiscalRegistrar, *, limit: int = 500) -> int:
    """Send pending receipts to the fiscal service, outside any database transaction."""
    with db.reading() as uow:
        pending = receipts_of(uow).pending_fiscal(limit=limit)
    done = 0
    for receipt in pending:
        registration = registrar.register(receipt)
        with db.uow() as uow:
            done += receipts_of(uow).set_fiscal(receipt.id, registration)
            uow.commit()
    return done


def _issue_on_topup(uow: UnitOfWork, credited: hooks.CreditedTopUp) -> None:
    """Every credited top-up gets its sale receipt in the same transaction (two statements:
    the payment was inserted just now, so there is no earlier receipt to look for)."""
    payment = credited.payment or SqlPaymentRepository(uow.connection).by_id(credited.payment_id)
    assert payment is not None  # inserted by credit_topup in this unit of work
    _insert_sale(uow, payment, credited.subscriber.payment_type.value, default_seller())


# The per-receipt columns of ``_issue_on_topups``' rows, in their order.
_SALE_COLUMNS = (
    "number",
    "payment_id",
    "idempotency_key",
    "share_token",
    "service",
    "msisdn_masked",
    "amount",
    "vat",
    "channel",
    "method",
    "agent",
    "agent_txn_id",
    "agent_txn_date",
)


def _issue_on_topups(uow: UnitOfWork, credited: Sequence[hooks.CreditedTopUp]) -> None:
    """Batch form: the sale receipts of a group commit's top-ups in one INSERT, with the
    values ``_sale_values`` gives (the batch's one transaction, one issue time)."""
    seller = default_seller()
    rate = seller.vat_rate_percent
    # Once per batch, not per receipt: a group commit's hot path.
    shared = {
        "kind": ReceiptKind.SALE.value,
        "issued_at": uow.clock.now(),
        "seller_name": seller.name,
        "seller_bin": seller.bin,
        "seller_address": seller.address,
        "vat_rate_percent": rate,
        "reason": "",
        "fiscal_status": FiscalStatus.PENDING.value,
    }
    # Per batch, by the value they come from: the VAT of each amount, the service of each
    # payment type, the text of each channel (an enum's ``.value`` is a Python property).
    vat_of: dict[int, int] = {}
    service_of: dict[object, str] = {}
    text_of: dict[object, str] = {}
    rows: list[tuple[object, ...]] = []
    for one, token in zip(credited, public_tokens(len(credited)), strict=True):
        payment = one.payment or SqlPaymentRepository(uow.connection).by_id(one.payment_id)
        assert payment is not None
        amount = payment.amount
        vat = vat_of.get(amount)
        if vat is None:
            vat = vat_of[amount] = vat_included(amount, rate)
        payment_type = one.subscriber.payment_type
        service = service_of.get(payment_type)
        if service is None:
            service = service_of[payment_type] = service_for(payment_type.value)
        channel = text_of.get(payment.channel)
        if channel is None:
            channel = text_of[payment.channel] = payment.channel.value
        rows.append(
            (
                payment.receipt_number,
                payment.id,
                f"sale:{payment.id}",
                token,
                service,
                masked(payment.msisdn),
                amount,
                vat,
                channel,
                payment.method,
                payment.source,
                payment.external_id,
                payment.external_date,
            )
        )
    # A group commit's hot path: on the driver.
    insert_tuples(uow.connection, receipt_rows, _SALE_COLUMNS, rows, shared=shared)


hooks.register_after_credit_batch(_issue_on_topups, single=_issue_on_topup)
