"""Shared fixtures. Storage tests run on every backend: SQLite always, PostgreSQL when
``ABONENT_TEST_POSTGRES_URL`` points at a server (``make test`` starts a throwaway one).
With ``ABONENT_REQUIRE_POSTGRES=1`` (CI) a missing PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from abonent.bootstrap import Container
from abonent.core.clock import FrozenClock
from abonent.db.engine import create_engine
from abonent.db.metadata import load_all_tables
from abonent.db.migrate import upgrade
from abonent.db.uow import Database
from abonent.settings import Settings
from abonent.subscribers.domain import DEFAULT_BRANDS, DEFAULT_PREFIXES
from abonent.subscribers.tables import brands, number_prefixes

POSTGRES_URL = os.environ.get("ABONENT_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("ABONENT_REQUIRE_POSTGRES", "") == "1"
BACKENDS = ["sqlite", "postgresql"]
START = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A migrated PostgreSQL database of this test worker's own."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("ABONENT_REQUIRE_POSTGRES=1 but ABONENT_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set ABONENT_TEST_POSTGRES_URL)")
    name = f"abonent_test_{_worker()}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    finally:
        admin.dispose()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "abonent.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A migrated database URL, once per backend."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def reset_database(engine: sa.Engine) -> None:
    """Empty every table and restore the default brands (what the first migration seeds)."""
    with engine.connect() as conn:
        existing = set(sa.inspect(conn).get_table_names())
    # Only tables the migrations created (a feature's tables may be registered before its
    # migration is written; that shows up as a failing migration test, not here).
    tables = [t for t in reversed(load_all_tables().sorted_tables) if t.name in existing]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
        conn.execute(
            brands.insert(),
            [{"code": b.code, "name": b.name, "home": b.home} for b in DEFAULT_BRANDS],
        )
        conn.execute(
            number_prefixes.insert(),
            [{"prefix": p, "brand_code": b} for p, b in DEFAULT_PREFIXES.items()],
        )


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = create_engine(database_url)
    reset_database(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: sa.Engine, clock: FrozenClock) -> Database:
    return Database(engine, clock)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, mode="test", log_json=False)


@pytest.fixture
def container(settings: Settings, db: Database, clock: FrozenClock) -> Container:
    return Container(settings=settings, db=db, clock=clock)


@pytest.fixture
def pg_db(postgres_url: str, clock: FrozenClock) -> Iterator[Database]:
    """PostgreSQL only: for concurrency semantics SQLite's single writer cannot show."""
    eng = create_engine(postgres_url, pool_size=40)
    reset_database(eng)
    yield Database(eng, clock)
    eng.dispose()
