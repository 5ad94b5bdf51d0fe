"""The shape every cabinet page handler shares, written once.

A page (GET): signed in or off to the login page; the page's number (``?n=``, default one's
own) goes to a loader that authorizes it; a refusal is rendered as an error page.
A form (POST): signed in, CSRF checked, then an action on the page's number and the form; an
``AbonentError`` goes back to the form's page as a flash code, success as the ``ok`` flash.
Features' handlers keep only what is theirs: which service to call with which fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from abonent.auth.domain import NotAuthenticated
from abonent.bootstrap import Container
from abonent.cabinet.web import back, render, to_login
from abonent.core.errors import AbonentError
from abonent.core.msisdn import national10
from abonent.web.security import CsrfRefused, Principal, check_csrf, current_principal


def principal_of(request: Request, c: Container) -> Principal | None:
    try:
        return current_principal(request, c)
    except NotAuthenticated:
        return None


async def read_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def signed_in_post(request: Request, c: Container) -> Principal | Response:
    principal = principal_of(request, c)
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


def form_id(text: str) -> int | None:
    """A positive id from a form or query field; None for anything else (never an overflow)."""
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) < 18 else None


def cabinet_path(value: str, default: str) -> str:
    """A redirect target from a form: only a path inside the cabinet, never another site."""
    return value if value.startswith("/cabinet") and "//" not in value else default


def target(request: Request, principal: Principal) -> str:
    """The number a page is about, as asked (``?n=``); authorization decides later."""
    return request.query_params.get("n") or principal.subscriber.msisdn


def page_number(request: Request, principal: Principal) -> str:
    """The number of the page, as it goes back into links (national, 10 digits)."""
    asked = target(request, principal)
    try:
        return national10(asked)
    except AbonentError:
        return asked[:32]


def refused(request: Request, principal: Principal, error: AbonentError) -> Response:
    status = 403 if error.code == "forbidden" else error.http_status
    return render(
        request, "cabinet/error.html", {"code": error.code}, principal=principal, status_code=status
    )


PageLoader = Callable[[Principal, str], Mapping[str, object]]


def page(request: Request, c: Container, template: str, load: PageLoader) -> Response:
    """A signed-in page: ``load(principal, number)`` gives the template's context."""
    principal = principal_of(request, c)
    if principal is None:
        return to_login(request)
    n = page_number(request, principal)
    try:
        context = load(principal, n)
    except AbonentError as error:
        return refused(request, principal, error)
    return render(request, template, {"n": n, **context}, principal=principal)


@dataclass(frozen=True, slots=True)
class Posted:
    """A signed-in, CSRF-checked form post: who sent it, the page's number, the fields."""

    principal: Principal
    n: str
    form: dict[str, str]

    def field(self, name: str, limit: int | None = None) -> str:
        """A field as sent ("" if absent), cut to ``limit`` characters where it is echoed."""
        return self.form.get(name, "")[:limit]


async def posted(request: Request, c: Container) -> Posted | Response:
    principal = await signed_in_post(request, c)
    if isinstance(principal, Response):
        return principal
    return Posted(principal, page_number(request, principal), await read_form(request))


async def form_action(
    request: Request,
    c: Container,
    action: Callable[[Posted], object],
    *,
    page: str,
    ok: str,
    done: str | None = None,
    with_number: bool = False,
    keep: Mapping[str, str] | None = None,
) -> Response:
    """Run ``action`` on a posted form. A refusal goes back to ``page`` with its code (and the
    ``keep`` fields, query name → form field, so the form is not retyped); success goes to
    ``done`` (default ``page``) with the ``ok`` flash, unless the action returns a Response of
    its own (a file, a redirect elsewhere); whatever else it returns is not the answer.
    ``with_number`` keeps the page's number in both links (pages about one of many numbers)."""
    sent = await posted(request, c)
    if isinstance(sent, Response):
        return sent
    number = {"n": sent.n} if with_number else {}
    try:
        answer = action(sent)
    except AbonentError as error:
        kept = {name: sent.field(field, 32) for name, field in (keep or {}).items()}
        return back(page, error=error.code, **number, **kept)
    if isinstance(answer, Response):
        return answer
    return back(done or page, ok=ok, **number)
