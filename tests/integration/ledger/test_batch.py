"""``record_batch`` (bulk statements) must leave the ledger exactly as ``record`` one by one."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from abonent.core.errors import IdempotencyConflict, InsufficientFunds
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import Posting, TransactionRequest, UnknownAccount
from abonent.ledger.tables import ledger_transactions
from tests.factories import floored_account, system_account, transfer

pytestmark = pytest.mark.storage


@pytest.fixture(autouse=True, params=["lock first", "write first"])
def batch_order(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice on PostgreSQL: with the accounts locked before the rows are written
    (small batches) and after (``EARLY_WRITE_MIN_BATCH``: large ones). SQLite has one order."""
    first = 1 if request.param == "write first" else 1_000_000
    monkeypatch.setattr(ledger, "EARLY_WRITE_MIN_BATCH", first)
    return str(request.param)


def _balances(db: Database, ids: list[int]) -> list[int]:
    with db.reading() as uow:
        found = uow.ledger.accounts_by_id(ids)
    return [found[i].balance for i in ids]


def _wallets(db: Database, prefix: str, funding: int) -> list[int]:
    wallets = [floored_account(db, f"{prefix}{i}") for i in range(5)]
    for wallet in wallets:
        ledger.post(db, transfer(funding, wallet, 1_000, f"fund-{prefix}-{wallet}", "fund"))
    return wallets


def test_batch_gives_the_same_ledger_as_recording_one_by_one(db: Database) -> None:
    # Given two identical sets of floored wallets, funded alike
    funding = system_account(db)
    batched, single = _wallets(db, "b", funding), _wallets(db, "s", funding)
    rng = random.Random(7)
    moves = [(*rng.sample(range(5), 2), rng.randint(1, 700)) for _ in range(60)]
    keys = [f"k{n}" for n in range(60)]
    moves.append(moves[3])  # the same key twice: the second is a replay
    keys.append(keys[3])

    # When the same transfers go through record_batch on one set and record on the other
    requests = [
        transfer(batched[a], batched[b], amount, key, "batch")
        for key, (a, b, amount) in zip(keys, moves, strict=True)
    ]
    with db.uow() as uow:
        outcomes = ledger.record_batch(uow, requests)
        uow.commit()
    single_posted: list[bool] = []
    for n, (key, (a, b, amount)) in enumerate(zip(keys, moves, strict=True)):
        try:
            posted = ledger.post(db, transfer(single[a], single[b], amount, key, "single"))
            single_posted.append(True)
        except InsufficientFunds:
            single_posted.append(False)
        else:
            assert posted.replayed == (n == len(moves) - 1)

    # Then the same lines are posted (or refused), the balances match, and each stored
    # transaction holds its own request's key and legs
    assert [o.posted for o in outcomes][:-1] == single_posted[:-1]
    assert outcomes[-1].replayed
    assert any(not p for p in single_posted)  # the run did reach a floor
    assert _balances(db, batched) == _balances(db, single)
    ids = [o.transaction_id for o in outcomes if o.transaction_id is not None and o.posted]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    with db.reading() as uow:
        for outcome in outcomes:
            if outcome.posted:
                assert outcome.transaction_id is not None
                stored = uow.ledger.transaction(outcome.transaction_id)
                assert stored is not None
                assert stored.idempotency_key == outcome.request.idempotency_key
                assert stored.postings == outcome.request.postings
                assert stored.fingerprint == outcome.request.fingerprint
    assert ledger.audit_ledger(db).ok


def test_batch_replays_stored_keys_and_refuses_conflicting_ones(db: Database) -> None:
    funding = system_account(db)
    wallet = floored_account(db, "w")
    ledger.post(db, transfer(funding, wallet, 500, "k1", "tests"))
    ledger.post(db, transfer(funding, wallet, 500, "k2", "tests"))
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow,
            [
                transfer(funding, wallet, 500, "k1", "tests"),  # the same request again
                transfer(funding, wallet, 999, "k2", "tests"),  # the key with another amount
                transfer(funding, wallet, 100, "k3", "tests"),
            ],
        )
        uow.commit()
    assert outcomes[0].replayed and not outcomes[0].posted
    assert isinstance(outcomes[1].error, IdempotencyConflict)
    assert outcomes[2].posted
    assert _balances(db, [wallet]) == [1_100]
    assert ledger.audit_ledger(db).ok


def test_batch_tells_stored_keys_apart_by_source(db: Database) -> None:
    # Given key "k1" stored under source "a" and key "k2" under source "b"
    funding = system_account(db)
    wallet = floored_account(db, "w")
    ledger.post(db, transfer(funding, wallet, 500, "k1", "a"))
    ledger.post(db, transfer(funding, wallet, 500, "k2", "b"))

    # When one batch sends both again, each key under the other source too, and a new pair
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow,
            [
                transfer(funding, wallet, 500, "k1", "a"),
                transfer(funding, wallet, 7, "k1", "b"),
                transfer(funding, wallet, 500, "k2", "b"),
                transfer(funding, wallet, 11, "k2", "a"),
                transfer(funding, wallet, 13, "k3", "c"),
            ],
        )
        uow.commit()

    # Then only the pairs stored as they are replay; the same keys under other sources post
    assert [o.replayed for o in outcomes] == [True, False, True, False, False]
    assert [o.posted for o in outcomes] == [False, True, False, True, True]
    assert _balances(db, [wallet]) == [1_000 + 7 + 11 + 13]
    assert ledger.audit_ledger(db).ok


def test_a_batch_whose_replays_the_caller_checked_fails_whole_on_a_stored_key(
    db: Database,
) -> None:
    # Given a stored key
    funding = system_account(db)
    wallet = floored_account(db, "w")
    ledger.post(db, transfer(funding, wallet, 500, "k1", "tests"))

    # When a caller that answered its repeats itself sends it again among new keys
    with pytest.raises(sa.exc.IntegrityError), db.uow() as uow:
        ledger.record_batch(
            uow,
            [
                transfer(funding, wallet, 100, "k2", "tests"),
                transfer(funding, wallet, 500, "k1", "tests"),
            ],
            replays_checked=True,
        )

    # Then the unique index refuses the batch (the caller undoes it) and nothing moved,
    # while new keys alone post as usual
    assert _balances(db, [wallet]) == [500]
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow, [transfer(funding, wallet, 100, "k2", "tests")], replays_checked=True
        )
        uow.commit()
    assert [o.posted for o in outcomes] == [True]
    assert _balances(db, [wallet]) == [600]
    assert ledger.audit_ledger(db).ok


def test_an_abandoned_batch_leaves_nothing_and_the_next_one_posts(db: Database) -> None:
    funding = system_account(db)
    wallet = floored_account(db, "w")
    requests = [transfer(funding, wallet, 10, f"k{i}", "tests") for i in range(5)]
    with db.uow() as uow:
        assert all(o.posted for o in ledger.record_batch(uow, requests))
        # not committed: the unit of work rolls back
    with db.reading() as uow:
        count = uow.connection.execute(
            sa.select(sa.func.count()).select_from(ledger_transactions)
        ).scalar_one()
    assert count == 0
    with db.uow() as uow:
        outcomes = ledger.record_batch(uow, requests)
        uow.commit()
    assert all(o.posted for o in outcomes)
    assert _balances(db, [wallet]) == [50]
    assert ledger.audit_ledger(db).ok


def _stored_as_requested(db: Database, outcomes: list[ledger.BatchOutcome]) -> bool:
    with db.reading() as uow:
        for outcome in outcomes:
            if outcome.posted:
                assert outcome.transaction_id is not None
                stored = uow.ledger.transaction(outcome.transaction_id)
                if stored is None or (
                    stored.source,
                    stored.idempotency_key,
                    stored.postings,
                ) != (
                    outcome.request.source,
                    outcome.request.idempotency_key,
                    outcome.request.postings,
                ):
                    return False
    return True


def test_a_batch_that_fits_keeps_every_transactions_own_legs(db: Database) -> None:
    # Given wallets with room for every debit of the batch at once (no line checked alone)
    funding = system_account(db)
    wallets = _wallets(db, "w", funding)
    rng = random.Random(11)
    requests: list[TransactionRequest] = []
    for n in range(40):
        a, b, c = rng.sample(wallets, 3)
        if n % 3 == 0:  # three legs, and keys of two sources interleaved
            legs = (Posting(a, -5), Posting(b, 2), Posting(c, 3))
            requests.append(TransactionRequest("split", "other", f"k{n}", legs))
        else:
            requests.append(transfer(a, b, rng.randint(1, 20), f"k{n}", "tests"))
    requests.append(requests[5])  # a repeat inside the batch: a replay

    # When it is recorded
    with db.uow() as uow:
        outcomes = ledger.record_batch(uow, requests)
        uow.commit()

    # Then each stored transaction has its own request's key and legs, in request order
    assert [o.posted for o in outcomes] == [True] * 40 + [False]
    assert outcomes[-1].replayed
    ids = [o.transaction_id for o in outcomes[:-1]]
    assert ids == sorted(ids)
    assert _stored_as_requested(db, outcomes)
    assert sum(_balances(db, wallets)) == 5_000
    assert ledger.audit_ledger(db).ok


def test_a_refused_line_leaves_its_key_to_a_later_line_of_the_batch(db: Database) -> None:
    funding = system_account(db)
    wallet, other = floored_account(db, "w"), floored_account(db, "o")
    ledger.post(db, transfer(funding, wallet, 100, "fund", "tests"))
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow,
            [
                transfer(wallet, other, 500, "k", "tests"),  # beyond the floor: refused
                transfer(wallet, other, 60, "k", "tests"),  # the key again, another request
                transfer(wallet, other, 60, "k2", "tests"),  # now beyond the floor
            ],
        )
        uow.commit()
    assert isinstance(outcomes[0].error, InsufficientFunds)
    assert outcomes[1].posted
    assert isinstance(outcomes[2].error, InsufficientFunds)
    assert _balances(db, [wallet, other]) == [40, 60]
    assert _stored_as_requested(db, outcomes)


def test_a_line_naming_an_unknown_account_is_refused_alone(db: Database) -> None:
    funding = system_account(db)
    wallet = floored_account(db, "w")
    with db.uow() as uow:
        outcomes = ledger.record_batch(
            uow,
            [
                transfer(funding, 999_999, 10, "k1", "tests"),
                transfer(funding, wallet, 10, "k2", "tests"),
            ],
        )
        uow.commit()
    assert isinstance(outcomes[0].error, UnknownAccount)
    assert outcomes[1].posted
    assert _balances(db, [wallet]) == [10]
    assert ledger.audit_ledger(db).ok


def test_the_lock_answers_whether_every_debit_fits_its_floor(db: Database) -> None:
    funding = system_account(db)
    wallet = floored_account(db, "w")
    ledger.post(db, transfer(funding, wallet, 100, "fund", "tests"))
    with db.uow() as uow:
        assert uow.ledger.lock_if_all_fit([funding, wallet], {wallet: -100, funding: -(10**9)})
        assert not uow.ledger.lock_if_all_fit([funding, wallet], {wallet: -101})
        assert not uow.ledger.lock_if_all_fit([wallet, 999_999], {wallet: -1})
