"""Ledger use cases. ``record`` and ``record_batch`` run inside a caller's unit of work (so a
top-up, its credit repayment and its fee are one atomic transaction); ``post`` and ``reverse``
own their unit of work and are exactly-once by (source, idempotency key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy import exc as sa_exc

from abonent.core.errors import (
    AbonentError,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
)
from abonent.core.money import Tiyn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import hooks
from abonent.ledger.domain import (
    AlreadyReversed,
    PostedTransaction,
    TransactionRequest,
    check_floor,
    reversal_request,
)
from abonent.ledger.repository import AuditFigures


def record(uow: UnitOfWork, request: TransactionRequest) -> PostedTransaction:
    """Write ``request`` and move the balances, inside the caller's unit of work.

    Balances change by guarded conditional updates in ascending account order (the same lock
    order everywhere, so concurrent transfers cannot deadlock). On ``InsufficientFunds`` the
    caller must abandon its unit of work: nothing of it may be committed.
    A duplicate key surfaces as the database's IntegrityError; ``Database.run_once`` turns it
    into a replay.
    """
    now = uow.clock.now()
    if uow.connection.dialect.name == "postgresql":
        # Take the accounts' row locks (ascending) before the postings' foreign-key checks add
        # KEY SHARE locks to rows that other transactions are updating: that mix builds
        # multixacts on hot rows, and once made a transfer fail inside PostgreSQL 15 with
        # "new multixact has more than one updating member" under 32 concurrent writers.
        uow.ledger.accounts_by_id({p.account_id for p in request.postings}, lock=True)
    transaction_id = uow.ledger.insert_transaction(request, now)
    net = request.net_by_account()
    refused = uow.ledger.apply_net(net)
    if refused is not None:
        raise InsufficientFunds("the balance is not enough for this operation", account_id=refused)
    if hooks.AFTER_RECORD:
        hooks.run_after_record(uow, net)
    return PostedTransaction(
        id=transaction_id,
        kind=request.kind,
        source=request.source,
        idempotency_key=request.idempotency_key,
        reference=request.reference,
        fingerprint=request.fingerprint,
        created_at=now,
        postings=request.postings,
        reverses_id=request.reverses_id,
    )


def find_replay(uow: UnitOfWork, request: TransactionRequest) -> PostedTransaction | None:
    """The stored answer to an earlier request with the same key, or None.

    Raises ``IdempotencyConflict`` if the key was used for a different request.
    """
    earlier = uow.ledger.find_transaction(request.source, request.idempotency_key)
    if earlier is None:
        return None
    if earlier.fingerprint != request.fingerprint:
        raise IdempotencyConflict(
            "this idempotency key was already used for a different request",
            source=request.source,
            key=request.idempotency_key,
        )
    return replace(earlier, replayed=True)


def post(db: Database, request: TransactionRequest) -> PostedTransaction:
    """Record one transaction in its own database transaction, exactly once per key.

    The insert comes first and the unique (source, key) index answers whether the key is new;
    a repeat fails there, is rolled back, and gets the stored result from ``find_replay``.
    """
    return db.run_once(
        lambda uow: record(uow, request),
        lambda uow: find_replay(uow, request),
        replay_first=False,
    )


def reverse(
    db: Database, transaction_id: int, *, source: str, idempotency_key: str, reason: str
) -> PostedTransaction:
    """Undo a transaction with a new one that negates every posting.

    Allowed only while the money is still there: a reversal that would push a balance below its
    floor is refused with ``InsufficientFunds``. A transaction is reversed at most once: a second
    reversal under another key is refused with ``AlreadyReversed`` (the same key replays).
    """
    with db.reading() as uow:
        original = uow.ledger.transaction(transaction_id)
        earlier = uow.ledger.reversal_of(transaction_id)
    if original is None:
        raise NotFound(f"no ledger transaction {transaction_id}")
    request = reversal_request(
        original, source=source, idempotency_key=idempotency_key, reference=reason
    )
    if earlier is not None and (earlier.source, earlier.idempotency_key) != (
        source,
        idempotency_key,
    ):
        raise _already_reversed(transaction_id, earlier.id)
    try:
        return post(db, request)
    except sa_exc.IntegrityError:
        # A concurrent reversal under another key won the unique index on reverses_id.
        with db.reading() as uow:
            earlier = uow.ledger.reversal_of(transaction_id)
        if earlier is None:
            raise
        raise _already_reversed(transaction_id, earlier.id) from None


def _already_reversed(transaction_id: int, reversal_id: int) -> AlreadyReversed:
    return AlreadyReversed(
        f"transaction {transaction_id} was already reversed by transaction {reversal_id}",
        transaction_id=transaction_id,
        reversal_id=reversal_id,
    )


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One line of a batch: posted (with its id), already there (replay), or refused."""

    request: TransactionRequest
    transaction_id: int | None = None
    replayed: bool = False
    error: AbonentError | None = None

    @property
    def posted(self) -> bool:
        return self.transaction_id is not None and not self.replayed


def record_batch(uow: UnitOfWork, requests: Sequence[TransactionRequest]) -> list[BatchOutcome]:
    """Record many transactions in the caller's unit of work with a few bulk statements.

    Involved accounts are locked in id order, every request is checked against the running
    balances in the given order (a request that would break a floor is refused alone, the
    rest go on), then accepted ones are inserted in bulk and each account's balance moves
    once by its net total. Keys already stored, or repeated inside the batch, are replays.
    Used by renewals, bill runs and agents' group commit, where one commit per item is too slow.
    """
    if not requests:
        return []
    outcomes: list[BatchOutcome | None] = [None] * len(requests)
    stored = _stored_keys(uow, requests)
    seen: dict[tuple[str, str], str] = {}
    account_ids = {p.account_id for r in requests for p in r.postings}
    locked = uow.ledger.accounts_by_id(account_ids, lock=True).values()
    floors = {a.id: a.floor for a in locked}
    running: dict[int, Tiyn] = {a.id: a.balance for a in locked}
    net_total: dict[int, Tiyn] = defaultdict(int)
    accepted: list[int] = []
    for index, request in enumerate(requests):
        key = (request.source, request.idempotency_key)
        earlier = (stored.get(key) if stored else None) or seen.get(key)
        if earlier is not None:
            if earlier == request.fingerprint:
                outcomes[index] = BatchOutcome(request, replayed=True)
            else:
                outcomes[index] = BatchOutcome(
                    request,
                    error=IdempotencyConflict(
                        "this idempotency key was already used for a different request"
                    ),
                )
            continue
        deltas = request.net_by_account()
        refusal = _refusal(deltas, floors, running)
        if refusal is not None:
            outcomes[index] = BatchOutcome(request, error=refusal)
            continue
        seen[key] = request.fingerprint
        for account_id, delta in deltas.items():
            running[account_id] += delta
            net_total[account_id] += delta
        accepted.append(index)
    ids = uow.ledger.insert_transactions([requests[i] for i in accepted], uow.clock.now())
    moved = {a: d for a, d in net_total.items() if d}
    uow.ledger.apply_deltas_unguarded(moved)
    if hooks.AFTER_RECORD and moved:
        hooks.run_after_record(uow, moved)
    for index, transaction_id in zip(accepted, ids, strict=True):
        outcomes[index] = BatchOutcome(requests[index], transaction_id=transaction_id)
    return [o for o in outcomes if o is not None]


def _refusal(
    deltas: dict[int, Tiyn], floors: dict[int, Tiyn | None], running: dict[int, Tiyn]
) -> AbonentError | None:
    """Why ``deltas`` cannot apply to the running balances (unknown account, floor), or None."""
    missing = [a for a in deltas if a not in floors]
    if missing:
        return NotFound(f"no accounts {missing}")
    for account_id, delta in deltas.items():
        if delta < 0 and not check_floor(running[account_id], floors[account_id], delta):
            return InsufficientFunds("the balance is not enough for this operation")
    return None


def _stored_keys(
    uow: UnitOfWork, requests: Sequence[TransactionRequest]
) -> dict[tuple[str, str], str]:
    """(source, key) → stored fingerprint, for the requests' keys already in the ledger."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for request in requests:
        by_source[request.source].append(request.idempotency_key)
    return {
        (source, key): fingerprint
        for source, keys in by_source.items()
        for key, fingerprint in uow.ledger.existing_keys(source, keys).items()
    }


@dataclass(frozen=True)
class AuditReport:
    figures: AuditFigures
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_ledger(db: Database) -> AuditReport:
    """Recompute everything the ledger promises and list every broken promise."""
    with db.reading() as uow:
        figures = uow.ledger.audit_figures()
    problems: list[str] = []
    problems += [f"transaction {t} sums to {s}, not 0" for t, s in figures.unbalanced_transactions]
    problems += [f"transaction {t} has fewer than two postings" for t in figures.short_transactions]
    problems += [
        f"account {code}: stored balance {bal} but postings sum to {posted}"
        for code, bal, posted in figures.drifted_accounts
    ]
    problems += [
        f"account {code}: balance {bal} is below its floor {floor}"
        for code, bal, floor in figures.below_floor
    ]
    if figures.total_balance != 0:
        problems.append(f"all balances sum to {figures.total_balance}, not 0")
    return AuditReport(figures=figures, problems=problems)
