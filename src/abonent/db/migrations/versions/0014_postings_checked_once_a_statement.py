"""ledger on PostgreSQL: postings' references checked once a statement; the ledger append-only

A foreign key checks each inserted row with a query of its own that also locks the referenced
row (and logs that lock). A ledger batch of 1,000 transfers inserts 2,000 postings, so 4,000
such checks: measured on 2026-12-07, 36 of the server's 78 ms of CPU a batch. Here the two
references of ``postings`` (to its transaction and to its account) become one trigger after
each INSERT statement that looks for any new posting whose account or transaction is missing
and fails the statement with SQLSTATE 23503, as the foreign key did (an ``IntegrityError``).
The lookups go through the primary keys, one probe a new posting, whatever the tables' sizes.

A foreign key's row locks also keep a referenced row from being deleted while a posting that
names it is being inserted. Nothing may delete or rewrite ledger rows anyway (corrections are
reversal transactions), so that guarantee is given by refusing every DELETE of accounts,
ledger transactions and postings, every UPDATE of postings and of a ledger transaction, and
any change of an account's id (SQLSTATE 23001). Balance updates are untouched: the account
trigger fires only for statements that set ``id``. TRUNCATE (tests resetting a database) is a
statement of its own and fires none of these.

SQLite keeps its foreign keys: there a check is a lookup in pages the commit holds in
memory, with no row lock or log record of its own.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# (constraint, column, referred table) as the naming convention named them in 0001.
_FOREIGN_KEYS = (
    ("fk_postings_transaction_id_ledger_transactions", "transaction_id", "ledger_transactions"),
    ("fk_postings_account_id_accounts", "account_id", "accounts"),
)

# One statement each: a driver may refuse several statements in one call.
# ``OFFSET 0`` keeps each NOT EXISTS a subplan probed through the primary key once a new row
# (≈ 0.8 µs a probe; 3 ms for a batch of 2,000 postings). Without it the planner may hash the
# whole referenced table instead: with a small batch over a large ledger, a sequential scan of
# every stored transaction each statement (it did so with 4,772 stored: 0.85 ms a statement).
_CHECK_REFERENCES = (
    """CREATE FUNCTION postings_references_exist() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT FROM new_postings AS p
        WHERE NOT EXISTS (SELECT FROM accounts AS a WHERE a.id = p.account_id OFFSET 0)
           OR NOT EXISTS (
               SELECT FROM ledger_transactions AS t WHERE t.id = p.transaction_id OFFSET 0
           )
    ) THEN
        RAISE foreign_key_violation
            USING MESSAGE = 'postings: a new posting names an account or a transaction'
                            ' that does not exist';
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER postings_references_exist"
    " AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings"
    " FOR EACH STATEMENT EXECUTE FUNCTION postings_references_exist()",
)

_APPEND_ONLY = (
    """CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE restrict_violation
        USING MESSAGE = TG_TABLE_NAME || ': the ledger is append-only (' || TG_OP || ' refused)';
END $$""",
    "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON postings"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger_transactions"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_append_only BEFORE DELETE ON accounts"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
    "CREATE TRIGGER ledger_append_only_id BEFORE UPDATE OF id ON accounts"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only()",
)

_DROP = (
    "DROP TRIGGER ledger_append_only_id ON accounts",
    "DROP TRIGGER ledger_append_only ON accounts",
    "DROP TRIGGER ledger_append_only ON ledger_transactions",
    "DROP TRIGGER ledger_append_only ON postings",
    "DROP FUNCTION ledger_append_only()",
    "DROP TRIGGER postings_references_exist ON postings",
    "DROP FUNCTION postings_references_exist()",
)


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for name, _, _ in _FOREIGN_KEYS:
        op.drop_constraint(name, "postings", type_="foreignkey")
    for statement in (*_CHECK_REFERENCES, *_APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for statement in _DROP:
        op.execute(statement)
    for name, column, referred in _FOREIGN_KEYS:
        op.create_foreign_key(name, "postings", referred, [column], ["id"])
