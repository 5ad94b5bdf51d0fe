"""Money that is not a positive whole number of tiyn never reaches the ledger: the request is
refused before anything is written, and the books are exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest

from abonent.core.errors import InvalidAmount, ValidationError
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, Posting, TransactionRequest, transfer_request
from abonent.payments.domain import Channel, TopUpRequest
from tests.factories import add_subscriber, floored_account, system_account
from tests.integration.subscribers.state import database_state

pytestmark = pytest.mark.storage


@pytest.fixture
def funded(db: Database) -> tuple[int, int]:
    bank = system_account(db)
    wallet = floored_account(db, "wallet")
    ledger.post(
        db,
        transfer_request(
            kind="deposit",
            source="tests",
            idempotency_key="fund",
            debit_account_id=bank,
            credit_account_id=wallet,
            amount=10_000,
        ),
    )
    return bank, wallet


@pytest.mark.parametrize("amount", [0, -500, 500.0, 0.5, True, "500", None])
def test_transfer_of_a_bad_amount_is_refused_and_changes_nothing(
    db: Database, funded: tuple[int, int], amount: Any
) -> None:
    bank, wallet = funded
    before = database_state(db)
    with pytest.raises(InvalidAmount):
        ledger.post(
            db,
            transfer_request(
                kind="deposit",
                source="tests",
                idempotency_key="bad",
                debit_account_id=bank,
                credit_account_id=wallet,
                amount=amount,
            ),
        )
    assert database_state(db) == before


@pytest.mark.parametrize(
    ("legs", "error"),
    [
        pytest.param(((-500, 499),), ValidationError, id="unbalanced"),
        pytest.param(((-500, 500.0),), InvalidAmount, id="float-leg"),
        pytest.param(((0, 0),), InvalidAmount, id="zero-legs"),
        pytest.param(((-1, 1.5),), InvalidAmount, id="fractional-tiyn"),
    ],
)
def test_a_malformed_transaction_is_refused_and_changes_nothing(
    db: Database, funded: tuple[int, int], legs: tuple[tuple[Any, Any]], error: type[Exception]
) -> None:
    bank, wallet = funded
    debit, credit = legs[0]
    before = database_state(db)
    with pytest.raises(error):
        ledger.post(
            db,
            TransactionRequest(
                kind="deposit",
                source="tests",
                idempotency_key="bad",
                postings=(Posting(bank, debit), Posting(wallet, credit)),
            ),
        )
    assert database_state(db) == before
    assert ledger.audit_ledger(db).ok


@pytest.mark.parametrize("amount", [0, -20_000, 200.5, False])
def test_a_top_up_of_a_bad_amount_is_refused_before_it_is_made(db: Database, amount: Any) -> None:
    add_subscriber(db, "7071234567", balance=1_000)
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    before = database_state(db)
    with pytest.raises(InvalidAmount):
        TopUpRequest(
            msisdn="+77071234567",
            amount=amount,
            channel=Channel.AGENT,
            source="agent:KASPI",
            external_id="1",
            clearing_account_id=clearing,
        )
    assert database_state(db) == before
