"""Balance transfers: quote (shown before the confirm step) and send, exactly once per session.

Money: one ledger transaction takes ``amount`` from the sender, puts the fee on the fees account
and the rest on the transfers clearing account; the recipient is then credited from clearing
through the ordinary top-up path (``credit_topup``, channel ``transfer``), so a received
transfer repays the recipient's trust credit first like any money in. Both run in one unit of
work. The sender's row is locked first, so limits are checked against committed transfers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from abonent.core.errors import Conflict, NotFound
from abonent.core.money import Tiyn
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, Posting, TransactionRequest
from abonent.messaging.domain import cached_msisdn, day_and_month_start
from abonent.outbox.repository import enqueue_sms
from abonent.payments.domain import Channel, TopUpRequest
from abonent.payments.services import credit_topup
from abonent.subscribers.domain import PaymentType, Subscriber, SubscriberStatus
from abonent.subscribers.services import system_account
from abonent.transfers.domain import Quote, TransferRules, limit_refusal, quote
from abonent.transfers.repository import BalanceTransfer, SqlTransferRepository
from abonent.ussd.messages import SMS, render, tg

SOURCE = "transfer"
SMS_SENDER = "Abonent"
DEFAULT_RULES = TransferRules()


class TransferRefused(Conflict):
    """A transfer rule says no; ``details["reason"]`` is the catalogue key of the reason."""

    code = "transfer_refused"


def transfers_of(uow: UnitOfWork) -> SqlTransferRepository:
    return SqlTransferRepository(uow.connection)


@dataclass(frozen=True, slots=True)
class TransferQuote:
    sender: str
    recipient: str
    quote: Quote


def _check(
    uow: UnitOfWork, sender: str, recipient: str, amount: Tiyn, rules: TransferRules, *, lock: bool
) -> tuple[Subscriber, Subscriber, Quote]:
    if sender == recipient:
        raise TransferRefused("cannot transfer to yourself", reason="own_number")
    q = quote(amount, rules)
    if q is None:
        raise TransferRefused(
            "amount out of range",
            reason="transfer_range",
            min=tg(rules.min_amount),
            max=tg(rules.max_amount),
        )
    source = uow.subscribers.by_msisdn(sender, lock=lock)
    if source is None:
        raise NotFound(f"no subscriber {sender}")
    if source.payment_type is not PaymentType.PREPAID:
        raise TransferRefused("prepaid numbers only", reason="prepaid_only")
    if source.status is not SubscriberStatus.ACTIVE:
        raise TransferRefused("the number is barred or suspended", reason="barred")
    from abonent.credit.services import credits_of

    if credits_of(uow).open_for(source.id) is not None:
        raise TransferRefused("a trust credit is owed", reason="transfer_in_debt")
    target = uow.subscribers.by_msisdn(recipient)
    brand = uow.subscribers.brand(target.brand) if target else None
    if target is None or target.status is SubscriberStatus.CLOSED or not (brand and brand.home):
        raise TransferRefused(
            "the recipient cannot receive transfers",
            reason="transfer_recipient",
            number=recipient[2:],
        )
    balance = uow.subscribers.balance(source.account_id)
    assert balance is not None
    day, month = day_and_month_start(uow.clock.now(), rules.utc_offset_hours)
    repo = transfers_of(uow)
    today_count, today_sum, month_sum = repo.sent_today_and_month(sender, day, min(day, month))
    reason = limit_refusal(
        amount,
        balance=balance,
        today_count=today_count,
        today_sum=today_sum,
        month_sum=month_sum,
        rules=rules,
    )
    if reason is not None:
        limits = {
            "transfer_daily_count": str(rules.daily_count),
            "transfer_daily_limit": tg(rules.daily_amount),
            "transfer_monthly_limit": tg(rules.monthly_amount),
        }
        raise TransferRefused(
            f"transfer refused: {reason.value}",
            reason=reason.value,
            limit=limits.get(reason.value, ""),
            min=tg(rules.min_remaining),
        )
    return source, target, q


def quote_transfer(
    db: Database, sender: str, recipient: str, amount: Tiyn, *, rules: TransferRules = DEFAULT_RULES
) -> TransferQuote:
    """Everything the confirm screen shows; refuses exactly as ``send`` would."""
    s, r = cached_msisdn(sender), cached_msisdn(recipient)
    with db.reading() as uow:
        _, _, q = _check(uow, s, r, amount, rules, lock=False)
    return TransferQuote(s, r, q)


def find_by_session(db: Database, session_key: str) -> BalanceTransfer | None:
    with db.reading() as uow:
        return transfers_of(uow).by_session(session_key)


def send(
    db: Database,
    sender: str,
    recipient: str,
    amount: Tiyn,
    *,
    session_key: str,
    actor: str,
    rules: TransferRules = DEFAULT_RULES,
) -> BalanceTransfer:
    """Move the money once per ``session_key``; a repeat returns the first result."""
    s, r = cached_msisdn(sender), cached_msisdn(recipient)

    def work(uow: UnitOfWork) -> BalanceTransfer:
        source, target, q = _check(uow, s, r, amount, rules, lock=True)
        now = uow.clock.now()
        clearing = system_account(uow, AccountKind.SUSPENSE, "transfers")
        postings = [Posting(source.account_id, -q.amount), Posting(clearing, q.net)]
        if q.fee:
            postings.append(Posting(system_account(uow, AccountKind.FEES, SOURCE), q.fee))
        posted = ledger.record(
            uow,
            TransactionRequest(
                kind="transfer.sent",
                source="transfer.out",
                idempotency_key=session_key,
                postings=tuple(postings),
                reference=f"transfer {s} -> {r}",
            ),
        )
        payment = credit_topup(
            uow,
            TopUpRequest(
                msisdn=r,
                amount=q.net,
                channel=Channel.TRANSFER,
                source=SOURCE,
                external_id=session_key,
                clearing_account_id=clearing,
                method=f"transfer from {s[-4:]}",
                actor=actor,
            ),
        )
        sender_account = uow.ledger.account(source.account_id)
        recipient_account = uow.ledger.account(target.account_id)
        assert sender_account is not None and recipient_account is not None
        transfer = BalanceTransfer(
            id=0,
            session_key=session_key,
            sender_msisdn=s,
            recipient_msisdn=r,
            amount=q.amount,
            fee=q.fee,
            net=q.net,
            sender_balance_after=sender_account.balance,
            transaction_id=posted.id,
            payment_id=payment.id,
            created_at=now,
        )
        transfer_id = transfers_of(uow).insert(transfer)
        enqueue_sms(
            uow.outbox,
            to=s,
            sender=SMS_SENDER,
            text=render(
                SMS,
                "transfer_sent",
                source.language,
                {
                    "amount": tg(q.amount),
                    "number": r[2:],
                    "net": tg(q.net),
                    "fee": tg(q.fee),
                    "balance": tg(sender_account.balance),
                },
            ),
            now=now,
        )
        enqueue_sms(
            uow.outbox,
            to=r,
            sender=SMS_SENDER,
            text=render(
                SMS,
                "transfer_received",
                target.language,
                {"net": tg(q.net), "number": s[2:], "balance": tg(recipient_account.balance)},
            ),
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=actor,
            action="transfer.sent",
            subject=f"subscriber:{s}",
            details={"to": r, "amount": q.amount, "fee": q.fee, "transfer_id": transfer_id},
            transaction_id=posted.id,
        )
        return replace(transfer, id=transfer_id)

    def replay(uow: UnitOfWork) -> BalanceTransfer | None:
        earlier = transfers_of(uow).by_session(session_key)
        return replace(earlier, replayed=True) if earlier else None

    return db.run_once(work, replay)
