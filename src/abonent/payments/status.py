"""Payment status: what anyone holding an agent's code + txn_id, or a receipt number, may see.

Only the status, the masked number (``***4567``), the amount and the time are revealed. Lookups
are rate-limited per client address (``StatusRateLimiter``) because receipt numbers are
sequential and could otherwise be enumerated.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from abonent.core.errors import AbonentError, NotFound, ValidationError
from abonent.core.money import Tiyn
from abonent.core.msisdn import masked
from abonent.db.uow import Database
from abonent.payments.domain import Payment, PaymentStatus
from abonent.payments.services import payments_of

RECEIPT = re.compile(r"R[0-9]{10}")
_AGENT = re.compile(r"[A-Za-z0-9_]{2,20}")
_TXN = re.compile(r"[0-9]{1,20}")


class PaymentNotFound(NotFound):
    code = "payment_not_found"


class TooManyLookups(AbonentError):
    code = "rate_limited"
    http_status = 429


@dataclass(frozen=True, slots=True)
class PaymentStatusView:
    status: PaymentStatus
    masked_msisdn: str
    amount: Tiyn
    time: datetime
    receipt: str

    @classmethod
    def of(cls, payment: Payment) -> PaymentStatusView:
        return cls(
            status=payment.status,
            masked_msisdn=masked(payment.msisdn),
            amount=payment.amount,
            time=payment.created_at,
            receipt=payment.receipt_number,
        )


def payment_status(
    db: Database,
    *,
    agent: str | None = None,
    txn_id: str | None = None,
    receipt: str | None = None,
) -> PaymentStatusView:
    """Find a payment by its receipt number, or by the agent's code and txn_id."""
    agent, txn_id, receipt = (x.strip() if x else None for x in (agent, txn_id, receipt))
    if receipt:
        if not RECEIPT.fullmatch(receipt.upper()):
            raise ValidationError("a receipt number looks like R0000001234")
        with db.reading() as uow:
            payment = payments_of(uow).by_receipt(receipt.upper())
    elif agent and txn_id:
        if not _AGENT.fullmatch(agent) or not _TXN.fullmatch(txn_id):
            raise ValidationError("agent code or payment id is not valid")
        with db.reading() as uow:
            payment = payments_of(uow).by_key(f"agent:{agent.upper()}", txn_id)
    else:
        raise ValidationError("give a receipt number, or an agent code and its payment id")
    if payment is None:
        raise PaymentNotFound("no such payment")
    return PaymentStatusView.of(payment)


@dataclass
class StatusRateLimiter:
    """At most ``limit`` lookups per ``window`` seconds per client address (in this process)."""

    limit: int = 30
    window: float = 60.0
    _hits: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > 10_000:
                self._hits.clear()  # bounded memory under a spray of addresses
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                raise TooManyLookups("too many status lookups; try again in a minute")
            hits.append(now)
