"""JSON API: ``POST /api/v1/vouchers/redeem``.

Authentication (for now): staff and partner systems send ``Authorization: Bearer <key>`` with
the key from ``ABONENT_VOUCHER_API_KEY``; with no key configured the route refuses everyone.
The request names the number to credit, so only trusted callers may use it; the cabinet will
add a subscriber-authenticated route that takes the number from the session instead.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from abonent.bootstrap import Container
from abonent.core.errors import AbonentError, Forbidden
from abonent.core.money import format_tenge
from abonent.core.msisdn import national10
from abonent.vouchers import services
from abonent.web.app import container_of

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])
ContainerDep = Annotated[Container, Depends(container_of)]


class Unauthorized(AbonentError):
    code = "unauthorized"
    http_status = 401


class VoucherApiDisabled(Forbidden):
    code = "voucher_api_disabled"


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=40, examples=["1234567890128"])
    msisdn: str = Field(max_length=32, examples=["7071234567"])


class RedeemResponse(BaseModel):
    msisdn: str
    amount: str
    amount_tiyn: int
    receipt_number: str
    balance_after: str
    balance_after_tiyn: int
    serial: str


def require_api_key(c: ContainerDep, authorization: Annotated[str | None, Header()] = None) -> str:
    """The caller's identity for the audit log, or 401/403 before anything else happens."""
    expected = c.settings.voucher_api_key
    if not expected:
        raise VoucherApiDisabled("voucher redemption over the API is not enabled")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise Unauthorized("a valid API key is required (Authorization: Bearer <key>)")
    return "api:voucher-key"


@router.post("/redeem", response_model=RedeemResponse)
def redeem(
    body: RedeemRequest, c: ContainerDep, caller: Annotated[str, Depends(require_api_key)]
) -> RedeemResponse:
    """Redeem a card code for a number. Errors are problems with a stable ``code``."""
    result = services.redeem_voucher(
        c.db, code=body.code, msisdn=body.msisdn, channel="api", actor=caller
    )
    return RedeemResponse(
        msisdn=national10(result.msisdn),
        amount=format_tenge(result.amount),
        amount_tiyn=result.amount,
        receipt_number=result.receipt_number,
        balance_after=format_tenge(result.balance_after),
        balance_after_tiyn=result.balance_after,
        serial=result.serial,
    )
