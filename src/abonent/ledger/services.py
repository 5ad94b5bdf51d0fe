"""Ledger use cases. ``record`` and ``record_batch`` run inside a caller's unit of work (so a
top-up, its credit repayment and its fee are one atomic transaction); ``post`` and ``reverse``
own their unit of work and are exactly-once by (source, idempotency key).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial

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
    Account,
    AlreadyReversed,
    PostedTransaction,
    TransactionRequest,
    UnknownAccount,
    check_floor,
    reversal_request,
)
from abonent.ledger.repository import AuditFigures


def record(uow: UnitOfWork, request: TransactionRequest) -> PostedTransaction:
    """Write ``request`` and move the balances, inside the caller's unit of work.

    Balances change by guarded conditional updates in ascending account order (the same lock
    order everywhere, so concurrent transfers cannot deadlock). On ``InsufficientFunds`` the
    caller must abandon its unit of work: nothing of it may be committed; the same for
    ``UnknownAccount`` (a posting to an account that does not exist).
    A duplicate key surfaces as the database's IntegrityError; ``Database.run_once`` turns it
    into a replay.
    """
    now = uow.clock.now()
    repository = uow.ledger
    postgresql = repository.postgresql
    if postgresql:
        # Take the accounts' row locks (ascending) before the postings' foreign-key checks add
        # KEY SHARE locks to rows that other transactions are updating: that mix builds
        # multixacts on hot rows, and once made a transfer fail inside PostgreSQL 15 with
        # "new multixact has more than one updating member" under 32 concurrent writers.
        wanted = {p.account_id for p in request.postings}
        locked = repository.accounts_by_id(wanted, lock=True)
        if len(locked) < len(wanted):
            raise _unknown_accounts(wanted - locked.keys())
    try:
        transaction_id, refused = repository.record_transaction(request, now)
    except sa_exc.IntegrityError:
        # PostgreSQL checked the accounts above, and its failed statement aborted the
        # transaction: nothing more can be asked there.
        if not postgresql:
            _check_accounts_after_failed_insert(uow, request)
        raise
    if refused is not None:
        raise InsufficientFunds("the balance is not enough for this operation", account_id=refused)
    if hooks.AFTER_RECORD:
        hooks.run_after_record(uow, request.net_by_account())
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


def _check_accounts_after_failed_insert(uow: UnitOfWork, request: TransactionRequest) -> None:
    """SQLite: raise ``UnknownAccount`` if the insert failed on a posting's foreign key rather
    than on a repeated key. A SQLite transaction stays usable after a failed statement, so this
    costs nothing on the path that succeeds."""
    wanted = {p.account_id for p in request.postings}
    missing = wanted - uow.ledger.accounts_by_id(wanted).keys()
    if missing:
        raise _unknown_accounts(missing) from None


def _unknown_accounts(missing: set[int]) -> UnknownAccount:
    return UnknownAccount(f"no accounts {sorted(missing)}", account_ids=sorted(missing))


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
    # ``partial`` rather than lambdas: one Python call less on the way to ``record``.
    return db.run_once(
        partial(record, request=request),
        partial(find_replay, request=request),
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


def record_batch(
    uow: UnitOfWork, requests: Sequence[TransactionRequest], *, replays_checked: bool = False
) -> list[BatchOutcome]:
    """Record many transactions in the caller's unit of work with a few bulk statements.

    Involved accounts are locked in id order, every request is checked against the running
    balances in the given order (a request that would break a floor is refused alone, the
    rest go on), then accepted ones are inserted in bulk and each account's balance moves
    once by its net total. Keys already stored, or repeated inside the batch, are replays.
    Used by renewals, bill runs and agents' group commit, where one commit per item is too slow.

    Everything that does not depend on balances is worked out before the accounts are locked,
    and when every account can bear all of the batch's debits at once (the usual case) no
    request is checked one by one: concurrent batches queue on those locks, so the work done
    while holding them is what limits them.

    ``replays_checked``: the caller has answered its repeats already, from its own records
    written in the same transactions as these keys (an agent's payments), so the keys are not
    looked up here; one stored anyway (a twin committed meanwhile) fails the insert with the
    unique index's ``IntegrityError``, for the caller to undo and settle again. On PostgreSQL
    the lookup is a round trip (≈ 3 % of an agents' batch).
    """
    if not requests:
        return []
    # Which keys are stored is not asked first: the early insert's unique index answers that
    # anyway (the query cost ≈ 10 % of a batch's server time, measured). A stored key fails
    # that insert; then the keys are asked, and the rest tried again the same way.
    stored: dict[tuple[str, str], str] = {}
    written = _write_before_locking(uow, requests, stored)
    if written is None and not replays_checked:
        stored = uow.ledger.stored_fingerprints((r.source, r.idempotency_key) for r in requests)
        if stored:
            written = _write_before_locking(uow, requests, stored)
    if written is not None:
        plan, ids = written
        accepted, moved = plan.candidates, {a: d for a, d in plan.net.items() if d}
        uow.ledger.apply_deltas_unguarded(moved)
    else:
        plan = _plan(requests, stored)
        account_ids = {p.account_id for r in requests for p in r.postings}
        locked = uow.ledger.accounts_by_id(account_ids, lock=True)
        if _all_fit(plan, locked):
            accepted, moved = plan.candidates, {a: d for a, d in plan.net.items() if d}
        else:
            accepted, moved = _check_one_by_one(requests, plan, locked)
        ids = uow.ledger.write_batch([requests[i] for i in accepted], uow.clock.now(), moved)
    if hooks.AFTER_RECORD and moved:
        hooks.run_after_record(uow, moved)
    outcomes = plan.outcomes
    for index, transaction_id in zip(accepted, ids, strict=True):
        outcomes[index] = BatchOutcome(requests[index], transaction_id=transaction_id)
    return [o for o in outcomes if o is not None]


# PostgreSQL batches at least this long insert their rows before locking their accounts.
EARLY_WRITE_MIN_BATCH = 64


def _write_before_locking(
    uow: UnitOfWork,
    requests: Sequence[TransactionRequest],
    stored: dict[tuple[str, str], str],
) -> tuple[_BatchPlan, list[int]] | None:
    """PostgreSQL, a large batch: insert every candidate's transaction and postings first, then
    lock the accounts and check that all of them fit; the plan and the new ids, or None
    (nothing written, no lock kept) when one might not, when a key is stored but not in
    ``stored``, on SQLite and for small batches.

    Concurrent batches over the same accounts queue on those rows' locks until each commits.
    Holding them only for the check, the balances and the commit, not for the inserts (most of
    a batch's server time), lets the batches' inserts run side by side. The inserts' foreign-key
    checks take KEY SHARE locks on the accounts, which FOR NO KEY UPDATE does not wait for. A
    key that a concurrent batch is inserting makes this insert wait for that batch's end, then
    fail if it committed. The savepoint costs two round trips: worth it only when the batch is
    long enough for its inserts to matter.
    """
    if not (uow.ledger.postgresql and len(requests) >= EARLY_WRITE_MIN_BATCH):
        return None
    plan = _plan(requests, stored)
    if len(plan.candidates) < EARLY_WRITE_MIN_BATCH:
        return None
    savepoint = uow.connection.begin_nested()
    try:
        ids = uow.ledger.insert_transactions(
            [requests[i] for i in plan.candidates], uow.clock.now()
        )
        fit = uow.ledger.lock_if_all_fit(plan.net.keys(), plan.debits)
    except sa_exc.IntegrityError:
        # A stored key, or an unknown account: the usual path sorts them out.
        savepoint.rollback()
        return None
    except BaseException:
        savepoint.rollback()
        raise
    if not fit:
        savepoint.rollback()  # its row locks go too: the caller locks and checks one by one
        return None
    savepoint.commit()
    return plan, ids


@dataclass(slots=True)
class _BatchPlan:
    """A batch before its balances are known: what is a replay or a conflict, and what the
    new requests (the candidates, in order) would do if all of them were accepted."""

    outcomes: list[BatchOutcome | None]
    stored: dict[tuple[str, str], str]
    candidates: list[int] = field(default_factory=list)
    net: dict[int, Tiyn] = field(default_factory=lambda: defaultdict(int))
    debits: dict[int, Tiyn] = field(default_factory=lambda: defaultdict(int))  # ≤ 0 each


def _plan(requests: Sequence[TransactionRequest], stored: dict[tuple[str, str], str]) -> _BatchPlan:
    plan = _BatchPlan([None] * len(requests), stored)
    seen: dict[tuple[str, str], str] = {}
    net, debits = plan.net, plan.debits
    for index, request in enumerate(requests):
        key = (request.source, request.idempotency_key)
        earlier = (stored.get(key) if stored else None) or seen.get(key)
        if earlier is not None:
            plan.outcomes[index] = _repeat(request, earlier)
            continue
        seen[key] = request.fingerprint
        plan.candidates.append(index)
        for account_id, delta in request.net_by_account().items():
            net[account_id] += delta
            if delta < 0:
                debits[account_id] += delta
    return plan


def _repeat(request: TransactionRequest, stored_fingerprint: str) -> BatchOutcome:
    if stored_fingerprint == request.fingerprint:
        return BatchOutcome(request, replayed=True)
    return BatchOutcome(
        request,
        error=IdempotencyConflict("this idempotency key was already used for a different request"),
    )


def _all_fit(plan: _BatchPlan, locked: dict[int, Account]) -> bool:
    """Whether every candidate can be accepted without checking them one by one: all their
    accounts exist, and each floored account stays at or above its floor even if all of its
    debits came before any of its credits."""
    if any(account_id not in locked for account_id in plan.net):
        return False
    for account_id, debit in plan.debits.items():
        account = locked[account_id]
        if account.floor is not None and account.balance + debit < account.floor:
            return False
    return True


def _check_one_by_one(
    requests: Sequence[TransactionRequest], plan: _BatchPlan, locked: dict[int, Account]
) -> tuple[list[int], dict[int, Tiyn]]:
    """Check the requests in order against the running balances: a refused request is refused
    alone (and its key stays free for a later request of the batch). Fills ``plan.outcomes``
    for replays, conflicts and refusals; returns the accepted indexes and the net changes."""
    outcomes, stored = plan.outcomes, plan.stored
    seen: dict[tuple[str, str], str] = {}
    floors = {a.id: a.floor for a in locked.values()}
    running: dict[int, Tiyn] = {a.id: a.balance for a in locked.values()}
    net_total: dict[int, Tiyn] = defaultdict(int)
    accepted: list[int] = []
    for index, request in enumerate(requests):
        key = (request.source, request.idempotency_key)
        earlier = (stored.get(key) if stored else None) or seen.get(key)
        if earlier is not None:
            outcomes[index] = _repeat(request, earlier)
            continue
        deltas = request.net_by_account()
        refusal = _refusal(deltas, floors, running)
        if refusal is not None:
            outcomes[index] = BatchOutcome(request, error=refusal)
            continue
        outcomes[index] = None  # the plan may have marked a later repeat of a refused key
        seen[key] = request.fingerprint
        for account_id, delta in deltas.items():
            running[account_id] += delta
            net_total[account_id] += delta
        accepted.append(index)
    return accepted, {a: d for a, d in net_total.items() if d}


def _refusal(
    deltas: dict[int, Tiyn], floors: dict[int, Tiyn | None], running: dict[int, Tiyn]
) -> AbonentError | None:
    """Why ``deltas`` cannot apply to the running balances (unknown account, floor), or None."""
    missing = {a for a in deltas if a not in floors}
    if missing:
        return _unknown_accounts(missing)
    for account_id, delta in deltas.items():
        if delta < 0 and not check_floor(running[account_id], floors[account_id], delta):
            return InsufficientFunds("the balance is not enough for this operation")
    return None


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
    problems += [
        f"posting {posting} (transaction {transaction}, account {account}) names a missing"
        " transaction or account"
        for posting, transaction, account in figures.orphan_postings
    ]
    if figures.total_balance != 0:
        problems.append(f"all balances sum to {figures.total_balance}, not 0")
    return AuditReport(figures=figures, problems=problems)
