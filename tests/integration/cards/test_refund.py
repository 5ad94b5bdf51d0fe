"""Refunds: the balance gives the money back first, then the acquirer returns it to the card."""

from __future__ import annotations

import pytest

from abonent.cards import services as cards
from abonent.cards.acquirer import AcquirerTimeout, OperationInfo, OperationState
from abonent.cards.acquirers.sandbox import SandboxAcquirer
from abonent.cards.domain import CardPaymentStatus
from abonent.core.clock import FrozenClock
from abonent.core.errors import InsufficientFunds, InvalidStatusTransition
from abonent.core.money import Tiyn
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.payments.domain import PaymentStatus
from abonent.payments.services import payments_of
from tests.factories import add_subscriber
from tests.integration.autopay.support import spend
from tests.integration.cards.support import DECLINE_CARD, SECRET, balance, link_card

pytestmark = pytest.mark.storage
OWNER = "+77071234567"


class RefundOutage(SandboxAcquirer):
    """The sandbox, but its refund endpoint times out while ``down`` is set."""

    down = True

    def refund(self, *, acquirer_txn_id: str, amount: Tiyn, operation_id: str) -> OperationInfo:
        if self.down:
            raise AcquirerTimeout("no answer")
        return super().refund(
            acquirer_txn_id=acquirer_txn_id, amount=amount, operation_id=operation_id
        )


def _captured(db: Database, acquirer: SandboxAcquirer, pan: str = "4111111111111111") -> str:
    card = link_card(db, acquirer, OWNER, pan)
    payment = cards.card_topup(
        db,
        acquirer,
        owner_msisdn=OWNER,
        card_id=card.id,
        target_msisdn=OWNER,
        amount=200_000,
        idempotency_key="r1",
    )
    return payment.operation_id


def test_refund_takes_the_money_back_and_returns_it_to_the_card(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = SandboxAcquirer(db, callback_secret=SECRET)
    operation_id = _captured(db, acquirer)
    refunded = cards.refund_card_payment(db, acquirer, operation_id=operation_id, actor="support:a")
    assert refunded.status is CardPaymentStatus.REFUNDED
    assert balance(db, OWNER) == 0
    assert acquirer.query(operation_id).state is OperationState.REFUNDED
    with db.reading() as uow:
        credit = payments_of(uow).by_key("card", operation_id)
    assert credit is not None and credit.status is PaymentStatus.CANCELLED
    again = cards.refund_card_payment(db, acquirer, operation_id=operation_id, actor="support:a")
    assert again.status is CardPaymentStatus.REFUNDED and balance(db, OWNER) == 0
    assert audit_ledger(db).ok


def test_spent_money_cannot_be_refunded(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = SandboxAcquirer(db, callback_secret=SECRET)
    operation_id = _captured(db, acquirer)
    spend(db, OWNER, 150_000)
    with pytest.raises(InsufficientFunds):
        cards.refund_card_payment(db, acquirer, operation_id=operation_id, actor="support:a")
    assert cards.get_card_payment(db, operation_id).status is CardPaymentStatus.CAPTURED
    assert balance(db, OWNER) == 50_000
    assert acquirer.query(operation_id).state is OperationState.CAPTURED


def test_declined_payment_cannot_be_refunded(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = SandboxAcquirer(db, callback_secret=SECRET)
    operation_id = _captured(db, acquirer, DECLINE_CARD)
    with pytest.raises(InvalidStatusTransition):
        cards.refund_card_payment(db, acquirer, operation_id=operation_id, actor="support:a")


def test_refund_during_an_outage_is_finished_by_the_reconciler(
    db: Database, clock: FrozenClock
) -> None:
    add_subscriber(db, OWNER)
    acquirer = RefundOutage(db, callback_secret=SECRET)
    operation_id = _captured(db, acquirer)
    pending = cards.refund_card_payment(db, acquirer, operation_id=operation_id, actor="support:a")
    assert pending.status is CardPaymentStatus.REFUNDING and balance(db, OWNER) == 0
    acquirer.down = False
    clock.advance(minutes=5)
    cards.reconcile_unknown(db, acquirer)
    assert cards.get_card_payment(db, operation_id).status is CardPaymentStatus.REFUNDED
    assert acquirer.query(operation_id).state is OperationState.REFUNDED
    assert audit_ledger(db).ok
