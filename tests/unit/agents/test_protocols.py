from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abonent.agents import protocols
from abonent.agents.asgi import parse_pairs
from abonent.agents.domain import AgentCallError, Answer, Command, Dialect, Outcome, osmp_day
from abonent.agents.protocols import clean_text, parse_call, render, result_code
from abonent.core.errors import InvalidAmount
from abonent.core.money import format_tenge, parse_tenge_strict_2dp


def test_osmp_pay_is_parsed_into_tiyn_and_e164() -> None:
    call = parse_call(
        Dialect.OSMP,
        [
            ("command", "pay"),
            ("txn_id", "42"),
            ("txn_date", "20260115091500"),
            ("account", "7071234567"),
            ("sum", "200.50"),
        ],
    )
    assert (call.command, call.txn_id, call.msisdn, call.amount, call.txn_date) == (
        Command.PAY,
        "42",
        "+77071234567",
        20050,
        "20260115091500",
    )


def test_kaspi_check_ignores_its_placeholder_sum() -> None:
    call = parse_call(
        Dialect.KASPI,
        [("command", "check"), ("txn_id", "1"), ("account", "7071234567"), ("sum", "whatever")],
    )
    assert call.amount is None


def test_cyberplat_uses_its_own_names_and_iso_dates() -> None:
    call = parse_call(
        Dialect.CYBERPLAT,
        [
            ("action", "payment"),
            ("receipt", "9"),
            ("date", "2026-01-15T09:15:00"),
            ("number", "7071234567"),
            ("amount", "1000.00"),
        ],
    )
    assert (call.command, call.txn_id, call.amount) == (Command.PAY, "9", 100000)


@pytest.mark.parametrize(
    ("params", "outcome"),
    [
        ([("command", "pay"), ("command", "pay")], Outcome.BAD_REQUEST),
        ([("command", "status")], Outcome.BAD_REQUEST),
        ([("command", "pay"), ("txn_id", "x")], Outcome.BAD_TXN_ID),
        ([("command", "check"), ("txn_id", "1"), ("account", "+77071234567")], Outcome.BAD_ACCOUNT),
        ([("command", "check"), ("txn_id", "1"), ("account", "1234567890")], Outcome.NOT_FOUND),
        (
            [("command", "check"), ("txn_id", "1"), ("account", "7071234567"), ("sum", "1e3")],
            Outcome.BAD_AMOUNT,
        ),
        (
            [
                ("command", "pay"),
                ("txn_id", "1"),
                ("account", "7071234567"),
                ("sum", "1.00"),
                ("txn_date", "20260231000000"),
            ],
            Outcome.BAD_DATE,
        ),
    ],
)
def test_the_first_problem_decides_the_outcome(
    params: list[tuple[str, str]], outcome: Outcome
) -> None:
    with pytest.raises(AgentCallError) as caught:
        parse_call(Dialect.OSMP, params)
    assert caught.value.outcome is outcome


def test_osmp_codes_follow_the_protocol_table() -> None:
    assert [
        result_code(Dialect.OSMP, o)
        for o in (
            Outcome.OK,
            Outcome.RETRY,
            Outcome.BAD_ACCOUNT,
            Outcome.NOT_FOUND,
            Outcome.FORBIDDEN,
            Outcome.CLOSED,
            Outcome.TOO_SMALL,
            Outcome.TOO_LARGE,
            Outcome.CONFLICT,
        )
    ] == [0, 1, 4, 5, 7, 79, 241, 242, 300]


def test_answers_are_well_formed_whatever_is_echoed() -> None:
    nasty = '<a href="x">&]]>\x00\x1fҚ' + "y" * 100
    body, ctype = render(Dialect.OSMP, nasty, Answer(Outcome.OK, prv_txn=7, amount=20000))
    root = ET.fromstring(body)
    assert ctype == "text/xml; charset=utf-8"
    assert root.findtext("osmp_txn_id") == clean_text(nasty)
    assert (root.findtext("prv_txn"), root.findtext("sum"), root.findtext("result")) == (
        "7",
        "200.00",
        "0",
    )
    body, ctype = render(Dialect.KASPI, nasty, Answer(Outcome.RETRY, "wait"))
    assert json.loads(body) == {"txn_id": clean_text(nasty), "result": 4, "comment": "wait"}
    assert b"<" not in body
    body, _ = render(Dialect.CYBERPLAT, nasty, Answer(Outcome.CONFLICT))
    assert ET.fromstring(body).findtext("code") == "13"


def test_kaspi_sum_is_a_number_with_two_decimals() -> None:
    body, _ = render(Dialect.KASPI, "1", Answer(Outcome.OK, prv_txn=3, amount=20000))
    assert b'"sum":200.00' in body and b'"prv_txn_id":3' in body


@pytest.mark.parametrize(
    "text",
    [
        "",
        "command=pay&txn_id=1&sum=200.00",
        "a&&b=&=c&d=1=2",
        "account=%37%30&sum=1+2",
        "x=%D0%B9&y=%2B",
        "name",
        "&",
        "a=1&a=2",
    ],
)
def test_the_quick_parameter_parser_agrees_with_parse_qsl(text: str) -> None:
    assert parse_pairs(text) == parse_qsl(text, keep_blank_values=True, errors="strict")


def test_the_quick_parameter_parser_refuses_bad_utf8_like_parse_qsl() -> None:
    with pytest.raises(UnicodeDecodeError):
        parse_pairs("x=%FF")


# -- the shortcuts of the hot path give what the general code gives ---------------------------


@given(
    st.from_regex(r"[0-9]{0,17}(\.[0-9]{0,3})?", fullmatch=True)
    | st.text(alphabet="0123456789.,-+e \u0661\u00b2", max_size=12)
)
def test_a_sum_is_parsed_as_parse_tenge_strict_2dp_parses_it(text: str) -> None:
    try:
        expected: int | None = parse_tenge_strict_2dp(text)
    except InvalidAmount:
        expected = None
    shortcut = protocols._plain_sum(text) if text else None
    assert shortcut is None or shortcut == expected
    if expected is not None and expected > 0:
        assert protocols._parse_amount(text) == expected


@given(
    st.from_regex(r"[0-9]{14}", fullmatch=True)
    | st.builds(
        "{:04d}{:02d}{:02d}{:02d}{:02d}{:02d}".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 25),
        st.integers(0, 61),
        st.integers(0, 61),
    )
    | st.text(alphabet="0123456789 -T:\u0662", max_size=16)
)
def test_an_osmp_date_is_accepted_exactly_when_osmp_day_accepts_it(text: str) -> None:
    try:
        osmp_day(text)
        accepted = True
    except AgentCallError:
        accepted = False
    assert protocols._is_osmp_moment(text) in ({accepted} if text.isascii() else {False})
    params = [("command", "pay"), ("txn_id", "1"), ("account", "7071234567")]
    params += [("sum", "200.00"), ("txn_date", text)]
    try:
        parse_call(Dialect.OSMP, params)
        parsed = True
    except AgentCallError:
        parsed = False
    assert parsed is accepted


@pytest.mark.parametrize("dialect", list(Dialect))
@pytest.mark.parametrize(
    "answer",
    [
        Answer(Outcome.OK, "OK", prv_txn=7, amount=20000),
        Answer(Outcome.OK, "OK", prv_txn=123456789, amount=1),
        Answer(Outcome.OK, "OK", amount=99),
        Answer(Outcome.OK, "cancelled", prv_txn=5),
        Answer(Outcome.CONFLICT, "a <comment> & more"),
        Answer(Outcome.RETRY),
    ],
)
def test_answers_from_a_remembered_frame_are_those_built_afresh(
    dialect: Dialect, answer: Answer
) -> None:
    for echo in ("42", "", "<&>", "1" * 50):
        before, after, content_type = protocols._body_around_echo(
            dialect,
            answer,
            None if answer.prv_txn is None else str(answer.prv_txn),
            None if answer.amount is None else format_tenge(answer.amount),
        )
        protocols._FRAMES.clear()
        fresh = render(dialect, echo, answer)
        again = render(dialect, echo, answer)  # from the remembered frame
        assert fresh == again
        assert fresh[1] == content_type
        if echo == "42":
            assert (
                fresh[0]
                == (before + ('"42"' if dialect is Dialect.KASPI else "42") + after).encode()
            )
