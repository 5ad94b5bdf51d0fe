"""``POST /ussd``: the gateway's HTTP callback (form fields ``sessionId``, ``serviceCode``,
``phoneNumber``, ``networkCode``, ``text``), answered ``text/plain`` with ``CON ``/``END ``.

Only the gateway may say who is calling: requests from outside the configured networks, or
without the shared secret when one is configured, are refused before anything is read.
The endpoint itself is the plain ASGI application ``ussd.asgi.UssdGateway``.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from abonent.ussd.asgi import MAX_BODY, SECRET_HEADER, UssdGateway, channel_of, peer_trusted
from abonent.ussd.config import ChannelSettings

__all__ = ["MAX_BODY", "SECRET_HEADER", "channel_of", "gateway_trusted", "router", "ussd"]

router = APIRouter(tags=["ussd"])
ussd = UssdGateway()  # takes the container from the Starlette application it is mounted in


def gateway_trusted(request: Request, settings: ChannelSettings) -> bool:
    """The peer address is in an allowed network and, if configured, the secret matches."""
    host = request.client.host if request.client else ""
    return peer_trusted(host, request.headers.get(SECRET_HEADER), settings)


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
    sent: list[Message] = []

    async def keep(message: Message) -> None:
        sent.append(message)

    await ussd(request.scope, request.receive, keep)
    start, body = sent
    return PlainTextResponse(body["body"], start["status"])
