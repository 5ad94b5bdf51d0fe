"""Wrong codes count against the number: 5 in a day lock voucher entry for 24 hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.vouchers.domain import (
    VoucherEntryLocked,
    VoucherNotFound,
    generate_code,
)
from abonent.vouchers.services import redeem_voucher, unlock_entry
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import balance_of, failures, make_batch, voucher_states

pytestmark = pytest.mark.storage
NUMBER = "+77071234567"
OTHER = "+77071234568"


def _guess(db: Database, msisdn: str = NUMBER) -> None:
    redeem_voucher(db, code=generate_code(), msisdn=msisdn, channel="ussd", actor="t")


def test_five_wrong_codes_lock_entry_for_24_hours(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    add_subscriber(db, "7071234568")
    batch, codes = make_batch(db, count=2)

    attempts_left = []
    for _ in range(5):
        with pytest.raises(VoucherNotFound) as refused:
            _guess(db)
        attempts_left.append(refused.value.details["attempts_left"])
        clock.advance(minutes=10)
    assert attempts_left == [4, 3, 2, 1, 0]
    locked_at = clock.now() - timedelta(minutes=10)

    # Locked: even a good code is refused, and nothing changes.
    with pytest.raises(VoucherEntryLocked) as locked:
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="sms", actor="t")
    assert locked.value.details["retry_after_seconds"] > 0
    clock.set(locked_at + timedelta(hours=23, minutes=59))
    with pytest.raises(VoucherEntryLocked):
        redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    assert balance_of(db, NUMBER) == 0
    assert voucher_states(db, batch) == {"active": 2}

    # Another number is not affected.
    redeem_voucher(db, code=codes[1], msisdn=OTHER, channel="ussd", actor="t")

    # The failures were logged although every redemption rolled back.
    logged = failures(db, NUMBER)
    assert [f["reason"] for f in logged].count("voucher_not_found") == 5
    assert [f["reason"] for f in logged].count("voucher_entry_locked") == 2
    assert all(f["counted"] is (f["reason"] == "voucher_not_found") for f in logged)
    with db.reading() as uow:
        audit = uow.audit.for_subject(f"subscriber:{NUMBER}")
    assert any(a["action"] == "voucher.entry_locked" for a in audit)

    # 24 hours after the fifth wrong code the number may try again.
    clock.set(locked_at + timedelta(hours=24))
    result = redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="ussd", actor="t")
    assert result.amount == tenge(1000) == balance_of(db, NUMBER)
    assert audit_ledger(db).ok


def test_support_can_lift_a_lock(db: Database) -> None:
    add_subscriber(db, "7071234567")
    _, codes = make_batch(db, count=1)
    for _ in range(5):
        with pytest.raises(VoucherNotFound):
            _guess(db)
    with pytest.raises(VoucherEntryLocked):
        _guess(db)
    assert unlock_entry(db, "7071234567", actor="support:Aliya")
    assert redeem_voucher(db, code=codes[0], msisdn=NUMBER, channel="support", actor="t")
    assert not unlock_entry(db, "7071234567", actor="support:Aliya")
    assert audit_ledger(db).ok
