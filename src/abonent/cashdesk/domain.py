"""Cash machine rules, free of storage: notes, sessions, authorisation methods, key hashing.

Invariants:
- a machine proves itself with its key on every call; the server keeps only a keyed hash;
- a note event is ``(machine, session, seq)``: sent twice it counts once, and the same seq
  with another denomination is refused (the machine's journal is corrupt);
- a session ends in exactly one payment of everything inserted (no change is given; what a
  bill does not need is carried to the next one), or is cancelled with nothing inserted;
- notes are Kazakhstan tenge banknotes, 200 to 20 000 ₸.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abonent.core.errors import (
    AbonentError,
    Conflict,
    IdempotencyConflict,
    NotFound,
    ValidationError,
)
from abonent.core.money import Tiyn, tenge

DENOMINATIONS_TENGE: tuple[int, ...] = (200, 500, 1000, 2000, 5000, 10000, 20000)
MAX_SEQ = 100_000
_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")


class AuthMethod(StrEnum):
    IIN = "iin"
    QR = "qr"
    CARD = "card"
    MSISDN = "msisdn"  # typing the number: top-up only, nothing personal is shown


class SessionStatus(StrEnum):
    OPEN = "open"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class MachineUnauthorized(AbonentError):
    code = "machine_unauthorized"
    http_status = 401


class PayerNotAuthorised(AbonentError):
    """The IIN, QR token or card token does not identify a payer (or is used up)."""

    code = "payer_not_authorised"
    http_status = 403


class ChooseNumber(Conflict):
    """The IIN has several numbers: the machine must ask which one (``numbers`` lists them)."""

    code = "choose_number"


class InvalidDenomination(ValidationError):
    code = "invalid_denomination"


class SessionClosed(Conflict):
    code = "session_closed"


class NoteConflict(IdempotencyConflict):
    code = "note_conflict"


class NothingInserted(ValidationError):
    code = "nothing_inserted"


class SessionLimitExceeded(ValidationError):
    code = "session_limit_exceeded"


class SessionNotFound(NotFound):
    code = "session_not_found"


def parse_denomination(value: object) -> Tiyn:
    """A note's face value in whole tenge → tiyn; only real banknotes are accepted."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in DENOMINATIONS_TENGE:
        allowed = ", ".join(str(d) for d in DENOMINATIONS_TENGE)
        raise InvalidDenomination(f"a note must be one of {allowed} tenge")
    return tenge(value)


def parse_seq(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEQ:
        raise ValidationError(f"seq must be a whole number from 1 to {MAX_SEQ}")
    return value


def parse_machine_code(text: str) -> str:
    if not isinstance(text, str) or not _CODE.fullmatch(text):
        raise ValidationError("machine code: 1-40 letters, digits, '-' or '_'")
    return text


def keyed_hash(secret: str, value: str) -> str:
    """HMAC-SHA256 hex of ``value`` under the server secret (machine keys, login tokens)."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def keys_match(secret: str, presented: str, stored_hash: str) -> bool:
    return hmac.compare_digest(keyed_hash(secret, presented), stored_hash)


@dataclass(frozen=True, slots=True)
class Machine:
    id: int
    code: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class CashSession:
    id: str
    machine_id: int
    auth_method: AuthMethod
    subscriber_id: int
    msisdn: str
    status: SessionStatus
    inserted: Tiyn
    notes: int
    payment_id: int | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NoteEvent:
    seq: int
    denomination: Tiyn
