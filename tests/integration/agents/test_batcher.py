"""Group commit of pays (``PayBatcher``), driven directly, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.agents import services
from abonent.agents.domain import Agent, AgentCall, AgentCallError, Answer, Command, Outcome
from abonent.agents.repository import SqlAgentRepository
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

    monkeypatch.setattr(SqlAgentRepository, "insert_payment", lost)
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
    """Distinct numbers are credited with bulk statements; repeats, refusals and a number
    twice in the batch are settled one by one, all in one transaction."""
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
        call("4", "7072222222"),  # the same number again: after the bulk part
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
