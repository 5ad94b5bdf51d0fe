"""Cash machine use cases: register a machine, authorise a payer, take notes, finish in one
payment, recover an interrupted session from the machine's journal.

Every call names the machine and proves it with the machine's key. Every change happens in one
unit of work under the session's row lock; note events are exactly-once by (session, seq)
with the database's unique index as the referee, and finishing is exactly-once because the
payment's idempotency key is the session id (``credit_topup`` with source ``cash:<machine>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from abonent.bills.services import account_bills
from abonent.cashdesk.domain import (
    AuthMethod,
    CashSession,
    ChooseNumber,
    Machine,
    MachineUnauthorized,
    NoteConflict,
    NoteEvent,
    NothingInserted,
    PayerNotAuthorised,
    SessionClosed,
    SessionLimitExceeded,
    SessionNotFound,
    SessionStatus,
    keyed_hash,
    keys_match,
    parse_machine_code,
)
from abonent.cashdesk.repository import SqlCashRepository, subscriber_ids_by_iin
from abonent.core.errors import AlreadyExists, NotFound, ValidationError
from abonent.core.ids import public_token
from abonent.core.iin import parse_iin
from abonent.core.money import Tiyn
from abonent.core.msisdn import masked, parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger.domain import AccountKind
from abonent.payments.domain import Channel, SubscriberClosed, TopUpRequest
from abonent.payments.services import credit_topup
from abonent.receipts.domain import Receipt
from abonent.receipts.services import issue_receipt, receipts_of
from abonent.subscribers.domain import PaymentType, Subscriber, SubscriberStatus
from abonent.subscribers.services import system_account

QR_TOKEN_MINUTES = 10
SIMULATOR_CODE = "SIMULATOR"


def cash_of(uow: UnitOfWork) -> SqlCashRepository:
    return SqlCashRepository(uow.connection)


@dataclass(frozen=True, slots=True)
class SessionView:
    """What the machine's screen may show. Nothing personal beyond the masked number."""

    id: str
    status: SessionStatus
    auth_method: AuthMethod
    number: str  # masked
    payment_type: PaymentType
    bill_month: str | None  # the oldest unpaid bill (postpaid, not for number-typed sessions)
    amount_to_pay: Tiyn | None  # all unpaid bills together, likewise
    inserted: Tiyn
    notes: int
    receipt: Receipt | None = None
    replayed: bool = False


# -- machines ----------------------------------------------------------------------------
def register_machine(db: Database, code: str, name: str, *, secret: str) -> tuple[Machine, str]:
    """Register a machine; returns it and its API key (shown once, stored only as a hash)."""
    code = parse_machine_code(code)
    name = " ".join(name.split()) if isinstance(name, str) else ""
    if not name or len(name) > 100:
        raise ValidationError("machine name is required (at most 100 characters)")
    key = public_token(24)
    with db.uow() as uow:
        repo = cash_of(uow)
        if repo.machine(code) is not None:
            raise AlreadyExists(f"machine {code} is already registered")
        now = uow.clock.now()
        machine_id = repo.insert_machine(code, name, keyed_hash(secret, key), now)
        uow.audit.record(
            at=now,
            actor="system:cashdesk",
            action="cashdesk.machine_registered",
            subject=f"machine:{code}",
            details={"name": name},
        )
        uow.commit()
    return Machine(machine_id, code, name, "active"), key


def simulator_key(secret: str) -> str:
    """The simulator machine's key, derived from the server secret (never stored in clear)."""
    return keyed_hash(secret, "cash-simulator-machine")[:32]


def ensure_simulator_machine(db: Database, *, secret: str) -> tuple[str, str]:
    """The ``/simulator/atm`` page's own machine, registered on first use: (code, key)."""
    key = simulator_key(secret)
    with db.reading() as uow:
        known = cash_of(uow).machine(SIMULATOR_CODE)
    if known is None:
        try:
            with db.uow() as uow:
                cash_of(uow).insert_machine(
                    SIMULATOR_CODE,
                    "Симулятор терминала",
                    keyed_hash(secret, key),
                    uow.clock.now(),
                )
                uow.commit()
        except IntegrityError:  # a concurrent first request registered it
            with db.reading() as uow:
                if cash_of(uow).machine(SIMULATOR_CODE) is None:
                    raise
    return SIMULATOR_CODE, key


def authenticate(uow: UnitOfWork, code: str, key: str, *, secret: str) -> Machine:
    found = cash_of(uow).machine(code) if isinstance(code, str) and len(code) <= 40 else None
    if found is None or not isinstance(key, str) or not keys_match(secret, key, found[1]):
        raise MachineUnauthorized("unknown machine or wrong key")
    machine = found[0]
    if machine.status != "active":
        raise MachineUnauthorized("this machine is blocked")
    return machine


# -- login tokens for the machine --------------------------------------------------------
def issue_qr_token(db: Database, msisdn_text: str, *, secret: str) -> str:
    """A one-time token for the QR code the cabinet/app shows; valid ten minutes."""
    msisdn = parse_msisdn(msisdn_text)
    token = public_token(18)
    with db.uow() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        now = uow.clock.now()
        cash_of(uow).insert_token(
            AuthMethod.QR.value,
            keyed_hash(secret, token),
            subscriber.id,
            now + timedelta(minutes=QR_TOKEN_MINUTES),
            now,
        )
        uow.commit()
    return token


def link_card_token(db: Database, msisdn_text: str, card_token: str, *, secret: str) -> None:
    """Let a bank card (its acquirer token, read by the machine) authorise this number."""
    msisdn = parse_msisdn(msisdn_text)
    if not isinstance(card_token, str) or not 8 <= len(card_token) <= 200:
        raise ValidationError("card token must be 8 to 200 characters")
    with db.uow() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        repo = cash_of(uow)
        token_hash = keyed_hash(secret, card_token)
        if repo.card_subscriber(token_hash) is not None:
            raise AlreadyExists("this card is already linked")
        repo.insert_token(AuthMethod.CARD.value, token_hash, subscriber.id, None, uow.clock.now())
        uow.commit()


# -- sessions ----------------------------------------------------------------------------
def open_session(
    db: Database,
    machine_code: str,
    machine_key: str,
    *,
    method: AuthMethod,
    value: str,
    msisdn: str | None = None,
    secret: str,
) -> SessionView:
    """Authorise a payer and open a session. Refused: bad IIN (checksum), unknown or used
    tokens, closed numbers; an IIN with several numbers asks to choose (``ChooseNumber``)."""
    if not isinstance(value, str) or not value or len(value) > 200:
        raise ValidationError("the authorisation value is required")
    with db.uow() as uow:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        subscriber = _payer(uow, method, value, msisdn, secret)
        if subscriber.status is SubscriberStatus.CLOSED:
            raise SubscriberClosed("the number is closed; payments are not accepted")
        now = uow.clock.now()
        session_id = public_token(18)
        cash_of(uow).insert_session(
            {
                "id": session_id,
                "machine_id": machine.id,
                "auth_method": method.value,
                "subscriber_id": subscriber.id,
                "msisdn": subscriber.msisdn,
                "status": SessionStatus.OPEN.value,
                "inserted": 0,
                "notes": 0,
                "payment_id": None,
                "created_at": now,
                "finished_at": None,
            }
        )
        uow.audit.record(
            at=now,
            actor=f"cash:{machine.code}",
            action="cashdesk.session_opened",
            subject=f"subscriber:{subscriber.msisdn}",
            details={"session": session_id, "method": method.value},
        )
        session = cash_of(uow).session(session_id, machine.id)
        assert session is not None
        view = _view(uow, session, subscriber)
        uow.commit()
    return view


def _payer(
    uow: UnitOfWork, method: AuthMethod, value: str, msisdn: str | None, secret: str
) -> Subscriber:
    repo = cash_of(uow)
    subscriber_id: int | None
    if method is AuthMethod.IIN:
        iin = parse_iin(value)
        candidates = [uow.subscribers.by_id(i) for i in subscriber_ids_by_iin(uow.connection, iin)]
        people = [s for s in candidates if s is not None]
        if msisdn is not None:
            wanted = parse_msisdn(msisdn)
            people = [s for s in people if s.msisdn == wanted]
        if not people:
            raise PayerNotAuthorised("no number is registered to this IIN")
        if len(people) > 1:
            raise ChooseNumber(
                "this IIN has several numbers; choose one",
                numbers=", ".join(masked(s.msisdn) for s in people),
            )
        return people[0]
    if method is AuthMethod.QR:
        subscriber_id = repo.use_qr_token(keyed_hash(secret, value.strip()), uow.clock.now())
    elif method is AuthMethod.CARD:
        subscriber_id = repo.card_subscriber(keyed_hash(secret, value.strip()))
    else:
        found = uow.subscribers.by_msisdn(parse_msisdn(value))
        subscriber_id = None if found is None else found.id
    if subscriber_id is None:
        raise PayerNotAuthorised("the code is unknown, used or expired")
    subscriber = uow.subscribers.by_id(subscriber_id)
    if subscriber is None:  # pragma: no cover - foreign key
        raise PayerNotAuthorised("the code is unknown")
    return subscriber


def _view(
    uow: UnitOfWork, session: CashSession, subscriber: Subscriber, *, replayed: bool = False
) -> SessionView:
    bill_month: str | None = None
    to_pay: Tiyn | None = None
    if (
        subscriber.payment_type is PaymentType.POSTPAID
        and session.auth_method is not AuthMethod.MSISDN
    ):
        bills = account_bills(uow, subscriber)
        to_pay = bills.outstanding
        bill_month = str(bills.oldest.month) if bills.oldest else None
    receipt = None
    if session.payment_id is not None:
        receipt = receipts_of(uow).by_key(f"sale:{session.payment_id}")
    return SessionView(
        id=session.id,
        status=session.status,
        auth_method=session.auth_method,
        number=masked(session.msisdn),
        payment_type=subscriber.payment_type,
        bill_month=bill_month,
        amount_to_pay=to_pay,
        inserted=session.inserted,
        notes=session.notes,
        receipt=receipt,
        replayed=replayed,
    )


def _locked_session(uow: UnitOfWork, machine: Machine, session_id: str) -> CashSession:
    if not isinstance(session_id, str) or len(session_id) > 40:
        raise SessionNotFound("no such session on this machine")
    session = cash_of(uow).session(session_id, machine.id, lock=True)
    if session is None:
        raise SessionNotFound("no such session on this machine")
    return session


def _subscriber(uow: UnitOfWork, session: CashSession) -> Subscriber:
    subscriber = uow.subscribers.by_id(session.subscriber_id)
    assert subscriber is not None  # foreign key
    return subscriber


def get_session(
    db: Database, machine_code: str, machine_key: str, session_id: str, *, secret: str
) -> SessionView:
    with db.reading() as uow:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        if not isinstance(session_id, str) or len(session_id) > 40:
            raise SessionNotFound("no such session on this machine")
        session = cash_of(uow).session(session_id, machine.id)
        if session is None:
            raise SessionNotFound("no such session on this machine")
        return _view(uow, session, _subscriber(uow, session))


def _apply_note(
    uow: UnitOfWork, session: CashSession, event: NoteEvent, limit: Tiyn
) -> tuple[CashSession, bool]:
    """Apply one note event; (session after it, whether it was a replay)."""
    repo = cash_of(uow)
    stored = repo.note(session.id, event.seq)
    if stored is not None:
        if stored != event.denomination:
            raise NoteConflict(
                f"note event {event.seq} was already recorded with another denomination",
                seq=event.seq,
            )
        return session, True
    if session.status is not SessionStatus.OPEN:
        raise SessionClosed(f"the session is {session.status.value}; no more notes")
    if session.inserted + event.denomination > limit:
        raise SessionLimitExceeded("this note would exceed the session limit; return it")
    repo.add_note(session.id, event.seq, event.denomination, uow.clock.now())
    return replace(
        session, inserted=session.inserted + event.denomination, notes=session.notes + 1
    ), False


def insert_note(
    db: Database,
    machine_code: str,
    machine_key: str,
    session_id: str,
    event: NoteEvent,
    *,
    secret: str,
    limit: Tiyn,
) -> SessionView:
    """Count one note the machine took; re-sending the same event changes nothing."""

    def work(uow: UnitOfWork) -> SessionView:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        session = _locked_session(uow, machine, session_id)
        session, replayed = _apply_note(uow, session, event, limit)
        return _view(uow, session, _subscriber(uow, session), replayed=replayed)

    return _exactly_once(db, work)


def _exactly_once(db: Database, work: Callable[[UnitOfWork], SessionView]) -> SessionView:
    """Run ``work`` in a unit of work; a lost race on a unique key is retried once, and the
    retry sees the twin's result as a replay."""
    for attempt in (1, 2):
        try:
            with db.uow() as uow:
                result = work(uow)
                uow.commit()
                return result
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def finish_session(
    db: Database, machine_code: str, machine_key: str, session_id: str, *, secret: str
) -> SessionView:
    """Credit everything inserted as one payment and return the receipt. Finishing twice
    returns the same payment and receipt."""

    def work(uow: UnitOfWork) -> SessionView:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        session = _locked_session(uow, machine, session_id)
        return _finish(uow, machine, session)

    return _exactly_once(db, work)


def _finish(uow: UnitOfWork, machine: Machine, session: CashSession) -> SessionView:
    subscriber = _subscriber(uow, session)
    if session.status is SessionStatus.FINISHED:
        return _view(uow, session, subscriber, replayed=True)
    if session.status is SessionStatus.CANCELLED:
        raise SessionClosed("the session was cancelled")
    if session.inserted <= 0:
        raise NothingInserted("no notes were inserted; cancel the session instead")
    payment = credit_topup(
        uow,
        TopUpRequest(
            msisdn=session.msisdn,
            amount=session.inserted,
            channel=Channel.CASH,
            source=f"cash:{machine.code}",
            external_id=session.id,
            clearing_account_id=system_account(uow, AccountKind.CASH_CLEARING, machine.code),
            method=f"Терминал {machine.name}",
            actor=f"cash:{machine.code}",
        ),
    )
    issue_receipt(uow, payment.id)
    now = uow.clock.now()
    cash_of(uow).set_status(session.id, SessionStatus.FINISHED, now, payment.id)
    finished = replace(session, status=SessionStatus.FINISHED, payment_id=payment.id)
    return _view(uow, finished, _subscriber(uow, session))


def cancel_session(
    db: Database, machine_code: str, machine_key: str, session_id: str, *, secret: str
) -> SessionView:
    """Close a session in which no note was taken (a taken note can only be paid in)."""

    def work(uow: UnitOfWork) -> SessionView:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        session = _locked_session(uow, machine, session_id)
        if session.status is SessionStatus.CANCELLED:
            return _view(uow, session, _subscriber(uow, session), replayed=True)
        if session.status is not SessionStatus.OPEN or session.inserted > 0:
            raise SessionClosed("notes were taken: finish the session to pay them in")
        cash_of(uow).set_status(session.id, SessionStatus.CANCELLED, uow.clock.now())
        cancelled = replace(session, status=SessionStatus.CANCELLED)
        return _view(uow, cancelled, _subscriber(uow, session))

    return _exactly_once(db, work)


def resend_journal(
    db: Database,
    machine_code: str,
    machine_key: str,
    session_id: str,
    events: Sequence[NoteEvent],
    *,
    finish: bool,
    secret: str,
    limit: Tiyn,
) -> SessionView:
    """Recover an interrupted session: apply every journal event the server missed (the ones
    it has are checked, not counted again), then finish if the machine says it finished.

    A journal that disagrees with what was stored (another denomination for a seq, or notes
    after the session was paid in) is refused whole: nothing is applied.
    """
    if len({e.seq for e in events}) != len(events):
        raise ValidationError("the journal repeats a seq")

    def work(uow: UnitOfWork) -> SessionView:
        machine = authenticate(uow, machine_code, machine_key, secret=secret)
        session = _locked_session(uow, machine, session_id)
        for event in sorted(events, key=lambda e: e.seq):
            session, _ = _apply_note(uow, session, event, limit)
        if finish and session.status is SessionStatus.OPEN:
            return _finish(uow, machine, session)
        return _view(uow, session, _subscriber(uow, session))

    return _exactly_once(db, work)
