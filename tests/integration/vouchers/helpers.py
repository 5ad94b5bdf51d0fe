"""Builders for voucher tests, through the real services."""

from __future__ import annotations

from collections.abc import Sequence

from abonent.core.money import Tiyn, tenge
from abonent.db.uow import Database
from abonent.vouchers import services
from abonent.vouchers.domain import PrintedVoucher, VoucherBatch

THOUSAND = tenge(1000)


def make_batch(
    db: Database, *, nominal: Tiyn = THOUSAND, count: int = 5, activate: bool = True
) -> tuple[VoucherBatch, list[str]]:
    """A batch and its printable codes (in serial order)."""
    printed: list[PrintedVoucher] = []

    def keep(_: VoucherBatch, chunk: Sequence[PrintedVoucher]) -> None:
        printed.extend(chunk)

    batch = services.create_batch(db, nominal=nominal, count=count, actor="test", export=keep)
    if activate:
        services.activate_batch(db, batch.id, actor="test")
    return batch, [v.code for v in printed]


def balance_of(db: Database, msisdn: str) -> Tiyn:
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        assert subscriber is not None
        account = uow.ledger.account(subscriber.account_id)
        assert account is not None
        return account.balance


def liability_of(db: Database, batch: VoucherBatch) -> Tiyn:
    with db.reading() as uow:
        account = uow.ledger.account(batch.liability_account_id)
        assert account is not None
        return account.balance


def voucher_states(db: Database, batch: VoucherBatch) -> dict[str, int]:
    with db.reading() as uow:
        return services.vouchers_of(uow).state_counts([batch.id])[batch.id]


def failures(db: Database, msisdn: str) -> list[dict[str, object]]:
    with db.reading() as uow:
        return services.vouchers_of(uow).failures_of(msisdn)
