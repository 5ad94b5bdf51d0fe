"""SMS delivery through the Jasmin-style HTTP adapter (against a local fake gateway) and the
embedded recording adapter: coding, splitting, retries with backoff, never a duplicate."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from abonent.bootstrap import Container
from abonent.cli import main
from abonent.cli_support import set_container
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from abonent.outbox.repository import enqueue_sms
from abonent.sms.adapters import JasminAdapter, RecordingAdapter
from abonent.sms.services import deliver_pending, list_outbox

pytestmark = pytest.mark.storage

CYRILLIC = "Доверительный платеж погашен. Спасибо! " * 3  # 117 UCS-2 characters: two parts


@dataclass
class FakeGateway:
    """A Jasmin-like ``/send`` endpoint on loopback; answers from a script, then Success."""

    script: list[tuple[int, str]] = field(default_factory=list)
    requests: list[dict[str, bytes]] = field(default_factory=list)
    delay: float = 0.0
    url: str = ""

    def answer(self) -> tuple[int, str]:
        if self.script:
            return self.script.pop(0)
        return 200, f'Success "msg-{len(self.requests)}"'


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.urlsplit(self.path).query
            fields = urllib.parse.parse_qs(query, encoding="latin-1")
            fake.requests.append({k: v[0].encode("latin-1") for k, v in fields.items()})
            if fake.delay:
                time.sleep(fake.delay)
            status, body = fake.answer()
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            del args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join()


def queue(db: Database, text: str, to: str = "+77071234567") -> int:
    with db.uow() as uow:
        outbox_id = enqueue_sms(uow.outbox, to=to, sender="Abonent", text=text, now=uow.clock.now())
        uow.commit()
    return outbox_id


def statuses(db: Database) -> list[str]:
    return [m.status for m in list_outbox(db)]


def jasmin(gateway: FakeGateway, timeout: float = 5.0) -> JasminAdapter:
    return JasminAdapter(gateway.url, username="abonent", password="p&ss", timeout=timeout)


def test_cyrillic_is_sent_as_ucs2_in_parts(db: Database, gateway: FakeGateway) -> None:
    queue(db, CYRILLIC)
    queue(db, "Top-up of 200 KZT received")

    report = deliver_pending(db, jasmin(gateway))

    assert report.sent == 2 and statuses(db) == ["sent", "sent"]
    first, second, latin = gateway.requests
    assert {r["coding"] for r in (first, second)} == {b"8"} and latin["coding"] == b"0"
    assert (first["content"] + second["content"]).decode("utf-16-be") == CYRILLIC
    assert all(len(r["content"]) // 2 <= 67 for r in (first, second))
    assert latin["content"].decode() == "Top-up of 200 KZT received"
    assert first["to"] == b"77071234567"
    assert (first["username"], first["password"]) == (b"abonent", b"p&ss")


def test_transient_failures_are_retried_with_backoff(
    db: Database, clock: FrozenClock, gateway: FakeGateway
) -> None:
    gateway.script = [(503, 'Error "busy"'), (500, 'Error "down"')]
    queue(db, "Hello")
    adapter = jasmin(gateway)

    assert deliver_pending(db, adapter, backoff_base_seconds=30).retried == 1
    assert deliver_pending(db, adapter).sent == 0  # not due before the backoff has passed
    clock.advance(seconds=30)
    assert deliver_pending(db, adapter, backoff_base_seconds=30).retried == 1
    clock.advance(seconds=59)
    assert deliver_pending(db, adapter).sent == 0  # the second wait is twice as long
    clock.advance(seconds=1)
    assert deliver_pending(db, adapter).sent == 1

    assert len(gateway.requests) == 3 and statuses(db) == ["sent"]
    (message,) = list_outbox(db)
    assert message.attempts == 3


def test_a_retry_resends_only_the_parts_not_accepted(
    db: Database, clock: FrozenClock, gateway: FakeGateway
) -> None:
    gateway.script = [(200, 'Success "p1"'), (503, "Error")]
    queue(db, CYRILLIC)
    adapter = jasmin(gateway)

    deliver_pending(db, adapter)
    clock.advance(seconds=30)
    deliver_pending(db, adapter)

    contents = [r["content"].decode("utf-16-be") for r in gateway.requests]
    assert len(contents) == 3 and contents[1] == contents[2]  # part 2 failed, then sent
    assert contents[0] + contents[2] == CYRILLIC and statuses(db) == ["sent"]


def test_permanent_refusal_and_uncertain_timeout_are_not_retried(
    db: Database, clock: FrozenClock, gateway: FakeGateway
) -> None:
    gateway.script = [(400, 'Error "Mandatory argument [to] is not found."')]
    queue(db, "first")
    assert deliver_pending(db, jasmin(gateway)).failed == 1

    gateway.delay = 0.5
    queue(db, "second")
    assert deliver_pending(db, jasmin(gateway, timeout=0.2)).uncertain == 1
    clock.advance(hours=2)
    gateway.delay = 0
    assert deliver_pending(db, jasmin(gateway)).sent == 0
    assert statuses(db) == ["uncertain", "failed"]
    assert len(gateway.requests) == 2


def test_unreachable_gateway_is_retried(db: Database, clock: FrozenClock) -> None:
    queue(db, "Hello")
    adapter = JasminAdapter("http://127.0.0.1:9", username="u", password="p", timeout=1)
    assert deliver_pending(db, adapter).retried == 1
    assert statuses(db) == ["pending"]


def test_concurrent_senders_never_duplicate(db: Database) -> None:
    for i in range(20):
        queue(db, f"message {i}")
    recorder = RecordingAdapter()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: deliver_pending(db, recorder), range(4)))

    assert sorted(text for _, _, text in recorder.sent) == sorted(f"message {i}" for i in range(20))
    assert statuses(db) == ["sent"] * 20


def test_cli_lists_the_outbox_as_json(
    container: Container, capsys: pytest.CaptureFixture[str]
) -> None:
    queue(container.db, "Пожалуйста, позвони мне. Абонент 7071234568", to="+77071234567")
    queue(container.db, "other", to="+77071234568")
    set_container(container)
    try:
        assert main(["sms", "outbox", "--to", "87071234567", "--json"]) == 0
        (item,) = json.loads(capsys.readouterr().out)
        assert item["to"] == "+77071234567"
        assert item["sender"] == "Abonent"
        assert item["text"] == "Пожалуйста, позвони мне. Абонент 7071234568"
        assert item["status"] == "pending"
        assert item["created_at"].startswith("2026-01-15T09:00:00")
        assert main(["sms", "outbox", "--to", "123"]) == 2
        assert main(["sms", "outbox"]) == 0
    finally:
        set_container(None)
