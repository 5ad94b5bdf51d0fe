"""A bill at its unguessable link, as HTML and PDF (shows the masked number only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from abonent.bills import services
from abonent.bills.rendering import bill_context, bill_pdf
from abonent.web.app import container_of
from abonent.web.templating import templates

router = APIRouter(tags=["bills"])
_PRIVATE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}


@router.get("/bills/{token}.pdf", include_in_schema=False)
def bill_pdf_page(token: str, request: Request) -> Response:
    c = container_of(request)
    bill = services.bill_by_token(c.db, token)
    s = c.settings
    return Response(
        bill_pdf(bill, s.operator_name, s.operator_bin, s.operator_address),
        media_type="application/pdf",
        headers={**_PRIVATE, "Content-Disposition": f'inline; filename="bill-{bill.month}.pdf"'},
    )


@router.get("/bills/{token}", response_class=HTMLResponse, include_in_schema=False)
def bill_page(token: str, request: Request) -> Response:
    c = container_of(request)
    bill = services.bill_by_token(c.db, token)
    context = bill_context(bill, c.settings.operator_name, c.settings.operator_bin)
    return templates.TemplateResponse(request, "bill.html", context, headers=_PRIVATE)
