"""Helpers of the auto top-up tests: debits through the ledger (as rating or renewals do)."""

from __future__ import annotations

import itertools

from abonent.autopay import services as autopay
from abonent.autopay.domain import RuleKind, RuleSpec, TriggerStatus
from abonent.cards.acquirers.sandbox import SandboxAcquirer
from abonent.core.money import Tiyn
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from tests.factories import system_account

_keys = itertools.count(1)


def spend(db: Database, msisdn: str, amount: Tiyn) -> None:
    """A chargeable service debits the balance (one ledger transaction)."""
    revenue = system_account(db, AccountKind.REVENUE, "test")
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        assert subscriber is not None
    ledger.post(
        db,
        transfer_request(
            kind="usage",
            source="test",
            idempotency_key=f"spend-{next(_keys)}",
            debit_account_id=subscriber.account_id,
            credit_account_id=revenue,
            amount=amount,
        ),
    )


def threshold(amount: Tiyn = 200_000, at: Tiyn = 10_000) -> RuleSpec:
    return RuleSpec(RuleKind.THRESHOLD, amount=amount, threshold=at)


def triggers(db: Database, rule_id: int) -> list[dict[str, object]]:
    return list(reversed(autopay.triggers_of_rule(db, rule_id)))


def process_pending(db: Database, acquirer: SandboxAcquirer) -> None:
    """What ``jobs.run_due`` does for triggers no dispatcher picked up."""
    with db.reading() as uow:
        pending = autopay.rules_of(uow).pending_triggers(limit=100)
    for trigger_id, rule_id in pending:
        autopay.process_trigger(db, acquirer, trigger_id, rule_id)


def statuses(db: Database, rule_id: int) -> list[TriggerStatus]:
    return [TriggerStatus(str(t["status"])) for t in triggers(db, rule_id)]
