"""Catalogue use cases: load a versioned file, read the catalogue in force."""

from __future__ import annotations

from dataclasses import dataclass

from abonent.catalog.domain import Catalogue, parse_catalogue
from abonent.catalog.loader import read_document
from abonent.catalog.repository import SqlCatalogRepository
from abonent.core.errors import Conflict
from abonent.db.uow import Database, UnitOfWork


@dataclass(frozen=True, slots=True)
class LoadResult:
    version: str
    tariffs: int
    options: int
    unchanged: bool  # the same version with the same content was already loaded


def catalog_of(uow: UnitOfWork) -> SqlCatalogRepository:
    return SqlCatalogRepository(uow.connection)


def load_catalogue(db: Database, text: str, *, actor: str) -> LoadResult:
    """Validate ``text`` (YAML) completely, then store it as the catalogue in force.

    Refused as a whole (``InvalidCatalogue`` naming line and reason) if anything is wrong.
    Loading a version again with the same content changes nothing; with other content it is
    a ``Conflict`` (publish a new version instead).
    """
    document = read_document(text)
    with db.uow() as uow:
        brands = frozenset(b.code for b in uow.subscribers.all_brands())
        catalogue = parse_catalogue(document, known_brands=brands)
        repo = catalog_of(uow)
        stored = repo.version(catalogue.version)
        counts = (len(catalogue.tariffs()), len(catalogue.options()))
        if stored is not None:
            if stored["checksum"] != catalogue.checksum:
                raise Conflict(
                    f"catalogue version {catalogue.version} was loaded with other content; "
                    "give the changed file a new version"
                )
            return LoadResult(catalogue.version, *counts, unchanged=True)
        now = uow.clock.now()
        repo.save(catalogue, now=now, actor=actor)
        uow.audit.record(
            at=now,
            actor=actor,
            action="catalog.loaded",
            subject=f"catalog:{catalogue.version}",
            details={"tariffs": counts[0], "options": counts[1], "checksum": catalogue.checksum},
        )
        uow.commit()
    return LoadResult(catalogue.version, *counts, unchanged=False)


def current_catalogue(db: Database) -> Catalogue:
    with db.reading() as uow:
        return catalog_of(uow).current()
