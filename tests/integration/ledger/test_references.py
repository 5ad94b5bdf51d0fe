"""Postings name an existing account and transaction, and the ledger's rows stay as written.

SQLite checks the references with its foreign keys; PostgreSQL with one trigger a statement
(migration 0014), which also makes the ledger append-only there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.tables import accounts, ledger_transactions, postings
from tests.conftest import reset_database
from tests.factories import floored_account, system_account, transfer

pytestmark = pytest.mark.storage

MISSING = 999_999_999


def _ledger(db: Database) -> tuple[int, int, list[tuple[int, int]]]:
    """(transactions, postings, [(account id, balance)]): what a refused write must not change."""
    with db.reading() as uow:
        conn = uow.connection
        counted = [
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (ledger_transactions, postings)
        ]
        balances = conn.execute(sa.select(accounts.c.id, accounts.c.balance).order_by("id"))
        return counted[0], counted[1], [(int(i), int(b)) for i, b in balances]


def _one_transfer(db: Database) -> tuple[int, int, int]:
    """A funded wallet after one transfer: (source account, wallet, the transfer's id)."""
    source, wallet = system_account(db), floored_account(db, "wallet")
    posted = ledger.post(db, transfer(source, wallet, 500, "fund", "refs"))
    return source, wallet, posted.id


@pytest.mark.parametrize("missing", ["account", "transaction"])
def test_a_posting_naming_what_does_not_exist_is_refused_and_changes_nothing(
    db: Database, missing: str
) -> None:
    # Given a ledger with one transfer
    source, wallet, transaction_id = _one_transfer(db)
    before = _ledger(db)
    account_id = MISSING if missing == "account" else wallet
    named_transaction = MISSING if missing == "transaction" else transaction_id

    # When two legs go in with one statement, one of them naming a missing row
    rows = [
        {"transaction_id": transaction_id, "account_id": source, "amount": -1},
        {"transaction_id": named_transaction, "account_id": account_id, "amount": 1},
    ]
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(postings.insert(), rows)

    # Then the statement is refused whole
    assert _ledger(db) == before


def test_a_batch_that_names_a_missing_account_writes_only_its_good_lines(db: Database) -> None:
    # Given a funded wallet, and a batch long enough to be written before its accounts are locked
    source, wallet, _ = _one_transfer(db)
    good = [
        transfer(wallet, source, 1, f"good-{n}", "refs")
        for n in range(ledger.EARLY_WRITE_MIN_BATCH)
    ]
    bad = transfer(wallet, MISSING, 1, "bad", "refs")

    # When it is recorded
    with db.uow() as uow:
        outcomes = ledger.record_batch(uow, [*good, bad])
        uow.commit()

    # Then the line naming the missing account is refused alone and the rest are stored
    assert [o.transaction_id is not None for o in outcomes] == [True] * len(good) + [False]
    with db.reading() as uow:
        balance = uow.ledger.accounts_by_id([wallet])[wallet].balance
    assert balance == 500 - len(good)


@pytest.fixture
def pg_db(postgres_url: str, clock: FrozenClock) -> Iterator[Database]:
    engine = create_engine(postgres_url)
    reset_database(engine)
    yield Database(engine, clock)
    engine.dispose()


REWRITES = [
    pytest.param("DELETE FROM postings", id="delete-postings"),
    pytest.param("DELETE FROM ledger_transactions", id="delete-transactions"),
    pytest.param("DELETE FROM accounts WHERE code = 'wallet'", id="delete-account"),
    pytest.param("UPDATE postings SET amount = amount * 2", id="update-postings"),
    pytest.param("UPDATE ledger_transactions SET reference = 'x'", id="update-transactions"),
    pytest.param("UPDATE accounts SET id = id + 1000 WHERE code = 'wallet'", id="account-id"),
]


@pytest.mark.parametrize("statement", REWRITES)
def test_postgresql_refuses_every_rewrite_of_the_ledger(pg_db: Database, statement: str) -> None:
    # Given a ledger with one transfer (on PostgreSQL no foreign key guards its rows)
    _one_transfer(pg_db)
    before = _ledger(pg_db)

    # When a statement would delete or rewrite its rows
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), pg_db.engine.begin() as conn:
        conn.execute(sa.text(statement))

    # Then it is refused and nothing changed
    assert _ledger(pg_db) == before


def test_postgresql_still_moves_balances(pg_db: Database) -> None:
    # Given a ledger with one transfer
    _, wallet, _ = _one_transfer(pg_db)

    # When a balance (not an id) is updated, as every posting does
    with pg_db.engine.begin() as conn:
        conn.execute(
            accounts.update().where(accounts.c.id == wallet).values(balance=accounts.c.balance)
        )

    # Then it is allowed
    assert dict(_ledger(pg_db)[2])[wallet] == 500


def _scans(conn: sa.Connection) -> dict[str, tuple[int, int]]:
    """(sequential scans, index scans) of the referenced tables in this transaction so far."""
    found = conn.execute(
        sa.text(
            "SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables"
            " WHERE relname IN ('accounts', 'ledger_transactions')"
        )
    )
    return {str(name): (int(seq), int(idx or 0)) for name, seq, idx in found}


def test_postgresql_checks_new_postings_through_the_primary_keys(pg_db: Database) -> None:
    # Given a ledger with one transfer (tables this small invite a plan that reads them whole)
    source, wallet, transaction_id = _one_transfer(pg_db)

    # When legs go in with one statement
    with pg_db.engine.begin() as conn:
        before = _scans(conn)
        conn.execute(
            postings.insert(),
            [
                {"transaction_id": transaction_id, "account_id": source, "amount": -1},
                {"transaction_id": transaction_id, "account_id": wallet, "amount": 1},
            ],
        )
        after = _scans(conn)
        conn.rollback()

    # Then the check probed each referenced table's index and scanned neither table whole
    for table in ("accounts", "ledger_transactions"):
        seq_before, idx_before = before.get(table, (0, 0))
        seq_after, idx_after = after[table]
        assert seq_after == seq_before, table
        assert idx_after > idx_before, table
