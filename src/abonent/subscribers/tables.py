from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import BigIntPK, UtcDateTime

brands = Table(
    "brands",
    metadata,
    Column("code", String(20), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("home", Boolean, nullable=False),
)

number_prefixes = Table(
    "number_prefixes",
    metadata,
    Column("prefix", String(3), primary_key=True),
    Column("brand_code", String(20), ForeignKey("brands.code"), nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", BigIntPK, primary_key=True, autoincrement=True),
    Column("msisdn", String(16), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("iin", String(12), nullable=True),
    Column("language", String(2), nullable=False),
    Column("payment_type", String(10), nullable=False),
    Column("status", String(12), nullable=False),
    # The number's brand; set from the prefix table unless ported (then given explicitly).
    Column("brand_code", String(20), ForeignKey("brands.code"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, unique=True),
    Column("email", String(320), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("status_changed_at", UtcDateTime, nullable=False),
    Index("ix_subscribers_iin", "iin"),
)
