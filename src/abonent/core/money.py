"""Money is an integer number of tiyn (1 tenge = 100 tiyn). Never a float.

``Tiyn`` is a plain ``int`` alias so that hot paths (rating, batch renewals) pay nothing for it;
the functions here are the only way text becomes money, and they are strict.
"""

from __future__ import annotations

import re
from typing import Any

from abonent.core.errors import InvalidAmount

Tiyn = int
TIYN_PER_TENGE = 100

# Digits, optionally a dot and one or two digits. No sign, no exponent, no comma, no spaces.
_TENGE_TEXT = re.compile(r"(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,2}))?")


def require_tiyn(value: Any, *, field: str = "amount") -> Tiyn:
    """Return ``value`` if it is an exact integer amount; refuse floats, bools and strings."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{field} must be a whole number of tiyn", field=field)
    return value


def require_positive_tiyn(value: Any, *, field: str = "amount") -> Tiyn:
    amount = require_tiyn(value, field=field)
    if amount <= 0:
        raise InvalidAmount(f"{field} must be positive", field=field)
    return amount


def parse_tenge(text: str, *, field: str = "amount") -> Tiyn:
    """Parse ``"200"``, ``"200.5"`` or ``"200.00"`` tenge into tiyn.

    Refuses everything else: negatives, fractions of a tiyn, commas, exponents, NaN, blanks.
    """
    match = _TENGE_TEXT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidAmount(
            f"{field} must be tenge with at most two decimals, e.g. 200.00", field=field
        )
    whole, fraction = match.group(1), match.group(2) or ""
    return int(whole) * TIYN_PER_TENGE + int(fraction.ljust(2, "0"))


def parse_tenge_strict_2dp(text: str, *, field: str = "sum") -> Tiyn:
    """Parse tenge that must carry exactly two decimals, as agent protocols send (``200.00``)."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]+\.[0-9]{2}", text):
        raise InvalidAmount(f"{field} must look like 200.00", field=field)
    return parse_tenge(text, field=field)


def format_tenge(amount: Tiyn) -> str:
    """``20050`` → ``"200.50"``; negative amounts keep their sign."""
    require_tiyn(amount)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), TIYN_PER_TENGE)
    return f"{sign}{whole}.{fraction:02d}"


def tenge(whole: int) -> Tiyn:
    """Whole tenge to tiyn, for configuration and tests: ``tenge(200) == 20000``."""
    return require_tiyn(whole) * TIYN_PER_TENGE
