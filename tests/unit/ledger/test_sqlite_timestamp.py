"""The ledger's own SQLite timestamp text is exactly what the column type would store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from abonent.ledger.repository import sqlite_timestamp
from abonent.ledger.tables import ledger_transactions

MOMENTS = [
    datetime(2026, 12, 6, 19, 41, 49, 823184, tzinfo=UTC),
    datetime(2026, 1, 1, tzinfo=UTC),  # no microseconds: still six digits
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 5, 5, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=5))),  # to UTC, 4 digits
    datetime(2026, 3, 29, 23, 30, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
]


def _column_type_text(value: datetime) -> object:
    """What SQLAlchemy binds for ``value`` in ``created_at`` on SQLite (its own processing)."""
    dialect = sqlite.dialect()
    processor = ledger_transactions.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None
    return processor(value)


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_same_text_as_the_column_type(moment: datetime) -> None:
    assert sqlite_timestamp(moment) == _column_type_text(moment)


def test_a_naive_datetime_is_refused_as_the_column_type_refuses_it() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_timestamp(datetime(2026, 1, 1))


def test_timestamps_in_one_second_and_across_seconds_keep_their_own_text() -> None:
    # The text of the last second is reused: every moment still gets exactly its own.
    start = datetime(2026, 12, 31, 23, 59, 58, 999_998, tzinfo=UTC)
    moments = [start + timedelta(microseconds=n) for n in range(5)]
    moments += [start + timedelta(seconds=1, microseconds=1), start, start + timedelta(days=1)]
    moments.append(moments[-1].astimezone(timezone(timedelta(hours=5))))
    for moment in moments:
        assert sqlite_timestamp(moment) == _column_type_text(moment)


def test_the_last_second_of_time_has_no_next_second_and_still_works() -> None:
    last = datetime.max.replace(tzinfo=UTC)
    for moment in (last, last - timedelta(microseconds=1), last - timedelta(seconds=1)):
        assert sqlite_timestamp(moment) == _column_type_text(moment)
