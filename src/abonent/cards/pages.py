"""Card pages: the sandbox acquirer's own card-entry and 3-D Secure pages (they stand for the
acquirer's hosted pages: no card data ever passes through the operator's pages), the return
pages the acquirer sends the browser back to, and the acquirer's signed notification webhook.

Nothing here moves money on an unauthenticated request: returning from the acquirer only makes
us *ask the acquirer* what happened, and a notification is accepted only with a valid HMAC.
Starting a card link or a top-up needs a signed-in subscriber: that is the cabinet's job
(``services.start_card_link`` / ``services.card_topup``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from abonent.bootstrap import Container
from abonent.cards import services
from abonent.cards.acquirers import acquirer_for
from abonent.cards.acquirers.sandbox import SandboxAcquirer
from abonent.cards.domain import InvalidCardData
from abonent.cards.tables import sandbox_acquirer_operations
from abonent.core.errors import AbonentError, NotFound
from abonent.core.money import format_tenge
from abonent.web.app import container_of
from abonent.web.templating import templates

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/v1/cards", tags=["cards"])
ContainerDep = Annotated[Container, Depends(container_of)]
MAX_FIELD = 64


def _sandbox(c: Container) -> SandboxAcquirer:
    acquirer = acquirer_for(c)
    if not isinstance(acquirer, SandboxAcquirer):
        raise NotFound("the sandbox acquirer is not in use")
    return acquirer


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v[:MAX_FIELD] for k, v in form.items() if isinstance(v, str)}


def _result(request: Request, title: str, message: str, *, ok: bool, status: int = 200) -> Response:
    return templates.TemplateResponse(
        request,
        "cards/result.html",
        {"title": title, "message": message, "css": "ok" if ok else "error"},
        status_code=status,
    )


@router.get("/sandbox-acquirer/cards/{session_id}", response_class=HTMLResponse)
def sandbox_card_form(session_id: str, request: Request, c: ContainerDep) -> Response:
    if not _sandbox(c).session_exists(session_id[:MAX_FIELD]):
        raise NotFound("no such card-entry session")
    return templates.TemplateResponse(
        request,
        "cards/sandbox_card_form.html",
        {"action": f"/sandbox-acquirer/cards/{session_id}", "error": None},
    )


@router.post("/sandbox-acquirer/cards/{session_id}", response_class=HTMLResponse)
async def sandbox_card_submit(session_id: str, request: Request, c: ContainerDep) -> Response:
    form = await _form(request)
    try:
        return_url = _sandbox(c).submit_card(
            session_id[:MAX_FIELD],
            pan=form.get("pan", ""),
            expiry=form.get("expiry", ""),
            cvv=form.get("cvv", ""),
        )
    except InvalidCardData as exc:
        # The form comes back empty: a typed card number is never echoed.
        return templates.TemplateResponse(
            request,
            "cards/sandbox_card_form.html",
            {"action": f"/sandbox-acquirer/cards/{session_id}", "error": exc.message},
            status_code=422,
        )
    return RedirectResponse(return_url, status_code=303)


@router.get("/sandbox-acquirer/3ds/{txn_id}", response_class=HTMLResponse)
def sandbox_3ds_form(txn_id: str, request: Request, c: ContainerDep) -> Response:
    row = _sandbox_operation(c, txn_id)
    return templates.TemplateResponse(
        request,
        "cards/sandbox_3ds.html",
        {"action": f"/sandbox-acquirer/3ds/{txn_id}", "amount": format_tenge(int(row.amount))},
    )


@router.post("/sandbox-acquirer/3ds/{txn_id}")
async def sandbox_3ds_submit(txn_id: str, request: Request, c: ContainerDep) -> Response:
    row = _sandbox_operation(c, txn_id)
    answer = "Y" if (await _form(request)).get("answer") == "Y" else "N"
    return RedirectResponse(
        f"/cards/3ds/return?operation={row.operation_id}&PaRes={answer}", status_code=303
    )


def _sandbox_operation(c: Container, txn_id: str) -> Any:
    sandbox = _sandbox(c)
    with sandbox.db.reading() as uow:
        row = uow.connection.execute(
            select(sandbox_acquirer_operations).where(
                sandbox_acquirer_operations.c.txn_id == txn_id[:MAX_FIELD]
            )
        ).first()
    if row is None:
        raise NotFound("no such transaction")
    return row


@router.get("/cards/link/return", response_class=HTMLResponse)
def card_link_return(request: Request, c: ContainerDep, session: str = "") -> Response:
    try:
        card = services.complete_card_link(
            c.db, acquirer_for(c), session[:MAX_FIELD], actor="acquirer-return"
        )
    except AbonentError as exc:
        return _result(request, "Card not linked", exc.message, ok=False, status=exc.http_status)
    return _result(request, "Card linked", f"{card.label} is linked.", ok=True)


@router.get("/cards/3ds/return", response_class=HTMLResponse)
def three_ds_return(
    request: Request,
    c: ContainerDep,
    operation: str = "",
    PaRes: str = "",
) -> Response:
    try:
        payment = services.complete_3ds(
            c.db, acquirer_for(c), operation_id=operation[:MAX_FIELD], pa_res=PaRes[:MAX_FIELD]
        )
    except AbonentError as exc:
        return _result(request, "Payment", exc.message, ok=False, status=exc.http_status)
    ok = payment.status.value == "captured"
    message = f"{format_tenge(payment.amount)} ₸: {payment.status.value}"
    return _result(request, "Payment", message, ok=ok)


@api_router.post("/notifications/{acquirer_name}", include_in_schema=False)
async def acquirer_notification(acquirer_name: str, request: Request, c: ContainerDep) -> Response:
    """The acquirer's webhook: body signed with HMAC-SHA256 (base64) in ``Content-HMAC``."""
    body = await request.body()
    if len(body) > 10_000:
        raise NotFound("no such notification")
    services.handle_notification(
        c.db,
        acquirer_name=acquirer_name[:MAX_FIELD],
        body=body,
        signature=request.headers.get("Content-HMAC", ""),
    )
    return JSONResponse({"code": 0})
