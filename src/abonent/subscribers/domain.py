"""Subscriber rules: statuses and their transitions, brands, personal data checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abonent.core.errors import InvalidStatusTransition, ValidationError
from abonent.core.msisdn import national10


class SubscriberStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # by the subscriber (lost phone); resumable by them
    BARRED = "barred"  # by the operator for debt; lifted when the debt is paid
    CLOSED = "closed"  # contract ended; final


ALLOWED_TRANSITIONS: dict[SubscriberStatus, frozenset[SubscriberStatus]] = {
    SubscriberStatus.ACTIVE: frozenset(
        {SubscriberStatus.SUSPENDED, SubscriberStatus.BARRED, SubscriberStatus.CLOSED}
    ),
    SubscriberStatus.SUSPENDED: frozenset(
        {SubscriberStatus.ACTIVE, SubscriberStatus.BARRED, SubscriberStatus.CLOSED}
    ),
    # A barred number is unbarred by paying; it cannot hide in "suspended" to dodge the debt.
    SubscriberStatus.BARRED: frozenset({SubscriberStatus.ACTIVE, SubscriberStatus.CLOSED}),
    SubscriberStatus.CLOSED: frozenset(),
}


def parse_status(text: str) -> SubscriberStatus:
    try:
        return SubscriberStatus(text.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in SubscriberStatus)
        raise ValidationError(f"unknown status {text!r}; use one of: {allowed}") from None


def check_transition(current: SubscriberStatus, target: SubscriberStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidStatusTransition(
            f"a {current.value} number cannot become {target.value}",
            current=current.value,
            target=target.value,
        )


class PaymentType(StrEnum):
    PREPAID = "prepaid"
    POSTPAID = "postpaid"


class Language(StrEnum):
    RU = "ru"
    KK = "kk"
    EN = "en"


def parse_language(text: str) -> Language:
    try:
        return Language(text.strip().lower())
    except ValueError:
        raise ValidationError("language must be one of: ru, kk, en") from None


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}")
MAX_NAME = 200


def clean_name(text: str) -> str:
    name = " ".join(text.split()) if isinstance(text, str) else ""
    if not name or len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise ValidationError(f"name is required (at most {MAX_NAME} printable characters)")
    return name


def clean_email(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    if not _EMAIL.fullmatch(text.strip()):
        raise ValidationError(f"not an e-mail address: {text!r}")
    return text.strip()


@dataclass(frozen=True, slots=True)
class Brand:
    code: str
    name: str
    home: bool  # run by this operator ("own brand")


def brand_for_prefix(msisdn: str, prefixes: dict[str, str]) -> str | None:
    """The brand a number's 3-digit prefix suggests; portability may say otherwise."""
    return prefixes.get(national10(msisdn)[:3])


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    msisdn: str  # E.164
    name: str
    iin: str | None
    language: Language
    payment_type: PaymentType
    status: SubscriberStatus
    brand: str
    account_id: int
    email: str | None
    created_at: datetime
    status_changed_at: datetime

    @property
    def national(self) -> str:
        return national10(self.msisdn)

    @property
    def accepts_payments(self) -> bool:
        """Barred and suspended numbers accept payments (that is how they get unbarred)."""
        return self.status is not SubscriberStatus.CLOSED


# Kazakhstan mobile prefixes by brand (libphonenumber ranges; portability overrides per number).
DEFAULT_BRANDS: tuple[Brand, ...] = (
    Brand("tele2", "Tele2", True),
    Brand("altel", "Altel", True),
    Brand("kcell", "Kcell", False),
    Brand("activ", "activ", False),
    Brand("beeline", "Beeline", False),
)
DEFAULT_PREFIXES: dict[str, str] = {
    "700": "altel",
    "708": "altel",
    "707": "tele2",
    "747": "tele2",
    "701": "kcell",
    "702": "kcell",
    "775": "activ",
    "778": "activ",
    "705": "beeline",
    "706": "beeline",
    "771": "beeline",
    "776": "beeline",
    "777": "beeline",
}
