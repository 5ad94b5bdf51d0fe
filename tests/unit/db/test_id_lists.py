"""An ``IdListQuery`` has one fixed text per dialect and passes the whole list as one parameter."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from abonent.db.bulk_rows import json_text
from abonent.db.id_lists import IdListQuery

_things = sa.Table(
    "things",
    sa.MetaData(),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("code", sa.String(8)),
)

# Engines are created without connecting: only their dialects are used.
_SQLITE = sa.create_engine("sqlite://").dialect
_POSTGRESQL = sa.create_engine("postgresql+psycopg://").dialect


def test_sqlite_reads_the_ids_from_one_json_array() -> None:
    query = IdListQuery.of("SELECT id FROM things WHERE {in_list}", _things.c.id, lock=True)
    text, params = query.text_and_params(_SQLITE, [3, 1, 2])
    assert text == "SELECT id FROM things WHERE things.id IN (SELECT value FROM json_each(?))"
    assert params == ("[3, 1, 2]",)


def test_postgresql_compares_with_one_array_and_locks_when_asked() -> None:
    query = IdListQuery.of("SELECT id FROM things WHERE {in_list}", _things.c.id, lock=True)
    text, params = query.text_and_params(_POSTGRESQL, (n for n in (3, 1)))
    assert text == "SELECT id FROM things WHERE things.id = ANY(%b::bigint[]) FOR UPDATE"
    assert params == ([3, 1],)


def test_text_values_are_sent_as_text_not_cut_to_the_column_length() -> None:
    query = IdListQuery.of("SELECT id FROM things WHERE {in_list}", _things.c.code)
    text, params = query.text_and_params(_POSTGRESQL, ["a-very-long-code"])
    assert text == "SELECT id FROM things WHERE things.code = ANY(%b::text[])"
    assert params == (["a-very-long-code"],)
    sqlite_text, sqlite_params = query.text_and_params(_SQLITE, ["a", 'b"'])
    assert json.loads(sqlite_params[0]) == ["a", 'b"']
    assert "FOR UPDATE" not in sqlite_text


def test_the_list_must_be_the_only_parameter() -> None:
    with pytest.raises(ValueError, match="only parameter"):
        IdListQuery.of("SELECT id FROM things WHERE {in_list} AND code = ?", _things.c.id)


def test_no_index_keeps_a_condition_off_sqlite_indexes_and_is_nothing_on_postgresql() -> None:
    query = IdListQuery.of(
        "SELECT id FROM things WHERE {in_list} AND {no_index}code = 'x'", _things.c.id
    )
    assert query.sqlite.endswith(" AND +code = 'x'")
    assert query.postgresql.endswith(" AND code = 'x'")


@pytest.mark.parametrize(
    "value",
    [
        [3, 1, 2],
        ["+77070000001", 'a "quoted" \\ text', "Баланс ₸"],
        [],
        {"to": "x", "n": [1.5, None, True, False, {"deep": [[]]}]},
        {},
    ],
)
def test_json_text_is_what_json_dumps_writes(value: list[object] | dict[str, object]) -> None:
    assert json_text(value) == json.dumps(value)  # type: ignore[arg-type]


def test_json_text_refuses_what_json_dumps_refuses() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_text([object()])
