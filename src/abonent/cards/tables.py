"""Card tables. Nothing here can hold a card number or a CVV: only the acquirer's token, the
last four digits, the brand and the expiry (see the scan test in tests/integration/cards).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

cards = Table(
    "cards",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("owner_msisdn", String(16), nullable=False),
    Column("acquirer", String(30), nullable=False),
    Column("token", String(200), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("brand", String(20), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("removed_at", UtcDateTime, nullable=True),
    UniqueConstraint("owner_msisdn", "acquirer", "token"),
    Index("ix_cards_owner_msisdn_id", "owner_msisdn", "id"),
)

card_link_sessions = Table(
    "card_link_sessions",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    # Unguessable: it is the only thing the browser carries back from the acquirer's page.
    Column("session_id", String(64), nullable=False, unique=True),
    Column("owner_msisdn", String(16), nullable=False),
    Column("acquirer", String(30), nullable=False),
    Column("status", String(20), nullable=False),
    Column("card_id", BigInteger, ForeignKey("cards.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime, nullable=True),
)

card_payments = Table(
    "card_payments",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    # Our operation id: the acquirer's idempotency key and payments.external_id once credited.
    Column("operation_id", String(64), nullable=False, unique=True),
    # The caller's key ("cabinet:<uuid>", "autopay:trigger:<id>"): one payment per key.
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("card_id", BigInteger, ForeignKey("cards.id"), nullable=False),
    Column("owner_msisdn", String(16), nullable=False),
    Column("target_msisdn", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", String(20), nullable=False),
    Column("initiator", String(20), nullable=False),
    Column("acquirer", String(30), nullable=False),
    Column("acquirer_txn_id", String(100), nullable=True),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("acs_url", String(500), nullable=True),
    Column("payment_id", BigInteger, ForeignKey("payments.id"), nullable=True, unique=True),
    # Reconciler bookkeeping: how often the acquirer was asked and when to ask again.
    Column("checks", Integer, nullable=False, server_default="0"),
    Column("next_check_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_card_payments_status_next_check_at", "status", "next_check_at"),
    Index("ix_card_payments_owner_msisdn_created_at", "owner_msisdn", "created_at"),
)

# The built-in sandbox acquirer's own records (it stands for an external processor).
sandbox_acquirer_cards = Table(
    "sandbox_acquirer_cards",
    metadata,
    Column("token", String(200), primary_key=True),
    Column("last4", String(4), nullable=False),
    Column("brand", String(20), nullable=False),
    Column("exp_month", Integer, nullable=False),
    Column("exp_year", Integer, nullable=False),
    Column("scenario", String(30), nullable=False),
    Column("three_ds_done", Boolean, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
)

sandbox_acquirer_sessions = Table(
    "sandbox_acquirer_sessions",
    metadata,
    Column("session_id", String(64), primary_key=True),
    Column("return_url", String(500), nullable=False),
    Column("token", String(200), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

sandbox_acquirer_operations = Table(
    "sandbox_acquirer_operations",
    metadata,
    Column("operation_id", String(64), primary_key=True),
    Column("txn_id", String(40), nullable=False, unique=True),
    Column("token", String(200), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("state", String(20), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)
