"""``/simulator/atm``: a cash machine in the browser, driving the same API real machines use
(with a machine of its own whose key derives from the server secret). Not in production."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from abonent.cashdesk import services
from abonent.cashdesk.domain import DENOMINATIONS_TENGE
from abonent.web.app import container_of
from abonent.web.errors import problem
from abonent.web.templating import templates

router = APIRouter(tags=["cashdesk"])


@router.get("/simulator/atm", response_class=HTMLResponse, include_in_schema=False)
def atm_simulator(request: Request) -> Response:
    c = container_of(request)
    if c.settings.mode == "production":
        return problem(404, "not_found", "the simulator is off in production")
    code, key = services.ensure_simulator_machine(c.db, secret=c.settings.secret_key)
    return templates.TemplateResponse(
        request,
        "atm.html",
        {"machine_code": code, "machine_key": key, "denominations": DENOMINATIONS_TENGE},
        headers={"Cache-Control": "no-store"},
    )
