"""The acquirer port: what Abonent needs from a card processor, and the answers it can give.

Contract every adapter keeps (the sandbox and CloudPayments pass the same tests):
- Card numbers and CVVs are entered on the acquirer's own page; we only ever see a token, the
  last four digits, the brand and the expiry.
- ``charge`` is idempotent by our ``operation_id``: a repeat never charges twice.
- ``charge`` answers ``approved`` (captured), ``declined`` or ``requires_3ds``; it raises
  ``AcquirerTimeout`` when the outcome is not known (the acquirer may or may not have charged)
  and ``AcquirerUnavailable`` for a 5xx / refused connection (treated the same way: unknown).
- ``query`` is the source of truth for an operation: ``captured``, ``declined``, ``pending`` or
  ``not_found`` (never seen: nothing was charged).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from abonent.core.errors import AbonentError
from abonent.core.money import Tiyn


class AcquirerError(AbonentError):
    code = "acquirer_error"
    http_status = 502


class AcquirerTimeout(AcquirerError):
    """No answer in time: the charge may or may not have happened."""

    code = "acquirer_timeout"
    http_status = 504


class AcquirerUnavailable(AcquirerError):
    """The acquirer answered 5xx or could not be reached."""

    code = "acquirer_unavailable"
    http_status = 503


class ChargeStatus(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    REQUIRES_3DS = "requires_3ds"


class OperationState(StrEnum):
    CAPTURED = "captured"
    DECLINED = "declined"
    PENDING = "pending"
    NOT_FOUND = "not_found"
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    acquirer_txn_id: str | None = None
    reason: str = ""
    acs_url: str | None = None  # where the cardholder confirms 3-D Secure


@dataclass(frozen=True, slots=True)
class OperationInfo:
    state: OperationState
    acquirer_txn_id: str | None = None
    amount: Tiyn | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TokenizationStart:
    session_id: str
    redirect_url: str  # the acquirer's card-entry page


@dataclass(frozen=True, slots=True)
class TokenizedCard:
    token: str
    last4: str
    brand: str
    exp_month: int
    exp_year: int


class Acquirer(Protocol):
    name: str

    def start_tokenization(self, session_id: str, return_url: str) -> TokenizationStart:
        """Open a card-entry session on the acquirer's page; the browser goes there."""
        ...

    def tokenization_result(self, session_id: str) -> TokenizedCard | None:
        """The card tokenised in a session, or None while the cardholder has not finished."""
        ...

    def charge(
        self, *, token: str, amount: Tiyn, operation_id: str, description: str, customer: bool
    ) -> ChargeResult:
        """Charge a tokenised card; ``customer`` is False for merchant-initiated charges."""
        ...

    def confirm_3ds(self, *, acquirer_txn_id: str, pa_res: str) -> ChargeResult:
        """Finish a charge after the cardholder passed 3-D Secure."""
        ...

    def query(self, operation_id: str) -> OperationInfo:
        """The acquirer's own record of an operation (the reconciler's source of truth)."""
        ...

    def refund(self, *, acquirer_txn_id: str, amount: Tiyn, operation_id: str) -> OperationInfo:
        """Return a captured charge to the card."""
        ...
