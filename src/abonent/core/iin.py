"""IIN, the 12-digit individual identification number of Kazakhstan.

Layout ``YYMMDD C NNNN K``: birth date, a century-and-sex digit (1/2: 1800s, 3/4: 1900s,
5/6: 2000s), a serial and a check digit. The check digit is Σ dᵢ·i (i = 1..11) mod 11; if that
is 10, it is recomputed with weights 3..11,1,2; if still 10 the number is invalid.
"""

from __future__ import annotations

from datetime import date
from typing import NewType

from abonent.core.errors import InvalidIin

Iin = NewType("Iin", str)

_FIRST_WEIGHTS = tuple(range(1, 12))
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURY = {"1": 1800, "2": 1800, "3": 1900, "4": 1900, "5": 2000, "6": 2000}


def iin_check_digit(first11: str) -> int | None:
    """The check digit for the first 11 digits, or None when no digit can be valid."""
    digits = [int(c) for c in first11]
    s = sum(d * w for d, w in zip(digits, _FIRST_WEIGHTS, strict=True)) % 11
    if s == 10:
        s = sum(d * w for d, w in zip(digits, _SECOND_WEIGHTS, strict=True)) % 11
        if s == 10:
            return None
    return s


def iin_birth_date(iin: str) -> date:
    century = _CENTURY.get(iin[6])
    if century is None:
        raise InvalidIin("IIN century digit must be 1 to 6")
    try:
        return date(century + int(iin[0:2]), int(iin[2:4]), int(iin[4:6]))
    except ValueError:
        raise InvalidIin("IIN does not start with a real birth date") from None


def parse_iin(text: str) -> Iin:
    """Validate an IIN (format, birth date, century digit, check digit)."""
    value = text.strip() if isinstance(text, str) else ""
    if not (len(value) == 12 and value.isascii() and value.isdigit()):
        raise InvalidIin("IIN must be exactly 12 digits")
    iin_birth_date(value)
    expected = iin_check_digit(value[:11])
    if expected is None or expected != int(value[11]):
        raise InvalidIin("IIN check digit does not match")
    return Iin(value)


def make_iin(birth: date, century_sex_digit: int, serial: int) -> Iin | None:
    """Build a valid IIN (demo data, tests); None if this serial yields no valid check digit."""
    first11 = f"{birth:%y%m%d}{century_sex_digit}{serial:04d}"
    check = iin_check_digit(first11)
    return None if check is None else Iin(first11 + str(check))
