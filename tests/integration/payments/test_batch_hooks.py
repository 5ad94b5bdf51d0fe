"""Top-ups credited together (``payments.batch.credit_topups``, the agents' group commit) end
exactly like the same top-ups credited one by one (``credit_topup``), hooks included: trust
credit repaid first, a lapsed tariff renewed, receipts, SMS, audit rows and the debt bar."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from abonent.audit.tables import audit_log
from abonent.autopay.repository import _THRESHOLD_RULES_AT_OR_BELOW
from abonent.charging import services as charging
from abonent.charging.services import _WAITING_AMONG
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.credit.repository import _OWING_AMONG
from abonent.credit.services import current_credit
from abonent.db.id_lists import IdListQuery
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger.domain import AccountKind
from abonent.payments import hooks
from abonent.payments.batch import credit_topups
from abonent.payments.domain import Channel, Payment, TopUpRequest
from abonent.payments.services import top_up
from abonent.receipts.tables import receipts
from abonent.subscribers.domain import SubscriberStatus
from abonent.subscribers.services import set_status
from tests.factories import add_subscriber, system_account
from tests.integration.charging.support import load_test_catalogue
from tests.integration.ussd.helpers import (
    Phone,
    balance,
    make_channel,
    make_veteran,
    run_steps,
    sms_texts,
    status,
)

pytestmark = pytest.mark.storage

# Twins: the first of each pair is topped up alone, the second in one batch with the others.
CREDIT = ("+77071110001", "+77071110002")  # an open trust credit
LAPSED = ("+77071110003", "+77071110004")  # a tariff that lapsed for want of money
BARRED = ("+77071110005", "+77071110006")  # barred for debt; the top-up covers it
PLAIN = ("+77071110007", "+77071110008")
TWINS = (CREDIT, LAPSED, BARRED, PLAIN)
_DIFFERING = re.compile(r"R\d{10}|\d\d\.\d\d\.\d{4}")


def _requests(clearing: int, numbers: Sequence[str], tag: str) -> list[TopUpRequest]:
    return [
        TopUpRequest(
            msisdn=number,
            amount=tenge(4_000),
            channel=Channel.AGENT,
            source="agent:KASPI",
            external_id=f"{tag}{n}",
            clearing_account_id=clearing,
        )
        for n, number in enumerate(numbers)
    ]


def _world_of(db: Database, number: str) -> dict[str, object]:
    credit = current_credit(db, number)
    summary = charging.subscription_summary(db, number)
    with db.reading() as uow:
        subject = f"subscriber:{number}"
        actions = sorted(
            str(a)
            for a in uow.connection.execute(
                sa.select(audit_log.c.action).where(audit_log.c.subject == subject)
            ).scalars()
        )
        receipt_count = uow.connection.execute(
            sa.select(sa.func.count())
            .select_from(receipts)
            .where(receipts.c.msisdn_masked == "***" + number[-4:])
        ).scalar_one()
    return {
        "balance": balance(db, number),
        "status": status(db, number),
        "credit": None if credit is None else (credit.status, credit.outstanding),
        "tariff": None if summary is None else (summary.state, summary.period_start),
        "audit": actions,
        "receipts": receipt_count,
        # Receipt numbers (and the credit's due date: the twins took it days apart) differ
        # between twins; everything else in the texts must not.
        "sms": [_DIFFERING.sub("…", t) for t in sms_texts(db, number)],
    }


def _prepare(db: Database, clock: FrozenClock) -> None:
    channel = make_channel(db)
    for number in CREDIT:
        make_veteran(db, clock, number[2:], balance=tenge(100))
        assert run_steps(Phone(channel, number[2:]), "*141#", ["1", "1"])[-1].startswith("END")
    load_test_catalogue(db)
    for number in LAPSED:
        add_subscriber(db, number, balance=300000)
        charging.change_tariff(db, number, "MONTH", actor="test")
    for number in (*BARRED, *PLAIN):
        add_subscriber(db, number)
    clock.advance(days=31)
    assert charging.run_renewals(db, clock.now()).lapsed == len(LAPSED)
    for number in BARRED:
        set_status(db, number, SubscriberStatus.BARRED, actor="test")


def test_a_batch_of_top_ups_ends_like_the_same_top_ups_one_by_one(
    db: Database, clock: FrozenClock
) -> None:
    _prepare(db, clock)
    before = {n: _world_of(db, n) for twin in TWINS for n in twin}
    assert all(before[a] | {"sms": []} == before[b] | {"sms": []} for a, b in TWINS)
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")

    for request in _requests(clearing, [a for a, _ in TWINS], "one-"):
        top_up(db, request)
    with db.uow() as uow:
        credited = credit_topups(uow, _requests(clearing, [b for _, b in TWINS], "batch-"))
        uow.commit()

    assert all(isinstance(p, Payment) for p in credited)
    for alone, together in TWINS:
        assert _world_of(db, together) == _world_of(db, alone), together
    assert _world_of(db, CREDIT[0]) != before[CREDIT[0]]  # the hooks did act
    assert _world_of(db, LAPSED[0])["tariff"] != before[LAPSED[0]]["tariff"]


def test_batch_hooks_see_the_whole_batch_once_and_plain_hooks_each_top_up(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in PLAIN:
        add_subscriber(db, number)
    calls: list[tuple[str, tuple[str, ...]]] = []

    def plain(uow: UnitOfWork, one: hooks.CreditedTopUp) -> None:
        calls.append(("plain", (one.subscriber.msisdn,)))

    def single(uow: UnitOfWork, one: hooks.CreditedTopUp) -> None:
        calls.append(("single", (one.subscriber.msisdn,)))

    def batch(uow: UnitOfWork, many: Sequence[hooks.CreditedTopUp]) -> None:
        calls.append(("batch", tuple(m.subscriber.msisdn for m in many)))

    monkeypatch.setattr(hooks, "BEFORE_CREDIT", [single])
    monkeypatch.setattr(hooks, "AFTER_CREDIT", [plain])
    monkeypatch.setattr(hooks, "BATCH_FORMS", {single: batch})
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    with db.uow() as uow:
        credit_topups(uow, _requests(clearing, PLAIN, "b-"))
        uow.commit()
    assert calls == [("batch", PLAIN), ("plain", PLAIN[:1]), ("plain", PLAIN[1:])]
    calls.clear()
    top_up(db, _requests(clearing, PLAIN[:1], "one-")[0])
    assert calls == [("single", PLAIN[:1]), ("plain", PLAIN[:1])]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (_WAITING_AMONG, "sqlite_autoindex_subscriptions_1"),
        (_OWING_AMONG, "sqlite_autoindex_trust_credits_1"),
        (_THRESHOLD_RULES_AT_OR_BELOW, "ix_autopay_rules_target_account_id"),
    ],
)
def test_on_sqlite_the_hooks_find_their_rows_by_the_ids_index(
    sqlite_url: str, query: IdListQuery, index: str
) -> None:
    # SQLite has no statistics: an index on a status would read every row with that status.
    engine = sa.create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query.sqlite}", ("[1, 2]",))
            searches = [str(row[-1]) for row in plan if str(row[-1]).startswith("SEARCH")]
    finally:
        engine.dispose()
    assert any(f"INDEX {index} " in s for s in searches), searches
    assert all("status" not in s and "state" not in s for s in searches), searches
