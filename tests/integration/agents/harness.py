"""Drive the agent endpoint like a real agent, over an in-process ASGI client or a real server.

``Http`` is a tiny synchronous facade (thread-safe, so tests can fire concurrent requests) over
either ``httpx.ASGITransport`` (run in a blocking portal) or a uvicorn server on loopback.
``AgentHarness`` speaks one dialect and parses every answer strictly (the XML must parse).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.from_thread
import httpx
import uvicorn

from abonent.agents.domain import Dialect

# The codes each dialect must answer, written out from agent-protocols.md (OSMP, Kaspi) and
# from the CyberPlat table in abonent/agents/protocols.py — independent of the implementation.
CODES: dict[Dialect, dict[str, int]] = {
    Dialect.OSMP: {
        "ok": 0,
        "retry": 1,
        "bad_account": 4,
        "not_found": 5,
        "forbidden": 7,
        "closed": 79,
        "too_small": 241,
        "too_large": 242,
        "bad_amount": 300,
        "bad_date": 300,
        "bad_txn_id": 300,
        "bad_request": 300,
        "conflict": 300,
        "unknown_payment": 300,
        "cancel_refused": 300,
    },
    Dialect.KASPI: {
        "ok": 0,
        "retry": 4,
        "bad_account": 1,
        "not_found": 1,
        "forbidden": 5,
        "closed": 2,
        "too_small": 5,
        "too_large": 5,
        "bad_amount": 5,
        "bad_date": 5,
        "bad_txn_id": 5,
        "bad_request": 5,
        "conflict": 5,
        "unknown_payment": 5,
        "cancel_refused": 5,
    },
    Dialect.CYBERPLAT: {
        "ok": 0,
        "retry": 1,
        "not_found": 2,
        "bad_account": 3,
        "closed": 4,
        "bad_txn_id": 5,
        "forbidden": 6,
        "unknown_payment": 7,
        "bad_amount": 8,
        "too_small": 9,
        "too_large": 10,
        "bad_date": 11,
        "cancel_refused": 12,
        "conflict": 13,
        "bad_request": 30,
    },
}
FATAL = {d: {k: v for k, v in c.items() if k != "ok" and k != "retry"} for d, c in CODES.items()}


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    code: int
    prv_txn: int | None
    amount: str | None
    comment: str
    echo: str


class Http:
    """Synchronous, thread-safe HTTP to an app: in-process (ASGI) or over loopback (uvicorn)."""

    def __init__(self, client: httpx.AsyncClient, portal: Any) -> None:
        self._client = client
        self._portal = portal

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            return await self._client.request(
                method, path, params=params, content=content, headers=headers
            )

        response: httpx.Response = self._portal.call(go)
        return response


@contextmanager
def asgi_http(app: Any) -> Iterator[Http]:
    with anyio.from_thread.start_blocking_portal() as portal:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)
        try:
            yield Http(client, portal)
        finally:
            portal.call(client.aclose)


@contextmanager
def server_http(base_url: str) -> Iterator[Http]:
    with anyio.from_thread.start_blocking_portal() as portal:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        client = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)
        try:
            yield Http(client, portal)
        finally:
            portal.call(client.aclose)


class SwitchableApp:
    """An ASGI app whose target is swapped per test, so one server serves the whole session."""

    def __init__(self) -> None:
        self.target: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        await self.target(scope, receive, send)


class LoopbackServer:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self) -> None:
        self.app = SwitchableApp()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            proxy_headers=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


NAMES = {
    Dialect.OSMP: ("command", "txn_id", "txn_date", "account", "sum", "check", "pay"),
    Dialect.KASPI: ("command", "txn_id", "txn_date", "account", "sum", "check", "pay"),
    Dialect.CYBERPLAT: ("action", "receipt", "date", "number", "amount", "check", "payment"),
}


class AgentHarness:
    """One agent talking to the endpoint in its dialect."""

    def __init__(self, http: Http, dialect: Dialect, code: str, password: str | None) -> None:
        self.http = http
        self.dialect = dialect
        self.code = code
        self.password = password
        self.codes = CODES[dialect]
        (
            self.f_cmd,
            self.f_txn,
            self.f_date,
            self.f_account,
            self.f_sum,
            self.w_check,
            self.w_pay,
        ) = NAMES[dialect]

    def date(self, moment: str = "20260115091500") -> str:
        """An agent timestamp in this dialect's format (given as YYYYMMDDHHMMSS)."""
        if self.dialect is Dialect.CYBERPLAT:
            m = moment
            return f"{m[0:4]}-{m[4:6]}-{m[6:8]}T{m[8:10]}:{m[10:12]}:{m[12:14]}"
        return moment

    def auth_header(self, user: str | None = None, password: str | None = None) -> dict[str, str]:
        user = self.code if user is None else user
        password = self.password if password is None else password
        if password is None:
            return {}
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"authorization": f"Basic {token}"}

    def check_params(
        self, account: str, amount: str = "200.00", txn_id: str = "1"
    ) -> list[tuple[str, str]]:
        return [
            (self.f_cmd, self.w_check),
            (self.f_txn, txn_id),
            (self.f_account, account),
            (self.f_sum, amount),
        ]

    def pay_params(
        self, txn_id: str, account: str, amount: str = "200.00", date: str | None = None
    ) -> list[tuple[str, str]]:
        return [
            (self.f_cmd, self.w_pay),
            (self.f_txn, txn_id),
            (self.f_date, self.date() if date is None else date),
            (self.f_account, account),
            (self.f_sum, amount),
        ]

    def check(self, account: str, amount: str = "200.00", txn_id: str = "1") -> Reply:
        return self.send(self.check_params(account, amount, txn_id))

    def pay(
        self,
        txn_id: str,
        account: str,
        amount: str = "200.00",
        date: str | None = None,
        method: str = "GET",
    ) -> Reply:
        return self.send(self.pay_params(txn_id, account, amount, date), method=method)

    def cancel(self, txn_id: str) -> Reply:
        return self.send([(self.f_cmd, "cancel"), (self.f_txn, txn_id)])

    def send(
        self,
        params: Sequence[tuple[str, str]],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        raw_query: str | None = None,
    ) -> Reply:
        all_headers = dict(self.auth_header() if headers is None else headers)
        path = f"/agents/{self.code}"
        if method == "POST":
            from urllib.parse import urlencode

            all_headers["content-type"] = "application/x-www-form-urlencoded"
            response = self.http.request(
                "POST", path, content=urlencode(params).encode(), headers=all_headers
            )
        elif raw_query is not None:
            response = self.http.request("GET", f"{path}?{raw_query}", headers=all_headers)
        else:
            response = self.http.request("GET", path, params=params, headers=all_headers)
        return parse_reply(self.dialect, response)


def parse_reply(dialect: Dialect, response: httpx.Response) -> Reply:
    """Parse strictly: a malformed body fails the test."""
    ctype = response.headers.get("content-type", "")
    if dialect is Dialect.KASPI:
        assert ctype == "application/json; charset=utf-8", ctype
        data = json.loads(response.content)
        return Reply(
            response.status_code,
            ctype,
            response.content,
            int(data["result"]),
            data.get("prv_txn_id"),
            None if "sum" not in data else f"{data['sum']:.2f}",
            data["comment"],
            data["txn_id"],
        )
    assert ctype == "text/xml; charset=utf-8", ctype
    root = ET.fromstring(response.content)
    assert root.tag == "response"
    if dialect is Dialect.OSMP:
        prv = root.findtext("prv_txn")
        return Reply(
            response.status_code,
            ctype,
            response.content,
            int(root.findtext("result") or "-1"),
            int(prv) if prv else None,
            root.findtext("sum"),
            root.findtext("comment") or "",
            root.findtext("osmp_txn_id") or "",
        )
    prv = root.findtext("authcode")
    return Reply(
        response.status_code,
        ctype,
        response.content,
        int(root.findtext("code") or "-1"),
        int(prv) if prv else None,
        root.findtext("amount"),
        root.findtext("message") or "",
        root.findtext("receipt") or "",
    )
