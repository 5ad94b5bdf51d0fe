"""Catalogue storage: every loaded version (the file as parsed) and the current products."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, String, Table

from abonent.db.metadata import metadata
from abonent.db.types import UtcDateTime

catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("version", String(40), primary_key=True),
    # sha256 of the parsed catalogue: reloading the same version must bring the same content.
    Column("checksum", String(64), nullable=False),
    Column("document", JSON, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(100), nullable=False),
    # Exactly one row is current: the version in force (the last one loaded).
    Column("is_current", Boolean, nullable=False),
)

catalog_products = Table(
    "catalog_products",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("version", String(40), nullable=False),
    # False once a newer version drops the product: kept for whoever is still on it.
    Column("active", Boolean, nullable=False),
    Column("definition", JSON, nullable=False),
)
