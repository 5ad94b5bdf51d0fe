"""A database dump reveals no code: every text cell of every table is searched."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from abonent.core.errors import AbonentError
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.settings import Settings
from abonent.vouchers.services import block_batch, redeem_voucher
from tests.factories import add_subscriber
from tests.integration.vouchers.helpers import make_batch

pytestmark = pytest.mark.storage


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex() + bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _dump(db: Database) -> list[str]:
    """Every cell of every table in the database, as text."""
    cells: list[str] = []
    with db.engine.connect() as conn:
        reflected = sa.MetaData()
        reflected.reflect(bind=conn)
        for table in reflected.sorted_tables:
            for row in conn.execute(sa.select(table)):
                cells.extend(_as_text(v) for v in row if v is not None)
    return cells


def test_no_code_is_recoverable_from_a_database_dump(db: Database) -> None:
    add_subscriber(db, "7071234567")
    _, codes = make_batch(db, count=300)
    blocked, blocked_codes = make_batch(db, count=5)
    block_batch(db, blocked.number, actor="test")
    with capture_logs() as logs:
        redeem_voucher(db, code=codes[0], msisdn="7071234567", channel="ussd", actor="t")
        for code in (codes[0], blocked_codes[0]):
            with pytest.raises(AbonentError):
                redeem_voucher(db, code=code, msisdn="7071234567", channel="sms", actor="t")

    cells = _dump(db)
    dump = "\n".join(cells)
    assert len(codes) == 300 and len(set(codes)) == 300
    for code in codes + blocked_codes:
        assert code not in dump
        assert hashlib.sha256(code.encode()).hexdigest() not in dump
    logged = json.dumps(logs, default=str)
    assert not any(code in logged for code in codes + blocked_codes)

    # What is stored is the keyed hash, which needs the server's key to compute.
    key = Settings().secret_key.encode()
    with db.reading() as uow:
        stored = {r[0] for r in uow.connection.execute(sa.text("SELECT code_hash FROM vouchers"))}
    assert hmac.new(key, codes[0].encode(), hashlib.sha256).hexdigest() in stored
    assert key.decode() not in dump
    assert audit_ledger(db).ok
