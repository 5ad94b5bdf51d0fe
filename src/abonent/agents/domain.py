"""Agents and the rules of their check / pay / cancel exchange, free of storage and HTTP.

An agent speaks one dialect (OSMP, Kaspi, CyberPlat). Whatever the dialect, a request becomes an
``AgentCall`` and every answer is an ``Outcome``; each dialect (``protocols.py``) only translates
the wire format and maps outcomes to its own result codes.

Invariants:
- the idempotency key of a payment is (agent, txn_id); the agent's date is stored, never keyed on;
- a repeat must carry the same account and sum (``call_fingerprint``), else it is a conflict;
- sums are integer tiyn within the agent's [min_sum, max_sum].
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abonent.core.errors import AbonentError, ValidationError
from abonent.core.money import Tiyn, format_tenge

AGENT_CODE = re.compile(r"[A-Z0-9_]{2,20}")
TXN_ID = re.compile(r"[0-9]{1,20}")
MIN_PASSWORD = 8
DEFAULT_MIN_SUM: Tiyn = 100  # 1 tenge
DEFAULT_MAX_SUM: Tiyn = 50_000_000  # 500,000 tenge


class Dialect(StrEnum):
    OSMP = "osmp"
    KASPI = "kaspi"
    CYBERPLAT = "cyberplat"


class Command(StrEnum):
    CHECK = "check"
    PAY = "pay"
    CANCEL = "cancel"


class Outcome(StrEnum):
    """What happened to a request, before any dialect turns it into a result code."""

    OK = "ok"
    RETRY = "retry"  # storage unavailable: the agent repeats later
    BAD_ACCOUNT = "bad_account"  # not a 10-digit number
    NOT_FOUND = "not_found"  # well-formed, not our subscriber
    CLOSED = "closed"  # the number is closed
    FORBIDDEN = "forbidden"  # authentication or allowlist failed
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    BAD_AMOUNT = "bad_amount"
    BAD_DATE = "bad_date"
    BAD_TXN_ID = "bad_txn_id"
    BAD_REQUEST = "bad_request"  # unknown command, repeated or malformed parameters
    CONFLICT = "conflict"  # same (agent, txn_id) with another account or sum
    UNKNOWN_PAYMENT = "unknown_payment"  # cancel of a payment we never took
    CANCEL_REFUSED = "cancel_refused"  # the money is already spent or moved


class AgentCallError(AbonentError):
    """A request that cannot be served; ``outcome`` says how the dialect must answer."""

    code = "agent_call_refused"
    http_status = 200

    def __init__(self, outcome: Outcome, message: str) -> None:
        super().__init__(message, outcome=outcome.value)
        self.outcome = outcome


class PaymentConflict(AgentCallError):
    code = "agent_payment_conflict"

    def __init__(self, message: str) -> None:
        super().__init__(Outcome.CONFLICT, message)


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    code: str
    name: str
    dialect: Dialect
    password_hash: str | None
    allow_ips: tuple[str, ...]  # CIDRs
    min_sum: Tiyn
    max_sum: Tiyn
    clearing_account_id: int
    created_at: datetime

    @property
    def source(self) -> str:
        """The payment source (idempotency scope) of this agent's payments."""
        return f"agent:{self.code}"

    def address_allowed(self, host: str | None) -> bool:
        """Whether ``host`` is inside the allowlist (an empty allowlist allows nobody)."""
        if not self.allow_ips or not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in self.allow_ips)

    def check_sum(self, amount: Tiyn) -> None:
        if amount < self.min_sum:
            raise AgentCallError(
                Outcome.TOO_SMALL, f"sum is below this agent's minimum {format_tenge(self.min_sum)}"
            )
        if amount > self.max_sum:
            raise AgentCallError(
                Outcome.TOO_LARGE, f"sum is above this agent's maximum {format_tenge(self.max_sum)}"
            )


@dataclass(frozen=True, slots=True)
class AgentCall:
    """A parsed, format-checked request. ``msisdn`` is E.164; dates stay as the agent sent them."""

    command: Command
    txn_id: str | None
    account: str | None  # the 10 digits as sent
    msisdn: str | None
    amount: Tiyn | None
    txn_date: str | None

    @property
    def fingerprint(self) -> str:
        return call_fingerprint(self.msisdn or "", self.amount or 0)


def call_fingerprint(msisdn: str, amount: Tiyn) -> str:
    """What a repeated pay must match: the number and the sum (never the date)."""
    return f"{msisdn}|{amount}"


@dataclass(frozen=True, slots=True)
class Answer:
    """A dialect-neutral answer: the outcome plus what a successful pay returns."""

    outcome: Outcome
    comment: str = ""
    prv_txn: int | None = None
    amount: Tiyn | None = None
    replayed: bool = False
    cancelled: bool = False


class AgentPaymentStatus(StrEnum):
    CREDITED = "credited"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class AgentPayment:
    id: int
    agent_id: int
    txn_id: str
    txn_date: str | None
    txn_day: str | None  # YYYY-MM-DD of the agent's own date, for registries
    msisdn: str
    amount: Tiyn
    payment_id: int  # our prv_txn
    fingerprint: str
    status: AgentPaymentStatus
    created_at: datetime


# -- validation of agent settings -------------------------------------------------------------


def clean_code(text: str) -> str:
    code = text.strip().upper() if isinstance(text, str) else ""
    if not AGENT_CODE.fullmatch(code):
        raise ValidationError("agent code must be 2-20 characters: A-Z, 0-9 and _")
    return code


def parse_dialect(text: str) -> Dialect:
    try:
        return Dialect(text.strip().lower())
    except ValueError:
        raise ValidationError("protocol must be one of: osmp, kaspi, cyberplat") from None


def clean_cidrs(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    cleaned = []
    for value in values:
        try:
            cleaned.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValidationError(f"not an address or CIDR: {value!r}") from None
    return tuple(dict.fromkeys(cleaned))


def check_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD or len(password) > 200:
        raise ValidationError(f"password must be {MIN_PASSWORD} to 200 characters")
    if any(ord(c) < 32 for c in password):
        raise ValidationError("password must be printable")
    return password


def check_limits(min_sum: Tiyn, max_sum: Tiyn) -> None:
    if min_sum <= 0 or max_sum <= 0:
        raise ValidationError("sum limits must be positive")
    if min_sum > max_sum:
        raise ValidationError("the minimum sum is above the maximum")


# -- agents' dates -----------------------------------------------------------------------------

_OSMP_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})")


def agent_day(text: str, pattern: re.Pattern[str]) -> str:
    """The calendar day of an agent's local timestamp (``YYYY-MM-DD``); refuses impossible ones."""
    match = pattern.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise AgentCallError(Outcome.BAD_DATE, "date is missing or not in the expected format")
    year, month, day, hour, minute, second = map(int, match.groups())
    try:
        datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - agent's local time
    except ValueError:
        raise AgentCallError(Outcome.BAD_DATE, "date is not a real moment") from None
    return f"{year:04d}-{month:02d}-{day:02d}"


def osmp_day(text: str) -> str:
    return agent_day(text, _OSMP_DATE)


def iso_day(text: str) -> str:
    return agent_day(text, _ISO_DATE)
