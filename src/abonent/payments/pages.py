"""``/payment-status``: the small public page behind the "Payment status" link."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from abonent.bootstrap import Container
from abonent.core.errors import AbonentError, StorageUnavailable
from abonent.core.money import format_tenge
from abonent.payments.api import client_of, limiter_of
from abonent.payments.status import PaymentStatusView, payment_status
from abonent.web.templating import templates

router = APIRouter(tags=["payments"], include_in_schema=False)

STATUS_TEXT = {
    "credited": "Платёж принят и зачислен",
    "cancelled": "Платёж отменён",
    "redirected": "Платёж перенаправлен службой поддержки",
}


@router.get("/payment-status", response_class=HTMLResponse)
async def payment_status_page(
    request: Request,
    agent: Annotated[str | None, Query(max_length=40)] = None,
    txn_id: Annotated[str | None, Query(max_length=40)] = None,
    receipt: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    container = cast(Container, request.app.state.container)
    view: PaymentStatusView | None = None
    error = ""
    status_code = 200
    if receipt or agent or txn_id:
        try:
            limiter_of(container).hit(client_of(request, container))
            view = await run_in_threadpool(
                lambda: payment_status(container.db, agent=agent, txn_id=txn_id, receipt=receipt)
            )
        except StorageUnavailable:
            error, status_code = "Сервис временно недоступен, попробуйте позже.", 503
        except AbonentError as exc:
            error, status_code = exc.message, exc.http_status
    return templates.TemplateResponse(
        request,
        "payments_status.html",
        {
            "view": view,
            "status_text": STATUS_TEXT.get(view.status.value, "") if view else "",
            "amount": format_tenge(view.amount) if view else "",
            "error": error,
            "agent": agent or "",
            "txn_id": txn_id or "",
            "receipt": receipt or "",
        },
        status_code=status_code,
    )
