"""The three wire dialects: request parameters → ``AgentCall``, ``Answer`` → response body.

Nothing here touches storage. Every answer is well-formed whatever the input: text echoed back is
stripped of characters XML cannot carry, shortened, and escaped (XML) or JSON-encoded.

Result codes:

| outcome          | OSMP | Kaspi | CyberPlat |
| ---------------- | ---- | ----- | --------- |
| ok               | 0    | 0     | 0         |
| retry (storage)  | 1    | 4     | 1         |
| bad_account      | 4    | 1     | 3         |
| not_found        | 5    | 1     | 2         |
| forbidden        | 7    | 5     | 6         |
| closed           | 79   | 2     | 4         |
| too_small        | 241  | 5     | 9         |
| too_large        | 242  | 5     | 10        |
| bad_amount       | 300  | 5     | 8         |
| bad_date         | 300  | 5     | 11        |
| bad_txn_id       | 300  | 5     | 5         |
| bad_request      | 300  | 5     | 30        |
| conflict         | 300  | 5     | 13        |
| unknown_payment  | 300  | 5     | 7         |
| cancel_refused   | 300  | 5     | 12        |

Kaspi's 3 ("already paid") is never sent: a repeated pay replays the first answer, and a
conflicting repeat is refused with 5 so that the agent does not count it as delivered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from xml.sax.saxutils import escape

from abonent.agents.domain import (
    AgentCall,
    AgentCallError,
    Answer,
    Command,
    Dialect,
    Outcome,
    iso_day,
    osmp_day,
)
from abonent.core.errors import InvalidAmount, InvalidMsisdn
from abonent.core.money import format_tenge, parse_tenge_strict_2dp
from abonent.core.msisdn import parse_msisdn

Params = Sequence[tuple[str, str]]

XML_CONTENT_TYPE = "text/xml; charset=utf-8"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
_XML_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ECHO_LIMIT = 40

OSMP_CODES: dict[Outcome, int] = {
    Outcome.OK: 0,
    Outcome.RETRY: 1,
    Outcome.BAD_ACCOUNT: 4,
    Outcome.NOT_FOUND: 5,
    Outcome.FORBIDDEN: 7,
    Outcome.CLOSED: 79,
    Outcome.TOO_SMALL: 241,
    Outcome.TOO_LARGE: 242,
}
KASPI_CODES: dict[Outcome, int] = {
    Outcome.OK: 0,
    Outcome.BAD_ACCOUNT: 1,
    Outcome.NOT_FOUND: 1,
    Outcome.CLOSED: 2,
    Outcome.RETRY: 4,
}
CYBERPLAT_CODES: dict[Outcome, int] = {
    Outcome.OK: 0,
    Outcome.RETRY: 1,
    Outcome.NOT_FOUND: 2,
    Outcome.BAD_ACCOUNT: 3,
    Outcome.CLOSED: 4,
    Outcome.BAD_TXN_ID: 5,
    Outcome.FORBIDDEN: 6,
    Outcome.UNKNOWN_PAYMENT: 7,
    Outcome.BAD_AMOUNT: 8,
    Outcome.TOO_SMALL: 9,
    Outcome.TOO_LARGE: 10,
    Outcome.BAD_DATE: 11,
    Outcome.CANCEL_REFUSED: 12,
    Outcome.CONFLICT: 13,
}
_OTHER = {Dialect.OSMP: 300, Dialect.KASPI: 5, Dialect.CYBERPLAT: 30}
_CODES = {Dialect.OSMP: OSMP_CODES, Dialect.KASPI: KASPI_CODES, Dialect.CYBERPLAT: CYBERPLAT_CODES}


def result_code(dialect: Dialect, outcome: Outcome) -> int:
    return _CODES[dialect].get(outcome, _OTHER[dialect])


def clean_text(value: object, limit: int = _ECHO_LIMIT) -> str:
    """Text safe to echo: characters XML 1.0 allows, at most ``limit`` of them."""
    return _NOT_XML.sub("", str(value))[:limit]


def _json(value: object, limit: int = _ECHO_LIMIT) -> str:
    """A JSON string; ``<``, ``>`` and ``&`` escaped too, so it is inert even inside HTML."""
    text = json.dumps(clean_text(value, limit), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _xml(value: object) -> str:
    return escape(clean_text(value, 200))


@dataclass(frozen=True, slots=True)
class Fields:
    """A dialect's parameter names and its command words."""

    command: str
    txn_id: str
    txn_date: str
    account: str
    amount: str
    commands: dict[str, Command]


OSMP_FIELDS = Fields(
    "command",
    "txn_id",
    "txn_date",
    "account",
    "sum",
    {"check": Command.CHECK, "pay": Command.PAY, "cancel": Command.CANCEL},
)
KASPI_FIELDS = Fields(
    "command", "txn_id", "txn_date", "account", "sum", {"check": Command.CHECK, "pay": Command.PAY}
)
CYBERPLAT_FIELDS = Fields(
    "action",
    "receipt",
    "date",
    "number",
    "amount",
    {"check": Command.CHECK, "payment": Command.PAY, "cancel": Command.CANCEL},
)
FIELDS = {
    Dialect.OSMP: OSMP_FIELDS,
    Dialect.KASPI: KASPI_FIELDS,
    Dialect.CYBERPLAT: CYBERPLAT_FIELDS,
}


def single_values(params: Params) -> dict[str, str]:
    """Parameters as a dict; a repeated name is refused (which value would count?)."""
    values: dict[str, str] = {}
    for name, value in params:
        if name in values:
            raise AgentCallError(Outcome.BAD_REQUEST, f"parameter {clean_text(name)} is repeated")
        values[name] = value
    return values


def echo_id(dialect: Dialect, params: Params) -> str:
    """The agent's payment id as sent (cleaned), for echoing even in error answers."""
    name = FIELDS[dialect].txn_id
    for key, value in params:
        if key == name:
            return clean_text(value)
    return ""


def parse_call(dialect: Dialect, params: Params) -> AgentCall:
    """Check the format of every parameter; the first problem decides the answer."""
    f = FIELDS[dialect]
    values = dict(params)
    if len(values) != len(params):
        values = single_values(params)  # refuses the first repeated name
    command = f.commands.get(values.get(f.command, ""))
    if command is None:
        raise AgentCallError(Outcome.BAD_REQUEST, "command is missing or unknown")
    txn_id = values.get(f.txn_id)
    needs_txn = dialect is not Dialect.CYBERPLAT or command is not Command.CHECK
    if (txn_id is not None or needs_txn) and (txn_id is None or not _is_txn_id(txn_id)):
        raise AgentCallError(Outcome.BAD_TXN_ID, "payment id must be 1-20 digits")
    if command is Command.CANCEL:
        return AgentCall(command, txn_id, None, None, None, None)
    account = values.get(f.account, "")
    msisdn = _parse_account(account)
    amount = None
    sum_text = values.get(f.amount)
    if command is Command.PAY or (
        dialect is Dialect.OSMP or (dialect is Dialect.CYBERPLAT and sum_text is not None)
    ):
        amount = _parse_amount(sum_text)
    txn_date = None
    if command is Command.PAY:
        txn_date = values.get(f.txn_date, "")
        if dialect is Dialect.CYBERPLAT:
            iso_day(txn_date)
        elif not _is_osmp_moment(txn_date):
            osmp_day(txn_date)  # refuses it with the precise reason
    return AgentCall(command, txn_id, account, msisdn, amount, txn_date)


def _is_txn_id(text: str) -> bool:
    """``domain.TXN_ID.fullmatch(text)`` (1-20 ASCII digits), without the regex."""
    return 0 < len(text) <= 20 and text.isascii() and text.isdigit()


def _is_osmp_moment(text: str) -> bool:
    """Whether ``osmp_day`` accepts ``text``, for the usual ASCII ``YYYYMMDDHHMMSS`` (False:
    ask ``osmp_day``), without its regex: every pay carries one."""
    return (
        len(text) == 14
        and text.isascii()
        and text.isdigit()
        and text[8:10] < "24"  # two ASCII digits compare as their numbers
        and text[10:12] < "60"
        and text[12:] < "60"
        and _is_real_day(text[:8])
    )


@lru_cache(maxsize=4096)
def _is_real_day(digits: str) -> bool:
    """Whether 8 ASCII digits ``YYYYMMDD`` are a day of the calendar (a day's pays share it)."""
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return False
    return True


def day_of(dialect: Dialect, txn_date: str | None) -> str | None:
    if txn_date is None:
        return None
    return iso_day(txn_date) if dialect is Dialect.CYBERPLAT else osmp_day(txn_date)


def _parse_account(account: str) -> str:
    if not (len(account) == 10 and account.isascii() and account.isdigit()):
        raise AgentCallError(Outcome.BAD_ACCOUNT, "account must be 10 digits without +7 or 8")
    msisdn = _kz_mobile(account)
    if msisdn is None:
        raise AgentCallError(Outcome.NOT_FOUND, "no such subscriber")
    return msisdn


@lru_cache(maxsize=65_536)
def _kz_mobile(digits: str) -> str | None:
    """E.164 of 10 digits if they are a Kazakhstan mobile number (libphonenumber is slow)."""
    try:
        return parse_msisdn(digits)
    except InvalidMsisdn:
        return None


# Sums already parsed (agents send the same few again and again); only good ones are kept.
_AMOUNTS: dict[str, int] = {}
_AMOUNTS_KEPT = 4096


def _parse_amount(text: str | None) -> int:
    if text is not None:
        known = _AMOUNTS.get(text)
        if known is not None:
            return known
    amount = _plain_sum(text) if text else None
    if amount is None:
        try:
            amount = parse_tenge_strict_2dp(text or "")
        except InvalidAmount:
            raise AgentCallError(Outcome.BAD_AMOUNT, "sum must look like 200.00") from None
    if amount <= 0:
        raise AgentCallError(Outcome.BAD_AMOUNT, "sum must be positive")
    if text is not None:
        if len(_AMOUNTS) >= _AMOUNTS_KEPT:
            _AMOUNTS.clear()
        _AMOUNTS[text] = amount
    return amount


def _plain_sum(text: str) -> int | None:
    """The tiyn of ``text`` when it is what ``parse_tenge_strict_2dp`` surely accepts (ASCII
    ``200.00``, no leading zero, at most 15 digits before the dot), without its two regexes;
    None: let it decide."""
    whole, fraction = text[:-3], text[-2:]
    if (
        text[-3:-2] == "."
        and whole.isdigit()
        and fraction.isdigit()
        and text.isascii()
        and (whole == "0" or (whole[0] != "0" and len(whole) <= 15))
    ):
        return int(whole) * 100 + int(fraction)
    return None


# -- answers -----------------------------------------------------------------------------------


def render(dialect: Dialect, txn_echo: str, answer: Answer) -> tuple[bytes, str]:
    """The response body and its content type."""
    before, after_echo, after_prv, after_amount, content_type = _frame(dialect, answer)
    if txn_echo.isdigit() and txn_echo.isascii() and len(txn_echo) <= _ECHO_LIMIT:
        echo = f'"{txn_echo}"' if dialect is Dialect.KASPI else txn_echo  # nothing to clean
    elif dialect is Dialect.KASPI:
        echo = _json(txn_echo)
    else:
        echo = escape(clean_text(txn_echo))
    prv = "" if answer.prv_txn is None else str(answer.prv_txn)
    amount = "" if answer.amount is None else format_tenge(answer.amount)
    body = before + echo + after_echo + prv + after_prv + amount + after_amount
    return body.encode(), content_type


# An answer's frame: its body split around the echoed payment id, the payment number and the
# sum (each slot empty when the answer has none), and its content type. Few frames exist (per
# dialect, outcome, comment and which slots are filled), so each is built once.
_Frame = tuple[str, str, str, str, str]
_FRAMES: dict[tuple[Dialect, Outcome, str, bool, bool], _Frame] = {}
_FRAMES_KEPT = 1024
# Stand-ins for the payment number and the sum while a frame is built: NUL never survives
# ``clean_text``, so no comment can contain them.
_PRV_SLOT = "\x00prv\x00"
_AMOUNT_SLOT = "\x00sum\x00"


def _frame(dialect: Dialect, answer: Answer) -> _Frame:
    key = (dialect, answer.outcome, answer.comment, answer.prv_txn is None, answer.amount is None)
    frame = _FRAMES.get(key)
    if frame is None:
        frame = _frame_of(dialect, answer)
        if len(_FRAMES) >= _FRAMES_KEPT:
            _FRAMES.clear()
        _FRAMES[key] = frame
    return frame


def _frame_of(dialect: Dialect, answer: Answer) -> _Frame:
    has_prv, has_amount = answer.prv_txn is not None, answer.amount is not None
    before, rest, content_type = _body_around_echo(
        dialect, answer, _PRV_SLOT if has_prv else None, _AMOUNT_SLOT if has_amount else None
    )
    after_echo = ""
    if has_prv:  # every dialect puts the payment number before the sum
        after_echo, _, rest = rest.partition(_PRV_SLOT)
    middle, after_amount = rest.partition(_AMOUNT_SLOT)[::2] if has_amount else (rest, "")
    if has_prv:
        return before, after_echo, middle, after_amount, content_type
    return before, middle, "", after_amount, content_type


def _body_around_echo(
    dialect: Dialect, answer: Answer, prv_txn: str | None, amount: str | None
) -> tuple[str, str, str]:
    """The body of the answer before and after the echoed payment id, and its content type."""
    code = result_code(dialect, answer.outcome)
    comment = answer.comment or ("OK" if answer.outcome is Outcome.OK else answer.outcome.value)
    if dialect is Dialect.KASPI:
        parts = [""]  # the echoed "txn_id" comes first
        if prv_txn is not None:
            parts.append(f'"prv_txn_id":{prv_txn}')
        parts.append(f'"result":{code}')
        if amount is not None:
            parts.append(f'"sum":{amount}')
        parts.append(f'"comment":{_json(comment, 200)}')
        return '{"txn_id":', ",".join(parts) + "}", JSON_CONTENT_TYPE
    if dialect is Dialect.OSMP:
        before = "<osmp_txn_id>"
        after = ["</osmp_txn_id>"]
        if prv_txn is not None:
            after.append(f"<prv_txn>{prv_txn}</prv_txn>")
        if amount is not None:
            after.append(f"<sum>{amount}</sum>")
        after.append(f"<result>{code}</result><comment>{_xml(comment)}</comment>")
    else:
        before = f"<code>{code}</code><message>{_xml(comment)}</message><receipt>"
        after = ["</receipt>"]
        if prv_txn is not None:
            after.append(f"<authcode>{prv_txn}</authcode>")
        if amount is not None:
            after.append(f"<amount>{amount}</amount>")
    return (
        _XML_PROLOG + "<response>" + before,
        "".join(after) + "</response>\n",
        XML_CONTENT_TYPE,
    )
