"""``GET /api/v1/payments/status``: a payment's public status (masked number only)."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from abonent.bootstrap import Container
from abonent.core.money import format_tenge
from abonent.payments.status import PaymentStatusView, StatusRateLimiter, payment_status

router = APIRouter(tags=["payments"])
_LIMITER = "payments.status_limiter"


def limiter_of(container: Container) -> StatusRateLimiter:
    found = container.extras.get(_LIMITER)
    if not isinstance(found, StatusRateLimiter):
        found = StatusRateLimiter()
        container.extras[_LIMITER] = found
    return found


def client_of(request: Request, container: Container) -> str:
    if container.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def status_as_json(view: PaymentStatusView) -> dict[str, Any]:
    return {
        "status": view.status.value,
        "msisdn": view.masked_msisdn,
        "amount": format_tenge(view.amount),
        "amount_tiyn": view.amount,
        "time": view.time.isoformat(),
        "receipt": view.receipt,
    }


@router.get("/api/v1/payments/status")
async def get_payment_status(
    request: Request,
    agent: Annotated[str | None, Query(max_length=40)] = None,
    txn_id: Annotated[str | None, Query(max_length=40)] = None,
    receipt: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    """Status of a payment found by ``receipt``, or by ``agent`` + ``txn_id``.

    Answers ``status`` (credited, cancelled, redirected), the masked number, the amount and
    the time; 404 ``payment_not_found``; 429 ``rate_limited`` after too many lookups.
    """
    container = cast(Container, request.app.state.container)
    limiter_of(container).hit(client_of(request, container))
    view = await run_in_threadpool(
        lambda: payment_status(container.db, agent=agent, txn_id=txn_id, receipt=receipt)
    )
    return status_as_json(view)
