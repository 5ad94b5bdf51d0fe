"""Card top-ups against the sandbox acquirer: credited if and only if captured."""

from __future__ import annotations

import threading

import pytest

from abonent.cards import services as cards
from abonent.cards.domain import CardNotUsable, CardPaymentStatus, InvalidCardData
from abonent.cards.jobs import reconcile_unknown
from abonent.core.clock import FrozenClock
from abonent.core.errors import Forbidden, IdempotencyConflict, InvalidAmount, NotFound
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from tests.factories import add_subscriber
from tests.integration.cards.support import (
    DECLINE_CARD,
    SECRET,
    SERVER_ERROR_CARD,
    THREE_DS_CARD,
    TIMEOUT_AFTER_CARD,
    TIMEOUT_BEFORE_CARD,
    balance,
    link_card,
    sandbox,
    sms_to,
)

pytestmark = pytest.mark.storage

OWNER = "+77071234567"
FRIEND = "+77471234567"


def _topup(
    db: Database,
    acquirer: object,
    card_id: int,
    amount: int = 200_000,
    key: str = "k1",
    target: str = OWNER,
) -> cards.CardPayment:
    return cards.card_topup(
        db,
        acquirer,  # type: ignore[arg-type]
        owner_msisdn=OWNER,
        card_id=card_id,
        target_msisdn=target,
        amount=amount,
        idempotency_key=key,
    )


def test_approved_topup_is_credited_once_with_receipt_and_sms(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    assert (card.last4, card.brand, card.label) == ("1111", "VISA", "VISA *1111")
    payment = _topup(db, acquirer, card.id)
    assert payment.status is CardPaymentStatus.CAPTURED and payment.credited
    again = _topup(db, acquirer, card.id)  # same key: the stored payment, no second charge
    assert again.replayed and again.operation_id == payment.operation_id
    with pytest.raises(IdempotencyConflict):
        _topup(db, acquirer, card.id, amount=300_000)
    assert balance(db, OWNER) == 200_000
    assert acquirer.captured_count(payment.operation_id) == 1
    assert any("2000.00" in text for text in sms_to(db, OWNER))
    assert audit_ledger(db).ok


def test_topup_of_a_friends_number(db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    payment = _topup(db, acquirer, card.id, target=FRIEND)
    assert payment.status is CardPaymentStatus.CAPTURED
    assert (balance(db, OWNER), balance(db, FRIEND)) == (0, 200_000)


def test_declined_topup_credits_nothing(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, DECLINE_CARD)
    payment = _topup(db, acquirer, card.id)
    assert payment.status is CardPaymentStatus.DECLINED and not payment.credited
    assert balance(db, OWNER) == 0


@pytest.mark.parametrize(
    ("pan", "captured"),
    [(TIMEOUT_AFTER_CARD, True), (TIMEOUT_BEFORE_CARD, False), (SERVER_ERROR_CARD, False)],
)
def test_timeout_leaves_unknown_until_the_reconciler_asks(
    db: Database, clock: FrozenClock, pan: str, captured: bool
) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, pan)
    payment = _topup(db, acquirer, card.id)
    assert payment.status is CardPaymentStatus.UNKNOWN
    assert balance(db, OWNER) == 0  # not credited ...
    assert reconcile_unknown(db, acquirer=acquirer).checked == 0  # ... and not asked too early
    clock.advance(minutes=2)
    report = reconcile_unknown(db, acquirer=acquirer)
    assert report.checked == 1
    resolved = cards.get_card_payment(db, payment.operation_id)
    if captured:
        assert resolved.status is CardPaymentStatus.CAPTURED and balance(db, OWNER) == 200_000
    else:
        assert resolved.status is CardPaymentStatus.FAILED and balance(db, OWNER) == 0
    assert audit_ledger(db).ok


def test_three_d_secure_first_payment_then_none(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, THREE_DS_CARD)
    payment = _topup(db, acquirer, card.id)
    assert payment.status is CardPaymentStatus.PENDING_3DS and payment.acs_url
    assert balance(db, OWNER) == 0
    done = cards.complete_3ds(db, acquirer, operation_id=payment.operation_id, pa_res="Y")
    assert done.status is CardPaymentStatus.CAPTURED and balance(db, OWNER) == 200_000
    again = cards.complete_3ds(db, acquirer, operation_id=payment.operation_id, pa_res="Y")
    assert again.status is CardPaymentStatus.CAPTURED and balance(db, OWNER) == 200_000
    second = _topup(db, acquirer, card.id, key="k2")
    assert second.status is CardPaymentStatus.CAPTURED and balance(db, OWNER) == 400_000


def test_refused_three_d_secure_is_declined(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, THREE_DS_CARD)
    payment = _topup(db, acquirer, card.id)
    done = cards.complete_3ds(db, acquirer, operation_id=payment.operation_id, pa_res="N")
    assert done.status is CardPaymentStatus.DECLINED and balance(db, OWNER) == 0


def test_amounts_outside_limits_are_refused_and_nothing_is_written(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    for amount in [9_999, 5_000_001, 0, -100]:
        with pytest.raises(InvalidAmount):
            _topup(db, acquirer, card.id, amount=amount, key=f"k{amount}")
    assert cards.card_payments_of(db, OWNER) == []


def test_limits_are_configurable(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    with pytest.raises(InvalidAmount):
        cards.card_topup(
            db,
            acquirer,
            owner_msisdn=OWNER,
            card_id=card.id,
            target_msisdn=OWNER,
            amount=400_000,
            idempotency_key="k",
            limits=cards.TopUpLimits(10_000, 300_000),
        )


def test_removed_or_foreign_card_cannot_pay(db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    with pytest.raises(NotFound):
        cards.card_topup(
            db,
            acquirer,
            owner_msisdn=FRIEND,
            card_id=card.id,
            target_msisdn=FRIEND,
            amount=200_000,
            idempotency_key="x",
        )
    cards.remove_card(db, owner_msisdn=OWNER, card_id=card.id, actor="test")
    assert cards.list_cards(db, OWNER) == []
    with pytest.raises(CardNotUsable):
        _topup(db, acquirer, card.id)
    assert balance(db, OWNER) == 0


def test_card_entry_refuses_bad_card_data(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    session_id, _ = cards.start_card_link(db, acquirer, owner_msisdn=OWNER, return_url="/r")
    for pan, expiry, cvv in [
        ("4111111111111112", "12/30", "123"),  # Luhn
        ("4111", "12/30", "123"),
        ("4111111111111111", "01/20", "123"),  # expired
        ("4111111111111111", "13/30", "123"),
        ("4111111111111111", "12/30", "12a"),
    ]:
        with pytest.raises(InvalidCardData) as caught:
            acquirer.submit_card(session_id, pan=pan, expiry=expiry, cvv=cvv)
        assert pan not in caught.value.message
    assert cards.list_cards(db, OWNER) == []


def test_notifications_need_a_valid_signature(db: Database) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, TIMEOUT_AFTER_CARD)
    payment = _topup(db, acquirer, card.id)
    assert payment.status is CardPaymentStatus.UNKNOWN
    note = acquirer.notifications[-1]
    with pytest.raises(Forbidden):
        cards.handle_notification(
            db, acquirer_name="sandbox", body=note.body, signature="bm90IGl0", secret=SECRET
        )
    forged = note.body.replace(b'"amount": 200000', b'"amount": 900000')
    with pytest.raises(Forbidden):
        cards.handle_notification(
            db, acquirer_name="sandbox", body=forged, signature=note.signature, secret=SECRET
        )
    assert balance(db, OWNER) == 0
    for _ in range(2):  # duplicates are harmless
        done = cards.handle_notification(
            db, acquirer_name="sandbox", body=note.body, signature=note.signature, secret=SECRET
        )
        assert done.status is CardPaymentStatus.CAPTURED
    assert balance(db, OWNER) == 200_000
    assert audit_ledger(db).ok


@pytest.mark.postgres_only
def test_racing_executions_charge_once(pg_db: Database) -> None:
    db = pg_db
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    payment = cards.request_card_topup(
        db,
        owner_msisdn=OWNER,
        card_id=card.id,
        target_msisdn=OWNER,
        amount=200_000,
        idempotency_key="race",
    )
    barrier = threading.Barrier(8)
    results: list[CardPaymentStatus] = []

    def run() -> None:
        barrier.wait()
        results.append(cards.execute_card_payment(db, acquirer, payment.id).status)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert acquirer.captured_count(payment.operation_id) == 1
    assert balance(db, OWNER) == 200_000
    assert audit_ledger(db).ok
