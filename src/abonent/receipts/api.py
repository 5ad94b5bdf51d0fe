"""The signed-in subscriber's own receipts and bills (cabinet and mobile app), and the one-time
QR code that authorises them at a cash machine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from abonent.bills import services as bills
from abonent.cashdesk import services as cashdesk
from abonent.cashdesk.services import QR_TOKEN_MINUTES
from abonent.core.money import format_tenge
from abonent.receipts import services
from abonent.receipts.pages import receipt_json
from abonent.receipts.rendering import qr_svg
from abonent.web.app import container_of
from abonent.web.security import SignedIn

router = APIRouter(prefix="/api/v1/me", tags=["receipts"])


@router.get("/receipts")
def my_receipts(principal: SignedIn, request: Request) -> list[dict[str, Any]]:
    """Receipts of the signed-in number, newest first (50)."""
    c = container_of(request)
    found = services.receipts_of_number(c.db, principal.subscriber.msisdn)
    return [receipt_json(r, c.settings.public_base_url) for r in found]


@router.get("/bills")
def my_bills(principal: SignedIn, request: Request) -> list[dict[str, Any]]:
    """Bills of the signed-in (postpaid) number, newest first, with their links."""
    c = container_of(request)
    base = c.settings.public_base_url.rstrip("/")
    return [
        {
            "month": str(b.month),
            "amount_due": b.amount_due,
            "amount_due_text": format_tenge(b.amount_due),
            "carried_in": b.carried_in,
            "previous_unpaid": b.previous_unpaid,
            "paid": b.paid,
            "status": b.status.value,
            "due_at": b.due_at.isoformat(),
            "url": f"{base}/bills/{b.share_token}",
            "pdf_url": f"{base}/bills/{b.share_token}.pdf",
        }
        for b in bills.bills_of_number(c.db, principal.subscriber.msisdn)
    ]


@router.post("/cash-qr", status_code=201)
def my_cash_qr(principal: SignedIn, request: Request) -> dict[str, Any]:
    """A one-time code (and its QR as SVG) to sign in at a cash machine; ten minutes."""
    c = container_of(request)
    token = cashdesk.issue_qr_token(c.db, principal.subscriber.msisdn, secret=c.settings.secret_key)
    return {"token": token, "qr_svg": qr_svg(token), "expires_in": QR_TOKEN_MINUTES * 60}
