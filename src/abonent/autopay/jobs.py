"""Scheduled auto top-up work, for ``abonent jobs run-due`` and ``abonent autopay run-due``.

``run_due(container_or_db, now)``: re-arm rules capped yesterday, fire due schedule rules and
renewal rules (last day of the tariff period), then charge every pending trigger (including
threshold triggers no dispatcher picked up) and resume automatic payments a crash left unsent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from abonent.autopay import services
from abonent.autopay.domain import (
    RuleKind,
    RuleStatus,
    next_schedule_run,
    renewal_amount,
    renewal_window,
)
from abonent.cards.acquirer import Acquirer
from abonent.cards.acquirers import resolve
from abonent.core.errors import AbonentError
from abonent.db.uow import Database

log = structlog.get_logger("abonent.autopay.jobs")

# (db, msisdn) -> (period start, period end, fee in tiyn) or None; see abonent.charging.
PeriodProvider = Callable[[Database, str], "tuple[datetime, datetime, int] | None"]


def charging_period_provider() -> PeriodProvider | None:
    """``abonent.charging.services.current_period`` when the charging feature is installed."""
    try:
        from abonent.charging.services import current_period
    except ImportError:
        return None
    provider: PeriodProvider = current_period
    return provider


@dataclass
class RunReport:
    rearmed: int = 0
    schedule_fired: int = 0
    renewal_fired: int = 0
    triggers_processed: int = 0
    charges_resumed: int = 0
    errors: list[str] = field(default_factory=list)


def run_due(
    container_or_db: Any,
    now: datetime | None = None,
    *,
    acquirer: Acquirer | None = None,
    period_provider: PeriodProvider | None = None,
    limit: int = 500,
) -> RunReport:
    db, chosen = resolve(container_or_db, acquirer)
    moment = now or db.clock.now()
    report = RunReport()
    with db.uow() as uow:
        report.rearmed = services.rules_of(uow).rearm_due(moment)
        uow.commit()
    report.schedule_fired = _fire_schedules(db, moment, limit)
    provider = period_provider or charging_period_provider()
    if provider is not None:
        report.renewal_fired = _fire_renewals(db, provider, moment, limit, report)
    with db.reading() as uow:
        pending = services.rules_of(uow).pending_triggers(limit=limit)
        stuck = services.rules_of(uow).charging_payments(limit=limit)
    for trigger_id, rule_id in pending:
        try:
            services.process_trigger(db, chosen, trigger_id, rule_id)
            report.triggers_processed += 1
        except AbonentError as exc:
            report.errors.append(f"trigger {trigger_id}: {exc.code}")
    from abonent.cards.services import execute_card_payment

    for payment_id in stuck:
        try:
            execute_card_payment(db, chosen, payment_id)  # no-op unless still "created"
            report.charges_resumed += 1
        except AbonentError as exc:
            report.errors.append(f"card payment {payment_id}: {exc.code}")
    log.info("autopay.run_due", **report.__dict__)
    return report


def _fire_schedules(db: Database, now: datetime, limit: int) -> int:
    settings = services.autopay_settings()
    fired = 0
    with db.reading() as uow:
        due = services.rules_of(uow).due_rules(RuleKind.SCHEDULE, now, limit=limit)
    for candidate in due:
        with db.uow() as uow:
            repo = services.rules_of(uow)
            rule = repo.rule(candidate.id, lock=True)
            if (
                rule is None
                or rule.status is not RuleStatus.ACTIVE
                or rule.next_run_at is None
                or rule.next_run_at > now
                or rule.period is None
                or rule.amount is None
            ):
                continue
            key = f"schedule:{rule.next_run_at.isoformat()}"
            if not repo.trigger_exists(rule.id, key):
                repo.insert_trigger(rule_id=rule.id, due_key=key, amount=rule.amount, now=now)
                fired += 1
            # Runs missed while the job was down are not charged one by one: next is after now.
            following = next_schedule_run(
                rule.period, rule.day, now, settings.zone, settings.schedule_hour
            )
            repo.update_rule(rule.id, uow.clock.now(), next_run_at=following)
            uow.commit()
    return fired


def _fire_renewals(
    db: Database, provider: PeriodProvider, now: datetime, limit: int, report: RunReport
) -> int:
    from abonent.cards.services import card_settings

    minimum = card_settings().limits.minimum
    fired = 0
    with db.reading() as uow:
        rules = services.rules_of(uow).due_rules(RuleKind.RENEWAL, now, limit=limit)
    for rule in rules:
        try:
            period = provider(db, rule.target_msisdn)
        except AbonentError as exc:
            report.errors.append(f"rule {rule.id}: {exc.code}")
            continue
        if period is None:
            continue
        start, end, fee = period
        opens, closes = renewal_window(end)
        lapsed = start == end and now >= end  # the fee was refused: it is due now
        if not (opens <= now < closes or lapsed):
            continue
        key = f"renewal:{end.isoformat()}"
        with db.uow() as uow:
            repo = services.rules_of(uow)
            locked = repo.rule(rule.id, lock=True)
            if locked is None or locked.status is not RuleStatus.ACTIVE:
                continue
            if repo.trigger_exists(rule.id, key):
                continue
            account = uow.ledger.account(rule.target_account_id)
            assert account is not None
            amount = renewal_amount(rule.amount, fee, account.balance, minimum)
            if amount is None:
                continue  # the balance already covers the fee; looked at again next run
            repo.insert_trigger(rule_id=rule.id, due_key=key, amount=amount, now=now)
            uow.commit()
            fired += 1
    return fired
