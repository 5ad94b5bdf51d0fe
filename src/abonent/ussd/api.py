"""``POST /ussd``: the gateway's HTTP callback (form fields ``sessionId``, ``serviceCode``,
``phoneNumber``, ``networkCode``, ``text``), answered ``text/plain`` with ``CON ``/``END ``.

Only the gateway may say who is calling: requests from outside the configured networks, or
without the shared secret when one is configured, are refused before anything is read.
"""

from __future__ import annotations

import hmac
import ipaddress
import urllib.parse
from functools import lru_cache

import anyio
import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from abonent.bootstrap import Container
from abonent.ussd.config import ChannelSettings
from abonent.ussd.services import UssdChannel, UssdRequest, handle
from abonent.ussd.sessions import SessionStore

router = APIRouter(tags=["ussd"])
MAX_BODY = 4096
SECRET_HEADER = "x-gateway-secret"  # noqa: S105 - a header name


def channel_of(container: Container) -> UssdChannel:
    """The USSD channel of this container, built once (settings, session store)."""
    channel = container.extras.get("ussd_channel")
    if not isinstance(channel, UssdChannel):
        settings = container.extras.get("channel_settings")
        if not isinstance(settings, ChannelSettings):
            settings = ChannelSettings()
            container.extras["channel_settings"] = settings
        channel = UssdChannel(
            db=container.db,
            settings=settings,
            sessions=SessionStore(settings.ussd_session_seconds),
        )
        container.extras["ussd_channel"] = channel
    return channel


def _limiter(container: Container, threads: int) -> anyio.CapacityLimiter:
    """The USSD steps' own few worker threads (created in the event loop, once).

    Steps hold a database connection while they run; more threads than the pool keeps (and
    than the GIL lets run) only queue inside SQLAlchemy and churn overflow connections, so
    waiting steps wait here, in the event loop, which costs nothing."""
    limiter = container.extras.get("ussd_limiter")
    if not isinstance(limiter, anyio.CapacityLimiter):
        limiter = anyio.CapacityLimiter(threads)
        container.extras["ussd_limiter"] = limiter
    return limiter


@lru_cache(maxsize=16)
def _networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def gateway_trusted(request: Request, settings: ChannelSettings) -> bool:
    """The peer address is in an allowed network and, if configured, the secret matches."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if not any(address in network for network in _networks(tuple(settings.gateway_networks))):
        return False
    if settings.gateway_secret:
        given = request.headers.get(SECRET_HEADER, "")
        return hmac.compare_digest(given.encode(), settings.gateway_secret.encode())
    return True


async def ussd(request: Request) -> PlainTextResponse:
    """One step of a USSD session: form fields ``sessionId``, ``serviceCode``,
    ``phoneNumber``, ``networkCode``, ``text``; the answer starts ``CON `` or ``END ``.

    A plain Starlette endpoint (no dependency injection, no form parser): it is the channel's
    hot path. The gateway check comes before a byte of the body is read."""
    container = request.app.state.container
    channel = channel_of(container)
    if not gateway_trusted(request, channel.settings):
        return PlainTextResponse("END Forbidden", status_code=403)
    body = await request.body()
    # A plain urlencoded body, parsed here: cheaper than the multipart-capable form parser.
    fields = dict(urllib.parse.parse_qsl(body[:MAX_BODY].decode("utf-8", "replace")))
    reply = await anyio.to_thread.run_sync(
        handle,
        channel,
        UssdRequest(
            session_id=fields.get("sessionId", ""),
            service_code=fields.get("serviceCode", ""),
            phone_number=fields.get("phoneNumber", ""),
            text=fields.get("text", ""),
            network_code=fields.get("networkCode", ""),
        ),
        limiter=_limiter(container, channel.settings.ussd_threads),
    )
    return PlainTextResponse(reply.body)


# The lean route serves every request; the FastAPI route after it (same path, never reached)
# only documents the form in the OpenAPI schema.
router.routes.append(Route("/ussd", ussd, methods=["POST"], include_in_schema=False))


@router.post(
    "/ussd",
    response_class=PlainTextResponse,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            name: {"type": "string"}
                            for name in (
                                "sessionId",
                                "serviceCode",
                                "phoneNumber",
                                "networkCode",
                                "text",
                            )
                        },
                    }
                }
            }
        }
    },
)
async def ussd_documented(request: Request) -> PlainTextResponse:
    """One step of a USSD session: form fields ``sessionId``, ``serviceCode``,
    ``phoneNumber``, ``networkCode``, ``text``; the answer starts ``CON `` or ``END ``."""
    return await ussd(request)
