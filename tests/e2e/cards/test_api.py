"""Cards and auto top-up through the JSON API, as the mobile app uses them: only a signed-in
subscriber can link cards, pay or manage rules, and only their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.cards.acquirers import set_acquirer
from abonent.db.uow import Database
from abonent.web.app import create_app
from tests.e2e.cabinet.conftest import last_code
from tests.factories import add_subscriber
from tests.integration.cards.support import THREE_DS_CARD, balance, sandbox

pytestmark = pytest.mark.storage
OWNER = "+77071234567"
FRIEND = "+77471234567"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    set_acquirer(container, sandbox(container.db))
    with TestClient(create_app(container), base_url="https://127.0.0.1") as test_client:
        yield test_client


def token_for(client: TestClient, db: Database, national: str) -> dict[str, str]:
    assert client.post("/api/v1/auth/code", json={"msisdn": national}).status_code == 202
    answer = client.post(
        "/api/v1/auth/login", json={"msisdn": national, "code": last_code(db, "+7" + national)}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def step_up(client: TestClient, db: Database, auth: dict[str, str], msisdn: str = OWNER) -> None:
    """Linking a card is sensitive: confirm with a fresh SMS code first."""
    assert client.post("/api/v1/auth/step-up/code", headers=auth).status_code == 202
    confirmed = client.post(
        "/api/v1/auth/step-up", json={"code": last_code(db, msisdn)}, headers=auth
    )
    assert confirmed.status_code == 200, confirmed.text


def link(client: TestClient, auth: dict[str, str], pan: str = "4111111111111111") -> int:
    started = client.post("/api/v1/cards/link", headers=auth)
    assert started.status_code == 201, started.text
    done = client.post(
        started.json()["redirect_url"], data={"pan": pan, "expiry": "12/30", "cvv": "123"}
    )
    assert done.status_code == 200 and "is linked" in done.text
    cards = client.get("/api/v1/cards", headers=auth).json()
    return int(cards[-1]["id"])


def test_link_pay_and_manage_rules_through_the_api(client: TestClient, db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND)
    auth = token_for(client, db, "7071234567")
    refused = client.post("/api/v1/cards/link", headers=auth)
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required"
    step_up(client, db, auth)
    card_id = link(client, auth)
    assert client.get("/api/v1/cards", headers=auth).json()[0]["card"] == "VISA *1111"

    paid = client.post(
        f"/api/v1/cards/{card_id}/topups",
        json={"target": "7471234567", "amount": "2000.00", "idempotency_key": "app-1"},
        headers=auth,
    )
    assert paid.status_code == 200 and paid.json()["status"] == "captured", paid.text
    assert balance(db, FRIEND) == 200_000
    looked_up = client.get(f"/api/v1/cards/payments/{paid.json()['operation_id']}", headers=auth)
    assert looked_up.json()["credited"] is True

    for amount in ["99.99", "50000.01", "1e3", "-5", "abc"]:
        refused = client.post(
            f"/api/v1/cards/{card_id}/topups",
            json={"target": OWNER, "amount": amount, "idempotency_key": f"bad-{amount}"},
            headers=auth,
        )
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_amount"

    created = client.post(
        "/api/v1/autopay/rules",
        json={
            "kind": "threshold",
            "target": OWNER,
            "card_id": card_id,
            "amount": "2000",
            "threshold": "100",
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    rule_id = created.json()["id"]
    changed = client.patch(
        f"/api/v1/autopay/rules/{rule_id}", json={"amount": "3000.00"}, headers=auth
    )
    assert changed.json()["amount"] == "3000.00"
    paused = client.patch(
        f"/api/v1/autopay/rules/{rule_id}", json={"status": "paused"}, headers=auth
    )
    assert paused.json()["status"] == "paused"
    monthly = client.post(
        "/api/v1/autopay/rules",
        json={
            "kind": "schedule",
            "target": FRIEND,
            "card_id": card_id,
            "amount": "500",
            "period": "monthly",
            "day": 31,
        },
        headers=auth,
    )
    assert monthly.status_code == 201 and monthly.json()["next_run_at"].startswith("2026-01-31")
    assert len(client.get("/api/v1/autopay/rules", headers=auth).json()) == 2
    assert client.delete(f"/api/v1/autopay/rules/{rule_id}", headers=auth).status_code == 200
    assert client.delete(f"/api/v1/cards/{card_id}", headers=auth).json()["card"] == "VISA *1111"
    assert client.get("/api/v1/cards", headers=auth).json() == []


def test_three_d_secure_through_the_api(client: TestClient, db: Database) -> None:
    add_subscriber(db, OWNER)
    auth = token_for(client, db, "7071234567")
    step_up(client, db, auth)
    card_id = link(client, auth, THREE_DS_CARD)
    paid = client.post(
        f"/api/v1/cards/{card_id}/topups",
        json={"target": OWNER, "amount": "1500.50", "idempotency_key": "app-3ds"},
        headers=auth,
    ).json()
    assert paid["status"] == "pending_3ds" and balance(db, OWNER) == 0
    confirmed = client.post(paid["acs_url"], data={"answer": "Y"})
    assert confirmed.status_code == 200 and "captured" in confirmed.text
    assert balance(db, OWNER) == 150_050


def test_nothing_without_signing_in_and_nothing_of_others(client: TestClient, db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND)
    owner = token_for(client, db, "7071234567")
    step_up(client, db, owner)
    card_id = link(client, owner)
    for method, path, body in [
        ("GET", "/api/v1/cards", None),
        ("POST", "/api/v1/cards/link", None),
        (
            "POST",
            f"/api/v1/cards/{card_id}/topups",
            {"target": OWNER, "amount": "2000", "idempotency_key": "x"},
        ),
        ("GET", "/api/v1/autopay/rules", None),
        (
            "POST",
            "/api/v1/autopay/rules",
            {
                "kind": "threshold",
                "target": OWNER,
                "card_id": card_id,
                "amount": "2000",
                "threshold": "100",
            },
        ),
    ]:
        answer = client.request(method, path, json=body)
        assert answer.status_code == 401, (path, answer.text)
    friend = token_for(client, db, "7471234567")
    stolen = client.post(
        f"/api/v1/cards/{card_id}/topups",
        json={"target": FRIEND, "amount": "2000", "idempotency_key": "steal"},
        headers=friend,
    )
    assert stolen.status_code == 404
    assert client.delete(f"/api/v1/cards/{card_id}", headers=friend).status_code == 404
    assert balance(db, FRIEND) == 0
