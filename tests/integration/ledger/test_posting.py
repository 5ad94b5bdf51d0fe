"""The ledger on a real database: exactly-once posting, floors, reversals, audit."""

from __future__ import annotations

import pytest

from abonent.core.errors import IdempotencyConflict, InsufficientFunds, NotFound
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import (
    AlreadyReversed,
    UnknownAccount,
)
from tests.factories import floored_account, system_account, transfer

pytestmark = pytest.mark.storage


def balance(db: Database, account_id: int) -> int:
    with db.reading() as uow:
        account = uow.ledger.account(account_id)
    assert account is not None
    return account.balance


def test_transfer_moves_money_and_keeps_audit_clean(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    posted = ledger.post(db, transfer(source, wallet, 500, "k1"))
    assert not posted.replayed
    assert balance(db, wallet) == 500
    assert balance(db, source) == -500
    assert ledger.audit_ledger(db).ok


def test_repeated_key_moves_money_once_and_returns_first_result(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    first = ledger.post(db, transfer(source, wallet, 500, "same"))
    again = ledger.post(db, transfer(source, wallet, 500, "same"))
    assert again.replayed and again.id == first.id
    assert balance(db, wallet) == 500


def test_same_key_with_another_amount_is_a_conflict_and_changes_nothing(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    ledger.post(db, transfer(source, wallet, 500, "same"))
    with pytest.raises(IdempotencyConflict):
        ledger.post(db, transfer(source, wallet, 501, "same"))
    assert balance(db, wallet) == 500


def test_debit_below_floor_is_refused_and_nothing_is_written(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    other = floored_account(db, "w2")
    ledger.post(db, transfer(source, wallet, 100, "fund"))
    with pytest.raises(InsufficientFunds):
        ledger.post(db, transfer(wallet, other, 101, "too-much"))
    assert balance(db, wallet) == 100
    assert balance(db, other) == 0
    with db.reading() as uow:
        assert uow.ledger.find_transaction("tests", "too-much") is None
    assert ledger.audit_ledger(db).ok


def test_reversal_undoes_once_and_only_while_money_is_there(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    other = floored_account(db, "w2")
    paid = ledger.post(db, transfer(source, wallet, 300, "pay"))
    ledger.post(db, transfer(wallet, other, 200, "spend"))
    with pytest.raises(InsufficientFunds):
        ledger.reverse(db, paid.id, source="tests", idempotency_key="rev1", reason="wrong number")
    ledger.post(db, transfer(other, wallet, 200, "back"))
    reversal = ledger.reverse(db, paid.id, source="tests", idempotency_key="rev2", reason="x")
    assert reversal.reverses_id == paid.id
    assert balance(db, wallet) == 0
    again = ledger.reverse(db, paid.id, source="tests", idempotency_key="rev2", reason="x")
    assert again.replayed and again.id == reversal.id
    with pytest.raises(NotFound):
        ledger.reverse(db, 999_999, source="tests", idempotency_key="rev3", reason="x")
    assert ledger.audit_ledger(db).ok


def test_posting_to_an_account_that_does_not_exist_is_unknown_account_and_stores_nothing(
    db: Database,
) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    ledger.post(db, transfer(source, wallet, 500, "fund"))
    with pytest.raises(UnknownAccount) as refused:
        ledger.post(db, transfer(wallet, 999_999, 100, "to-nowhere"))
    assert isinstance(refused.value, NotFound)
    assert refused.value.details["account_ids"] == [999_999]
    assert balance(db, wallet) == 500
    with db.reading() as uow:
        assert uow.ledger.find_transaction("tests", "to-nowhere") is None
    # the key is still free: the same transfer to an account that exists goes through
    assert not ledger.post(db, transfer(wallet, source, 100, "to-nowhere")).replayed
    assert ledger.audit_ledger(db).ok


def test_record_to_an_unknown_account_inside_a_unit_of_work_is_unknown_account(
    db: Database,
) -> None:
    source = system_account(db)
    with pytest.raises(UnknownAccount), db.uow() as uow:
        ledger.record(uow, transfer(source, 999_999, 100, "in-uow"))
        uow.commit()
    assert balance(db, source) == 0


def test_many_unreversed_transactions_and_each_reversed_at_most_once(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    paid = [ledger.post(db, transfer(source, wallet, 10, f"p{i}")) for i in range(3)]
    for posted in paid:  # every reverses_id NULL until here, and then distinct
        ledger.reverse(db, posted.id, source="tests", idempotency_key=f"r{posted.id}", reason="x")
    with pytest.raises(AlreadyReversed):
        ledger.reverse(db, paid[0].id, source="tests", idempotency_key="again", reason="x")
    assert balance(db, wallet) == 0
    assert ledger.audit_ledger(db).ok


def test_batch_refuses_only_the_lines_that_break_a_floor(db: Database) -> None:
    source = system_account(db)
    wallet = floored_account(db, "w1")
    revenue = system_account(db, "revenue")
    ledger.post(db, transfer(source, wallet, 1000, "fund"))
    requests = [transfer(wallet, revenue, 400, f"fee{i}") for i in range(3)]
    requests.append(transfer(wallet, revenue, 400, "fee0"))  # repeated inside the batch
    with db.uow() as uow:
        outcomes = ledger.record_batch(uow, requests)
        uow.commit()
    assert [o.posted for o in outcomes] == [True, True, False, False]
    assert isinstance(outcomes[2].error, InsufficientFunds)
    assert outcomes[3].replayed
    assert balance(db, wallet) == 200
    assert ledger.audit_ledger(db).ok
