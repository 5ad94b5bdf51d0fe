from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abonent.autopay.domain import (
    Period,
    RuleKind,
    RuleSpec,
    RuleStatus,
    check_rule_transition,
    next_schedule_run,
    renewal_amount,
    schedule_dates_after,
)
from abonent.core.errors import InvalidStatusTransition, ValidationError

ALMATY = ZoneInfo("Asia/Almaty")


def test_monthly_31st_falls_on_the_last_day_of_shorter_months() -> None:
    runs = []
    current = date(2026, 1, 1)
    for _ in range(14):
        current = schedule_dates_after(Period.MONTHLY, 31, current)
        runs.append(current.isoformat())
    assert runs[:5] == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    assert "2027-02-28" in runs


def test_monthly_29th_in_a_leap_year() -> None:
    assert schedule_dates_after(Period.MONTHLY, 29, date(2028, 1, 29)) == date(2028, 2, 29)
    assert schedule_dates_after(Period.MONTHLY, 30, date(2028, 2, 29)) == date(2028, 3, 30)


def test_weekly_and_daily() -> None:
    thursday = date(2026, 1, 15)
    assert schedule_dates_after(Period.WEEKLY, 1, thursday) == date(2026, 1, 19)
    assert schedule_dates_after(Period.WEEKLY, 4, thursday) == date(2026, 1, 22)
    assert schedule_dates_after(Period.DAILY, None, thursday) == date(2026, 1, 16)


def test_next_run_is_at_the_local_hour_strictly_after() -> None:
    before = datetime(2026, 1, 31, 4, tzinfo=UTC)  # 09:00 in Almaty
    assert next_schedule_run(Period.MONTHLY, 31, before, ALMATY, 10) == datetime(
        2026, 1, 31, 10, tzinfo=ALMATY
    )
    at = datetime(2026, 1, 31, 10, tzinfo=ALMATY)
    assert next_schedule_run(Period.MONTHLY, 31, at, ALMATY, 10) == datetime(
        2026, 2, 28, 10, tzinfo=ALMATY
    )


@given(
    day=st.integers(min_value=1, max_value=31),
    start=st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)),
)
def test_monthly_runs_once_a_month_on_the_day_or_the_month_end(day: int, start: date) -> None:
    first = schedule_dates_after(Period.MONTHLY, day, start)
    second = schedule_dates_after(Period.MONTHLY, day, first)
    assert first > start and second > first
    assert (second.year * 12 + second.month) - (first.year * 12 + first.month) == 1
    for run in (first, second):
        nxt = date.fromordinal(run.toordinal() + 1)
        assert run.day == day or (run.day < day and nxt.day == 1)


def test_renewal_amount() -> None:
    assert renewal_amount(None, 299_000, 1_000, 10_000) == 298_000
    assert renewal_amount(None, 299_000, 295_000, 10_000) == 10_000  # at least the card minimum
    assert renewal_amount(500_000, 299_000, 0, 10_000) == 500_000
    assert renewal_amount(None, 299_000, 299_000, 10_000) is None


@pytest.mark.parametrize(
    "spec",
    [
        RuleSpec(RuleKind.THRESHOLD, amount=100),
        RuleSpec(RuleKind.THRESHOLD, threshold=100),
        RuleSpec(RuleKind.THRESHOLD, amount=100, threshold=-5),
        RuleSpec(RuleKind.THRESHOLD, amount=1.5, threshold=5),  # type: ignore[arg-type]
        RuleSpec(RuleKind.SCHEDULE, amount=100),
        RuleSpec(RuleKind.SCHEDULE, amount=100, period=Period.MONTHLY),
        RuleSpec(RuleKind.SCHEDULE, amount=100, period=Period.WEEKLY, day=8),
        RuleSpec(RuleKind.RENEWAL, amount=-1),
    ],
)
def test_invalid_specs_are_refused(spec: RuleSpec) -> None:
    with pytest.raises(ValidationError):
        spec.validate()


def test_rule_lifecycle() -> None:
    check_rule_transition(RuleStatus.PENDING_CARD, RuleStatus.ACTIVE)
    check_rule_transition(RuleStatus.STOPPED, RuleStatus.ACTIVE)
    with pytest.raises(InvalidStatusTransition):
        check_rule_transition(RuleStatus.DELETED, RuleStatus.ACTIVE)
    with pytest.raises(InvalidStatusTransition):
        check_rule_transition(RuleStatus.PENDING_CARD, RuleStatus.PAUSED)
