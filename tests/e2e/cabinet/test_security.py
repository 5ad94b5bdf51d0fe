"""Security properties of the web surface: cookie flags, CSRF on every state change,
session timeouts, and answers that never leak whether a number is ours."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.web.app import http_routes
from abonent.web.security import signed_in
from tests.e2e.cabinet.conftest import login_csrf, sign_in
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage

# Cabinet pages check the session and CSRF inside the handler; API routes through `signed_in`.
SESSION_PAGES = ("/cabinet/", "/logout")


def _uses_session(route: object) -> bool:
    def calls(dependant: object) -> set[object]:
        found = {getattr(dependant, "call", None)}
        for sub in getattr(dependant, "dependencies", []):
            found |= calls(sub)
        return found

    dependant = getattr(route, "dependant", None)
    by_dependency = dependant is not None and signed_in in calls(dependant)
    return by_dependency or str(getattr(route, "path", "")).startswith(SESSION_PAGES)


def test_session_cookie_is_httponly_secure_and_samesite_lax(
    client: TestClient, db: Database
) -> None:
    add_subscriber(db, "7071234567")
    token = login_csrf(client)
    client.post("/login/code", data={"msisdn": "7071234567", "csrf_token": token})
    from tests.e2e.cabinet.conftest import last_code

    answer = client.post(
        "/login",
        data={"msisdn": "7071234567", "code": last_code(db, "+77071234567"), "csrf_token": token},
        follow_redirects=False,
    )
    header = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "abonent_session=" in v
    )
    assert (
        "HttpOnly" in header
        and "Secure" in header
        and "SameSite=lax" in header.replace("Lax", "lax")
    )


def test_a_new_session_id_is_issued_at_every_login(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    sign_in(client, db)
    first = client.cookies.get("abonent_session")
    client.cookies.delete("abonent_session")
    sign_in(client, db)
    assert client.cookies.get("abonent_session") not in (None, first)


def _state_changing_session_routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for route in http_routes(client.app):  # type: ignore[arg-type]
        for method in set(route.methods) - {"GET", "HEAD", "OPTIONS"}:
            if _uses_session(route):
                found.append((method, route.path))
    return sorted(found)


def test_every_state_changing_route_refuses_a_cookie_request_without_csrf(
    client: TestClient, db: Database
) -> None:
    add_subscriber(db, "7071234567")
    add_subscriber(db, "7071234568")
    sign_in(client, db)
    routes = _state_changing_session_routes(client)
    assert ("POST", "/cabinet/suspend") in routes and (
        "POST",
        "/api/v1/subscribers/{msisdn}/suspend",
    ) in routes
    for method, path in routes:
        url = re.sub(r"\{[^}]+\}", "7071234567", path).replace("{grant_id}", "1")
        answer = client.request(method, url, data={"csrf_token": "forged"}, follow_redirects=False)
        assert answer.status_code == 403, (method, path, answer.status_code, answer.text[:200])
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn("+77071234567")
    assert sub is not None and sub.status.value == "active"


def test_pages_time_out_when_idle(client: TestClient, db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    sign_in(client, db)
    clock.advance(minutes=31)
    assert client.get("/cabinet", follow_redirects=False).headers["location"].startswith("/login")


def test_unknown_and_known_numbers_get_the_same_login_answer(
    client: TestClient, db: Database
) -> None:
    add_subscriber(db, "7071234567")
    token = login_csrf(client)
    known = client.post(
        "/login",
        data={"msisdn": "7071234567", "password": "not-the-password", "csrf_token": token},
        follow_redirects=False,
    )
    client.cookies.clear()
    token = login_csrf(client)
    unknown = client.post(
        "/login",
        data={"msisdn": "7479999999", "password": "not-the-password", "csrf_token": token},
        headers={"x-forwarded-for": "1.1.1.1"},
        follow_redirects=False,
    )
    assert known.status_code == unknown.status_code == 303
    assert known.headers["location"].split("&")[0] == unknown.headers["location"].split("&")[0]


def test_login_form_without_its_csrf_cookie_is_refused(client: TestClient, db: Database) -> None:
    add_subscriber(db, "7071234567")
    answer = client.post(
        "/login/code", data={"msisdn": "7071234567", "csrf_token": "x"}, follow_redirects=False
    )
    assert "error=csrf_failed" in answer.headers["location"]
    with db.reading() as uow:
        assert uow.outbox.messages(topic="sms", recipient="+77071234567") == []
