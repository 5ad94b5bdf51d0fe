"""Cash machine sessions through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from abonent.bills import services as bills
from abonent.bills.domain import BillStatus, Month
from abonent.bootstrap import Container
from abonent.cashdesk import services as cashdesk
from abonent.cashdesk.tables import cash_sessions
from abonent.core.clock import FrozenClock
from abonent.core.iin import make_iin
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind, system_account_code
from abonent.ledger.services import audit_ledger
from abonent.payments.tables import payments
from abonent.subscribers import services as subscribers
from abonent.subscribers.services import get_subscriber
from abonent.web.app import create_app
from tests.integration.bills.helpers import add_postpaid, charge

pytestmark = pytest.mark.storage

POSTPAID = "+77081234567"
PREPAID = "+77071234567"
FEB_1 = datetime(2026, 2, 1, 6, 0, tzinfo=UTC)


def iin_for(birth: date, century_sex: int) -> str:
    for serial in range(1, 100):
        iin = make_iin(birth, century_sex, serial)
        if iin:
            return iin
    raise AssertionError("no IIN")


PAYER_IIN = iin_for(date(1990, 3, 14), 4)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def machine(container: Container) -> dict[str, str]:
    _, key = cashdesk.register_machine(
        container.db, "ATM-ALM-1", "ТРЦ Мега", secret=container.settings.secret_key
    )
    return {"X-Machine-Code": "ATM-ALM-1", "X-Machine-Key": key}


@pytest.fixture
def january_bill(db: Database, clock: FrozenClock) -> None:
    """A postpaid number with an open January bill of 15 000 ₸ (the seed's example)."""
    add_postpaid(db, iin=PAYER_IIN)
    charge(db, POSTPAID, tenge(15_000))
    clock.set(FEB_1)
    bills.run_bills(db, bills.BillingPolicy())


def open_session(client: TestClient, headers: dict[str, str], **body: str) -> dict[str, object]:
    response = client.post("/api/cashdesk/sessions", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


def note(
    client: TestClient, headers: dict[str, str], session: object, seq: object, denomination: object
) -> dict[str, object]:
    response = client.post(
        f"/api/cashdesk/sessions/{session}/notes",
        json={"seq": seq, "denomination": denomination},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def payment_count(db: Database) -> int:
    with db.reading() as uow:
        return int(
            uow.connection.execute(sa.select(sa.func.count()).select_from(payments)).scalar_one()
        )


def cash_clearing(db: Database) -> int:
    with db.reading() as uow:
        account = uow.ledger.account_by_code(
            system_account_code(AccountKind.CASH_CLEARING, "ATM-ALM-1")
        )
    return 0 if account is None else account.balance


@pytest.mark.usefixtures("january_bill")
def test_iin_session_pays_the_bill_and_carries_the_excess(
    client: TestClient, machine: dict[str, str], db: Database
) -> None:
    session = open_session(client, machine, method="iin", value=PAYER_IIN)
    assert session["number"] == "***4567"
    assert (session["amount_to_pay_text"], session["bill_month"]) == ("15000.00", "2026-01")

    note(client, machine, session["session_id"], 1, 10000)
    after = note(client, machine, session["session_id"], 2, 10000)
    assert after["inserted_text"] == "20000.00" and after["notes"] == 2
    done = client.post(f"/api/cashdesk/sessions/{session['session_id']}/finish", headers=machine)

    assert done.status_code == 200, done.text
    receipt = done.json()["receipt"]
    assert receipt["amount"] == tenge(20_000) and receipt["path"].startswith("/r/")
    assert bills.bill_for_month(db, POSTPAID, Month(2026, 1)).status is BillStatus.PAID
    with db.reading() as uow:
        view = get_subscriber(db, POSTPAID)
        assert bills.account_bills(uow, view.subscriber).credit == tenge(5_000)
    assert view.balance == tenge(5_000)
    assert cash_clearing(db) == -tenge(20_000)
    assert payment_count(db) == 1
    assert audit_ledger(db).ok


@pytest.mark.usefixtures("january_bill")
@pytest.mark.parametrize(
    ("value", "status", "code"),
    [
        (PAYER_IIN[:11] + str((int(PAYER_IIN[11]) + 1) % 10), 422, "invalid_iin"),  # checksum
        ("12345", 422, "invalid_iin"),
        ("901314" + PAYER_IIN[6:], 422, "invalid_iin"),  # 13th month
        (iin_for(date(1980, 1, 1), 3), 403, "payer_not_authorised"),  # valid, nobody's
    ],
)
def test_a_wrong_iin_opens_no_session(
    client: TestClient,
    machine: dict[str, str],
    db: Database,
    value: str,
    status: int,
    code: str,
) -> None:
    response = client.post(
        "/api/cashdesk/sessions", json={"method": "iin", "value": value}, headers=machine
    )
    assert (response.status_code, response.json()["code"]) == (status, code)
    with db.reading() as uow:
        sessions = uow.connection.execute(sa.select(sa.func.count()).select_from(cash_sessions))
        assert sessions.scalar_one() == 0
    assert audit_ledger(db).ok


@pytest.mark.usefixtures("january_bill")
def test_a_qr_token_from_the_cabinet_authorises_once_and_expires(
    client: TestClient, machine: dict[str, str], container: Container, clock: FrozenClock
) -> None:
    secret = container.settings.secret_key
    token = cashdesk.issue_qr_token(container.db, "7081234567", secret=secret)

    session = open_session(client, machine, method="qr", value=token)
    again = client.post(
        "/api/cashdesk/sessions", json={"method": "qr", "value": token}, headers=machine
    )

    assert session["amount_to_pay_text"] == "15000.00"
    assert (again.status_code, again.json()["code"]) == (403, "payer_not_authorised")
    stale = cashdesk.issue_qr_token(container.db, "7081234567", secret=secret)
    clock.advance(minutes=11)
    late = client.post(
        "/api/cashdesk/sessions", json={"method": "qr", "value": stale}, headers=machine
    )
    assert late.status_code == 403
    assert audit_ledger(container.db).ok


@pytest.mark.usefixtures("january_bill")
def test_a_linked_bank_card_token_authorises(
    client: TestClient, machine: dict[str, str], container: Container
) -> None:
    secret = container.settings.secret_key
    cashdesk.link_card_token(container.db, "7081234567", "tok_visa_4242_abcdef", secret=secret)

    session = open_session(client, machine, method="card", value="tok_visa_4242_abcdef")
    unknown = client.post(
        "/api/cashdesk/sessions",
        json={"method": "card", "value": "tok_unknown_card"},
        headers=machine,
    )

    assert session["method"] == "card" and session["amount_to_pay_text"] == "15000.00"
    assert unknown.status_code == 403
    assert audit_ledger(container.db).ok


@pytest.mark.usefixtures("january_bill")
def test_replayed_note_events_count_once(
    client: TestClient, machine: dict[str, str], db: Database
) -> None:
    session = open_session(client, machine, method="iin", value=PAYER_IIN)["session_id"]
    first = note(client, machine, session, 1, 5000)
    replay = note(client, machine, session, 1, 5000)
    conflict = client.post(
        f"/api/cashdesk/sessions/{session}/notes",
        json={"seq": 1, "denomination": 2000},
        headers=machine,
    )
    fake_note = client.post(
        f"/api/cashdesk/sessions/{session}/notes",
        json={"seq": 2, "denomination": 300},
        headers=machine,
    )
    text_note = client.post(
        f"/api/cashdesk/sessions/{session}/notes",
        json={"seq": 2, "denomination": "1000"},
        headers=machine,
    )

    assert (first["inserted"], first["replayed"]) == (tenge(5_000), False)
    assert (replay["inserted"], replay["replayed"]) == (tenge(5_000), True)
    assert (conflict.status_code, conflict.json()["code"]) == (409, "note_conflict")
    assert (fake_note.status_code, fake_note.json()["code"]) == (422, "invalid_denomination")
    assert text_note.status_code == 422
    state = client.get(f"/api/cashdesk/sessions/{session}", headers=machine).json()
    assert state["inserted"] == tenge(5_000) and state["notes"] == 1
    assert payment_count(db) == 0
    assert audit_ledger(db).ok


@pytest.mark.usefixtures("january_bill")
def test_an_interrupted_session_is_recovered_from_the_machine_journal(
    client: TestClient, machine: dict[str, str], db: Database
) -> None:
    session = open_session(client, machine, method="iin", value=PAYER_IIN)["session_id"]
    note(client, machine, session, 1, 10000)
    note(client, machine, session, 2, 2000)
    # Power lost: note 3 was taken but never reported, and "finish" never arrived.
    journal = {
        "notes": [
            {"seq": 1, "denomination": 10000},
            {"seq": 2, "denomination": 2000},
            {"seq": 3, "denomination": 5000},
        ],
        "finish": True,
    }

    recovered = client.post(
        f"/api/cashdesk/sessions/{session}/journal", json=journal, headers=machine
    )
    resent = client.post(f"/api/cashdesk/sessions/{session}/journal", json=journal, headers=machine)
    late = client.post(
        f"/api/cashdesk/sessions/{session}/journal",
        json={"notes": [*journal["notes"], {"seq": 4, "denomination": 200}], "finish": True},
        headers=machine,
    )

    assert recovered.status_code == 200, recovered.text
    body = recovered.json()
    assert (body["status"], body["inserted"], body["notes"]) == ("finished", tenge(17_000), 3)
    assert resent.json()["receipt"]["number"] == body["receipt"]["number"]
    assert (late.status_code, late.json()["code"]) == (409, "session_closed")
    assert payment_count(db) == 1
    assert cash_clearing(db) == -tenge(17_000)
    assert bills.bill_for_month(db, POSTPAID, Month(2026, 1)).status is BillStatus.PAID
    assert audit_ledger(db).ok


def test_prepaid_number_tops_up_by_cash(
    client: TestClient, machine: dict[str, str], container: Container
) -> None:
    subscribers.add_subscriber(
        container.db,
        subscribers.NewSubscriber("7071234567", "Ерлан", iin_for(date(1985, 11, 2), 3)),
        actor="test",
        postpaid_credit_limit=0,
    )
    session = open_session(client, machine, method="msisdn", value="87071234567")
    assert session["payment_type"] == "prepaid" and session["amount_to_pay"] is None
    note(client, machine, session["session_id"], 1, 200)
    note(client, machine, session["session_id"], 2, 500)
    done = client.post(f"/api/cashdesk/sessions/{session['session_id']}/finish", headers=machine)
    again = client.post(f"/api/cashdesk/sessions/{session['session_id']}/finish", headers=machine)

    assert done.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["receipt"]["number"] == done.json()["receipt"]["number"]
    assert get_subscriber(container.db, PREPAID).balance == tenge(700)
    assert payment_count(container.db) == 1
    assert audit_ledger(container.db).ok


@pytest.mark.usefixtures("january_bill")
def test_machines_must_prove_their_key_and_sessions_need_notes_to_finish(
    client: TestClient, machine: dict[str, str], db: Database
) -> None:
    wrong = client.post(
        "/api/cashdesk/sessions",
        json={"method": "iin", "value": PAYER_IIN},
        headers={**machine, "X-Machine-Key": "guess"},
    )
    missing = client.post("/api/cashdesk/sessions", json={"method": "iin", "value": PAYER_IIN})
    session = open_session(client, machine, method="iin", value=PAYER_IIN)["session_id"]
    empty = client.post(f"/api/cashdesk/sessions/{session}/finish", headers=machine)
    cancelled = client.post(f"/api/cashdesk/sessions/{session}/cancel", headers=machine)
    after = client.post(
        f"/api/cashdesk/sessions/{session}/notes",
        json={"seq": 1, "denomination": 1000},
        headers=machine,
    )
    unknown = client.get("/api/cashdesk/sessions/nope", headers=machine)

    assert (wrong.status_code, wrong.json()["code"]) == (401, "machine_unauthorized")
    assert missing.status_code == 422
    assert (empty.status_code, empty.json()["code"]) == (422, "nothing_inserted")
    assert cancelled.json()["status"] == "cancelled"
    assert (after.status_code, after.json()["code"]) == (409, "session_closed")
    assert unknown.status_code == 404
    assert payment_count(db) == 0 and audit_ledger(db).ok


def test_an_iin_with_several_numbers_asks_which_one(
    client: TestClient, machine: dict[str, str], container: Container
) -> None:
    for national in ("7081234567", "7471234567"):
        subscribers.add_subscriber(
            container.db,
            subscribers.NewSubscriber(national, "Дана", PAYER_IIN),
            actor="test",
            postpaid_credit_limit=0,
        )
    ambiguous = client.post(
        "/api/cashdesk/sessions", json={"method": "iin", "value": PAYER_IIN}, headers=machine
    )
    chosen = open_session(client, machine, method="iin", value=PAYER_IIN, msisdn="7471234567")

    assert (ambiguous.status_code, ambiguous.json()["code"]) == (409, "choose_number")
    assert ambiguous.json()["numbers"] == "***4567, ***4567"
    assert chosen["number"] == "***4567" and chosen["payment_type"] == "prepaid"
