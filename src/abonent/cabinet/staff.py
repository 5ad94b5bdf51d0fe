"""Support staff: accounts (argon2), the HTTP Basic check for staff pages, the support CLI."""

from __future__ import annotations

import base64
import binascii
import functools
import secrets
from typing import Annotated

import typer
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from rich.table import Table
from sqlalchemy import select

from abonent.bootstrap import Container
from abonent.cabinet import services
from abonent.cabinet.tables import staff_users
from abonent.cabinet.web import back, render
from abonent.cli_support import console, container
from abonent.core.errors import AbonentError, AlreadyExists, ValidationError
from abonent.db.uow import Database
from abonent.web.app import container_of

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against for unknown names so both paths cost the same (made on first use)."""
    return _hasher.hash("staff-dummy-password")


router = APIRouter(prefix="/staff", include_in_schema=False)
support_app = typer.Typer(help="Support chat: waiting threads and answers.", no_args_is_help=True)
staff_app = typer.Typer(help="Support staff accounts.", no_args_is_help=True)


def add_staff(db: Database, name: str, password: str) -> None:
    clean = name.strip()
    if not clean or len(clean) > 60 or not clean.replace(".", "").replace("-", "").isalnum():
        raise ValidationError("staff name: letters, digits, dots and dashes, at most 60")
    if len(password) < 12:
        raise ValidationError("staff passwords need at least 12 characters")
    with db.uow() as uow:
        if uow.connection.execute(
            select(staff_users.c.id).where(staff_users.c.name == clean)
        ).first():
            raise AlreadyExists(f"staff user {clean} exists")
        uow.connection.execute(
            staff_users.insert(),
            {"name": clean, "password_hash": _hasher.hash(password), "created_at": uow.clock.now()},
        )
        uow.commit()


def check_staff(db: Database, name: str, password: str) -> bool:
    with db.reading() as uow:
        stored = uow.connection.execute(
            select(staff_users.c.password_hash).where(staff_users.c.name == name)
        ).scalar_one_or_none()
    try:
        ok: bool = _hasher.verify(str(stored) if stored else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    return ok and stored is not None


def _staff_name(request: Request, c: Container) -> str | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name if check_staff(c.db, name, password) else None


def _challenge() -> Response:
    return Response(
        "staff sign-in required",
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="Abonent staff", charset="UTF-8"'},
    )


@router.get("/support", response_class=HTMLResponse)
def support_queue(request: Request, c: Annotated[Container, Depends(container_of)]) -> Response:
    staff = _staff_name(request, c)
    if staff is None:
        return _challenge()
    msisdn = request.query_params.get("msisdn", "")
    thread = []
    if msisdn:
        with c.db.reading() as uow:
            from abonent.core.msisdn import parse_msisdn

            try:
                subscriber = uow.subscribers.by_msisdn(parse_msisdn(msisdn))
            except AbonentError:
                subscriber = None
        if subscriber is not None:
            thread = services.support_thread(c.db, subscriber)
    token = secrets.token_urlsafe(16)
    response = render(
        request,
        "cabinet/staff_support.html",
        {
            "staff": staff,
            "waiting": services.waiting_threads(c.db),
            "thread": thread,
            "msisdn": msisdn,
            "staff_csrf": token,
        },
    )
    response.set_cookie(
        "abonent_staff_csrf", token, httponly=True, samesite="strict", path="/staff"
    )
    return response


@router.post("/support")
async def support_answer(
    request: Request, c: Annotated[Container, Depends(container_of)]
) -> Response:
    staff = _staff_name(request, c)
    if staff is None:
        return _challenge()
    form = await request.form()
    given = str(form.get("csrf_token", ""))
    cookie = request.cookies.get("abonent_staff_csrf", "")
    if not cookie or not secrets.compare_digest(given, cookie):
        return Response("the form has expired; reload the page", status_code=403)
    msisdn = str(form.get("msisdn", ""))
    try:
        services.answer_support(c.db, staff, msisdn, str(form.get("text", "")))
    except AbonentError as error:
        return back("/staff/support", error=error.code, msisdn=msisdn[:32])
    return back("/staff/support", ok="sent", msisdn=msisdn[:32])


@support_app.command("list")
def list_waiting() -> None:
    """Subscribers waiting for an answer, oldest first."""
    table = Table("number", "since", "last message")
    for msisdn, message in services.waiting_threads(container().db):
        table.add_row(msisdn, message.created_at.strftime("%Y-%m-%d %H:%M"), message.text[:80])
    console.print(table)


@support_app.command("reply")
def reply(
    msisdn: str,
    text: str,
    agent: Annotated[str, typer.Option("--as", help="Support agent's name")],
) -> None:
    """Answer a subscriber in the support chat."""
    services.answer_support(container().db, agent, msisdn, text)
    console.print("answer sent")


@staff_app.command("add")
def staff_add(
    name: str,
    password: Annotated[str, typer.Option("--password", prompt=True, hide_input=True)],
) -> None:
    """Create a support staff account (for /staff pages)."""
    add_staff(container().db, name, password)
    console.print(f"staff user {name} added")
