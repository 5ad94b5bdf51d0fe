"""Registers auto top-up's reactions (imported by ``abonent.hooks_registry``): the ledger hook
(threshold trigger), card events, and the due jobs of ``abonent jobs run-due``."""

from __future__ import annotations

from abonent.autopay import services
from abonent.autopay.scheduling import register_due_jobs
from abonent.cards import hooks as card_hooks
from abonent.ledger import hooks as ledger_hooks

ledger_hooks.register_after_record(services.on_balance_moved)
card_hooks.register_card_linked(services.on_card_linked)
card_hooks.register_card_removed(services.on_card_removed)
card_hooks.register_payment_resolved(services.on_payment_resolved)
register_due_jobs()
