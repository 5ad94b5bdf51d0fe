"""The one-commit transfer path (on SQLite straight on the driver) on both databases: legs in
either order, the floor's edge, legs that cancel out, and what is stored and replayed."""

from __future__ import annotations

import pytest

from abonent.core.clock import FrozenClock
from abonent.core.errors import InsufficientFunds
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import Posting, TransactionRequest
from tests.factories import floored_account, system_account

pytestmark = pytest.mark.storage


def _request(key: str, *legs: tuple[int, int]) -> TransactionRequest:
    return TransactionRequest(
        kind="test",
        source="tests",
        idempotency_key=key,
        postings=tuple(Posting(account, amount) for account, amount in legs),
    )


def _balance(db: Database, account_id: int) -> int:
    with db.reading() as uow:
        account = uow.ledger.account(account_id)
    assert account is not None
    return account.balance


def test_credit_leg_first_moves_both_balances_and_keeps_the_legs_order(
    db: Database, clock: FrozenClock
) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    posted = ledger.post(db, _request("fund", (wallet, 700), (source, -700)))
    assert (_balance(db, wallet), _balance(db, source)) == (700, -700)
    with db.reading() as uow:
        stored = uow.ledger.find_transaction("tests", "fund")
    assert stored is not None
    assert stored.id == posted.id
    assert stored.postings == (Posting(wallet, 700), Posting(source, -700))
    assert stored.created_at == posted.created_at == clock.now()
    replayed = ledger.post(db, _request("fund", (wallet, 700), (source, -700)))
    assert replayed.replayed and replayed.postings == stored.postings
    assert ledger.audit_ledger(db).ok


@pytest.mark.parametrize("credit_first", [False, True])
def test_the_floor_allows_down_to_it_and_refuses_past_it(db: Database, credit_first: bool) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1", floor=-50)
    other = floored_account(db, "w2")
    ledger.post(db, _request("fund", (source, -100), (wallet, 100)))

    def spend(key: str, amount: int) -> TransactionRequest:
        legs = [(wallet, -amount), (other, amount)]
        return _request(key, *(reversed(legs) if credit_first else legs))

    with pytest.raises(InsufficientFunds) as refused:
        ledger.post(db, spend("too-much", 151))
    assert refused.value.details["account_id"] == wallet
    assert (_balance(db, wallet), _balance(db, other)) == (100, 0)
    ledger.post(db, spend("all", 150))  # exactly to the floor
    assert (_balance(db, wallet), _balance(db, other)) == (-50, 150)
    with db.reading() as uow:
        assert uow.ledger.find_transaction("tests", "too-much") is None
    assert ledger.audit_ledger(db).ok


def test_legs_on_one_account_that_cancel_out_are_stored_and_move_nothing(db: Database) -> None:
    wallet = floored_account(db, "w1")
    posted = ledger.post(db, _request("wash", (wallet, -5), (wallet, 5)))
    assert _balance(db, wallet) == 0
    with db.reading() as uow:
        stored = uow.ledger.transaction(posted.id)
    assert stored is not None and stored.postings == (Posting(wallet, -5), Posting(wallet, 5))
    assert ledger.audit_ledger(db).ok


def test_transfers_inside_one_unit_of_work_roll_back_together(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    with db.uow() as uow:
        ledger.record(uow, _request("a", (source, -10), (wallet, 10)))
        ledger.record(uow, _request("b", (source, -20), (wallet, 20)))
        # not committed
    assert _balance(db, wallet) == 0
    with db.uow() as uow:
        ledger.record(uow, _request("a", (source, -10), (wallet, 10)))
        ledger.record(uow, _request("b", (source, -20), (wallet, 20)))
        uow.commit()
    assert _balance(db, wallet) == 30
    assert ledger.audit_ledger(db).ok
