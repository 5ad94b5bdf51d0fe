"""Reactions to ledger movements, run inside the same unit of work right after a transaction
(or a batch) is recorded. Used where a feature must act on the event that moved a balance
without polling: the auto top-up threshold trigger, for one.

A hook receives the unit of work and the net balance change per account of what was just
recorded. Hooks must be cheap (they run on every money movement) and must not record ledger
transactions themselves synchronously in a way that recurses without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from abonent.core.money import Tiyn
from abonent.db.uow import UnitOfWork

BalanceHook = Callable[[UnitOfWork, Mapping[int, Tiyn]], None]

AFTER_RECORD: list[BalanceHook] = []


def register_after_record(hook: BalanceHook) -> BalanceHook:
    if hook not in AFTER_RECORD:
        AFTER_RECORD.append(hook)
    return hook


def run_after_record(uow: UnitOfWork, net_by_account: Mapping[int, Tiyn]) -> None:
    for hook in AFTER_RECORD:
        hook(uow, net_by_account)
