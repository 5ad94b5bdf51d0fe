"""Public receipt pages: the share link (no login) as HTML, PDF and JSON.

The token in the link is the only key: 24 random URL-safe characters. The page shows the
masked number only, never the full number or the payer's name.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from abonent.receipts import services
from abonent.receipts.domain import Receipt
from abonent.receipts.rendering import local_time, qr_svg, receipt_pdf, tenge_text
from abonent.web.app import container_of
from abonent.web.templating import templates

router = APIRouter(tags=["receipts"])
_PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}


def receipt_json(receipt: Receipt, public_base_url: str) -> dict[str, Any]:
    return {
        "number": receipt.number,
        "kind": receipt.kind.value,
        "issued_at": receipt.issued_at.isoformat(),
        "seller": {
            "name": receipt.seller_name,
            "bin": receipt.seller_bin,
            "address": receipt.seller_address,
        },
        "service": receipt.service,
        "msisdn": receipt.msisdn_masked,
        "amount": receipt.amount,
        "vat": receipt.vat,
        "vat_rate_percent": receipt.vat_rate_percent,
        "channel": receipt.channel,
        "method": receipt.method,
        "agent": receipt.agent,
        "agent_txn_id": receipt.agent_txn_id,
        "reason": receipt.reason,
        "fiscal_sign": receipt.fiscal_sign,
        "url": receipt.verification_url(public_base_url),
        "pdf_url": receipt.verification_url(public_base_url) + ".pdf",
    }


@router.get("/r/{token}.pdf", include_in_schema=False)
def receipt_pdf_page(token: str, request: Request) -> Response:
    c = container_of(request)
    receipt = services.receipt_by_token(c.db, token)
    return Response(
        receipt_pdf(receipt, c.settings.public_base_url),
        media_type="application/pdf",
        headers={
            **_PRIVATE,
            "Content-Disposition": f'inline; filename="receipt-{receipt.number}.pdf"',
        },
    )


@router.get("/r/{token}", response_class=HTMLResponse, include_in_schema=False)
def receipt_page(token: str, request: Request) -> Response:
    c = container_of(request)
    receipt = services.receipt_by_token(c.db, token)
    url = receipt.verification_url(c.settings.public_base_url)
    return templates.TemplateResponse(
        request,
        "receipt.html",
        {
            "r": receipt,
            "issued": local_time(receipt.issued_at),
            "amount": tenge_text(receipt.amount),
            "vat": tenge_text(receipt.vat),
            "url": url,
            "qr": Markup(qr_svg(url)),  # noqa: S704 - SVG made by segno from our own URL
        },
        headers=_PRIVATE,
    )


@router.get("/api/receipts/{token}")
def receipt_api(token: str, request: Request) -> dict[str, Any]:
    """A receipt by its share token (no login: the token is the key)."""
    c = container_of(request)
    return receipt_json(services.receipt_by_token(c.db, token), c.settings.public_base_url)
