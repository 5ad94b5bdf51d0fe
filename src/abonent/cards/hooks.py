"""Reactions to card events, run inside the unit of work that caused them (so atomic with it).

- ``AFTER_CARD_LINKED``: a card was linked (auto top-up completes rules waiting for a card).
- ``AFTER_CARD_REMOVED``: a card was removed (auto top-up pauses rules that used it).
- ``AFTER_PAYMENT_RESOLVED``: a card payment reached captured, declined or failed
  (auto top-up counts declines, notifies the owner). Called once per payment.
"""

from __future__ import annotations

from collections.abc import Callable

from abonent.cards.domain import Card, CardPayment
from abonent.db.uow import UnitOfWork

CardHook = Callable[[UnitOfWork, Card], None]
PaymentHook = Callable[[UnitOfWork, CardPayment], None]

AFTER_CARD_LINKED: list[CardHook] = []
AFTER_CARD_REMOVED: list[CardHook] = []
AFTER_PAYMENT_RESOLVED: list[PaymentHook] = []


def register_card_linked(hook: CardHook) -> CardHook:
    if hook not in AFTER_CARD_LINKED:
        AFTER_CARD_LINKED.append(hook)
    return hook


def register_card_removed(hook: CardHook) -> CardHook:
    if hook not in AFTER_CARD_REMOVED:
        AFTER_CARD_REMOVED.append(hook)
    return hook


def register_payment_resolved(hook: PaymentHook) -> PaymentHook:
    if hook not in AFTER_PAYMENT_RESOLVED:
        AFTER_PAYMENT_RESOLVED.append(hook)
    return hook
