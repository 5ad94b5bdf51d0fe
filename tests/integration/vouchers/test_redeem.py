from __future__ import annotations

import pytest

from abonent.core.errors import InvalidMsisdn
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.payments.domain import SubscriberClosed
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import SubscriberStatus
from abonent.vouchers.domain import (
    BatchStateConflict,
    InvalidVoucherChannel,
    InvalidVoucherCode,
    VoucherAlreadyRedeemed,
    VoucherBlocked,
    VoucherNotActive,
    VoucherNotFound,
    VoucherSubscriberNotFound,
)
from abonent.vouchers.services import activate_batch, block_batch, list_batches, redeem_voucher
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import (
    balance_of,
    failures,
    liability_of,
    make_batch,
    voucher_states,
)

pytestmark = pytest.mark.storage
NUMBER = "+77071234567"


def test_redemption_credits_the_nominal_with_receipt_sms_and_audit(db: Database) -> None:
    add_subscriber(db, "7071234567", balance=tenge(100))
    batch, codes = make_batch(db, nominal=tenge(2000), count=3)
    assert liability_of(db, batch) == 3 * tenge(2000)

    result = redeem_voucher(db, code=codes[1], msisdn="87071234567", channel="ussd", actor="t")

    assert result.msisdn == NUMBER and result.amount == tenge(2000)
    assert result.balance_after == tenge(2100) == balance_of(db, NUMBER)
    assert result.receipt_number.startswith("R") and result.serial == f"{batch.number}-0000002"
    assert liability_of(db, batch) == 2 * tenge(2000)
    assert voucher_states(db, batch) == {"active": 2, "redeemed": 1}
    with db.reading() as uow:
        sms = uow.outbox.messages(topic="sms", recipient=NUMBER)
        audit = uow.audit.for_subject(f"voucher:{result.serial}")
    assert len(sms) == 1 and result.receipt_number in sms[0]["payload"]["text"]
    assert audit[0]["action"] == "voucher.redeemed" and audit[0]["actor"] == "t"
    assert audit_ledger(db).ok


def test_a_card_redeems_once_and_a_repeat_from_the_same_number_does_not_count(
    db: Database,
) -> None:
    add_subscriber(db, "7071234567")
    _, codes = make_batch(db, count=1)
    redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="sms", actor="t")
    with pytest.raises(VoucherAlreadyRedeemed):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="sms", actor="t")
    assert balance_of(db, NUMBER) == tenge(1000)
    [logged] = failures(db, NUMBER)
    assert logged["reason"] == "voucher_already_redeemed" and logged["counted"] is False
    assert audit_ledger(db).ok


def test_a_not_activated_batch_cannot_be_redeemed_until_activated(db: Database) -> None:
    add_subscriber(db, "7071234567")
    batch, codes = make_batch(db, count=2, activate=False)
    assert liability_of(db, batch) == 0
    with pytest.raises(VoucherNotActive):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    assert balance_of(db, NUMBER) == 0
    assert voucher_states(db, batch) == {"created": 2}
    assert [f["reason"] for f in failures(db, NUMBER)] == ["voucher_not_active"]
    assert audit_ledger(db).ok

    activate_batch(db, batch.number, actor="test")
    redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    assert balance_of(db, NUMBER) == tenge(1000)
    with pytest.raises(BatchStateConflict):
        activate_batch(db, batch.number, actor="test")
    assert audit_ledger(db).ok


def test_a_blocked_batch_cannot_be_redeemed_and_its_liability_is_released(db: Database) -> None:
    add_subscriber(db, "7071234567")
    batch, codes = make_batch(db, nominal=tenge(500), count=4)
    redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")

    summary = block_batch(db, batch.number, actor="test", reason="stolen from a dealer")

    assert summary.by_state == {"redeemed": 1, "blocked": 3} and summary.liability == 0
    for code in codes:
        with pytest.raises((VoucherBlocked, VoucherAlreadyRedeemed)):
            redeem_voucher(db, code=code, msisdn=NUMBER, channel="ussd", actor="t")
    with pytest.raises(VoucherBlocked):
        redeem_voucher(db, code=codes[1], msisdn=NUMBER, channel="api", actor="t")
    assert balance_of(db, NUMBER) == tenge(500)
    assert voucher_states(db, batch) == {"redeemed": 1, "blocked": 3}
    assert liability_of(db, batch) == 0
    with pytest.raises(BatchStateConflict):
        block_batch(db, batch.number, actor="test")
    assert audit_ledger(db).ok


def test_a_created_batch_can_be_blocked_without_money(db: Database) -> None:
    add_subscriber(db, "7071234567")
    batch, codes = make_batch(db, count=2, activate=False)
    block_batch(db, batch.id, actor="test")
    with pytest.raises(BatchStateConflict):
        activate_batch(db, batch.id, actor="test")
    with pytest.raises(VoucherBlocked):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    [listed] = list_batches(db)
    assert listed.batch.state.value == "blocked" and listed.liability == 0 and listed.key_matches
    assert audit_ledger(db).ok


def test_bad_requests_change_nothing(db: Database) -> None:
    add_subscriber(db, "7071234567")
    batch, codes = make_batch(db, count=1)
    with pytest.raises(InvalidVoucherChannel):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="fax", actor="t")
    with pytest.raises(InvalidMsisdn):
        redeem_voucher(db, code=codes[0], msisdn="12345", channel="ussd", actor="t")
    with pytest.raises(InvalidVoucherCode):
        redeem_voucher(db, code=codes[0][:-1] + "x", msisdn=NUMBER, channel="ussd", actor="t")
    with pytest.raises(VoucherNotFound):
        redeem_voucher(db, code="1234567890128", msisdn=NUMBER, channel="ussd", actor="t")
    with pytest.raises(VoucherSubscriberNotFound):
        redeem_voucher(db, code=codes[0], msisdn="7001234567", channel="ussd", actor="t")
    assert voucher_states(db, batch) == {"active": 1}
    assert balance_of(db, NUMBER) == 0
    reasons = [(f["reason"], f["counted"]) for f in failures(db, NUMBER)]
    assert reasons == [("voucher_not_found", True), ("voucher_code_invalid", False)]
    assert audit_ledger(db).ok


def test_a_closed_number_is_refused_and_the_card_stays_usable(db: Database) -> None:
    add_subscriber(db, "7071234567")
    add_subscriber(db, "7071234568")
    _, codes = make_batch(db, count=1)
    subscribers.set_status(db, NUMBER, SubscriberStatus.CLOSED, actor="test")
    with pytest.raises(SubscriberClosed):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    result = redeem_voucher(db, code=codes[0], msisdn="7071234568", channel="ussd", actor="t")
    assert result.amount == tenge(1000)
    assert audit_ledger(db).ok
