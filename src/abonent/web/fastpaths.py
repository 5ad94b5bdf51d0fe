"""Machine endpoints (agents, the USSD gateway) served in front of the app's router.

The network's endpoints take thousands of requests a second; Starlette's exception middleware
and the walk through ~30 routers cost a measurable share of each. ``FastPaths`` sits just inside
the metrics middleware and hands a matching request straight to its endpoint's ASGI app. The
same ASGI apps stay mounted as ordinary routes too, so route enumeration (the access-control
sweep) and in-process test clients see them unchanged. A fast endpoint answers every request
itself (in its own protocol); if one raises anyway, the answer is a plain 500 without details,
as Starlette's server-error middleware would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    """Pure ASGI middleware: exact paths by dict lookup, then a short list of prefixes."""

    def __init__(self, app: ASGIApp, paths: Sequence[FastPath]) -> None:
        self.app = app
        self._exact = {p.path: p for p in paths if p.param is None}
        self._prefixed = [(p.prefix, p) for p in paths if p.param is not None]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            found = self._match(scope)
            if found is not None and scope["method"] in found.methods:
                scope["route"] = found  # the metrics middleware labels by ``route.path``
                await _guarded(found, scope, receive, send)
                return
        await self.app(scope, receive, send)

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


async def _guarded(found: FastPath, scope: Scope, receive: Receive, send: Send) -> None:
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await found.app(scope, receive, tracking_send)
    except Exception:
        log.exception("fast_path_failed", route=found.path)
        if started:
            raise  # headers are out: the server can only drop the connection
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"internal error, try again later"})


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
