"""Authentication rules, free of storage and web: code and password policy, throttling, timeouts.

- One-time codes: 6 digits from a CSPRNG, stored only as a keyed hash, valid 5 minutes,
  single use, void after 5 wrong tries; sends are limited per number and per address.
- Passwords: argon2id; at least 8 characters (configurable), long ones allowed, refused if in
  the shipped list of common breached passwords (zxcvbn's 30,000-entry list).
- Failed logins delay further tries per number and per address, growing with each failure;
  an unknown number is answered exactly like a wrong password.
- Sessions expire after 30 idle minutes and 12 hours in all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from abonent.core.errors import AbonentError, ValidationError


class RateLimited(AbonentError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message, retry_after_seconds=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


class AuthenticationFailed(AbonentError):
    """Wrong number, password or code — deliberately one error for all of them."""

    code = "authentication_failed"
    http_status = 401


class NotAuthenticated(AbonentError):
    code = "not_authenticated"
    http_status = 401


class WeakPassword(ValidationError):
    code = "weak_password"


class StepUpRequired(AbonentError):
    """A sensitive action needs a fresh SMS code."""

    code = "step_up_required"
    http_status = 403


class CodePurpose(StrEnum):
    LOGIN = "login"
    RESET = "reset"  # forgot password
    STEP_UP = "step_up"  # confirm a sensitive action
    ATTACH = "attach"  # confirm a family number from that number


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    code_ttl: timedelta = timedelta(minutes=5)
    code_max_attempts: int = 5
    code_sends_per_number_per_hour: int = 5
    code_sends_per_address_per_hour: int = 30
    password_min_length: int = 8
    password_max_length: int = 256
    password_changes_per_day: int = 2
    free_failures: int = 3  # failures before any delay applies
    base_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=15)
    failure_window: timedelta = timedelta(hours=1)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)
    step_up_valid: timedelta = timedelta(minutes=5)


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def code_hash(secret: str, msisdn: str, purpose: CodePurpose, code: str) -> str:
    message = f"{msisdn}|{purpose.value}|{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Sessions are stored by the hash of their token: a database leak gives no live session."""
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _breached() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, policy: AuthPolicy, *, msisdn: str = "") -> None:
    if not isinstance(password, str) or len(password) < policy.password_min_length:
        raise WeakPassword(f"password must have at least {policy.password_min_length} characters")
    if len(password) > policy.password_max_length:
        raise WeakPassword(f"password must have at most {policy.password_max_length} characters")
    if password.lower() in _breached():
        raise WeakPassword("this password is in a list of leaked passwords; choose another")
    digits = msisdn.lstrip("+")
    if digits and digits[-10:] in password:
        raise WeakPassword("password must not contain your phone number")


def failure_delay(failures: int, policy: AuthPolicy) -> timedelta:
    """How long to wait after ``failures`` recent failures: none at first, then doubling."""
    if failures < policy.free_failures:
        return timedelta(0)
    doublings = min(failures - policy.free_failures, 20)
    delay: timedelta = policy.base_delay * (2**doublings)
    return min(delay, policy.max_delay)


def retry_after(
    last_failure: datetime | None, failures: int, now: datetime, policy: AuthPolicy
) -> int:
    """Seconds until the next try is allowed (0 when it is allowed now)."""
    if last_failure is None:
        return 0
    wait_until = last_failure + failure_delay(failures, policy)
    return max(0, int((wait_until - now).total_seconds() + 0.999))


@dataclass(frozen=True, slots=True)
class Session:
    id_hash: str
    subscriber_id: int
    msisdn: str
    kind: str  # "web" or "api"
    created_at: datetime
    last_seen_at: datetime
    csrf_token: str
    device_id: str
    ip: str
    user_agent: str
    stepped_up_at: datetime | None
    revoked_at: datetime | None

    def expired(self, now: datetime, policy: AuthPolicy) -> bool:
        return (
            self.revoked_at is not None
            or now - self.last_seen_at > policy.session_idle
            or now - self.created_at > policy.session_absolute
        )

    def stepped_up(self, now: datetime, policy: AuthPolicy) -> bool:
        return self.stepped_up_at is not None and now - self.stepped_up_at <= policy.step_up_valid
