"""POST /api/v1/usage, /api/v1/usage/authorize and GET .../remainders over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.charging import services
from abonent.db.uow import Database
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.integration.charging.support import assert_audit_ok, balance, load_test_catalogue

pytestmark = pytest.mark.storage
KEY = "network-element-key"
A = "+77071234567"


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    keyed = replace(
        container, settings=container.settings.model_copy(update={"usage_api_key": KEY})
    )
    with TestClient(create_app(keyed), raise_server_exceptions=False) as test_client:
        yield test_client


def test_usage_batch_is_rated_per_record(client: TestClient, db: Database) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=100000)
    records = [
        {
            "record_id": "n1",
            "kind": "sms",
            "caller": A,
            "callee": "+77001234567",
            "started_at": "2026-01-15T14:00:00+05:00",
        },
        {
            "record_id": "n2",
            "kind": "call",
            "caller": A,
            "callee": "+77771234567",
            "started_at": "2026-01-15T09:01:00Z",
            "duration_seconds": 61,
        },
        {
            "record_id": "n3",
            "kind": "call",
            "caller": A,
            "callee": "+77771234567",
            "started_at": "yesterday",
            "duration_seconds": 1,
        },
        {
            "record_id": "n4",
            "kind": "data",
            "caller": A,
            "started_at": "2026-01-15T09:00:00Z",
            "volume_bytes": "lots",
        },
    ]
    answer = client.post("/api/v1/usage", json={"records": records}, headers={"X-Api-Key": KEY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["rated"], body["duplicates"], body["refused"]) == (2, 0, 2)
    assert [o["status"] for o in body["outcomes"]] == ["rated", "rated", "refused", "refused"]
    assert body["outcomes"][1]["amount"] == "50.00"
    assert "started_at" in body["outcomes"][2]["message"]
    again = client.post(
        "/api/v1/usage", json={"records": records[:1]}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert again.json()["duplicates"] == 1
    assert balance(db, A) == 100000 - 1000 - 5000
    assert_audit_ok(db)


@pytest.mark.parametrize("headers", [{}, {"X-Api-Key": "wrong"}, {"Authorization": "Basic x"}])
def test_usage_needs_the_network_element_key(
    client: TestClient, db: Database, headers: dict[str, str]
) -> None:
    answer = client.post("/api/v1/usage", json={"records": []}, headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    answer = client.post(
        "/api/v1/usage/authorize", json={"msisdn": A, "kind": "sms"}, headers=headers
    )
    assert answer.status_code == 401


def test_usage_api_is_off_without_a_configured_key(container: Container) -> None:
    with TestClient(create_app(container), raise_server_exceptions=False) as plain:
        answer = plain.post("/api/v1/usage", json={"records": []}, headers={"X-Api-Key": ""})
    assert answer.status_code == 403 and answer.json()["code"] == "usage_api_disabled"


def test_authorize_answers_units_and_insufficient(client: TestClient, db: Database) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=2500)
    headers = {"X-Api-Key": KEY}
    ok = client.post(
        "/api/v1/usage/authorize",
        headers=headers,
        json={"msisdn": "7071234567", "kind": "call", "callee": "+77771234567"},
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"msisdn": A, "result": "ok", "units": 60, "unit": "second"}
    bad = client.post(
        "/api/v1/usage/authorize", headers=headers, json={"msisdn": A, "kind": "teleport"}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    nobody = client.post(
        "/api/v1/usage/authorize", headers=headers, json={"msisdn": "+77471230000", "kind": "sms"}
    )
    assert nobody.status_code == 404
    client.post(
        "/api/v1/usage",
        headers=headers,
        json={
            "records": [
                {
                    "record_id": "z",
                    "kind": "call",
                    "caller": A,
                    "callee": "+77771234567",
                    "started_at": "2026-01-15T09:00:00Z",
                    "duration_seconds": 60,
                }
            ]
        },
    )
    empty = client.post(
        "/api/v1/usage/authorize", headers=headers, json={"msisdn": A, "kind": "sms"}
    )
    assert empty.json()["result"] == "insufficient"


def test_remainders_endpoint(client: TestClient, db: Database) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=400000)
    services.change_tariff(db, A, "MONTH", actor="test")
    assert client.get("/api/v1/subscribers/7071234567/remainders").status_code == 401
    signed_in = _bearer(client, db, "7071234567")
    answer = client.get("/api/v1/subscribers/7071234567/remainders", headers=signed_in)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tariff"] == "MONTH" and body["names"]["kk"] == "Ай"
    assert {r["kind"]: r["left"] for r in body["remainders"]}["sms"] == 5
    # Another number, an unknown one and garbage get the same refusal: nothing to probe.
    for other in ("7471230000", "garbage"):
        refused = client.get(f"/api/v1/subscribers/{other}/remainders", headers=signed_in)
        assert refused.status_code == 403


def _bearer(client: TestClient, db: Database, national: str) -> dict[str, str]:
    from tests.e2e.cabinet.conftest import last_code

    assert client.post("/api/v1/auth/code", json={"msisdn": national}).status_code == 202
    login = client.post(
        "/api/v1/auth/login", json={"msisdn": national, "code": last_code(db, "+7" + national)}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}
