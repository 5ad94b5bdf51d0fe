"""POST /api/v1/vouchers/redeem: never redeems without the API key; errors are problems."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import balance_of, make_batch, voucher_states

pytestmark = pytest.mark.storage
KEY = "staff-key-for-tests"
URL = "/api/v1/vouchers/redeem"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    keyed = replace(
        container, settings=container.settings.model_copy(update={"voucher_api_key": KEY})
    )
    with TestClient(create_app(keyed), raise_server_exceptions=False) as test_client:
        yield test_client


def test_api_redeems_with_a_valid_key(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567", balance=tenge(50))
    _, codes = make_batch(db, count=1)
    answer = client.post(URL, json={"code": codes[0], "msisdn": "7071234567"}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["amount"] == "1000.00" and body["balance_after_tiyn"] == tenge(1050)
    assert body["msisdn"] == "7071234567" and body["receipt_number"].startswith("R")
    again = client.post(URL, json={"code": codes[0], "msisdn": "7071234567"}, headers=AUTH)
    assert again.status_code == 409 and again.json()["code"] == "voucher_already_redeemed"
    with db.reading() as uow:
        [audit] = uow.audit.for_subject(f"voucher:{body['serial']}")
    assert audit["actor"] == "api:voucher-key"
    assert audit_ledger(db).ok


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Basic x"}],
)
def test_api_never_redeems_without_the_key(
    client: TestClient, db: Database, headers: dict[str, str]
) -> None:
    add_subscriber(db, "7071234567")
    batch, codes = make_batch(db, count=1)
    answer = client.post(URL, json={"code": codes[0], "msisdn": "7071234567"}, headers=headers)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    assert voucher_states(db, batch) == {"active": 1}
    assert balance_of(db, "+77071234567") == 0


def test_api_is_off_without_a_configured_key(container: Container, db: Database) -> None:
    add_subscriber(db, "7071234567")
    _, codes = make_batch(db, count=1)
    with TestClient(create_app(container)) as plain:
        answer = plain.post(
            URL, json={"code": codes[0], "msisdn": "7071234567"}, headers={"Authorization": ""}
        )
    assert answer.status_code == 403 and answer.json()["code"] == "voucher_api_disabled"
    assert balance_of(db, "+77071234567") == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "1234567890128", "msisdn": "7071234567"}, 404, "voucher_not_found"),
        ({"code": "123", "msisdn": "7071234567"}, 422, "voucher_code_invalid"),
        ({"code": "1234567890128", "msisdn": "12"}, 422, "invalid_msisdn"),
        ({"code": "1234567890128", "msisdn": "7001234567"}, 404, "subscriber_not_found"),
        ({"code": 1234567890128, "msisdn": "7071234567"}, 422, "validation_error"),
        ({"code": "1" * 500, "msisdn": "7071234567"}, 422, "validation_error"),
        ({"msisdn": "7071234567"}, 422, "validation_error"),
        ({"code": "1", "msisdn": "7071234567", "amount": 5}, 422, "validation_error"),
    ],
)
def test_api_errors_are_typed_problems(
    client: TestClient, db: Database, body: dict[str, object], status: int, code: str
) -> None:
    add_subscriber(db, "7071234567")
    answer = client.post(URL, json=body, headers=AUTH)
    assert answer.status_code == status and answer.json()["code"] == code, answer.text


def test_api_reports_a_locked_number_with_retry_after(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    for _ in range(5):
        client.post(URL, json={"code": "1234567890128", "msisdn": "7071234567"}, headers=AUTH)
    answer = client.post(URL, json={"code": "1234567890128", "msisdn": "7071234567"}, headers=AUTH)
    assert answer.status_code == 429 and answer.json()["code"] == "voucher_entry_locked"
    assert int(answer.headers["Retry-After"]) == 24 * 3600
