"""What a receipt says, without storage: VAT, the service line, numbers, the fiscal Protocol.

Invariants:
- every payment has exactly one sale receipt; a correction (refund, redirect) gets its own
  return receipt; a receipt is never changed or cancelled once issued;
- amounts include VAT: ``vat = round_half_up(amount * rate / (100 + rate))`` in tiyn
  (12 % → amount × 12/112);
- a receipt shows the number masked (``***4567``), never in full, nor the payer's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn, require_tiyn


class ReceiptKind(StrEnum):
    SALE = "sale"
    RETURN = "return"


class FiscalStatus(StrEnum):
    PENDING = "pending"
    REGISTERED = "registered"


def vat_included(amount: Tiyn, rate_percent: int) -> Tiyn:
    """The VAT inside a VAT-inclusive ``amount``, rounded half up to the tiyn (sign kept)."""
    require_tiyn(amount)
    if not 0 <= rate_percent <= 100:
        raise ValidationError("VAT rate must be between 0 and 100 percent")
    gross = 100 + rate_percent
    magnitude = (2 * abs(amount) * rate_percent + gross) // (2 * gross)
    return magnitude if amount >= 0 else -magnitude


SERVICE_PREPAID = "Пополнение баланса услуг связи"
SERVICE_POSTPAID = "Оплата услуг связи по счёту"

CHANNEL_TITLES: dict[str, str] = {
    "agent": "Платёжный агент",
    "voucher": "Карта оплаты",
    "card": "Банковская карта",
    "cash": "Наличные (терминал самообслуживания)",
    "transfer": "Перевод с другого номера",
    "correction": "Корректировка платежа",
    "opening": "Начальный баланс",
}


def service_for(payment_type: str) -> str:
    return SERVICE_POSTPAID if payment_type == "postpaid" else SERVICE_PREPAID


def return_number(sale_number: str, sequence: int) -> str:
    """Return receipts are numbered after the sale they correct: ``R0000000042-V1``."""
    return f"{sale_number}-V{sequence}"


@dataclass(frozen=True, slots=True)
class SellerIdentity:
    name: str
    bin: str
    address: str
    vat_rate_percent: int
    public_base_url: str


@dataclass(frozen=True, slots=True)
class Receipt:
    id: int
    number: str
    kind: ReceiptKind
    payment_id: int
    share_token: str
    issued_at: datetime
    seller_name: str
    seller_bin: str
    seller_address: str
    service: str
    msisdn_masked: str
    amount: Tiyn
    vat: Tiyn
    vat_rate_percent: int
    channel: str
    method: str
    agent: str
    agent_txn_id: str
    agent_txn_date: str | None
    reason: str
    fiscal_status: FiscalStatus
    fiscal_sign: str | None

    @property
    def channel_title(self) -> str:
        return CHANNEL_TITLES.get(self.channel, self.channel)

    @property
    def title(self) -> str:
        return "Чек возврата" if self.kind is ReceiptKind.RETURN else "Кассовый чек"

    def share_path(self) -> str:
        return f"/r/{self.share_token}"

    def verification_url(self, public_base_url: str) -> str:
        return public_base_url.rstrip("/") + self.share_path()


@dataclass(frozen=True, slots=True)
class FiscalRegistration:
    sign: str  # the fiscal sign / registration number the cash-register service gives back
    registered_at: datetime


class FiscalRegistrar(Protocol):
    """A cloud cash-register service (OFD) that registers receipts with the tax authority.

    ``register`` must be idempotent by ``receipt.number``: asked twice, it answers the same
    registration. It may raise ``abonent.core.errors.StorageUnavailable`` (try later).
    """

    def register(self, receipt: Receipt) -> FiscalRegistration: ...


class RecordingFiscalRegistrar:
    """The embedded default: records what it was asked and answers a deterministic sign."""

    def __init__(self) -> None:
        self.registered: dict[str, Receipt] = {}

    def register(self, receipt: Receipt) -> FiscalRegistration:
        self.registered.setdefault(receipt.number, receipt)
        return FiscalRegistration(sign=f"FAKE-{receipt.number}", registered_at=receipt.issued_at)
