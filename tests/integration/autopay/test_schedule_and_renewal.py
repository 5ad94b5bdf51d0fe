"""Schedule rules on month ends and renewal rules on the last day of the tariff period, with
the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from abonent.autopay import services as autopay
from abonent.autopay.domain import Period, RuleKind, RuleSpec
from abonent.autopay.jobs import run_due
from abonent.cards.services import card_payments_of
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from tests.factories import add_subscriber
from tests.integration.autopay.support import spend, triggers
from tests.integration.cards.support import balance, link_card, sandbox

pytestmark = pytest.mark.storage

OWNER = "+77071234567"
FRIEND = "+77471234567"
ALMATY = ZoneInfo("Asia/Almaty")


def test_monthly_on_the_31st_charges_on_the_last_day_of_shorter_months(
    db: Database, clock: FrozenClock
) -> None:
    add_subscriber(db, OWNER)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=OWNER,
        card_id=card.id,
        spec=RuleSpec(RuleKind.SCHEDULE, amount=100_000, period=Period.MONTHLY, day=31),
    )
    assert rule.next_run_at == datetime(2026, 1, 31, 10, tzinfo=ALMATY)
    clock.set(datetime(2026, 1, 16, 6, tzinfo=UTC))  # 11:00 in Almaty, every day after
    for _ in range(110):
        run_due(db, acquirer=acquirer)
        clock.advance(days=1)
    charged = [
        p.created_at.astimezone(ALMATY).date().isoformat() for p in card_payments_of(db, OWNER)
    ]
    assert sorted(charged) == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]
    assert balance(db, OWNER) == 4 * 100_000
    assert audit_ledger(db).ok


def test_weekly_rule_for_a_friend_runs_once_per_week_even_if_the_job_runs_often(
    db: Database, clock: FrozenClock
) -> None:
    add_subscriber(db, OWNER)
    add_subscriber(db, FRIEND)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=FRIEND,
        card_id=card.id,
        spec=RuleSpec(RuleKind.SCHEDULE, amount=50_000, period=Period.WEEKLY, day=1),
    )
    for _ in range(15 * 4):  # 15 days, every 6 hours
        clock.advance(hours=6)
        run_due(db, acquirer=acquirer)
    dates = sorted(p.created_at.astimezone(ALMATY).date() for p in card_payments_of(db, OWNER))
    assert [d.isoformat() for d in dates] == ["2026-01-19", "2026-01-26"]  # Mondays
    assert len(triggers(db, rule.id)) == 2
    assert balance(db, FRIEND) == 100_000


def _provider(end: datetime, fee: int):  # type: ignore[no-untyped-def]
    def current_period(_db: Database, _msisdn: str) -> tuple[datetime, datetime, int]:
        return end - timedelta(days=30), end, fee

    return current_period


def test_renewal_rule_charges_on_the_last_day_once_and_only_what_is_missing(
    db: Database, clock: FrozenClock
) -> None:
    add_subscriber(db, OWNER, balance=50_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=OWNER,
        card_id=card.id,
        spec=RuleSpec(RuleKind.RENEWAL),
    )
    end = datetime(2026, 1, 20, 9, tzinfo=UTC)
    provider = _provider(end, 299_000)
    clock.set(datetime(2026, 1, 18, 12, tzinfo=UTC))
    run_due(db, acquirer=acquirer, period_provider=provider)
    assert triggers(db, rule.id) == []  # not the last day yet
    clock.set(datetime(2026, 1, 19, 10, tzinfo=UTC))
    run_due(db, acquirer=acquirer, period_provider=provider)
    run_due(db, acquirer=acquirer, period_provider=provider)
    assert balance(db, OWNER) == 299_000  # 500 ₸ + 2490 ₸ charged, once
    spend(db, OWNER, 1_000)
    run_due(db, acquirer=acquirer, period_provider=provider)
    assert len(triggers(db, rule.id)) == 1  # once per period


def test_renewal_rule_does_nothing_when_the_balance_covers_the_fee(
    db: Database, clock: FrozenClock
) -> None:
    add_subscriber(db, OWNER, balance=400_000)
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    rule = autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=OWNER,
        card_id=card.id,
        spec=RuleSpec(RuleKind.RENEWAL, amount=100_000),
    )
    clock.set(datetime(2026, 1, 19, 10, tzinfo=UTC))
    run_due(
        db,
        acquirer=acquirer,
        period_provider=_provider(datetime(2026, 1, 20, 9, tzinfo=UTC), 299_000),
    )
    assert triggers(db, rule.id) == [] and balance(db, OWNER) == 400_000


def test_renewal_day_charge_then_the_tariff_renews(db: Database, clock: FrozenClock) -> None:
    """With the charging feature: the card tops up on the last day and the renewal succeeds."""
    charging = pytest.importorskip("abonent.charging.services")
    from tests.integration.charging.support import load_test_catalogue

    load_test_catalogue(db)
    add_subscriber(db, OWNER, balance=300_000)
    charging.change_tariff(db, OWNER, "MONTH", actor="test")  # 2990 ₸ a month
    assert balance(db, OWNER) == 1_000
    period = charging.current_period(db, OWNER)
    assert period is not None
    _start, end, fee = period
    acquirer = sandbox(db)
    card = link_card(db, acquirer, OWNER)
    autopay.create_rule(
        db,
        owner_msisdn=OWNER,
        target_msisdn=OWNER,
        card_id=card.id,
        spec=RuleSpec(RuleKind.RENEWAL),
    )
    clock.set(end - timedelta(hours=20))
    run_due(db, acquirer=acquirer)  # the real charging.current_period
    assert balance(db, OWNER) == fee
    clock.set(end + timedelta(minutes=1))
    report = charging.run_renewals(db, clock.now())
    assert (report.renewed, report.lapsed) == (1, 0)
    assert balance(db, OWNER) == 0
    renewed = charging.current_period(db, OWNER)
    assert renewed is not None and renewed[0] == end
    assert audit_ledger(db).ok
