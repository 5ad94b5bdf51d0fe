"""E-mail leaves through the outbox (topic ``email``) and an SMTP adapter.

Payload of an outbox e-mail: ``{"to", "subject", "body", "attachments": [{"filename",
"content_type", "data_b64"}]}``. ``deliver_pending_emails`` sends what is due, marks it sent,
or records the error and retries later with a growing delay (at most ``MAX_ATTEMPTS``).
"""

from __future__ import annotations

import base64
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

from sqlalchemy import select

from abonent.db.uow import Database
from abonent.outbox.tables import outbox
from abonent.settings import Settings

TOPIC = "email"
MAX_ATTEMPTS = 8


class EmailSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand the message to the mail system or raise ``OSError``/``smtplib.SMTPException``."""
        ...


@dataclass
class SmtpEmailSender:
    host: str
    port: int
    sender: str
    username: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 20.0

    def send(self, message: EmailMessage) -> None:
        if "From" not in message:
            message["From"] = self.sender
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


@dataclass
class MemoryEmailSender:
    """The in-memory fake: keeps what it was asked to send."""

    sent: list[EmailMessage] = field(default_factory=list)

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


def sender_from_settings(settings: Settings) -> SmtpEmailSender | None:
    if not settings.smtp_host:
        return None
    return SmtpEmailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_sender,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
    )


def email_payload(
    *, to: str, subject: str, body: str, attachments: list[tuple[str, str, bytes]]
) -> dict[str, Any]:
    return {
        "to": to,
        "subject": subject,
        "body": body,
        "attachments": [
            {"filename": n, "content_type": t, "data_b64": base64.b64encode(d).decode()}
            for n, t, d in attachments
        ],
    }


def build_message(payload: dict[str, Any], sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message.set_content(payload["body"])
    for item in payload.get("attachments", []):
        maintype, _, subtype = item["content_type"].partition("/")
        message.add_attachment(
            base64.b64decode(item["data_b64"]),
            maintype=maintype,
            subtype=subtype,
            filename=item["filename"],
        )
    return message


def deliver_pending_emails(
    db: Database, sender: EmailSender, *, now: datetime, limit: int = 100
) -> tuple[int, int]:
    """Send due e-mails from the outbox; returns (sent, failed)."""
    with db.uow() as uow:
        query = (
            select(outbox.c.id, outbox.c.payload, outbox.c.attempts)
            .where(
                outbox.c.topic == TOPIC,
                outbox.c.status == "pending",
                outbox.c.next_attempt_at <= now,
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        if uow.connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = uow.connection.execute(query).all()
        sent = failed = 0
        from_address = getattr(sender, "sender", "Abonent <noreply@abonent.example.kz>")
        for row in rows:
            attempts = int(row.attempts) + 1
            try:
                sender.send(build_message(row.payload, from_address))
            except (OSError, smtplib.SMTPException) as exc:
                failed += 1
                uow.connection.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=attempts,
                        status="failed" if attempts >= MAX_ATTEMPTS else "pending",
                        next_attempt_at=now + timedelta(minutes=2**attempts),
                        last_error=str(exc)[:500],
                    )
                )
                continue
            sent += 1
            uow.connection.execute(
                outbox.update()
                .where(outbox.c.id == row.id)
                .values(attempts=attempts, status="sent", sent_at=now, last_error=None)
            )
        uow.commit()
    return sent, failed
