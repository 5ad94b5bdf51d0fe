"""The cabinet's pages over HTTP: sign-in, dashboard, suspension, CSRF, language."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from abonent.core.money import tenge
from abonent.db.uow import Database
from tests.e2e.cabinet.conftest import login_csrf, sign_in
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage


def test_sign_in_by_sms_code_shows_the_balance(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567", balance=tenge(1500), name="Айгерим")
    assert client.get("/cabinet", follow_redirects=False).headers["location"].startswith("/login")
    sign_in(client, db)
    page = client.get("/cabinet")
    assert page.status_code == 200
    assert "1 500.00 ₸" in page.text and "Айгерим" in page.text
    cookie = next(c for c in client.cookies.jar if c.name == "abonent_session")
    assert cookie.has_nonstandard_attr("HttpOnly")


def test_wrong_code_does_not_sign_in(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    token = login_csrf(client)
    client.post("/login/code", data={"msisdn": "7071234567", "csrf_token": token})
    answer = client.post(
        "/login",
        data={"msisdn": "7071234567", "code": "000000", "csrf_token": token},
        follow_redirects=False,
    )
    assert "error=authentication_failed" in answer.headers["location"]
    assert client.get("/cabinet", follow_redirects=False).status_code == 303


def test_suspend_and_resume_from_the_dashboard(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    csrf = sign_in(client, db)
    client.post("/cabinet/suspend", data={"csrf_token": csrf})
    assert (
        ">suspended<" in client.get("/cabinet").text
        or "Приостановлен" in client.get("/cabinet").text
    )
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+77071234567")
    assert sub is not None and sub.status.value == "suspended"
    client.post("/cabinet/resume", data={"csrf_token": csrf})
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+77071234567")
    assert sub is not None and sub.status.value == "active"


def test_state_change_without_csrf_token_is_refused(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    sign_in(client, db)
    answer = client.post("/cabinet/suspend", data={"csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+77071234567")
    assert sub is not None and sub.status.value == "active"


def test_language_switch_changes_the_page(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    sign_in(client, db)
    client.post("/lang", data={"lang": "en"}, headers={"referer": "https://127.0.0.1/cabinet"})
    assert "Spending by month" in client.get("/cabinet").text
    client.post("/lang", data={"lang": "ru"})
    assert "Расходы по месяцам" in client.get("/cabinet").text
