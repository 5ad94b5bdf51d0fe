"""Statement use cases: the short one (free) and the full call-detail one (a fee, charged once
per number and period, produced as CSV and PDF and e-mailed through the outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exc as sa_exc

from abonent.catalog.services import catalog_of
from abonent.core.errors import Conflict, InsufficientFunds, NotFound
from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.settings import Settings
from abonent.statements.domain import ShortStatement, check_period, full_csv, short_statement
from abonent.statements.email import TOPIC, email_payload
from abonent.statements.repository import SqlStatementRepository
from abonent.subscribers.domain import Subscriber, clean_email
from abonent.subscribers.services import system_account

SOURCE = "statements"


def statements_of(uow: UnitOfWork) -> SqlStatementRepository:
    return SqlStatementRepository(uow.connection)


def _subscriber(uow: UnitOfWork, msisdn: str) -> Subscriber:
    number = parse_msisdn(msisdn)
    subscriber = uow.subscribers.by_msisdn(number)
    if subscriber is None:
        raise NotFound(f"no subscriber {number}")
    return subscriber


def short_statement_for(
    db: Database, msisdn: str, period_from: datetime, period_to: datetime
) -> ShortStatement:
    """Totals by category for the period; free, changes nothing."""
    check_period(period_from, period_to, db.clock.now())
    with db.reading() as uow:
        subscriber = _subscriber(uow, msisdn)
        repo = statements_of(uow)
        usage = repo.usage(subscriber.id, period_from, period_to)
        money = repo.money(subscriber.account_id, period_from, period_to)
    return short_statement(subscriber.msisdn, period_from, period_to, usage, money)


@dataclass(frozen=True)
class FullStatement:
    order_id: int
    fee: Tiyn
    charged_now: bool  # False when this period was ordered (and paid) before
    summary: ShortStatement
    csv_text: str
    pdf: bytes
    emailed_to: str | None


def order_full_statement(
    db: Database,
    msisdn: str,
    period_from: datetime,
    period_to: datetime,
    *,
    actor: str,
    settings: Settings,
    email: str | None = None,
) -> FullStatement:
    """Produce the full statement and e-mail it (to ``email`` or the subscriber's address).

    The fee (catalogue ``charges.full_statement_fee``) is charged the first time a number
    orders a given period; ordering it again resends it free. Without money for the fee:
    ``InsufficientFunds`` and nothing changes.
    """
    check_period(period_from, period_to, db.clock.now())
    address = clean_email(email) if email else None
    for attempt in range(2):
        try:
            return _order(db, msisdn, period_from, period_to, actor, settings, address)
        except sa_exc.IntegrityError:
            # A concurrent twin stored the order first; the second attempt finds it (no fee).
            if attempt:
                raise Conflict("the statement order conflicted; try again") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _order(
    db: Database,
    msisdn: str,
    period_from: datetime,
    period_to: datetime,
    actor: str,
    settings: Settings,
    address: str | None,
) -> FullStatement:
    with db.uow() as uow:
        subscriber = _subscriber(uow, msisdn)
        repo = statements_of(uow)
        to = address or subscriber.email
        existing = repo.order(subscriber.id, period_from, period_to)
        now = uow.clock.now()
        fee = 0
        if existing is None:
            fee = catalog_of(uow).current().charges.full_statement_fee
        transaction_id = None
        if fee > 0:
            account = uow.ledger.account(subscriber.account_id)
            assert account is not None
            if account.available is not None and account.available < fee:
                raise InsufficientFunds(f"a full statement costs {format_tenge(fee)} ₸")
            transaction_id = ledger.record(
                uow,
                transfer_request(
                    kind="statement_fee",
                    source=SOURCE,
                    idempotency_key=(
                        f"statement:{subscriber.id}:{period_from.isoformat()}:"
                        f"{period_to.isoformat()}"
                    ),
                    debit_account_id=subscriber.account_id,
                    credit_account_id=system_account(uow, AccountKind.REVENUE, "statements"),
                    amount=fee,
                    reference=f"full statement {period_from:%Y-%m-%d}..{period_to:%Y-%m-%d}",
                ),
            ).id
        # Read after charging, so the statement shows its own fee when the period includes now.
        usage = repo.usage(subscriber.id, period_from, period_to)
        money = repo.money(subscriber.account_id, period_from, period_to)
        summary = short_statement(subscriber.msisdn, period_from, period_to, usage, money)
        csv_text = full_csv(usage, money)
        from abonent.statements.pdf import render_pdf  # fpdf is slow to import

        pdf = render_pdf(
            summary,
            usage,
            money,
            operator=settings.operator_name,
            font_path=settings.statement_font_path,
        )
        outbox_id = None
        if to:
            stem = f"statement-{subscriber.msisdn[1:]}-{period_from:%Y%m%d}-{period_to:%Y%m%d}"
            outbox_id = uow.outbox.enqueue(
                topic=TOPIC,
                recipient=to,
                payload=email_payload(
                    to=to,
                    subject=f"Детализация {subscriber.msisdn} {period_from:%d.%m.%Y}–"
                    f"{period_to:%d.%m.%Y}",
                    body="Полная детализация во вложении (CSV и PDF).\n"
                    "Толық анықтама қосымшада.\nThe full statement is attached.\n",
                    attachments=[
                        (f"{stem}.csv", "text/csv", csv_text.encode("utf-8")),
                        (f"{stem}.pdf", "application/pdf", pdf),
                    ],
                ),
                now=now,
            )
        if existing is None:
            order_id = repo.insert_order(
                subscriber_id=subscriber.id,
                period_from=period_from,
                period_to=period_to,
                fee=fee,
                transaction_id=transaction_id,
                email=to,
                outbox_id=outbox_id,
                created_at=now,
            )
        else:
            order_id = int(existing["id"])
        uow.audit.record(
            at=now,
            actor=actor,
            action="statement.full_ordered" if existing is None else "statement.full_resent",
            subject=f"subscriber:{subscriber.msisdn}",
            details={
                "from": period_from.isoformat(),
                "to": period_to.isoformat(),
                "fee": fee,
                "email": to,
            },
            transaction_id=transaction_id,
        )
        uow.commit()
    return FullStatement(
        order_id=order_id,
        fee=fee,
        charged_now=existing is None and fee > 0,
        summary=summary,
        csv_text=csv_text,
        pdf=pdf,
        emailed_to=to,
    )
