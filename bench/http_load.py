"""A cheap HTTP/1.1 load generator for the network-facing benchmarks (agents, USSD).

The server and the load generator share the machine's cores, so every microsecond the client
spends is taken from the server. A thread per client with httpx cost ~600 µs of CPU a request;
here every virtual client is a coroutine on one uvloop event loop, holding one keep-alive
connection and speaking just enough HTTP/1.1 (Content-Length and chunked bodies) over raw
asyncio streams: a few tens of µs a request. Latencies are measured around each request as
the client sees it (client-side queueing included), so they are an upper bound of server time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import uvloop  # part of uvicorn[standard]: a cheaper event loop for the client too

from abonent.core.errors import AbonentError


class HttpLoadError(AbonentError):
    """The server broke the protocol or the connection (a benchmark cannot go on)."""

    code = "bench_http_failed"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class HttpConnection:
    """One keep-alive HTTP/1.1 connection of one virtual client; records request latencies."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        latencies: dict[str, list[float]],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._host_line = f"Host: {host}\r\n"
        self._latencies = latencies
        self.requests = 0

    async def request(
        self,
        method: str,
        target: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        label: str = "request",
    ) -> HttpResponse:
        head = [f"{method} {target} HTTP/1.1\r\n", self._host_line]
        if headers:
            head.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}\r\n")
        head.append("\r\n")
        began = time.perf_counter()
        self._writer.write("".join(head).encode("latin-1") + body)
        response = await self._read_response()
        self._latencies.setdefault(label, []).append(time.perf_counter() - began)
        self.requests += 1
        return response

    async def _read_response(self) -> HttpResponse:
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpLoadError("the server closed the connection or sent no headers") from exc
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpLoadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked()
        else:
            body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        return HttpResponse(int(parts[1]), headers, body)

    async def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers expected
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):  # the server may have closed first
            await self._writer.wait_closed()


Scenario = Callable[[HttpConnection, int], Awaitable[int]]


@dataclass
class LoadResult:
    """What a load run acknowledged, how long it took and what the client spent."""

    ops: int
    elapsed: float
    rounds: int
    requests: int
    client_cpu: float  # CPU seconds of this process during the run
    latencies: dict[str, list[float]] = field(default_factory=dict)  # seconds, per label

    def rate(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, label: str, q: float) -> float:
        """The q-th percentile (0-100) of a label's latencies, in milliseconds."""
        values = sorted(self.latencies.get(label, []))
        if not values:
            return 0.0
        rank = max(0, min(len(values) - 1, math.ceil(q / 100 * len(values)) - 1))
        return values[rank] * 1000


def run_http_load(
    host: str, port: int, *, clients: int, seconds: float, scenario: Scenario
) -> LoadResult:
    """Run ``clients`` virtual clients, each calling ``scenario(connection, index)`` in a loop
    for ``seconds``; a client stops at the first round that ends after the deadline, and the
    rate is counted over the real elapsed time, so those last rounds are included."""
    if clients < 1 or seconds <= 0:
        raise HttpLoadError("a load run needs at least one client and a positive duration")
    return uvloop.run(_run(host, port, clients, seconds, scenario))


async def _run(
    host: str, port: int, clients: int, seconds: float, scenario: Scenario
) -> LoadResult:
    latencies: dict[str, list[float]] = {}
    connections = [await _connect(host, port, latencies) for _ in range(clients)]
    counts = [0] * clients
    rounds = [0] * clients
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    deadline = started + seconds

    async def client(index: int) -> None:
        connection = connections[index]
        while True:
            began = time.perf_counter()
            counts[index] += await scenario(connection, index)
            ended = time.perf_counter()
            latencies.setdefault("round", []).append(ended - began)
            rounds[index] += 1
            if ended >= deadline:
                return

    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        elapsed = time.perf_counter() - started
        client_cpu = _cpu_seconds() - cpu_before
        for connection in connections:
            await connection.close()
    return LoadResult(
        ops=sum(counts),
        elapsed=elapsed,
        rounds=sum(rounds),
        requests=sum(c.requests for c in connections),
        client_cpu=client_cpu,
        latencies=latencies,
    )


async def _connect(host: str, port: int, latencies: dict[str, list[float]]) -> HttpConnection:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        raise HttpLoadError(f"cannot connect to {host}:{port}: {exc}") from exc
    return HttpConnection(reader, writer, f"{host}:{port}", latencies)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
