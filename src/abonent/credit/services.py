"""Trust credit use cases: offer, take, repay on every top-up, debit at the deadline.

Ledger shape. Taking ``A`` with fee ``F`` is one transaction: receivable −(A+F), subscriber +A,
fees +F — the receivable account holds what subscribers owe. A repayment moves money from the
subscriber back to the receivable. At the deadline the remainder is debited even below zero:
the prepaid account's floor (normally 0) is lowered to the new balance *in the same
transaction*, so the ledger's invariant "no balance below its floor" still holds and ``audit``
stays clean; the number is barred. Each later top-up raises the floor back with the balance
(the debt cannot be spent again), and floor 0 is restored once the balance is back at zero,
when the top-up also lifts the bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from abonent.core.errors import AbonentError, Conflict, NotFound
from abonent.core.money import Tiyn
from abonent.credit.domain import (
    CreditRules,
    CreditStanding,
    CreditStatus,
    CreditTier,
    Ineligible,
    TrustCredit,
    eligible_tiers,
    refusal,
    repayment,
)
from abonent.credit.repository import SqlCreditRepository
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, Posting, TransactionRequest, transfer_request
from abonent.messaging.domain import cached_msisdn
from abonent.outbox.repository import enqueue_sms
from abonent.payments import hooks
from abonent.subscribers.domain import PaymentType, Subscriber, SubscriberStatus
from abonent.subscribers.services import system_account
from abonent.ussd.messages import SMS, render, tg

SOURCE = "trust_credit"
SMS_SENDER = "Abonent"
DEFAULT_RULES = CreditRules()


class CreditRefused(Conflict):
    """The subscriber may not take a trust credit now; ``details["reason"]`` says why."""

    code = "credit_refused"


def credits_of(uow: UnitOfWork) -> SqlCreditRepository:
    return SqlCreditRepository(uow.connection)


@dataclass(frozen=True, slots=True)
class CreditOffer:
    msisdn: str
    tiers: tuple[CreditTier, ...]
    term_days: int


_DECIDED_WITHOUT_ACTIVITY = frozenset(
    {Ineligible.POSTPAID, Ineligible.BARRED, Ineligible.OWES, Ineligible.TENURE}
)


def _standing(uow: UnitOfWork, subscriber: Subscriber, rules: CreditRules) -> CreditStanding:
    now = uow.clock.now()
    balance = uow.subscribers.balance(subscriber.account_id)
    assert balance is not None
    since = now - timedelta(days=30)
    credits = credits_of(uow)
    open_credit = credits.open_for(subscriber.id)
    standing = CreditStanding(
        prepaid=subscriber.payment_type is PaymentType.PREPAID,
        barred_or_closed=subscriber.status in (SubscriberStatus.BARRED, SubscriberStatus.CLOSED),
        tenure_days=(now - subscriber.created_at).days,
        topups_30d_count=0,
        topups_30d_sum=0,
        balance=balance,
        open_debt=open_credit.outstanding if open_credit else None,
    )
    if refusal(standing, rules) in _DECIDED_WITHOUT_ACTIVITY:
        # Refused for a reason the 30 days' activity cannot change, and every check before it
        # passed with no activity at all, so it passes with any: the two sums over payments
        # and postings are not needed (most ``*141#`` answers are these).
        return standing
    count, total = credits.real_topups_since(subscriber.id, since, rules.not_real_topups)
    spend = credits.spend_since(subscriber.account_id, since, rules.spend_kinds)
    return replace(standing, topups_30d_count=count, topups_30d_sum=total, spend_30d=spend)


def _refuse_if_ineligible(standing: CreditStanding, rules: CreditRules) -> list[CreditTier]:
    reason = refusal(standing, rules)
    if reason is not None:
        debt = standing.open_debt if standing.open_debt is not None else -standing.balance
        raise CreditRefused(
            f"trust credit refused: {reason.value}",
            reason=reason.value,
            days=rules.min_tenure_days,
            debt=tg(max(debt, 0)),
        )
    return eligible_tiers(standing, rules)


def offer(db: Database, msisdn: str, *, rules: CreditRules = DEFAULT_RULES) -> CreditOffer:
    """The amounts this number may take now, or ``CreditRefused`` with the reason."""
    number = cached_msisdn(msisdn)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(number)
        if subscriber is None:
            raise NotFound(f"no subscriber {number}")
        tiers = _refuse_if_ineligible(_standing(uow, subscriber, rules), rules)
    return CreditOffer(number, tuple(tiers), rules.term_days)


def find_by_session(db: Database, session_key: str) -> TrustCredit | None:
    with db.reading() as uow:
        return credits_of(uow).by_session(session_key)


def take(
    db: Database,
    msisdn: str,
    amount: Tiyn,
    *,
    session_key: str,
    actor: str,
    rules: CreditRules = DEFAULT_RULES,
) -> TrustCredit:
    """Credit ``amount`` now, owed with its fee within the term; once per ``session_key``."""
    number = cached_msisdn(msisdn)

    def work(uow: UnitOfWork) -> TrustCredit:
        subscriber = uow.subscribers.by_msisdn(number, lock=True)
        if subscriber is None:
            raise NotFound(f"no subscriber {number}")
        tiers = _refuse_if_ineligible(_standing(uow, subscriber, rules), rules)
        tier = next((t for t in tiers if t.amount == amount), None)
        if tier is None:
            raise CreditRefused("this amount is not offered", reason="bad_choice")
        now = uow.clock.now()
        receivable = system_account(uow, AccountKind.CREDIT_RECEIVABLE, SOURCE)
        postings = [
            Posting(receivable, -(tier.amount + tier.fee)),
            Posting(subscriber.account_id, tier.amount),
        ]
        if tier.fee:
            postings.append(Posting(system_account(uow, AccountKind.FEES, SOURCE), tier.fee))
        posted = ledger.record(
            uow,
            TransactionRequest(
                kind="trust_credit.taken",
                source=SOURCE,
                idempotency_key=f"take:{session_key}",
                postings=tuple(postings),
                reference=f"trust credit to {number}",
            ),
        )
        due = now + timedelta(days=rules.term_days)
        credit_id = credits_of(uow).insert(
            subscriber_id=subscriber.id,
            msisdn=number,
            amount=tier.amount,
            fee=tier.fee,
            taken_at=now,
            due_at=due,
            session_key=session_key,
            transaction_id=posted.id,
        )

        enqueue_sms(
            uow.outbox,
            to=number,
            sender=SMS_SENDER,
            text=render(
                SMS,
                "credit_taken",
                subscriber.language,
                {"amount": tg(tier.amount), "debt": tg(tier.amount + tier.fee), "date": _date(due)},
            ),
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=actor,
            action="trust_credit.taken",
            subject=f"subscriber:{number}",
            details={"credit_id": credit_id, "amount": tier.amount, "fee": tier.fee},
            transaction_id=posted.id,
        )
        credit = credits_of(uow).by_id(credit_id)
        assert credit is not None
        return credit

    def replay(uow: UnitOfWork) -> TrustCredit | None:
        return credits_of(uow).by_session(session_key)

    return db.run_once(work, replay)


def _date(moment: datetime, utc_offset_hours: int = 5) -> str:
    """The deadline as the subscriber reads it: a date in Kazakhstan time."""
    return moment.astimezone(timezone(timedelta(hours=utc_offset_hours))).strftime("%d.%m.%Y")


def repay_on_topup(uow: UnitOfWork, topup: hooks.CreditedTopUp) -> None:
    """BEFORE_CREDIT hook: a top-up repays an owed trust credit first.

    An open credit takes ``min(outstanding, top-up, available)``; after a forced debit the
    account's lowered floor follows the balance up, and is back at 0 (credit repaid) once the
    balance is; the top-up then lifts the debt bar.
    """
    repo = credits_of(uow)
    credit = repo.open_for(topup.subscriber.id, lock=True)
    if credit is None:
        return
    account = uow.ledger.account(topup.subscriber.account_id)
    assert account is not None
    now = uow.clock.now()
    language = topup.subscriber.language

    if credit.status is CreditStatus.OPEN:
        paid = repayment(credit.outstanding, topup.amount, account.balance - (account.floor or 0))
        if paid == 0:
            return
        receivable = system_account(uow, AccountKind.CREDIT_RECEIVABLE, SOURCE)
        posted = ledger.record(
            uow,
            transfer_request(
                kind="trust_credit.repaid",
                source=SOURCE,
                idempotency_key=f"repay:{credit.id}:payment:{topup.payment_id}",
                debit_account_id=topup.subscriber.account_id,
                credit_account_id=receivable,
                amount=paid,
                reference=f"trust credit {credit.id} repayment",
            ),
        )
        left = credit.outstanding - paid
        repo.set_outstanding(
            credit.id, left, CreditStatus.OPEN if left else CreditStatus.REPAID, now
        )
        key, params = (
            ("credit_repaid_part", {"paid": tg(paid), "debt": tg(left)})
            if left
            else ("credit_repaid", {})
        )
        transaction_id: int | None = posted.id
    else:
        balance = account.balance
        if balance >= 0:
            uow.ledger.set_floor(account.id, 0)
            repo.set_outstanding(credit.id, 0, CreditStatus.REPAID, now)
            key, params = "credit_unbarred", {}
        else:
            uow.ledger.set_floor(account.id, balance)
            repo.set_outstanding(credit.id, -balance, CreditStatus.OVERDUE, now)
            key, params = "credit_repaid_part", {"paid": tg(topup.amount), "debt": tg(-balance)}
        transaction_id = None
    enqueue_sms(
        uow.outbox,
        to=topup.subscriber.msisdn,
        sender=SMS_SENDER,
        text=render(SMS, key, language, params),
        now=now,
    )
    uow.audit.record(
        at=now,
        actor="system",
        action=f"trust_credit.{key}",
        subject=f"subscriber:{topup.subscriber.msisdn}",
        details={"credit_id": credit.id, "payment_id": topup.payment_id},
        transaction_id=transaction_id,
    )


def repay_on_topups(uow: UnitOfWork, topups: Sequence[hooks.CreditedTopUp]) -> None:
    """Batch form of ``repay_on_topup``: one query finds the numbers owing a credit (most
    owe none); only their top-ups repay, one by one."""
    owing = credits_of(uow).owing_among([t.subscriber.id for t in topups])
    for topup in topups:
        if topup.subscriber.id in owing:
            repay_on_topup(uow, topup)


hooks.register_before_credit_batch(repay_on_topups, single=repay_on_topup)


@dataclass(frozen=True, slots=True)
class DeadlineOutcome:
    credit_id: int
    debited: Tiyn
    balance_after: Tiyn
    barred: bool


def run_deadlines(db: Database, *, limit: int = 1000) -> list[DeadlineOutcome]:
    """Debit every open credit past its deadline, each in its own transaction.

    Safe to run again at any time: a credit is debited once (its ledger key), and only while
    it is still open.
    """
    with db.reading() as uow:
        due = credits_of(uow).due_ids(uow.clock.now(), limit)
    outcomes = []
    for credit_id in due:
        try:
            outcome = _debit_at_deadline(db, credit_id)
        except AbonentError:
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _debit_at_deadline(db: Database, credit_id: int) -> DeadlineOutcome | None:
    with db.uow() as uow:
        repo = credits_of(uow)
        first = repo.by_id(credit_id)
        if first is None:
            return None
        subscriber = uow.subscribers.by_msisdn(first.msisdn, lock=True)
        credit = repo.by_id(credit_id, lock=True)
        now = uow.clock.now()
        if subscriber is None or credit is None or credit.status is not CreditStatus.OPEN:
            return None
        if credit.due_at > now:
            return None
        account = uow.ledger.account(subscriber.account_id)
        assert account is not None
        owed = credit.outstanding
        after = account.balance - owed
        if after < (account.floor or 0):
            # The forced debit may go below zero: the floor follows it in this transaction.
            uow.ledger.set_floor(account.id, after)
        receivable = system_account(uow, AccountKind.CREDIT_RECEIVABLE, SOURCE)
        posted = ledger.record(
            uow,
            transfer_request(
                kind="trust_credit.forced",
                source=SOURCE,
                idempotency_key=f"forced:{credit.id}",
                debit_account_id=subscriber.account_id,
                credit_account_id=receivable,
                amount=owed,
                reference=f"trust credit {credit.id} due",
            ),
        )
        barred = after < 0

        if barred:
            repo.set_outstanding(credit.id, -after, CreditStatus.OVERDUE, now)
            if subscriber.status in (SubscriberStatus.ACTIVE, SubscriberStatus.SUSPENDED):
                uow.subscribers.set_status(subscriber.id, SubscriberStatus.BARRED, now)
            text = render(
                SMS,
                "credit_forced",
                subscriber.language,
                {"amount": tg(owed), "balance": tg(after)},
            )
        else:
            repo.set_outstanding(credit.id, 0, CreditStatus.REPAID, now)
            text = render(SMS, "credit_repaid", subscriber.language)
        enqueue_sms(uow.outbox, to=subscriber.msisdn, sender=SMS_SENDER, text=text, now=now)
        uow.audit.record(
            at=now,
            actor="system",
            action="trust_credit.forced_debit",
            subject=f"subscriber:{subscriber.msisdn}",
            details={
                "credit_id": credit.id,
                "amount": owed,
                "balance_after": after,
                "barred": barred,
            },
            transaction_id=posted.id,
        )
        uow.commit()
    return DeadlineOutcome(credit_id, owed, after, barred)


def current_credit(db: Database, msisdn: str) -> TrustCredit | None:
    number = cached_msisdn(msisdn)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(number)
        return None if subscriber is None else credits_of(uow).open_for(subscriber.id)
