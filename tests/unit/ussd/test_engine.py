"""The session engine on plain data: no database, no server."""

from __future__ import annotations

from typing import Any

import pytest

from abonent.ussd.engine import (
    Ask,
    Catalogue,
    Choose,
    Confirm,
    Ctx,
    Msg,
    Param,
    Refusal,
    Service,
    parse_dial,
    run,
    split_inputs,
)


def ctx() -> Ctx:
    return Ctx(msisdn="+77071234567", session_key="s", args={}, values={}, deps=None)


def number(text: str) -> str:
    if not text.isdigit():
        raise Refusal("invalid_number")
    return text


DONE: list[dict[str, Any]] = []


def action(c: Ctx) -> Msg:
    DONE.append(dict(c.values))
    return Msg("done", {**c.args, **c.values})


SERVICE = Service(
    name="demo",
    code=("145",),
    params=(Param("to", number),),
    steps=(
        Choose(
            "size",
            lambda c, block: Msg("menu", {"options": block}),
            lambda c: [("small", 1), ("big", 2)],
        ),
        Ask("note", lambda c: Msg("ask"), number),
        Confirm(lambda c: Msg("sure")),
    ),
    action=action,
)


@pytest.mark.parametrize(
    ("dial", "segments"),
    [
        ("*111#", ["111"]),
        ("*145*7071234567*500#", ["145", "7071234567", "500"]),
        ("*144*+77071234567#", ["144", "+77071234567"]),
        ("*911*2*3#", ["911", "2", "3"]),
        ("111#", None),
        ("*111", None),
        ("**111#", None),
        ("*1*2*3*4*5*6#", None),
        ("", None),
        ("*ab#", None),
    ],
)
def test_parse_dial(dial: str, segments: list[str] | None) -> None:
    assert parse_dial(dial) == segments


def test_steps_are_asked_in_order_then_the_action_runs() -> None:
    DONE.clear()
    assert run(SERVICE, ctx(), ["7"], []).msg == Msg("menu", {"options": "1 small\n2 big"})
    assert run(SERVICE, ctx(), ["7"], ["2"]).msg == Msg("ask")
    assert run(SERVICE, ctx(), ["7"], ["2", "9"]).msg == Msg("sure")
    final = run(SERVICE, ctx(), ["7"], ["2", "9", "1"])
    assert final.final and final.msg == Msg("done", {"to": "7", "size": 2, "note": "9"})
    assert DONE == [{"size": 2, "note": "9"}]


@pytest.mark.parametrize(
    ("args", "inputs", "key"),
    [
        (["x"], [], "invalid_number"),
        (["7"], ["3"], "bad_choice"),
        (["7"], ["a"], "bad_choice"),
        (["7"], ["1", "x"], "invalid_number"),
        (["7"], ["1", "5", "2"], "cancelled"),
        (["7"], ["1", "5", "7"], "bad_choice"),
    ],
)
def test_bad_answers_end_the_session(args: list[str], inputs: list[str], key: str) -> None:
    screen = run(SERVICE, ctx(), args, inputs)
    assert screen.final and screen.msg.key == key


def noted(calls: list[int], result: Msg | None) -> Any:
    calls.append(1)
    return result


def test_replay_answers_before_the_action_runs_again() -> None:
    calls: list[int] = []
    service = Service(
        name="once",
        code=("1",),
        steps=(Confirm(lambda c: Msg("sure")),),
        action=lambda c: noted(calls, Msg("done")),
        replay=lambda c: Msg("done-before") if calls else None,
    )
    assert run(service, ctx(), [], ["1"]).msg == Msg("done")
    assert run(service, ctx(), [], ["1", "1"]).msg == Msg("done-before")
    assert calls == [1]


def test_replay_lookup_is_skipped_while_no_action_has_begun() -> None:
    lookups: list[int] = []
    begun: list[int] = []
    service = Service(
        name="once",
        code=("1",),
        steps=(Confirm(lambda c: Msg("sure")),),
        action=lambda c: Msg("done"),
        replay=lambda c: noted(lookups, None),
    )
    fresh = ctx()
    fresh.may_have_acted = False
    fresh.before_action = lambda: begun.append(1)
    assert run(service, fresh, [], ["2"]).msg == Msg("cancelled")
    assert (lookups, begun) == ([], [])
    assert run(service, fresh, [], ["1"]).msg == Msg("done")
    assert (lookups, begun) == ([], [1])
    assert run(service, ctx(), [], ["1"]).msg == Msg("done")  # the default: look first
    assert lookups == [1]


def test_catalogue_picks_the_longest_code() -> None:
    a = Service("a", ("911",), action=action, params=(Param("x", number),) * 2)
    b = Service("b", ("911", "2", "2"), action=action)
    catalogue = Catalogue([a, b])
    assert catalogue.find(["911", "2", "2"]) == (b, [])
    assert catalogue.find(["911", "2", "5"]) == (a, ["2", "5"])
    assert catalogue.find(["912"]) is None


def test_split_inputs() -> None:
    assert split_inputs("") == []
    assert split_inputs("1*2") == ["1", "2"]
