from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.db.uow import Database
from abonent.web.app import create_app


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), base_url="https://127.0.0.1") as test_client:
        yield test_client


def last_code(db: Database, msisdn: str) -> str:
    with db.reading() as uow:
        sms = uow.outbox.messages(topic="sms", recipient=msisdn)
    for message in sms:
        match = re.search(r"\b(\d{6})\b", message["payload"]["text"])
        if match:
            return match.group(1)
    raise AssertionError(f"no code in {sms}")


def login_csrf(client: TestClient) -> str:
    page = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def sign_in(client: TestClient, db: Database, national: str = "7071234567") -> str:
    """Sign in through the pages by SMS code; returns the session's CSRF token."""
    token = login_csrf(client)
    sent = client.post(
        "/login/code", data={"msisdn": national, "csrf_token": token}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    code = last_code(db, "+7" + national)
    done = client.post(
        "/login",
        data={"msisdn": national, "code": code, "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/cabinet", done.headers
    page = client.get("/cabinet/profile")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)
