"""A cheap HTTP/1.1 load generator for the network-facing benchmarks (agents, USSD).

The server and the load generator share the machine's cores, so every microsecond the client
spends is taken from the server. A thread per client with httpx cost ~600 µs of CPU a request;
here every virtual client is a coroutine on one uvloop event loop, holding one keep-alive
connection and speaking just enough HTTP/1.1 (Content-Length and chunked bodies) through an
asyncio protocol: a few tens of µs a request. Latencies are measured around each request as
the client sees it (client-side queueing included), so they are an upper bound of server time.
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import cast

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


class _ResponseReader(asyncio.Protocol):
    """The client side of one connection: bytes in, one ``HttpResponse`` per request out.

    A protocol rather than asyncio's streams: ``StreamReader.readuntil``/``readexactly`` are
    Python code with a future per call, and the generator's CPU is taken from the server's."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._lost: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            try:
                response = self._parse()
            except HttpLoadError as exc:
                waiter.set_exception(exc)
                return
            if response is not None:
                waiter.set_result(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = "the server closed the connection or sent no headers"
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpLoadError(self._lost))

    def response(self) -> asyncio.Future[HttpResponse]:
        """The next response (already complete if its bytes are in)."""
        waiter: asyncio.Future[HttpResponse] = asyncio.get_running_loop().create_future()
        response = self._parse()
        if response is not None:
            waiter.set_result(response)
        elif self._lost is not None:
            waiter.set_exception(HttpLoadError(self._lost))
        self._waiter = waiter
        return waiter

    def _parse(self) -> HttpResponse | None:
        """The first whole response in the buffer, taken out of it; None if it is not all in."""
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = buffer[:end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise HttpLoadError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunked = _dechunk(buffer, start)
            if chunked is None:
                return None
            body, start = chunked
        else:
            length = int(headers.get("content-length", "0"))
            if len(buffer) < start + length:
                return None
            body, start = bytes(buffer[start : start + length]), start + length
        del buffer[:start]
        return HttpResponse(int(parts[1]), headers, body)


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """A chunked body that starts at ``start``, and where it ends; None if not all in."""
    chunks: list[bytes] = []
    while True:
        line_end = buffer.find(b"\r\n", start)
        if line_end < 0:
            return None
        size = int(bytes(buffer[start:line_end]).split(b";", 1)[0].strip() or b"0", 16)
        start = line_end + 2
        if size == 0:
            if buffer.find(b"\r\n", start) < 0:  # no trailers expected
                return None
            return b"".join(chunks), buffer.find(b"\r\n", start) + 2
        if len(buffer) < start + size + 2:
            return None
        chunks.append(bytes(buffer[start : start + size]))
        start += size + 2


class HttpConnection:
    """One keep-alive HTTP/1.1 connection of one virtual client; records request latencies."""

    def __init__(
        self,
        transport: asyncio.Transport,
        reader: _ResponseReader,
        host: str,
        latencies: dict[str, list[float]],
    ) -> None:
        self._transport = transport
        self._reader = reader
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
        self._transport.write("".join(head).encode("latin-1") + body)
        response = await self._reader.response()
        self._latencies.setdefault(label, []).append(time.perf_counter() - began)
        self.requests += 1
        return response

    async def close(self) -> None:
        self._transport.close()


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
    loop = asyncio.get_running_loop()
    try:
        transport, reader = await loop.create_connection(_ResponseReader, host, port)
    except OSError as exc:
        raise HttpLoadError(f"cannot connect to {host}:{port}: {exc}") from exc
    return HttpConnection(transport, reader, f"{host}:{port}", latencies)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
