"""Mobile numbers (MSISDN) of Kazakhstan: parsing, normalisation to E.164, display forms.

Accepted input: ``7071234567``, ``87071234567``, ``77071234567``, ``+77071234567`` and the same
with spaces, dashes or brackets. The stored form is E.164 (``+77071234567``); agent protocols and
USSD use the 10-digit national form (``7071234567``). Validity (a real KZ mobile range) is decided
by the ``phonenumbers`` library, not by a hand-written prefix list.
"""

from __future__ import annotations

import re
from typing import NewType

import phonenumbers

from abonent.core.errors import InvalidMsisdn

Msisdn = NewType("Msisdn", str)

_SEPARATORS = re.compile(r"[\s\-()]")
_MAX_INPUT = 32


def parse_msisdn(text: str) -> Msisdn:
    """Normalise a typed number to E.164, or raise ``InvalidMsisdn``."""
    if not isinstance(text, str) or len(text) > _MAX_INPUT:
        raise InvalidMsisdn("phone number is missing or too long")
    compact = _SEPARATORS.sub("", text.strip())
    if compact.startswith("+7"):
        digits = compact[2:]
    elif len(compact) == 11 and compact[0] in "78":
        digits = compact[1:]
    else:
        digits = compact
    if not (len(digits) == 10 and digits.isascii() and digits.isdigit()):
        raise InvalidMsisdn(f"not a Kazakhstan mobile number: {text!r}")
    number = phonenumbers.parse("+7" + digits)
    if not (
        phonenumbers.is_valid_number(number)
        and phonenumbers.region_code_for_number(number) == "KZ"
        and phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
    ):
        raise InvalidMsisdn(f"not a Kazakhstan mobile number: {text!r}")
    return Msisdn("+7" + digits)


def parse_national10(text: str) -> Msisdn:
    """Parse the strict 10-digit form agents send (``7071234567``), nothing else."""
    if not (isinstance(text, str) and len(text) == 10 and text.isascii() and text.isdigit()):
        raise InvalidMsisdn("account must be 10 digits without +7 or 8")
    return parse_msisdn(text)


def national10(msisdn: str) -> str:
    """``+77071234567`` → ``7071234567``."""
    return msisdn[2:] if msisdn.startswith("+7") else msisdn


def masked(msisdn: str) -> str:
    """Only the last four digits, for receipts and public pages: ``***4567``."""
    return "***" + msisdn[-4:]


def display(msisdn: str) -> str:
    """``+77071234567`` → ``+7 707 123 45 67``."""
    d = national10(msisdn)
    return f"+7 {d[0:3]} {d[3:6]} {d[6:8]} {d[8:10]}"
