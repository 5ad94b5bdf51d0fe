"""The JSON API self-service cash machines call (and the ``/simulator/atm`` page drives).

Every request carries ``X-Machine-Code`` and ``X-Machine-Key``. Amounts in answers are tiyn
(with a ``*_text`` tenge rendering); note denominations in requests are whole tenge.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from abonent.bootstrap import Container
from abonent.cashdesk import services
from abonent.cashdesk.domain import AuthMethod, NoteEvent, parse_denomination, parse_seq
from abonent.core.money import format_tenge
from abonent.web.app import container_of

router = APIRouter(prefix="/api/cashdesk", tags=["cashdesk"])

MachineCode = Annotated[str, Header(alias="X-Machine-Code", max_length=40)]
MachineKey = Annotated[str, Header(alias="X-Machine-Key", max_length=200)]


class OpenSessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["iin", "qr", "card", "msisdn"]
    value: str = Field(min_length=1, max_length=200)
    msisdn: str | None = Field(default=None, max_length=32)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seq: StrictInt
    denomination: StrictInt  # whole tenge: 200, 500, 1000, 2000, 5000, 10000, 20000


class JournalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notes: list[NoteIn] = Field(max_length=1000)
    finish: StrictBool = False


def view_json(view: services.SessionView, c: Container) -> dict[str, Any]:
    receipt = None
    if view.receipt is not None:
        url = view.receipt.verification_url(c.settings.public_base_url)
        receipt = {
            "number": view.receipt.number,
            "amount": view.receipt.amount,
            "path": view.receipt.share_path(),
            "url": url,
            "pdf_url": url + ".pdf",
        }
    return {
        "session_id": view.id,
        "status": view.status.value,
        "method": view.auth_method.value,
        "number": view.number,
        "payment_type": view.payment_type.value,
        "bill_month": view.bill_month,
        "amount_to_pay": view.amount_to_pay,
        "amount_to_pay_text": None
        if view.amount_to_pay is None
        else format_tenge(view.amount_to_pay),
        "inserted": view.inserted,
        "inserted_text": format_tenge(view.inserted),
        "notes": view.notes,
        "replayed": view.replayed,
        "receipt": receipt,
    }


def _event(note: NoteIn) -> NoteEvent:
    return NoteEvent(parse_seq(note.seq), parse_denomination(note.denomination))


@router.post("/sessions", status_code=201)
def open_session(
    body: OpenSessionIn, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    """Authorise the payer by IIN, one-time QR token, bank card token or typed number."""
    c = container_of(request)
    view = services.open_session(
        c.db,
        code,
        key,
        method=AuthMethod(body.method),
        value=body.value,
        msisdn=body.msisdn,
        secret=c.settings.secret_key,
    )
    return view_json(view, c)


@router.get("/sessions/{session_id}")
def get_session(
    session_id: str, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    c = container_of(request)
    view = services.get_session(c.db, code, key, session_id, secret=c.settings.secret_key)
    return view_json(view, c)


@router.post("/sessions/{session_id}/notes")
def insert_note(
    session_id: str, body: NoteIn, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    """One note taken; the same (session, seq) again is a replay and counts once."""
    c = container_of(request)
    view = services.insert_note(
        c.db,
        code,
        key,
        session_id,
        _event(body),
        secret=c.settings.secret_key,
        limit=c.settings.cash_session_limit_tiyn,
    )
    return view_json(view, c)


@router.post("/sessions/{session_id}/finish")
def finish_session(
    session_id: str, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    """Pay in everything inserted as one payment; answers the receipt."""
    c = container_of(request)
    view = services.finish_session(c.db, code, key, session_id, secret=c.settings.secret_key)
    return view_json(view, c)


@router.post("/sessions/{session_id}/cancel")
def cancel_session(
    session_id: str, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    c = container_of(request)
    view = services.cancel_session(c.db, code, key, session_id, secret=c.settings.secret_key)
    return view_json(view, c)


@router.post("/sessions/{session_id}/journal")
def resend_journal(
    session_id: str, body: JournalIn, request: Request, code: MachineCode, key: MachineKey
) -> dict[str, Any]:
    """Recovery after an interruption: the machine re-sends every note event it journaled."""
    c = container_of(request)
    view = services.resend_journal(
        c.db,
        code,
        key,
        session_id,
        [_event(n) for n in body.notes],
        finish=body.finish,
        secret=c.settings.secret_key,
        limit=c.settings.cash_session_limit_tiyn,
    )
    return view_json(view, c)
