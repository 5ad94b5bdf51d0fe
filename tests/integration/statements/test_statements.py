"""Statements: short free, full charged exactly once, CSV + Cyrillic PDF, e-mailed via SMTP."""

from __future__ import annotations

import email
import io
import socket
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from abonent.bootstrap import Container
from abonent.charging import services as charging
from abonent.core.clock import FrozenClock
from abonent.core.errors import InsufficientFunds, ValidationError
from abonent.db.uow import Database
from abonent.statements.email import MemoryEmailSender, SmtpEmailSender, deliver_pending_emails
from abonent.statements.services import order_full_statement, short_statement_for
from tests.factories import add_subscriber
from tests.integration.charging.support import (
    assert_audit_ok,
    balance,
    load_test_catalogue,
    record,
    transactions_of_kind,
)

pytestmark = pytest.mark.storage
A = "+77071234567"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _usage(db: Database, clock: FrozenClock) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=500000)
    with db.uow() as uow:
        uow.connection.execute(sa.text("UPDATE subscribers SET email = 'aigerim@example.kz'"))
        uow.commit()
    charging.change_tariff(db, A, "DAILY", actor="test")
    charging.rate_usage(
        db,
        [
            record("s1", "call", A, "+77771234567", clock.now(), seconds=90),
            record("s2", "sms", A, "+77001234567", clock.now()),
            record("s3", "data", A, "", clock.now(), volume=3 * 1024 * 1024),
        ],
    )
    clock.advance(days=1)


def test_short_statement_is_free(db: Database, clock: FrozenClock) -> None:
    _usage(db, clock)
    before = balance(db, A)
    s = short_statement_for(db, A, clock.now() - timedelta(days=2), clock.now())
    totals = {c.category: c.amount for c in s.categories}
    assert totals["calls"] == 3000 and totals["sms"] == 1000 and totals["tariff_fees"] == 7900
    assert totals["data"] == 2 * 1000  # 1 MB from the bundle, 2 MB at 10 ₸
    assert balance(db, A) == before
    with pytest.raises(ValidationError):
        short_statement_for(db, A, clock.now(), clock.now() - timedelta(days=1))


def test_full_statement_fee_is_charged_exactly_once_and_mailed_via_smtp(
    container: Container, db: Database, clock: FrozenClock, smtp: tuple[Inbox, int]
) -> None:
    _usage(db, clock)
    before = balance(db, A)
    start, end = clock.now() - timedelta(days=2), clock.now()

    first = order_full_statement(db, A, start, end, actor="test", settings=container.settings)
    again = order_full_statement(db, A, start, end, actor="test", settings=container.settings)

    assert first.charged_now and first.fee == 3000 and not again.charged_now
    assert balance(db, A) == before - 3000
    assert transactions_of_kind(db, "statement_fee") == 1
    assert first.pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(first.pdf)).pages)
    assert "Номер: +7 707 123 45 67" in text and "Итого списано" in text and "₸" in text
    assert first.csv_text.count("\n+") == 0 and "+77771234567" in first.csv_text
    assert len([line for line in first.csv_text.splitlines() if ",call," in line]) == 1

    inbox, port = smtp
    sender = SmtpEmailSender(host="127.0.0.1", port=port, sender="noreply@abonent.example.kz")
    sent, failed = deliver_pending_emails(db, sender, now=clock.now())
    assert (sent, failed) == (2, 0)
    assert deliver_pending_emails(db, sender, now=clock.now()) == (0, 0)
    message = inbox.messages[0]
    assert message["To"] == "aigerim@example.kz"
    assert "Детализация" in str(
        email.header.make_header(email.header.decode_header(message["Subject"]))
    )
    names = sorted(p.get_filename() or "" for p in message.walk() if p.get_filename())
    assert names[0].endswith(".csv") and names[1].endswith(".pdf")
    assert_audit_ok(db)


def test_full_statement_without_money_changes_nothing(
    container: Container, db: Database, clock: FrozenClock
) -> None:
    load_test_catalogue(db)
    add_subscriber(db, A, balance=1000)
    with pytest.raises(InsufficientFunds):
        order_full_statement(
            db,
            A,
            clock.now() - timedelta(days=1),
            clock.now(),
            actor="test",
            settings=container.settings,
        )
    assert balance(db, A) == 1000
    sender = MemoryEmailSender()
    assert deliver_pending_emails(db, sender, now=clock.now()) == (0, 0)


def test_smtp_failure_leaves_the_email_for_a_retry(
    container: Container, db: Database, clock: FrozenClock
) -> None:
    _usage(db, clock)
    order_full_statement(
        db,
        A,
        clock.now() - timedelta(days=1),
        clock.now(),
        actor="test",
        settings=container.settings,
        email="other@example.kz",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = SmtpEmailSender(host="127.0.0.1", port=dead_port, sender="x@example.kz", timeout=2)
    assert deliver_pending_emails(db, dead, now=clock.now()) == (0, 1)
    memory = MemoryEmailSender()
    assert deliver_pending_emails(db, memory, now=clock.now()) == (0, 0)  # backing off
    assert deliver_pending_emails(db, memory, now=clock.now() + timedelta(minutes=3)) == (1, 0)
    assert memory.sent[0]["To"] == "other@example.kz"
