"""``/simulator``: a phone in the browser for demos and tests.

The page sends exactly what the network would: USSD steps go to ``POST /ussd`` and SMS to
``POST /sms/incoming`` (from the page, with ``fetch``). The only simulator-own endpoints are
reads (the inbox and collect calls of a number) and the switch's end-of-call record
(``POST /simulator/collect-calls/{id}/hangup``), which the network would produce itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from abonent.core.errors import AbonentError, InvalidMsisdn
from abonent.core.money import format_tenge
from abonent.core.msisdn import display, national10, parse_msisdn
from abonent.messaging.services import calls_for, finish_collect_call
from abonent.sms.services import inbox
from abonent.ussd.api import channel_of
from abonent.web.templating import templates

router = APIRouter(tags=["simulator"], include_in_schema=False)


def _phones(request: Request) -> list[dict[str, str]]:
    db = request.app.state.container.db
    with db.reading() as uow:
        subscribers = uow.subscribers.page(limit=50)
    return [
        {"msisdn": national10(s.msisdn), "label": f"{display(s.msisdn)} · {s.name}"}
        for s in subscribers
    ]


def _state(request: Request, msisdn: str) -> dict[str, Any]:
    db = request.app.state.container.db
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        account = uow.ledger.account(subscriber.account_id) if subscriber else None
    messages = [m.as_json() for m in inbox(db, msisdn)]
    calls = [
        {
            "id": c.id,
            "caller": national10(c.caller_msisdn),
            "callee": national10(c.callee_msisdn),
            "status": c.status.value,
            "incoming": c.callee_msisdn == msisdn,
        }
        for c in calls_for(db, msisdn)
    ]
    return {
        "msisdn": national10(msisdn),
        "known": subscriber is not None,
        "status": subscriber.status.value if subscriber else None,
        "balance": format_tenge(account.balance) if account else None,
        "inbox": messages,
        "calls": calls,
    }


@router.get("/simulator", response_class=HTMLResponse)
def simulator_page(request: Request, msisdn: Annotated[str, Query(max_length=32)] = "") -> Response:
    phones = _phones(request)
    number = msisdn or (phones[0]["msisdn"] if phones else "")
    state: dict[str, Any] | None = None
    error = ""
    if number:
        try:
            state = _state(request, parse_msisdn(number))
        except InvalidMsisdn:
            error = "Not a Kazakhstan mobile number"
    channel = channel_of(request.app.state.container)
    return templates.TemplateResponse(
        request,
        "simulator/phone.html",
        {
            "phones": phones,
            "number": number,
            "state": state,
            "error": error,
            "short_number": channel.settings.voucher_short_number,
        },
    )


@router.get("/simulator/phone/{msisdn}")
def phone_state(request: Request, msisdn: str) -> JSONResponse:
    try:
        number = parse_msisdn(msisdn)
    except InvalidMsisdn:
        return JSONResponse({"error": "invalid number"}, status_code=422)
    return JSONResponse(_state(request, number))


@router.post("/simulator/collect-calls/{call_id}/hangup")
def hang_up(
    request: Request, call_id: int, seconds: Annotated[int, Form(ge=0, le=86_400)] = 60
) -> JSONResponse:
    channel = channel_of(request.app.state.container)
    try:
        call = finish_collect_call(
            channel.db, call_id, seconds, rules=channel.settings.messaging_rules
        )
    except AbonentError as error:
        return JSONResponse({"error": error.code, "message": error.message}, status_code=409)
    return JSONResponse(
        {"id": call.id, "status": call.status.value, "charged": format_tenge(call.charged or 0)}
    )
