"""Card rules, free of storage: the card payment state machine, card data checks, limits.

Card payment lifecycle (every transition is listed in ``TRANSITIONS``; anything else is refused):

    created ──claim──▶ processing ──approved──▶ captured ──▶ refunding ──▶ refunded
       │                  ├─declined──▶ declined
       │                  ├─3-DS needed─▶ pending_3ds ──confirm──▶ processing
       │                  └─timeout / 5xx─▶ unknown ──reconciler / callback──▶ captured,
       │                                                              declined or failed
       └─refused before charging (card removed, expired)─▶ failed

A payment is credited to the balance in the same database transaction that moves it to
``captured`` and in no other; ``unknown`` is neither credited nor failed: the reconciler asks the
acquirer until it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abonent.core.errors import (
    AbonentError,
    Conflict,
    InvalidAmount,
    InvalidStatusTransition,
    ValidationError,
)
from abonent.core.money import Tiyn, format_tenge, require_positive_tiyn


class CardPaymentStatus(StrEnum):
    CREATED = "created"
    PROCESSING = "processing"
    PENDING_3DS = "pending_3ds"
    UNKNOWN = "unknown"
    CAPTURED = "captured"
    DECLINED = "declined"
    FAILED = "failed"
    REFUNDING = "refunding"  # taken back from the balance; the acquirer is returning it
    REFUNDED = "refunded"


S = CardPaymentStatus
TRANSITIONS: dict[CardPaymentStatus, frozenset[CardPaymentStatus]] = {
    S.CREATED: frozenset({S.PROCESSING, S.FAILED}),
    S.PROCESSING: frozenset({S.CAPTURED, S.DECLINED, S.PENDING_3DS, S.UNKNOWN, S.FAILED}),
    S.PENDING_3DS: frozenset({S.PROCESSING, S.CAPTURED, S.DECLINED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.CAPTURED, S.DECLINED, S.FAILED}),
    S.CAPTURED: frozenset({S.REFUNDING}),
    S.REFUNDING: frozenset({S.REFUNDED}),
    S.DECLINED: frozenset(),
    S.FAILED: frozenset(),
    S.REFUNDED: frozenset(),
}
FINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# States from which an acquirer's final answer (charge reply, callback, query) may resolve it.
RESOLVABLE = frozenset({S.PROCESSING, S.PENDING_3DS, S.UNKNOWN})


def can_move(current: CardPaymentStatus, target: CardPaymentStatus) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: CardPaymentStatus, target: CardPaymentStatus) -> None:
    if not can_move(current, target):
        raise InvalidStatusTransition(
            f"a {current.value} card payment cannot become {target.value}",
            current=current.value,
            target=target.value,
        )


def sources_of(target: CardPaymentStatus) -> frozenset[CardPaymentStatus]:
    """Every state allowed to move to ``target`` (the guard of a conditional update)."""
    return frozenset(s for s, targets in TRANSITIONS.items() if target in targets)


class Initiator(StrEnum):
    CUSTOMER = "customer"  # the cardholder pays now (cabinet, app)
    AUTO = "auto"  # an auto top-up rule (merchant-initiated, no 3-D Secure possible)


class CardStatus(StrEnum):
    ACTIVE = "active"
    REMOVED = "removed"


# -- errors -------------------------------------------------------------------------------
class CardError(AbonentError):
    code = "card_error"
    http_status = 409


class InvalidCardData(ValidationError):
    code = "invalid_card_data"


class CardNotUsable(CardError):
    code = "card_not_usable"


class CardLinkNotReady(CardError):
    code = "card_link_not_ready"


class CardPaymentConflict(Conflict):
    code = "card_payment_conflict"


# -- card data ----------------------------------------------------------------------------
def luhn_valid(digits: str) -> bool:
    if not digits.isascii() or not digits.isdigit() or not digits:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        d = int(char)
        if index % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalise_pan(text: str) -> str:
    """Digits of a typed card number (spaces and dashes allowed), or ``InvalidCardData``.

    The message never repeats the number.
    """
    compact = "".join(text.split()).replace("-", "") if isinstance(text, str) else ""
    if not (13 <= len(compact) <= 19 and compact.isascii() and compact.isdigit()):
        raise InvalidCardData("the card number must be 13 to 19 digits")
    if not luhn_valid(compact):
        raise InvalidCardData("the card number is not valid (check digit)")
    return compact


def card_brand(pan: str) -> str:
    if pan.startswith("4"):
        return "VISA"
    if pan[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(pan[:4]) <= 2720:
        return "MASTERCARD"
    if pan[:2] in {"34", "37"}:
        return "AMEX"
    if 2200 <= int(pan[:4]) <= 2204:
        return "MIR"
    return "CARD"


def parse_expiry(text: str, now: datetime) -> tuple[int, int]:
    """``MM/YY`` (or ``MM/YYYY``) → (month, four-digit year); refuses expired cards."""
    value = text.strip() if isinstance(text, str) else ""
    month_text, _, year_text = value.partition("/")
    if not (month_text.isdigit() and year_text.isdigit() and len(year_text) in (2, 4)):
        raise InvalidCardData("expiry must look like MM/YY")
    month, year = int(month_text), int(year_text)
    if len(year_text) == 2:
        year += 2000
    if not 1 <= month <= 12:
        raise InvalidCardData("expiry month must be 01 to 12")
    if (year, month) < (now.year, now.month):
        raise InvalidCardData("the card has expired")
    if year > now.year + 20:
        raise InvalidCardData("expiry year is too far ahead")
    return month, year


def check_cvv(text: str) -> None:
    if not (isinstance(text, str) and len(text) in (3, 4) and text.isascii() and text.isdigit()):
        raise InvalidCardData("CVV must be 3 or 4 digits")


@dataclass(frozen=True, slots=True)
class Card:
    """A linked card as we keep it: the acquirer's token and what may be shown, nothing else."""

    id: int
    owner_msisdn: str
    acquirer: str
    token: str
    last4: str
    brand: str
    exp_month: int
    exp_year: int
    status: CardStatus
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.brand} *{self.last4}"

    def expired(self, now: datetime) -> bool:
        return (self.exp_year, self.exp_month) < (now.year, now.month)


@dataclass(frozen=True, slots=True)
class CardPayment:
    id: int
    operation_id: str  # ours; the acquirer's idempotency key and our payments.external_id
    idempotency_key: str
    card_id: int
    owner_msisdn: str
    target_msisdn: str
    amount: Tiyn
    status: CardPaymentStatus
    initiator: Initiator
    acquirer: str
    acquirer_txn_id: str | None
    reason: str
    acs_url: str | None
    payment_id: int | None
    checks: int
    next_check_at: datetime | None
    created_at: datetime
    updated_at: datetime
    replayed: bool = False

    @property
    def credited(self) -> bool:
        return self.payment_id is not None


@dataclass(frozen=True, slots=True)
class TopUpLimits:
    minimum: Tiyn
    maximum: Tiyn

    def check(self, amount: Tiyn) -> Tiyn:
        require_positive_tiyn(amount)
        if amount < self.minimum:
            raise InvalidAmount(
                f"a card top-up is at least {format_tenge(self.minimum)} tenge",
                minimum=self.minimum,
            )
        if amount > self.maximum:
            raise InvalidAmount(
                f"a card top-up is at most {format_tenge(self.maximum)} tenge",
                maximum=self.maximum,
            )
        return amount
