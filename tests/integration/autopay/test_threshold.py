"""Threshold rules fire from the ledger movement that crossed the threshold, once per crossing,
within a daily cap, and stop after N consecutive declines (the owner is told by SMS)."""

from __future__ import annotations

import threading

import pytest

from abonent.autopay import dispatch
from abonent.autopay import services as autopay
from abonent.autopay.domain import AutopayNotAllowed, RuleStatus, TriggerStatus
from abonent.autopay.jobs import run_due
from abonent.cards.domain import CardPaymentStatus
from abonent.cards.services import card_payments_of
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.ledger.services import audit_ledger
from tests.factories import add_subscriber, system_account
from tests.integration.autopay.support import (
    process_pending,
    spend,
    statuses,
    threshold,
    triggers,
)
from tests.integration.cards.support import (
    DECLINE_CARD,
    balance,
    link_card,
    sandbox,
    sms_to,
)

pytestmark = pytest.mark.storage

OWNER = "+77071234567"
FRIEND = "+77471234567"


def test_threshold_fires_once_per_crossing_and_rearms_above(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    spend(db, OWNER, 30_000)  # 200 ₸ left: above 100 ₸
    assert triggers(db, rule.id) == []
    spend(db, OWNER, 15_000)  # 50 ₸: crossed
    spend(db, OWNER, 1_000)  # still below: the same crossing
    assert statuses(db, rule.id) == [TriggerStatus.PENDING]
    run_due(db, acquirer=acquirer)
    assert statuses(db, rule.id) == [TriggerStatus.SUCCEEDED]
    assert balance(db, OWNER) == 4_000 + 200_000
    spend(db, OWNER, 195_000)  # back to 90 ₸: a second crossing
    assert statuses(db, rule.id) == [TriggerStatus.SUCCEEDED, TriggerStatus.PENDING]
    run_due(db, acquirer=acquirer)
    assert balance(db, OWNER) == 9_000 + 200_000
    assert sum("Автопополнение: 2000.00" in text for text in sms_to(db, OWNER)) == 2
    assert audit_ledger(db).ok


def test_instant_dispatch_charges_right_after_the_debit_commits(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    dispatcher = dispatch.register(
        db.engine,
        lambda rule_id, trigger_id: autopay.process_trigger(db, acquirer, trigger_id, rule_id),
    )
    try:
        spend(db, OWNER, 45_000)
        dispatcher.drain()  # no job ran: the debit itself set the charge off
    finally:
        dispatch.unregister(db.engine)
    assert balance(db, OWNER) == 5_000 + 200_000


def test_a_debit_that_rolls_back_fires_nothing(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    revenue = system_account(db, AccountKind.REVENUE, "test")
    with db.uow() as uow:
        ledger.record(
            uow,
            transfer_request(
                kind="usage",
                source="test",
                idempotency_key="abandoned",
                debit_account_id=rule.target_account_id,
                credit_account_id=revenue,
                amount=45_000,
            ),
        )
        # no commit: the debit and its trigger vanish together
    assert triggers(db, rule.id) == []
    spend(db, OWNER, 45_000)
    assert statuses(db, rule.id) == [TriggerStatus.PENDING]


def test_friends_number_is_topped_up_from_the_owners_card(db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND, balance=20_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=FRIEND,
        card_id=card.id,
        spec=threshold(),
        channel="cabinet",
    )
    assert rule.for_friend
    assert any("подключил автопополнение" in text for text in sms_to(db, FRIEND))
    spend(db, FRIEND, 15_000)
    run_due(db, acquirer=acquirer)
    assert (balance(db, OWNER), balance(db, FRIEND)) == (0, 205_000)
    [payment] = card_payments_of(db, OWNER)
    assert payment.target_msisdn == FRIEND and payment.status is CardPaymentStatus.CAPTURED
    assert any("Автопополнение: 2000.00" in text for text in sms_to(db, OWNER))


def test_threshold_rules_are_for_prepaid_numbers_only(db: Database) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND, postpaid=True)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    with pytest.raises(AutopayNotAllowed):
        autopay.create_rule(
            db, owner_msisdn=OWNER, target_msisdn=FRIEND, card_id=card.id, spec=threshold()
        )
    assert autopay.list_rules(db, OWNER) == []


def test_daily_cap_skips_then_rearms_the_next_day(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, OWNER, balance=20_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    for _ in range(4):  # the default cap is 3 automatic charges a day
        spend(db, OWNER, balance(db, OWNER) - 5_000)
        process_pending(db, acquirer)
    assert statuses(db, rule.id) == [TriggerStatus.SUCCEEDED] * 3 + [TriggerStatus.SKIPPED]
    assert balance(db, OWNER) == 5_000
    assert any("лимит" in text for text in sms_to(db, OWNER))
    spend(db, OWNER, 1_000)
    assert len(triggers(db, rule.id)) == 4  # disarmed until tomorrow
    clock.advance(days=1)
    run_due(db, acquirer=acquirer)  # re-arms
    spend(db, OWNER, 1_000)
    run_due(db, acquirer=acquirer)
    assert statuses(db, rule.id)[-1] is TriggerStatus.SUCCEEDED
    assert balance(db, OWNER) == 3_000 + 200_000
    assert audit_ledger(db).ok


def test_stops_after_consecutive_declines_and_tells_the_owner(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER, DECLINE_CARD)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    spend(db, OWNER, 45_000)
    for _ in range(4):
        run_due(db, acquirer=acquirer)
        spend(db, OWNER, 100)  # re-armed after a decline: the next debit tries again
    assert statuses(db, rule.id) == [TriggerStatus.DECLINED] * 3
    [stopped] = autopay.list_rules(db, OWNER)
    assert stopped.status is RuleStatus.STOPPED and stopped.consecutive_declines == 3
    texts = sms_to(db, OWNER)
    assert sum("не прошло" in t for t in texts) == 2
    assert any("остановлено после 3" in t for t in texts)
    assert balance(db, OWNER) == 50_000 - 45_000 - 400
    resumed = autopay.update_rule(db, owner_msisdn=OWNER, rule_id=rule.id, status=RuleStatus.ACTIVE)
    assert resumed.consecutive_declines == 0 and resumed.armed


def test_ussd_pending_rule_is_completed_when_the_owner_links_a_card(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    add_subscriber(db, FRIEND, balance=50_000)
    pending = autopay.create_pending_rule(
        db, owner_msisdn="87071234567", target_msisdn="7471234567", channel="ussd"
    )
    assert pending.status is RuleStatus.PENDING_CARD and pending.created
    assert (pending.threshold, pending.amount) == (10_000, 200_000)
    again = autopay.create_pending_rule(
        db, owner_msisdn=OWNER, target_msisdn=FRIEND, channel="ussd"
    )
    assert again.id == pending.id and not again.created
    assert any("привяжите карту" in text for text in sms_to(db, OWNER))
    spend(db, FRIEND, 45_000)  # no card yet: nothing fires
    assert triggers(db, pending.id) == []
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    [rule] = autopay.list_rules(db, OWNER)
    assert rule.status is RuleStatus.ACTIVE and rule.card_id == card.id
    spend(db, FRIEND, 100)
    run_due(db, acquirer=acquirer)
    assert balance(db, FRIEND) == 4_900 + 200_000


def test_removing_the_card_pauses_its_rules(db: Database) -> None:
    from abonent.cards.services import remove_card

    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    remove_card(db, owner_msisdn=OWNER, card_id=card.id, actor="test")
    [paused] = autopay.list_rules(db, OWNER)
    assert paused.status is RuleStatus.PAUSED
    spend(db, OWNER, 45_000)
    assert triggers(db, rule.id) == []


@pytest.mark.postgres_only
def test_racing_debits_fire_one_trigger_and_racing_workers_charge_once(pg_db: Database) -> None:
    db = pg_db
    add_subscriber(db, OWNER, balance=100_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    system_account(db, AccountKind.REVENUE, "test")  # the debits' counter-account exists
    barrier = threading.Barrier(6)

    def debit() -> None:
        barrier.wait()
        spend(db, OWNER, 15_000)

    threads = [threading.Thread(target=debit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [trigger] = triggers(db, rule.id)
    workers = threading.Barrier(6)

    def work() -> None:
        workers.wait()
        autopay.process_trigger(db, acquirer, int(str(trigger["id"])), rule.id)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    [payment] = card_payments_of(db, OWNER)
    assert acquirer.captured_count(payment.operation_id) == 1
    assert balance(db, OWNER) == 10_000 + 200_000
    assert audit_ledger(db).ok


def test_invalid_rule_input_is_refused_and_nothing_changes(db: Database) -> None:
    from abonent.autopay.domain import Period, RuleKind, RuleSpec
    from abonent.core.errors import AbonentError

    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    bad = [
        RuleSpec(RuleKind.THRESHOLD, amount=200_000),
        RuleSpec(RuleKind.THRESHOLD, amount=200_000, threshold=-1),
        RuleSpec(RuleKind.THRESHOLD, amount=1, threshold=100),  # below the card minimum
        RuleSpec(RuleKind.SCHEDULE, amount=200_000, period=Period.MONTHLY, day=32),
        RuleSpec(RuleKind.SCHEDULE, amount=200_000, period=Period.WEEKLY, day=0),
        RuleSpec(RuleKind.SCHEDULE, amount=0, period=Period.DAILY),
    ]
    for spec in bad:
        with pytest.raises(AbonentError):
            autopay.create_rule(
                db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=spec
            )
    with pytest.raises(AbonentError):
        autopay.create_rule(
            db, owner_msisdn=OWNER, target_msisdn="+77770000000", card_id=card.id, spec=threshold()
        )
    with pytest.raises(AbonentError):
        autopay.create_rule(
            db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id + 99, spec=threshold()
        )
    assert autopay.list_rules(db, OWNER) == []


def test_paused_rule_does_not_fire_and_a_changed_rule_uses_its_new_terms(db: Database) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db, owner_msisdn=OWNER, target_msisdn=OWNER, card_id=card.id, spec=threshold()
    )
    autopay.update_rule(db, owner_msisdn=OWNER, rule_id=rule.id, status=RuleStatus.PAUSED)
    spend(db, OWNER, 45_000)
    assert triggers(db, rule.id) == []
    autopay.update_rule(
        db,
        owner_msisdn=OWNER,
        rule_id=rule.id,
        spec=threshold(amount=300_000, at=20_000),
        status=RuleStatus.ACTIVE,
    )
    spend(db, OWNER, 100)  # armed again on resume: the next debit below the threshold fires
    run_due(db, acquirer=acquirer)
    assert balance(db, OWNER) == 4_900 + 300_000
    assert any("изменено" in text for text in sms_to(db, OWNER))


def test_the_hook_query_finds_only_active_rules_at_or_below_among_many_accounts(
    db: Database,
) -> None:
    low, high, without_rule = "+77071234501", "+77071234502", "+77071234503"
    for number, money in ((low, 5_000), (high, 50_000), (without_rule, 0)):
        add_subscriber(db, number, balance=money)
    acquirer = sandbox(db)
    rules = {
        number: autopay.create_rule(
            db,
            owner_msisdn=number,
            target_msisdn=number,
            card_id=link_card(db, acquirer, number).id,
            spec=threshold(at=10_000),
        )
        for number in (low, high)
    }
    with db.reading() as uow:
        accounts = {n: uow.subscribers.by_msisdn(n) for n in (low, high, without_rule)}
        ids = [s.account_id for s in accounts.values() if s is not None]
        found = autopay.rules_of(uow).threshold_rules_at_or_below(ids)
    assert len(ids) == 3
    assert found == [(rules[low].id, ids[0], True, 10_000, 5_000, 200_000)]
