"""Only one scheduler per database runs the due jobs, and another takes over when it stops."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from abonent.bootstrap import Container
from abonent.charging.jobs import Scheduler
from abonent.settings import Settings


class _Settings:
    def __init__(self, url: str) -> None:
        self.settings = Settings(database_url=url)


def _scheduler(url: str) -> Scheduler:
    return Scheduler(cast(Container, _Settings(url)), interval=0)


def test_one_leader_per_database_and_a_successor_after_it_resigns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    first, second = _scheduler(url), _scheduler(url)
    other_database = _scheduler(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    try:
        assert first.is_leader()
        assert first.is_leader()  # keeps it
        assert not second.is_leader()
        assert other_database.is_leader()
        first.stop()  # resigns
        assert second.is_leader()
    finally:
        for scheduler in (first, second, other_database):
            scheduler.resign()
