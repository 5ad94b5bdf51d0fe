"""Alembic environment: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import context

from abonent.db.engine import create_engine
from abonent.db.metadata import load_all_tables, schema_comparison_filter

target_metadata = load_all_tables()


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by abonent.db.migrate"
    engine = create_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys_off(connection)
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            compare_type=True,
            include_object=schema_comparison_filter(connection.dialect.name),
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()  # closes the connection: nobody else runs with foreign keys off


def _sqlite_foreign_keys_off(connection: sa.Connection) -> None:
    """Turn SQLite's foreign-key enforcement off for this migrating connection.

    Rebuilding a table that others reference (SQLite's way to alter a constraint) drops it,
    and with enforcement on, the drop deletes or fails on every reference. A migration that
    rebuilds runs ``PRAGMA foreign_key_check`` before its commit instead (SQLite's documented
    procedure). The pragma is a no-op inside a transaction, so it goes to the driver first.
    """
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    assert not driver.in_transaction, "foreign_keys cannot change inside a transaction"
    driver.execute("PRAGMA foreign_keys=OFF")


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
