"""Corrections by support: a top-up sent to the wrong number is moved to the right one.

The move is a reversal of (part of) the original credit back to the channel's clearing account
and a new top-up of the same part to the right number, in one database transaction. Only what
the wrong number still holds is moved (its balance, never its credit limit); the rest is
reported. The original payment becomes ``redirected`` (so it is moved at most once) and gets a
return receipt for the part moved (the new payment gets its own sale receipt), an audit row
records who did it and why, and both numbers get an SMS.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from abonent.core.errors import Conflict, NotFound, ValidationError
from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import masked, parse_msisdn
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import Posting, TransactionRequest
from abonent.outbox.repository import enqueue_sms
from abonent.payments.domain import Channel, PaymentStatus, TopUpRequest
from abonent.payments.services import SMS_SENDER, credit_topup, payments_of
from abonent.payments.status import RECEIPT
from abonent.receipts.services import issue_return_receipt
from abonent.subscribers.domain import Language

SOURCE = "correction"
_DEBIT_SMS = {
    Language.RU: "Ошибочный платёж {receipt} ({amount} тг) переведён на номер {to}. "
    "Списано {amount} тг.",
    Language.KK: "Қате төлем {receipt} ({amount} тг) {to} нөміріне аударылды. "
    "{amount} тг шегерілді.",
    Language.EN: "Mistaken payment {receipt} ({amount} KZT) was moved to {to}. "
    "{amount} KZT debited.",
}


class NothingToRedirect(Conflict):
    code = "nothing_to_redirect"


class AlreadyCorrected(Conflict):
    code = "payment_already_corrected"


@dataclass(frozen=True, slots=True)
class RedirectReport:
    receipt: str
    from_msisdn: str
    to_msisdn: str
    amount: Tiyn  # of the original payment
    moved: Tiyn
    not_moved: Tiyn  # what the wrong number had already spent
    new_receipt: str
    reversal_transaction_id: int
    return_receipt: str  # the fiscal return receipt of the part moved off the mistaken payment


def redirect_payment(
    db: Database, receipt: str, *, to: str, reason: str, actor: str
) -> RedirectReport:
    """Move a payment to the right number, as far as the wrong number's balance allows."""
    receipt = receipt.strip().upper()
    if not RECEIPT.fullmatch(receipt):
        raise ValidationError("a receipt number looks like R0000001234")
    reason = " ".join(reason.split())
    if not reason or len(reason) > 300:
        raise ValidationError("a reason is required (at most 300 characters)")
    target = parse_msisdn(to)
    try:
        with db.uow() as uow:
            payments = payments_of(uow)
            payment = payments.by_receipt(receipt)
            if payment is None:
                raise NotFound(f"no payment with receipt {receipt}")
            if payment.status is not PaymentStatus.CREDITED:
                raise AlreadyCorrected(f"payment {receipt} is {payment.status.value}")
            if payment.msisdn == target:
                raise ValidationError("the payment already went to that number")
            wrong = uow.subscribers.by_msisdn(payment.msisdn, lock=True)
            assert wrong is not None
            account = uow.ledger.account(wrong.account_id)
            original = uow.ledger.transaction(payment.transaction_id)
            assert account is not None and original is not None
            floor = account.floor if account.floor is not None else 0
            moved = max(0, min(payment.amount, account.balance, account.balance - floor))
            if moved == 0:
                raise NothingToRedirect(
                    f"{masked(payment.msisdn)} has no money left to move; nothing was changed"
                )
            clearing = next(p.account_id for p in original.postings if p.amount < 0)
            now = uow.clock.now()
            reversal = ledger.record(
                uow,
                TransactionRequest(
                    kind="reversal",
                    source=SOURCE,
                    idempotency_key=f"redirect:{receipt}:reversal",
                    postings=(Posting(wrong.account_id, -moved), Posting(clearing, moved)),
                    reference=f"redirect of {receipt}: {reason}"[:200],
                    reverses_id=original.id,
                ),
            )
            credited = credit_topup(
                uow,
                TopUpRequest(
                    msisdn=target,
                    amount=moved,
                    channel=Channel.CORRECTION,
                    source=SOURCE,
                    external_id=f"redirect:{receipt}",
                    clearing_account_id=clearing,
                    method=f"correction of {receipt}",
                    actor=actor,
                ),
            )
            returned = issue_return_receipt(
                uow,
                payment.id,
                amount=moved,
                reason=f"redirected to {masked(target)}: {reason}"[:200],
                key=f"redirect:{receipt}",
            )
            payments.set_status(payment.id, PaymentStatus.REDIRECTED)
            enqueue_sms(
                uow.outbox,
                to=wrong.msisdn,
                sender=SMS_SENDER,
                text=_DEBIT_SMS[wrong.language].format(
                    receipt=receipt, amount=format_tenge(moved), to=masked(target)
                ),
                now=now,
            )
            report = RedirectReport(
                receipt=receipt,
                from_msisdn=payment.msisdn,
                to_msisdn=target,
                amount=payment.amount,
                moved=moved,
                not_moved=payment.amount - moved,
                new_receipt=credited.receipt_number,
                reversal_transaction_id=reversal.id,
                return_receipt=returned.number,
            )
            uow.audit.record(
                at=now,
                actor=actor,
                action="payment.redirected",
                subject=f"subscriber:{payment.msisdn}",
                details={
                    "receipt": receipt,
                    "to": target,
                    "amount": payment.amount,
                    "moved": moved,
                    "not_moved": report.not_moved,
                    "new_receipt": credited.receipt_number,
                    "return_receipt": returned.number,
                    "reason": reason,
                },
                transaction_id=reversal.id,
            )
            uow.commit()
    except sa_exc.IntegrityError:
        raise AlreadyCorrected(f"payment {receipt} is being corrected by someone else") from None
    return report
