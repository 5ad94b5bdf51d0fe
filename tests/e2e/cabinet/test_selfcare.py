"""Money and service features of the cabinet over HTTP: tariffs and options, statements,
trust credit, balance transfers, auto top-up rules, receipts in the history; bad input is a
clear error that changes nothing, never a 500."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.db.uow import Database
from tests.e2e.cabinet.conftest import last_code, sign_in
from tests.e2e.cabinet.test_access_matrix import CATALOGUE, _link_card, _token
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"


def balance(db: Database, national: str) -> int:
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn("+7" + national)
        assert subscriber is not None
        account = uow.ledger.account(subscriber.account_id)
        assert account is not None
        return account.balance


def _setup(container: Container, money: int = 5000) -> None:
    from abonent.catalog.services import load_catalogue

    load_catalogue(container.db, CATALOGUE, actor="test")
    add_subscriber(container.db, A, balance=tenge(money), name="Айгерим")
    add_subscriber(container.db, B, balance=tenge(100))


def test_tariffs_and_options_through_the_api(client: TestClient, container: Container) -> None:
    _setup(container)
    db = container.db
    a = _token(client, db, A)
    base = f"/api/v1/subscribers/{A}"
    offers = client.get(f"{base}/tariffs", headers=a).json()
    month = next(o for o in offers if o["code"] == "MONTH")
    assert month["bundles"]["data_mb"] == 100 and month["charge_now_tiyn"] == tenge(2990)
    assert client.get(f"{base}/subscription", headers=a).status_code == 404  # no tariff yet

    changed = client.post(f"{base}/tariff", json={"code": "MONTH"}, headers=a)
    assert changed.status_code == 200, changed.text
    assert changed.json()["tariff"] == "MONTH"
    assert balance(db, A) == tenge(5000 - 2990)
    gauges = client.get(f"{base}/subscription", headers=a).json()["remainders"]
    assert {g["kind"]: g["left"] for g in gauges}["data_mb"] == 100
    assert all(g["expires_at"] for g in gauges)

    # Unknown tariff, option already connected, not enough money: clear errors, no change.
    before = balance(db, A)
    assert client.post(f"{base}/tariff", json={"code": "NOPE"}, headers=a).status_code == 404
    connected = client.post(f"{base}/options", json={"code": "DATA5"}, headers=a)
    assert connected.status_code == 201 and connected.json()["code"] == "DATA5"
    again = client.post(f"{base}/options", json={"code": "DATA5"}, headers=a)
    assert again.status_code == 409
    assert balance(db, A) == before - tenge(990)
    assert [o["current"] for o in client.get(f"{base}/options", headers=a).json()] == [True]
    assert client.delete(f"{base}/options/DATA5", headers=a).json() == {"status": "disconnected"}
    assert client.delete(f"{base}/options/DATA5", headers=a).status_code == 404
    for bad in ({"code": ""}, {"code": "x" * 40}, {}):
        assert client.post(f"{base}/options", json=bad, headers=a).status_code == 422


def test_statements_short_free_full_charged_once_and_emailed(
    client: TestClient, container: Container
) -> None:
    _setup(container)
    db = container.db
    a = _token(client, db, A)
    base = f"/api/v1/subscribers/{A}/statements"
    before = balance(db, A)
    short = client.get(f"{base}/short?from=2026-01-01&to=2026-01-15", headers=a)
    assert short.status_code == 200 and balance(db, A) == before
    body = {"period_from": "2026-01-01", "period_to": "2026-01-14", "email": "a@example.kz"}
    first = client.post(f"{base}/full", json=body, headers=a)
    assert first.status_code == 200, first.text
    assert first.json()["charged_now"] is True and first.json()["emailed_to"] == "a@example.kz"
    fee = first.json()["fee_tiyn"]
    assert fee > 0 and balance(db, A) == before - fee
    second = client.post(f"{base}/full", json=body, headers=a)
    assert second.json()["charged_now"] is False and balance(db, A) == before - fee
    with db.reading() as uow:
        assert uow.outbox.messages(topic="email")
    for bad in (
        {"period_from": "2026-02-30", "period_to": "2026-01-14"},
        {"period_from": "2026-01-10", "period_to": "2026-01-01"},
        {"period_from": "2020-01-01", "period_to": "2026-01-01"},
        {"period_from": "yesterday", "period_to": "2026-01-01"},
    ):
        answer = client.post(f"{base}/full", json=bad, headers=a)
        assert answer.status_code == 422, (bad, answer.text)
    assert balance(db, A) == before - fee
    assert client.get(f"{base}/short?from=2026-99-01", headers=a).status_code == 422


def test_trust_credit_shows_debt_and_deadline(client: TestClient, container: Container) -> None:
    from abonent.ledger.domain import AccountKind
    from abonent.payments.domain import Channel, TopUpRequest
    from abonent.payments.services import top_up
    from tests.factories import system_account

    _setup(container, money=0)
    db = container.db
    container.clock.advance(days=120)  # type: ignore[attr-defined]
    top_up(
        db,
        TopUpRequest(
            msisdn="+7" + A,
            amount=tenge(1000),
            channel=Channel.AGENT,
            source="agent:T",
            external_id="c1",
            clearing_account_id=system_account(db, AccountKind.AGENT_CLEARING, "T"),
        ),
    )
    a = _token(client, db, A)
    base = f"/api/v1/subscribers/{A}/credit"
    view = client.get(base, headers=a).json()
    assert view["current"] is None and view["offers"], view
    amount = view["offers"][0]["amount_tiyn"]
    text = f"{amount // 100}.{amount % 100:02d}"
    taken = client.post(base, json={"amount": text, "idempotency_key": "k1"}, headers=a)
    assert taken.status_code == 201, taken.text
    assert balance(db, A) == tenge(1000) + amount
    now = client.get(base, headers=a).json()
    assert now["current"]["outstanding_tiyn"] == amount + view["offers"][0]["fee_tiyn"]
    assert now["current"]["due_at"] > now["current"]["taken_at"]
    again = client.post(base, json={"amount": text, "idempotency_key": "k2"}, headers=a)
    assert again.status_code == 409 and balance(db, A) == tenge(1000) + amount
    bad = client.post(base, json={"amount": "abc", "idempotency_key": "k3"}, headers=a)
    assert bad.status_code == 422


def test_transfer_quote_then_send_with_a_fresh_sms_code(
    client: TestClient, container: Container
) -> None:
    _setup(container)
    db = container.db
    a = _token(client, db, A)
    base = f"/api/v1/subscribers/{A}/transfers"
    quote = client.post(f"{base}/quote", json={"recipient": B, "amount": "1000.00"}, headers=a)
    assert quote.status_code == 200, quote.text
    q = quote.json()
    assert q["amount_tiyn"] == tenge(1000) and q["net_tiyn"] == q["amount_tiyn"] - q["fee_tiyn"]
    body = {"recipient": B, "amount": "1000.00", "idempotency_key": "t1"}
    refused = client.post(base, json=body, headers=a)
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required"
    assert balance(db, A) == tenge(5000) and balance(db, B) == tenge(100)
    client.post("/api/v1/auth/step-up/code", headers=a)
    client.post("/api/v1/auth/step-up", json={"code": last_code(db, "+7" + A)}, headers=a)
    sent = client.post(base, json=body, headers=a)
    assert sent.status_code == 201, sent.text
    assert balance(db, A) == tenge(4000) and balance(db, B) == tenge(100) + q["net_tiyn"]
    replay = client.post(base, json=body, headers=a)
    assert replay.status_code == 201 and balance(db, A) == tenge(4000)
    to_self = client.post(f"{base}/quote", json={"recipient": A, "amount": "100"}, headers=a)
    assert to_self.status_code == 409


def test_pages_tariffs_options_credit_transfer_statements_render(
    client: TestClient, container: Container
) -> None:
    _setup(container)
    db = container.db
    csrf = sign_in(client, db, A)
    for path in (
        "/cabinet/tariffs",
        "/cabinet/options",
        "/cabinet/statements",
        "/cabinet/credit",
        "/cabinet/transfer",
        f"/cabinet/transfer?recipient={B}&amount=500",
        "/cabinet/topup",
        "/cabinet/autopay",
    ):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
    assert "Месяц" in client.get("/cabinet/tariffs").text
    changed = client.post(
        "/cabinet/tariffs/change",
        data={"code": "MONTH", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert "ok=tariff_changed" in changed.headers["location"]
    dashboard = client.get("/cabinet")
    assert "<meter" in dashboard.text and "expires" not in dashboard.text  # translated (ru)
    quote = client.get(f"/cabinet/transfer?recipient={B}&amount=500")
    assert 'id="transfer-quote"' in quote.text and "step-up-send" in quote.text


def test_bad_form_input_never_breaks_a_page(client: TestClient, container: Container) -> None:
    _setup(container)
    db = container.db
    csrf = sign_in(client, db, A)
    before = balance(db, A)
    for path, form in (
        ("/cabinet/tariffs/change", {"code": "x" * 500}),
        ("/cabinet/options/connect", {}),
        ("/cabinet/topup", {"card_id": "9" * 40, "amount": "-5", "payment_key": ""}),
        ("/cabinet/topup", {"card_id": "1", "amount": "1e9", "payment_key": "k"}),
        ("/cabinet/cards/remove", {"card_id": "abc"}),
        ("/cabinet/statements/full", {"from": "2026-13-01", "to": ""}),
        ("/cabinet/credit", {"amount": "ten", "key": "k"}),
        ("/cabinet/transfer", {"recipient": "12", "amount": "100", "key": "k"}),
        ("/cabinet/autopay", {"kind": "weird", "card_id": "x"}),
        ("/cabinet/autopay/complete", {"rule_id": "", "card_id": ""}),
        ("/cabinet/autopay/delete", {"rule_id": "999999"}),
    ):
        answer = client.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303 and "error=" in answer.headers["location"], (
            path,
            answer.status_code,
            answer.headers.get("location"),
        )
    assert balance(db, A) == before
    for path in ("/cabinet/statements?from=bad&to=2026-99-99", "/cabinet/tariffs?n=garbage"):
        assert client.get(path).status_code in (200, 403)
    assert (
        client.get("/cabinet/cards/link/return?session=nope", follow_redirects=False).status_code
        == 303
    )


def test_card_link_needs_a_fresh_code_and_a_ussd_rule_is_completed_in_the_cabinet(
    client: TestClient, container: Container
) -> None:
    from abonent.autopay.services import create_pending_rule, list_rules

    _setup(container)
    db = container.db
    csrf = sign_in(client, db, A)
    refused = client.post("/cabinet/cards/link", data={"csrf_token": csrf}, follow_redirects=False)
    assert "error=step_up_required" in refused.headers["location"]
    pending = create_pending_rule(db, owner_msisdn="+7" + A, target_msisdn="+7" + A, channel="ussd")
    page = client.get("/cabinet/autopay")
    assert "Waiting for a card" in page.text or "Ожидает карту" in page.text
    card_id = _link_card(container, A)
    rule_id = pending.rule.id if hasattr(pending, "rule") else list_rules(db, "+7" + A)[0].id
    done = client.post(
        "/cabinet/autopay/complete",
        data={"rule_id": str(rule_id), "card_id": str(card_id), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert "ok=rule_completed" in done.headers["location"], done.headers
    assert [r.status.value for r in list_rules(db, "+7" + A)] == ["active"]
    created = client.post(
        "/cabinet/autopay",
        data={
            "kind": "schedule",
            "target": B,
            "card_id": str(card_id),
            "amount": "1000",
            "period": "monthly",
            "day": "5",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert "ok=rule_created" in created.headers["location"], created.headers
    friend = next(r for r in list_rules(db, "+7" + A) if r.target_msisdn == "+7" + B)
    gone = client.post(
        "/cabinet/autopay/delete",
        data={"rule_id": str(friend.id), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert "ok=rule_deleted" in gone.headers["location"]


def test_history_lines_link_to_receipts(client: TestClient, container: Container) -> None:
    _setup(container)
    db = container.db
    card_id = _link_card(container, A)
    a = _token(client, db, A)
    paid = client.post(
        f"/api/v1/subscribers/{A}/topups/card",
        json={"card_id": card_id, "amount": "500.00", "idempotency_key": "h1"},
        headers=a,
    )
    assert paid.status_code == 200 and paid.json()["credited"], paid.text
    sign_in(client, db, A)
    page = client.get("/cabinet/history")
    link = re.search(r'href="(/r/[^"]+)" class="receipt-link"', page.text)
    assert link, page.text[-2000:]
    assert client.get(link.group(1)).status_code == 200
    items = client.get(f"/api/v1/subscribers/{A}/history", headers=a).json()["items"]
    assert any(i["receipt_url"] == link.group(1) for i in items)


def test_full_statement_downloads_as_csv_and_pdf_for_one_fee(
    client: TestClient, container: Container
) -> None:
    _setup(container)
    db = container.db
    csrf = sign_in(client, db, A)
    before = balance(db, A)
    form = {"from": "2026-01-01", "to": "2026-01-14", "email": "a@example.kz", "csrf_token": csrf}
    as_csv = client.post("/cabinet/statements/full", data={**form, "format": "csv"})
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    charged = before - balance(db, A)
    assert charged > 0
    as_pdf = client.post("/cabinet/statements/full", data={**form, "format": "pdf"})
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
    assert before - balance(db, A) == charged  # the same period: no second fee


def test_huge_or_odd_ids_are_clear_errors(client: TestClient, container: Container) -> None:
    _setup(container)
    db = container.db
    a = _token(client, db, A)
    assert client.delete("/api/v1/grants/" + "9" * 40, headers=a).status_code == 422
    csrf = sign_in(client, db, A)
    for grant_id in ("9" * 40, "²", "-1", ""):
        answer = client.post(
            "/cabinet/family/revoke",
            data={"grant_id": grant_id, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert answer.status_code == 303 and "error=" in answer.headers["location"]
    assert client.get("/cabinet/history?before=" + "9" * 40).status_code == 200
    assert client.get("/cabinet/history?before=²").status_code == 200


def test_transfer_page_confirms_by_sms_code_and_keeps_the_form(
    client: TestClient, container: Container
) -> None:
    _setup(container)
    db = container.db
    csrf = sign_in(client, db, A)
    here = f"/cabinet/transfer?n={A}&recipient={B}&amount=500"
    assert 'id="step-up-send"' in client.get(here).text
    sent = client.post(
        "/cabinet/security/step-up-code",
        data={"back": here, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert sent.headers["location"] == here + "&ok=code_sent&step_up=1"
    confirmed = client.post(
        "/cabinet/security/step-up",
        data={"back": here, "code": last_code(db, "+7" + A), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert confirmed.headers["location"] == here + "&ok=step_up_ok"
    page = client.get(confirmed.headers["location"])
    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key and 'id="send-transfer"' in page.text
    done = client.post(
        f"/cabinet/transfer?n={A}",
        data={"recipient": B, "amount": "500", "key": key.group(1), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert "ok=transferred" in done.headers["location"], done.headers
    assert balance(db, A) == tenge(4500)
