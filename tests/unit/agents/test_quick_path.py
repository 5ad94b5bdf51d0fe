"""What the event loop answers itself (``agents.asgi._quick``) and what it leaves to ``serve``."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from abonent.agents import asgi
from abonent.agents.domain import Agent, Command, Dialect
from abonent.agents.protocols import echo_id


class _Directory:
    """An agent directory that knows one verified password of each agent."""

    def __init__(self, agent: Agent, password: str) -> None:
        self.agent, self.password, self.asked = agent, password, 0

    def cached(self, code: str) -> Agent | None:
        return self.agent if code == self.agent.code else None

    def password_known(self, agent: Agent, password: str) -> bool | None:
        self.asked += 1
        return password == self.password


def _agent(password_hash: str | None = "hash-1", dialect: Dialect = Dialect.OSMP) -> Agent:
    return Agent(
        id=1,
        code="QUICK",
        name="Quick",
        dialect=dialect,
        password_hash=password_hash,
        allow_ips=(),
        min_sum=100,
        max_sum=10_000_000,
        clearing_account_id=1,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _wiring(directory: _Directory) -> Any:
    return asgi._Wiring(
        container=None,  # type: ignore[arg-type]
        directory=directory,  # type: ignore[arg-type]
        batcher=None,  # type: ignore[arg-type]
        reader=None,  # type: ignore[arg-type]
        trust_forwarded_for=False,
    )


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _request(authorization: str | None, query: str = "") -> Any:
    query = query or "command=check&txn_id=0042&account=7071234567&sum=200.00"
    return asgi._Request("QUICK", query, b"", "", authorization, "127.0.0.1")


def test_a_known_header_is_accepted_again_without_decoding_and_others_still_decide() -> None:
    directory = _Directory(_agent(), "secret-1")
    wiring = _wiring(directory)
    good = _basic("QUICK", "secret-1")
    for _ in range(3):
        quick = asgi._quick(wiring, _request(good))
        assert quick is not None and quick[1] == "0042" and quick[2].command is Command.CHECK
    assert directory.asked == 1  # the same header again: remembered
    for refused in (
        _basic("QUICK", "wrong"),
        _basic("OTHER", "secret-1"),
        _basic("quick", "secret-1"),
        "Basic !!notbase64",
        None,
    ):
        assert asgi._quick(wiring, _request(refused)) is None, refused
    assert asgi._quick(wiring, _request(good)) is not None


def test_a_new_password_hash_forgets_the_remembered_header() -> None:
    directory = _Directory(_agent("hash-1"), "secret-1")
    wiring = _wiring(directory)
    good = _basic("QUICK", "secret-1")
    assert asgi._quick(wiring, _request(good)) is not None
    directory.agent, directory.password = _agent("hash-2"), "secret-2"
    assert asgi._quick(wiring, _request(good)) is None
    assert asgi._quick(wiring, _request(_basic("QUICK", "secret-2"))) is not None


def test_the_echo_is_the_payment_id_as_echo_id_gives_it() -> None:
    directory = _Directory(_agent(None, Dialect.CYBERPLAT), "")
    wiring = _wiring(directory)
    for query in (
        "action=check&number=7071234567",
        "action=check&number=7071234567&receipt=77",
        "action=payment&number=7071234567&receipt=0078&amount=10.00&date=2026-01-15T09:15:00",
    ):
        quick = asgi._quick(wiring, _request(None, query))
        assert quick is not None
        params = asgi.request_params(query, b"", "")
        assert quick[1] == echo_id(Dialect.CYBERPLAT, params)


def test_the_first_of_repeated_headers_counts_and_forwarded_for_only_when_trusted() -> None:
    scope = {
        "headers": [
            (b"host", b"x"),
            (b"authorization", b"Basic first"),
            (b"x-forwarded-for", b"10.0.0.7, 10.0.0.1"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"authorization", b"Basic second"),
            (b"x-forwarded-for", b"10.9.9.9"),
            (b"content-type", b"text/plain"),
        ],
        "client": ("127.0.0.1", 5000),
        "path_params": {"code": "QUICK"},
        "query_string": b"command=check",
    }
    trusted = asgi._request(scope, b"", trust_forwarded_for=True)
    assert trusted == asgi._Request(
        "QUICK",
        "command=check",
        b"",
        "application/x-www-form-urlencoded",
        "Basic first",
        "10.0.0.7",
    )
    assert asgi._request(scope, None, trust_forwarded_for=False).host == "127.0.0.1"
    bare = asgi._request({**scope, "headers": [], "client": None}, b"", trust_forwarded_for=True)
    assert (bare.authorization, bare.content_type, bare.host) == (None, "", None)
