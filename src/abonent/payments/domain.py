"""What a top-up is, independent of the channel it came through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abonent.core.errors import AbonentError, ValidationError
from abonent.core.money import Tiyn, require_positive_tiyn


class Channel(StrEnum):
    AGENT = "agent"  # banks, Kaspi, Kassa24, QIWI terminals (agent protocols)
    VOUCHER = "voucher"  # instant payment cards
    CARD = "card"  # linked bank card in the cabinet / app, auto top-up
    CASH = "cash"  # self-service machines
    TRANSFER = "transfer"  # from another subscriber
    CORRECTION = "correction"  # support moving a payment to the right number
    OPENING = "opening"


class PaymentStatus(StrEnum):
    CREDITED = "credited"
    CANCELLED = "cancelled"  # reversed by the agent while the money was unspent
    REDIRECTED = "redirected"  # moved (wholly or partly) to another number by support


class SubscriberClosed(AbonentError):
    """The number is closed: payments are refused (barred and suspended numbers accept)."""

    code = "subscriber_closed"
    http_status = 409


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    """A payment to credit. ``(source, external_id)`` is its idempotency key."""

    msisdn: str  # E.164
    amount: Tiyn
    channel: Channel
    source: str  # "agent:KASPI", "voucher", "card", ...
    external_id: str  # agent txn_id, voucher batch+serial, acquirer operation id...
    clearing_account_id: int  # where the money comes from in the ledger
    method: str = ""  # free text for receipts: "Kaspi terminal", "Visa *1234"
    external_date: str | None = None  # as the payer sent it (agent txn_date), stored verbatim
    actor: str = "system"

    def __post_init__(self) -> None:
        require_positive_tiyn(self.amount)
        if not self.external_id or len(self.external_id) > 100:
            raise ValidationError("payment id is required (at most 100 characters)")


@dataclass(frozen=True, slots=True)
class Payment:
    id: int
    receipt_number: str
    msisdn: str
    subscriber_id: int
    amount: Tiyn
    channel: Channel
    source: str
    external_id: str
    external_date: str | None
    method: str
    transaction_id: int
    status: PaymentStatus
    created_at: datetime
    fingerprint: str
    # True when this is the stored answer to an earlier identical request.
    replayed: bool = False

    def same_request(self, request: TopUpRequest) -> bool:
        return self.fingerprint == fingerprint_of(request)


def fingerprint_of(request: TopUpRequest) -> str:
    """What a repeat must match: the number and the amount (the date may be re-sent)."""
    return f"{request.msisdn}|{request.amount}"
