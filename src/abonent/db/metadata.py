"""The one MetaData every feature's ``tables.py`` registers its tables on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ForeignKeyConstraint, MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# ``ForeignKey(..., info=STATEMENT_CHECKED)``: on PostgreSQL the reference is not a foreign key
# but a check once a statement by a trigger its migration creates (a row-by-row foreign key
# costs a query and a row lock per row: on the ledger's postings about half of the server's time
# for a batch). SQLite keeps the declared foreign key.
STATEMENT_CHECKED = {"postgresql": "checked once a statement by a trigger"}


def schema_comparison_filter(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing the database with ``metadata``: on PostgreSQL
    the foreign keys marked ``STATEMENT_CHECKED`` are not expected in the database."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if dialect != "postgresql" or type_ != "foreign_key_constraint":
            return True
        if not isinstance(obj, ForeignKeyConstraint):
            return True
        return not any(fk.info == STATEMENT_CHECKED for fk in obj.elements)

    return include


def load_all_tables() -> MetaData:
    """Import every feature's tables so ``metadata`` is complete (for Alembic and tests)."""
    from abonent import tables_registry  # noqa: F401  (import registers tables)

    return metadata
