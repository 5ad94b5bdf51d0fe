"""Shared builders of the charging tests: a small catalogue, top-ups, balances."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import func, select

from abonent.catalog.services import load_catalogue
from abonent.charging.domain import UsageRecord
from abonent.db.uow import Database
from abonent.ledger.domain import AccountKind
from abonent.ledger.services import audit_ledger
from abonent.ledger.tables import ledger_transactions
from abonent.payments.domain import Channel, TopUpRequest
from abonent.payments.services import top_up
from tests.factories import system_account

CATALOGUE = """\
version: "test-1"
default_tariff: PAYG
charges: {collect_call_per_minute: 13, full_statement_fee: 30}
tariffs:
  - code: PAYG
    names: {ru: Поминутный, kk: Минуттық, en: Pay as you go}
    period: day
    fee: 0
    rates: {onnet_minute: 10, offnet_minute: 25, sms: 10, data_mb: 15}
    rounding: per_minute
  - code: DAILY
    names: {ru: Суточный, kk: Тәуліктік, en: Daily}
    period: day
    fee: 79
    bundles: {onnet_minutes: 10, data_mb: 1}
    rates: {onnet_minute: 5, offnet_minute: 20, sms: 10, data_mb: 10}
    payment: [prepaid]
  - code: MONTH
    names: {ru: Месяц, kk: Ай, en: Month}
    period: calendar_month
    fee: 2990
    bundles: {onnet_minutes: 100, offnet_minutes: 10, sms: 5, data_mb: 100}
    rates: {onnet_minute: 2, offnet_minute: 15, international_minute: 120, sms: 8, data_mb: 8}
    change_fee: 500
    suspended_fee: 100
  - code: POST
    names: {ru: Бизнес, kk: Бизнес, en: Business}
    period: calendar_month
    fee: 5990
    bundles: {onnet_minutes: 1000}
    rates: {onnet_minute: 0, offnet_minute: 12, sms: 7, data_mb: 5}
    payment: [postpaid]
options:
  - code: DATA5
    names: {ru: Интернет 5 ГБ, kk: Интернет 5 ГБ, en: Data 5 GB}
    period: 30_days
    fee: 990
    bundles: {data_mb: 5120}
  - code: GUDOK
    names: {ru: Гудок, kk: Гудок, en: Ringback tone}
    period: day
    fee: 15
"""

_ids = itertools.count(1)


def load_test_catalogue(db: Database) -> None:
    load_catalogue(db, CATALOGUE, actor="test")


def balance(db: Database, msisdn: str) -> int:
    with db.reading() as uow:
        sub = uow.subscribers.by_msisdn(msisdn)
        assert sub is not None
        account = uow.ledger.account(sub.account_id)
        assert account is not None
        return account.balance


def pay(db: Database, msisdn: str, amount: int) -> None:
    clearing = system_account(db, AccountKind.AGENT_CLEARING, "KASPI")
    top_up(
        db,
        TopUpRequest(
            msisdn=msisdn,
            amount=amount,
            channel=Channel.AGENT,
            source="agent:KASPI",
            external_id=f"t{next(_ids)}",
            clearing_account_id=clearing,
        ),
    )


def transactions_of_kind(db: Database, prefix: str) -> int:
    with db.reading() as uow:
        return int(
            uow.connection.execute(
                select(func.count())
                .select_from(ledger_transactions)
                .where(ledger_transactions.c.kind.like(f"{prefix}%"))
            ).scalar_one()
        )


def assert_audit_ok(db: Database) -> None:
    report = audit_ledger(db)
    assert report.ok, report.problems


def record(
    rid: str,
    kind: str,
    caller: str,
    callee: str,
    at: datetime,
    *,
    seconds: int = 0,
    volume: int = 0,
) -> UsageRecord:
    return UsageRecord(rid, kind, caller, callee, at, duration_seconds=seconds, volume_bytes=volume)
