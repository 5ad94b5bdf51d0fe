"""Group commit of pays (``PayBatcher``), driven directly, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.agents import services
from abonent.agents.domain import Agent, AgentCall, AgentCallError, Answer, Command, Outcome
from abonent.agents.repository import SqlAgentRepository, SubscriberStatusReader
from abonent.core.errors import NotFound, StorageUnavailable
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.outbox.tables import outbox
from abonent.payments.tables import payments
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import SubscriberStatus
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage


def call(txn_id: str, national: str = "7071234567", amount: int = 20000) -> AgentCall:
    return AgentCall(Command.PAY, txn_id, national, "+7" + national, amount, "20260115091500")


def outcome(batcher: services.PayBatcher, agent: Agent, c: AgentCall) -> object:
    try:
        return batcher.pay(agent, c).prv_txn
    except AgentCallError as exc:
        return exc.outcome
    except NotFound:
        return "not_found"


def test_a_batch_keeps_every_pay_exactly_once_and_refuses_alone(db: Database) -> None:
    add_subscriber(db, "7071234567")
    agent = services.add_agent(
        db, services.NewAgent("BT", "B", "osmp", "long-enough", max_sum=tenge(1000)), actor="t"
    )
    batcher = services.PayBatcher(db)
    calls = [call(str(n % 10)) for n in range(30)]  # each txn_id three times
    calls += [call("0", amount=20001), call("99", "7079999999"), call("98", amount=tenge(2000))]
    with ThreadPoolExecutor(max_workers=33) as pool:
        results = list(pool.map(lambda c: outcome(batcher, agent, c), calls))
    by_txn: dict[str, set[object]] = {}
    for c, result in zip(calls[:30], results[:30], strict=True):
        by_txn.setdefault(c.txn_id or "", set()).add(result)
    assert all(len(r) == 1 and isinstance(next(iter(r)), int) for r in by_txn.values())
    assert results[30:] == [Outcome.CONFLICT, "not_found", Outcome.TOO_LARGE]
    with db.reading() as uow:
        count = uow.connection.execute(sa.select(sa.func.count()).select_from(payments))
        assert count.scalar_one() == 10
    assert audit_ledger(db).ok


def test_a_storage_failure_fails_the_whole_batch_and_commits_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscriber(db, "7071234567")
    agent = services.add_agent(db, services.NewAgent("BT", "B", "osmp", "long-enough"), actor="t")
    batcher = services.PayBatcher(db)

    def lost(*args: object, **kwargs: object) -> None:
        raise sa_exc.OperationalError("INSERT", {}, Exception("connection lost"))

    # The agent row is written one by one or with its batch: fail both ways.
    monkeypatch.setattr(SqlAgentRepository, "insert_payment", lost)
    monkeypatch.setattr(SqlAgentRepository, "insert_payments", lost)
    with pytest.raises(StorageUnavailable):
        batcher.pay(agent, call("1"))
    monkeypatch.undo()
    with db.reading() as uow:
        count = uow.connection.execute(sa.select(sa.func.count()).select_from(payments))
        assert count.scalar_one() == 0
    assert batcher.pay(agent, call("1")).prv_txn is not None
    assert audit_ledger(db).ok


def _credited(db: Database) -> dict[str, int]:
    with db.reading() as uow:
        rows = uow.connection.execute(sa.select(payments.c.msisdn, payments.c.amount)).all()
    total: dict[str, int] = {}
    for msisdn, amount in rows:
        total[msisdn] = total.get(msisdn, 0) + int(amount)
    return total


def test_a_bulk_batch_answers_like_one_by_one(db: Database) -> None:
    """New pays are credited with bulk statements, a number twice in the batch in a second
    round; repeats and refusals are settled one by one, all in one transaction."""
    for national in ("7071111111", "7072222222", "7073333333", "7074444444"):
        add_subscriber(db, national)
    subscribers.set_status(db, "7074444444", SubscriberStatus.CLOSED, actor="t")
    agent = services.add_agent(
        db, services.NewAgent("BK", "B", "osmp", "long-enough", max_sum=tenge(1000)), actor="t"
    )
    with db.uow() as uow:
        assert services.settle_batch(uow, [(agent, call("0", "7071111111"))])
        uow.commit()
    batch = [
        call("0", "7071111111"),  # stored already: replayed
        call("0", "7071111111", amount=1),  # stored already with another sum: conflict
        call("1", "7071111111"),
        call("2", "7072222222"),
        call("3", "7073333333", amount=30000),
        call("2", "7072222222"),  # repeated inside the batch: the first answer
        call("2", "7073333333"),  # repeated inside the batch with another account: conflict
        call("4", "7072222222"),  # the same number again: in the second round
        call("5", "7079999999"),  # not ours
        call("6", "7074444444"),  # closed
        call("7", "7073333333", amount=tenge(2000)),  # above the agent's maximum
    ]
    with db.uow() as uow:
        results = services.settle_batch(uow, [(agent, c) for c in batch])
        uow.commit()
    answers = [r.prv_txn if isinstance(r, Answer) else type(r).__name__ for r in results]
    first = answers[0]
    assert isinstance(first, int)
    assert answers[1] == "IdempotencyConflict"
    assert all(isinstance(a, int) for a in (answers[2], answers[3], answers[4], answers[7]))
    assert answers[5] == answers[3]
    assert answers[6] == "IdempotencyConflict"
    assert answers[8:] == ["NotFound", "SubscriberClosed", "AgentCallError"]
    assert len({answers[0], answers[2], answers[3], answers[4], answers[7]}) == 5
    assert _credited(db) == {"+77071111111": 40000, "+77072222222": 40000, "+77073333333": 30000}
    with db.reading() as uow:
        stored = SqlAgentRepository(uow.connection).count_payments(agent.id)
        sms = uow.connection.execute(sa.select(sa.func.count()).select_from(outbox)).scalar_one()
    assert stored == 5
    assert sms == 5
    assert audit_ledger(db).ok


def test_a_number_paid_several_times_in_a_batch_is_credited_in_rounds(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each round sees the balance the round before left (the SMS tell it), and none of the
    pays needs the one-by-one path."""
    for national in ("7071234567", "7071111111", "7072222222"):
        add_subscriber(db, national)
    agent = services.add_agent(db, services.NewAgent("BR", "B", "osmp", "long-enough"), actor="t")

    def one_by_one(*args: object, **kwargs: object) -> None:
        raise AssertionError("a new pay went one by one")

    monkeypatch.setattr(services, "_pay_in_savepoint", one_by_one)
    batch = [call("1"), call("2", "7071111111"), call("3"), call("4"), call("5", "7072222222")]
    with db.uow() as uow:
        results = services.settle_batch(uow, [(agent, c) for c in batch])
        uow.commit()
    prv_txns = [r.prv_txn for r in results if isinstance(r, Answer)]
    assert len(set(prv_txns)) == 5
    assert _credited(db) == {
        "+77071234567": 60000,
        "+77071111111": 20000,
        "+77072222222": 20000,
    }
    with db.reading() as uow:
        texts = uow.connection.execute(
            sa.select(outbox.c.payload)
            .where(outbox.c.recipient == "+77071234567")
            .order_by(outbox.c.id)
        ).scalars()
        balances = [str(payload["text"]).split("Баланс: ")[1].split(" ")[0] for payload in texts]
    assert balances == ["200.00", "400.00", "600.00"]
    assert audit_ledger(db).ok


def test_a_bulk_batch_that_cannot_apply_falls_back_to_one_by_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for national in ("7071111111", "7072222222"):
        add_subscriber(db, national)
    agent = services.add_agent(db, services.NewAgent("BF", "B", "osmp", "long-enough"), actor="t")

    def twin_committed(*args: object, **kwargs: object) -> None:
        raise sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(SqlAgentRepository, "insert_payments", twin_committed)
    with db.uow() as uow:
        results = services.settle_batch(
            uow, [(agent, call("1", "7071111111")), (agent, call("2", "7072222222"))]
        )
        uow.commit()
    assert all(isinstance(r, Answer) and r.prv_txn for r in results)
    assert _credited(db) == {"+77071111111": 20000, "+77072222222": 20000}
    assert audit_ledger(db).ok


def test_pays_awaited_in_an_event_loop_get_the_same_answers(db: Database) -> None:
    """``submit_async``: answers (and errors) reach the loop's futures, one hand-over a batch."""
    add_subscriber(db, "7071234567")
    agent = services.add_agent(db, services.NewAgent("BA", "B", "osmp", "long-enough"), actor="t")
    batcher = services.PayBatcher(db)

    async def pay_all() -> list[object]:
        calls = [call("1"), call("1"), call("2"), call("1", amount=20001), call("3", "7079999999")]
        waiting = [batcher.submit_async(agent, c) for c in calls]
        done = await asyncio.gather(*waiting, return_exceptions=True)
        return [r.prv_txn if isinstance(r, Answer) else type(r).__name__ for r in done]

    first, again, second, conflict, unknown = asyncio.run(pay_all())
    assert isinstance(first, int) and again == first and isinstance(second, int)
    assert (conflict, unknown) == ("IdempotencyConflict", "NotFound")
    assert _credited(db) == {"+77071234567": 40000}


def test_a_pay_not_settled_in_time_is_answered_retry_and_nothing_hangs(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscriber(db, "7071234567")
    agent = services.add_agent(db, services.NewAgent("BS", "B", "osmp", "long-enough"), actor="t")
    batcher = services.PayBatcher(db, timeout=0.05)
    real = services.settle_batch
    # Events, not sleeps: the batch is held until the waiter has given up, and the test waits
    # for its commit however slow the machine is.
    given_up, settled = threading.Event(), threading.Event()

    def slow(*args: Any, **kwargs: Any) -> list[Answer | BaseException]:
        given_up.wait(30)
        try:
            return real(*args, **kwargs)
        finally:
            settled.set()

    monkeypatch.setattr(services, "settle_batch", slow)

    async def pay_late() -> BaseException | Answer:
        waiter = batcher.submit_async(agent, call("1"))
        try:
            return await waiter
        except StorageUnavailable as exc:
            given_up.set()
            # The batch commits meanwhile, and its late answer reaches this loop and is dropped.
            assert await asyncio.to_thread(settled.wait, 30)
            await asyncio.sleep(0.05)
            return exc

    assert isinstance(asyncio.run(pay_late()), StorageUnavailable)
    assert _credited(db) == {"+77071234567": 20000}  # a repeat would replay it
    monkeypatch.undo()
    assert isinstance(batcher.pay(agent, call("1")).prv_txn, int)
    assert _credited(db) == {"+77071234567": 20000}


def test_the_status_reader_answers_like_a_unit_of_work(db: Database) -> None:
    add_subscriber(db, "7071234567")
    add_subscriber(db, "7071234568")
    subscribers.set_status(db, "7071234568", SubscriberStatus.CLOSED, actor="t")
    reader = SubscriberStatusReader(db)
    try:
        assert reader.status("+77071234567") == "active"
        assert reader.status("+77071234568") == "closed"
        assert reader.status("+77079999999") is None
        subscribers.set_status(db, "7071234567", SubscriberStatus.BARRED, actor="t")
        assert reader.status("+77071234567") == "barred"  # autocommit: the latest commit
    finally:
        reader.close()


def test_the_writer_settles_again_with_savepoints_when_its_bulk_credit_is_refused(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer credits a batch without a savepoint; if the bulk part fails (a twin
    committed by another process, say), everything is rolled back and settled again."""
    for national in ("7071111111", "7072222222"):
        add_subscriber(db, national)
    agent = services.add_agent(db, services.NewAgent("BU", "B", "osmp", "long-enough"), actor="t")
    seen: list[bool] = []
    real = services.settle_batch

    def recording(*args: Any, bulk_savepoint: bool = True) -> list[Answer | BaseException]:
        seen.append(bulk_savepoint)
        return real(*args, bulk_savepoint=bulk_savepoint)

    def twin_committed(*args: object, **kwargs: object) -> None:
        raise sa_exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    monkeypatch.setattr(services, "settle_batch", recording)
    monkeypatch.setattr(SqlAgentRepository, "insert_payments", twin_committed)
    batcher = services.PayBatcher(db, gather=5.0, min_batch=2)
    futures = [
        batcher.submit(agent, call("1", "7071111111")),
        batcher.submit(agent, call("2", "7072222222")),
    ]
    answers = [f.result(timeout=30) for f in futures]
    assert seen == [False, True]
    assert all(isinstance(a.prv_txn, int) for a in answers)
    assert _credited(db) == {"+77071111111": 20000, "+77072222222": 20000}
    assert audit_ledger(db).ok
