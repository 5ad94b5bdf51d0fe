"""Cabinet pages of the money and service features: tariffs, options, cards and top-up,
statements. Same pattern as ``pages``: the session and CSRF are checked in the handler, every
number goes through ``access.authorize`` (in ``selfcare``), errors come back as flash codes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from abonent.bootstrap import Container
from abonent.cabinet import selfcare
from abonent.cabinet.pages import _form, _id, _principal, _signed_in_post, _target
from abonent.cabinet.web import back, render, to_login
from abonent.core.errors import AbonentError
from abonent.core.money import parse_tenge
from abonent.core.msisdn import national10
from abonent.db.uow import Database
from abonent.subscribers.domain import Subscriber
from abonent.web.app import container_of
from abonent.web.security import Principal, auth_policy

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(container_of)]


def _n(request: Request, principal: Principal) -> str:
    """The number of the page, as it goes back into links (national, 10 digits)."""
    target = _target(request, principal)
    try:
        return national10(target)
    except AbonentError:
        return target[:32]


def _refused(request: Request, principal: Principal, error: AbonentError) -> Response:
    status = 403 if error.code == "forbidden" else error.http_status
    return render(
        request, "cabinet/error.html", {"code": error.code}, principal=principal, status_code=status
    )


# A self-care action that takes the number and a catalogue code from a form.
CodeAction = Callable[[Database, Subscriber, str, str], object]


async def _code_form_action(
    request: Request, c: Container, action: CodeAction, *, page: str, done: str, ok: str
) -> Response:
    """Signed-in POST with CSRF: run ``action`` on the page's number and the form's ``code``;
    errors go back to ``page``, success to ``done`` with the ``ok`` flash."""
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    n = _n(request, principal)
    form = await _form(request)
    try:
        action(c.db, principal.subscriber, n, form.get("code", ""))
    except AbonentError as error:
        return back(page, error=error.code, n=n)
    return back(done, ok=ok, n=n)


# -- tariffs and options ------------------------------------------------------------------
@router.get("/cabinet/tariffs", response_class=HTMLResponse)
def tariffs(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    try:
        offers = selfcare.tariffs(c.db, principal.subscriber, n)
    except AbonentError as error:
        return _refused(request, principal, error)
    return render(request, "cabinet/tariffs.html", {"offers": offers, "n": n}, principal=principal)


@router.post("/cabinet/tariffs/change")
async def change_tariff(request: Request, c: ContainerDep) -> Response:
    return await _code_form_action(
        request,
        c,
        selfcare.change_tariff,
        page="/cabinet/tariffs",
        done="/cabinet",
        ok="tariff_changed",
    )


@router.get("/cabinet/options", response_class=HTMLResponse)
def options(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    try:
        offers = selfcare.options(c.db, principal.subscriber, n)
    except AbonentError as error:
        return _refused(request, principal, error)
    return render(request, "cabinet/options.html", {"offers": offers, "n": n}, principal=principal)


@router.post("/cabinet/options/connect")
async def connect_option(request: Request, c: ContainerDep) -> Response:
    return await _code_form_action(
        request,
        c,
        selfcare.connect_option,
        page="/cabinet/options",
        done="/cabinet/options",
        ok="option_connected",
    )


@router.post("/cabinet/options/disconnect")
async def disconnect_option(request: Request, c: ContainerDep) -> Response:
    return await _code_form_action(
        request,
        c,
        selfcare.disconnect_option,
        page="/cabinet/options",
        done="/cabinet/options",
        ok="option_disconnected",
    )


# -- cards and top-up ---------------------------------------------------------------------
@router.get("/cabinet/topup", response_class=HTMLResponse)
def topup_page(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    try:
        from abonent.cabinet.access import authorize
        from abonent.cabinet.domain import Right

        with c.db.reading() as uow:
            authorize(uow, principal.subscriber, n, Right.PAY)
        cards = selfcare.cards(c.db, principal.subscriber)
    except AbonentError as error:
        return _refused(request, principal, error)
    except ImportError:  # pragma: no cover - the cards feature is optional
        cards = []
    return render(
        request,
        "cabinet/topup.html",
        {
            "cards": cards,
            "n": n,
            "payment_key": secrets.token_urlsafe(16),
            "stepped_up": principal.session.stepped_up(c.clock.now(), auth_policy(c.settings)),
            "step_up": request.query_params.get("step_up", ""),
        },
        principal=principal,
    )


@router.post("/cabinet/topup")
async def topup(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    n = _n(request, principal)
    form = await _form(request)
    card_id = form.get("card_id", "")
    try:
        from abonent.cards.acquirers import acquirer_for

        payment = selfcare.card_topup(
            c.db,
            acquirer_for(c),
            principal.subscriber,
            n,
            card_id=_id(card_id) or 0,
            amount=parse_tenge(form.get("amount", "")),
            idempotency_key=form.get("payment_key", ""),
        )
    except AbonentError as error:
        return back("/cabinet/topup", error=error.code, n=n)
    if payment.acs_url:  # 3-D Secure on the acquirer's page; it returns to the cards feature
        return RedirectResponse(payment.acs_url, status_code=303)
    if payment.status.value == "captured":
        return back("/cabinet", ok="topped_up", n=n)
    return back("/cabinet/topup", error="payment_declined", n=n)


@router.post("/cabinet/cards/link")
async def link_card(request: Request, c: ContainerDep) -> Response:
    """Off to the acquirer's own card-entry page (needs a fresh SMS code first)."""
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    try:
        from abonent.cards.acquirers import acquirer_for

        url = selfcare.start_card_link(
            c.db,
            acquirer_for(c),
            principal.subscriber,
            principal.session,
            auth_policy(c.settings),
            "/cabinet/cards/link/return?session={session}",
        )
    except AbonentError as error:
        extra = {"step_up": "1"} if error.code == "step_up_required" else {}
        return back("/cabinet/topup", error=error.code, **extra)
    return RedirectResponse(url, status_code=303)


@router.get("/cabinet/cards/link/return")
def card_linked(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
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
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    card_id = form.get("card_id", "")
    try:
        selfcare.remove_card(
            c.db,
            principal.subscriber,
            _id(card_id) or 0,
        )
    except AbonentError as error:
        return back("/cabinet/topup", error=error.code)
    return back("/cabinet/topup", ok="card_removed")


# -- statements ---------------------------------------------------------------------------
@router.get("/cabinet/statements", response_class=HTMLResponse)
def statements(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    q = request.query_params
    try:
        period = selfcare.period_of(q.get("from", ""), q.get("to", ""), c.clock.now())
    except AbonentError:
        period = selfcare.period_of("", "", c.clock.now())
    try:
        short = selfcare.short_statement(c.db, principal.subscriber, n, period)
    except AbonentError as error:
        return _refused(request, principal, error)
    return render(
        request,
        "cabinet/statements.html",
        {"short": short, "n": n, "period": period},
        principal=principal,
    )


@router.post("/cabinet/statements/full")
async def order_statement(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    n = _n(request, principal)
    form = await _form(request)
    try:
        period = selfcare.period_of(form.get("from", ""), form.get("to", ""), c.clock.now())
        done = selfcare.order_full_statement(
            c.db, principal.subscriber, n, period, c.settings, form.get("email") or None
        )
    except AbonentError as error:
        return back("/cabinet/statements", error=error.code, n=n)
    name = f"statement-{n}-{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if form.get("format") == "csv":  # also e-mailed; the fee was charged once for the period
        return Response(
            done.csv_text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if form.get("format") == "pdf":
        return Response(
            done.pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return back("/cabinet/statements", ok="statement_sent", n=n)


# -- trust credit -------------------------------------------------------------------------
@router.get("/cabinet/credit", response_class=HTMLResponse)
def credit(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    try:
        view = selfcare.credit(c.db, principal.subscriber, n)
    except AbonentError as error:
        return _refused(request, principal, error)
    return render(
        request,
        "cabinet/credit.html",
        {"view": view, "n": n, "key": secrets.token_urlsafe(16)},
        principal=principal,
    )


@router.post("/cabinet/credit")
async def take_credit(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    n = _n(request, principal)
    form = await _form(request)
    try:
        selfcare.take_credit(
            c.db,
            principal.subscriber,
            n,
            parse_tenge(form.get("amount", "")),
            form.get("key", ""),
        )
    except AbonentError as error:
        return back("/cabinet/credit", error=error.code, n=n)
    return back("/cabinet/credit", ok="credit_taken", n=n)


# -- balance transfer ---------------------------------------------------------------------
@router.get("/cabinet/transfer", response_class=HTMLResponse)
def transfer_page(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    n = _n(request, principal)
    q = request.query_params
    quote = None
    error = None
    try:
        from abonent.cabinet.access import authorize
        from abonent.cabinet.domain import Right

        with c.db.reading() as uow:
            authorize(uow, principal.subscriber, n, Right.FULL)
    except AbonentError as refused:
        return _refused(request, principal, refused)
    if q.get("recipient") and q.get("amount"):
        try:
            quote = selfcare.quote_transfer(
                c.db,
                principal.subscriber,
                n,
                q.get("recipient", "")[:32],
                parse_tenge(q.get("amount", "")[:20]),
            )
        except AbonentError as refused:
            error = refused.code
    return render(
        request,
        "cabinet/transfer.html",
        {
            "n": n,
            "quote": quote,
            "quote_error": error,
            "recipient": q.get("recipient", "")[:32],
            "amount": q.get("amount", "")[:20],
            "key": secrets.token_urlsafe(16),
            "stepped_up": principal.session.stepped_up(c.clock.now(), auth_policy(c.settings)),
            "step_up": q.get("step_up", ""),
        },
        principal=principal,
    )


@router.post("/cabinet/transfer")
async def send_transfer(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    n = _n(request, principal)
    form = await _form(request)
    recipient, amount = form.get("recipient", "")[:32], form.get("amount", "")[:20]
    try:
        selfcare.send_transfer(
            c.db,
            principal.subscriber,
            principal.session,
            auth_policy(c.settings),
            n,
            recipient,
            parse_tenge(amount),
            form.get("key", ""),
        )
    except AbonentError as error:
        return back("/cabinet/transfer", error=error.code, n=n, recipient=recipient, amount=amount)
    return back("/cabinet", ok="transferred", n=n)


# -- auto top-up rules --------------------------------------------------------------------
@router.get("/cabinet/autopay", response_class=HTMLResponse)
def autopay(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    rules = selfcare.autopay_rules(c.db, principal.subscriber)
    cards = selfcare.cards(c.db, principal.subscriber)
    return render(
        request,
        "cabinet/autopay.html",
        {"rules": rules, "cards": cards},
        principal=principal,
    )


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else None


def _money(text: str) -> int | None:
    return parse_tenge(text) if text else None


@router.post("/cabinet/autopay")
async def create_rule(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        selfcare.create_autopay_rule(
            c.db,
            principal.subscriber,
            kind=form.get("kind", ""),
            target_msisdn=form.get("target") or principal.subscriber.msisdn,
            card_id=_int(form.get("card_id", "")) or 0,
            amount=_money(form.get("amount", "")),
            threshold=_money(form.get("threshold", "")),
            period=form.get("period") or None,
            day=_int(form.get("day", "")),
        )
    except AbonentError as error:
        return back("/cabinet/autopay", error=error.code)
    return back("/cabinet/autopay", ok="rule_created")


@router.post("/cabinet/autopay/complete")
async def complete_rule(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        selfcare.complete_autopay_rule(
            c.db,
            principal.subscriber,
            _int(form.get("rule_id", "")) or 0,
            _int(form.get("card_id", "")) or 0,
        )
    except AbonentError as error:
        return back("/cabinet/autopay", error=error.code)
    return back("/cabinet/autopay", ok="rule_completed")


@router.post("/cabinet/autopay/delete")
async def delete_rule(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        selfcare.delete_autopay_rule(c.db, principal.subscriber, _int(form.get("rule_id", "")) or 0)
    except AbonentError as error:
        return back("/cabinet/autopay", error=error.code)
    return back("/cabinet/autopay", ok="rule_deleted")
