"""Run Alembic migrations programmatically against a given database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from abonent.db.engine import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    if database_url.startswith("sqlite"):
        create_engine(database_url).dispose()  # creates the parent directory of the file
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
