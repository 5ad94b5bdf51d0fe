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

voucher_batches = Table(
    "voucher_batches",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("nominal", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    # Per batch (set right after the batch row, in the same transaction): its balance is the
    # nominal of every active voucher, and batches do not queue on one account row.
    Column("liability_account_id", BigInteger, ForeignKey("accounts.id"), nullable=True),
    # Fingerprint of the secret key the codes were hashed with (never the key itself).
    Column("key_check", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(120), nullable=False),
    Column("activated_at", UtcDateTime, nullable=True),
    Column("blocked_at", UtcDateTime, nullable=True),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("batch_id", BigInteger, ForeignKey("voucher_batches.id"), nullable=False),
    Column("serial", Integer, nullable=False),
    # HMAC-SHA256(secret_key, code), hex. The code itself is never stored.
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("state", String(20), nullable=False),
    Column("redeemed_at", UtcDateTime, nullable=True),
    Column("redeemed_msisdn", String(16), nullable=True),
    Column("redeemed_channel", String(20), nullable=True),
    Column("redeemed_by", String(120), nullable=True),
    # The credit is the payment ("voucher", str(id)); not linked here, because updating this
    # row a second time in the redemption deadlocks with a concurrent batch block on PostgreSQL.
    UniqueConstraint("batch_id", "serial"),
    Index("ix_vouchers_batch_id_state", "batch_id", "state"),
)

# One row per number that ever entered a wrong code: the brute-force guard (row-locked).
voucher_entry_guards = Table(
    "voucher_entry_guards",
    metadata,
    Column("msisdn", String(16), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UtcDateTime, nullable=True),
    Column("locked_until", UtcDateTime, nullable=True),
)

# Every refused redemption, written in its own transaction after the redemption rolled back.
voucher_redemption_failures = Table(
    "voucher_redemption_failures",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", String(40), nullable=False),
    # Keyed hash of the code entered (correlates one code tried from many numbers), or NULL.
    Column("code_hash", String(64), nullable=True),
    Column("counted", Boolean, nullable=False),
    Index("ix_voucher_redemption_failures_msisdn_at", "msisdn", "at"),
)
