"""The only place that picks adapters: database engine, clock (and later SMS, acquirer).

Nothing is created at import time; callers build a ``Container`` from ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from abonent.core.clock import Clock, SystemClock
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.settings import Settings


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    extras: dict[str, object] = field(default_factory=dict)

    def close(self) -> None:
        self.db.dispose()


def build(settings: Settings | None = None, *, clock: Clock | None = None) -> Container:
    from abonent import hooks_registry  # noqa: F401  (registers features' top-up hooks)

    settings = settings or Settings()
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url)
    return Container(settings=settings, db=Database(engine, clock), clock=clock)
