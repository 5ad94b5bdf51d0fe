"""Agent use cases: register and list agents, answer check / pay / cancel, reconcile registries.

``pay`` is exactly once per (agent, txn_id): it credits through ``payments.credit_topup`` and
writes the agent-payment row in the same unit of work under ``Database.run_once``, so concurrent
twins settle on the unique indexes and every repeat gets the first answer back. A repeat with
another account or sum changes nothing, raises ``PaymentConflict`` and leaves an alert (a log
warning and an audit row).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import cast

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import exc as sa_exc

from abonent.agents.domain import (
    DEFAULT_MAX_SUM,
    DEFAULT_MIN_SUM,
    Agent,
    AgentCall,
    AgentCallError,
    AgentPayment,
    AgentPaymentStatus,
    Answer,
    Command,
    Outcome,
    PaymentConflict,
    call_fingerprint,
    check_limits,
    check_password,
    clean_cidrs,
    clean_code,
    parse_dialect,
)
from abonent.agents.protocols import day_of
from abonent.agents.reconciliation import ReconciliationReport, RegistryLine, compare
from abonent.agents.repository import SqlAgentRepository, SubscriberStatusReader
from abonent.core.errors import (
    AbonentError,
    AlreadyExists,
    IdempotencyConflict,
    InsufficientFunds,
    NotFound,
    StorageUnavailable,
    ValidationError,
)
from abonent.core.money import Tiyn
from abonent.db.bulk_rows import deferred_inserts
from abonent.db.uow import STORAGE_ERRORS, Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, reversal_request
from abonent.payments.batch import BatchNotApplicable, credit_topups
from abonent.payments.domain import (
    Channel,
    Payment,
    PaymentStatus,
    SubscriberClosed,
    TopUpRequest,
)
from abonent.payments.services import credit_topup, payments_of
from abonent.subscribers.domain import SubscriberStatus, clean_name
from abonent.subscribers.services import system_account

log = structlog.get_logger("abonent.agents")

# argon2id with the library's defaults; tests swap in cheaper parameters.
HASHER = PasswordHasher()


def agents_of(uow: UnitOfWork) -> SqlAgentRepository:
    return SqlAgentRepository(uow.connection)


# -- registering agents ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAgent:
    code: str
    name: str
    protocol: str
    password: str | None = None
    allow_ips: tuple[str, ...] = ()
    min_sum: Tiyn = DEFAULT_MIN_SUM
    max_sum: Tiyn = DEFAULT_MAX_SUM


def add_agent(db: Database, new: NewAgent, *, actor: str) -> Agent:
    """Register an agent with its clearing account ``system:agent_clearing:<CODE>``."""
    code = clean_code(new.code)
    name = clean_name(new.name)
    dialect = parse_dialect(new.protocol)
    cidrs = clean_cidrs(new.allow_ips)
    if new.password is None and not cidrs:
        raise ValidationError("an agent needs a password, an address allowlist, or both")
    password_hash = HASHER.hash(check_password(new.password)) if new.password else None
    check_limits(new.min_sum, new.max_sum)
    with db.uow() as uow:
        repo = agents_of(uow)
        if repo.by_code(code) is not None:
            raise AlreadyExists(f"agent {code} already exists")
        now = uow.clock.now()
        clearing = system_account(uow, AccountKind.AGENT_CLEARING, code)
        agent_id = repo.insert_agent(
            code=code,
            name=name,
            dialect=dialect,
            password_hash=password_hash,
            allow_ips=cidrs,
            min_sum=new.min_sum,
            max_sum=new.max_sum,
            clearing_account_id=clearing,
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=actor,
            action="agent.added",
            subject=f"agent:{code}",
            details={
                "dialect": dialect.value,
                "allow_ips": list(cidrs),
                "min_sum": new.min_sum,
                "max_sum": new.max_sum,
                "password": password_hash is not None,
            },
        )
        agent = repo.by_code(code)
        uow.commit()
    assert agent is not None and agent.id == agent_id
    return agent


def list_agents(db: Database) -> list[tuple[Agent, Tiyn]]:
    """Every agent with the balance of its clearing account (minus what it has paid in)."""
    with db.reading() as uow:
        found = agents_of(uow).all()
        balances = uow.ledger.accounts_by_id([a.clearing_account_id for a in found])
    return [(a, balances[a.clearing_account_id].balance) for a in found]


def get_agent(db: Database, code: str) -> Agent:
    with db.reading() as uow:
        agent = agents_of(uow).by_code(clean_code(code))
    if agent is None:
        raise NotFound(f"no agent {code}")
    return agent


# -- authentication ----------------------------------------------------------------------------


@dataclass
class AgentDirectory:
    """Agents by code, cached for ``ttl`` seconds, with verified passwords remembered.

    Argon2 is deliberately slow, so a password that verified against the stored hash is kept as
    a SHA-256 digest (per hash) and later requests compare digests. When the database cannot be
    read, a cached agent is served stale so that the answer can still be in its dialect.
    """

    db: Database
    ttl: float = 5.0
    _agents: dict[str, tuple[float, Agent]] = field(default_factory=dict)
    _verified: dict[tuple[str, str], bytes] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _verifying: threading.Lock = field(default_factory=threading.Lock)

    def find(self, code: str) -> Agent | None:
        now = time.monotonic()
        cached = self._agents.get(code)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        if len(code) > 20:
            return None
        try:
            with self.db.reading() as uow:
                agent = agents_of(uow).by_code(code)
        except StorageUnavailable:
            if cached is not None:
                return cached[1]
            raise
        with self._lock:
            if agent is None:
                self._agents.pop(code, None)
            else:
                self._agents[code] = (now, agent)
        return agent

    def cached(self, code: str) -> Agent | None:
        """The agent if it is in the cache and fresh; never touches the database."""
        cached = self._agents.get(code)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        return None

    def password_known(self, agent: Agent, password: str) -> bool | None:
        """The verdict on a password already verified once; None if argon2 must decide."""
        if agent.password_hash is None:
            return False
        known = self._verified.get((agent.code, agent.password_hash))
        if known is None:
            return None
        return known == hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()

    def password_ok(self, agent: Agent, password: str) -> bool:
        if agent.password_hash is None:
            return False
        digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
        key = (agent.code, agent.password_hash)
        known = self._verified.get(key)
        if known is not None:
            return known == digest
        # One verification at a time: concurrent first requests of an agent (a pool of
        # connections opening at once) wait for it instead of each running argon2.
        with self._verifying:
            known = self._verified.get(key)
            if known is not None:
                return known == digest
            try:
                HASHER.verify(agent.password_hash, password)
            except (VerificationError, InvalidHashError):
                return False
            with self._lock:
                self._verified[key] = digest
        return True


def authenticate(
    directory: AgentDirectory,
    agent: Agent,
    *,
    user: str | None,
    password: str | None,
    host: str | None,
) -> None:
    """Refuse unless every configured factor passes (password and/or address allowlist)."""
    if agent.password_hash is not None and (
        user != agent.code or password is None or not directory.password_ok(agent, password)
    ):
        raise AgentCallError(Outcome.FORBIDDEN, "authentication failed")
    if agent.allow_ips and not agent.address_allowed(host):
        raise AgentCallError(Outcome.FORBIDDEN, "this address is not allowed for the agent")


# -- check / pay / cancel ----------------------------------------------------------------------


def answer_call(db: Database, agent: Agent, call: AgentCall) -> Answer:
    if call.command is Command.CHECK:
        return check(db, agent, call)
    if call.command is Command.PAY:
        return pay(db, agent, call)
    return cancel(db, agent, call)


def check(db: Database, agent: Agent, call: AgentCall) -> Answer:
    """Everything ``pay`` would validate; moves no money."""
    assert call.msisdn is not None
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(call.msisdn)
    return answer_check(agent, call, None if subscriber is None else subscriber.status)


def check_with(reader: SubscriberStatusReader, agent: Agent, call: AgentCall) -> Answer:
    """``check`` through a status reader (one SELECT, no unit of work)."""
    assert call.msisdn is not None
    status = reader.status(call.msisdn)
    return answer_check(agent, call, None if status is None else SubscriberStatus(status))


def answer_check(agent: Agent, call: AgentCall, status: SubscriberStatus | None) -> Answer:
    """The answer to a check of a number whose subscriber has ``status`` (None: not ours)."""
    if status is None:
        raise NotFound("no such subscriber")
    if status is SubscriberStatus.CLOSED:  # barred and suspended numbers accept payments
        raise SubscriberClosed("the number is closed")
    if call.amount is not None:
        agent.check_sum(call.amount)
    return Answer(Outcome.OK, "OK", amount=call.amount)


def pay(db: Database, agent: Agent, call: AgentCall) -> Answer:
    """Credit once per (agent, txn_id); a repeat gets the first answer; a conflict, nothing."""
    work, replay = _pay_steps(agent, call)
    try:
        return db.run_once(work, replay)
    except IdempotencyConflict:
        alert_conflict(db, agent, call)
        raise PaymentConflict("this txn_id was already used for another account or sum") from None


def _pay_steps(
    agent: Agent, call: AgentCall
) -> tuple[Callable[[UnitOfWork], Answer], Callable[[UnitOfWork], Answer | None]]:
    """The two halves of a pay for ``run_once`` (or a savepoint of a group commit)."""
    assert call.msisdn is not None and call.amount is not None and call.txn_id is not None
    msisdn, amount, txn_id = call.msisdn, call.amount, call.txn_id
    fingerprint = call_fingerprint(msisdn, amount)

    def work(uow: UnitOfWork) -> Answer:
        agent.check_sum(amount)
        payment = credit_topup(
            uow,
            TopUpRequest(
                msisdn=msisdn,
                amount=amount,
                channel=Channel.AGENT,
                source=agent.source,
                external_id=txn_id,
                clearing_account_id=agent.clearing_account_id,
                method=agent.name[:100],
                external_date=call.txn_date,
                actor=agent.source,
            ),
        )
        agents_of(uow).insert_payment(
            agent_id=agent.id,
            txn_id=txn_id,
            txn_date=call.txn_date,
            txn_day=day_of(agent.dialect, call.txn_date),
            msisdn=msisdn,
            amount=amount,
            payment_id=payment.id,
            fingerprint=fingerprint,
            now=payment.created_at,
        )
        return Answer(Outcome.OK, "OK", prv_txn=payment.id, amount=amount)

    def replay(uow: UnitOfWork) -> Answer | None:
        earlier = agents_of(uow).payment(agent.id, txn_id)
        if earlier is None:
            return None
        if earlier.fingerprint != fingerprint:
            raise IdempotencyConflict("txn_id already used for another account or sum")
        return _first_answer(earlier)

    return work, replay


def _first_answer(earlier: AgentPayment) -> Answer:
    cancelled = earlier.status is AgentPaymentStatus.CANCELLED
    return Answer(
        Outcome.OK,
        "OK, payment was cancelled" if cancelled else "OK",
        prv_txn=earlier.payment_id,
        amount=earlier.amount,
        replayed=True,
        cancelled=cancelled,
    )


def alert_conflict(db: Database, agent: Agent, call: AgentCall) -> None:
    log.warning(
        "agent_payment_conflict",
        agent=agent.code,
        txn_id=call.txn_id,
        account=call.account,
        amount=call.amount,
    )
    try:
        with db.uow() as uow:
            uow.audit.record(
                at=uow.clock.now(),
                actor=agent.source,
                action="agent.payment_conflict",
                subject=f"agent:{agent.code}",
                details={"txn_id": call.txn_id, "account": call.account, "amount": call.amount},
            )
            uow.commit()
    except StorageUnavailable:
        log.warning("agent_payment_conflict_not_audited", agent=agent.code, txn_id=call.txn_id)


def cancel(db: Database, agent: Agent, call: AgentCall) -> Answer:
    """Reverse a payment while its money is unspent; cancelling twice is a no-op."""
    assert call.txn_id is not None
    txn_id = call.txn_id

    def work(uow: UnitOfWork) -> Answer:
        repo = agents_of(uow)
        row = repo.payment(agent.id, txn_id, lock=True)
        if row is None:
            raise AgentCallError(Outcome.UNKNOWN_PAYMENT, "no payment with this id")
        if row.status is AgentPaymentStatus.CANCELLED:
            return _cancel_answer(row)
        payments = payments_of(uow)
        payment = payments.by_id(row.payment_id)
        assert payment is not None
        if payment.status is not PaymentStatus.CREDITED:
            raise AgentCallError(Outcome.CANCEL_REFUSED, "the payment was moved by support")
        original = uow.ledger.transaction(payment.transaction_id)
        assert original is not None
        try:
            reversal = ledger.record(
                uow,
                reversal_request(
                    original,
                    source=agent.source,
                    idempotency_key=f"cancel:{txn_id}",
                    reference=f"cancel of {agent.code} txn {txn_id}",
                ),
            )
        except InsufficientFunds:
            raise AgentCallError(
                Outcome.CANCEL_REFUSED, "the money is already spent; cannot cancel"
            ) from None
        payments.set_status(payment.id, PaymentStatus.CANCELLED)
        repo.set_status(row.id, AgentPaymentStatus.CANCELLED)
        uow.audit.record(
            at=uow.clock.now(),
            actor=agent.source,
            action="payment.cancelled",
            subject=f"subscriber:{payment.msisdn}",
            details={"payment_id": payment.id, "txn_id": txn_id, "amount": payment.amount},
            transaction_id=reversal.id,
        )
        return _cancel_answer(row)

    def replay(uow: UnitOfWork) -> Answer | None:
        row = agents_of(uow).payment(agent.id, txn_id)
        if row is not None and row.status is AgentPaymentStatus.CANCELLED:
            return _cancel_answer(row)
        return None

    return db.run_once(work, replay)


def _cancel_answer(row: AgentPayment) -> Answer:
    return Answer(Outcome.OK, "cancelled", prv_txn=row.payment_id, amount=row.amount)


# -- group commit ------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Pending:
    """A pay waiting for the writer: its answer goes to a thread's future or to an event
    loop's future (set from the loop's own thread)."""

    agent: Agent
    call: AgentCall
    future: Future[Answer] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[Answer] | None = None


@dataclass(eq=False)
class PayBatcher:
    """Group commit of concurrent pays: one writer thread, one database transaction per batch.

    Every request waiting when the writer is free joins the next batch (no added delay when
    idle). Each pay runs in its own savepoint with the same replay-then-work steps as ``pay``,
    so per-request idempotency is unchanged: a duplicate inside the batch or from another
    process hits the unique index, its savepoint is rolled back and the stored answer replayed.
    A refused pay (limits, unknown number, conflict) rolls back only its savepoint. A storage
    failure anywhere fails the whole batch with ``StorageUnavailable``: nothing of it is
    committed, and every agent in it is told to retry. The thread stops after ``idle`` seconds
    without work and restarts on demand.
    """

    db: Database
    max_batch: int = 64
    idle: float = 2.0
    writers: int = 1  # writer threads (more overlap round trips on PostgreSQL)
    timeout: float = 30.0
    gather: float = 0.0  # seconds a small batch waits for more pays (0: never)
    min_batch: int = 1  # no waiting once this many pays are in hand
    _queue: queue.SimpleQueue[_Pending] = field(default_factory=queue.SimpleQueue)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running: int = 0

    def pay(self, agent: Agent, call: AgentCall) -> Answer:
        """Like ``pay(db, agent, call)``, committed together with concurrent pays."""
        future = self.submit(agent, call)
        try:
            return future.result(timeout=self.timeout)
        except TimeoutError:
            raise StorageUnavailable("the payment was not confirmed in time; repeat it") from None
        except IdempotencyConflict:
            alert_conflict(self.db, agent, call)
            raise PaymentConflict(
                "this txn_id was already used for another account or sum"
            ) from None

    def submit(self, agent: Agent, call: AgentCall) -> Future[Answer]:
        """Queue a pay; the future gets its answer or error (``IdempotencyConflict`` for a
        conflicting repeat: the caller raises ``PaymentConflict`` after ``alert_conflict``)."""
        future: Future[Answer] = Future()
        self._put(_Pending(agent, call, future=future))
        return future

    def submit_async(self, agent: Agent, call: AgentCall) -> asyncio.Future[Answer]:
        """``submit`` for a caller in an event loop (call it from the loop's thread): the
        writer hands a batch's answers to the loop in one call, not one wake-up per pay. The
        future fails with ``StorageUnavailable`` if no answer comes within ``timeout``."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Answer] = loop.create_future()
        timer = loop.call_later(self.timeout, _expire, waiter)
        waiter.add_done_callback(lambda _: timer.cancel())
        self._put(_Pending(agent, call, loop=loop, waiter=waiter))
        return waiter

    def _put(self, pending: _Pending) -> None:
        self._queue.put(pending)
        with self._lock:
            if self._running < self.writers:
                self._running += 1
                threading.Thread(target=self._run, name="agent-pay-batcher", daemon=True).start()

    def _run(self) -> None:
        try:
            self._serve_queue()
        except BaseException:
            with self._lock:
                self._running -= 1  # the next pay starts a new writer
            raise

    def _serve_queue(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._running -= 1
                        return
                continue
            batch = self._gather(first)
            results = self._commit(batch)  # the batch may grow meanwhile
            self._answer(batch, results)

    def _gather(self, first: _Pending) -> list[_Pending]:
        """Every pay waiting, and those arriving within ``gather`` seconds while fewer than
        ``min_batch`` are in hand: a batch's fixed cost (its statements, its commit) is most of
        a small batch's, so a moment's wait makes the next pays several times cheaper."""
        batch = [first]
        deadline = time.monotonic() + self.gather
        while len(batch) < self.max_batch:
            self._drain(batch)
            left = deadline - time.monotonic()
            if len(batch) >= self.min_batch or left <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _drain(self, batch: list[_Pending]) -> None:
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _commit(self, batch: list[_Pending]) -> list[Answer | BaseException]:
        """Settle ``batch`` in one transaction (a second one if the bulk part had to be undone);
        it grows by the pays that arrive while the first waits for the database's write lock
        (SQLite: other processes' batches)."""
        try:
            with self.db.uow() as uow:
                self._drain(batch)
                calls = [(p.agent, p.call) for p in batch]
                try:
                    results = settle_batch(uow, calls, bulk_savepoint=False)
                    uow.commit()
                    return results
                except BulkUndone:
                    pass  # rolled back as the unit of work ends; rare (a twin elsewhere)
            with self.db.uow() as uow:
                results = settle_batch(uow, calls)
                uow.commit()
        except BaseException as exc:  # storage failure (or a bug): nothing was committed
            failure = (
                exc
                if isinstance(exc, StorageUnavailable)
                else StorageUnavailable("the payment could not be stored; try again later")
            )
            if not isinstance(exc, StorageUnavailable):
                log.exception("agent_pay_batch_failed", size=len(batch))
            return [failure] * len(batch)
        return results

    @staticmethod
    def _answer(batch: list[_Pending], results: list[Answer | BaseException]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Answer], object]]] = {}
        for pending, result in zip(batch, results, strict=True):
            if pending.future is not None:
                if isinstance(result, BaseException):
                    pending.future.set_exception(result)
                else:
                    pending.future.set_result(result)
            elif pending.loop is not None and pending.waiter is not None:
                by_loop.setdefault(pending.loop, []).append((pending.waiter, result))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Answer], object]]) -> None:
    for waiter, result in settled:
        if waiter.done():  # timed out or cancelled meanwhile
            continue
        if isinstance(result, BaseException):
            waiter.set_exception(result)
        else:
            waiter.set_result(cast(Answer, result))


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(StorageUnavailable("the payment was not confirmed in time; repeat it"))


class BulkUndone(Exception):
    """The bulk part of ``settle_batch(..., bulk_savepoint=False)`` failed: the caller must
    roll its transaction back and settle the batch again with the savepoint."""


def settle_batch(
    uow: UnitOfWork, calls: Sequence[tuple[Agent, AgentCall]], *, bulk_savepoint: bool = True
) -> list[Answer | BaseException]:
    """Every pay of a group commit, in the caller's unit of work; per pay its answer or error.

    1. One query finds the keys stored already: those pays replay (or conflict) at once.
    2. The new pays are credited with bulk statements (``payments.batch.credit_topups``) in
       rounds of distinct numbers: a number's first pay in the first round, its second in the
       second, and so on, so each round sees the balances the one before left. Each round goes
       in one savepoint, with its agent rows (even a round of one pay: with its statements on
       the driver, the bulk path is the cheaper one).
    3. The rest — a key repeated inside the batch, or every pay of a round whose savepoint
       failed (a twin committed by another process, say) — go one by one, each in its own
       savepoint with replay-then-work, exactly like ``pay``.
    A storage failure is raised: the caller rolls everything back and every pay is retried.
    ``bulk_savepoint=False`` spares step 2 its savepoints (two statements each, two round trips
    on PostgreSQL), for a caller that can start over: a failure there raises ``BulkUndone``.
    """
    results: list[Answer | BaseException | None] = [None] * len(calls)
    fields = [_pay_fields(call) for _, call in calls]
    keys = [(agent.id, txn_id) for (agent, _), (txn_id, _, _) in zip(calls, fields, strict=True)]
    stored = agents_of(uow).payments_by_keys(keys)
    rounds: list[list[int]] = []
    later: list[int] = []
    taken_keys: set[tuple[int, str]] = set()
    pays_of_number: dict[str, int] = {}
    for index, (agent, _) in enumerate(calls):
        key = keys[index]
        _, msisdn, amount = fields[index]
        earlier = stored.get(key) if stored else None
        if earlier is not None:
            same = earlier.fingerprint == call_fingerprint(msisdn, amount)
            results[index] = (
                _first_answer(earlier)
                if same
                else IdempotencyConflict("txn_id already used for another account or sum")
            )
        elif key in taken_keys:
            later.append(index)
        else:
            try:
                agent.check_sum(amount)
            except AbonentError as refused:
                results[index] = refused
                continue
            taken_keys.add(key)
            number_round = pays_of_number.get(msisdn, 0)
            pays_of_number[msisdn] = number_round + 1
            if number_round == len(rounds):
                rounds.append([])
            rounds[number_round].append(index)
    for fresh in rounds:
        credited = _credit_together(uow, [calls[i] for i in fresh], savepoint=bulk_savepoint)
        if credited is None:
            for index in fresh:
                agent, call = calls[index]
                results[index] = _pay_in_savepoint(uow, agent, call)
        else:
            for index, answer in zip(fresh, credited, strict=True):
                results[index] = answer
    for index in later:
        agent, call = calls[index]
        results[index] = _pay_in_savepoint(uow, agent, call)
    return [r for r in results if r is not None]


def _credit_together(
    uow: UnitOfWork, calls: list[tuple[Agent, AgentCall]], *, savepoint: bool = True
) -> list[Answer | BaseException] | None:
    """Credit new pays for distinct numbers in one savepoint; None if it had to be undone
    (without a savepoint: ``BulkUndone``)."""
    nested = uow.connection.begin_nested() if savepoint else None
    try:
        # The rows only written (receipts, SMS, audit, agent rows) go out together at the end.
        with deferred_inserts(uow.connection):
            of_agent: dict[int, _AgentParts] = {}
            credited = credit_topups(uow, [_topup(agent, call, of_agent) for agent, call in calls])
            rows = [
                _agent_payment_row(agent, call, payment, of_agent)
                for (agent, call), payment in zip(calls, credited, strict=True)
                if isinstance(payment, Payment)
            ]
            agents_of(uow).insert_payments(rows, shared={"status": _CREDITED})
        if nested is not None:
            nested.commit()
    except (sa_exc.IntegrityError, BatchNotApplicable, InsufficientFunds):
        if nested is None:
            raise BulkUndone("the bulk credit was refused; settle the batch again") from None
        nested.rollback()
        return None
    except STORAGE_ERRORS:
        raise
    return [
        Answer(Outcome.OK, "OK", p.id, p.amount) if isinstance(p, Payment) else p for p in credited
    ]


@dataclass(frozen=True, slots=True)
class _AgentParts:
    """What every pay of one agent in a batch shares, worked out once per batch."""

    source: str
    method: str
    days: dict[str | None, str | None]  # the agent's dates → their days

    @classmethod
    def of(cls, agent: Agent, cache: dict[int, _AgentParts]) -> _AgentParts:
        parts = cache.get(agent.id)
        if parts is None:
            parts = cache[agent.id] = cls(agent.source, agent.name[:100], {})
        return parts


def _pay_fields(call: AgentCall) -> tuple[str, str, Tiyn]:
    """A pay's txn_id, number and sum, which parsing guarantees (one call, not three)."""
    txn_id, msisdn, amount = call.txn_id, call.msisdn, call.amount
    assert txn_id is not None and msisdn is not None and amount is not None
    return txn_id, msisdn, amount


def _topup(agent: Agent, call: AgentCall, of_agent: dict[int, _AgentParts]) -> TopUpRequest:
    parts = of_agent.get(agent.id) or _AgentParts.of(agent, of_agent)
    txn_id, msisdn, amount = _pay_fields(call)
    source = parts.source
    # Positional, in the field order (msisdn, amount, channel, source, external_id,
    # clearing_account_id, method, external_date, actor): made for every pay of a batch.
    return TopUpRequest(
        msisdn,
        amount,
        Channel.AGENT,
        source,
        txn_id,
        agent.clearing_account_id,
        parts.method,
        call.txn_date,
        source,
    )


_CREDITED = AgentPaymentStatus.CREDITED.value


def _agent_payment_row(
    agent: Agent,
    call: AgentCall,
    payment: Payment,
    of_agent: dict[int, _AgentParts],
) -> tuple[object, ...]:
    """The new row's values, in ``NEW_PAYMENT_COLUMNS``' order."""
    days = (of_agent.get(agent.id) or _AgentParts.of(agent, of_agent)).days
    txn_date = call.txn_date
    # An agent's pays of one batch mostly share their date (to the second): one parse each.
    if txn_date in days:
        day = days[txn_date]
    else:
        day = days[txn_date] = day_of(agent.dialect, txn_date)
    txn_id, msisdn, amount = _pay_fields(call)
    return (
        agent.id,
        txn_id,
        txn_date,
        day,
        msisdn,
        amount,
        payment.id,
        call_fingerprint(msisdn, amount),
        payment.created_at,
    )


def _pay_in_savepoint(
    uow: UnitOfWork, agent: Agent, call: AgentCall, *, replay_first: bool = True
) -> Answer | BaseException:
    """One pay of a batch; its own failure is returned, a storage failure raised.

    ``replay_first=False`` when the key was just looked up in this transaction and not found:
    a twin committed since then still fails on the unique index and is replayed below.
    """
    work, replay = _pay_steps(agent, call)
    savepoint = uow.connection.begin_nested()
    try:
        earlier = replay(uow) if replay_first else None
        result = earlier if earlier is not None else work(uow)
        savepoint.commit()
        return result
    except sa_exc.IntegrityError:
        savepoint.rollback()
        try:
            again = replay(uow)
        except IdempotencyConflict as conflict:
            return conflict
        return again if again is not None else StorageUnavailable("try again later")
    except STORAGE_ERRORS:
        raise
    except Exception as exc:
        savepoint.rollback()
        return exc


# -- reconciliation ----------------------------------------------------------------------------


def reconcile(
    db: Database, code: str, lines: Sequence[RegistryLine], *, days: Sequence[str] = ()
) -> ReconciliationReport:
    """Compare an agent's registry with our records. Reads only; never moves money."""
    agent = get_agent(db, code)
    covered = sorted(set(days) | {line.day for line in lines})
    with db.reading() as uow:
        repo = agents_of(uow)
        ours = {p.id: p for p in repo.payments_on_days(agent.id, covered)}
        ours.update({p.id: p for p in repo.payments_with_ids(agent.id, [x.txn_id for x in lines])})
    return compare(agent.code, covered, lines, list(ours.values()))
