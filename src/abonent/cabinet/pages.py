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
from abonent.auth.domain import AuthenticationFailed, CodePurpose, NotAuthenticated
from abonent.bootstrap import Container
from abonent.cabinet import services
from abonent.cabinet.domain import parse_right
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
    CsrfRefused,
    Principal,
    auth_policy,
    check_csrf,
    client_of,
    current_principal,
    new_device_id,
)

router = APIRouter(include_in_schema=False)
ContainerDep = Annotated[Container, Depends(container_of)]


def _principal(request: Request, c: Container) -> Principal | None:
    try:
        return current_principal(request, c)
    except NotAuthenticated:
        return None


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _signed_in_post(request: Request, c: Container) -> Principal | Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    try:
        await check_csrf(request, principal)
    except CsrfRefused:
        return render(
            request,
            "cabinet/error.html",
            {"code": "csrf_failed"},
            principal=principal,
            status_code=403,
        )
    return principal


def _id(text: str) -> int | None:
    """A positive id from a form or query field; None for anything else (never an overflow)."""
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 18 else None


def _cabinet_path(value: str, default: str) -> str:
    """A redirect target from a form: only a path inside the cabinet, never another site."""
    return value if value.startswith("/cabinet") and "//" not in value else default


def _target(request: Request, principal: Principal) -> str:
    return request.query_params.get("n") or principal.subscriber.msisdn


# -- sign in ------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def home(request: Request, c: ContainerDep) -> Response:
    return RedirectResponse("/cabinet" if _principal(request, c) else "/login", status_code=303)


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
    form = await _form(request)
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
    form = await _form(request)
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
    target = _cabinet_path(form.get("next", ""), "/cabinet")
    response = RedirectResponse(target, status_code=303)
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
    form = await _form(request)
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
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    auth.logout(c.db, request.cookies.get(SESSION_COOKIE, ""))
    response = back("/login", ok="signed_out")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/lang")
async def switch_language(request: Request) -> Response:
    form = await _form(request)
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
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    try:
        view = services.dashboard(c.db, principal.subscriber, _target(request, principal))
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
        "before": _id(before),
    }


@router.get("/cabinet/history", response_class=HTMLResponse)
def history(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    target = _target(request, principal)
    filters = _history_filters(request)
    try:
        lines = services.history(c.db, principal.subscriber, target, **filters)  # type: ignore[arg-type]
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
            "target": target,
            "query": dict(request.query_params),
            "receipts": services.receipt_links(c.db, principal.subscriber, target, lines),
        },
        principal=principal,
    )


@router.get("/cabinet/history.csv")
def history_csv(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    filters = _history_filters(request)
    filters["before"] = None
    try:
        lines = services.history(
            c.db,
            principal.subscriber,
            _target(request, principal),
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
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    target = _target(request, principal)
    try:
        services.set_suspended(c.db, principal.subscriber, target, suspended)
    except AbonentError as error:
        return back("/cabinet", error=error.code, n=target)
    return back("/cabinet", ok="suspended" if suspended else "resumed", n=target)


# -- profile and security -----------------------------------------------------------------
@router.get("/cabinet/profile", response_class=HTMLResponse)
def profile(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    return render(request, "cabinet/profile.html", {}, principal=principal)


@router.post("/cabinet/profile")
async def save_profile(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        services.update_profile(
            c.db,
            principal.subscriber,
            email=form.get("email", ""),
            language=form.get("language") or None,
        )
    except AbonentError as error:
        return back("/cabinet/profile", error=error.code)
    response = back("/cabinet/profile", ok="saved")
    if form.get("language") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, form["language"], samesite="lax", path="/", max_age=365 * 86400
        )
    return response


@router.get("/cabinet/security", response_class=HTMLResponse)
def security(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    sessions = auth.active_sessions(c.db, principal.session, auth_policy(c.settings))
    return render(request, "cabinet/security.html", {"sessions": sessions}, principal=principal)


@router.post("/cabinet/security/password")
async def change_password(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        auth.change_password(
            c.db,
            principal.session,
            form.get("new_password", ""),
            auth_policy(c.settings),
            current_password=form.get("current_password") or None,
        )
    except AbonentError as error:
        return back("/cabinet/security", error=error.code)
    return back("/cabinet/security", ok="password_changed")


@router.post("/cabinet/security/end-others")
async def end_others(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    auth.end_other_sessions(c.db, principal.session)
    return back("/cabinet/security", ok="sessions_ended")


@router.post("/cabinet/security/step-up-code")
async def step_up_code(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    back_to = _cabinet_path(form.get("back", ""), "/cabinet/security")
    try:
        auth.send_code(
            c.db,
            c.settings.secret_key,
            principal.subscriber.msisdn,
            CodePurpose.STEP_UP,
            client_of(request, c.settings),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back(back_to, error=error.code)
    return back(back_to, ok="code_sent", step_up="1")


@router.post("/cabinet/security/step-up")
async def step_up(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    back_to = _cabinet_path(form.get("back", ""), "/cabinet/security")
    try:
        auth.step_up(
            c.db,
            c.settings.secret_key,
            principal.session,
            form.get("code", ""),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back(back_to, error=error.code, step_up="1")
    return back(back_to, ok="step_up_ok")


# -- family numbers and delegates ---------------------------------------------------------
@router.get("/cabinet/family", response_class=HTMLResponse)
def family(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    mine, others = services.grants_view(c.db, principal.subscriber)
    now = c.clock.now()
    return render(
        request,
        "cabinet/family.html",
        {
            "held": mine,
            "given": others,
            "attach_msisdn": request.query_params.get("attach", ""),
            "stepped_up": principal.session.stepped_up(now, auth_policy(c.settings)),
            "step_up": request.query_params.get("step_up", ""),
        },
        principal=principal,
    )


@router.post("/cabinet/family/attach-code")
async def attach_code(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    msisdn = form.get("msisdn", "")
    try:
        services.start_attach(
            c.db,
            c.settings.secret_key,
            principal.subscriber,
            msisdn,
            client_of(request, c.settings),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back("/cabinet/family", error=error.code)
    return back("/cabinet/family", ok="code_sent", attach=msisdn[:32])


@router.post("/cabinet/family/attach")
async def attach(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    msisdn = form.get("msisdn", "")
    try:
        services.confirm_attach(
            c.db,
            c.settings.secret_key,
            principal.subscriber,
            msisdn,
            form.get("code", ""),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back("/cabinet/family", error=error.code, attach=msisdn[:32])
    return back("/cabinet/family", ok="attached")


@router.post("/cabinet/family/delegate")
async def delegate(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        services.delegate(
            c.db,
            principal.subscriber,
            principal.session,
            form.get("msisdn", ""),
            parse_right(form.get("right", "")),
            auth_policy(c.settings),
        )
    except AbonentError as error:
        return back("/cabinet/family", error=error.code)
    return back("/cabinet/family", ok="delegated")


@router.post("/cabinet/family/revoke")
async def revoke(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    grant_id = form.get("grant_id", "")
    try:
        services.revoke(
            c.db,
            principal.subscriber,
            _id(grant_id) or 0,
        )
    except AbonentError as error:
        return back("/cabinet/family", error=error.code)
    return back("/cabinet/family", ok="revoked")


# -- support and notifications ------------------------------------------------------------
@router.get("/cabinet/support", response_class=HTMLResponse)
def support(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    thread = services.support_thread(c.db, principal.subscriber)
    return render(request, "cabinet/support.html", {"thread": thread}, principal=principal)


@router.post("/cabinet/support")
async def support_post(request: Request, c: ContainerDep) -> Response:
    principal = await _signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    form = await _form(request)
    try:
        services.post_support_message(c.db, principal.subscriber, form.get("text", ""))
    except AbonentError as error:
        return back("/cabinet/support", error=error.code)
    return back("/cabinet/support", ok="sent")


@router.get("/cabinet/notifications", response_class=HTMLResponse)
def notifications(request: Request, c: ContainerDep) -> Response:
    principal = _principal(request, c)
    if principal is None:
        return to_login(request)
    items = services.notifications(c.db, principal.subscriber)
    return render(request, "cabinet/notifications.html", {"items": items}, principal=principal)
