"""ledger: reverses_id unique only where set; accounts keep room in their pages

The table-level UNIQUE (reverses_id) gave every transaction an index entry, NULL included, so
each ledger commit wrote one more index page (one more WAL frame on SQLite) to check nothing.
A partial unique index ``WHERE reverses_id IS NOT NULL`` keeps "reversed at most once".

On PostgreSQL ``accounts`` gets fillfactor 50, so a balance update can keep its new row version
in the same page (a HOT update, no index entries); existing pages get the room as they are
rewritten.

SQLite cannot drop a table constraint, so ``ledger_transactions`` is rebuilt (copied into a new
table with the same columns and ids). Seven tables reference it: the migration environment
turns SQLite's foreign-key enforcement off (it cannot change inside a transaction) and this
migration runs ``PRAGMA foreign_key_check`` before its commit, as SQLite's documented procedure
for altering a table asks.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 05:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_NAME = "uq_ledger_transactions_reverses_id"
_SET = sa.text("reverses_id IS NOT NULL")


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("ledger_transactions", recreate="always") as batch_op:
            batch_op.drop_constraint(_NAME, type_="unique")
        _check_foreign_keys()
    else:
        op.drop_constraint(_NAME, "ledger_transactions", type_="unique")
    op.create_index(
        _NAME,
        "ledger_transactions",
        ["reverses_id"],
        unique=True,
        sqlite_where=_SET,
        postgresql_where=_SET,
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE accounts SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE accounts RESET (fillfactor)")
    op.drop_index(_NAME, table_name="ledger_transactions")
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("ledger_transactions", recreate="always") as batch_op:
            batch_op.create_unique_constraint(_NAME, ["reverses_id"])
        _check_foreign_keys()
    else:
        op.create_unique_constraint(_NAME, "ledger_transactions", ["reverses_id"])


def _check_foreign_keys() -> None:
    """SQLite: fail (rolling this migration back) if the rebuild broke any reference."""
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(
            f"foreign keys broken by the rebuild (table, rowid, parent, fk): {broken}"
        )
