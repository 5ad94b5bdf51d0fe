"""The fast-path dispatcher: what it takes from the router and what it leaves to it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import request_response
from starlette.types import Receive, Scope, Send

from abonent.web.fastpaths import FastPath, FastPaths


async def _echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"fast {request.method} {request.path_params}")


async def _broken(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("a bug")


def _client(*paths: FastPath) -> TestClient:
    app = FastAPI()

    @app.get("/gateway")
    @app.get("/agents/{code}/extra")
    def routed() -> dict[str, str]:
        return {"via": "router"}

    app.add_middleware(FastPaths, paths=list(paths))
    return TestClient(app, raise_server_exceptions=False)


def test_exact_path_with_allowed_method_is_served_ahead_of_the_router() -> None:
    client = _client(FastPath("/gateway", request_response(_echo), methods=frozenset({"POST"})))
    assert client.post("/gateway").text == "fast POST {}"
    # Another method falls through to the router, which serves (or refuses) it as usual.
    assert client.get("/gateway").json() == {"via": "router"}


def test_parameter_takes_exactly_one_non_empty_segment() -> None:
    client = _client(FastPath("/agents/{code}", request_response(_echo), param="code"))
    assert client.get("/agents/qiwi?x=1").text == "fast GET {'code': 'qiwi'}"
    assert client.get("/agents/qiwi/extra").json() == {"via": "router"}
    assert client.get("/agents/").status_code == 404


def test_a_failing_fast_endpoint_answers_500_without_details() -> None:
    client = _client(FastPath("/gateway", _broken))
    response = client.get("/gateway")
    assert response.status_code == 500
    assert "a bug" not in response.text
    assert "Traceback" not in response.text


def test_the_app_labels_metrics_of_fast_paths_by_template(container: Any) -> None:
    from abonent.web.app import create_app

    client = TestClient(create_app(container))
    client.get("/agents/no-such-agent?command=check")
    metrics = client.get("/metrics").text
    assert 'route="/agents/{code}"' in metrics


def test_read_body_keeps_the_first_bytes_and_says_whether_there_was_more() -> None:
    import asyncio

    from abonent.web.fastpaths import read_body

    def feeding(*chunks: bytes) -> Receive:
        messages = [
            {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
            for i, c in enumerate(chunks)
        ]

        async def receive() -> dict[str, object]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        return receive

    assert asyncio.run(read_body(feeding(b"abc", b"def"), 10)) == (b"abcdef", False)
    assert asyncio.run(read_body(feeding(b"abcdef"), 6)) == (b"abcdef", False)
    assert asyncio.run(read_body(feeding(b"abc", b"def", b"gh"), 4)) == (b"abcd", True)
    assert asyncio.run(read_body(feeding(), 4)) == (b"", False)
