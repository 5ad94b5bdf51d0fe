"""The USSD session engine: services and their menus are data, walked by one interpreter.

A gateway sends the dialled string once and then, on every step, *all* inputs so far joined by
``*`` (the "Africa's Talking" callback style). So the engine is a pure function of
(service definition, dialled arguments, inputs): it re-walks the steps on every request, asks
for the first step that has no input yet (``CON``), and runs the action when every step is
answered (``END``). Inputs beyond the last step change nothing: a repeated confirm replays.

Steps are ``Choose`` (numbered options, possibly computed), ``Confirm`` (1 yes, 2 no — the
convention of every yes/no menu) and ``Ask`` (free input such as a number). A service may
``prepare`` (read and check before the first screen, refusing with ``Refusal``) and ``replay``
(the stored answer of a request already carried out with this session).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abonent.core.errors import AbonentError


@dataclass(frozen=True, slots=True)
class Msg:
    """A catalogue key and its parameters, rendered later in the subscriber's language."""

    key: str
    params: Mapping[str, object] = field(default_factory=dict)


class Refusal(AbonentError):
    """A rule says no; the subscriber sees ``msg`` and the session ends."""

    code = "ussd_refusal"
    http_status = 409

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.msg = Msg(key, params)


@dataclass
class Ctx:
    """What a step or an action sees: the caller, the session, arguments and answers."""

    msisdn: str
    session_key: str
    args: dict[str, Any]
    values: dict[str, Any]
    deps: Any  # the adapter's dependencies (database, rules); opaque to the engine
    # False when the adapter knows no action has begun in this session: replays need no lookup.
    may_have_acted: bool = True
    before_action: Callable[[], None] | None = None  # told just before the action runs


Parser = Callable[[str], Any]
Action = Callable[[Ctx], Msg]


@dataclass(frozen=True, slots=True)
class Param:
    """A positional argument of the dialled string (``*145*NUMBER*AMOUNT#``)."""

    name: str
    parse: Parser  # raises Refusal on bad input


@dataclass(frozen=True, slots=True)
class Choose:
    """Numbered options; ``options(ctx)`` gives (label, value) pairs, label text as is."""

    field: str
    prompt: Callable[[Ctx, str], Msg]  # gets the rendered options block
    options: Callable[[Ctx], Sequence[tuple[str, Any]]]


@dataclass(frozen=True, slots=True)
class Confirm:
    """``1`` goes on, ``2`` stops with ``on_cancel`` (default: "cancelled")."""

    prompt: Callable[[Ctx], Msg]
    on_cancel: Action | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    field: str
    prompt: Callable[[Ctx], Msg]
    parse: Parser


Step = Choose | Confirm | Ask


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    code: tuple[str, ...]
    action: Action
    params: tuple[Param, ...] = ()
    steps: tuple[Step, ...] = ()
    prepare: Callable[[Ctx], None] | None = None
    replay: Callable[[Ctx], Msg | None] | None = None
    # True when ``action`` only reads. ``prepare`` and ``replay`` always only read; a cancel
    # handler (``Confirm.on_cancel``) may write.
    action_reads_only: bool = False


@dataclass(frozen=True, slots=True)
class Screen:
    msg: Msg
    final: bool


YES, NO = "1", "2"
_DIAL = re.compile(r"\*([0-9]{1,4}(?:\*[0-9+]{1,20}){0,4})#")


def parse_dial(service_code: str) -> list[str] | None:
    """``*145*7071234567*500#`` → ``["145", "7071234567", "500"]``; None if not a dial string."""
    match = _DIAL.fullmatch(service_code.strip()) if isinstance(service_code, str) else None
    return match.group(1).split("*") if match else None


def split_inputs(text: str) -> list[str]:
    return [] if text == "" else text.split("*")


class Catalogue:
    """The services by code; the longest code that matches the dial wins."""

    def __init__(self, services: Sequence[Service]) -> None:
        self._by_shape = {(s.code, len(s.params)): s for s in services}

    def find(self, segments: Sequence[str]) -> tuple[Service, list[str]] | None:
        for cut in range(len(segments), 0, -1):
            code = tuple(segments[:cut])
            service = self._by_shape.get((code, len(segments) - cut))
            if service is not None:
                return service, list(segments[cut:])
        return None

    def __iter__(self) -> Any:
        return iter(self._by_shape.values())


def run(service: Service, ctx: Ctx, raw_args: Sequence[str], inputs: Sequence[str]) -> Screen:
    """Walk ``service`` with the given inputs; refusals end the session with their text."""
    try:
        for param, raw in zip(service.params, raw_args, strict=True):
            ctx.args[param.name] = param.parse(raw)
        if (
            ctx.may_have_acted
            and len(inputs) >= _answers_needed(service)
            and service.replay is not None
        ):
            earlier = service.replay(ctx)
            if earlier is not None:
                return Screen(earlier, final=True)
        first = service.steps[0] if service.steps else None
        if isinstance(first, Confirm) and first.on_cancel is None and inputs[:1] == [NO]:
            return Screen(Msg("cancelled"), final=True)  # saying no needs no checks
        if service.prepare is not None:
            service.prepare(ctx)
        remaining = list(inputs)
        for step in service.steps:
            if not remaining:
                return Screen(_prompt(step, ctx), final=False)
            answer = remaining.pop(0).strip()
            stop = _answer(step, ctx, answer)
            if stop is not None:
                return Screen(stop, final=True)
        if ctx.before_action is not None:
            ctx.before_action()
        return Screen(service.action(ctx), final=True)
    except Refusal as refusal:
        return Screen(refusal.msg, final=True)


def _answers_needed(service: Service) -> int:
    return len(service.steps)


def may_write(service: Service, inputs: Sequence[str]) -> bool:
    """Whether walking ``service`` with ``inputs`` may reach code that writes: the action
    (once every step is answered) or a cancel handler of a step already answered. What ``run``
    does before any of them (parsing, ``prepare``, ``replay``, prompts) only reads."""
    answered = service.steps[: len(inputs)]
    if any(isinstance(step, Confirm) and step.on_cancel is not None for step in answered):
        return True
    if len(inputs) < _answers_needed(service) or service.action_reads_only:
        return False
    first = service.steps[0] if service.steps else None
    cancelled = isinstance(first, Confirm) and first.on_cancel is None and inputs[:1] == [NO]
    return not cancelled


def _prompt(step: Step, ctx: Ctx) -> Msg:
    if isinstance(step, Choose):
        return step.prompt(ctx, _options_block(step, ctx))
    return step.prompt(ctx)


def _options_block(step: Choose, ctx: Ctx) -> str:
    return "\n".join(f"{i} {label}" for i, (label, _) in enumerate(step.options(ctx), start=1))


def _answer(step: Step, ctx: Ctx, answer: str) -> Msg | None:
    """Record the answer to ``step``; a message means the session stops here."""
    if isinstance(step, Confirm):
        if answer == YES:
            return None
        if answer == NO:
            return step.on_cancel(ctx) if step.on_cancel else Msg("cancelled")
        return Msg("bad_choice")
    if isinstance(step, Choose):
        options = step.options(ctx)
        if not (answer.isdigit() and 1 <= int(answer) <= len(options)):
            return Msg("bad_choice")
        ctx.values[step.field] = options[int(answer) - 1][1]
        return None
    ctx.values[step.field] = step.parse(answer)
    return None
