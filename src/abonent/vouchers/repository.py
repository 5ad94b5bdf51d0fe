"""Storage of batches, vouchers and the wrong-code guard (SQLAlchemy Core, both databases)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from abonent.vouchers.domain import (
    BatchState,
    EntryGuard,
    VoucherBatch,
    VoucherState,
    batch_number,
)
from abonent.vouchers.tables import (
    voucher_batches,
    voucher_entry_guards,
    voucher_redemption_failures,
    vouchers,
)


class SqlVoucherRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    # batches ---------------------------------------------------------------------------------
    def insert_batch(
        self,
        *,
        nominal: int,
        count: int,
        key_check: str,
        now: datetime,
        actor: str,
    ) -> int:
        return int(
            self.connection.execute(
                voucher_batches.insert().returning(voucher_batches.c.id),
                {
                    "nominal": nominal,
                    "count": count,
                    "state": BatchState.CREATED.value,
                    "key_check": key_check,
                    "created_at": now,
                    "created_by": actor,
                },
            ).scalar_one()
        )

    def set_liability_account(self, batch_id: int, account_id: int) -> None:
        self.connection.execute(
            voucher_batches.update()
            .where(voucher_batches.c.id == batch_id)
            .values(liability_account_id=account_id)
        )

    def batch(self, batch_id: int, *, lock: bool = False) -> VoucherBatch | None:
        query = select(voucher_batches).where(voucher_batches.c.id == batch_id)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        return _batch(row) if row else None

    def batches(self, *, limit: int = 200) -> list[VoucherBatch]:
        rows = self.connection.execute(
            select(voucher_batches).order_by(voucher_batches.c.id.desc()).limit(limit)
        )
        return [_batch(r) for r in rows]

    def batches_created_by(self, actor: str) -> list[VoucherBatch]:
        rows = self.connection.execute(
            select(voucher_batches).where(voucher_batches.c.created_by == actor)
        )
        return [_batch(r) for r in rows]

    def move_batch(
        self, batch_id: int, *, from_states: Iterable[BatchState], to: BatchState, now: datetime
    ) -> bool:
        """Conditional state change of a batch; False when it was not in ``from_states``."""
        stamp = {BatchState.ACTIVE: "activated_at", BatchState.BLOCKED: "blocked_at"}[to]
        result = self.connection.execute(
            voucher_batches.update()
            .where(
                voucher_batches.c.id == batch_id,
                voucher_batches.c.state.in_([s.value for s in from_states]),
            )
            .values(state=to.value, **{stamp: now})
        )
        return result.rowcount == 1

    def state_counts(self, batch_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        if not batch_ids:
            return {}
        rows = self.connection.execute(
            select(vouchers.c.batch_id, vouchers.c.state, func.count())
            .where(vouchers.c.batch_id.in_(batch_ids))
            .group_by(vouchers.c.batch_id, vouchers.c.state)
        )
        counts: dict[int, dict[str, int]] = {bid: {} for bid in batch_ids}
        for batch_id, state, n in rows:
            counts[int(batch_id)][str(state)] = int(n)
        return counts

    # vouchers --------------------------------------------------------------------------------
    def insert_vouchers(self, batch_id: int, rows: Sequence[tuple[int, str]]) -> None:
        """Bulk insert ``(serial, code_hash)`` rows in state ``created``."""
        self.connection.execute(
            vouchers.insert(),
            [
                {
                    "batch_id": batch_id,
                    "serial": serial,
                    "code_hash": digest,
                    "state": VoucherState.CREATED.value,
                }
                for serial, digest in rows
            ],
        )

    def existing_hashes(self, hashes: Sequence[str]) -> set[str]:
        rows = self.connection.execute(
            select(vouchers.c.code_hash).where(vouchers.c.code_hash.in_(hashes))
        )
        return {str(r[0]) for r in rows}

    def move_vouchers(self, batch_id: int, *, from_state: VoucherState, to: VoucherState) -> int:
        """Move every voucher of a batch in ``from_state`` to ``to``; how many moved."""
        result = self.connection.execute(
            vouchers.update()
            .where(vouchers.c.batch_id == batch_id, vouchers.c.state == from_state.value)
            .values(state=to.value)
        )
        return int(result.rowcount)

    def by_hash(self, digest: str) -> dict[str, Any] | None:
        """The voucher with this code hash, joined with its batch's nominal and account."""
        row = self.connection.execute(
            select(
                vouchers.c.id,
                vouchers.c.batch_id,
                vouchers.c.serial,
                vouchers.c.state,
                vouchers.c.redeemed_msisdn,
                voucher_batches.c.nominal,
                voucher_batches.c.liability_account_id,
            )
            .join(voucher_batches, voucher_batches.c.id == vouchers.c.batch_id)
            .where(vouchers.c.code_hash == digest)
        ).first()
        return dict(row._mapping) if row else None

    def voucher_state(self, voucher_id: int) -> tuple[VoucherState, str | None]:
        row = self.connection.execute(
            select(vouchers.c.state, vouchers.c.redeemed_msisdn).where(vouchers.c.id == voucher_id)
        ).one()
        return VoucherState(row[0]), row[1]

    def mark_redeemed(
        self, voucher_id: int, *, msisdn: str, channel: str, actor: str, now: datetime
    ) -> bool:
        """``active`` → ``redeemed``, or False if someone else got there first.

        The conditional update is the exactly-once gate: on PostgreSQL a concurrent twin waits
        for the row lock and then finds the state no longer ``active``.
        """
        result = self.connection.execute(
            vouchers.update()
            .where(vouchers.c.id == voucher_id, vouchers.c.state == VoucherState.ACTIVE.value)
            .values(
                state=VoucherState.REDEEMED.value,
                redeemed_at=now,
                redeemed_msisdn=msisdn,
                redeemed_channel=channel,
                redeemed_by=actor,
            )
        )
        return result.rowcount == 1

    # wrong-code guard ------------------------------------------------------------------------
    def guard(self, msisdn: str, *, lock: bool = False) -> EntryGuard | None:
        query = select(voucher_entry_guards).where(voucher_entry_guards.c.msisdn == msisdn)
        if lock:
            query = query.with_for_update()
        row = self.connection.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return EntryGuard(
            failures=int(m["failures"]),
            window_started_at=m["window_started_at"],
            locked_until=m["locked_until"],
        )

    def ensure_guard(self, msisdn: str) -> None:
        """Create the number's guard row if missing; concurrent twins do not collide."""
        insert: Any = (
            postgresql.insert(voucher_entry_guards)
            if self.connection.dialect.name == "postgresql"
            else sqlite.insert(voucher_entry_guards)
        )
        self.connection.execute(
            insert.values(msisdn=msisdn, failures=0).on_conflict_do_nothing(
                index_elements=["msisdn"]
            )
        )

    def save_guard(self, msisdn: str, guard: EntryGuard) -> None:
        self.connection.execute(
            voucher_entry_guards.update()
            .where(voucher_entry_guards.c.msisdn == msisdn)
            .values(
                failures=guard.failures,
                window_started_at=guard.window_started_at,
                locked_until=guard.locked_until,
            )
        )

    def clear_guard(self, msisdn: str) -> bool:
        result = self.connection.execute(
            voucher_entry_guards.delete().where(voucher_entry_guards.c.msisdn == msisdn)
        )
        return result.rowcount > 0

    def log_failure(
        self,
        *,
        at: datetime,
        msisdn: str,
        channel: str,
        actor: str,
        reason: str,
        digest: str | None,
        counted: bool,
    ) -> None:
        self.connection.execute(
            voucher_redemption_failures.insert(),
            {
                "at": at,
                "msisdn": msisdn,
                "channel": channel,
                "actor": actor,
                "reason": reason,
                "code_hash": digest,
                "counted": counted,
            },
        )

    def failures_of(self, msisdn: str, *, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            select(voucher_redemption_failures)
            .where(voucher_redemption_failures.c.msisdn == msisdn)
            .order_by(voucher_redemption_failures.c.id.desc())
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]


def _batch(row: sa.Row[tuple[object, ...]]) -> VoucherBatch:
    m = row._mapping
    return VoucherBatch(
        id=int(m["id"]),
        number=batch_number(int(m["id"])),
        nominal=int(m["nominal"]),
        count=int(m["count"]),
        state=BatchState(m["state"]),
        liability_account_id=int(m["liability_account_id"]),
        key_check=m["key_check"],
        created_at=m["created_at"],
        created_by=m["created_by"],
        activated_at=m["activated_at"],
        blocked_at=m["blocked_at"],
    )
