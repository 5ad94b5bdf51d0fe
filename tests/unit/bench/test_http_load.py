"""The load generator against a real uvicorn server on loopback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from bench.http_load import HttpConnection, HttpLoadError, run_http_load
from tests.e2e.live import free_port, serving


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> PlainTextResponse:
        body = await request.body()
        return PlainTextResponse(body.decode() + "|" + request.headers.get("x-n", ""))

    @app.get("/chunked")
    def chunked() -> StreamingResponse:
        return StreamingResponse(iter([b"ab", b"cde"]))

    return app


def test_clients_run_rounds_until_the_deadline_and_responses_are_parsed() -> None:
    seen: list[tuple[int, bytes, bytes]] = []

    async def scenario(connection: HttpConnection, index: int) -> int:
        echoed = await connection.request(
            "POST", "/echo", body=b"hello", headers={"X-N": str(index)}, label="echo"
        )
        streamed = await connection.request("GET", "/chunked", label="chunked")
        seen.append((echoed.status, echoed.body, streamed.body))
        return 1

    with serving(_app()) as base:
        port = int(base.rsplit(":", 1)[1])
        result = run_http_load("127.0.0.1", port, clients=3, seconds=0.3, scenario=scenario)
    assert result.ops == result.rounds == len(seen) > 3
    assert result.requests == 2 * result.rounds
    assert {body for _, body, _ in seen} == {b"hello|0", b"hello|1", b"hello|2"}
    assert {(status, streamed) for status, _, streamed in seen} == {(200, b"abcde")}
    assert len(result.latencies["echo"]) == result.rounds
    assert 0 < result.percentile("echo", 50) <= result.percentile("echo", 99)
    assert result.rate() > 0 and result.client_cpu > 0


def test_a_server_that_is_not_there_is_a_clear_error() -> None:
    async def scenario(connection: HttpConnection, index: int) -> int:
        return 0

    try:
        run_http_load("127.0.0.1", free_port(), clients=1, seconds=0.1, scenario=scenario)
    except HttpLoadError as exc:
        assert "cannot connect" in exc.message
    else:
        raise AssertionError("expected HttpLoadError")
