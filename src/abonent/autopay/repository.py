"""Storage of auto top-up rules and triggers (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select

from abonent.autopay.domain import Period, Rule, RuleKind, RuleStatus, TriggerStatus
from abonent.autopay.tables import autopay_rules, autopay_triggers
from abonent.db.id_lists import IdListQuery
from abonent.ledger.tables import accounts

# Run after every ledger movement that takes money down (agents' batches included): fixed
# text with the ids as one parameter, so a call costs the query, not building its SQL.
_RULES, _ACCOUNTS = autopay_rules.name, accounts.name
_THRESHOLD_RULES_AT_OR_BELOW = IdListQuery.of(
    f"SELECT {_RULES}.id, {_RULES}.target_account_id, {_RULES}.armed,"  # noqa: S608
    f" {_RULES}.threshold, {_ACCOUNTS}.balance, {_RULES}.amount"
    f" FROM {_RULES} JOIN {_ACCOUNTS} ON {_ACCOUNTS}.id = {_RULES}.target_account_id"
    f" WHERE {{in_list}} AND {{no_index}}{_RULES}.kind = '{RuleKind.THRESHOLD.value}'"
    f" AND {{no_index}}{_RULES}.status = '{RuleStatus.ACTIVE.value}'"
    f" AND {_ACCOUNTS}.balance <= {_RULES}.threshold",
    autopay_rules.c.target_account_id,
)


class SqlAutopayRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # -- rules ----------------------------------------------------------------------------
    def insert_rule(self, **values: Any) -> int:
        return int(
            self.connection.execute(
                autopay_rules.insert().returning(autopay_rules.c.id), values
            ).scalar_one()
        )

    def rule(self, rule_id: int, *, lock: bool = False) -> Rule | None:
        query = select(autopay_rules).where(autopay_rules.c.id == rule_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _rule(row) if row else None

    def rules_of(self, owner_msisdn: str, *, include_deleted: bool = False) -> list[Rule]:
        query = (
            select(autopay_rules)
            .where(autopay_rules.c.owner_msisdn == owner_msisdn)
            .order_by(autopay_rules.c.id)
        )
        if not include_deleted:
            query = query.where(autopay_rules.c.status != RuleStatus.DELETED.value)
        return [_rule(r) for r in self.connection.execute(query)]

    def rules_targeting(self, target_msisdn: str) -> list[Rule]:
        query = (
            select(autopay_rules)
            .where(
                autopay_rules.c.target_msisdn == target_msisdn,
                autopay_rules.c.status != RuleStatus.DELETED.value,
            )
            .order_by(autopay_rules.c.id)
        )
        return [_rule(r) for r in self.connection.execute(query)]

    def pending_rule(self, owner: str, target: str) -> Rule | None:
        row = self.connection.execute(
            select(autopay_rules).where(
                autopay_rules.c.owner_msisdn == owner,
                autopay_rules.c.target_msisdn == target,
                autopay_rules.c.status == RuleStatus.PENDING_CARD.value,
            )
        ).first()
        return _rule(row) if row else None

    def update_rule(self, rule_id: int, now: datetime, **values: Any) -> None:
        self.connection.execute(
            autopay_rules.update()
            .where(autopay_rules.c.id == rule_id)
            .values(updated_at=now, **values)
        )

    def rules_with_card(self, card_id: int, statuses: Sequence[RuleStatus]) -> list[Rule]:
        rows = self.connection.execute(
            select(autopay_rules).where(
                autopay_rules.c.card_id == card_id,
                autopay_rules.c.status.in_([s.value for s in statuses]),
            )
        )
        return [_rule(r) for r in rows]

    # -- the threshold hook (hot path: every debit) ---------------------------------------
    def threshold_rules_at_or_below(
        self, account_ids: Sequence[int]
    ) -> list[tuple[int, int, bool, int, int, int]]:
        """Active threshold rules on these accounts whose balance is at or below the threshold:
        (rule id, account id, armed, threshold, balance, amount). One indexed query."""
        rows = _THRESHOLD_RULES_AT_OR_BELOW.run(self.connection, account_ids)
        return [(int(r[0]), int(r[1]), bool(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def fire(self, rule_id: int) -> int:
        """Disarm a rule that fires; returns its new crossing number (the trigger's key)."""
        row = self.connection.execute(
            autopay_rules.update()
            .where(autopay_rules.c.id == rule_id)
            .values(armed=False, rearm_at=None, crossings=autopay_rules.c.crossings + 1)
            .returning(autopay_rules.c.crossings)
        ).one()
        return int(row[0])

    def rearm_due(self, now: datetime) -> int:
        result = self.connection.execute(
            autopay_rules.update()
            .where(
                autopay_rules.c.rearm_at.is_not(None),
                autopay_rules.c.rearm_at <= now,
                autopay_rules.c.armed.is_(False),
            )
            .values(armed=True, rearm_at=None)
        )
        return int(result.rowcount)

    def due_rules(self, kind: RuleKind, now: datetime, *, limit: int) -> list[Rule]:
        query = (
            select(autopay_rules)
            .where(
                autopay_rules.c.kind == kind.value,
                autopay_rules.c.status == RuleStatus.ACTIVE.value,
            )
            .order_by(autopay_rules.c.id)
            .limit(limit)
        )
        if kind is RuleKind.SCHEDULE:
            query = query.where(autopay_rules.c.next_run_at <= now)
        return [_rule(r) for r in self.connection.execute(query)]

    # -- triggers -------------------------------------------------------------------------
    def insert_trigger(self, *, rule_id: int, due_key: str, amount: int, now: datetime) -> int:
        return int(
            self.connection.execute(
                autopay_triggers.insert().returning(autopay_triggers.c.id),
                {
                    "rule_id": rule_id,
                    "due_key": due_key,
                    "amount": amount,
                    "status": TriggerStatus.PENDING.value,
                    "reason": "",
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
        )

    def trigger_exists(self, rule_id: int, due_key: str) -> bool:
        return (
            self.connection.execute(
                select(autopay_triggers.c.id).where(
                    autopay_triggers.c.rule_id == rule_id, autopay_triggers.c.due_key == due_key
                )
            ).first()
            is not None
        )

    def trigger(self, trigger_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(autopay_triggers).where(autopay_triggers.c.id == trigger_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return dict(row._mapping) if row else None

    def trigger_of_payment(self, card_payment_id: int) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(autopay_triggers).where(autopay_triggers.c.card_payment_id == card_payment_id)
        ).first()
        return dict(row._mapping) if row else None

    def update_trigger(self, trigger_id: int, now: datetime, **values: Any) -> None:
        self.connection.execute(
            autopay_triggers.update()
            .where(autopay_triggers.c.id == trigger_id)
            .values(updated_at=now, **values)
        )

    def pending_triggers(self, *, limit: int) -> list[tuple[int, int]]:
        rows = self.connection.execute(
            select(autopay_triggers.c.id, autopay_triggers.c.rule_id)
            .where(autopay_triggers.c.status == TriggerStatus.PENDING.value)
            .order_by(autopay_triggers.c.id)
            .limit(limit)
        )
        return [(int(r.id), int(r.rule_id)) for r in rows]

    def charging_payments(self, *, limit: int) -> list[int]:
        rows = self.connection.execute(
            select(autopay_triggers.c.card_payment_id)
            .where(
                autopay_triggers.c.status == TriggerStatus.CHARGING.value,
                autopay_triggers.c.card_payment_id.is_not(None),
            )
            .order_by(autopay_triggers.c.id)
            .limit(limit)
        )
        return [int(r[0]) for r in rows]

    def triggers_of(self, rule_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            select(autopay_triggers)
            .where(autopay_triggers.c.rule_id == rule_id)
            .order_by(autopay_triggers.c.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]


def _rule(row: sa.Row[tuple[object, ...]]) -> Rule:
    m = row._mapping
    return Rule(
        id=int(m["id"]),
        owner_msisdn=m["owner_msisdn"],
        target_msisdn=m["target_msisdn"],
        target_account_id=int(m["target_account_id"]),
        card_id=None if m["card_id"] is None else int(m["card_id"]),
        kind=RuleKind(m["kind"]),
        amount=None if m["amount"] is None else int(m["amount"]),
        threshold=None if m["threshold"] is None else int(m["threshold"]),
        period=None if m["period"] is None else Period(m["period"]),
        day=None if m["day"] is None else int(m["day"]),
        next_run_at=m["next_run_at"],
        armed=bool(m["armed"]),
        rearm_at=m["rearm_at"],
        consecutive_declines=int(m["consecutive_declines"]),
        status=RuleStatus(m["status"]),
        channel=m["channel"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
