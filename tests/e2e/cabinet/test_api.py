"""The mobile app's API: bearer tokens, history paging, family and delegation rights."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from abonent.core.money import tenge
from abonent.db.uow import Database
from tests.e2e.cabinet.conftest import last_code
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage


def token_for(client: TestClient, db: Database, national: str) -> dict[str, str]:
    assert client.post("/api/v1/auth/code", json={"msisdn": national}).status_code == 202
    answer = client.post(
        "/api/v1/auth/login", json={"msisdn": national, "code": last_code(db, "+7" + national)}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_bearer_token_reads_own_number_and_nothing_else(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567", balance=tenge(100))
    add_subscriber(db, "7071234568", balance=tenge(900))
    a = token_for(client, db, "7071234567")
    own = client.get("/api/v1/subscribers/7071234567", headers=a)
    assert own.status_code == 200 and own.json()["balance_tiyn"] == 10000
    other = client.get("/api/v1/subscribers/7071234568", headers=a)
    assert other.status_code == 403 and other.json()["code"] == "forbidden"
    assert "90000" not in other.text
    assert client.get("/api/v1/subscribers/7071234567").status_code == 401


def test_history_pages_backwards(client: TestClient, db: Database) -> None:
    from abonent.ledger.domain import AccountKind
    from abonent.payments.domain import Channel, TopUpRequest
    from abonent.payments.services import top_up
    from tests.factories import system_account

    add_subscriber(db, "7071234567")
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "T")
    for i in range(5):
        top_up(
            db,
            TopUpRequest(
                msisdn="+77071234567",
                amount=100 * (i + 1),
                channel=Channel.AGENT,
                source="agent:T",
                external_id=str(i),
                clearing_account_id=clearing,
            ),
        )
    a = token_for(client, db, "7071234567")
    first = client.get("/api/v1/subscribers/7071234567/history?limit=3", headers=a).json()
    assert [i["amount_tiyn"] for i in first["items"]] == [500, 400, 300]
    second = client.get(
        f"/api/v1/subscribers/7071234567/history?limit=3&before={first['next_before']}", headers=a
    ).json()
    assert [i["amount_tiyn"] for i in second["items"]] == [200, 100]
    assert second["next_before"] is None
    assert all(i["receipt_number"] for i in first["items"])


def test_delegate_with_view_right_can_read_but_not_suspend(
    client: TestClient, db: Database
) -> None:
    add_subscriber(db, "7071234567", balance=tenge(50))
    add_subscriber(db, "7071234568")
    a = token_for(client, db, "7071234567")
    # A sensitive action: delegation needs a fresh SMS code.
    refused = client.post(
        "/api/v1/grants/delegates", json={"msisdn": "7071234568", "right": "view"}, headers=a
    )
    assert refused.status_code == 403 and refused.json()["code"] == "step_up_required"
    client.post("/api/v1/auth/step-up/code", headers=a)
    assert (
        client.post(
            "/api/v1/auth/step-up", json={"code": last_code(db, "+77071234567")}, headers=a
        ).status_code
        == 200
    )
    grant = client.post(
        "/api/v1/grants/delegates", json={"msisdn": "7071234568", "right": "view"}, headers=a
    )
    assert grant.status_code == 201, grant.text
    b = token_for(client, db, "7071234568")
    assert client.get("/api/v1/subscribers/7071234567", headers=b).json()["right"] == "view"
    assert client.post("/api/v1/subscribers/7071234567/suspend", headers=b).status_code == 403
    client.delete(f"/api/v1/grants/{grant.json()['id']}", headers=a)
    assert client.get("/api/v1/subscribers/7071234567", headers=b).status_code == 403


def test_family_number_attached_by_code_from_that_number(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    add_subscriber(db, "7001234567", balance=tenge(70))
    a = token_for(client, db, "7071234567")
    assert (
        client.post(
            "/api/v1/grants/family/code", json={"msisdn": "7001234567"}, headers=a
        ).status_code
        == 202
    )
    wrong = client.post(
        "/api/v1/grants/family", json={"msisdn": "7001234567", "code": "999999"}, headers=a
    )
    assert wrong.status_code == 401
    code = last_code(db, "+77001234567")
    ok = client.post(
        "/api/v1/grants/family", json={"msisdn": "7001234567", "code": code}, headers=a
    )
    assert ok.status_code == 201
    family = client.get("/api/v1/subscribers/7001234567", headers=a).json()
    assert family["balance_tiyn"] == 7000 and family["right"] == "full"
    assert (
        client.post("/api/v1/subscribers/7001234567/suspend", headers=a).json()["status"]
        == "suspended"
    )


def test_support_chat_round_trip(client: TestClient, db: Database) -> None:
    from abonent.cabinet.services import answer_support

    add_subscriber(db, "7071234567")
    a = token_for(client, db, "7071234567")
    assert (
        client.post(
            "/api/v1/support/messages", json={"text": "Где мой платёж?"}, headers=a
        ).status_code
        == 201
    )
    answer_support(db, "Aliya", "7071234567", "Платёж зачислен.")
    thread = client.get("/api/v1/support/messages", headers=a).json()
    assert [m["author"] for m in thread] == ["subscriber", "support"]
