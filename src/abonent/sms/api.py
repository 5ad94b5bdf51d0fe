"""``POST /sms/incoming``: an SMS from a subscriber, forwarded by the SMS gateway
(form fields ``from``, ``to``, ``text``). Trusted like the USSD gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from abonent.core.errors import InvalidMsisdn, StorageUnavailable
from abonent.sms.services import receive
from abonent.ussd.api import channel_of, gateway_trusted

router = APIRouter(tags=["sms"])


@router.post("/sms/incoming")
def sms_incoming(
    request: Request,
    sender: Annotated[str, Form(alias="from")] = "",
    to: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> JSONResponse:
    """Handle one incoming SMS; a voucher code sent to 9393 is redeemed."""
    channel = channel_of(request.app.state.container)
    if not gateway_trusted(request, channel.settings):
        return JSONResponse({"status": "forbidden"}, status_code=403)
    if len(text) > 1600 or len(to) > 20:
        return JSONResponse({"status": "ignored", "reason": "too long"})
    try:
        result = receive(
            channel.db,
            sender=sender,
            to=to,
            text=text,
            short_number=channel.settings.voucher_short_number,
        )
    except InvalidMsisdn:
        return JSONResponse({"status": "ignored", "reason": "unknown sender"})
    except StorageUnavailable:
        return JSONResponse({"status": "retry"}, status_code=503)
    return JSONResponse({"status": result.status, "reply": result.reply})
