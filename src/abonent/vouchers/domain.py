"""Vouchers (instant payment cards), free of storage.

A code is 13 digits: 12 drawn from a CSPRNG plus a Luhn check digit, so a mistyped digit is
caught as a format error before it can count as a guess. Only ``HMAC-SHA256(secret_key, code)``
is ever stored; the key lives in the settings, never in the database.

Errors (stable codes, translated by the adapters):

    InvalidVoucherCode       voucher_code_invalid       not 13 digits / check digit wrong (422)
    InvalidVoucherChannel    voucher_channel_invalid    channel not one of CHANNELS (422)
    InvalidNominal           voucher_nominal_invalid    nominal not 500/1000/2000/5000 ₸ (422)
    InvalidBatchSize         voucher_count_invalid      count outside 1..MAX_BATCH_SIZE (422)
    VoucherNotFound          voucher_not_found          no voucher with this code (404)
    VoucherNotActive         voucher_not_active         its batch is not activated yet (409)
    VoucherAlreadyRedeemed   voucher_already_redeemed   someone redeemed it already (409)
    VoucherBlocked           voucher_blocked            the voucher or its batch is blocked (409)
    VoucherEntryLocked       voucher_entry_locked       too many wrong codes from this number (429)
    VoucherSubscriberNotFound subscriber_not_found      the number is not ours (404)
    SubscriberClosed         subscriber_closed          the number is closed (409, payments')
    BatchNotFound            voucher_batch_not_found    (404)
    BatchStateConflict       voucher_batch_state        activate/block not allowed now (409)
    VoucherKeyMismatch       voucher_key_mismatch       batch hashed under another secret key (409)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from abonent.core.errors import Conflict, Forbidden, NotFound, ValidationError
from abonent.core.money import Tiyn, tenge

CODE_LENGTH = 13
NOMINALS: frozenset[Tiyn] = frozenset(tenge(n) for n in (500, 1000, 2000, 5000))
MAX_BATCH_SIZE = 1_000_000
CHANNELS: frozenset[str] = frozenset({"ussd", "sms", "ivr", "support", "api"})
PAYMENT_SOURCE = "voucher"  # payments' (source, external_id) key: ("voucher", str(voucher id))
LEDGER_SOURCE = "vouchers"  # activation and block transactions
RECEIVABLE_KIND = "voucher_receivable"  # what distributors owe for activated cards

_SEPARATORS = re.compile(r"[\s\-]")
_MAX_INPUT = 40
_KEY_CHECK_LABEL = b"abonent:voucher-key-check"


class VoucherState(StrEnum):
    CREATED = "created"
    ACTIVE = "active"
    REDEEMED = "redeemed"
    BLOCKED = "blocked"


class BatchState(StrEnum):
    CREATED = "created"
    ACTIVE = "active"
    BLOCKED = "blocked"


class InvalidVoucherCode(ValidationError):
    code = "voucher_code_invalid"


class InvalidVoucherChannel(ValidationError):
    code = "voucher_channel_invalid"


class InvalidNominal(ValidationError):
    code = "voucher_nominal_invalid"


class InvalidBatchSize(ValidationError):
    code = "voucher_count_invalid"


class VoucherNotFound(NotFound):
    code = "voucher_not_found"


class VoucherSubscriberNotFound(NotFound):
    code = "subscriber_not_found"


class BatchNotFound(NotFound):
    code = "voucher_batch_not_found"


class VoucherNotActive(Conflict):
    code = "voucher_not_active"


class VoucherAlreadyRedeemed(Conflict):
    code = "voucher_already_redeemed"


class VoucherBlocked(Conflict):
    code = "voucher_blocked"


class BatchStateConflict(Conflict):
    code = "voucher_batch_state"


class VoucherKeyMismatch(Conflict):
    code = "voucher_key_mismatch"


class VoucherEntryLocked(Forbidden):
    code = "voucher_entry_locked"
    http_status = 429


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to ``digits``."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        d = int(char)
        if index % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def generate_code() -> str:
    """A new code: 12 CSPRNG digits and a Luhn check digit."""
    body = f"{secrets.randbelow(10 ** (CODE_LENGTH - 1)):0{CODE_LENGTH - 1}d}"
    return body + luhn_digit(body)


def parse_code(text: str) -> str:
    """Normalise a typed code (spaces and dashes allowed) or raise ``InvalidVoucherCode``."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise InvalidVoucherCode("the card code must be 13 digits")
    compact = _SEPARATORS.sub("", text)
    if not (len(compact) == CODE_LENGTH and compact.isascii() and compact.isdigit()):
        raise InvalidVoucherCode("the card code must be 13 digits")
    if luhn_digit(compact[:-1]) != compact[-1]:
        raise InvalidVoucherCode("the card code is mistyped; check the digits")
    return compact


def code_hash(key: bytes, code: str) -> str:
    """The only stored form of a code: hex HMAC-SHA256 under the server's secret key."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()


def key_check(key: bytes) -> str:
    """A short fingerprint of the key a batch was hashed with (reveals nothing of the key)."""
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).hexdigest()[:16]


def require_nominal(amount: Tiyn) -> Tiyn:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount not in NOMINALS:
        raise InvalidNominal("a voucher nominal is 500, 1000, 2000 or 5000 tenge")
    return amount


def require_batch_size(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH_SIZE:
        raise InvalidBatchSize(f"a batch has 1 to {MAX_BATCH_SIZE} vouchers")
    return count


def require_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise InvalidVoucherChannel(f"channel must be one of {', '.join(sorted(CHANNELS))}")
    return channel


def batch_number(batch_id: int) -> str:
    return f"B{batch_id:06d}"


def parse_batch_number(text: str) -> int:
    """``B000012``, ``b12`` or ``12`` → 12."""
    value = text.strip().upper() if isinstance(text, str) else ""
    value = value.removeprefix("B")
    if not (value.isascii() and value.isdigit() and 0 < len(value) <= 12):
        raise BatchNotFound(f"no voucher batch {text!r}")
    return int(value)


def serial_label(batch_id: int, serial: int) -> str:
    """The printed (non-secret) serial of a card: ``B000012-0000345``."""
    return f"{batch_number(batch_id)}-{serial:07d}"


@dataclass(frozen=True, slots=True)
class EntryPolicy:
    """How many wrong codes a number may enter before voucher entry locks, and for how long."""

    max_failures: int = 5
    window: timedelta = timedelta(hours=24)
    lock: timedelta = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class EntryGuard:
    """Wrong-code bookkeeping of one number."""

    failures: int
    window_started_at: datetime | None
    locked_until: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime, policy: EntryPolicy) -> EntryGuard:
        """The guard after one more wrong code: a new window once the old one is over."""
        fresh = self.window_started_at is None or now - self.window_started_at >= policy.window
        if self.locked_until is not None and self.locked_until <= now:
            fresh = True
        failures = 1 if fresh else self.failures + 1
        started = now if fresh else self.window_started_at
        if failures >= policy.max_failures:
            return EntryGuard(
                failures=failures, window_started_at=started, locked_until=now + policy.lock
            )
        return EntryGuard(
            failures=failures,
            window_started_at=started,
            locked_until=None if fresh else self.locked_until,
        )


@dataclass(frozen=True, slots=True)
class VoucherBatch:
    id: int
    number: str
    nominal: Tiyn
    count: int
    state: BatchState
    liability_account_id: int
    key_check: str
    created_at: datetime
    created_by: str
    activated_at: datetime | None = None
    blocked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    batch: VoucherBatch
    by_state: dict[str, int]
    liability: Tiyn
    key_matches: bool


@dataclass(frozen=True, slots=True)
class PrintedVoucher:
    """One printable card: exists in memory only while its batch is created and exported."""

    batch: str
    serial: str
    nominal: Tiyn
    code: str


@dataclass(frozen=True, slots=True)
class VoucherRedemption:
    """The answer to a successful redemption."""

    msisdn: str
    amount: Tiyn
    receipt_number: str
    balance_after: Tiyn
    serial: str
    batch: str
    payment_id: int
    channel: str
    redeemed_at: datetime
