"""Migrations are the only way the schema is made: they match the code and go both ways."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from abonent.db.engine import create_engine
from abonent.db.metadata import load_all_tables, schema_comparison_filter
from abonent.db.migrate import downgrade, upgrade

pytestmark = pytest.mark.storage


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'm.sqlite3'}"
    base = os.environ.get("ABONENT_TEST_POSTGRES_URL", "")
    if not base:
        if os.environ.get("ABONENT_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL required")
        pytest.skip("PostgreSQL not configured")
    name = f"abonent_migrations_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            include = schema_comparison_filter(conn.dialect.name)
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include}
            )
            return list(compare_metadata(context, load_all_tables()))
    finally:
        engine.dispose()


def test_migrations_build_exactly_the_schema_the_code_declares(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    assert _differences(empty_database_url) == []


def test_every_migration_downgrades_and_upgrades_again(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    downgrade(empty_database_url, "base")
    engine = create_engine(empty_database_url)
    with engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert left == set()
    upgrade(empty_database_url)
    assert _differences(empty_database_url) == []


_AT = "2026-11-01 10:00:00+00:00"


def _ledger_rows_at_0012(url: str) -> None:
    """An account pair, a transfer, its reversal and an audit row that references both."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for code in ("a", "b"):
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (code, kind, balance, created_at)"
                    " VALUES (:code, 'subscriber_main', 0, :at)"
                ),
                {"code": code, "at": _AT},
            )
        for tid, key, reverses in ((1, "t1", None), (2, "t2", None), (3, "r1", 1)):
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_transactions (id, kind, source, idempotency_key,"
                    " fingerprint, reverses_id, created_at)"
                    " VALUES (:id, 'transfer', 'test', :key, 'f', :reverses, :at)"
                ),
                {"id": tid, "key": key, "reverses": reverses, "at": _AT},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO postings (transaction_id, account_id, amount)"
                    " VALUES (:t, 1, -5), (:t, 2, 5)"
                ),
                {"t": tid},
            )
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, actor, action, subject, transaction_id, details)"
                " VALUES (:at, 'test', 'reverse', 'a', 3, '{}')"
            ),
            {"at": _AT},
        )
    engine.dispose()


def _ledger_state(url: str) -> tuple[list[tuple[object, ...]], int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        transactions = conn.execute(
            sa.text("SELECT id, idempotency_key, reverses_id FROM ledger_transactions ORDER BY id")
        ).all()
        postings = conn.execute(sa.text("SELECT count(*) FROM postings")).scalar_one()
        audited = conn.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE transaction_id = 3")
        ).scalar_one()
    engine.dispose()
    return [tuple(row) for row in transactions], int(postings), int(audited)


def _second_reversal_of_1_refused(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ledger_transactions (kind, source, idempotency_key,"
                    " fingerprint, reverses_id, created_at)"
                    " VALUES ('reversal', 'test', 'r1-again', 'f', 1, :at)"
                ),
                {"at": _AT},
            )
    except sa.exc.IntegrityError:
        return True
    finally:
        engine.dispose()
    return False


def _accounts_storage_options(url: str) -> list[str] | None:
    """PostgreSQL's storage parameters of ``accounts`` (SQLite has none: None)."""
    engine = create_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return None
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT reloptions FROM pg_class WHERE relname = 'accounts'")
            ).scalar_one()
        return list(found or [])
    finally:
        engine.dispose()


def test_0013_keeps_ledger_rows_and_reversed_once_both_ways(empty_database_url: str) -> None:
    # Given a ledger written at 0012 (before reverses_id became a partial unique index)
    upgrade(empty_database_url, "0012")
    _ledger_rows_at_0012(empty_database_url)
    before = _ledger_state(empty_database_url)

    # When it is upgraded (on SQLite: ledger_transactions rebuilt under seven references)
    upgrade(empty_database_url)

    # Then every row and reference is kept, and a transaction is still reversed at most once
    assert _ledger_state(empty_database_url) == before
    assert _second_reversal_of_1_refused(empty_database_url)
    assert _differences(empty_database_url) == []
    assert _accounts_storage_options(empty_database_url) in (None, ["fillfactor=50"])

    # And the downgrade brings the constraint back with the rows
    downgrade(empty_database_url, "0012")
    assert _ledger_state(empty_database_url) == before
    assert _second_reversal_of_1_refused(empty_database_url)
    assert _accounts_storage_options(empty_database_url) in (None, [])
