"""The migrations form one line of history again: a new migration has exactly one parent."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from abonent.db.migrate import alembic_config


def test_there_is_exactly_one_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(scripts.get_heads()) == 1
