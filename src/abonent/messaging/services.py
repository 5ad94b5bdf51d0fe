"""Free requests between subscribers.

"Call me" (``*144*N#``) and "top up my account" (``*143*N#``) send a free SMS with the sender's
number to a number of the operator's own brands, within per-sender daily and monthly limits
(counted under the sender's row lock, so concurrent requests cannot exceed them).
A collect call (``*133*N#``) asks the callee, who accepts or declines with ``*133#``; an
accepted call is rated to the callee (13 ₸ a started minute by default) through the charging
engine when it is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from abonent.core.errors import Conflict, InsufficientFunds, NotFound
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, transfer_request
from abonent.messaging.domain import (
    CollectCall,
    CollectStatus,
    MessagingRules,
    NotifyKind,
    cached_msisdn,
    collect_charge,
    day_and_month_start,
)
from abonent.messaging.repository import SqlMessagingRepository
from abonent.outbox.repository import enqueue_sms
from abonent.subscribers.domain import Language, Subscriber, SubscriberStatus, brand_for_prefix
from abonent.subscribers.services import system_account
from abonent.ussd.messages import SMS, render, tg

DEFAULT_RULES = MessagingRules()
_SMS_KEY = {NotifyKind.CALL_ME: "callme", NotifyKind.TOP_UP_ME: "topupme"}


class RequestRefused(Conflict):
    """A free-request rule says no; ``details["reason"]`` is the catalogue key."""

    code = "request_refused"


def messaging_of(uow: UnitOfWork) -> SqlMessagingRepository:
    return SqlMessagingRepository(uow.connection)


def _active_sender(uow: UnitOfWork, msisdn: str, *, lock: bool) -> Subscriber:
    sender = uow.subscribers.by_msisdn(msisdn, lock=lock)
    if sender is None:
        raise NotFound(f"no subscriber {msisdn}")
    if sender.status is SubscriberStatus.CLOSED:
        raise RequestRefused("the number is closed", reason="number_closed")
    return sender


def home_brand_names(uow: UnitOfWork) -> str:
    return ", ".join(b.name for b in uow.subscribers.all_brands() if b.home)


@dataclass(frozen=True, slots=True)
class NotifyResult:
    kind: NotifyKind
    target: str
    replayed: bool = False


def send_request(
    db: Database,
    kind: NotifyKind,
    sender_msisdn: str,
    target_text: str,
    *,
    session_key: str,
    rules: MessagingRules = DEFAULT_RULES,
) -> NotifyResult:
    """Send the free "call me" / "top up my account" SMS once per ``session_key``."""
    sender_number = cached_msisdn(sender_msisdn)
    target = cached_msisdn(target_text)

    def work(uow: UnitOfWork) -> NotifyResult:
        if target == sender_number:
            raise RequestRefused("own number", reason="own_number")
        sender = _active_sender(uow, sender_number, lock=True)
        recipient = uow.subscribers.by_msisdn(target)
        brand_code = (
            recipient.brand if recipient else brand_for_prefix(target, uow.subscribers.prefixes())
        )
        brand = uow.subscribers.brand(brand_code) if brand_code else None
        if brand is None or not brand.home:
            raise RequestRefused(
                "own brands only", reason="foreign_brand", brands=home_brand_names(uow)
            )
        now = uow.clock.now()
        day, month = day_and_month_start(now, rules.utc_offset_hours)
        repo = messaging_of(uow)
        if repo.count_notify(kind, sender_number, day) >= rules.daily_limit:
            raise RequestRefused("daily limit", reason="daily_limit", limit=rules.daily_limit)
        if repo.count_notify(kind, sender_number, month) >= rules.monthly_limit:
            raise RequestRefused("monthly limit", reason="monthly_limit", limit=rules.monthly_limit)
        repo.add_notify(kind, sender_number, target, session_key, now)
        language = recipient.language if recipient else Language.RU
        enqueue_sms(
            uow.outbox,
            to=target,
            sender=sender.national,
            text=render(SMS, _SMS_KEY[kind], language, {"number": sender.national}),
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=f"ussd:{sender_number}",
            action=f"messaging.{kind.value}",
            subject=f"subscriber:{sender_number}",
            details={"to": target},
        )
        return NotifyResult(kind, target)

    def replay(uow: UnitOfWork) -> NotifyResult | None:
        earlier = messaging_of(uow).notify_by_session(session_key)
        return NotifyResult(NotifyKind(earlier[0]), earlier[1], True) if earlier else None

    return db.run_once(work, replay)


def request_collect_call(
    db: Database,
    caller_msisdn: str,
    callee_text: str,
    *,
    session_key: str,
    rules: MessagingRules = DEFAULT_RULES,
) -> CollectCall:
    """Ask the callee to accept a call at their expense (an SMS; they answer with ``*133#``)."""
    caller_number = cached_msisdn(caller_msisdn)
    callee_number = cached_msisdn(callee_text)

    def work(uow: UnitOfWork) -> CollectCall:
        if callee_number == caller_number:
            raise RequestRefused("own number", reason="own_number")
        caller = _active_sender(uow, caller_number, lock=True)
        callee = uow.subscribers.by_msisdn(callee_number)
        if callee is None or callee.status is SubscriberStatus.CLOSED:
            raise RequestRefused(
                "the callee is not served",
                reason="number_not_served",
                number=callee.national if callee else callee_number[2:],
            )
        now = uow.clock.now()
        repo = messaging_of(uow)
        waiting = [
            c
            for c in repo.calls_of(caller_number, role="caller", statuses=(CollectStatus.PENDING,))
            if c.callee_msisdn == callee_number and not _expired(c, now, rules)
        ]
        if waiting:
            raise RequestRefused(
                "a request is already waiting",
                reason="collect_pending_exists",
                number=callee.national,
            )
        call_id = repo.add_call(caller_number, callee_number, session_key, now)
        enqueue_sms(
            uow.outbox,
            to=callee_number,
            sender=caller.national,
            text=render(
                SMS,
                "collect_request",
                callee.language,
                {"number": caller.national, "rate": tg(rules.collect_rate_per_minute)},
            ),
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=f"ussd:{caller_number}",
            action="collect_call.requested",
            subject=f"subscriber:{callee_number}",
            details={"call_id": call_id, "caller": caller_number},
        )
        call = repo.call(call_id)
        assert call is not None
        return call

    def replay(uow: UnitOfWork) -> CollectCall | None:
        return messaging_of(uow).call_by_session(session_key)

    return db.run_once(work, replay)


def _expired(call: CollectCall, now: datetime, rules: MessagingRules) -> bool:
    return now - call.created_at > timedelta(minutes=rules.collect_answer_minutes)


def pending_for(
    db: Database, callee_msisdn: str, *, rules: MessagingRules = DEFAULT_RULES
) -> CollectCall | None:
    """The newest unexpired request waiting for this callee's answer."""
    number = cached_msisdn(callee_msisdn)
    with db.reading() as uow:
        now = uow.clock.now()
        calls = messaging_of(uow).calls_of(number, role="callee", statuses=(CollectStatus.PENDING,))
    return next((c for c in calls if not _expired(c, now, rules)), None)


def calls_for(db: Database, msisdn: str) -> list[CollectCall]:
    """Pending and connected collect calls of a number, as callee or caller (for the simulator)."""
    number = cached_msisdn(msisdn)
    live = (CollectStatus.PENDING, CollectStatus.ACCEPTED)
    with db.reading() as uow:
        repo = messaging_of(uow)
        calls = repo.calls_of(number, role="callee", statuses=live)
        calls += repo.calls_of(number, role="caller", statuses=live)
    return sorted(calls, key=lambda c: c.id, reverse=True)


def answer_collect_call(
    db: Database,
    callee_msisdn: str,
    call_id: int,
    *,
    accept: bool,
    rules: MessagingRules = DEFAULT_RULES,
) -> CollectCall:
    """Accept (the callee must be able to pay a minute) or decline; repeats change nothing."""
    number = cached_msisdn(callee_msisdn)
    with db.uow() as uow:
        callee = uow.subscribers.by_msisdn(number, lock=True)
        repo = messaging_of(uow)
        call = repo.call(call_id, lock=True)
        if callee is None or call is None or call.callee_msisdn != number:
            raise NotFound("no such collect call request")
        now = uow.clock.now()
        if call.status is not CollectStatus.PENDING:
            return call
        if _expired(call, now, rules):
            repo.set_call(call.id, status=CollectStatus.EXPIRED, decided_at=now)
            uow.commit()
            raise RequestRefused("the request has expired", reason="session_expired")
        if accept:
            if callee.status is not SubscriberStatus.ACTIVE:
                raise RequestRefused("the callee is barred", reason="barred")
            account = uow.ledger.account(callee.account_id)
            assert account is not None
            if account.balance - (account.floor or 0) < rules.collect_rate_per_minute:
                raise InsufficientFunds("not enough money for one minute")
        status = CollectStatus.ACCEPTED if accept else CollectStatus.DECLINED
        repo.set_call(call.id, status=status, decided_at=now)
        caller = uow.subscribers.by_msisdn(call.caller_msisdn)
        enqueue_sms(
            uow.outbox,
            to=call.caller_msisdn,
            sender=callee.national,
            text=render(
                SMS,
                "collect_accepted" if accept else "collect_declined",
                caller.language if caller else Language.RU,
                {"number": callee.national},
            ),
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=f"ussd:{number}",
            action=f"collect_call.{status.value}",
            subject=f"subscriber:{number}",
            details={"call_id": call.id},
        )
        uow.commit()
        updated = repo.call(call.id)
    assert updated is not None
    return updated


def finish_collect_call(
    db: Database, call_id: int, duration_seconds: int, *, rules: MessagingRules = DEFAULT_RULES
) -> CollectCall:
    """The call ended: rate it to the callee (charging engine, else a direct per-minute charge).

    Exactly once: the usage record id and the ledger key are ``collect:<call id>``.
    """
    if not 0 <= duration_seconds <= 24 * 3600:
        raise RequestRefused("duration out of range", reason="refused")
    with db.reading() as uow:
        call = messaging_of(uow).call(call_id)
        callee = uow.subscribers.by_msisdn(call.callee_msisdn) if call else None
    if call is None or callee is None:
        raise NotFound("no such collect call")
    if call.status is CollectStatus.COMPLETED:
        return call
    if call.status is not CollectStatus.ACCEPTED:
        raise RequestRefused("the call was not accepted", reason="refused")
    assert call.decided_at is not None
    charged = _rate(db, call, callee, duration_seconds, rules)
    with db.uow() as uow:
        repo = messaging_of(uow)
        current = repo.call(call_id, lock=True)
        if current is not None and current.status is CollectStatus.ACCEPTED:
            repo.set_call(
                call_id,
                status=CollectStatus.COMPLETED,
                ended_at=uow.clock.now(),
                duration_seconds=duration_seconds,
                charged=charged,
            )
        uow.commit()
        done = repo.call(call_id)
    assert done is not None
    return done


def _rate(
    db: Database, call: CollectCall, callee: Subscriber, seconds: int, rules: MessagingRules
) -> int:
    try:
        from abonent.charging import domain as charging_domain
        from abonent.charging import services as charging
    except ImportError:
        return _charge_directly(db, call, callee, seconds, rules)
    with db.reading() as uow:
        before = uow.ledger.account(callee.account_id)
    assert call.decided_at is not None
    record = charging_domain.UsageRecord(
        record_id=f"collect:{call.id}",
        kind="collect_call",
        caller=call.caller_msisdn,
        callee=call.callee_msisdn,
        started_at=call.decided_at,
        duration_seconds=seconds,
    )
    report = charging.rate_usage(db, [record])
    outcome = report.outcomes[0] if report.outcomes else None
    if outcome is not None and outcome.status == "refused":
        if outcome.reason == "no_tariff":
            # The collect-call price is network-wide, not a tariff's: charge it directly.
            return _charge_directly(db, call, callee, seconds, rules)
        raise RequestRefused(f"rating refused: {outcome.reason}", reason="refused")
    with db.reading() as uow:
        after = uow.ledger.account(callee.account_id)
    assert before is not None and after is not None
    return max(0, before.balance - after.balance)


def _charge_directly(
    db: Database, call: CollectCall, callee: Subscriber, seconds: int, rules: MessagingRules
) -> int:
    amount = collect_charge(seconds, rules.collect_rate_per_minute)
    if amount == 0:
        return 0
    with db.uow() as uow:
        account = uow.ledger.account(callee.account_id)
        assert account is not None
        # A call is cut when the money runs out: never charge below the floor.
        amount = min(amount, max(0, account.balance - (account.floor or 0)))
        if amount == 0:
            return 0
        revenue = system_account(uow, AccountKind.REVENUE, "collect_call")
        earlier = uow.ledger.find_transaction("collect_call", f"collect:{call.id}")
        if earlier is not None:
            return -earlier.amount_for(callee.account_id)
        ledger.record(
            uow,
            transfer_request(
                kind="usage.collect_call",
                source="collect_call",
                idempotency_key=f"collect:{call.id}",
                debit_account_id=callee.account_id,
                credit_account_id=revenue,
                amount=amount,
                reference=f"collect call {call.id} from {call.caller_msisdn}",
            ),
        )
        uow.commit()
    return amount
