"""Charging use cases: subscriptions, renewals, rating, authorisation, suspension.

Money moves only through the ledger (source ``charging``) into the ``revenue:charging``
system account. Renewals are exactly once per (subscription, period start): the ledger key is
``renewal:{subscription id}:{period start}``, and the subscription's period moves in the same
unit of work as the charge, guarded by the period end that was read. Usage records are exactly
once by their ``record_id`` (a unique index); a chunk of records is one unit of work.
"""

from __future__ import annotations

import gc
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from abonent.catalog.domain import Catalogue, Product, ProductKind
from abonent.catalog.services import catalog_of
from abonent.charging.domain import (
    TARIFF_SLOT,
    Authorisation,
    BundleState,
    Counter,
    Direction,
    Refusal,
    RenewalPlan,
    Subscription,
    SubscriptionState,
    UsageKind,
    UsageRecord,
    anchor_for,
    apply_takes,
    authorise,
    check_record,
    option_slot,
    plan_renewal,
    plan_tariff_change,
    rate_record,
)
from abonent.charging.repository import DueRow, SqlChargingRepository, UsageRow
from abonent.charging.tables import subscriptions
from abonent.core.errors import (
    AlreadyExists,
    Conflict,
    InsufficientFunds,
    InvalidMsisdn,
    NotFound,
    ValidationError,
)
from abonent.core.money import Tiyn, format_tenge
from abonent.core.msisdn import national10, parse_msisdn
from abonent.db.id_lists import IdListQuery
from abonent.db.uow import Database, UnitOfWork
from abonent.ledger import services as ledger
from abonent.ledger.domain import AccountKind, Posting, TransactionRequest, transfer_request
from abonent.outbox.repository import enqueue_sms
from abonent.outbox.tables import outbox
from abonent.payments import hooks as payment_hooks
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import Subscriber, SubscriberStatus

SOURCE = "charging"
SMS_SENDER = "Abonent"
RENEWAL_CHUNK = 5000
RATING_CHUNK = 5000
RATING_LANES = 2  # PostgreSQL: chunks of disjoint payers rated at the same time
_KZ_E164 = re.compile(r"\+7[0-9]{10}")
_CLOSED = SubscriberStatus.CLOSED.value
_ACTIVE = SubscriberStatus.ACTIVE.value
_ACTIVE_STATE = SubscriptionState.ACTIVE.value
_SUSPENDED = SubscriberStatus.SUSPENDED.value
_JOB_LOCK = 0x41424F4E  # "ABON": the advisory lock of the renewal job on PostgreSQL
# Enum members used for every record, looked up once: reading a member from its class costs
# about 0.1 µs in Python 3.11.
_ONNET, _OFFNET, _SMS, _DATA = Counter.ONNET, Counter.OFFNET, Counter.SMS, Counter.DATA
_CALL, _COLLECT_CALL, _DATA_KIND = UsageKind.CALL, UsageKind.COLLECT_CALL, UsageKind.DATA
_NO_DIRECTION = Direction.NONE


class ProductNotAvailable(Conflict):
    code = "product_not_available"


class NumberNotActive(Conflict):
    """The number is suspended, barred or closed: the request needs an active number."""

    code = "number_not_active"


def charging_of(uow: UnitOfWork) -> SqlChargingRepository:
    return SqlChargingRepository(uow.connection)


def revenue_account(uow: UnitOfWork) -> int:
    return subscribers.system_account(uow, AccountKind.REVENUE, "charging")


def _key_time(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%fZ")


# -- views -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Remainder:
    kind: str  # "onnet_minutes", "offnet_minutes", "sms", "data_mb"
    unit: str  # "minute", "sms", "MB"
    used: int
    left: int
    expires_at: datetime
    product_code: str


@dataclass(frozen=True, slots=True)
class OptionSummary:
    code: str
    names: dict[str, str]
    fee: Tiyn
    state: str
    period_end: datetime


@dataclass(frozen=True, slots=True)
class SubscriptionSummary:
    msisdn: str
    tariff_code: str
    names: dict[str, str]  # ru, kk, en
    fee: Tiyn
    period: str
    state: str  # "active", "lapsed" (fee unpaid: pay-as-you-go) or "held" (suspended)
    period_start: datetime
    period_end: datetime
    remainders: list[Remainder]
    options: list[OptionSummary] = field(default_factory=list)


_REMAINDER_UNITS = (
    ("onnet_minutes", "minute", Counter.ONNET, 60),
    ("offnet_minutes", "minute", Counter.OFFNET, 60),
    ("sms", "sms", Counter.SMS, 1),
    ("data_mb", "MB", Counter.DATA, 1024),
)


def remainders_of(subscription: Subscription, product: Product) -> list[Remainder]:
    state = subscription.bundle_state(product)
    found = []
    for kind, unit, counter, per_unit in _REMAINDER_UNITS:
        capacity = state.capacity(counter)
        if capacity <= 0:
            continue
        left = state.left(counter) // per_unit
        found.append(
            Remainder(
                kind=kind,
                unit=unit,
                used=capacity // per_unit - left,
                left=left,
                expires_at=subscription.period_end,
                product_code=product.code,
            )
        )
    return found


def _load_subscriber(uow: UnitOfWork, msisdn_text: str, *, lock: bool = False) -> Subscriber:
    msisdn = parse_msisdn(msisdn_text)
    subscriber = uow.subscribers.by_msisdn(msisdn, lock=lock)
    if subscriber is None:
        raise NotFound(f"no subscriber {msisdn}")
    return subscriber


def subscription_summary(db: Database, msisdn: str) -> SubscriptionSummary | None:
    """Tariff, fee, period and bundle remainders of a number; None if it has no tariff."""
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(parse_msisdn(msisdn))
        if subscriber is None:
            return None
        catalogue = catalog_of(uow).current()
        subs = charging_of(uow).of_subscriber(subscriber.id)
    tariff = next((s for s in subs if s.is_tariff), None)
    product = catalogue.product(tariff.product_code) if tariff else None
    if tariff is None or product is None:
        return None
    remainders = remainders_of(tariff, product)
    options = []
    for sub in subs:
        option = catalogue.product(sub.product_code)
        if sub.is_tariff or option is None:
            continue
        remainders += remainders_of(sub, option)
        options.append(
            OptionSummary(option.code, dict(option.names), option.fee, sub.state, sub.period_end)
        )
    return SubscriptionSummary(
        msisdn=subscriber.msisdn,
        tariff_code=product.code,
        names=dict(product.names),
        fee=product.fee,
        period=product.period.value,
        state=tariff.state.value,
        period_start=tariff.period_start,
        period_end=tariff.period_end,
        remainders=remainders,
        options=options,
    )


def current_period(db: Database, msisdn: str) -> tuple[datetime, datetime, int] | None:
    """(period start, period end, fee) of the number's tariff; None without a tariff.

    For a lapsed tariff (fee refused) start == end == the moment it lapsed: the fee is due now.
    """
    summary = subscription_summary(db, msisdn)
    if summary is None:
        return None
    return summary.period_start, summary.period_end, summary.fee


@dataclass(frozen=True, slots=True)
class Offer:
    """A tariff or option as offered to one number."""

    product: Product
    current: bool  # this is the number's tariff / a connected option
    charge_now: Tiyn  # what connecting it costs now (fee plus change fee, if any)


def list_tariffs(db: Database, msisdn: str) -> list[Offer]:
    """Tariffs the number may move to (and its own), with what the change would cost now."""
    with db.reading() as uow:
        subscriber = _load_subscriber(uow, msisdn)
        catalogue = catalog_of(uow).current()
        subs = charging_of(uow).of_subscriber(subscriber.id)
    tariff = next((s for s in subs if s.is_tariff), None)
    offers = []
    for product in sorted(catalogue.tariffs(), key=lambda p: (p.fee, p.code)):
        current = tariff is not None and tariff.product_code == product.code
        if not current and not product.available_for(
            subscriber.payment_type.value, subscriber.brand
        ):
            continue
        change_fee = product.change_fee if tariff and tariff.tariff_changes > 0 else 0
        offers.append(Offer(product, current, 0 if current else product.fee + change_fee))
    return offers


def list_options(db: Database, msisdn: str) -> list[Offer]:
    with db.reading() as uow:
        subscriber = _load_subscriber(uow, msisdn)
        catalogue = catalog_of(uow).current()
        subs = charging_of(uow).of_subscriber(subscriber.id)
    connected = {s.product_code for s in subs if not s.is_tariff}
    return [
        Offer(p, p.code in connected, 0 if p.code in connected else p.fee)
        for p in sorted(catalogue.options(), key=lambda p: p.code)
        if p.code in connected or p.available_for(subscriber.payment_type.value, subscriber.brand)
    ]


# -- subscriptions ---------------------------------------------------------------------------
def _product(catalogue: Catalogue, code: str, kind: ProductKind) -> Product:
    text = code.strip().upper() if isinstance(code, str) else ""
    product = catalogue.product(text)
    if product is None or product.kind is not kind:
        raise NotFound(f"no {kind.value} {text or code!r} in the catalogue")
    return product


def _require_active(subscriber: Subscriber) -> None:
    if subscriber.status is not SubscriberStatus.ACTIVE:
        raise NumberNotActive(
            f"the number is {subscriber.status.value}; this needs an active number",
            status=subscriber.status.value,
        )


def _lock_account(uow: UnitOfWork, subscriber: Subscriber) -> None:
    """Lock the balance before the subscriptions: the order top-ups and rating use too
    (subscriber row, account, subscriptions), so they cannot deadlock each other."""
    uow.ledger.accounts_by_id([subscriber.account_id], lock=True)


def _available(uow: UnitOfWork, account_id: int) -> Tiyn | None:
    account = uow.ledger.account(account_id)
    assert account is not None
    return account.available


def _notify(uow: UnitOfWork, subscriber: Subscriber, texts: dict[str, str], **values: str) -> None:
    text = texts.get(subscriber.language.value, texts["ru"]).format(**values)
    enqueue_sms(uow.outbox, to=subscriber.msisdn, sender=SMS_SENDER, text=text, now=uow.clock.now())


_TARIFF_SMS = {
    "ru": "Тариф «{name}» подключён. Списано {amount} тг.",
    "kk": "«{name}» тарифі қосылды. {amount} тг алынды.",
    "en": "Tariff {name} is on. Charged {amount} KZT.",
}
_OPTION_SMS = {
    "ru": "Услуга «{name}» подключена. Списано {amount} тг.",
    "kk": "«{name}» қызметі қосылды. {amount} тг алынды.",
    "en": "Service {name} is on. Charged {amount} KZT.",
}
_RENEWED_SMS = {
    "ru": "Тариф «{name}» продлён до {end}. Списано {amount} тг.",
    "kk": "«{name}» тарифі {end} дейін ұзартылды. {amount} тг алынды.",
    "en": "Tariff {name} renewed until {end}. Charged {amount} KZT.",
}
_LAPSED_SMS = {
    "ru": "Недостаточно средств для продления «{name}» ({amount} тг). Пополните баланс.",
    "kk": "«{name}» ұзартуға қаражат жеткіліксіз ({amount} тг). Балансты толтырыңыз.",
    "en": "Not enough money to renew {name} ({amount} KZT). Please top up.",
}


def change_tariff(
    db: Database, msisdn: str, tariff_code: str, *, actor: str, allow_unpaid: bool = False
) -> SubscriptionSummary:
    """Put the number on another tariff at once.

    The unused part of the old period's fee comes back pro rata, the change fee is charged
    (the first change is free; connecting a first tariff is not a change), and the new tariff's
    fee for a period starting now; the old bundles are gone, the new ones granted. If the
    balance is short: ``InsufficientFunds`` and nothing changes — unless ``allow_unpaid``
    (assigning a first tariff at sign-up), which connects it lapsed, to renew on a top-up.
    """
    with db.uow() as uow:
        subscriber = _load_subscriber(uow, msisdn, lock=True)
        _require_active(subscriber)
        catalogue = catalog_of(uow).current()
        product = _product(catalogue, tariff_code, ProductKind.TARIFF)
        repo = charging_of(uow)
        _lock_account(uow, subscriber)
        subs = repo.of_subscriber(subscriber.id, lock=True)
        old = next((s for s in subs if s.is_tariff), None)
        if old is not None and old.product_code == product.code:
            raise AlreadyExists(f"the number is already on {product.code}")
        if not product.available_for(subscriber.payment_type.value, subscriber.brand):
            raise ProductNotAvailable(f"{product.code} is not offered to this number")
        now = uow.clock.now()
        paid_old = old is not None and old.state is SubscriptionState.ACTIVE
        plan = plan_tariff_change(
            product,
            now=now,
            changes_made=old.tariff_changes if old else 0,
            old_fee_paid=old.fee_paid if old and paid_old else 0,
            old_period_start=old.period_start if old and paid_old else None,
            old_period_end=old.period_end if old and paid_old else None,
        )
        change_fee = plan.change_fee if old is not None else 0
        net = plan.fee + change_fee - plan.refund
        available = _available(uow, subscriber.account_id)
        unpaid = available is not None and net > available
        if unpaid and not allow_unpaid:
            raise InsufficientFunds(
                f"changing to {product.code} needs {format_tenge(net)} ₸",
                needed=net,
            )
        transaction_id = None
        if not unpaid:
            transaction_id = _post_tariff_change(
                uow, subscriber, product, plan.refund, change_fee, plan.fee, now
            )
        state = SubscriptionState.LAPSED if unpaid else SubscriptionState.ACTIVE
        period_end = now if unpaid else plan.period_end
        if old is None:
            repo.insert(
                subscriber_id=subscriber.id,
                slot=TARIFF_SLOT,
                product_code=product.code,
                kind=ProductKind.TARIFF.value,
                state=state,
                period_start=now,
                period_end=period_end,
                anchor_day=anchor_for(product, now),
                fee_paid=0 if unpaid else plan.fee,
                tariff_changes=0,
                now=now,
            )
        else:
            repo.replace_tariff(
                old.id,
                product_code=product.code,
                period_start=now,
                period_end=period_end,
                anchor_day=anchor_for(product, now),
                fee_paid=0 if unpaid else plan.fee,
                tariff_changes=old.tariff_changes + 1,
            )
            if unpaid:
                repo.set_state(old.id, SubscriptionState.LAPSED, period_start=now)
        uow.audit.record(
            at=now,
            actor=actor,
            action="charging.tariff_changed",
            subject=f"subscriber:{subscriber.msisdn}",
            details={
                "from": old.product_code if old else None,
                "to": product.code,
                "fee": plan.fee,
                "change_fee": change_fee,
                "refund": plan.refund,
                "paid": not unpaid,
            },
            transaction_id=transaction_id,
        )
        if not unpaid:
            _notify(
                uow,
                subscriber,
                _TARIFF_SMS,
                name=product.name(subscriber.language.value),
                amount=format_tenge(net),
            )
        uow.commit()
    summary = subscription_summary(db, msisdn)
    assert summary is not None
    return summary


def _post_tariff_change(
    uow: UnitOfWork,
    subscriber: Subscriber,
    product: Product,
    refund: Tiyn,
    change_fee: Tiyn,
    fee: Tiyn,
    now: datetime,
) -> int | None:
    revenue = revenue_account(uow)
    legs: list[Posting] = []
    for amount in (fee, change_fee):
        if amount:
            legs += [Posting(subscriber.account_id, -amount), Posting(revenue, amount)]
    if refund:
        legs += [Posting(revenue, -refund), Posting(subscriber.account_id, refund)]
    if not legs:
        return None
    posted = ledger.record(
        uow,
        TransactionRequest(
            kind="tariff_change",
            source=SOURCE,
            # State checks under the subscriber lock make it once; the key only has to be unique.
            idempotency_key=f"tariff:{subscriber.id}:{_key_time(now)}:{uuid.uuid4().hex[:12]}",
            postings=tuple(legs),
            reference=f"tariff {product.code} for {subscriber.msisdn}",
        ),
    )
    return posted.id


def connect_option(db: Database, msisdn: str, option_code: str, *, actor: str) -> OptionSummary:
    """Connect an option at once: its fee is charged now and its period starts now."""
    with db.uow() as uow:
        subscriber = _load_subscriber(uow, msisdn, lock=True)
        _require_active(subscriber)
        catalogue = catalog_of(uow).current()
        product = _product(catalogue, option_code, ProductKind.OPTION)
        repo = charging_of(uow)
        _lock_account(uow, subscriber)
        subs = repo.of_subscriber(subscriber.id, lock=True)
        if any(s.product_code == product.code for s in subs):
            raise AlreadyExists(f"{product.code} is already connected")
        if not product.available_for(subscriber.payment_type.value, subscriber.brand):
            raise ProductNotAvailable(f"{product.code} is not offered to this number")
        now = uow.clock.now()
        plan = plan_renewal(product, now, anchor_for(product, now), suspended=False)
        transaction_id = None
        if plan.amount:
            available = _available(uow, subscriber.account_id)
            if available is not None and plan.amount > available:
                raise InsufficientFunds(
                    f"{product.code} costs {format_tenge(plan.amount)} ₸", needed=plan.amount
                )
            transaction_id = ledger.record(
                uow,
                transfer_request(
                    kind="option_fee",
                    source=SOURCE,
                    idempotency_key=f"option:{subscriber.id}:{product.code}:{uuid.uuid4().hex[:16]}",
                    debit_account_id=subscriber.account_id,
                    credit_account_id=revenue_account(uow),
                    amount=plan.amount,
                    reference=f"option {product.code} for {subscriber.msisdn}",
                ),
            ).id
        repo.insert(
            subscriber_id=subscriber.id,
            slot=option_slot(product.code),
            product_code=product.code,
            kind=ProductKind.OPTION.value,
            state=SubscriptionState.ACTIVE,
            period_start=now,
            period_end=plan.end,
            anchor_day=anchor_for(product, now),
            fee_paid=plan.amount,
            tariff_changes=0,
            now=now,
        )
        uow.audit.record(
            at=now,
            actor=actor,
            action="charging.option_connected",
            subject=f"subscriber:{subscriber.msisdn}",
            details={"option": product.code, "fee": plan.amount},
            transaction_id=transaction_id,
        )
        _notify(
            uow,
            subscriber,
            _OPTION_SMS,
            name=product.name(subscriber.language.value),
            amount=format_tenge(plan.amount),
        )
        uow.commit()
    return OptionSummary(product.code, dict(product.names), product.fee, "active", plan.end)


def disconnect_option(db: Database, msisdn: str, option_code: str, *, actor: str) -> None:
    """Disconnect an option at once; what is left of its period and bundles is given up."""
    with db.uow() as uow:
        subscriber = _load_subscriber(uow, msisdn, lock=True)
        code = option_code.strip().upper() if isinstance(option_code, str) else ""
        repo = charging_of(uow)
        sub = next(
            (
                s
                for s in repo.of_subscriber(subscriber.id, lock=True)
                if s.slot == option_slot(code)
            ),
            None,
        )
        if sub is None:
            raise NotFound(f"option {code or option_code!r} is not connected")
        repo.delete(sub.id)
        uow.audit.record(
            at=uow.clock.now(),
            actor=actor,
            action="charging.option_disconnected",
            subject=f"subscriber:{subscriber.msisdn}",
            details={"option": code},
        )
        uow.commit()


# -- suspension --------------------------------------------------------------------------------
def suspend_number(db: Database, msisdn: str, *, actor: str, reason: str = "lost phone") -> None:
    """Voluntary suspension (lost phone): no usage is charged; renewals charge only the
    catalogue's ``suspended_fee`` and grant no bundles until the number is resumed."""
    with db.reading() as uow:
        subscriber = _load_subscriber(uow, msisdn)
    if subscriber.status is not SubscriberStatus.ACTIVE:
        raise NumberNotActive(f"only an active number can be suspended ({subscriber.status})")
    subscribers.set_status(db, msisdn, SubscriberStatus.SUSPENDED, actor=actor, reason=reason)


def resume_number(db: Database, msisdn: str, *, actor: str) -> None:
    """Resume a voluntarily suspended number: its held tariff and options start a new, fully
    paid period at once (or wait lapsed for a top-up). A number barred for debt is not
    resumed this way: paying the debt lifts the bar."""
    with db.reading() as uow:
        subscriber = _load_subscriber(uow, msisdn)
    if subscriber.status is not SubscriberStatus.SUSPENDED:
        raise NumberNotActive(f"the number is {subscriber.status.value}, not suspended")
    resumed = subscribers.set_status(
        db, msisdn, SubscriberStatus.ACTIVE, actor=actor, reason="resumed"
    )
    with db.uow() as uow:
        retry_lapsed(uow, resumed)
        uow.commit()


def bar_for_debt(db: Database, msisdn: str, *, actor: str, reason: str) -> None:
    """Bar a number whose postpaid bill or trust credit is overdue: chargeable usage is refused
    (incoming collect calls included) until a top-up covers the debt."""
    subscribers.set_status(db, msisdn, SubscriberStatus.BARRED, actor=actor, reason=reason)


# -- renewals --------------------------------------------------------------------------------
@dataclass
class RenewalReport:
    renewed: int = 0
    lapsed: int = 0
    ended: int = 0
    charged: Tiyn = 0
    chunks: int = 0


ChunkHook = Callable[[UnitOfWork, int], None]


def run_renewals(
    db: Database,
    now: datetime,
    *,
    chunk_size: int = RENEWAL_CHUNK,
    after_chunk: ChunkHook | None = None,
    notify: bool = True,
) -> RenewalReport:
    """Renew every subscription whose period ended by ``now``, in chunks of one unit of work.

    Each chunk charges its fees with ``record_batch`` and moves the periods on in the same
    transaction; a crash loses at most the chunk in progress, and a re-run (or a concurrent
    runner) charges nothing twice. Missed periods are caught up one by one: a pass renews
    every subscription due when it starts, by one period; another pass follows while some
    are still due.
    """
    report = RenewalReport()
    with db.reading() as uow:
        catalogue = catalog_of(uow).current()
    while True:
        with db.reading() as uow:
            due = charging_of(uow).due_ids(now)
        renewed_before = report.renewed + report.lapsed
        still_due = False
        for start in range(0, len(due), chunk_size):
            still_due = (
                _renew_ids(
                    db, catalogue, now, due[start : start + chunk_size], report, after_chunk, notify
                )
                or still_due
            )
        if not still_due or report.renewed + report.lapsed == renewed_before:
            return report


def _renew_ids(
    db: Database,
    catalogue: Catalogue,
    now: datetime,
    ids: Sequence[int],
    report: RenewalReport,
    after_chunk: ChunkHook | None,
    notify: bool,
) -> bool:
    conflicts = 0
    while True:
        try:
            return _renew_chunk(db, catalogue, now, ids, report, after_chunk, notify)
        except sa_exc.IntegrityError as exc:
            # Someone renewed some of these rows first (an operator's replay on another
            # machine): the chunk rolled back, read it again; give up if it keeps happening.
            conflicts += 1
            if conflicts > 3:
                raise Conflict("renewals keep conflicting with another runner") from exc


@dataclass(frozen=True, slots=True)
class _Renewal:
    """How every due row of one product, period end, anchor and state renews (shared by
    thousands of rows at a period boundary, so worked out once per chunk)."""

    product: Product
    plan: RenewalPlan
    kind: str  # the ledger transaction's kind
    key_suffix: str  # ":{period start}" of the ledger key
    reference: str


def _renewal(product: Product, row: DueRow, suspended: bool) -> _Renewal:
    plan = plan_renewal(product, row.period_end, row.anchor_day, suspended=suspended)
    return _Renewal(
        product,
        plan,
        f"renewal.{row.kind}",
        f":{_key_time(plan.start)}",
        f"{product.code} {plan.start:%Y-%m-%d}",
    )


def _renew_chunk(
    db: Database,
    catalogue: Catalogue,
    now: datetime,
    ids: Sequence[int],
    report: RenewalReport,
    after_chunk: ChunkHook | None,
    notify: bool,
) -> bool:
    """Renew those of ``ids`` still due in one unit of work; True if some stay due (a missed
    period behind them)."""
    with db.uow() as uow:
        if uow.connection.dialect.name == "postgresql":
            # One renewal chunk at a time across runners (SQLite serialises writers anyway).
            uow.connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _JOB_LOCK}
            )
        repo = charging_of(uow)
        due = repo.due_rows(ids, now)
        if not due:
            return False
        revenue = revenue_account(uow)
        how_of: dict[tuple[object, ...], _Renewal | None] = {}  # None: the product is gone
        chosen: list[tuple[DueRow, _Renewal]] = []
        # The tariff is paid before options when the balance cannot cover both.
        tariff_requests: list[TransactionRequest] = []
        option_requests: list[TransactionRequest] = []
        ended: list[int] = []
        for row in due:
            suspended = row.status == _SUSPENDED
            key = (row.product_code, row.period_end_raw, row.anchor_day, suspended, row.kind)
            if key in how_of:
                how = how_of[key]
            else:
                product = catalogue.product(row.product_code)
                how = how_of[key] = None if product is None else _renewal(product, row, suspended)
            if how is None or row.status == _CLOSED:
                ended.append(row.id)
                continue
            chosen.append((row, how))
            if how.plan.amount > 0:
                (tariff_requests if row.is_tariff else option_requests).append(
                    transfer_request(
                        kind=how.kind,
                        source=SOURCE,
                        idempotency_key=f"renewal:{row.id}{how.key_suffix}",
                        debit_account_id=row.account_id,
                        credit_account_id=revenue,
                        amount=how.plan.amount,
                        reference=how.reference,
                    )
                )
        refused: set[int] = set()
        for outcome in ledger.record_batch(uow, tariff_requests + option_requests):
            if outcome.error is not None:
                if not isinstance(outcome.error, InsufficientFunds):
                    raise outcome.error
                refused.add(int(outcome.request.idempotency_key.split(":")[1]))
            elif outcome.posted:
                report.charged += outcome.request.postings[1].amount
        due_again = _move_periods(uow, repo, chosen, refused, notify, now)
        lapsed = sum(1 for row, _ in chosen if row.id in refused)
        report.renewed += len(chosen) - lapsed
        report.lapsed += lapsed
        for sid in ended:
            repo.delete(sid)
        report.ended += len(ended)
        report.chunks += 1
        uow.audit.record(
            at=uow.clock.now(),
            actor="job:renewals",
            action="charging.renewals",
            subject="job:renewals",
            details={
                "due_at": now.isoformat(),
                "renewed": len(chosen) - lapsed,
                "lapsed": lapsed,
                "ended": len(ended),
                "first_id": due[0].id,
                "last_id": due[-1].id,
            },
        )
        if after_chunk is not None:
            after_chunk(uow, report.chunks)
        uow.commit()
    return due_again


# (stored period end, new state, new start, new end, fee paid, anchor day)
_Move = tuple[object, str, datetime, datetime, Tiyn, int | None]


def _move_periods(
    uow: UnitOfWork,
    repo: SqlChargingRepository,
    chosen: list[tuple[DueRow, _Renewal]],
    refused: set[int],
    notify: bool,
    now: datetime,
) -> bool:
    """Move the chunk's periods on, one statement per group of rows that move alike (a
    boundary shared by many rows); queue a lapse SMS for each refused tariff. True if a
    renewed period is still over by ``now``."""
    groups: dict[_Move, list[int]] = defaultdict(list)
    due_again = False
    sms: list[dict[str, object]] = []
    for row, how in chosen:
        plan = how.plan
        if row.id in refused:
            groups[
                (row.period_end_raw, "lapsed", plan.start, plan.start, 0, row.anchor_day)
            ].append(row.id)
            if notify and row.is_tariff:
                text = _LAPSED_SMS.get(row.language, _LAPSED_SMS["ru"]).format(
                    name=how.product.name(row.language), amount=format_tenge(plan.amount)
                )
                sms.append(_sms_row(row.msisdn, text, uow.clock.now()))
            continue
        state = "active" if plan.grants_bundles else "held"
        groups[
            (row.period_end_raw, state, plan.start, plan.end, plan.amount, row.anchor_day)
        ].append(row.id)
        due_again = due_again or plan.end <= now
    for (old_end, state, start, end, paid, anchor), ids in groups.items():
        repo.renew_ids(
            ids, old_end=old_end, state=state, start=start, end=end, paid=paid, anchor=anchor
        )
    if sms:
        # One multi-row insert of the rows ``enqueue_sms`` would write one by one (a statement
        # apiece was a tenth of a PostgreSQL renewal run), as payments' batch path does.
        uow.connection.execute(outbox.insert(), sms)
    return due_again


def _sms_row(to: str, text: str, now: datetime) -> dict[str, object]:
    """An outbox row exactly as ``outbox.repository.enqueue_sms`` writes it."""
    return {
        "created_at": now,
        "topic": "sms",
        "recipient": to,
        "payload": {"to": to, "sender": SMS_SENDER, "text": text},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }


def _renew_params(
    sub: Subscription, state: str, start: datetime, end: datetime, paid: Tiyn
) -> dict[str, object]:
    return {
        "sid": sub.id,
        "old_end": sub.period_end,
        "new_state": state,
        "new_start": start,
        "new_end": end,
        "paid": paid,
        "anchor": sub.anchor_day,
    }


def retry_lapsed(uow: UnitOfWork, subscriber: Subscriber) -> int:
    """Renew the number's lapsed (and, once it is not suspended, held) tariff and options,
    tariff first, if the balance now covers them; a new period starts now. Runs inside the
    caller's unit of work. Returns how many were renewed."""
    repo = charging_of(uow)
    suspended = subscriber.status is SubscriberStatus.SUSPENDED
    waiting = (
        {SubscriptionState.LAPSED}
        if suspended
        else {SubscriptionState.LAPSED, SubscriptionState.HELD}
    )
    if not any(s.state in waiting for s in repo.of_subscriber(subscriber.id)):
        return 0
    _lock_account(uow, subscriber)
    lapsed = [s for s in repo.of_subscriber(subscriber.id, lock=True) if s.state in waiting]
    if not lapsed or subscriber.status is SubscriberStatus.CLOSED:
        return 0
    lapsed.sort(key=lambda s: (not s.is_tariff, s.id))
    catalogue = catalog_of(uow).current()
    now = uow.clock.now()
    available = _available(uow, subscriber.account_id)
    renewed = 0
    for sub in lapsed:
        product = catalogue.product(sub.product_code)
        if product is None:
            continue
        anchor = anchor_for(product, now)
        plan = plan_renewal(product, now, anchor, suspended=suspended)
        if available is not None and plan.amount > available:
            continue
        transaction_id = None
        if plan.amount:
            transaction_id = ledger.record(
                uow,
                transfer_request(
                    kind=f"renewal.{sub.kind}",
                    source=SOURCE,
                    idempotency_key=f"renewal:{sub.id}:{_key_time(now)}",
                    debit_account_id=subscriber.account_id,
                    credit_account_id=revenue_account(uow),
                    amount=plan.amount,
                    reference=f"{product.code} {now:%Y-%m-%d} (after top-up)",
                ),
            ).id
            if available is not None:
                available -= plan.amount
        state = "active" if plan.grants_bundles else "held"
        repo.renew_many(
            [{**_renew_params(sub, state, now, plan.end, plan.amount), "anchor": anchor}]
        )
        uow.audit.record(
            at=now,
            actor="system",
            action="charging.renewed_after_topup",
            subject=f"subscriber:{subscriber.msisdn}",
            details={"product": product.code, "fee": plan.amount},
            transaction_id=transaction_id,
        )
        if sub.is_tariff and plan.grants_bundles:
            _notify(
                uow,
                subscriber,
                _RENEWED_SMS,
                name=product.name(subscriber.language.value),
                end=f"{plan.end:%d.%m.%Y}",
                amount=format_tenge(plan.amount),
            )
        renewed += 1
    return renewed


def _retry_after_topup(uow: UnitOfWork, credited: payment_hooks.CreditedTopUp) -> None:
    retry_lapsed(uow, credited.subscriber)


# The batch hook's one question: which of these numbers have a subscription waiting for money.
_WAITING_AMONG = IdListQuery.of(
    f"SELECT DISTINCT subscriber_id FROM {subscriptions.name} WHERE {{in_list}}"  # noqa: S608
    f" AND {{no_index}}state IN ('{SubscriptionState.LAPSED.value}',"
    f" '{SubscriptionState.HELD.value}')",
    subscriptions.c.subscriber_id,
)


def _retry_after_topups(uow: UnitOfWork, credited: Sequence[payment_hooks.CreditedTopUp]) -> None:
    """Batch form: one query finds the numbers with a lapsed or held subscription (few); only
    they go through ``retry_lapsed``, which decides exactly as for one top-up."""
    ids = sorted({c.subscriber.id for c in credited})
    waiting = {int(row[0]) for row in _WAITING_AMONG.run(uow.connection, ids)}
    for one in credited:
        if one.subscriber.id in waiting:
            retry_lapsed(uow, one.subscriber)


payment_hooks.register_after_credit_batch(_retry_after_topups, single=_retry_after_topup)


# -- rating ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordOutcome:
    record_id: str
    status: str  # "rated", "duplicate" or "refused"
    amount: Tiyn = 0
    reason: str = ""  # a Refusal code when refused
    message: str = ""
    payer: str = ""
    units: int = 0
    bundle_units: int = 0


@dataclass(frozen=True)
class RatingReport:
    outcomes: list[RecordOutcome]

    @property
    def rated(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "rated")

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "duplicate")

    @property
    def refused(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "refused")

    @property
    def total_amount(self) -> Tiyn:
        return sum(o.amount for o in self.outcomes)


def _refused(record: UsageRecord, reason: Refusal, message: str = "") -> RecordOutcome:
    rid = record.record_id if isinstance(record.record_id, str) else ""
    return RecordOutcome(rid[:64], "refused", reason=reason.value, message=message or reason.value)


def _normalise(number: str) -> str:
    """A fast path for the common E.164 KZ form; everything else through phonenumbers."""
    if isinstance(number, str) and _KZ_E164.fullmatch(number):
        return number
    return parse_msisdn(number)


def rate_usage(
    db: Database, records: Sequence[UsageRecord], *, chunk_size: int = RATING_CHUNK
) -> RatingReport:
    """Rate and charge usage records; one outcome per record, in order.

    A record is rated (charged from bundles first, then the balance), a ``duplicate`` (its id
    was rated before, or came earlier in this call: ignored), or ``refused`` with a reason
    (bad fields, unknown number, no tariff, suspended/barred/closed, insufficient funds) and
    never charged. Units of work of ``chunk_size`` records; see ``_lanes`` for PostgreSQL.
    """
    with db.reading() as uow:
        catalogue = catalog_of(uow).current()
        numbering = _numbering(uow)
    results: list[RecordOutcome | None] = [None] * len(records)

    def rate_lane(lane: list[_Valid]) -> None:
        for start in range(0, len(lane), chunk_size):
            _rate_chunk_once(db, catalogue, numbering, lane[start : start + chunk_size], results)

    with _cyclic_gc_paused():
        valid = _check_records(records, results)
        lanes = _lanes(db, valid, chunk_size)
        if len(lanes) == 1:
            rate_lane(lanes[0])
        else:
            with ThreadPoolExecutor(max_workers=len(lanes), thread_name_prefix="rating") as pool:
                for done in [pool.submit(rate_lane, lane) for lane in lanes]:
                    done.result()
    return RatingReport([r for r in results if r is not None])


_gc_pause_lock = threading.Lock()
_gc_pauses = 0  # calls of rate_usage under way in this process
_gc_resume = False  # whether the collector was on when the first of them began


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while usage is rated.

    Rating keeps a few objects per record alive until its batch ends (the checked records,
    their outcomes, the payers' bundles); tens of thousands of them triggered full
    collections of the whole heap again and again, which measured a third of rating's CPU.
    Memory is still freed by reference counting as usual; only objects in reference cycles
    wait for the collector, which resumes, if it was on, when the last of the batches rated
    at the same time in this process ends.
    """
    global _gc_pauses, _gc_resume
    with _gc_pause_lock:
        if _gc_pauses == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_resume:
                gc.enable()


def _lanes(db: Database, valid: list[_Valid], chunk_size: int) -> list[list[_Valid]]:
    """How the records are split for rating: one lane in order, or on PostgreSQL with more
    than a chunk of records, ``RATING_LANES`` lanes rated at the same time, each on its own
    connection, one unit of work per chunk.

    A lane holds every record of its payers (by the payer number's last digit), in the
    given order. Payers never share anything a rating decision reads (balance, bundles,
    tariff), so each record's outcome is the one rating them one by one would give; lanes
    only meet at the revenue account, which has no floor. While one lane waits for the
    server (writes, commit), the other rates in Python: the two cores both work.
    """
    if len(valid) <= chunk_size or db.engine.dialect.name != "postgresql":
        return [valid]
    lanes: list[list[_Valid]] = [[] for _ in range(RATING_LANES)]
    for item in valid:
        lanes[int(item[3][-1]) % RATING_LANES].append(item)
    return [lane for lane in lanes if lane]


def _rate_chunk_once(
    db: Database,
    catalogue: Catalogue,
    numbering: _Numbering,
    chunk: list[_Valid],
    results: list[RecordOutcome | None],
) -> None:
    for attempt in range(3):
        try:
            _rate_chunk(db, catalogue, numbering, chunk, results)
            return
        except sa_exc.IntegrityError:
            # A concurrent request rated some of these ids first; they are duplicates now.
            if attempt == 2:
                raise Conflict("usage records keep conflicting; send them again") from None


@dataclass(frozen=True, slots=True)
class _Numbering:
    """The operator's own brands and the prefix → brand table (read once per call)."""

    home_brands: frozenset[str]
    prefixes: dict[str, str]

    def direction(self, callee: str, brands: dict[str, str]) -> Direction:
        """On-net when the callee's brand (from ``brands`` — the subscriber register — else
        the prefix table) is one of the operator's own."""
        if _KZ_E164.fullmatch(callee):
            msisdn = callee
        else:
            try:
                msisdn = _normalise(callee)
            except InvalidMsisdn:
                return Direction.OFFNET if callee.startswith("+7") else Direction.INTERNATIONAL
        brand = brands.get(msisdn) or self.prefixes.get(national10(msisdn)[:3])
        return Direction.ONNET if brand in self.home_brands else Direction.OFFNET


def _numbering(uow: UnitOfWork) -> _Numbering:
    home = frozenset(b.code for b in uow.subscribers.all_brands() if b.home)
    return _Numbering(home, uow.subscribers.prefixes())


# A record that passed the field checks: (position in the chunk, record, kind, payer's number)
_Valid = tuple[int, UsageRecord, UsageKind, str]


def _check_records(
    records: Sequence[UsageRecord], results: list[RecordOutcome | None]
) -> list[_Valid]:
    """Field checks and repeats inside the chunk; fills ``results`` for the records refused."""
    valid: list[_Valid] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        try:
            kind = check_record(record)
            payer_text = record.callee if kind is UsageKind.COLLECT_CALL else record.caller
            try:
                payer = _normalise(payer_text)
            except InvalidMsisdn:
                side = "callee" if kind is UsageKind.COLLECT_CALL else "caller"
                raise ValidationError(f"{side}: not a Kazakhstan mobile number") from None
        except ValidationError as exc:
            results[index] = _refused(record, Refusal.BAD_RECORD, exc.message)
            continue
        if record.record_id in seen:
            results[index] = RecordOutcome(record.record_id, "duplicate", reason="duplicate")
            continue
        seen.add(record.record_id)
        valid.append((index, record, kind, payer))
    return valid


class _Payers:
    """The chunk's payers: their subscribers, balances, tariffs and bundles, as read (and on
    PostgreSQL locked) in the chunk's unit of work, with the bundles' running usage."""

    def __init__(
        self,
        repo: SqlChargingRepository,
        catalogue: Catalogue,
        numbers: set[str],
    ) -> None:
        # Lock order everywhere: subscriber row, then accounts, then subscriptions.
        self.rows = repo.payers(numbers)
        self.available: dict[int, Tiyn | None] = {}
        active = []
        for p in self.rows.values():
            self.available[p.account_id] = None if p.floor is None else p.balance - p.floor
            if p.status == _ACTIVE:
                active.append(p.subscriber_id)
        default = catalogue.product(catalogue.default_tariff) if catalogue.default_tariff else None
        self.tariffs: dict[int, Product | None] = dict.fromkeys(active, default)
        self.bundles: dict[int, list[BundleState]] = {sid: [] for sid in active}
        self.by_id: dict[int, BundleState] = {}
        self.before: dict[int, tuple[int, int, int, int]] = {}
        products = catalogue.products
        for sid, owner, slot, code, state, end, on, off, sms, data in repo.bundle_rows(
            active, lock=True
        ):
            product = products.get(code)
            if product is None:
                continue
            used = {_ONNET: on, _OFFNET: off, _SMS: sms, _DATA: data}
            bundle = BundleState(sid, product, end, state == _ACTIVE_STATE, used)
            self.bundles[owner].append(bundle)
            self.by_id[sid] = bundle
            self.before[sid] = (on, off, sms, data)
            if slot == TARIFF_SLOT:
                self.tariffs[owner] = product

    def used_deltas(self) -> list[tuple[int, int, int, int, int]]:
        """(subscription id, on-net s, off-net s, SMS, KB) used by this chunk, where non-zero."""
        deltas = []
        before = self.before
        for sid, bundle in self.by_id.items():
            used = bundle.used
            on, off, sms, data = before[sid]
            delta = (
                sid,
                used[_ONNET] - on,
                used[_OFFNET] - off,
                used[_SMS] - sms,
                used[_DATA] - data,
            )
            if delta[1] or delta[2] or delta[3] or delta[4]:
                deltas.append(delta)
        return deltas


_STATUS_REFUSAL = {"suspended": Refusal.SUSPENDED, "barred": Refusal.BARRED}


def _rate_chunk(
    db: Database,
    catalogue: Catalogue,
    numbering: _Numbering,
    valid: list[_Valid],
    results: list[RecordOutcome | None],
) -> None:
    """Rate checked records in one unit of work; each one's outcome goes to ``results`` at
    its position in the call."""
    now = db.clock.now()
    collect_rate = catalogue.charges.collect_call_per_minute
    with db.uow() as uow:
        repo = charging_of(uow)
        existing = repo.existing_record_ids([r.record_id for _, r, _, _ in valid])
        payers = _Payers(repo, catalogue, {p for _, _, _, p in valid})
        brands = {number: p.brand for number, p in payers.rows.items()}
        brands.update(
            repo.brands(
                {
                    r.callee
                    for _, r, k, _ in valid
                    if k is _CALL and r.callee not in brands and _KZ_E164.fullmatch(r.callee)
                }
            )
        )
        available = payers.available
        rows, tariffs, bundles, by_id = payers.rows, payers.tariffs, payers.bundles, payers.by_id
        totals: dict[int, Tiyn] = defaultdict(int)
        usage_rows: list[UsageRow] = []
        row_payer: list[int] = []
        for index, record, kind, payer in valid:
            if record.record_id in existing:
                results[index] = RecordOutcome(record.record_id, "duplicate", reason="duplicate")
                continue
            info = rows.get(payer)
            if info is None:
                results[index] = _refused(record, Refusal.UNKNOWN_NUMBER, f"no subscriber {payer}")
                continue
            if info.status != _ACTIVE:
                reason = _STATUS_REFUSAL.get(info.status, Refusal.CLOSED)
                results[index] = _refused(record, reason, f"{payer} is {info.status}")
                continue
            tariff = tariffs[info.subscriber_id]
            if tariff is None:
                results[index] = _refused(record, Refusal.NO_TARIFF, f"{payer} has no tariff")
                continue
            if kind is _DATA_KIND:
                direction = _NO_DIRECTION
            else:
                other = record.caller if kind is _COLLECT_CALL else record.callee
                direction = numbering.direction(other, brands)
            rated = rate_record(
                record,
                kind,
                tariff=tariff,
                bundles=bundles[info.subscriber_id],
                direction=direction,
                collect_rate=collect_rate,
            )
            left = available[info.account_id]
            if rated.amount > 0 and left is not None and rated.amount > left:
                results[index] = _refused(
                    record,
                    Refusal.INSUFFICIENT_FUNDS,
                    f"{payer}: {format_tenge(rated.amount)} ₸ needed, {format_tenge(left)} ₸ left",
                )
                continue
            apply_takes(rated, by_id)
            if left is not None:
                available[info.account_id] = left - rated.amount
            totals[info.subscriber_id] += rated.amount
            usage_rows.append(
                (
                    record.record_id,
                    info.subscriber_id,
                    kind.value,
                    record.caller[:20],
                    (record.callee or "")[:20],
                    record.started_at,
                    record.duration_seconds,
                    record.volume_bytes,
                    direction.value,
                    rated.units,
                    rated.bundle_units,
                    rated.amount,
                )
            )
            row_payer.append(info.subscriber_id)
            results[index] = RecordOutcome(
                record.record_id,
                "rated",
                amount=rated.amount,
                payer=payer,
                units=rated.units,
                bundle_units=rated.bundle_units,
            )
        # The ledger locks the revenue account, which every chunk shares, until the commit:
        # the less is written after the posting, the sooner another lane (or request) can
        # post. So the bundle counters, the audit row and the records of payers charged
        # nothing (most records: bundles first), which carry no ledger transaction, go first;
        # after the posting only the records of the payers it charged, with their ids.
        repo.add_used_rows(payers.used_deltas())
        if usage_rows:
            uow.audit.record(
                at=now,
                actor="network",
                action="charging.usage_rated",
                subject="usage",
                details={"records": len(usage_rows), "amount": sum(totals.values())},
            )
        free = [row for row, p in zip(usage_rows, row_payer, strict=True) if not totals[p]]
        repo.insert_usage_rows(free, [None] * len(free), now)
        account_of = {p.subscriber_id: p.account_id for p in payers.rows.values()}
        transaction_of = _post_usage(uow, totals, account_of)
        charged = [(row, p) for row, p in zip(usage_rows, row_payer, strict=True) if totals[p]]
        repo.insert_usage_rows(
            [row for row, _ in charged], [transaction_of[p] for _, p in charged], now
        )
        uow.commit()


def _post_usage(
    uow: UnitOfWork, totals: dict[int, Tiyn], account_of: dict[int, int]
) -> dict[int, int]:
    """One ledger transaction per payer for the chunk's charges (all pre-checked)."""
    payers = [p for p, amount in sorted(totals.items()) if amount > 0]
    if not payers:
        return {}
    revenue = revenue_account(uow)
    batch = uuid.uuid4().hex
    requests = [
        transfer_request(
            kind="usage",
            source=SOURCE,
            idempotency_key=f"usage:{batch}:{payer}",
            debit_account_id=account_of[payer],
            credit_account_id=revenue,
            amount=totals[payer],
            reference="usage charges",
        )
        for payer in payers
    ]
    found: dict[int, int] = {}
    for payer, outcome in zip(payers, ledger.record_batch(uow, requests), strict=True):
        if outcome.error is not None:
            raise outcome.error
        assert outcome.transaction_id is not None
        found[payer] = outcome.transaction_id
    return found


@dataclass(frozen=True, slots=True)
class AuthorisationAnswer:
    result: str  # "ok" or "insufficient" (or a refusal code)
    units: int
    unit: str
    payer: str


def authorize_usage(db: Database, msisdn: str, kind: str, callee: str = "") -> AuthorisationAnswer:
    """How many seconds / messages / bytes the payer (``msisdn``; for a collect call, the
    callee who pays) may use now, from bundles and then the balance above its floor."""
    try:
        usage_kind = UsageKind(kind)
    except ValueError:
        raise ValidationError("kind: must be call, sms, data or collect_call") from None
    payer = parse_msisdn(msisdn)
    unit = {UsageKind.SMS: "sms", UsageKind.DATA: "byte"}.get(usage_kind, "second")
    with db.reading() as uow:
        catalogue = catalog_of(uow).current()
        numbering = _numbering(uow)
        known = charging_of(uow).numbers(
            [payer] + ([callee] if _KZ_E164.fullmatch(callee or "") else [])
        )
        info = known.get(payer)
        if info is None:
            raise NotFound(f"no subscriber {payer}")
        if info.status != SubscriberStatus.ACTIVE.value:
            return AuthorisationAnswer(info.status, 0, unit, payer)
        subs = charging_of(uow).of_subscriber(info.subscriber_id)
        available = _available(uow, info.account_id)
    states = []
    tariff = None
    for sub in subs:
        product = catalogue.product(sub.product_code)
        if product is None:
            continue
        states.append(sub.bundle_state(product))
        if sub.is_tariff:
            tariff = product
    tariff = tariff or (
        catalogue.product(catalogue.default_tariff) if catalogue.default_tariff else None
    )
    if tariff is None:
        return AuthorisationAnswer(Refusal.NO_TARIFF.value, 0, unit, payer)
    if usage_kind in (UsageKind.CALL, UsageKind.COLLECT_CALL) and not callee:
        raise ValidationError("callee: required for calls")
    brands = {number: i.brand for number, i in known.items()}
    direction = (
        Direction.NONE if usage_kind is UsageKind.DATA else numbering.direction(callee, brands)
    )
    answer: Authorisation = authorise(
        usage_kind,
        tariff=tariff,
        bundles=states,
        direction=direction,
        available=available,
        collect_rate=catalogue.charges.collect_call_per_minute,
    )
    result = "insufficient" if answer.insufficient else "ok"
    return AuthorisationAnswer(result, answer.units, answer.unit, payer)
