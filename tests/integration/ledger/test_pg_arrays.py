"""The ledger's own binary encoding of array parameters must reach PostgreSQL unchanged."""

from __future__ import annotations

import pytest

from abonent.db.uow import Database
from abonent.ledger.repository import _Int8Array, _TextArray

pytestmark = pytest.mark.postgres_only


def test_int_and_text_arrays_arrive_as_sent(pg_db: Database) -> None:
    ints = [0, 1, -1, 2**63 - 1, -(2**63), 123_456_789_012]
    texts = ["", "plain", "ключ-ё", 'a,b "c" {d}', "x" * 300]
    with pg_db.reading() as uow:
        uow.ledger._pg_arrays()
        row = uow.connection.exec_driver_sql(
            "SELECT %b::bigint[], %b::bigint[], %b::bigint[], %b::text[], %b::text[]",
            (
                _Int8Array(ints),
                _Int8Array([None, 7, None]),
                _Int8Array([]),
                _TextArray(texts),
                _TextArray([]),
            ),
        ).one()
    assert list(row) == [ints, [None, 7, None], [], texts, []]


def test_an_int_beyond_64_bits_is_refused_before_sending(pg_db: Database) -> None:
    with pg_db.reading() as uow:
        uow.ledger._pg_arrays()
        with pytest.raises(OverflowError):
            uow.connection.exec_driver_sql("SELECT %b::bigint[]", (_Int8Array([2**63]),))
