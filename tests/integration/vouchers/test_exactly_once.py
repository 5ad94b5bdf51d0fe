"""100 concurrent redemptions of one code: exactly one credit. On SQLite the writers queue;
on PostgreSQL they really race on the voucher row (a pool of 30 connections at once)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from abonent.core.errors import AbonentError
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.payments.tables import payments
from abonent.vouchers.domain import (
    VoucherAlreadyRedeemed,
    VoucherBlocked,
    VoucherEntryLocked,
    VoucherRedemption,
)
from abonent.vouchers.services import block_batch, redeem_voucher
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import (
    balance_of,
    liability_of,
    make_batch,
    voucher_states,
)

pytestmark = pytest.mark.storage

NUMBERS = ("+77071234567", "+77071234568", "+77001234567", "+77471234567")
ATTEMPTS = 100


def test_100_concurrent_redemptions_of_one_code_credit_exactly_once(db: Database) -> None:
    for number in NUMBERS:
        add_subscriber(db, number)
    batch, codes = make_batch(db, nominal=tenge(5000), count=3)
    start = threading.Barrier(ATTEMPTS)

    def attempt(i: int) -> VoucherRedemption | AbonentError:
        start.wait()
        try:
            return redeem_voucher(
                db, code=codes[0], msisdn=NUMBERS[i % len(NUMBERS)], channel="ussd", actor="t"
            )
        except AbonentError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))

    wins = [o for o in outcomes if isinstance(o, VoucherRedemption)]
    refusals = [o for o in outcomes if not isinstance(o, VoucherRedemption)]
    assert len(wins) == 1
    assert all(isinstance(r, VoucherAlreadyRedeemed | VoucherEntryLocked) for r in refusals)
    assert sum(balance_of(db, n) for n in NUMBERS) == tenge(5000)
    assert balance_of(db, wins[0].msisdn) == tenge(5000)
    assert liability_of(db, batch) == 2 * tenge(5000)
    with db.reading() as uow:
        credited = uow.connection.execute(
            select(func.count()).select_from(payments).where(payments.c.source == "voucher")
        ).scalar_one()
    assert credited == 1
    assert audit_ledger(db).ok


def test_blocking_while_cards_are_redeemed_keeps_the_liability_exact(db: Database) -> None:
    for number in NUMBERS:
        add_subscriber(db, number)
    batch, codes = make_batch(db, nominal=tenge(500), count=40)
    start = threading.Barrier(len(codes) + 1)

    def attempt(i: int) -> VoucherRedemption | AbonentError:
        start.wait()
        try:
            return redeem_voucher(
                db, code=codes[i], msisdn=NUMBERS[i % len(NUMBERS)], channel="sms", actor="t"
            )
        except AbonentError as exc:
            return exc

    def block() -> None:
        start.wait()
        block_batch(db, batch.number, actor="test")

    with ThreadPoolExecutor(max_workers=len(codes) + 1) as pool:
        blocking = pool.submit(block)
        outcomes = list(pool.map(attempt, range(len(codes))))
        blocking.result()

    redeemed = [o for o in outcomes if isinstance(o, VoucherRedemption)]
    refused = [o for o in outcomes if not isinstance(o, VoucherRedemption)]
    assert all(isinstance(r, VoucherBlocked | VoucherEntryLocked) for r in refused)
    assert voucher_states(db, batch) == {
        k: v for k, v in {"redeemed": len(redeemed), "blocked": len(refused)}.items() if v
    }
    assert sum(balance_of(db, n) for n in NUMBERS) == len(redeemed) * tenge(500)
    assert liability_of(db, batch) == 0
    assert audit_ledger(db).ok
