"""Statements that ask about a list of ids, with fixed text and the whole list as one parameter.

SQLAlchemy renders an expanding ``IN`` anew on every call (one placeholder per value), which on
the hot paths (hooks run for every group of top-ups) cost more than the query itself. An
``IdListQuery`` keeps one text per dialect and passes the list as a single parameter: a JSON
array read by ``json_each`` on SQLite, an array compared with ``= ANY`` on PostgreSQL.

SQLite plans without statistics here and guesses that ``IN (SELECT ...)`` yields 25 values, so
with another indexed condition in the statement (``status = 'active'``) it may pick that index
and read every row it covers, on every call. Templates write ``{no_index}`` before such a
column: SQLite's unary ``+``, which keeps a condition off indexes; nothing on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from abonent.db.bulk_rows import json_text, run_on_driver

# The PostgreSQL array type of the parameter, by the column's Python type. Not the column's own
# type: a cast to varchar(n)[] would silently cut longer values, which could then match.
_ARRAY_TYPES = {int: "bigint[]", str: "text[]"}


@dataclass(frozen=True, slots=True)
class IdListQuery:
    """One statement about a list of values of one column, as SQLite and PostgreSQL text."""

    sqlite: str
    postgresql: str

    @classmethod
    def of(cls, template: str, column: sa.Column[Any], *, lock: bool = False) -> IdListQuery:
        """The statement ``template`` with ``{in_list}`` standing for "``column`` is one of the
        values" and ``{no_index}`` as above; it takes no other parameter. ``lock`` adds FOR
        UPDATE on PostgreSQL (SQLite locks the whole file when it writes: nothing per row)."""
        if "%" in template or "?" in template:
            raise ValueError("the list is the statement's only parameter")
        name = f"{column.table.name}.{column.name}"
        array = _ARRAY_TYPES[column.type.python_type]
        # Only names from the tables go into the text; the values are always the parameter.
        sqlite = template.format(
            in_list=f"{name} IN (SELECT value FROM json_each(?))",  # noqa: S608
            no_index="+",
        )
        # %b: the list goes as a binary array (psycopg's text format quotes each value in Python)
        postgresql = template.format(in_list=f"{name} = ANY(%b::{array})", no_index="")
        return cls(sqlite, f"{postgresql} FOR UPDATE" if lock else postgresql)

    def text_and_params(self, dialect: sa.Dialect, values: Iterable[Any]) -> tuple[str, tuple[Any]]:
        """The text for this dialect and its one parameter: the values as a list (psycopg
        sends it as an array) or, on SQLite, as a JSON array."""
        if dialect.name == "postgresql":
            return self.postgresql, (list(values),)
        return self.sqlite, (json_text(list(values)),)

    def run(self, connection: sa.Connection, values: Iterable[Any]) -> list[Sequence[Any]]:
        """Its rows as the driver gives them (no result processing: callers convert), run as
        ``bulk_rows.run_on_driver`` runs a statement: inside a transaction straight on the
        driver, else through ``exec_driver_sql``. No compilation per call either way."""
        sql, params = self.text_and_params(connection.dialect, values)
        return list(run_on_driver(connection, sql, params).fetchall())
