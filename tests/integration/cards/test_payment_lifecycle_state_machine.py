"""A Hypothesis state machine drives card payments through every scripted outcome of the sandbox
acquirer (approve, decline, 3-D Secure, 5xx, timeout after and before charging) mixed with
repeated requests, repeated executions (racing triggers), duplicate and out-of-order
notifications and reconciler runs. After every step: a payment is credited if and only if it is
captured, nothing is charged twice, and the balance is the sum of captured payments. At the end
the reconciler leaves nothing unknown and our view equals the acquirer's.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from abonent.cards import services as cards
from abonent.cards.acquirer import OperationState
from abonent.cards.acquirers.sandbox import OUTCOMES, SandboxAcquirer
from abonent.cards.domain import CardPaymentStatus
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.payments.services import payments_of
from tests.factories import add_subscriber
from tests.integration.cards.support import SECRET, balance, link_card

pytestmark = pytest.mark.storage

_numbers = itertools.count(1)
S = CardPaymentStatus


class CardPaymentLifecycle(RuleBasedStateMachine):
    payments = Bundle("payments")

    def __init__(self, db: Database, clock: FrozenClock) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.acquirer = SandboxAcquirer(db, callback_secret=SECRET)
        self.owner = f"+7707{next(_numbers):07d}"
        self.keys: dict[int, str] = {}
        self.amounts: dict[int, int] = {}

    @initialize()
    def link(self) -> None:
        add_subscriber(self.db, self.owner)
        self.card = link_card(self.db, self.acquirer, self.owner)

    @rule(
        target=payments,
        outcome=st.sampled_from(OUTCOMES),
        tenge=st.integers(min_value=100, max_value=50_000),
    )
    def pay(self, outcome: str, tenge: int) -> int:
        self.acquirer.script(self.card.token, [outcome])
        key = f"k{len(self.keys)}"
        payment = cards.request_card_topup(
            self.db,
            owner_msisdn=self.owner,
            card_id=self.card.id,
            target_msisdn=self.owner,
            amount=tenge * 100,
            idempotency_key=key,
        )
        cards.execute_card_payment(self.db, self.acquirer, payment.id)
        self.keys[payment.id] = key
        self.amounts[payment.id] = tenge * 100
        return payment.id

    @rule(payment_id=payments)
    def execute_again(self, payment_id: int) -> None:
        """A second trigger or a retry of the same payment: never a second charge."""
        before = cards.get_card_payment_by_id(self.db, payment_id)
        after = cards.execute_card_payment(self.db, self.acquirer, payment_id)
        if before.status is not S.CREATED:
            assert after.status is before.status

    @rule(payment_id=payments)
    def request_again(self, payment_id: int) -> None:
        again = cards.request_card_topup(
            self.db,
            owner_msisdn=self.owner,
            card_id=self.card.id,
            target_msisdn=self.owner,
            amount=self.amounts[payment_id],
            idempotency_key=self.keys[payment_id],
        )
        assert again.replayed and again.id == payment_id

    @rule(payment_id=payments, answer=st.sampled_from(["Y", "N"]))
    def cardholder_answers_3ds(self, payment_id: int, answer: str) -> None:
        payment = cards.get_card_payment_by_id(self.db, payment_id)
        cards.complete_3ds(self.db, self.acquirer, operation_id=payment.operation_id, pa_res=answer)

    @rule(data=st.data())
    def notification_arrives(self, data: st.DataObject) -> None:
        """Any notification sent so far, again or late: duplicates and out-of-order."""
        if not self.acquirer.notifications:
            return
        note = data.draw(st.sampled_from(self.acquirer.notifications))
        cards.handle_notification(
            self.db,
            acquirer_name="sandbox",
            body=note.body,
            signature=note.signature,
            secret=SECRET,
        )

    @rule(minutes=st.integers(min_value=0, max_value=5))
    def reconciler_runs(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        cards.reconcile_unknown(self.db, self.acquirer)

    @invariant()
    def credited_if_and_only_if_captured(self) -> None:
        if not hasattr(self, "card"):
            return
        total = 0
        for payment in cards.card_payments_of(self.db, self.owner, limit=1000):
            remote = self.acquirer.query(payment.operation_id).state
            with self.db.reading() as uow:
                credit = payments_of(uow).by_key("card", payment.operation_id)
            assert payment.credited == (credit is not None)
            assert payment.credited == (payment.status is S.CAPTURED)
            if payment.status is S.CAPTURED:
                assert remote is OperationState.CAPTURED
                total += payment.amount
            if remote is not OperationState.CAPTURED:
                assert not payment.credited
            assert self.acquirer.captured_count(payment.operation_id) <= 1
        assert balance(self.db, self.owner) == total

    def teardown(self) -> None:
        if not hasattr(self, "card"):
            return
        for _ in range(4):
            self.clock.advance(hours=1)
            cards.reconcile_unknown(self.db, self.acquirer)
        for payment in cards.card_payments_of(self.db, self.owner, limit=1000):
            remote = self.acquirer.query(payment.operation_id).state
            assert payment.status is not S.UNKNOWN and payment.status is not S.PROCESSING
            assert (payment.status is S.CAPTURED) == (remote is OperationState.CAPTURED)
            if payment.status is S.PENDING_3DS:
                assert remote is OperationState.PENDING
        assert audit_ledger(self.db).ok


def test_card_payment_lifecycle(db: Database, clock: FrozenClock) -> None:
    run_state_machine_as_test(
        lambda: CardPaymentLifecycle(db, clock),
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
