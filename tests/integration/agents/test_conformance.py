"""The conformance suite of agent-protocols.md, case by case, for every dialect, over the
in-process ASGI client and a real uvicorn server on loopback, on SQLite and PostgreSQL.
Every scenario ends with a clean ledger audit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.agents.domain import Dialect
from abonent.agents.repository import SqlAgentRepository
from abonent.agents.tables import agent_payments
from abonent.audit.tables import audit_log
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.ledger.tables import accounts, ledger_transactions
from abonent.outbox.tables import outbox
from abonent.payments.tables import payments
from abonent.subscribers.domain import SubscriberStatus
from tests.factories import add_subscriber
from tests.integration.agents.conftest import make_agent
from tests.integration.agents.harness import FATAL, AgentHarness, Http

pytestmark = pytest.mark.storage
_numbers = itertools.count(1)


def fresh_number(db: Database) -> str:
    """A new active prepaid number with balance 0, so each case starts from a clean account."""
    national = f"707{next(_numbers):07d}"
    add_subscriber(db, national)
    return national


def balance(db: Database, national: str) -> int:
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+7" + national)
        assert sub is not None
        account = uow.ledger.account(sub.account_id)
        assert account is not None
        return account.balance


def world(db: Database) -> tuple[object, ...]:
    """Everything money-related, to prove that 'nothing changed'."""
    with db.reading() as uow:
        c = uow.connection

        def count(table: sa.Table) -> int:
            return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

        balances = tuple(c.execute(sa.select(accounts.c.code, accounts.c.balance)).all())
        return (
            count(ledger_transactions),
            count(payments),
            count(agent_payments),
            count(outbox),
            balances,
        )


@pytest.fixture(autouse=True)
def ledger_stays_sound(db: Database) -> Iterator[None]:
    yield
    report = audit_ledger(db)
    assert report.ok, report.problems


# 1 -----------------------------------------------------------------------------------------
def case_check_of_a_valid_account_answers_ok_and_moves_no_money(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    replies = [agent.check(acct, txn_id=str(n)) for n in range(1, 4)]
    replies.append(agent.check(acct, txn_id="1"))
    assert {(r.status, r.code, r.prv_txn) for r in replies} == {(200, 0, None)}
    assert world(db) == before


# 2 -----------------------------------------------------------------------------------------
def case_pay_without_check_is_validated_then_credits(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    refused = agent.pay("100", "7079999999")
    assert refused.code == agent.codes["not_found"] and refused.prv_txn is None
    assert balance(db, acct) == 0
    reply = agent.pay("101", acct, "250.50", date=agent.date("20260115101112"))
    assert (reply.status, reply.code) == (200, 0)
    assert reply.prv_txn is not None and reply.amount == "250.50" and reply.echo == "101"
    assert balance(db, acct) == 25050
    with db.reading() as uow:
        row = SqlAgentRepository(uow.connection).payment(
            SqlAgentRepository(uow.connection).by_code(agent.code).id,
            "101",  # type: ignore[union-attr]
        )
        sms = uow.outbox.messages(topic="sms", recipient="+7" + acct)
    assert row is not None and row.payment_id == reply.prv_txn
    assert row.txn_date == agent.date("20260115101112")  # stored exactly as sent
    assert len(sms) == 1 and "250.50" in sms[0]["payload"]["text"]


# 3 -----------------------------------------------------------------------------------------
def case_the_same_pay_repeated_credits_once_with_the_same_prv_txn(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    replies = [agent.pay("200", acct, "300.00") for _ in range(4)]
    assert {(r.code, r.prv_txn, r.amount) for r in replies} == {(0, replies[0].prv_txn, "300.00")}
    assert balance(db, acct) == 30000
    # The date may be re-sent differently: it is stored, never part of the key.
    again = agent.pay("200", acct, "300.00", date=agent.date("20260116000000"))
    assert (again.code, again.prv_txn) == (0, replies[0].prv_txn)
    assert balance(db, acct) == 30000


# 4 -----------------------------------------------------------------------------------------
def case_same_txn_id_with_another_sum_or_account_is_fatal_and_changes_nothing(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    first = agent.pay("300", acct, "500.00")
    before = world(db)
    other_sum = agent.pay("300", acct, "501.00")
    other_account = agent.pay("300", numbers["suspended"], "500.00")
    for reply in (other_sum, other_account):
        assert reply.code == agent.codes["conflict"] and reply.code in FATAL[agent.dialect].values()
        assert reply.prv_txn is None
    assert world(db) == before
    assert agent.pay("300", acct, "500.00").prv_txn == first.prv_txn
    with db.reading() as uow:
        alerts = uow.connection.execute(
            sa.select(audit_log.c.details).where(audit_log.c.action == "agent.payment_conflict")
        ).all()
    assert len(alerts) == 2


# 5 -----------------------------------------------------------------------------------------
def case_fifty_concurrent_identical_pays_credit_once_with_one_prv_txn(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda _: agent.pay("500", acct, "1000.00"), range(50)))
    assert {r.code for r in replies} == {0}
    assert len({r.prv_txn for r in replies}) == 1
    assert balance(db, acct) == 100000
    with db.reading() as uow:
        n = uow.connection.execute(
            sa.select(sa.func.count()).where(payments.c.external_id == "500")
        ).scalar_one()
    assert n == 1
    # Many different payments at once: none lost, none doubled.
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda n: agent.pay(str(5000 + n % 20), acct, "150.00"), range(60)))
    assert {r.code for r in replies} == {0}
    assert len({r.prv_txn for r in replies}) == 20
    assert balance(db, acct) == 100000 + 20 * 15000


# 6 -----------------------------------------------------------------------------------------
def case_the_same_txn_id_from_two_agents_is_two_payments(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    other = make_agent(db, http, Dialect.OSMP, "OTHER")
    a = agent.pay("777", acct, "200.00")
    b = other.pay("777", acct, "200.00")
    assert (a.code, b.code) == (0, 0) and a.prv_txn != b.prv_txn
    assert balance(db, acct) == 40000


# 7 -----------------------------------------------------------------------------------------
MALFORMED_ACCOUNTS = [
    "707123456a",
    "707123456",
    "70712345678",
    "+77071234567",
    "87071234567",
    "707 123 4567",
    "",
    "７０７１２３４５６７",
]


def case_malformed_accounts_are_wrong_format_unknown_ones_not_found(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    for account in MALFORMED_ACCOUNTS:
        assert agent.check(account).code == agent.codes["bad_account"], account
        assert agent.pay("700", account).code == agent.codes["bad_account"], account
    missing = [p for p in agent.pay_params("701", acct) if p[0] != agent.f_account]
    assert agent.send(missing).code == agent.codes["bad_account"]
    # Well-formed but not ours: not found.
    for account in ("7079999999", "7771234567", "1234567890"):
        assert agent.check(account).code == agent.codes["not_found"]
        assert agent.pay("701", account).code == agent.codes["not_found"]
    assert world(db) == before


# 8 -----------------------------------------------------------------------------------------
def case_a_closed_number_is_refused_barred_and_suspended_accept(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    assert agent.check(numbers["closed"]).code == agent.codes["closed"]
    assert agent.pay("800", numbers["closed"]).code == agent.codes["closed"]
    assert world(db) == before
    for n, key in enumerate(("barred", "suspended")):
        assert agent.check(numbers[key]).code == 0
        assert agent.pay(f"81{n}", numbers[key]).code == 0
        assert balance(db, numbers[key]) == 20000
    with db.reading() as uow:
        barred = uow.subscribers.by_msisdn("+7" + numbers["barred"])
    assert barred is not None and barred.status is SubscriberStatus.ACTIVE  # the debt is covered


# 9 -----------------------------------------------------------------------------------------
BAD_SUMS = [
    "abc",
    "200,00",
    "-200.00",
    "0.00",
    "200.000",
    "2e2",
    "NaN",
    "",
    "200",
    "200.0",
    " 200.00",
    "Infinity",
    "0x10",
    "１００.００",
]


def case_bad_missing_or_out_of_limit_sums_are_rejected_and_move_nothing(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    for amount in BAD_SUMS:
        reply = agent.pay("900", acct, amount)
        assert reply.code == agent.codes["bad_amount"] and reply.code != 0, amount
        if agent.dialect is not Dialect.KASPI:  # Kaspi's check carries a placeholder sum
            assert agent.check(acct, amount).code == agent.codes["bad_amount"], amount
    params = [p for p in agent.pay_params("901", acct) if p[0] != agent.f_sum]
    assert agent.send(params).code == agent.codes["bad_amount"]
    if agent.dialect is not Dialect.KASPI:  # Kaspi's check carries a placeholder sum
        assert agent.check(acct, "99.99").code == agent.codes["too_small"]
    assert agent.pay("902", acct, "99.99").code == agent.codes["too_small"]
    assert agent.pay("903", acct, "50000.01").code == agent.codes["too_large"]
    assert world(db) == before
    assert agent.pay("904", acct, "100.00").code == 0
    assert agent.pay("905", acct, "50000.00").code == 0


# 10 ----------------------------------------------------------------------------------------
def case_bad_commands_ids_and_repeated_parameters_are_answered_with_a_fatal_code(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    pay = agent.pay_params("1000", acct)
    without_command = [p for p in pay if p[0] != agent.f_cmd]
    unknown_command = [(agent.f_cmd, "refund"), *pay[1:]]
    without_txn = [p for p in pay if p[0] != agent.f_txn]
    cases = {
        "bad_request": [
            without_command,
            unknown_command,
            [*pay, (agent.f_sum, "200.00")],
            [*pay, (agent.f_cmd, agent.w_pay)],
        ],
        "bad_txn_id": [
            without_txn,
            [(k, "12a" if k == agent.f_txn else v) for k, v in pay],
            [(k, "1" * 21 if k == agent.f_txn else v) for k, v in pay],
            [(k, "" if k == agent.f_txn else v) for k, v in pay],
            [(k, "-5" if k == agent.f_txn else v) for k, v in pay],
        ],
    }
    for outcome, param_sets in cases.items():
        for params in param_sets:
            reply = agent.send(params)
            assert (reply.status, reply.code) == (200, agent.codes[outcome]), params
    for raw in ("", "command", "%ff%fe=1", "a=%zz", "&&&"):
        reply = agent.send([], raw_query=raw)
        assert reply.status == 200 and reply.code == agent.codes["bad_request"]
    assert world(db) == before


# 11 ----------------------------------------------------------------------------------------
def case_pay_needs_a_valid_txn_date_and_stores_it_as_sent(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    pay = agent.pay_params("1100", acct)
    without_date = [p for p in pay if p[0] != agent.f_date]
    assert agent.send(without_date).code == agent.codes["bad_date"]
    for bad in (
        "2026-01-15",
        "20261315091500",
        "20260230101010",
        "yesterday",
        "",
        agent.date("20260115250000"),
        "20260115091500Z",
    ):
        reply = agent.pay("1100", acct, date=bad)
        assert reply.code == agent.codes["bad_date"], bad
    assert world(db) == before
    assert agent.pay("1100", acct, date=agent.date("20251231235959")).code == 0
    with db.reading() as uow:
        stored = uow.connection.execute(
            sa.select(agent_payments.c.txn_date).where(agent_payments.c.txn_id == "1100")
        ).scalar_one()
    assert stored == agent.date("20251231235959")


# 12 ----------------------------------------------------------------------------------------
ODD_TEXTS = [
    "\"quoted'",
    "<script>alert(1)</script>",
    "]]>",
    "&amp;&",
    "nul\x00byte",
    "Қазақстан",
    "x" * 10_240,
    "\u202e💸",
]


def case_odd_text_in_any_field_gets_a_well_formed_escaped_answer(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    before = world(db)
    base = agent.pay_params("1200", acct)
    for text in ODD_TEXTS:
        for index in range(len(base)):
            params = [(k, text if i == index else v) for i, (k, v) in enumerate(base)]
            reply = agent.send(params, method="POST")  # parse_reply fails on malformed bodies
            assert reply.status == 200 and reply.code != 0
            assert b"<script>" not in reply.body
        reply = agent.send([(text, "1")], method="GET")
        assert reply.status == 200 and reply.code == agent.codes["bad_request"]
    assert world(db) == before


# 13 ----------------------------------------------------------------------------------------
def case_get_and_post_behave_the_same(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    got = agent.pay("1300", acct, "400.00", method="GET")
    posted = agent.pay("1300", acct, "400.00", method="POST")
    assert (got.code, got.prv_txn) == (posted.code, posted.prv_txn) == (0, got.prv_txn)
    bad_get = agent.pay("1301", acct, "4,00", method="GET")
    bad_post = agent.pay("1301", acct, "4,00", method="POST")
    assert bad_get.code == bad_post.code == agent.codes["bad_amount"]
    assert agent.send(agent.check_params(acct), method="POST").code == 0
    assert balance(db, acct) == 40000


# 14 ----------------------------------------------------------------------------------------
def case_wrong_credentials_or_an_address_outside_the_allowlist_are_refused(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    fenced = make_agent(db, http, dialect, "FENCED", allow_ips=("10.0.0.0/8",))
    before = world(db)
    forbidden = agent.codes["forbidden"]
    params = agent.pay_params("1400", acct)
    for headers in (
        {},
        agent.auth_header(password="wrong-password"),
        agent.auth_header(user="SOMEONE"),
        agent.auth_header(user=agent.code.lower()),
        {"authorization": "Basic !!notbase64"},
        {"authorization": "Bearer abc"},
    ):
        reply = agent.send(params, headers=headers)
        assert (reply.status, reply.code) == (200, forbidden), headers
    fenced_params = fenced.pay_params("1401", acct)
    assert fenced.send(fenced_params).code == forbidden
    spoofed = {**fenced.auth_header(), "x-forwarded-for": "10.1.2.3"}
    assert fenced.send(fenced_params, headers=spoofed).code == forbidden  # header not trusted
    assert world(db) == before
    unknown = http.request("GET", "/agents/NOBODY", params=params)
    assert unknown.status_code == 200 and b"<result>7</result>" in unknown.content
    by_address = make_agent(db, http, dialect, "LOCAL", password=None, allow_ips=("127.0.0.1/32",))
    assert by_address.pay("1402", acct).code == 0
    assert fenced.pay("1403", acct).code == forbidden


# 15 ----------------------------------------------------------------------------------------
def case_database_unreachable_answers_retry_and_the_later_retry_credits_once(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    assert agent.check(acct).code == 0  # the endpoint knows the agent
    before = world(db)
    live = db.engine
    dead = sa.create_engine(
        "sqlite:////proc/no-such-dir/abonent.sqlite3"
        if live.dialect.name == "sqlite"
        else "postgresql+psycopg://postgres@127.0.0.1:9/abonent",
        poolclass=sa.pool.NullPool,
    )
    monkeypatch.setattr(db, "engine", dead)
    for _ in range(2):
        assert agent.pay("1500", acct, "700.00").code == agent.codes["retry"]
        assert agent.check(acct).code == agent.codes["retry"]
    monkeypatch.setattr(db, "engine", live)
    dead.dispose()
    assert world(db) == before
    first = agent.pay("1500", acct, "700.00")
    assert first.code == 0 and agent.pay("1500", acct, "700.00").prv_txn == first.prv_txn
    assert balance(db, acct) == 70000
    # The connection is lost in the middle of a payment: nothing of it stays.
    before = world(db)

    def lost_connection(*args: object, **kwargs: object) -> None:
        raise sa_exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    # The agent row is written one by one or with its batch: fail both ways.
    monkeypatch.setattr(SqlAgentRepository, "insert_payment", lost_connection)
    monkeypatch.setattr(SqlAgentRepository, "insert_payments", lost_connection)
    assert agent.pay("1510", acct, "700.00").code == agent.codes["retry"]
    assert world(db) == before  # the credit, receipt, SMS and audit row were all rolled back
    monkeypatch.undo()
    assert agent.pay("1510", acct, "700.00").code == 0
    assert agent.pay("1510", acct, "700.00").code == 0
    assert balance(db, acct) == 140000


# 16 ----------------------------------------------------------------------------------------
def case_cancel_reverses_unspent_money_once_and_a_replayed_pay_does_not_credit(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    acct: str,
) -> None:
    if agent.dialect is Dialect.KASPI:
        before = world(db)
        assert agent.cancel("1600").code == agent.codes["bad_request"]  # Kaspi has no cancel
        assert world(db) == before
        return
    assert agent.cancel("1600").code == agent.codes["unknown_payment"]
    paid = agent.pay("1600", acct, "900.00")
    assert balance(db, acct) == 90000
    first = agent.cancel("1600")
    second = agent.cancel("1600")
    assert (first.code, second.code) == (0, 0) and first.prv_txn == second.prv_txn == paid.prv_txn
    assert balance(db, acct) == 0
    replay = agent.pay("1600", acct, "900.00")
    assert (replay.code, replay.prv_txn) == (0, paid.prv_txn)
    assert balance(db, acct) == 0
    with db.reading() as uow:
        status = uow.connection.execute(
            sa.select(payments.c.status).where(payments.c.id == paid.prv_txn)
        ).scalar_one()
    assert status == "cancelled"
    # Once the subscriber has spent the money, a cancel is refused.
    agent.pay("1610", acct, "900.00")
    with db.uow() as uow:  # the subscriber spends part of it
        from abonent.ledger import services as ledger
        from abonent.ledger.domain import AccountKind, transfer_request
        from abonent.subscribers.services import system_account

        sub = uow.subscribers.by_msisdn("+7" + acct)
        assert sub is not None
        ledger.record(
            uow,
            transfer_request(
                kind="charge",
                source="test",
                idempotency_key="spend",
                debit_account_id=sub.account_id,
                credit_account_id=system_account(uow, AccountKind.REVENUE),
                amount=50000,
            ),
        )
        uow.commit()
    before = world(db)
    assert agent.cancel("1610").code == agent.codes["cancel_refused"]
    assert world(db) == before


# The cases share one database per test (a reset per case would dominate the run time); each
# case gets its own fresh number and its own txn_ids, and checks "nothing changed" relatively.
Case = Callable[..., None]


def run_cases(
    cases: list[Case],
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for case in cases:
        case(agent, db, http, dialect, numbers, monkeypatch, fresh_number(db))
        report = audit_ledger(db)
        assert report.ok, (case.__name__, report.problems)


def test_check_pay_repeats_conflicts_two_agents_get_and_post(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cases 1, 2, 3, 4, 6 and 13."""
    run_cases(
        [
            case_check_of_a_valid_account_answers_ok_and_moves_no_money,
            case_pay_without_check_is_validated_then_credits,
            case_the_same_pay_repeated_credits_once_with_the_same_prv_txn,
            case_same_txn_id_with_another_sum_or_account_is_fatal_and_changes_nothing,
            case_the_same_txn_id_from_two_agents_is_two_payments,
            case_get_and_post_behave_the_same,
        ],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )


def test_concurrent_identical_and_different_pays(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 5."""
    run_cases(
        [case_fifty_concurrent_identical_pays_credit_once_with_one_prv_txn],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )


def test_every_bad_input_is_refused_with_a_well_formed_answer(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cases 7, 8, 9, 10, 11 and 12."""
    run_cases(
        [
            case_malformed_accounts_are_wrong_format_unknown_ones_not_found,
            case_a_closed_number_is_refused_barred_and_suspended_accept,
            case_bad_missing_or_out_of_limit_sums_are_rejected_and_move_nothing,
            case_bad_commands_ids_and_repeated_parameters_are_answered_with_a_fatal_code,
            case_pay_needs_a_valid_txn_date_and_stores_it_as_sent,
            case_odd_text_in_any_field_gets_a_well_formed_escaped_answer,
        ],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )


def test_authentication_and_allowlist(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 14."""
    run_cases(
        [case_wrong_credentials_or_an_address_outside_the_allowlist_are_refused],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )


def test_storage_outage(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 15."""
    run_cases(
        [case_database_unreachable_answers_retry_and_the_later_retry_credits_once],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )


def test_cancel(
    agent: AgentHarness,
    db: Database,
    http: Http,
    dialect: Dialect,
    numbers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Case 16."""
    run_cases(
        [case_cancel_reverses_unspent_money_once_and_a_replayed_pay_does_not_credit],
        agent,
        db,
        http,
        dialect,
        numbers,
        monkeypatch,
    )
