"""Payment status (API and public page) and support's redirect of a mistaken payment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from abonent.audit.tables import audit_log
from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.errors import NotFound
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.ledger.services import audit_ledger
from abonent.payments.corrections import AlreadyCorrected, NothingToRedirect, redirect_payment
from abonent.payments.domain import Channel, Payment, PaymentStatus, TopUpRequest
from abonent.payments.services import top_up
from abonent.subscribers.services import system_account
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.factories import system_account as make_system_account
from tests.integration.agents.harness import Http, asgi_http

pytestmark = pytest.mark.storage

WRONG, RIGHT = "7071234567", "7471239876"


def agent_top_up(db: Database, national: str, amount: int, txn_id: str = "1001") -> Payment:
    clearing = make_system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    return top_up(
        db,
        TopUpRequest(
            msisdn="+7" + national,
            amount=amount,
            channel=Channel.AGENT,
            source="agent:KASPI",
            external_id=txn_id,
            clearing_account_id=clearing,
            external_date="20260115091500",
        ),
    )


def balance(db: Database, national: str) -> int:
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+7" + national)
        assert sub is not None
        account = uow.ledger.account(sub.account_id)
        assert account is not None
        return account.balance


def spend(db: Database, national: str, amount: int) -> None:
    with db.uow() as uow:
        sub = uow.subscribers.by_msisdn("+7" + national)
        assert sub is not None
        ledger.record(
            uow,
            transfer_request(
                kind="charge",
                source="test",
                idempotency_key=f"spend-{national}-{amount}",
                debit_account_id=sub.account_id,
                credit_account_id=system_account(uow, AccountKind.REVENUE),
                amount=amount,
            ),
        )
        uow.commit()


@pytest.fixture
def http(container: Container) -> Iterator[Http]:
    with asgi_http(create_app(container)) as client:
        yield client


# -- status ------------------------------------------------------------------------------------
def test_status_by_agent_and_txn_id_or_by_receipt_shows_only_the_masked_number(
    db: Database, http: Http
) -> None:
    add_subscriber(db, WRONG)
    payment = agent_top_up(db, WRONG, 20000)
    by_txn = http.request(
        "GET", "/api/v1/payments/status", params=[("agent", "KASPI"), ("txn_id", "1001")]
    )
    by_receipt = http.request(
        "GET", "/api/v1/payments/status", params=[("receipt", payment.receipt_number)]
    )
    for response in (by_txn, by_receipt):
        assert response.status_code == 200
        data = response.json()
        assert data["status"] == "credited" and data["msisdn"] == "***4567"
        assert data["amount"] == "200.00" and data["amount_tiyn"] == 20000
        assert data["time"] == "2026-01-15T09:00:00+00:00"
        assert "707123" not in response.text and "Test Subscriber" not in response.text


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ([("receipt", "R9999999999")], 404, "payment_not_found"),
        ([("agent", "KASPI"), ("txn_id", "55")], 404, "payment_not_found"),
        ([("agent", "NOBODY"), ("txn_id", "1001")], 404, "payment_not_found"),
        ([("receipt", "12; DROP TABLE")], 422, "validation_error"),
        ([("agent", "KASPI")], 422, "validation_error"),
        ([], 422, "validation_error"),
        ([("agent", "K" * 41), ("txn_id", "1")], 422, "validation_error"),
    ],
)
def test_status_lookups_that_find_nothing_answer_a_problem(
    db: Database, http: Http, params: list[tuple[str, str]], status: int, code: str
) -> None:
    add_subscriber(db, WRONG)
    agent_top_up(db, WRONG, 20000)
    response = http.request("GET", "/api/v1/payments/status", params=params)
    assert response.status_code == status and response.json()["code"] == code


def test_status_lookups_are_rate_limited_per_address(db: Database, http: Http) -> None:
    answers = [
        http.request("GET", "/api/v1/payments/status", params=[("receipt", f"R{n:010d}")])
        for n in range(31)
    ]
    assert {a.status_code for a in answers[:30]} == {404}
    assert answers[30].status_code == 429 and answers[30].json()["code"] == "rate_limited"


def test_the_public_status_page_shows_the_payment(db: Database, http: Http) -> None:
    add_subscriber(db, WRONG)
    payment = agent_top_up(db, WRONG, 20000)
    empty = http.request("GET", "/payment-status")
    assert empty.status_code == 200 and "<form" in empty.text
    found = http.request("GET", "/payment-status", params=[("receipt", payment.receipt_number)])
    assert found.status_code == 200 and "***4567" in found.text and "200.00" in found.text
    assert "7071234567" not in found.text and "Платёж принят" in found.text
    missing = http.request(
        "GET", "/payment-status", params=[("agent", "<b>x</b>"), ("txn_id", "1")]
    )
    assert missing.status_code == 422 and "<b>x</b>" not in missing.text
    assert "&lt;b&gt;x&lt;/b&gt;" in missing.text


# -- redirect ----------------------------------------------------------------------------------
def test_redirect_moves_what_is_left_reports_the_rest_and_notifies_both(db: Database) -> None:
    add_subscriber(db, WRONG)
    add_subscriber(db, RIGHT)
    payment = agent_top_up(db, WRONG, 100000)
    spend(db, WRONG, 30000)
    report = redirect_payment(
        db, payment.receipt_number, to=RIGHT, reason="typo in number", actor="support:aigul"
    )
    assert (report.amount, report.moved, report.not_moved) == (100000, 70000, 30000)
    assert balance(db, WRONG) == 0 and balance(db, RIGHT) == 70000
    with db.reading() as uow:
        original = uow.connection.execute(
            sa.text("SELECT status FROM payments WHERE receipt_number = :r"),
            {"r": payment.receipt_number},
        ).scalar_one()
        new = uow.connection.execute(
            sa.text("SELECT msisdn, amount, channel FROM payments WHERE receipt_number = :r"),
            {"r": report.new_receipt},
        ).one()
        to_wrong = uow.outbox.messages(topic="sms", recipient="+7" + WRONG)
        to_right = uow.outbox.messages(topic="sms", recipient="+7" + RIGHT)
        audit = uow.connection.execute(
            sa.select(audit_log.c.actor, audit_log.c.details).where(
                audit_log.c.action == "payment.redirected"
            )
        ).one()
    assert original == PaymentStatus.REDIRECTED.value
    assert tuple(new) == ("+7" + RIGHT, 70000, "correction")
    assert any("700.00" in m["payload"]["text"] for m in to_wrong)
    assert len(to_right) == 1 and "700.00" in to_right[0]["payload"]["text"]
    assert audit.actor == "support:aigul" and audit.details["not_moved"] == 30000
    assert audit.details["reason"] == "typo in number"
    assert audit_ledger(db).ok


def test_a_payment_is_redirected_at_most_once(db: Database) -> None:
    add_subscriber(db, WRONG)
    add_subscriber(db, RIGHT)
    payment = agent_top_up(db, WRONG, 50000)
    redirect_payment(db, payment.receipt_number, to=RIGHT, reason="typo", actor="support:a")
    with pytest.raises(AlreadyCorrected):
        redirect_payment(db, payment.receipt_number, to=RIGHT, reason="typo", actor="support:a")
    assert balance(db, WRONG) == 0 and balance(db, RIGHT) == 50000
    assert audit_ledger(db).ok


def test_redirect_refusals_change_nothing(db: Database) -> None:
    add_subscriber(db, WRONG)
    add_subscriber(db, RIGHT)
    payment = agent_top_up(db, WRONG, 50000)
    with pytest.raises(NotFound):
        redirect_payment(db, payment.receipt_number, to="7079999999", reason="x", actor="s")
    with pytest.raises(NotFound):
        redirect_payment(db, "R0000009999", to=RIGHT, reason="x", actor="s")
    spend(db, WRONG, 50000)
    with pytest.raises(NothingToRedirect):
        redirect_payment(db, payment.receipt_number, to=RIGHT, reason="x", actor="s")
    assert balance(db, RIGHT) == 0
    with db.reading() as uow:
        status = uow.connection.execute(sa.text("SELECT status FROM payments")).scalar_one()
    assert status == "credited"
    assert audit_ledger(db).ok


def test_payment_redirect_cli_prints_the_report(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    db = container.db
    add_subscriber(db, WRONG)
    add_subscriber(db, RIGHT)
    payment = agent_top_up(db, WRONG, 100000)
    spend(db, WRONG, 25000)
    set_container(container)
    try:
        code = main(
            [
                "payment",
                "redirect",
                payment.receipt_number,
                "--to",
                "+7 747 123 98 76",
                "--reason",
                "customer typo",
            ]
        )
        again = main(
            [
                "payment",
                "redirect",
                payment.receipt_number,
                "--to",
                RIGHT,
                "--reason",
                "customer typo",
            ]
        )
    finally:
        set_container(None)
    captured = capsys.readouterr()
    assert code == 0 and "750.00" in captured.out and "250.00" in captured.out
    assert again == 1 and "error [payment_already_corrected]" in captured.err
    assert audit_ledger(db).ok
