"""One USSD request in, one screen out: the use case behind ``POST /ussd`` (and the simulator).

Every answer is a single page beginning ``CON `` (a menu waiting for input) or ``END `` (final),
in the subscriber's language. Bad input, refusals and failures are answered with a clear text;
nothing here lets an exception reach the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa
import structlog

from abonent.core.errors import (
    AbonentError,
    InsufficientFunds,
    InvalidMsisdn,
    NotFound,
    StorageUnavailable,
)
from abonent.core.msisdn import national10
from abonent.db.uow import STORAGE_ERRORS, Database, UnitOfWork
from abonent.ledger.tables import accounts
from abonent.messaging.domain import cached_msisdn
from abonent.subscribers.domain import Language, SubscriberStatus
from abonent.subscribers.tables import subscribers
from abonent.ussd.config import ChannelSettings
from abonent.ussd.engine import (
    Catalogue,
    Ctx,
    Msg,
    Screen,
    may_write,
    parse_dial,
    run,
    split_inputs,
)
from abonent.ussd.menus import CATALOGUE, Deps
from abonent.ussd.messages import USSD, fit_page, render
from abonent.ussd.sessions import SessionState, SessionStore

log = structlog.get_logger("abonent.ussd")

_SESSION_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
_INPUT = re.compile(r"[0-9*#+]{0,182}")
MAX_SERVICE_CODE = 64

# What a session's first step needs about its caller, in one query built once (SQLAlchemy
# caches its compiled form): language, status and balance.
_CALLER = (
    sa.select(subscribers.c.language, subscribers.c.status, accounts.c.balance)
    .join_from(subscribers, accounts, accounts.c.id == subscribers.c.account_id)
    .where(subscribers.c.msisdn == sa.bindparam("msisdn"))
)


@dataclass(frozen=True, slots=True)
class UssdRequest:
    session_id: str
    service_code: str
    phone_number: str
    text: str = ""
    network_code: str = ""


@dataclass(frozen=True, slots=True)
class UssdReply:
    text: str  # without the CON/END prefix
    final: bool

    @property
    def body(self) -> str:
        return ("END " if self.final else "CON ") + self.text


@dataclass
class UssdChannel:
    """What the USSD use case needs: storage, configuration and the session store."""

    db: Database
    settings: ChannelSettings
    sessions: SessionStore
    catalogue: Catalogue = CATALOGUE


@dataclass(frozen=True, slots=True)
class _Caller:
    language: Language
    balance: int


class StepDatabase(Database):
    """The database as one USSD step sees it: all reads of the step share one read-only unit
    of work (one connection, one snapshot), opened on the first read and closed when the step
    ends, or before any writing unit of work begins (writes keep their own, as the services
    open them). A menu step that only reads thus costs one unit of work, however many services
    it asks."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.engine, db.clock)
        self._shared: UnitOfWork | None = None
        self._readers = 0  # ``reading`` blocks open right now

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        if self._shared is None:
            shared = super().uow(read_only=True)
            shared.__enter__()
            self._shared = shared
        self._readers += 1
        broken = False
        try:
            yield self._shared
        except STORAGE_ERRORS as exc:  # as a unit of work of its own would say it
            broken = True
            raise StorageUnavailable("the database is unavailable; try again later") from exc
        finally:
            self._readers -= 1
            if broken and self._readers == 0:
                self.release()  # the next read opens a fresh one

    def uow(self, *, read_only: bool = False) -> UnitOfWork:
        if not read_only and self._readers == 0:  # never pull the read from under a reader
            self.release()
        return super().uow(read_only=read_only)

    def release(self) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            shared.__exit__(None, None, None)


def _end(key: str, language: Language = Language.RU, **params: object) -> UssdReply:
    return UssdReply(fit_page(render(USSD, key, language, params)), final=True)


def handle(channel: UssdChannel, request: UssdRequest) -> UssdReply:
    """Answer one gateway request. Never raises for anything a caller can send."""
    try:
        return _handle(channel, request)
    except StorageUnavailable:
        return _end("unavailable")
    except Exception:  # the gateway must get a page, never a traceback
        log.exception("ussd_failed", service_code=request.service_code[:MAX_SERVICE_CODE])
        return _end("refused")


def reads_only(channel: UssdChannel, request: UssdRequest) -> bool:
    """Whether ``handle(channel, request)`` can only read (so it may run where a write's wait
    would hold others up). Unknown or malformed requests read at most the caller."""
    segments = parse_dial((request.service_code or "").strip())
    found = channel.catalogue.find(segments) if segments else None
    if found is None:
        return True
    return not may_write(found[0], split_inputs(request.text or ""))


def _handle(channel: UssdChannel, request: UssdRequest) -> UssdReply:
    db = StepDatabase(channel.db)
    try:
        return _step(channel, db, request)
    finally:
        db.release()


def _step(channel: UssdChannel, db: StepDatabase, request: UssdRequest) -> UssdReply:
    if not _SESSION_ID.fullmatch(request.session_id or ""):
        return _end("refused")
    try:
        msisdn = cached_msisdn(request.phone_number)
    except InvalidMsisdn:
        return _end("not_subscriber")
    text = request.text or ""
    # Later steps of a session reuse what its first step read about the caller: the services
    # check the caller's state again wherever it matters.
    known = channel.sessions.caller(request.session_id, msisdn) if text else None
    if isinstance(known, _Caller):
        caller = known
    else:
        with db.reading() as uow:
            row = uow.connection.execute(_CALLER, {"msisdn": msisdn}).first()
        if row is None:
            return _end("not_subscriber")
        if SubscriberStatus(row.status) is SubscriberStatus.CLOSED:
            return _end("number_closed", Language(row.language))
        caller = _Caller(Language(row.language), int(row.balance))
    language = caller.language
    service_code = (request.service_code or "").strip()
    if len(service_code) > MAX_SERVICE_CODE or not _INPUT.fullmatch(text):
        return _end("bad_choice", language)
    state = channel.sessions.open_or_check(
        request.session_id, msisdn, service_code, first=text == "", now=db.clock.now()
    )
    if state is SessionState.EXPIRED:
        return _end("session_expired", language)
    if state is SessionState.FOREIGN:
        return _end("refused", language)
    if known is None:
        channel.sessions.remember_caller(request.session_id, caller)
    earlier = channel.sessions.final_answer(request.session_id, text)
    if earlier is not None:
        return UssdReply(earlier, final=True)
    segments = parse_dial(service_code)
    found = channel.catalogue.find(segments) if segments else None
    if found is None:
        reply = _end("unknown_code", language)
    else:
        service, raw_args = found
        ctx = Ctx(
            msisdn=msisdn,
            session_key=f"ussd:{request.session_id}:{national10(msisdn)}",
            args={},
            values={},
            deps=Deps(db, channel.settings, language, caller.balance),
            may_have_acted=channel.sessions.acted(request.session_id),
            before_action=lambda: channel.sessions.mark_acted(request.session_id),
        )
        try:
            screen = run(service, ctx, raw_args, split_inputs(text))
        except AbonentError as error:
            screen = Screen(_error_message(error), final=True)
        reply = UssdReply(fit_page(_render(screen.msg, language)), final=screen.final)
    if reply.final:
        channel.sessions.remember_final(request.session_id, text, reply.text)
    return reply


def _render(msg: Msg, language: Language) -> str:
    key = msg.key if msg.key in USSD else "refused"
    try:
        return render(USSD, key, language, msg.params)
    except (KeyError, IndexError, ValueError):
        return render(USSD, "refused", language)


def _error_message(error: AbonentError) -> Msg:
    """A service's typed refusal → the screen that explains it."""
    reason = error.details.get("reason")
    if isinstance(reason, str) and reason in USSD:
        return Msg(reason, {k: v for k, v in error.details.items() if k != "reason"})
    if isinstance(error, InvalidMsisdn):
        return Msg("invalid_number")
    if isinstance(error, InsufficientFunds):
        return Msg("insufficient_funds")
    if isinstance(error, StorageUnavailable):
        return Msg("unavailable")
    if isinstance(error, NotFound):
        return Msg("not_subscriber")
    return Msg("refused")
