"""Extension points of a top-up, run inside the top-up's own unit of work (so they are atomic
with it). Features register here at import time of their ``services`` module:

- ``BEFORE_CREDIT``: may take part of the incoming money first (trust credit repayment and
  its fee). Called after the subscriber is credited, in registration order.
- ``AFTER_CREDIT``: reacts to the new balance (retry a tariff renewal, lift a debt bar,
  auto top-up bookkeeping).

A hook raising an error aborts the whole top-up, so hooks must only refuse for real reasons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from abonent.core.money import Tiyn
from abonent.db.uow import UnitOfWork
from abonent.payments.domain import Payment
from abonent.subscribers.domain import Subscriber


@dataclass(frozen=True, slots=True)
class CreditedTopUp:
    """What hooks get to see of a top-up that has just been credited."""

    payment_id: int
    subscriber: Subscriber
    amount: Tiyn
    channel: str
    transaction_id: int
    payment: Payment | None = None  # the row just inserted (so hooks need not read it back)


TopUpHook = Callable[[UnitOfWork, CreditedTopUp], None]

BEFORE_CREDIT: list[TopUpHook] = []
AFTER_CREDIT: list[TopUpHook] = []


def register_before_credit(hook: TopUpHook) -> TopUpHook:
    if hook not in BEFORE_CREDIT:
        BEFORE_CREDIT.append(hook)
    return hook


def register_after_credit(hook: TopUpHook) -> TopUpHook:
    if hook not in AFTER_CREDIT:
        AFTER_CREDIT.append(hook)
    return hook
