"""``ussd.asgi.UssdGateway``, the plain ASGI endpoint behind ``POST /ussd``: the protocol edges
(method, trust before the body, long bodies) and the same answers whether a step runs in the
event loop or on a worker thread."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import Message, Scope

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.ussd.api import ussd_documented
from abonent.ussd.asgi import MAX_BODY, UssdGateway
from abonent.ussd.config import ChannelSettings
from abonent.web.app import create_app
from tests.integration.ussd.helpers import balance, new_subscriber

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"


def form(session: str, code: str, text: str = "", phone: str = A) -> bytes:
    fields = {"sessionId": session, "serviceCode": code, "phoneNumber": phone, "text": text}
    return urllib.parse.urlencode(fields).encode()


def scope_of(method: str = "POST", host: str = "127.0.0.1") -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": "/ussd",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded")],
        "client": (host, 50000),
    }


def call(gateway: UssdGateway, scope: Scope, chunks: list[bytes]) -> tuple[int, str, list[str]]:
    """Run one request through the ASGI app; also says which receive calls were made."""
    sent: list[Message] = []
    received: list[str] = []

    async def receive() -> Message:
        received.append("body")
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(gateway(scope, receive, send))  # type: ignore[arg-type]
    start, body = sent
    return start["status"], body["body"].decode(), received


@pytest.fixture
def funded(container: Container) -> Container:
    new_subscriber(container.db, A, balance=tenge(1500))
    new_subscriber(container.db, B, balance=tenge(250))
    return container


def test_a_step_answers_through_the_plain_asgi_app(funded: Container) -> None:
    gateway = UssdGateway(funded)
    status, body, _ = call(gateway, scope_of(), [form("g1", "*111#")])
    assert status == 200 and body.startswith("CON Баланс: 1500 тг")


def test_other_methods_are_refused_without_reading(funded: Container) -> None:
    status, body, received = call(UssdGateway(funded), scope_of("GET"), [b""])
    assert (status, body, received) == (405, "END Method not allowed", [])


def test_strangers_are_refused_before_the_body_is_read(funded: Container) -> None:
    status, _, received = call(UssdGateway(funded), scope_of(host="203.0.113.5"), [b"x"])
    assert (status, received) == (403, [])


def test_a_body_in_chunks_is_joined_and_cut_at_the_limit(funded: Container) -> None:
    body = form("g2", "*111#") + b"&pad=" + b"9" * (2 * MAX_BODY)
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    status, text, received = call(UssdGateway(funded), scope_of(), chunks)
    assert status == 200 and text.startswith("CON Баланс: 1500 тг")
    assert len(received) == len(range(0, len(body), 1000))  # read to the end all the same


@pytest.mark.parametrize("inline_writes", [True, False])
def test_a_transfer_is_the_same_in_the_loop_and_on_a_worker_thread(
    funded: Container, inline_writes: bool
) -> None:
    funded.extras["channel_settings"] = ChannelSettings(ussd_inline_writes=inline_writes)
    with TestClient(create_app(funded), client=("127.0.0.1", 50000)) as client:

        def step(text: str) -> str:
            response = client.post(
                "/ussd",
                content=form("t1", "*145*7071234568*500#", text),
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert response.status_code == 200
            return response.text

        assert step("").startswith("CON Перевод 500 тг")
        done = step("1")
        assert done == "END Переведено 450 тг на 7071234568. Баланс: 1000 тг"
        assert step("1") == done  # the repeat replays, nothing moves twice
    assert balance(funded.db, A) == tenge(1000)
    assert balance(funded.db, B) == tenge(700)


def test_the_documented_route_answers_like_the_gateway(funded: Container) -> None:
    app = create_app(funded)
    chunks = [form("d1", "*111#")]

    async def receive() -> Message:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": False}

    request = Request({**scope_of(), "app": app, "query_string": b""}, receive)
    response = asyncio.run(ussd_documented(request))
    assert response.status_code == 200
    assert bytes(response.body).decode().startswith("CON Баланс: 1500 тг")


@pytest.fixture
def client(funded: Container) -> Iterator[TestClient]:
    with TestClient(create_app(funded), client=("127.0.0.1", 50000)) as c:
        yield c


def test_the_app_serves_ussd_ahead_of_its_router(client: TestClient) -> None:
    from abonent.web.fastpaths import FastPaths

    stack = client.app.front  # type: ignore[attr-defined]
    while stack is not None and not isinstance(stack, FastPaths):
        stack = getattr(stack, "app", None)
    assert stack is not None, "no FastPaths in the middleware stack"
    response = client.post("/ussd", content=form("f1", "*141#"), headers={})
    assert response.status_code == 200 and response.text.startswith("END ")
