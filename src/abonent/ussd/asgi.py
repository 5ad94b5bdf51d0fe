"""``POST /ussd`` as a plain ASGI application: the channel's hot path, without a framework.

It is served ahead of the app's router (``web.fastpaths``) and mounted as an ordinary route
too. On SQLite a step runs right in the event loop: a read takes tens of microseconds, less
than the hop to a worker thread and back, and a write holds the loop for its commit's fsync,
which measured cheaper overall than the GIL hand-offs of a worker thread (see
``ChannelSettings.ussd_inline_writes``; when that is off, steps that may write go to the
threads). On a database server every step runs on the channel's own few worker threads, so a
network round trip never holds up the other sessions.
"""

from __future__ import annotations

import hmac
import ipaddress
import urllib.parse
from functools import lru_cache

import anyio
import anyio.to_thread
from starlette.types import Receive, Scope, Send

from abonent.bootstrap import Container
from abonent.db.engine import is_sqlite
from abonent.ussd.config import ChannelSettings, channel_settings_of
from abonent.ussd.services import UssdChannel, UssdRequest, handle, reads_only
from abonent.ussd.sessions import SessionStore
from abonent.web.fastpaths import read_body

MAX_BODY = 4096
SECRET_HEADER = "x-gateway-secret"  # noqa: S105 - a header name
_SECRET = SECRET_HEADER.encode("latin-1")
_TEXT_PLAIN = (b"content-type", b"text/plain; charset=utf-8")


def channel_of(container: Container) -> UssdChannel:
    """The USSD channel of this container, built once (settings, session store)."""
    channel = container.extras.get("ussd_channel")
    if not isinstance(channel, UssdChannel):
        settings = channel_settings_of(container)
        channel = UssdChannel(
            db=container.db,
            settings=settings,
            sessions=SessionStore(settings.ussd_session_seconds),
        )
        container.extras["ussd_channel"] = channel
    return channel


@lru_cache(maxsize=1024)
def _host_allowed(host: str, cidrs: tuple[str, ...]) -> bool:
    # A gateway calls from a few addresses: the parse and the network walk are done once each.
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(c, strict=False) for c in cidrs)


def peer_trusted(host: str, secret: str | None, settings: ChannelSettings) -> bool:
    """The peer address is in an allowed network and, if configured, the secret matches."""
    if not _host_allowed(host, tuple(settings.gateway_networks)):
        return False
    if settings.gateway_secret:
        given = (secret or "").encode()
        return hmac.compare_digest(given, settings.gateway_secret.encode())
    return True


class UssdGateway:
    """One step of a USSD session per request (see ``ussd.api`` for the protocol).

    ``container`` may be left out when the app is mounted in a Starlette application: the
    application's ``state.container`` is used then."""

    def __init__(self, container: Container | None = None) -> None:
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _answer(send, 405, b"END Method not allowed", ((b"allow", b"POST"),))
            return
        container = self._container or scope["app"].state.container
        channel = channel_of(container)
        client = scope.get("client")
        if not peer_trusted(client[0] if client else "", _secret_of(scope), channel.settings):
            await _answer(send, 403, b"END Forbidden")  # before a byte of the body is read
            return
        request = _request_of((await read_body(receive, MAX_BODY))[0])
        if _runs_inline(channel, request):
            reply = handle(channel, request)
        else:
            reply = await anyio.to_thread.run_sync(
                handle, channel, request, limiter=_limiter(container, channel)
            )
        await _answer(send, 200, reply.body.encode("utf-8"))


def _runs_inline(channel: UssdChannel, request: UssdRequest) -> bool:
    """Whether the step runs right in the event loop: on SQLite, reads always and writes
    unless ``ussd_inline_writes`` is off; on a database server, never (its round trips)."""
    if not is_sqlite(channel.db.engine):
        return False
    return channel.settings.ussd_inline_writes or reads_only(channel, request)


def _secret_of(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _SECRET:
            return str(value.decode("latin-1"))
    return None


def _request_of(body: bytes) -> UssdRequest:
    # A plain urlencoded body: cheaper than a multipart-capable form parser.
    fields = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
    return UssdRequest(
        session_id=fields.get("sessionId", ""),
        service_code=fields.get("serviceCode", ""),
        phone_number=fields.get("phoneNumber", ""),
        text=fields.get("text", ""),
        network_code=fields.get("networkCode", ""),
    )


def _limiter(container: Container, channel: UssdChannel) -> anyio.CapacityLimiter:
    """The USSD steps' own few worker threads (created in the event loop, once).

    Steps hold a database connection while they run; more threads than the pool keeps (and
    than the GIL lets run) only queue inside SQLAlchemy and churn overflow connections, so
    waiting steps wait here, in the event loop, which costs nothing."""
    limiter = container.extras.get("ussd_limiter")
    if not isinstance(limiter, anyio.CapacityLimiter):
        limiter = anyio.CapacityLimiter(channel.settings.ussd_threads)
        container.extras["ussd_limiter"] = limiter
    return limiter


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [_TEXT_PLAIN, (b"content-length", str(len(body)).encode("latin-1")), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
