"""Extension points of a top-up, run inside the top-up's own unit of work (so they are atomic
with it). Features register here at import time of their ``services`` module:

- ``BEFORE_CREDIT``: may take part of the incoming money first (trust credit repayment and
  its fee). Called after the subscriber is credited, in registration order.
- ``AFTER_CREDIT``: reacts to the new balance (retry a tariff renewal, lift a debt bar,
  auto top-up bookkeeping).

A hook raising an error aborts the whole top-up, so hooks must only refuse for real reasons.

Group commits (``payments.batch.credit_topups``) run each hook once for a whole batch of
top-ups of distinct numbers: a hook registered with a batch form
(``register_before_credit_batch`` / ``register_after_credit_batch``) gets the list and should
first find, in one query, the few top-ups that concern it; a hook without one is called for
each top-up in turn. Either way the outcome must equal calling the one-by-one hook per top-up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
TopUpBatchHook = Callable[[UnitOfWork, Sequence[CreditedTopUp]], None]

BEFORE_CREDIT: list[TopUpHook] = []
AFTER_CREDIT: list[TopUpHook] = []
# The batch form of a registered one-by-one hook (the lists above stay the one source of
# which hooks run, and in which order).
BATCH_FORMS: dict[TopUpHook, TopUpBatchHook] = {}


def register_before_credit(hook: TopUpHook) -> TopUpHook:
    if hook not in BEFORE_CREDIT:
        BEFORE_CREDIT.append(hook)
    return hook


def register_after_credit(hook: TopUpHook) -> TopUpHook:
    if hook not in AFTER_CREDIT:
        AFTER_CREDIT.append(hook)
    return hook


def register_before_credit_batch(batch: TopUpBatchHook, *, single: TopUpHook) -> TopUpBatchHook:
    """Register ``single`` for one top-up and ``batch`` for a group commit's list."""
    register_before_credit(single)
    BATCH_FORMS[single] = batch
    return batch


def register_after_credit_batch(batch: TopUpBatchHook, *, single: TopUpHook) -> TopUpBatchHook:
    """Register ``single`` for one top-up and ``batch`` for a group commit's list."""
    register_after_credit(single)
    BATCH_FORMS[single] = batch
    return batch


def run_hooks(uow: UnitOfWork, credited: CreditedTopUp) -> None:
    """Every hook for one top-up, BEFORE_CREDIT first, in registration order."""
    for hook in [*BEFORE_CREDIT, *AFTER_CREDIT]:
        hook(uow, credited)


def run_batch_hooks(uow: UnitOfWork, credited: Sequence[CreditedTopUp]) -> None:
    """Every hook for top-ups of distinct numbers: per number, the same hooks in the same
    order as ``run_hooks``; each hook sees the whole list once."""
    if not credited:
        return
    for hook in [*BEFORE_CREDIT, *AFTER_CREDIT]:
        batch = BATCH_FORMS.get(hook)
        if batch is not None:
            batch(uow, credited)
        else:
            for one in credited:
                hook(uow, one)
