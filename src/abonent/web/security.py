"""Who is calling: client address, device cookie, the signed-in subscriber, CSRF.

Cookie sessions (pages) need a CSRF token on every state-changing request; bearer tokens
(the mobile app) carry no ambient authority and need none.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request

from abonent.auth.domain import AuthPolicy, NotAuthenticated, Session
from abonent.auth.services import Client, authenticate
from abonent.bootstrap import Container
from abonent.core.errors import Forbidden
from abonent.settings import Settings
from abonent.subscribers.domain import Subscriber
from abonent.web.app import container_of

SESSION_COOKIE = "abonent_session"
DEVICE_COOKIE = "abonent_device"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRefused(Forbidden):
    code = "csrf_failed"


def auth_policy(settings: Settings) -> AuthPolicy:
    return AuthPolicy(
        password_min_length=settings.password_min_length,
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        session_absolute=timedelta(hours=settings.session_absolute_hours),
    )


def client_address(request: Request, settings: Settings) -> str:
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


def client_of(request: Request, settings: Settings) -> Client:
    device = request.cookies.get(DEVICE_COOKIE, "")
    if not (0 < len(device) <= 64 and device.replace("-", "").replace("_", "").isalnum()):
        device = ""
    return Client(
        ip=client_address(request, settings),
        user_agent=request.headers.get("user-agent", "")[:300],
        device_id=device,
    )


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class Principal:
    session: Session
    subscriber: Subscriber
    via_cookie: bool


def _token(request: Request) -> tuple[str, bool]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip(), False
    return request.cookies.get(SESSION_COOKIE, ""), True


def current_principal(
    request: Request, container: Annotated[Container, Depends(container_of)]
) -> Principal:
    token, via_cookie = _token(request)
    if not token:
        raise NotAuthenticated("please sign in")
    session, subscriber = authenticate(container.db, token, auth_policy(container.settings))
    principal = Principal(session=session, subscriber=subscriber, via_cookie=via_cookie)
    request.state.principal = principal
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a cookie-authenticated state change without the session's CSRF token."""
    if not principal.via_cookie or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    given = request.headers.get(CSRF_HEADER, "")
    if not given and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD, "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given, principal.session.csrf_token):
        raise CsrfRefused("the form has expired; reload the page and try again")


async def signed_in(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """Dependency for every authenticated route: the principal, CSRF-checked for changes."""
    await check_csrf(request, principal)
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
