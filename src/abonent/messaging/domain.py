"""Rules of the free requests: own brands only, per-sender daily and monthly limits,
collect calls charged to the callee per started minute."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache

from abonent.core.money import Tiyn
from abonent.core.msisdn import Msisdn, parse_msisdn


class NotifyKind(StrEnum):
    CALL_ME = "call_me"
    TOP_UP_ME = "top_up_me"


class CollectStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class MessagingRules:
    daily_limit: int = 5
    monthly_limit: int = 30
    collect_rate_per_minute: Tiyn = 1_300
    collect_answer_minutes: int = 5  # a pending collect-call request expires after this
    utc_offset_hours: int = 5


def day_and_month_start(now: datetime, utc_offset_hours: int) -> tuple[datetime, datetime]:
    """Start of the local day and month containing ``now``, as UTC moments."""
    zone = timezone(timedelta(hours=utc_offset_hours))
    local = now.astimezone(zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    return day.astimezone(UTC), month.astimezone(UTC)


def collect_charge(duration_seconds: int, rate_per_minute: Tiyn) -> Tiyn:
    """Per started minute: 61 s cost two minutes."""
    minutes = -(-duration_seconds // 60)
    return minutes * rate_per_minute


@dataclass(frozen=True, slots=True)
class CollectCall:
    id: int
    caller_msisdn: str
    callee_msisdn: str
    status: CollectStatus
    created_at: datetime
    decided_at: datetime | None
    duration_seconds: int | None
    charged: Tiyn | None


@lru_cache(maxsize=65_536)
def cached_msisdn(text: str) -> Msisdn:
    """``parse_msisdn`` remembered: USSD steps re-parse the same few numbers many times, and
    the library's validation is the most expensive part of a step. Errors are not cached."""
    return parse_msisdn(text)
