"""SMS coding and splitting.

GSM-7 texts take 160 characters in one SMS and 153 per part when split; anything outside the
GSM-7 alphabet (Cyrillic, Kazakh letters) is sent as UCS-2: 70 characters, 67 per part.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from abonent.ussd.messages import GSM7_EXTENDED, is_gsm7


class Coding(IntEnum):
    GSM7 = 0  # the SMSC's default alphabet
    UCS2 = 8


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    outbox_id: int
    to: str
    sender: str
    text: str


def coding_for(text: str) -> Coding:
    return Coding.GSM7 if is_gsm7(text) else Coding.UCS2


def split(text: str) -> list[str]:
    """The parts to send, each fitting one SMS; split at a space when one is near."""
    coding = coding_for(text)
    if coding is Coding.GSM7:
        single, part_size = 160, 153
        width = _gsm7_width
    else:
        single, part_size = 70, 67
        width = _ucs2_width
    if width(text) <= single:
        return [text]
    parts: list[str] = []
    rest = text
    while rest:
        cut, used = 0, 0
        while cut < len(rest) and used + width(rest[cut]) <= part_size:
            used += width(rest[cut])
            cut += 1
        if cut < len(rest):
            space = rest.rfind(" ", 0, cut)
            if space > cut // 2:
                cut = space + 1
        parts.append(rest[:cut])
        rest = rest[cut:]
    return parts


def _gsm7_width(text: str) -> int:
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def _ucs2_width(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def backoff_seconds(attempt: int, base: int, cap: int = 3600) -> int:
    """Delay before retry number ``attempt`` (1, 2, ...): base, 2·base, 4·base, ... up to cap."""
    return int(min(cap, base * 2 ** max(0, attempt - 1)))
