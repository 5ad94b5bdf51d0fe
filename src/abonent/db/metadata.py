"""The one MetaData every feature's ``tables.py`` registers its tables on."""

from __future__ import annotations

from sqlalchemy import MetaData

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def load_all_tables() -> MetaData:
    """Import every feature's tables so ``metadata`` is complete (for Alembic and tests)."""
    from abonent import tables_registry  # noqa: F401  (import registers tables)

    return metadata
