"""Machine endpoints (agents, the USSD gateway) served in front of the app's router.

The network's endpoints take thousands of requests a second; Starlette's exception middleware
and the walk through ~30 routers cost a measurable share of each. ``FastPaths`` sits in front of
the app and hands a matching request straight to its endpoint's ASGI app, counting it in the
request metrics itself (one wrapper of ``send`` instead of the metrics middleware's too). The
same ASGI apps stay mounted as ordinary routes too, so route enumeration (the access-control
sweep) and in-process test clients see them unchanged. A fast endpoint answers every request
itself (in its own protocol); if one raises anyway, the answer is a plain 500 without details,
as Starlette's server-error middleware would give.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from abonent.web.observability import Metrics, StatusSend

log = structlog.get_logger("abonent.web")


@dataclass(frozen=True, slots=True)
class FastPath:
    """``path`` is the route template (what metrics report). Without ``param`` the request's
    path must equal ``path``; with it, ``path`` is ``prefix{param}`` and the request's path must
    be the prefix plus one non-empty segment, given to the app as ``path_params[param]``.
    Other methods fall through to the router (which answers 405 as usual)."""

    path: str
    app: ASGIApp
    methods: frozenset[str] = frozenset({"GET", "POST"})
    param: str | None = None

    @property
    def prefix(self) -> str:
        return self.path.split("{", 1)[0]


class FastPaths:
    """Pure ASGI middleware: exact paths by dict lookup, then a short list of prefixes. With
    ``metrics``, every fast request is observed as ``MetricsMiddleware`` would (the app behind
    should then be wrapped in that middleware for the others)."""

    def __init__(
        self, app: ASGIApp, paths: Sequence[FastPath], metrics: Metrics | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self._exact = {p.path: p for p in paths if p.param is None}
        self._prefixed = [(p.prefix, p) for p in paths if p.param is not None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._match(scope) if scope["type"] == "http" else None
        if found is None or scope["method"] not in found.methods:
            await self.app(scope, receive, send)
            return
        scope["route"] = found  # the metrics label by ``route.path``
        started = time.perf_counter()
        tracked = StatusSend(send)
        try:
            await found.app(scope, receive, tracked)
        except Exception:
            log.exception("fast_path_failed", route=found.path)
            if tracked.status:
                raise  # headers are out: the server can only drop the connection
            await tracked(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": b"internal error, try again later"})
        finally:
            if self.metrics is not None:
                elapsed = time.perf_counter() - started
                self.metrics.observe(scope["method"], found.path, tracked.status or 500, elapsed)

    def _match(self, scope: Scope) -> FastPath | None:
        path: str = scope["path"]
        found = self._exact.get(path)
        if found is not None:
            return found
        for prefix, candidate in self._prefixed:
            if path.startswith(prefix):
                segment = path[len(prefix) :]
                if segment and "/" not in segment:
                    scope["path_params"] = {candidate.param: segment}
                    return candidate
        return None


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body's first ``limit`` bytes, and whether there was more. The rest is
    read and dropped, so the connection stays usable; a client that goes away mid-body
    leaves what came."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk: bytes = message.get("body", b"")
        if size < limit and chunk:
            chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body[:limit], size > limit
