"""Feature routers mounted on the app; add a line (import + include) per feature router."""

from __future__ import annotations

from fastapi import FastAPI

from abonent.web.fastpaths import FastPath


def include_routers(app: FastAPI) -> None:
    from abonent.agents.api import router as agents_api
    from abonent.auth.api import router as auth_api
    from abonent.autopay.api import router as autopay_api
    from abonent.autopay.web import install as install_autopay
    from abonent.bills.pages import router as bills_pages
    from abonent.cabinet.api import router as cabinet_api
    from abonent.cabinet.pages import router as cabinet_pages
    from abonent.cabinet.selfcare_api import router as cabinet_selfcare_api
    from abonent.cabinet.selfcare_pages import router as cabinet_selfcare_pages
    from abonent.cabinet.staff import router as staff_pages
    from abonent.cards.api import router as cards_api
    from abonent.cards.pages import api_router as cards_webhook
    from abonent.cards.pages import router as cards_pages
    from abonent.cashdesk.api import router as cashdesk_api
    from abonent.cashdesk.pages import router as cashdesk_pages
    from abonent.charging.api import install as install_charging
    from abonent.payments.api import router as payments_api
    from abonent.payments.pages import router as payments_pages
    from abonent.receipts.api import router as receipts_api
    from abonent.receipts.pages import router as receipts_pages
    from abonent.simulator.pages import router as simulator_pages
    from abonent.sms.api import router as sms_api
    from abonent.ussd.api import router as ussd_api
    from abonent.vouchers.api import router as vouchers_api

    # Network-facing hot paths first: routes are matched in order.
    app.include_router(ussd_api)
    app.include_router(agents_api)
    app.include_router(auth_api)
    install_charging(app)  # usage API, remainders, due-jobs scheduler inside serve
    app.include_router(cabinet_api)
    app.include_router(cabinet_pages)
    app.include_router(cabinet_selfcare_api)
    app.include_router(cabinet_selfcare_pages)
    app.include_router(staff_pages)
    app.include_router(payments_api)
    app.include_router(payments_pages)
    app.include_router(vouchers_api)
    app.include_router(sms_api)
    app.include_router(simulator_pages)
    app.include_router(bills_pages)
    app.include_router(cashdesk_api)
    app.include_router(cashdesk_pages)
    app.include_router(receipts_pages)
    app.include_router(receipts_api)
    app.include_router(cards_pages)
    app.include_router(cards_webhook)
    app.include_router(cards_api)
    app.include_router(autopay_api)
    install_autopay(app)


def fast_paths() -> list[FastPath]:
    """Machine endpoints served ahead of the router (see ``web.fastpaths``); each is also
    mounted as an ordinary route by its feature's router above. A feature edits its own line."""
    from abonent.agents.asgi import agent_app
    from abonent.ussd.api import ussd

    return [
        FastPath("/ussd", ussd, methods=frozenset({"POST"})),
        FastPath("/agents/{code}", agent_app, param="code"),
    ]
