"""Cabinet pages of the money and service features: tariffs, options, cards and top-up,
statements, trust credit, transfers, auto top-up. Same pattern as ``pages`` (``handlers``): the
session and CSRF are checked first, every number goes through ``access.authorize`` (in
``selfcare``), errors come back as flash codes."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from abonent.bootstrap import Container
from abonent.cabinet import selfcare
from abonent.cabinet.access import authorize
from abonent.cabinet.domain import Right
from abonent.cabinet.handlers import Posted, form_action, form_id, page, posted, principal_of
from abonent.cabinet.web import back, to_login
from abonent.core.errors import AbonentError
from abonent.core.money import parse_tenge
from abonent.db.uow import Database
from abonent.web.app import container_of
from abonent.web.security import Principal, auth_policy

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(container_of)]


def _authorized(db: Database, principal: Principal, n: str, right: Right) -> None:
    with db.reading() as uow:
        authorize(uow, principal.subscriber, n, right)


# -- tariffs and options ------------------------------------------------------------------
@router.get("/cabinet/tariffs", response_class=HTMLResponse)
def tariffs(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/tariffs.html",
        lambda p, n: {"offers": selfcare.tariffs(c.db, p.subscriber, n)},
    )


@router.post("/cabinet/tariffs/change")
async def change_tariff(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.change_tariff(
            c.db, sent.principal.subscriber, sent.n, sent.field("code")
        ),
        page="/cabinet/tariffs",
        done="/cabinet",
        ok="tariff_changed",
        with_number=True,
    )


@router.get("/cabinet/options", response_class=HTMLResponse)
def options(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/options.html",
        lambda p, n: {"offers": selfcare.options(c.db, p.subscriber, n)},
    )


@router.post("/cabinet/options/connect")
async def connect_option(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.connect_option(
            c.db, sent.principal.subscriber, sent.n, sent.field("code")
        ),
        page="/cabinet/options",
        ok="option_connected",
        with_number=True,
    )


@router.post("/cabinet/options/disconnect")
async def disconnect_option(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.disconnect_option(
            c.db, sent.principal.subscriber, sent.n, sent.field("code")
        ),
        page="/cabinet/options",
        ok="option_disconnected",
        with_number=True,
    )


# -- cards and top-up ---------------------------------------------------------------------
def _cards(c: Container, principal: Principal) -> list[object]:
    try:
        return list(selfcare.cards(c.db, principal.subscriber))
    except ImportError:  # pragma: no cover - the cards feature is optional
        return []


@router.get("/cabinet/topup", response_class=HTMLResponse)
def topup_page(request: Request, c: ContainerDep) -> Response:
    def load(principal: Principal, n: str) -> dict[str, object]:
        _authorized(c.db, principal, n, Right.PAY)
        return {
            "cards": _cards(c, principal),
            "payment_key": secrets.token_urlsafe(16),
            "stepped_up": principal.session.stepped_up(c.clock.now(), auth_policy(c.settings)),
            "step_up": request.query_params.get("step_up", ""),
        }

    return page(request, c, "cabinet/topup.html", load)


@router.post("/cabinet/topup")
async def topup(request: Request, c: ContainerDep) -> Response:
    def pay(sent: Posted) -> Response:
        from abonent.cards.acquirers import acquirer_for

        payment = selfcare.card_topup(
            c.db,
            acquirer_for(c),
            sent.principal.subscriber,
            sent.n,
            card_id=form_id(sent.field("card_id")) or 0,
            amount=parse_tenge(sent.field("amount")),
            idempotency_key=sent.field("payment_key"),
        )
        if payment.acs_url:  # 3-D Secure on the acquirer's page; it returns to the cards feature
            return RedirectResponse(payment.acs_url, status_code=303)
        if payment.status.value == "captured":
            return back("/cabinet", ok="topped_up", n=sent.n)
        return back("/cabinet/topup", error="payment_declined", n=sent.n)

    return await form_action(
        request, c, pay, page="/cabinet/topup", ok="topped_up", with_number=True
    )


@router.post("/cabinet/cards/link")
async def link_card(request: Request, c: ContainerDep) -> Response:
    """Off to the acquirer's own card-entry page (needs a fresh SMS code first)."""
    sent = await posted(request, c)
    if isinstance(sent, Response):
        return sent
    try:
        from abonent.cards.acquirers import acquirer_for

        url = selfcare.start_card_link(
            c.db,
            acquirer_for(c),
            sent.principal.subscriber,
            sent.principal.session,
            auth_policy(c.settings),
            "/cabinet/cards/link/return?session={session}",
        )
    except AbonentError as error:
        extra = {"step_up": "1"} if error.code == "step_up_required" else {}
        return back("/cabinet/topup", error=error.code, **extra)
    return RedirectResponse(url, status_code=303)


@router.get("/cabinet/cards/link/return")
def card_linked(request: Request, c: ContainerDep) -> Response:
    """Where the acquirer sends the browser back: a redirect to the top-up page either way."""
    principal = principal_of(request, c)
    if principal is None:
        return to_login(request)
    try:
        from abonent.cards.acquirers import acquirer_for

        selfcare.complete_card_link(
            c.db, acquirer_for(c), principal.subscriber, request.query_params.get("session", "")
        )
    except AbonentError as error:
        return back("/cabinet/topup", error=error.code)
    return back("/cabinet/topup", ok="card_linked")


@router.post("/cabinet/cards/remove")
async def remove_card(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.remove_card(
            c.db, sent.principal.subscriber, form_id(sent.field("card_id")) or 0
        ),
        page="/cabinet/topup",
        ok="card_removed",
    )


# -- statements ---------------------------------------------------------------------------
@router.get("/cabinet/statements", response_class=HTMLResponse)
def statements(request: Request, c: ContainerDep) -> Response:
    def load(principal: Principal, n: str) -> dict[str, object]:
        q = request.query_params
        try:
            period = selfcare.period_of(q.get("from", ""), q.get("to", ""), c.clock.now())
        except AbonentError:
            period = selfcare.period_of("", "", c.clock.now())
        short = selfcare.short_statement(c.db, principal.subscriber, n, period)
        return {"short": short, "period": period}

    return page(request, c, "cabinet/statements.html", load)


@router.post("/cabinet/statements/full")
async def order_statement(request: Request, c: ContainerDep) -> Response:
    def order(sent: Posted) -> Response | None:
        period = selfcare.period_of(sent.field("from"), sent.field("to"), c.clock.now())
        done = selfcare.order_full_statement(
            c.db,
            sent.principal.subscriber,
            sent.n,
            period,
            c.settings,
            sent.form.get("email") or None,
        )
        name = f"statement-{sent.n}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
        kind = sent.form.get("format")  # also e-mailed; the fee was charged once for the period
        if kind == "csv":
            return _download(done.csv_text.encode(), "text/csv; charset=utf-8", f"{name}.csv")
        if kind == "pdf":
            return _download(done.pdf, "application/pdf", f"{name}.pdf")
        return None

    return await form_action(
        request, c, order, page="/cabinet/statements", ok="statement_sent", with_number=True
    )


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- trust credit -------------------------------------------------------------------------
@router.get("/cabinet/credit", response_class=HTMLResponse)
def credit(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/credit.html",
        lambda p, n: {
            "view": selfcare.credit(c.db, p.subscriber, n),
            "key": secrets.token_urlsafe(16),
        },
    )


@router.post("/cabinet/credit")
async def take_credit(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.take_credit(
            c.db,
            sent.principal.subscriber,
            sent.n,
            parse_tenge(sent.field("amount")),
            sent.field("key"),
        ),
        page="/cabinet/credit",
        ok="credit_taken",
        with_number=True,
    )


# -- balance transfer ---------------------------------------------------------------------
@router.get("/cabinet/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, c: ContainerDep) -> Response:
    def load(principal: Principal, n: str) -> dict[str, object]:
        _authorized(c.db, principal, n, Right.FULL)
        q = request.query_params
        recipient, amount = q.get("recipient", "")[:32], q.get("amount", "")[:20]
        quote = error = None
        if recipient and amount:
            try:
                quote = selfcare.quote_transfer(
                    c.db, principal.subscriber, n, recipient, parse_tenge(amount)
                )
            except AbonentError as refused:
                error = refused.code
        return {
            "quote": quote,
            "quote_error": error,
            "recipient": recipient,
            "amount": amount,
            "key": secrets.token_urlsafe(16),
            "stepped_up": principal.session.stepped_up(c.clock.now(), auth_policy(c.settings)),
            "step_up": q.get("step_up", ""),
        }

    return page(request, c, "cabinet/transfer.html", load)


@router.post("/cabinet/transfer")
async def send_transfer(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.send_transfer(
            c.db,
            sent.principal.subscriber,
            sent.principal.session,
            auth_policy(c.settings),
            sent.n,
            sent.field("recipient", 32),
            parse_tenge(sent.field("amount", 20)),
            sent.field("key"),
        ),
        page="/cabinet/transfer",
        done="/cabinet",
        ok="transferred",
        with_number=True,
        keep={"recipient": "recipient", "amount": "amount"},
    )


# -- auto top-up rules --------------------------------------------------------------------
@router.get("/cabinet/autopay", response_class=HTMLResponse)
def autopay(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/autopay.html",
        lambda p, n: {
            "rules": selfcare.autopay_rules(c.db, p.subscriber),
            "cards": selfcare.cards(c.db, p.subscriber),
        },
    )


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _money(text: str) -> int | None:
    return parse_tenge(text) if text else None


@router.post("/cabinet/autopay")
async def create_rule(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.create_autopay_rule(
            c.db,
            sent.principal.subscriber,
            kind=sent.field("kind"),
            target_msisdn=sent.form.get("target") or sent.principal.subscriber.msisdn,
            card_id=_int(sent.field("card_id")) or 0,
            amount=_money(sent.field("amount")),
            threshold=_money(sent.field("threshold")),
            period=sent.form.get("period") or None,
            day=_int(sent.field("day")),
        ),
        page="/cabinet/autopay",
        ok="rule_created",
    )


@router.post("/cabinet/autopay/complete")
async def complete_rule(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.complete_autopay_rule(
            c.db,
            sent.principal.subscriber,
            _int(sent.field("rule_id")) or 0,
            _int(sent.field("card_id")) or 0,
        ),
        page="/cabinet/autopay",
        ok="rule_completed",
    )


@router.post("/cabinet/autopay/delete")
async def delete_rule(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: selfcare.delete_autopay_rule(
            c.db, sent.principal.subscriber, _int(sent.field("rule_id")) or 0
        ),
        page="/cabinet/autopay",
        ok="rule_deleted",
    )
