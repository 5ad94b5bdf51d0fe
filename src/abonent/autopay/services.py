"""Auto top-up use cases: rules (create, pending from USSD, list, update, delete), the
threshold trigger, and turning triggers into card payments.

How a threshold top-up happens without polling delay
----------------------------------------------------
1. A debit crosses the threshold: the ledger's after-record hook (``on_balance_moved``) runs in
   the debit's own transaction, finds threshold rules on the accounts that moved down with one
   indexed query, fires those whose balance this movement took across (or that are armed),
   disarms them (at most once per crossing) and writes an ``autopay_triggers`` row. No acquirer
   call happens there.
2. The same hook *kicks* the in-process dispatcher (``autopay.dispatch``). Its worker thread
   starts ``process_trigger``, which first locks the rule row: that lock is held by the debit's
   transaction, so the worker wakes exactly when the debit commits (or finds no trigger if it
   rolled back). Then the card payment is written and charged, outside any transaction.
3. ``jobs.run_due`` picks up any trigger the dispatcher did not (another process, a crash).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache

import structlog

from abonent.autopay import dispatch
from abonent.autopay.domain import (
    AutopayNotAllowed,
    PendingRule,
    Rule,
    RuleKind,
    RuleSpec,
    RuleStatus,
    TriggerStatus,
    check_rule_transition,
    local_day_start,
    next_schedule_run,
)
from abonent.autopay.notifications import money, notify
from abonent.autopay.repository import SqlAutopayRepository
from abonent.autopay.settings import AutopaySettings
from abonent.cards import services as cards
from abonent.cards.acquirer import Acquirer
from abonent.cards.domain import (
    Card,
    CardNotUsable,
    CardPayment,
    CardPaymentStatus,
    CardStatus,
    Initiator,
)
from abonent.core.errors import AbonentError, NotFound, ValidationError
from abonent.core.money import Tiyn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.subscribers.domain import PaymentType, Subscriber, SubscriberStatus

log = structlog.get_logger("abonent.autopay")

CHANNELS = frozenset({"ussd", "cabinet", "app", "cli", "api", "support"})


@lru_cache(maxsize=1)
def autopay_settings() -> AutopaySettings:
    return AutopaySettings()


def rules_of(uow: UnitOfWork) -> SqlAutopayRepository:
    return SqlAutopayRepository(uow.connection)


def describe_spec(spec: RuleSpec) -> str:
    if spec.kind is RuleKind.THRESHOLD:
        assert spec.threshold is not None and spec.amount is not None
        return f"{money(spec.amount)} тг при балансе до {money(spec.threshold)} тг"
    if spec.kind is RuleKind.SCHEDULE:
        assert spec.period is not None and spec.amount is not None
        day = f" ({spec.day})" if spec.day else ""
        return f"{money(spec.amount)} тг, {spec.period.value}{day}"
    amount = f"{money(spec.amount)} тг" if spec.amount else "сумма абонплаты"
    return f"{amount} перед продлением тарифа"


# -- rules --------------------------------------------------------------------------------
def _target(uow: UnitOfWork, msisdn: str) -> Subscriber:
    target = uow.subscribers.by_msisdn(msisdn)
    if target is None:
        raise NotFound(f"no subscriber {msisdn}")
    if target.status is SubscriberStatus.CLOSED:
        raise AutopayNotAllowed("the number is closed")
    return target


def _check_kind_for(target: Subscriber, spec: RuleSpec) -> None:
    if spec.kind is RuleKind.THRESHOLD and target.payment_type is PaymentType.POSTPAID:
        raise AutopayNotAllowed("a threshold rule is for prepaid numbers only")


def _check_amount(spec: RuleSpec) -> None:
    if spec.amount is not None:
        cards.card_settings().limits.check(spec.amount)


def _usable_card(uow: UnitOfWork, owner: str, card_id: int) -> Card:
    card = cards.cards_of(uow).card(card_id)
    if card is None or card.owner_msisdn != owner:
        raise NotFound("no such card")
    if card.status is not CardStatus.ACTIVE or card.expired(uow.clock.now()):
        raise CardNotUsable("this card has been removed or has expired")
    return card


def _channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValidationError(f"unknown channel {channel!r}")
    return channel


def _schedule_fields(spec: RuleSpec, now: datetime) -> dict[str, object]:
    if spec.kind is not RuleKind.SCHEDULE:
        return {"next_run_at": None}
    settings = autopay_settings()
    assert spec.period is not None
    return {
        "next_run_at": next_schedule_run(
            spec.period, spec.day, now, settings.zone, settings.schedule_hour
        )
    }


def create_rule(
    db: Database,
    *,
    owner_msisdn: str,
    target_msisdn: str,
    card_id: int,
    spec: RuleSpec,
    channel: str = "cabinet",
    actor: str | None = None,
) -> Rule:
    """Create an active rule paying from the owner's card for the owner's or a friend's number."""
    owner = parse_msisdn(owner_msisdn)
    target_number = parse_msisdn(target_msisdn)
    spec = spec.validate()
    _check_amount(spec)
    with db.uow() as uow:
        if uow.subscribers.by_msisdn(owner) is None:
            raise NotFound(f"no subscriber {owner}")
        target = _target(uow, target_number)
        _check_kind_for(target, spec)
        _usable_card(uow, owner, card_id)
        now = uow.clock.now()
        rule_id = rules_of(uow).insert_rule(
            owner_msisdn=owner,
            target_msisdn=target_number,
            target_account_id=target.account_id,
            card_id=card_id,
            kind=spec.kind.value,
            amount=spec.amount,
            threshold=spec.threshold,
            period=spec.period.value if spec.period else None,
            day=spec.day,
            armed=True,
            crossings=0,
            consecutive_declines=0,
            status=RuleStatus.ACTIVE.value,
            channel=_channel(channel),
            created_at=now,
            updated_at=now,
            **_schedule_fields(spec, now),
        )
        _audit(uow, rule_id, owner, "autopay.rule_created", actor, spec=describe_spec(spec))
        notify(uow, owner, "rule_created", target=target_number, what=describe_spec(spec))
        if target_number != owner:
            notify(uow, target_number, "friend_added", owner=owner)
        rule = rules_of(uow).rule(rule_id)
        uow.commit()
    assert rule is not None
    return rule


def create_pending_rule(
    db: Database, *, owner_msisdn: str, target_msisdn: str, channel: str
) -> PendingRule:
    """A rule asked for by USSD (``*911*2*2#`` self, ``*911*2*3#`` friend), waiting for a card.

    It is a threshold rule with the configured defaults (100 ₸ → 2000 ₸), or, for a postpaid
    number (no threshold rules), a renewal rule. If the owner already has an active card the
    rule is active at once. A repeat for the same owner and target returns the waiting rule.
    """
    owner = parse_msisdn(owner_msisdn)
    target_number = parse_msisdn(target_msisdn)
    settings = autopay_settings()
    with db.uow() as uow:
        if uow.subscribers.by_msisdn(owner) is None:
            raise NotFound(f"no subscriber {owner}")
        target = _target(uow, target_number)
        repo = rules_of(uow)
        existing = repo.pending_rule(owner, target_number)
        if existing is not None:
            return _pending(existing, created=False)
        if target.payment_type is PaymentType.POSTPAID:
            spec = RuleSpec(RuleKind.RENEWAL)
        else:
            spec = RuleSpec(
                RuleKind.THRESHOLD,
                amount=settings.default_amount_tiyn,
                threshold=settings.default_threshold_tiyn,
            )
        spec = spec.validate()
        now = uow.clock.now()
        active_cards = cards.cards_of(uow).cards_of(owner)
        card = next((c for c in reversed(active_cards) if not c.expired(now)), None)
        status = RuleStatus.ACTIVE if card else RuleStatus.PENDING_CARD
        rule_id = repo.insert_rule(
            owner_msisdn=owner,
            target_msisdn=target_number,
            target_account_id=target.account_id,
            card_id=card.id if card else None,
            kind=spec.kind.value,
            amount=spec.amount,
            threshold=spec.threshold,
            period=None,
            day=None,
            next_run_at=None,
            armed=True,
            crossings=0,
            consecutive_declines=0,
            status=status.value,
            channel=_channel(channel),
            created_at=now,
            updated_at=now,
        )
        _audit(uow, rule_id, owner, "autopay.rule_requested", f"{channel}:{owner}", spec=spec.kind)
        if card:
            notify(uow, owner, "rule_created", target=target_number, what=describe_spec(spec))
        else:
            notify(uow, owner, "rule_pending", target=target_number)
        if target_number != owner:
            notify(uow, target_number, "friend_added", owner=owner)
        rule = repo.rule(rule_id)
        uow.commit()
    assert rule is not None
    return _pending(rule, created=True)


def _pending(rule: Rule, *, created: bool) -> PendingRule:
    return PendingRule(
        id=rule.id,
        owner_msisdn=rule.owner_msisdn,
        target_msisdn=rule.target_msisdn,
        kind=rule.kind,
        threshold=rule.threshold,
        amount=rule.amount,
        status=rule.status,
        channel=rule.channel,
        created=created,
    )


def list_rules(db: Database, owner_msisdn: str) -> list[Rule]:
    owner = parse_msisdn(owner_msisdn)
    with db.reading() as uow:
        return rules_of(uow).rules_of(owner)


def rules_for_number(db: Database, msisdn: str) -> list[Rule]:
    """Every live rule that tops up ``msisdn`` (operators' view)."""
    number = parse_msisdn(msisdn)
    with db.reading() as uow:
        return rules_of(uow).rules_targeting(number)


def _owned_rule(uow: UnitOfWork, owner: str, rule_id: int) -> Rule:
    rule = rules_of(uow).rule(rule_id, lock=True)
    if rule is None or rule.owner_msisdn != owner or rule.status is RuleStatus.DELETED:
        raise NotFound("no such auto top-up rule")
    return rule


def update_rule(
    db: Database,
    *,
    owner_msisdn: str,
    rule_id: int,
    spec: RuleSpec | None = None,
    card_id: int | None = None,
    status: RuleStatus | None = None,
    actor: str | None = None,
) -> Rule:
    """Change a rule's terms, its card, or pause / resume it (``status`` active or paused)."""
    owner = parse_msisdn(owner_msisdn)
    if status not in (None, RuleStatus.ACTIVE, RuleStatus.PAUSED):
        raise ValidationError("a rule can only be resumed (active) or paused here")
    with db.uow() as uow:
        rule = _owned_rule(uow, owner, rule_id)
        now = uow.clock.now()
        values: dict[str, object] = {}
        new_spec = rule.spec
        if spec is not None:
            if spec.kind is not rule.kind:
                raise ValidationError("a rule's kind cannot change; create another rule")
            new_spec = spec.validate()
            _check_amount(new_spec)
            _check_kind_for(_target(uow, rule.target_msisdn), new_spec)
            values.update(
                amount=new_spec.amount,
                threshold=new_spec.threshold,
                period=new_spec.period.value if new_spec.period else None,
                day=new_spec.day,
                armed=True,
                **_schedule_fields(new_spec, now),
            )
        if card_id is not None:
            _usable_card(uow, owner, card_id)
            values["card_id"] = card_id
        if status is not None and status is not rule.status:
            check_rule_transition(rule.status, status)
            if status is RuleStatus.ACTIVE:
                chosen_card = card_id if card_id is not None else rule.card_id
                if chosen_card is None:
                    raise CardNotUsable("link a card first")
                _usable_card(uow, owner, chosen_card)
                values.update(consecutive_declines=0, armed=True, rearm_at=None)
                values.update(_schedule_fields(new_spec, now))
            values["status"] = status.value
        if not values:
            return rule
        rules_of(uow).update_rule(rule.id, now, **values)
        what = describe_spec(new_spec)
        if status is RuleStatus.PAUSED:
            what = "пауза"
        _audit(uow, rule.id, owner, "autopay.rule_changed", actor, spec=what)
        notify(uow, owner, "rule_changed", target=rule.target_msisdn, what=what)
        updated = rules_of(uow).rule(rule.id)
        uow.commit()
    assert updated is not None
    return updated


def delete_rule(db: Database, *, owner_msisdn: str, rule_id: int, actor: str | None = None) -> Rule:
    owner = parse_msisdn(owner_msisdn)
    with db.uow() as uow:
        rule = _owned_rule(uow, owner, rule_id)
        now = uow.clock.now()
        rules_of(uow).update_rule(rule.id, now, status=RuleStatus.DELETED.value, armed=False)
        _audit(uow, rule.id, owner, "autopay.rule_deleted", actor)
        notify(uow, owner, "rule_changed", target=rule.target_msisdn, what="отключено")
        uow.commit()
    return replace(rule, status=RuleStatus.DELETED, armed=False)


def _audit(
    uow: UnitOfWork, rule_id: int, owner: str, action: str, actor: str | None, **details: object
) -> None:
    uow.audit.record(
        at=uow.clock.now(),
        actor=actor or f"subscriber:{owner}",
        action=action,
        subject=f"autopay_rule:{rule_id}",
        details={"owner": owner, **{k: str(v) for k, v in details.items()}},
    )


# -- hooks: ledger movement, card events ------------------------------------------------------
def on_balance_moved(uow: UnitOfWork, net_by_account: Mapping[int, Tiyn]) -> None:
    """Ledger after-record hook: fire threshold rules this movement took to or below their
    threshold. One indexed query on the accounts that moved down; no acquirer call.

    A rule fires when the balance crossed the threshold in this movement (it was above before)
    or when it is *armed* (just created, re-armed after a decline or the next day after the
    daily cap). Firing disarms it, so further debits below the threshold do not fire again: at
    most once per crossing. Debits of one account are serialised by its row lock, so two
    concurrent debits cannot both see the crossing.
    """
    down = {account: delta for account, delta in net_by_account.items() if delta < 0}
    if not down:
        return
    repo = rules_of(uow)
    fired: list[tuple[int, int]] = []
    for rule_id, account_id, armed, limit, balance, amount in repo.threshold_rules_at_or_below(
        list(down)
    ):
        crossed = balance - down[account_id] > limit
        if not (armed or crossed):
            continue
        crossing = repo.fire(rule_id)
        trigger_id = repo.insert_trigger(
            rule_id=rule_id, due_key=f"threshold:{crossing}", amount=amount, now=uow.clock.now()
        )
        fired.append((rule_id, trigger_id))
    if fired:
        dispatch.kick(uow.connection.engine, fired)


def on_card_linked(uow: UnitOfWork, card: Card) -> None:
    """Complete rules that waited for a card (created by USSD)."""
    repo = rules_of(uow)
    now = uow.clock.now()
    for rule in repo.rules_of(card.owner_msisdn):
        if rule.status is RuleStatus.PENDING_CARD:
            repo.update_rule(rule.id, now, card_id=card.id, status=RuleStatus.ACTIVE.value)
            _audit(uow, rule.id, card.owner_msisdn, "autopay.rule_completed", None, card=card.label)
            notify(
                uow,
                card.owner_msisdn,
                "rule_created",
                target=rule.target_msisdn,
                what=describe_spec(rule.spec),
            )


def on_card_removed(uow: UnitOfWork, card: Card) -> None:
    """Pause rules paying from a removed card."""
    repo = rules_of(uow)
    now = uow.clock.now()
    for rule in repo.rules_with_card(card.id, [RuleStatus.ACTIVE, RuleStatus.STOPPED]):
        repo.update_rule(rule.id, now, status=RuleStatus.PAUSED.value)
        _audit(uow, rule.id, card.owner_msisdn, "autopay.rule_paused", None, reason="card removed")
        notify(uow, card.owner_msisdn, "rule_changed", target=rule.target_msisdn, what="пауза")


def on_payment_resolved(uow: UnitOfWork, payment: CardPayment) -> None:
    """Bookkeeping of an automatic payment's outcome: counters, stop after N declines, SMS."""
    if payment.initiator is not Initiator.AUTO:
        return
    repo = rules_of(uow)
    trigger = repo.trigger_of_payment(payment.id)
    if trigger is None:
        return
    rule = repo.rule(int(trigger["rule_id"]), lock=True)
    assert rule is not None
    now = uow.clock.now()
    card = cards.cards_of(uow).card(payment.card_id)
    label = card.label if card else "?"
    if payment.status is CardPaymentStatus.CAPTURED:
        repo.update_trigger(int(trigger["id"]), now, status=TriggerStatus.SUCCEEDED.value)
        repo.update_rule(rule.id, now, consecutive_declines=0)
        notify(
            uow,
            rule.owner_msisdn,
            "charged",
            amount=money(payment.amount),
            card=label,
            target=payment.target_msisdn,
        )
        return
    repo.update_trigger(
        int(trigger["id"]), now, status=TriggerStatus.DECLINED.value, reason=payment.reason[:200]
    )
    declines = rule.consecutive_declines + 1
    values: dict[str, object] = {"consecutive_declines": declines}
    if rule.kind is RuleKind.THRESHOLD:
        values["armed"] = True  # the next debit below the threshold tries again
    limit = autopay_settings().max_consecutive_declines
    if declines >= limit and rule.status is RuleStatus.ACTIVE:
        values["status"] = RuleStatus.STOPPED.value
        values["armed"] = False
        repo.update_rule(rule.id, now, **values)
        _audit(uow, rule.id, rule.owner_msisdn, "autopay.rule_stopped", "system:autopay")
        notify(uow, rule.owner_msisdn, "stopped", target=rule.target_msisdn, count=declines)
        return
    repo.update_rule(rule.id, now, **values)
    notify(
        uow,
        rule.owner_msisdn,
        "declined",
        amount=money(payment.amount),
        card=label,
        target=payment.target_msisdn,
    )


# -- triggers → card payments -----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TriggerOutcome:
    trigger_id: int
    status: TriggerStatus
    payment: CardPayment | None = None
    reason: str = ""


def process_trigger(
    db: Database, acquirer: Acquirer, trigger_id: int, rule_id: int | None = None
) -> TriggerOutcome | None:
    """Turn a pending trigger into a card payment and charge it (once, however many callers).

    The rule row is locked first: when called right after a debit recorded the trigger, this
    waits for that debit's transaction to end. Returns None if there is no such trigger.
    """
    settings = autopay_settings()
    with db.uow() as uow:
        repo = rules_of(uow)
        if rule_id is not None:
            repo.rule(rule_id, lock=True)
        trigger = repo.trigger(trigger_id, lock=True)
        if trigger is None:
            return None
        status = TriggerStatus(trigger["status"])
        if status is not TriggerStatus.PENDING:
            payment_id = trigger["card_payment_id"]
            uow.commit()
            if status is TriggerStatus.CHARGING and payment_id is not None:
                payment = cards.execute_card_payment(db, acquirer, int(payment_id))
                return TriggerOutcome(trigger_id, status, payment)
            return TriggerOutcome(trigger_id, status)
        rule = repo.rule(int(trigger["rule_id"]), lock=True)
        assert rule is not None
        now = uow.clock.now()
        if rule.status is not RuleStatus.ACTIVE or rule.card_id is None:
            return _skip(uow, trigger_id, f"rule is {rule.status.value}")
        card = cards.cards_of(uow).card(rule.card_id, lock=True)  # serialises the cap count
        if card is None or card.status is not CardStatus.ACTIVE or card.expired(now):
            return _skip(uow, trigger_id, "card removed or expired")
        amount = int(trigger["amount"])
        count, total = cards.cards_of(uow).automatic_since(
            rule.owner_msisdn, local_day_start(now, settings.zone)
        )
        if (
            count >= settings.max_charges_per_day
            or total + amount > settings.max_amount_per_day_tiyn
        ):
            tomorrow = local_day_start(now, settings.zone) + timedelta(days=1, hours=1)
            repo.update_rule(rule.id, now, rearm_at=tomorrow.astimezone(now.tzinfo))
            notify(uow, rule.owner_msisdn, "capped", target=rule.target_msisdn)
            return _skip(uow, trigger_id, "daily cap reached")
        try:
            payment = cards.create_card_payment(
                uow,
                card_id=card.id,
                owner_msisdn=rule.owner_msisdn,
                target_msisdn=rule.target_msisdn,
                amount=amount,
                initiator=Initiator.AUTO,
                idempotency_key=f"autopay:trigger:{trigger_id}",
                limits=cards.card_settings().limits,
            )
        except AbonentError as exc:
            return _skip(uow, trigger_id, exc.message)
        repo.update_trigger(
            trigger_id, now, status=TriggerStatus.CHARGING.value, card_payment_id=payment.id
        )
        uow.commit()
    result = cards.execute_card_payment(db, acquirer, payment.id)
    return TriggerOutcome(trigger_id, TriggerStatus.CHARGING, result)


def _skip(uow: UnitOfWork, trigger_id: int, reason: str) -> TriggerOutcome:
    rules_of(uow).update_trigger(
        trigger_id, uow.clock.now(), status=TriggerStatus.SKIPPED.value, reason=reason[:200]
    )
    uow.commit()
    log.info("autopay.trigger_skipped", trigger_id=trigger_id, reason=reason)
    return TriggerOutcome(trigger_id, TriggerStatus.SKIPPED, reason=reason)


def triggers_of_rule(db: Database, rule_id: int) -> list[dict[str, object]]:
    with db.reading() as uow:
        return rules_of(uow).triggers_of(rule_id)
