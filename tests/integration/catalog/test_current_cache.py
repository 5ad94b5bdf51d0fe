"""The catalogue in force is parsed once per version and engine, and re-read when a new version
is loaded (every call still asks the database which version is current)."""

from __future__ import annotations

import pytest

from abonent.catalog.services import current_catalogue, load_catalogue
from abonent.core.errors import Conflict
from abonent.db.uow import Database
from tests.integration.charging.support import CATALOGUE, load_test_catalogue

pytestmark = pytest.mark.storage


def test_the_same_version_is_parsed_once(db: Database) -> None:
    assert current_catalogue(db).version == ""  # nothing loaded: the empty catalogue
    load_test_catalogue(db)
    first = current_catalogue(db)
    assert first.version == "test-1" and first.product("DAILY") is not None
    assert current_catalogue(db) is first


def test_a_new_version_is_read_at_once(db: Database) -> None:
    load_test_catalogue(db)
    assert current_catalogue(db).version == "test-1"
    load_catalogue(
        db,
        CATALOGUE.replace('"test-1"', '"test-2"').replace("code: DAILY", "code: DAY2"),
        actor="test",
    )
    catalogue = current_catalogue(db)
    daily, day2 = catalogue.product("DAILY"), catalogue.product("DAY2")
    assert catalogue.version == "test-2"
    assert daily is not None and not daily.active
    assert day2 is not None and day2.active


def test_a_failed_load_leaves_the_version_in_force(db: Database) -> None:
    load_test_catalogue(db)
    first = current_catalogue(db)
    with pytest.raises(Conflict):
        load_catalogue(db, CATALOGUE.replace("fee: 79", "fee: 89"), actor="test")
    assert current_catalogue(db) is first
