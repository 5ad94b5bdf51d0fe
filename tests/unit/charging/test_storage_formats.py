"""The charging repository's fast conversions store what SQLAlchemy's column types store."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import sqlite

from abonent.charging.repository import _sqlite_moment
from abonent.charging.tables import usage_records


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 2, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 2, 1, 5, 30, 0, 1, tzinfo=ZoneInfo("Asia/Almaty")),
        datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
    ],
)
def test_a_moment_is_stored_in_sqlite_as_the_column_type_stores_it(moment: datetime) -> None:
    dialect = sqlite.dialect()
    column_type = usage_records.c.started_at.type.dialect_impl(dialect)
    processor = column_type.bind_processor(dialect)
    assert processor is not None
    assert _sqlite_moment(moment) == processor(moment)


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        _sqlite_moment(datetime(2026, 2, 1))
