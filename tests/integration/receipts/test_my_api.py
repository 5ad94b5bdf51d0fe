"""The signed-in number's receipts, bills and cash-machine QR code through the app's API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from abonent.bills import services as bills
from abonent.bootstrap import Container
from abonent.cashdesk import services as cashdesk
from abonent.cashdesk.domain import AuthMethod
from abonent.core.clock import FrozenClock
from abonent.core.money import tenge
from abonent.payments.domain import Channel
from abonent.web.app import create_app
from tests.e2e.cabinet.conftest import last_code
from tests.factories import add_subscriber
from tests.integration.bills.helpers import add_postpaid, charge
from tests.integration.cashdesk.test_sessions_api import FEB_1
from tests.integration.receipts.test_receipts import pay

pytestmark = pytest.mark.storage


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://127.0.0.1") as test_client:
        yield test_client


def bearer(client: TestClient, container: Container, national: str) -> dict[str, str]:
    assert client.post("/api/v1/auth/code", json={"msisdn": national}).status_code == 202
    answer = client.post(
        "/api/v1/auth/login",
        json={"msisdn": national, "code": last_code(container.db, "+7" + national)},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def test_a_subscriber_lists_own_receipts_and_bills_and_gets_a_machine_qr(
    client: TestClient, container: Container, clock: FrozenClock
) -> None:
    db = container.db
    add_subscriber(db, "7071234567")
    add_postpaid(db)
    charge(db, "+77081234567", tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, bills.BillingPolicy())
    mine = pay(db, "+77081234567", tenge(20_000), Channel.CARD, "card", "acq-1")
    pay(db, "+77071234567", tenge(500), Channel.AGENT, "agent:KASPI", "someone-else")
    headers = bearer(client, container, "7081234567")

    receipts = client.get("/api/v1/me/receipts", headers=headers)
    my_bills = client.get("/api/v1/me/bills", headers=headers)
    qr = client.post("/api/v1/me/cash-qr", headers=headers)
    anonymous = client.get("/api/v1/me/receipts")

    assert [r["number"] for r in receipts.json()] == [mine.receipt_number]
    assert receipts.json()[0]["msisdn"] == "***4567"
    (bill,) = my_bills.json()
    assert (bill["month"], bill["status"], bill["amount_due_text"]) == (
        "2026-01",
        "paid",
        "15000.00",
    )
    assert qr.status_code == 201 and qr.json()["qr_svg"].startswith("<svg")
    assert anonymous.status_code == 401
    secret = container.settings.secret_key
    _, key = cashdesk.register_machine(db, "ATM-2", "Офис", secret=secret)
    session = cashdesk.open_session(
        db, "ATM-2", key, method=AuthMethod.QR, value=qr.json()["token"], secret=secret
    )
    assert session.number == "***4567"
