"""Bill use cases: the month's bill run, overdue bars, reading bills; and the top-up hook that
allocates a postpaid payment to the oldest unpaid bill first.

Bills are documents built from the ledger: charging posts usage and fees as transactions that
debit the postpaid account; the bill run sums, per account and transaction kind, the postings
of the month. A bill run moves no money, so ``abonent audit`` is unaffected by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from abonent.bills.domain import (
    Bill,
    BillingPeriodNotOver,
    BillStatus,
    Month,
    allocate,
    charges_by_category,
    compose_bill,
    due_date,
    last_closed_month,
)
from abonent.bills.repository import BillableAccount, SqlBillRepository
from abonent.core.errors import NotFound
from abonent.core.ids import public_token
from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.outbox.repository import enqueue_sms
from abonent.payments import hooks
from abonent.settings import Settings
from abonent.subscribers.domain import (
    PaymentType,
    Subscriber,
    SubscriberStatus,
)

SMS_SENDER = "Abonent"
RUN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class BillingPolicy:
    utc_offset_hours: int = 5
    due_days: int = 15
    grace_days: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> BillingPolicy:
        return cls(
            utc_offset_hours=settings.bills_utc_offset_hours,
            due_days=settings.bills_due_days,
            grace_days=settings.bills_grace_days,
        )


@dataclass(frozen=True, slots=True)
class BillRunReport:
    month: Month
    created: int
    already_billed: int
    total_due: Tiyn


@dataclass(frozen=True, slots=True)
class OverdueReport:
    marked_overdue: int
    barred: list[str]


def bills_of(uow: UnitOfWork) -> SqlBillRepository:
    return SqlBillRepository(uow.connection)


def run_bills(
    db: Database,
    policy: BillingPolicy,
    *,
    month: Month | None = None,
    actor: str = "system:bills",
    chunk: int = RUN_CHUNK,
) -> BillRunReport:
    """Bill every postpaid number for ``month`` (default: the month that ended last).

    Idempotent per (account, month): numbers already billed are skipped, and the unique index
    on (account, month) refuses a concurrent twin. Work is committed in chunks of ``chunk``
    numbers, each under the same subscriber row locks a top-up takes, so a payment arriving
    meanwhile is allocated either before or after the bill is cut, never half-way.
    """
    now = db.clock.now()
    target = month or last_closed_month(now, policy.utc_offset_hours)
    start, end = target.bounds(policy.utc_offset_hours)
    if end > now:
        raise BillingPeriodNotOver(f"{target} has not ended yet; bills are cut after month end")
    created = existing = 0
    total_due = 0
    after_id = 0
    while True:
        with db.uow() as uow:
            repo = bills_of(uow)
            page = repo.billable_accounts(after_id=after_id, limit=chunk)
            if not page:
                break
            after_id = page[-1].subscriber_id
            repo.lock_subscribers([a.subscriber_id for a in page])
            made, due = _bill_page(uow, repo, page, target, start, end, policy)
            created += made
            existing += len(page) - made
            total_due += due
            if made:
                uow.audit.record(
                    at=uow.clock.now(),
                    actor=actor,
                    action="bills.run",
                    subject=f"bills:{target}",
                    details={"created": made, "after_subscriber_id": page[0].subscriber_id},
                )
            uow.commit()
        if len(page) < chunk:
            break
    return BillRunReport(target, created, existing, total_due)


def _bill_page(
    uow: UnitOfWork,
    repo: SqlBillRepository,
    page: list[BillableAccount],
    month: Month,
    start: datetime,
    end: datetime,
    policy: BillingPolicy,
) -> tuple[int, Tiyn]:
    month_text = str(month)
    done = repo.billed_accounts([a.account_id for a in page], month_text)
    todo = [a for a in page if a.account_id not in done]
    if not todo:
        return 0, 0
    ids = [a.account_id for a in todo]
    movements = repo.net_by_kind(ids, start, end)
    credits = repo.credits(ids)
    unpaid = repo.unpaid_totals(ids)
    now = uow.clock.now()
    due_at = due_date(end, policy.due_days)
    rows = []
    credit_moves: dict[int, Tiyn] = {}
    total_due = 0
    for account in todo:
        credit = credits.get(account.account_id, 0)
        draft = compose_bill(
            charges_by_category(movements.get(account.account_id, {})),
            carried_credit=credit,
            previous_unpaid=unpaid.get(account.account_id, 0),
        )
        if draft.credit_left != credit:
            credit_moves[account.account_id] = draft.credit_left - credit
        total_due += draft.amount_due
        rows.append(
            {
                "subscriber_id": account.subscriber_id,
                "account_id": account.account_id,
                "msisdn": account.msisdn,
                "month": month_text,
                "period_start": start,
                "period_end": end,
                "charges": draft.charges,
                "carried_in": draft.carried_in,
                "previous_unpaid": draft.previous_unpaid,
                "amount_due": draft.amount_due,
                "paid": 0,
                "status": (BillStatus.OPEN if draft.amount_due > 0 else BillStatus.PAID).value,
                "lines": [{"category": ln.category, "amount": ln.amount} for ln in draft.lines],
                "due_at": due_at,
                "barred_at": None,
                "paid_at": None if draft.amount_due > 0 else now,
                "share_token": public_token(),
                "created_at": now,
            }
        )
    repo.insert_bills(rows)
    repo.add_credits(credit_moves, now)
    return len(rows), total_due


def check_overdue(
    db: Database, policy: BillingPolicy, *, actor: str = "system:bills", batch: int = 1000
) -> OverdueReport:
    """Mark bills past their due date overdue; bar numbers whose grace period ran out.

    A number is barred once per bill (the bill remembers it barred); paying the overdue bills
    unbars it (see the top-up hook below). Closed numbers are left alone.
    """
    now = db.clock.now()
    cutoff = now - timedelta(days=policy.grace_days)
    barred: list[str] = []
    with db.uow() as uow:
        marked = bills_of(uow).mark_overdue(now)
        uow.commit()
    while True:
        with db.uow() as uow:
            repo = bills_of(uow)
            due = repo.to_bar(cutoff, limit=batch)
            by_number: dict[str, list[int]] = {}
            for bill_id, _subscriber_id, msisdn in due:
                by_number.setdefault(msisdn, []).append(bill_id)
            for msisdn, bill_ids in by_number.items():
                if _bar(uow, msisdn, bill_ids, now, actor):
                    barred.append(msisdn)
            repo.set_barred([b for b, _, _ in due], now)
            uow.commit()
        if len(due) < batch:
            return OverdueReport(marked, barred)


def _bar(uow: UnitOfWork, msisdn: str, bill_ids: list[int], now: datetime, actor: str) -> bool:
    subscriber = uow.subscribers.by_msisdn(msisdn, lock=True)
    if subscriber is None or subscriber.status not in (
        SubscriberStatus.ACTIVE,
        SubscriberStatus.SUSPENDED,
    ):
        return False
    uow.subscribers.set_status(subscriber.id, SubscriberStatus.BARRED, now)
    uow.audit.record(
        at=now,
        actor=actor,
        action="subscriber.barred",
        subject=f"subscriber:{msisdn}",
        details={"reason": "postpaid bill overdue", "bill_ids": bill_ids},
    )
    enqueue_sms(
        uow.outbox,
        to=msisdn,
        sender=SMS_SENDER,
        text="Счёт не оплачен. Исходящая связь ограничена до оплаты.",
        now=now,
    )
    return True


# -- reading -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AccountBills:
    """What a payer sees: unpaid bills oldest first, what they owe in all, credit carried."""

    subscriber: Subscriber
    unpaid: list[Bill]
    credit: Tiyn

    @property
    def outstanding(self) -> Tiyn:
        return sum(b.outstanding for b in self.unpaid)

    @property
    def oldest(self) -> Bill | None:
        return self.unpaid[0] if self.unpaid else None


def account_bills(uow: UnitOfWork, subscriber: Subscriber) -> AccountBills:
    repo = bills_of(uow)
    return AccountBills(
        subscriber=subscriber,
        unpaid=repo.unpaid_bills(subscriber.account_id),
        credit=repo.credits([subscriber.account_id]).get(subscriber.account_id, 0),
    )


def bills_of_number(db: Database, msisdn_text: str, *, limit: int = 24) -> list[Bill]:
    msisdn = parse_msisdn(msisdn_text)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        return bills_of(uow).of_account(subscriber.account_id, limit=limit)


def bill_for_month(db: Database, msisdn_text: str, month: Month) -> Bill:
    msisdn = parse_msisdn(msisdn_text)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        bill = bills_of(uow).for_month(subscriber.account_id, str(month))
    if bill is None:
        raise NotFound(f"no bill of {msisdn} for {month}")
    return bill


def bill_by_token(db: Database, token: str) -> Bill:
    if not isinstance(token, str) or not 16 <= len(token) <= 40:
        raise NotFound("no such bill")
    with db.reading() as uow:
        bill = bills_of(uow).by_token(token)
    if bill is None:
        raise NotFound("no such bill")
    return bill


# -- the top-up hook ---------------------------------------------------------------------
def allocate_payment(uow: UnitOfWork, credited: hooks.CreditedTopUp) -> None:
    """Pay a postpaid number's unpaid bills oldest first; keep the excess as carried credit.

    Runs inside the top-up's unit of work, under its lock on the subscriber row. When the last
    bill that barred the number is paid, the number is unbarred here, unless the balance is
    back at zero or above, in which case ``credit_topup`` itself lifts the bar.
    """
    subscriber = credited.subscriber
    if subscriber.payment_type is not PaymentType.POSTPAID:
        return
    repo = bills_of(uow)
    now = uow.clock.now()
    unpaid = repo.unpaid_bills(subscriber.account_id)
    allocations, excess = allocate(credited.amount, [b.as_unpaid() for b in unpaid])
    rows = []
    for part in allocations:
        repo.pay(part.bill_id, part.amount, part.settles, now)
        rows.append(_allocation_row(credited, subscriber, part.bill_id, part.amount, now))
    if excess:
        repo.add_credits({subscriber.account_id: excess}, now)
        rows.append(_allocation_row(credited, subscriber, None, excess, now))
    repo.insert_allocations(rows)
    settled = {a.bill_id for a in allocations if a.settles}
    barred_bills = [b for b in unpaid if b.barred_at is not None]
    if (
        subscriber.status is SubscriberStatus.BARRED
        and barred_bills
        and all(b.id in settled for b in barred_bills)
    ):
        account = uow.ledger.account(subscriber.account_id)
        if account is not None and account.balance < 0:
            uow.subscribers.set_status(subscriber.id, SubscriberStatus.ACTIVE, now)
            uow.audit.record(
                at=now,
                actor="system:bills",
                action="subscriber.unbarred",
                subject=f"subscriber:{subscriber.msisdn}",
                details={
                    "reason": "overdue bills paid",
                    "payment_id": credited.payment_id,
                    "paid": format_tenge(credited.amount),
                },
            )


def _allocation_row(
    credited: hooks.CreditedTopUp,
    subscriber: Subscriber,
    bill_id: int | None,
    amount: Tiyn,
    now: datetime,
) -> dict[str, object]:
    return {
        "payment_id": credited.payment_id,
        "account_id": subscriber.account_id,
        "bill_id": bill_id,
        "amount": amount,
        "created_at": now,
    }


hooks.register_after_credit(allocate_payment)
