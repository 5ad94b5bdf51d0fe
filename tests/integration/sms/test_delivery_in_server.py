"""``abonent serve`` delivers the SMS outbox itself: the scheduler's frequent jobs."""

from __future__ import annotations

import pytest

from abonent.bootstrap import Container
from abonent.charging.jobs import Scheduler
from abonent.db.uow import Database
from abonent.outbox.repository import enqueue_sms
from abonent.sms.services import list_outbox

pytestmark = pytest.mark.storage


def test_frequent_tick_delivers_pending_sms_once(container: Container, db: Database) -> None:
    with db.uow() as uow:
        enqueue_sms(uow.outbox, to="7071234567", sender="Abonent", text="hi", now=db.clock.now())
        uow.commit()
    scheduler = Scheduler(container, interval=0, frequent_interval=0)
    try:
        assert scheduler.tick_frequent() == ["sms: 1 sent, 0 to retry, 0 failed"]
        assert scheduler.tick_frequent() == ["sms: 0 sent, 0 to retry, 0 failed"]
    finally:
        scheduler.stop()
    assert [(m.text, m.status) for m in list_outbox(db)] == [("hi", "sent")]
