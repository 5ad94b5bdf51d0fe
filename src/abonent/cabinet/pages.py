"""Server-rendered cabinet pages (Jinja2, phone-first). Every state-changing form carries the
session's CSRF token; every page that shows a number goes through ``access.authorize``."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from abonent.auth import services as auth
from abonent.auth.domain import AuthenticationFailed, CodePurpose
from abonent.bootstrap import Container
from abonent.cabinet import services
from abonent.cabinet.domain import parse_right
from abonent.cabinet.handlers import (
    Posted,
    cabinet_path,
    form_action,
    form_id,
    page,
    posted,
    principal_of,
    read_form,
    signed_in_post,
    target,
)
from abonent.cabinet.web import (
    LANG_COOKIE,
    LOGIN_CSRF_COOKIE,
    back,
    render,
    secure,
    to_login,
)
from abonent.core.errors import AbonentError
from abonent.core.money import format_tenge
from abonent.web.app import container_of
from abonent.web.i18n import LANGUAGES
from abonent.web.security import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    Principal,
    auth_policy,
    client_of,
    new_device_id,
)

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(container_of)]


# -- sign in ------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def home(request: Request, c: ContainerDep) -> Response:
    return RedirectResponse("/cabinet" if principal_of(request, c) else "/login", status_code=303)


def _login_page(
    request: Request, template: str = "cabinet/login.html", **context: object
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(request, template, {"login_csrf": token, **context})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/")
    return response


def _login_csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie, form.get("csrf_token", ""))


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return _login_page(
        request,
        msisdn=request.query_params.get("msisdn", ""),
        step=request.query_params.get("step", ""),
    )


async def _send_code_from_form(
    request: Request, c: Container, purpose: CodePurpose, page: str
) -> Response:
    """A sign-in page's "send me a code" form: login CSRF, send, back to ``page``."""
    form = await read_form(request)
    if not _login_csrf_ok(request, form):
        return back(page, error="csrf_failed")
    msisdn = form.get("msisdn", "")
    try:
        auth.send_code(
            c.db,
            c.settings.secret_key,
            msisdn,
            purpose,
            client_of(request, c.settings),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back(page, error=error.code, msisdn=msisdn[:32])
    return back(page, ok="code_sent", msisdn=msisdn[:32], step="code")


@router.post("/login/code")
async def login_code(request: Request, c: ContainerDep) -> Response:
    return await _send_code_from_form(request, c, CodePurpose.LOGIN, "/login")


@router.post("/login")
async def login(request: Request, c: ContainerDep) -> Response:
    form = await read_form(request)
    if not _login_csrf_ok(request, form):
        return back("/login", error="csrf_failed")
    msisdn, code, password = form.get("msisdn", ""), form.get("code", ""), form.get("password", "")
    client = client_of(request, c.settings)
    device = client.device_id or new_device_id()
    client = auth.Client(ip=client.ip, user_agent=client.user_agent, device_id=device)
    policy = auth_policy(c.settings)
    try:
        if code:
            issued = auth.login_with_code(c.db, c.settings.secret_key, msisdn, code, client, policy)
        elif password:
            issued = auth.login_with_password(c.db, msisdn, password, client, policy)
        else:
            raise AuthenticationFailed("give a code or a password")
    except AbonentError as error:
        return back("/login", error=error.code, msisdn=msisdn[:32], step="code" if code else "")
    next_page = cabinet_path(form.get("next", ""), "/cabinet")
    response = RedirectResponse(next_page, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        secure=secure(c),
        samesite="lax",
        path="/",
        max_age=int(policy.session_absolute.total_seconds()),
    )
    response.set_cookie(
        DEVICE_COOKIE,
        device,
        httponly=True,
        secure=secure(c),
        samesite="lax",
        path="/",
        max_age=5 * 365 * 86400,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.get("/login/forgot", response_class=HTMLResponse)
def forgot_page(request: Request) -> Response:
    return _login_page(
        request,
        "cabinet/forgot.html",
        msisdn=request.query_params.get("msisdn", ""),
        step=request.query_params.get("step", ""),
    )


@router.post("/login/forgot/code")
async def forgot_code(request: Request, c: ContainerDep) -> Response:
    return await _send_code_from_form(request, c, CodePurpose.RESET, "/login/forgot")


@router.post("/login/forgot")
async def forgot(request: Request, c: ContainerDep) -> Response:
    form = await read_form(request)
    if not _login_csrf_ok(request, form):
        return back("/login/forgot", error="csrf_failed")
    msisdn = form.get("msisdn", "")
    try:
        auth.reset_password(
            c.db,
            c.settings.secret_key,
            msisdn,
            form.get("code", ""),
            form.get("password", ""),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back("/login/forgot", error=error.code, msisdn=msisdn[:32], step="code")
    return back("/login", ok="password_changed", msisdn=msisdn[:32])


@router.post("/logout")
async def logout(request: Request, c: ContainerDep) -> Response:
    principal = await signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    auth.logout(c.db, request.cookies.get(SESSION_COOKIE, ""))
    response = back("/login", ok="signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")
async def switch_language(request: Request) -> Response:
    form = await read_form(request)
    lang = form.get("lang", "")
    referer = request.headers.get("referer", "")
    path = "/" + referer.split("/", 3)[3] if referer.count("/") >= 3 else "/"
    response = RedirectResponse(
        path if path.startswith("/") and not path.startswith("//") else "/", 303
    )
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, samesite="lax", path="/", max_age=365 * 86400)
    return response


# -- dashboard and history ----------------------------------------------------------------
@router.get("/cabinet", response_class=HTMLResponse)
def dashboard(request: Request, c: ContainerDep) -> Response:
    principal = principal_of(request, c)
    if principal is None:
        return to_login(request)
    try:
        view = services.dashboard(c.db, principal.subscriber, target(request, principal))
    except AbonentError as error:
        return render(
            request,
            "cabinet/error.html",
            {"code": error.code},
            principal=principal,
            status_code=403,
        )
    peak = max([sum(m.values()) for m in view.spending.values()] + [1])
    return render(
        request, "cabinet/dashboard.html", {"view": view, "peak": peak}, principal=principal
    )


def _history_filters(request: Request) -> dict[str, object]:
    def day(name: str) -> datetime | None:
        value = request.query_params.get(name, "")
        try:
            return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC) if value else None
        except ValueError:
            return None

    before = request.query_params.get("before", "")
    return {
        "direction": request.query_params.get("direction") or None,
        "since": day("from"),
        "until": day("to"),
        "before": form_id(before),
    }


@router.get("/cabinet/history", response_class=HTMLResponse)
def history(request: Request, c: ContainerDep) -> Response:
    principal = principal_of(request, c)
    if principal is None:
        return to_login(request)
    number = target(request, principal)
    filters = _history_filters(request)
    try:
        lines = services.history(c.db, principal.subscriber, number, **filters)  # type: ignore[arg-type]
    except AbonentError as error:
        return render(
            request,
            "cabinet/error.html",
            {"code": error.code},
            principal=principal,
            status_code=403,
        )
    return render(
        request,
        "cabinet/history.html",
        {
            "lines": lines,
            "target": number,
            "query": dict(request.query_params),
            "receipts": services.receipt_links(c.db, principal.subscriber, number, lines),
        },
        principal=principal,
    )


@router.get("/cabinet/history.csv")
def history_csv(request: Request, c: ContainerDep) -> Response:
    principal = principal_of(request, c)
    if principal is None:
        return to_login(request)
    filters = _history_filters(request)
    filters["before"] = None
    try:
        lines = services.history(
            c.db,
            principal.subscriber,
            target(request, principal),
            limit=10_000,
            **filters,  # type: ignore[arg-type]
        )
    except AbonentError as error:
        return render(
            request,
            "cabinet/error.html",
            {"code": error.code},
            principal=principal,
            status_code=403,
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", "kind", "description", "amount_tenge", "receipt"])
    for line in lines:
        writer.writerow(
            [
                line.at.isoformat(),
                line.kind,
                line.reference,
                format_tenge(line.amount),
                line.receipt_number or "",
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="history.csv"'},
    )


# -- number: suspension -------------------------------------------------------------------
@router.post("/cabinet/suspend")
async def suspend(request: Request, c: ContainerDep) -> Response:
    return await _set_suspended(request, c, True)


@router.post("/cabinet/resume")
async def resume(request: Request, c: ContainerDep) -> Response:
    return await _set_suspended(request, c, False)


async def _set_suspended(request: Request, c: Container, suspended: bool) -> Response:
    principal = await signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    number = target(request, principal)
    try:
        services.set_suspended(c.db, principal.subscriber, number, suspended)
    except AbonentError as error:
        return back("/cabinet", error=error.code, n=number)
    return back("/cabinet", ok="suspended" if suspended else "resumed", n=number)


# -- profile and security -----------------------------------------------------------------
@router.get("/cabinet/profile", response_class=HTMLResponse)
def profile(request: Request, c: ContainerDep) -> Response:
    return page(request, c, "cabinet/profile.html", lambda p, n: {})


@router.post("/cabinet/profile")
async def save_profile(request: Request, c: ContainerDep) -> Response:
    def save(sent: Posted) -> Response:
        language = sent.form.get("language") or None
        services.update_profile(
            c.db, sent.principal.subscriber, email=sent.field("email"), language=language
        )
        response = back("/cabinet/profile", ok="saved")
        if language in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE, language, samesite="lax", path="/", max_age=365 * 86400
            )
        return response

    return await form_action(request, c, save, page="/cabinet/profile", ok="saved")


@router.get("/cabinet/security", response_class=HTMLResponse)
def security(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/security.html",
        lambda p, n: {"sessions": auth.active_sessions(c.db, p.session, auth_policy(c.settings))},
    )


@router.post("/cabinet/security/password")
async def change_password(request: Request, c: ContainerDep) -> Response:
    def change(sent: Posted) -> None:
        auth.change_password(
            c.db,
            sent.principal.session,
            sent.form.get("new_password", ""),
            auth_policy(c.settings),
            current_password=sent.form.get("current_password") or None,
        )

    return await form_action(request, c, change, page="/cabinet/security", ok="password_changed")


@router.post("/cabinet/security/end-others")
async def end_others(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: auth.end_other_sessions(c.db, sent.principal.session),
        page="/cabinet/security",
        ok="sessions_ended",
    )


@router.post("/cabinet/security/step-up-code")
async def step_up_code(request: Request, c: ContainerDep) -> Response:
    sent = await posted(request, c)
    if isinstance(sent, Response):
        return sent
    back_to = cabinet_path(sent.field("back"), "/cabinet/security")
    try:
        auth.send_code(
            c.db,
            c.settings.secret_key,
            sent.principal.subscriber.msisdn,
            CodePurpose.STEP_UP,
            client_of(request, c.settings),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back(back_to, error=error.code)
    return back(back_to, ok="code_sent", step_up="1")


@router.post("/cabinet/security/step-up")
async def step_up(request: Request, c: ContainerDep) -> Response:
    sent = await posted(request, c)
    if isinstance(sent, Response):
        return sent
    back_to = cabinet_path(sent.field("back"), "/cabinet/security")
    try:
        auth.step_up(
            c.db,
            c.settings.secret_key,
            sent.principal.session,
            sent.field("code"),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back(back_to, error=error.code, step_up="1")
    return back(back_to, ok="step_up_ok")


# -- family numbers and delegates ---------------------------------------------------------
@router.get("/cabinet/family", response_class=HTMLResponse)
def family(request: Request, c: ContainerDep) -> Response:
    def load(principal: Principal, n: str) -> dict[str, object]:
        mine, others = services.grants_view(c.db, principal.subscriber)
        return {
            "held": mine,
            "given": others,
            "attach_msisdn": request.query_params.get("attach", ""),
            "stepped_up": principal.session.stepped_up(c.clock.now(), auth_policy(c.settings)),
            "step_up": request.query_params.get("step_up", ""),
        }

    return page(request, c, "cabinet/family.html", load)


@router.post("/cabinet/family/attach-code")
async def attach_code(request: Request, c: ContainerDep) -> Response:
    def send(sent: Posted) -> Response:
        services.start_attach(
            c.db,
            c.settings.secret_key,
            sent.principal.subscriber,
            sent.field("msisdn"),
            client_of(request, c.settings),
            auth_policy(c.settings),
        )
        return back("/cabinet/family", ok="code_sent", attach=sent.field("msisdn", 32))

    return await form_action(request, c, send, page="/cabinet/family", ok="code_sent")


@router.post("/cabinet/family/attach")
async def attach(request: Request, c: ContainerDep) -> Response:
    def confirm(sent: Posted) -> None:
        services.confirm_attach(
            c.db,
            c.settings.secret_key,
            sent.principal.subscriber,
            sent.field("msisdn"),
            sent.field("code"),
            auth_policy(c.settings),
        )

    return await form_action(
        request, c, confirm, page="/cabinet/family", ok="attached", keep={"attach": "msisdn"}
    )


@router.post("/cabinet/family/delegate")
async def delegate(request: Request, c: ContainerDep) -> Response:
    def give(sent: Posted) -> None:
        services.delegate(
            c.db,
            sent.principal.subscriber,
            sent.principal.session,
            sent.field("msisdn"),
            parse_right(sent.field("right")),
            auth_policy(c.settings),
        )

    return await form_action(request, c, give, page="/cabinet/family", ok="delegated")


@router.post("/cabinet/family/revoke")
async def revoke(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: services.revoke(
            c.db, sent.principal.subscriber, form_id(sent.field("grant_id")) or 0
        ),
        page="/cabinet/family",
        ok="revoked",
    )


# -- support and notifications ------------------------------------------------------------
@router.get("/cabinet/support", response_class=HTMLResponse)
def support(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/support.html",
        lambda p, n: {"thread": services.support_thread(c.db, p.subscriber)},
    )


@router.post("/cabinet/support")
async def support_post(request: Request, c: ContainerDep) -> Response:
    return await form_action(
        request,
        c,
        lambda sent: services.post_support_message(
            c.db, sent.principal.subscriber, sent.form.get("text", "")
        ),
        page="/cabinet/support",
        ok="sent",
    )


@router.get("/cabinet/notifications", response_class=HTMLResponse)
def notifications(request: Request, c: ContainerDep) -> Response:
    return page(
        request,
        c,
        "cabinet/notifications.html",
        lambda p, n: {"items": services.notifications(c.db, p.subscriber)},
    )
