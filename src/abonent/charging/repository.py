"""Subscriptions and usage records on SQLite and PostgreSQL (bulk statements for batch work)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from abonent.charging.domain import Counter, Subscription, SubscriptionState
from abonent.charging.tables import subscriptions, usage_records
from abonent.subscribers.tables import subscribers

_CHUNK = 500

_RENEW = (
    subscriptions.update()
    .where(subscriptions.c.id == bindparam("sid"))
    .where(subscriptions.c.period_end == bindparam("old_end"))
    .values(
        state=bindparam("new_state"),
        period_start=bindparam("new_start"),
        period_end=bindparam("new_end"),
        fee_paid=bindparam("paid"),
        anchor_day=bindparam("anchor"),
        used_onnet_s=0,
        used_offnet_s=0,
        used_sms=0,
        used_data_kb=0,
    )
)
_RENEW_GROUP = (
    subscriptions.update()
    .where(subscriptions.c.id.in_(bindparam("ids", expanding=True)))
    .where(subscriptions.c.period_end == bindparam("old_end"))
    .values(
        state=bindparam("new_state"),
        period_start=bindparam("new_start"),
        period_end=bindparam("new_end"),
        fee_paid=bindparam("paid"),
        anchor_day=bindparam("anchor"),
        used_onnet_s=0,
        used_offnet_s=0,
        used_sms=0,
        used_data_kb=0,
    )
)
_ADD_USED_PG = sa.text(
    "UPDATE subscriptions AS s SET used_onnet_s = s.used_onnet_s + d.onnet, "
    "used_offnet_s = s.used_offnet_s + d.offnet, used_sms = s.used_sms + d.sms, "
    "used_data_kb = s.used_data_kb + d.data "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:onnet AS bigint[]), CAST(:offnet AS bigint[]), "
    "CAST(:sms AS bigint[]), CAST(:data AS bigint[])) AS d(id, onnet, offnet, sms, data) "
    "WHERE s.id = d.id"
)
_GROUP_MIN = 20
_STATES = {state.value: state for state in SubscriptionState}
# Everything a subscription's use needs (not its creation time): fewer values to convert.
_SUBSCRIPTION_COLUMNS = [c for c in subscriptions.c if c.name != "created_at"]
_ADD_USED = (
    subscriptions.update()
    .where(subscriptions.c.id == bindparam("sid"))
    .values(
        used_onnet_s=subscriptions.c.used_onnet_s + bindparam("d_onnet"),
        used_offnet_s=subscriptions.c.used_offnet_s + bindparam("d_offnet"),
        used_sms=subscriptions.c.used_sms + bindparam("d_sms"),
        used_data_kb=subscriptions.c.used_data_kb + bindparam("d_data"),
    )
)


@dataclass(frozen=True, slots=True)
class DueRenewal:
    """A subscription whose period has ended, with what renewal needs of its subscriber."""

    subscription: Subscription
    msisdn: str
    account_id: int
    status: str
    payment_type: str
    language: str


@dataclass(frozen=True, slots=True)
class NumberInfo:
    subscriber_id: int
    msisdn: str
    account_id: int
    status: str
    payment_type: str
    brand: str
    language: str


def _subscription(m: Any) -> Subscription:
    return Subscription(
        id=int(m["id"]),
        subscriber_id=int(m["subscriber_id"]),
        slot=m["slot"],
        product_code=m["product_code"],
        kind=m["kind"],
        state=_STATES[m["state"]],
        period_start=m["period_start"],
        period_end=m["period_end"],
        anchor_day=m["anchor_day"],
        fee_paid=int(m["fee_paid"]),
        used={
            Counter.ONNET: int(m["used_onnet_s"]),
            Counter.OFFNET: int(m["used_offnet_s"]),
            Counter.SMS: int(m["used_sms"]),
            Counter.DATA: int(m["used_data_kb"]),
        },
        tariff_changes=int(m["tariff_changes"]),
    )


class SqlChargingRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection
        self._postgres = connection.dialect.name == "postgresql"
        # PostgreSQL takes one array parameter (= ANY), so one statement text for any size;
        # SQLite gets IN lists of bounded length.
        self._step = 5000 if self._postgres else _CHUNK

    def _among(
        self, column: sa.ColumnElement[Any], values: Sequence[Any]
    ) -> sa.ColumnElement[bool]:
        if self._postgres:
            return column == sa.any_(sa.literal(list(values), type_=ARRAY(column.type)))
        return column.in_(values)

    # -- subscriptions ----------------------------------------------------------------------
    def of_subscriber(self, subscriber_id: int, *, lock: bool = False) -> list[Subscription]:
        query = (
            select(subscriptions)
            .where(subscriptions.c.subscriber_id == subscriber_id)
            .order_by(subscriptions.c.id)
        )
        if lock:
            query = query.with_for_update()
        return [_subscription(r._mapping) for r in self.connection.execute(query)]

    def of_subscribers(
        self, subscriber_ids: Iterable[int], *, lock: bool = False
    ) -> dict[int, list[Subscription]]:
        ids = sorted(set(subscriber_ids))
        found: dict[int, list[Subscription]] = {}
        step = self._step
        for start in range(0, len(ids), step):
            query = (
                select(*_SUBSCRIPTION_COLUMNS)
                .where(self._among(subscriptions.c.subscriber_id, ids[start : start + step]))
                .order_by(subscriptions.c.id)
            )
            if lock:
                query = query.with_for_update()
            for row in self.connection.execute(query):
                sub = _subscription(row._mapping)
                found.setdefault(sub.subscriber_id, []).append(sub)
        return found

    def insert(
        self,
        *,
        subscriber_id: int,
        slot: str,
        product_code: str,
        kind: str,
        state: SubscriptionState,
        period_start: datetime,
        period_end: datetime,
        anchor_day: int | None,
        fee_paid: int,
        tariff_changes: int,
        now: datetime,
    ) -> int:
        result = self.connection.execute(
            subscriptions.insert().returning(subscriptions.c.id),
            {
                "subscriber_id": subscriber_id,
                "slot": slot,
                "product_code": product_code,
                "kind": kind,
                "state": state.value,
                "period_start": period_start,
                "period_end": period_end,
                "anchor_day": anchor_day,
                "fee_paid": fee_paid,
                "tariff_changes": tariff_changes,
                "created_at": now,
            },
        )
        return int(result.scalar_one())

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(subscriptions.insert(), list(rows))

    def delete(self, subscription_id: int) -> None:
        self.connection.execute(subscriptions.delete().where(subscriptions.c.id == subscription_id))

    def replace_tariff(
        self,
        subscription_id: int,
        *,
        product_code: str,
        period_start: datetime,
        period_end: datetime,
        anchor_day: int | None,
        fee_paid: int,
        tariff_changes: int,
    ) -> None:
        self.connection.execute(
            subscriptions.update()
            .where(subscriptions.c.id == subscription_id)
            .values(
                product_code=product_code,
                state=SubscriptionState.ACTIVE.value,
                period_start=period_start,
                period_end=period_end,
                anchor_day=anchor_day,
                fee_paid=fee_paid,
                tariff_changes=tariff_changes,
                used_onnet_s=0,
                used_offnet_s=0,
                used_sms=0,
                used_data_kb=0,
            )
        )

    def due(self, now: datetime, *, after_id: int, limit: int) -> list[DueRenewal]:
        """Active or held subscriptions whose period ended by ``now``, in id order, after
        ``after_id``.

        Not locked: the caller moves each row only if its period end is unchanged, and the
        fee's ledger key is unique, so a row renewed meanwhile is never charged twice.
        """
        query = (
            select(
                subscriptions.c.id,
                subscriptions.c.subscriber_id,
                subscriptions.c.slot,
                subscriptions.c.product_code,
                subscriptions.c.kind,
                subscriptions.c.state,
                subscriptions.c.period_start,
                subscriptions.c.period_end,
                subscriptions.c.anchor_day,
                subscribers.c.msisdn,
                subscribers.c.account_id,
                subscribers.c.status,
                subscribers.c.payment_type,
                subscribers.c.language,
            )
            .join(subscribers, subscribers.c.id == subscriptions.c.subscriber_id)
            .where(
                subscriptions.c.state.in_(
                    [SubscriptionState.ACTIVE.value, SubscriptionState.HELD.value]
                ),
                subscriptions.c.period_end <= now,
                subscriptions.c.id > after_id,
            )
            .order_by(subscriptions.c.id)
            .limit(limit)
        )
        found = []
        for r in self.connection.execute(query):
            sub = Subscription(
                r.id,
                r.subscriber_id,
                r.slot,
                r.product_code,
                r.kind,
                _STATES[r.state],
                r.period_start,
                r.period_end,
                r.anchor_day,
                0,
                {},
                0,
            )  # fee_paid, used and tariff_changes are not read: renewal does not need them
            found.append(
                DueRenewal(sub, r.msisdn, r.account_id, r.status, r.payment_type, r.language)
            )
        return found

    def renew_many(self, params: Sequence[dict[str, Any]]) -> None:
        """Move periods on; each row only if its period_end is still the one we read.

        Rows that move the same way (a boundary shared by many subscriptions) are updated by
        one set-based statement per group; the rest row by row in one executemany.
        """
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for p in params:
            key = (
                p["old_end"],
                p["new_state"],
                p["new_start"],
                p["new_end"],
                p["paid"],
                p["anchor"],
            )
            groups[key].append(p["sid"])
        single: list[dict[str, Any]] = []
        for (old_end, state, start, end, paid, anchor), ids in groups.items():
            if len(ids) < _GROUP_MIN:
                single += [
                    {
                        "sid": sid,
                        "old_end": old_end,
                        "new_state": state,
                        "new_start": start,
                        "new_end": end,
                        "paid": paid,
                        "anchor": anchor,
                    }
                    for sid in ids
                ]
                continue
            for first in range(0, len(ids), _CHUNK):
                self.connection.execute(
                    _RENEW_GROUP,
                    {
                        "ids": ids[first : first + _CHUNK],
                        "old_end": old_end,
                        "new_state": state,
                        "new_start": start,
                        "new_end": end,
                        "paid": paid,
                        "anchor": anchor,
                    },
                )
        if single:
            self.connection.execute(_RENEW, single)

    def set_state(
        self, subscription_id: int, state: SubscriptionState, *, period_start: datetime
    ) -> None:
        self.connection.execute(
            subscriptions.update()
            .where(subscriptions.c.id == subscription_id)
            .values(state=state.value, period_start=period_start, period_end=period_start)
        )

    def add_used(self, deltas: dict[int, dict[Counter, int]]) -> None:
        if deltas and self._postgres:
            # One statement for the whole chunk instead of one update per subscription.
            rows = sorted(deltas.items())
            self.connection.execute(
                _ADD_USED_PG,
                {
                    "ids": [sid for sid, _ in rows],
                    "onnet": [d.get(Counter.ONNET, 0) for _, d in rows],
                    "offnet": [d.get(Counter.OFFNET, 0) for _, d in rows],
                    "sms": [d.get(Counter.SMS, 0) for _, d in rows],
                    "data": [d.get(Counter.DATA, 0) for _, d in rows],
                },
            )
        elif deltas:
            self.connection.execute(
                _ADD_USED,
                [
                    {
                        "sid": sid,
                        "d_onnet": d.get(Counter.ONNET, 0),
                        "d_offnet": d.get(Counter.OFFNET, 0),
                        "d_sms": d.get(Counter.SMS, 0),
                        "d_data": d.get(Counter.DATA, 0),
                    }
                    for sid, d in sorted(deltas.items())
                ],
            )

    def numbers(self, msisdns: Iterable[str]) -> dict[str, NumberInfo]:
        """Subscribers by E.164 number (payers, and callees for their ported brand)."""
        wanted = sorted(set(msisdns))
        found: dict[str, NumberInfo] = {}
        step = self._step
        for start in range(0, len(wanted), step):
            rows = self.connection.execute(
                select(
                    subscribers.c.id,
                    subscribers.c.msisdn,
                    subscribers.c.account_id,
                    subscribers.c.status,
                    subscribers.c.payment_type,
                    subscribers.c.brand_code,
                    subscribers.c.language,
                ).where(self._among(subscribers.c.msisdn, wanted[start : start + step]))
            )
            for r in rows:
                found[r.msisdn] = NumberInfo(
                    int(r.id),
                    r.msisdn,
                    int(r.account_id),
                    r.status,
                    r.payment_type,
                    r.brand_code,
                    r.language,
                )
        return found

    # -- usage --------------------------------------------------------------------------------
    def existing_record_ids(self, record_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        step = self._step
        for start in range(0, len(record_ids), step):
            found.update(
                self.connection.execute(
                    select(usage_records.c.record_id).where(
                        self._among(usage_records.c.record_id, record_ids[start : start + step])
                    )
                ).scalars()
            )
        return found

    def insert_usage(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(usage_records.insert(), list(rows))

    def usage_of(self, subscriber_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
        rows = self.connection.execute(
            select(usage_records)
            .where(
                usage_records.c.subscriber_id == subscriber_id,
                usage_records.c.started_at >= start,
                usage_records.c.started_at < end,
            )
            .order_by(usage_records.c.started_at, usage_records.c.id)
        )
        return [dict(r._mapping) for r in rows]
