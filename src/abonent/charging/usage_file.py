"""Usage records from files and JSON: one place turns untrusted fields into ``UsageRecord``.

CSV header: ``record_id,kind,caller,callee,started_at,duration_seconds,volume_bytes``;
``started_at`` is ISO-8601 with a time zone (``2026-01-15T09:00:00+05:00`` or ``...Z``).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

from abonent.charging.domain import UsageRecord
from abonent.core.errors import ValidationError

COLUMNS = (
    "record_id",
    "kind",
    "caller",
    "callee",
    "started_at",
    "duration_seconds",
    "volume_bytes",
)
MAX_FIELD = 100


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValidationError(f"{name}: a whole number")
    if isinstance(value, int):
        return value
    text = str(value).strip() if value is not None else ""
    if text == "":
        return 0
    if not (text.isascii() and text.isdigit()) or len(text) > 15:
        raise ValidationError(f"{name}: a whole number ≥ 0, not {text[:20]!r}")
    return int(text)


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip() if value is not None else ""
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(f"started_at: not an ISO-8601 moment: {text[:40]!r}") from None
    if moment.tzinfo is None:
        raise ValidationError("started_at: the time zone is missing (add Z or +05:00)")
    return moment


def _text(value: Any, name: str) -> str:
    text = "" if value is None else str(value).strip()
    if len(text) > MAX_FIELD:
        raise ValidationError(f"{name}: too long")
    return text


def record_from_fields(fields: Mapping[str, Any]) -> UsageRecord:
    """Build a record from untrusted fields (a CSV row, a JSON object); ValidationError if not."""
    return UsageRecord(
        record_id=_text(fields.get("record_id"), "record_id"),
        kind=_text(fields.get("kind"), "kind").lower(),
        caller=_text(fields.get("caller"), "caller"),
        callee=_text(fields.get("callee"), "callee"),
        started_at=_moment(fields.get("started_at")),
        duration_seconds=_int(fields.get("duration_seconds"), "duration_seconds"),
        volume_bytes=_int(fields.get("volume_bytes"), "volume_bytes"),
    )


def read_usage_csv(
    stream: IO[str] | Iterable[str],
) -> Iterator[tuple[int, UsageRecord | ValidationError, str]]:
    """Yield (line number, record or the reason it is unreadable, record id as written)."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise ValidationError("the file is empty")
    names = [h.strip().lower() for h in header]
    missing = [
        c for c in COLUMNS if c not in names and c not in ("volume_bytes", "duration_seconds")
    ]
    if missing:
        raise ValidationError(f"line 1: missing columns: {', '.join(missing)}")
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            rid = row[0] if row else ""
            yield line, ValidationError(f"expected {len(names)} fields, got {len(row)}"), rid
            continue
        fields = dict(zip(names, row, strict=True))
        try:
            yield line, record_from_fields(fields), fields.get("record_id", "")
        except ValidationError as exc:
            yield line, exc, fields.get("record_id", "")
