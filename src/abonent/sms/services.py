"""SMS use cases: deliver the outbox, list it, handle an incoming SMS.

Delivery is at most once per part and retried while that is safe:
1. pending rows due now are *claimed* (``pending`` → ``sending``, attempts + 1) by one
   conditional update, so two senders never take the same message;
2. each part not yet recorded in ``sms_parts`` is handed to the adapter; the parts accepted
   are recorded with the batch's outcomes, so a retry resends only the parts the gateway did
   not accept. A crash before that commit leaves the batch ``sending``, which is never resent
   automatically (an operator looks), so no part is ever sent twice;
3. a transient failure puts the row back to ``pending`` with an exponential backoff, up to
   ``sms_max_attempts``; a permanent one marks it ``failed``; a timeout after sending marks it
   ``uncertain`` (an operator decides — resending could duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from abonent.core.errors import AbonentError, StorageUnavailable
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database
from abonent.outbox.repository import enqueue_sms
from abonent.outbox.tables import outbox
from abonent.sms.adapters import (
    PermanentSmsError,
    SmsAdapter,
    TransientSmsError,
    UncertainSmsError,
)
from abonent.sms.domain import backoff_seconds, coding_for, split
from abonent.sms.tables import sms_parts
from abonent.subscribers.domain import Language
from abonent.ussd.messages import SMS, render


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0


def deliver_pending(
    db: Database,
    adapter: SmsAdapter,
    *,
    limit: int = 100,
    max_attempts: int = 8,
    backoff_base_seconds: int = 30,
) -> DeliveryReport:
    """Send what is due now, up to ``limit`` messages; returns counts. Called every few seconds
    by ``abonent serve`` and in a loop by ``abonent sms send --loop``.

    Two commits a batch, not three a message: the claim of every due message, then the parts
    the gateway accepted and every message's outcome together."""
    claimed = _claim_due(db, limit)
    if not claimed:
        return DeliveryReport()
    sent = [(message, *_send_parts(adapter, message)) for message in claimed]
    counts = {"sent": 0, "retried": 0, "failed": 0, "uncertain": 0}
    with db.uow() as uow:
        now = uow.clock.now()
        parts = [
            {"outbox_id": m.outbox_id, "part": n, "gateway_id": gid[:100], "sent_at": now}
            for m, accepted, _ in sent
            for n, gid in accepted
        ]
        if parts:
            uow.connection.execute(sms_parts.insert(), parts)
        for message, _, outcome in sent:
            values, result = _outcome_values(
                outcome, message.attempts, max_attempts, backoff_base_seconds, now
            )
            uow.connection.execute(
                outbox.update().where(outbox.c.id == message.outbox_id).values(**values)
            )
            counts[result] += 1
        uow.commit()
    return DeliveryReport(**counts)


@dataclass(frozen=True, slots=True)
class _Claimed:
    outbox_id: int
    attempts: int
    payload: dict[str, Any]
    done_parts: frozenset[int]


def _claim_due(db: Database, limit: int) -> list[_Claimed]:
    """Take due messages (``pending`` → ``sending``, attempts + 1) in one transaction; the
    conditional update means a concurrent sender gets none of the same rows."""
    with db.uow() as uow:
        due = list(
            uow.connection.execute(
                select(outbox.c.id)
                .where(
                    outbox.c.topic == "sms",
                    outbox.c.status == "pending",
                    outbox.c.next_attempt_at <= uow.clock.now(),
                )
                .order_by(outbox.c.id)
                .limit(limit)
            ).scalars()
        )
        if not due:
            return []
        rows = uow.connection.execute(
            outbox.update()
            .where(outbox.c.id.in_(due), outbox.c.status == "pending")
            .values(status="sending", attempts=outbox.c.attempts + 1)
            .returning(outbox.c.id, outbox.c.attempts, outbox.c.payload)
        ).all()
        done: dict[int, set[int]] = {}
        if rows:
            recorded = uow.connection.execute(
                select(sms_parts.c.outbox_id, sms_parts.c.part).where(
                    sms_parts.c.outbox_id.in_([r[0] for r in rows])
                )
            )
            for outbox_id, part in recorded:
                done.setdefault(int(outbox_id), set()).add(int(part))
        uow.commit()
    claimed = [
        _Claimed(int(r[0]), int(r[1]), dict(r[2]), frozenset(done.get(int(r[0]), ()))) for r in rows
    ]
    return sorted(claimed, key=lambda m: m.outbox_id)


def _send_parts(
    adapter: SmsAdapter, message: _Claimed
) -> tuple[list[tuple[int, str]], str | Exception]:
    """Hand the parts not yet accepted to the adapter; stop at the first failure. Returns the
    parts accepted now (number, gateway id) and the outcome."""
    payload = message.payload
    text = str(payload.get("text", ""))
    to = str(payload.get("to", ""))
    sender = str(payload.get("sender", ""))
    coding = coding_for(text)
    accepted: list[tuple[int, str]] = []
    for number, part in enumerate(split(text), start=1):
        if number in message.done_parts:
            continue
        try:
            accepted.append((number, adapter.send(to=to, sender=sender, text=part, coding=coding)))
        except (TransientSmsError, PermanentSmsError, UncertainSmsError) as error:
            return accepted, error
    return accepted, "sent"


def _outcome_values(
    outcome: str | Exception,
    attempts: int,
    max_attempts: int,
    backoff_base: int,
    now: datetime,
) -> tuple[dict[str, Any], str]:
    """The outbox row's new values after a delivery attempt, and the report's bucket."""
    values: dict[str, Any]
    if outcome == "sent":
        values, result = {"status": "sent", "sent_at": now, "last_error": None}, "sent"
    elif isinstance(outcome, TransientSmsError) and attempts < max_attempts:
        delay = timedelta(seconds=backoff_seconds(attempts, backoff_base))
        values, result = {"status": "pending", "next_attempt_at": now + delay}, "retried"
    elif isinstance(outcome, UncertainSmsError):
        values, result = {"status": "uncertain"}, "uncertain"
    else:
        values, result = {"status": "failed"}, "failed"
    if isinstance(outcome, Exception):
        values["last_error"] = str(outcome)[:500]
    return values, result


@dataclass(frozen=True, slots=True)
class OutboxSms:
    id: int
    to: str
    sender: str
    text: str
    status: str
    created_at: datetime
    attempts: int
    sent_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "sender": self.sender,
            "text": self.text,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "attempts": self.attempts,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def list_outbox(db: Database, *, to: str | None = None, limit: int = 100) -> list[OutboxSms]:
    """SMS in the outbox, newest first; ``to`` as typed (``7071234567``, ``+7...``)."""
    recipient = parse_msisdn(to) if to else None
    with db.reading() as uow:
        rows = uow.outbox.messages(topic="sms", recipient=recipient, limit=limit)
    return [_outbox_sms(row) for row in rows]


def _outbox_sms(row: dict[str, Any]) -> OutboxSms:
    payload = row["payload"] or {}
    return OutboxSms(
        id=int(row["id"]),
        to=str(payload.get("to", row["recipient"])),
        sender=str(payload.get("sender", "")),
        text=str(payload.get("text", "")),
        status=str(row["status"]),
        created_at=row["created_at"],
        attempts=int(row["attempts"]),
        sent_at=row["sent_at"],
    )


@dataclass(frozen=True, slots=True)
class IncomingResult:
    status: str  # "redeemed", "refused", "ignored"
    reply: str | None = None


def receive(
    db: Database, *, sender: str, to: str, text: str, short_number: str = "9393"
) -> IncomingResult:
    """An SMS from a subscriber. To the voucher number it redeems the code it carries.

    A successful redemption is confirmed by the top-up SMS; a refusal gets a reply SMS.
    """
    msisdn = parse_msisdn(sender)
    if to.strip().lstrip("+") != short_number:
        return IncomingResult("ignored")
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
    if subscriber is None:
        return IncomingResult("ignored")
    language = subscriber.language
    code = "".join(text.split())
    if not (code.isascii() and code.isdigit() and 10 <= len(code) <= 20):
        return _reply(db, msisdn, short_number, render(SMS, "sms_unknown", language), "refused")
    try:
        from abonent.vouchers import services as vouchers
    except ImportError:
        reply = render(SMS, "voucher_unavailable", language)
        return _reply(db, msisdn, short_number, reply, "refused")
    try:
        vouchers.redeem_voucher(db, code=code, msisdn=msisdn, channel="sms", actor=f"sms:{msisdn}")
    except StorageUnavailable:
        raise
    except AbonentError:
        return _reply(db, msisdn, short_number, render(SMS, "voucher_refused", language), "refused")
    return IncomingResult("redeemed")


def _reply(db: Database, to: str, sender: str, text: str, status: str) -> IncomingResult:
    with db.uow() as uow:
        enqueue_sms(uow.outbox, to=to, sender=sender, text=text, now=uow.clock.now())
        uow.commit()
    return IncomingResult(status, text)


def inbox(db: Database, msisdn: str, limit: int = 50) -> list[OutboxSms]:
    return list_outbox(db, to=msisdn, limit=limit)


def language_of(db: Database, msisdn: str) -> Language:
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
    return subscriber.language if subscriber else Language.RU
