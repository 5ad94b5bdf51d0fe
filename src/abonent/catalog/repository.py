"""Catalogue storage on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import weakref
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine

from abonent.catalog.domain import EMPTY_CATALOGUE, Catalogue, Charges, Product
from abonent.catalog.tables import catalog_products, catalog_versions

# Which version is current, and when it was stored: the key of the cached parsed catalogue.
_CURRENT_KEY = select(
    catalog_versions.c.version, catalog_versions.c.checksum, catalog_versions.c.loaded_at
).where(catalog_versions.c.is_current.is_(True))
_CACHE: weakref.WeakKeyDictionary[Engine, tuple[tuple[object, ...], Catalogue]] = (
    weakref.WeakKeyDictionary()
)
_CACHE_LOCK = threading.Lock()


class SqlCatalogRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    def version(self, version: str) -> dict[str, Any] | None:
        row = self.connection.execute(
            select(catalog_versions).where(catalog_versions.c.version == version)
        ).first()
        return dict(row._mapping) if row else None

    def current(self) -> Catalogue:
        """The catalogue in force, with products dropped by later versions marked inactive.

        Read on every tariff screen, so the parsed catalogue is kept per engine and reused
        while the same version row is current: products change only when a new version is
        saved (``save``), and every call still reads which version that is."""
        key_row = self.connection.execute(_CURRENT_KEY).first()
        if key_row is None:
            return EMPTY_CATALOGUE
        key = tuple(key_row)
        engine = self.connection.engine
        with _CACHE_LOCK:
            cached = _CACHE.get(engine)
        if cached is not None and cached[0] == key:
            return cached[1]
        catalogue = self._read_current()
        if catalogue is not EMPTY_CATALOGUE:
            with _CACHE_LOCK:
                _CACHE[engine] = (key, catalogue)
        return catalogue

    def _read_current(self) -> Catalogue:
        row = self.connection.execute(
            select(catalog_versions).where(catalog_versions.c.is_current.is_(True))
        ).first()
        if row is None:
            return EMPTY_CATALOGUE
        document: dict[str, Any] = row.document
        products = {
            r.code: Product.from_json(r.definition, active=bool(r.active))
            for r in self.connection.execute(select(catalog_products))
        }
        charges = Charges(**document.get("charges", {}))
        return Catalogue(
            version=row.version,
            products=products,
            charges=charges,
            default_tariff=document.get("default_tariff"),
            checksum=row.checksum,
        )

    def save(self, catalogue: Catalogue, *, now: datetime, actor: str) -> None:
        """Store a new version and make it current; products it drops become inactive."""
        self.connection.execute(catalog_versions.update().values(is_current=False))
        self.connection.execute(
            catalog_versions.insert(),
            {
                "version": catalogue.version,
                "checksum": catalogue.checksum,
                "document": catalogue.as_json(),
                "loaded_at": now,
                "loaded_by": actor[:100],
                "is_current": True,
            },
        )
        existing = set(self.connection.execute(select(catalog_products.c.code)).scalars())
        self.connection.execute(catalog_products.update().values(active=False))
        for product in catalogue.products.values():
            values = {
                "kind": product.kind.value,
                "version": catalogue.version,
                "active": True,
                "definition": product.as_json(),
            }
            if product.code in existing:
                self.connection.execute(
                    catalog_products.update()
                    .where(catalog_products.c.code == product.code)
                    .values(**values)
                )
            else:
                self.connection.execute(catalog_products.insert(), {"code": product.code, **values})
