"""The service codes and their menus, as data for ``engine.run``.

| code | service |
| --- | --- |
| ``*111#`` | balance; 1 tariff, 2 bundle remainders |
| ``*110*CODE#`` | voucher |
| ``*144*N#`` / ``*143*N#`` | "call me" / "top up my account" SMS |
| ``*133*N#`` / ``*133#`` | collect call request / answer the one waiting for you |
| ``*141#`` | trust credit: amounts, confirm |
| ``*145*N*AMOUNT#`` | balance transfer: confirm |
| ``*911*2*2#`` / ``*911*2*3#`` | auto top-up for self / for a friend's number (asked) |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from abonent.core.errors import AbonentError, InvalidMsisdn, StorageUnavailable
from abonent.core.money import TIYN_PER_TENGE, Tiyn
from abonent.core.msisdn import national10
from abonent.db.uow import Database
from abonent.messaging.domain import cached_msisdn
from abonent.subscribers.domain import Language
from abonent.ussd.config import ChannelSettings
from abonent.ussd.engine import Ask, Catalogue, Choose, Confirm, Ctx, Msg, Param, Refusal, Service
from abonent.ussd.messages import USSD, fits_page, render, tg


@dataclass(frozen=True)
class Deps:
    db: Database
    settings: ChannelSettings
    language: Language
    balance: Tiyn  # the caller's balance when the step began


def _deps(ctx: Ctx) -> Deps:
    deps: Deps = ctx.deps
    return deps


def _date(moment: datetime, offset_hours: int = 5) -> str:
    return moment.astimezone(timezone(timedelta(hours=offset_hours))).strftime("%d.%m.%Y")


# -- argument parsers ---------------------------------------------------------------------


def parse_number(text: str) -> str:
    try:
        return cached_msisdn(text)
    except InvalidMsisdn:
        raise Refusal("invalid_number") from None


def parse_amount(text: str) -> Tiyn:
    if not (text.isascii() and text.isdigit() and 1 <= len(text) <= 7):
        raise Refusal("transfer_bad_amount")
    return int(text) * TIYN_PER_TENGE


_VOUCHER = re.compile(r"[0-9]{10,20}")


def parse_voucher(text: str) -> str:
    if not _VOUCHER.fullmatch(text):
        raise Refusal("voucher_bad_code")
    return text


# -- *111# ---------------------------------------------------------------------------------

_UNITS = {
    "min": {Language.RU: "мин", Language.KK: "мин", Language.EN: "min"},
    "minute": {Language.RU: "мин", Language.KK: "мин", Language.EN: "min"},
    "mb": {Language.RU: "МБ", Language.KK: "МБ", Language.EN: "MB"},
    "sms": {Language.RU: "SMS", Language.KK: "SMS", Language.EN: "SMS"},
}


def _summary(ctx: Ctx) -> Any:
    try:
        from abonent.charging import services as charging
    except ImportError:
        return None
    return charging.subscription_summary(_deps(ctx).db, ctx.msisdn)


def _balance_prepare(ctx: Ctx) -> None:
    ctx.values["balance"] = _deps(ctx).balance


def _tariff_name(summary: Any, language: Language) -> str:
    names = getattr(summary, "names", None)
    name = None
    if isinstance(names, dict):
        name = names.get(language.value) or names.get(language) or next(iter(names.values()), None)
    name = name or getattr(summary, "name", None) or getattr(summary, "tariff_code", "")
    text = str(name)
    return text if len(text) <= 20 else text[:19] + "…"


def _balance_action(ctx: Ctx) -> Msg:
    summary = _summary(ctx)
    language = _deps(ctx).language
    if ctx.values["what"] == "tariff":
        if summary is None:
            return Msg("no_tariff")
        period_end = getattr(summary, "period_end", None)
        return Msg(
            "tariff_info",
            {
                "tariff": _tariff_name(summary, language),
                "fee": tg(int(getattr(summary, "fee", 0) or 0)),
                "date": _date(period_end) if isinstance(period_end, datetime) else "-",
            },
        )
    remainders = [r for r in getattr(summary, "remainders", ()) or () if getattr(r, "left", 0)]
    if not remainders:
        return Msg("no_remainders")
    expiries = [getattr(r, "expires_at", None) for r in remainders]
    dates = [e for e in expiries if isinstance(e, datetime)]
    date = _date(min(dates)) if dates else "-"
    items: list[str] = []
    for remainder in remainders:
        unit = str(getattr(remainder, "unit", "")).lower()
        item = f"{getattr(remainder, 'left', '')} {_UNITS.get(unit, {}).get(language, unit)}"
        # As many bundles as fit on the page, in the engine's order.
        probe = render(
            USSD, "remainders", language, {"date": date, "items": ", ".join([*items, item])}
        )
        if not fits_page(probe):
            break
        items.append(item)
    return Msg("remainders", {"date": date, "items": ", ".join(items)})


BALANCE = Service(
    name="balance",
    code=("111",),
    prepare=_balance_prepare,
    steps=(
        Choose(
            field="what",
            prompt=lambda ctx, _: Msg("balance_menu", {"balance": tg(ctx.values["balance"])}),
            options=lambda ctx: [("", "tariff"), ("", "remainders")],
        ),
    ),
    action=_balance_action,
    action_reads_only=True,
)

# -- *110*CODE# ----------------------------------------------------------------------------


def _voucher_action(ctx: Ctx) -> Msg:
    try:
        from abonent.vouchers import services as vouchers
    except ImportError:
        return Msg("unavailable")
    try:
        redemption = vouchers.redeem_voucher(
            _deps(ctx).db,
            code=ctx.args["code"],
            msisdn=ctx.msisdn,
            channel="ussd",
            actor=f"ussd:{ctx.msisdn}",
        )
    except StorageUnavailable:
        return Msg("unavailable")
    except AbonentError:
        return Msg("voucher_refused")
    return Msg(
        "voucher_ok",
        {"amount": tg(int(redemption.amount)), "balance": tg(int(redemption.balance_after))},
    )


VOUCHER = Service(
    name="voucher",
    code=("110",),
    params=(Param("code", parse_voucher),),
    action=_voucher_action,
)

# -- *144*N# and *143*N# -------------------------------------------------------------------


def _notify(kind_value: str, done_key: str) -> Service:
    def action(ctx: Ctx) -> Msg:
        from abonent.messaging.domain import NotifyKind
        from abonent.messaging.services import send_request

        result = send_request(
            _deps(ctx).db,
            NotifyKind(kind_value),
            ctx.msisdn,
            ctx.args["number"],
            session_key=ctx.session_key,
            rules=_deps(ctx).settings.messaging_rules,
        )
        return Msg(done_key, {"number": national10(result.target)})

    return Service(
        name=kind_value,
        code=("144",) if kind_value == "call_me" else ("143",),
        params=(Param("number", parse_number),),
        action=action,
    )


CALL_ME = _notify("call_me", "callme_sent")
TOP_UP_ME = _notify("top_up_me", "topupme_sent")

# -- *133*N# and *133# ---------------------------------------------------------------------


def _collect_request(ctx: Ctx) -> Msg:
    from abonent.messaging.services import request_collect_call

    call = request_collect_call(
        _deps(ctx).db,
        ctx.msisdn,
        ctx.args["number"],
        session_key=ctx.session_key,
        rules=_deps(ctx).settings.messaging_rules,
    )
    return Msg("collect_sent", {"number": national10(call.callee_msisdn)})


def _collect_pending(ctx: Ctx) -> None:
    from abonent.messaging.services import pending_for

    call = pending_for(_deps(ctx).db, ctx.msisdn, rules=_deps(ctx).settings.messaging_rules)
    if call is None:
        raise Refusal("collect_none")
    ctx.values["call"] = call


def _collect_answer(accept: bool) -> Any:
    def action(ctx: Ctx) -> Msg:
        from abonent.messaging.services import answer_collect_call

        rules = _deps(ctx).settings.messaging_rules
        answer_collect_call(
            _deps(ctx).db, ctx.msisdn, ctx.values["call"].id, accept=accept, rules=rules
        )
        if accept:
            return Msg("collect_accepted", {"rate": tg(rules.collect_rate_per_minute)})
        return Msg("collect_declined")

    return action


COLLECT_REQUEST = Service(
    name="collect_call",
    code=("133",),
    params=(Param("number", parse_number),),
    action=_collect_request,
)
COLLECT_ANSWER = Service(
    name="collect_answer",
    code=("133",),
    prepare=_collect_pending,
    steps=(
        Confirm(
            prompt=lambda ctx: Msg(
                "collect_incoming",
                {
                    "number": national10(ctx.values["call"].caller_msisdn),
                    "rate": tg(_deps(ctx).settings.messaging_rules.collect_rate_per_minute),
                },
            ),
            on_cancel=_collect_answer(False),
        ),
    ),
    action=_collect_answer(True),
)

# -- *141# ---------------------------------------------------------------------------------


def _credit_prepare(ctx: Ctx) -> None:
    from abonent.credit.services import offer

    ctx.values["offer"] = offer(_deps(ctx).db, ctx.msisdn, rules=_deps(ctx).settings.credit_rules)


def _credit_options(ctx: Ctx) -> Sequence[tuple[str, Any]]:
    return [(tg(t.amount), t) for t in ctx.values["offer"].tiers]


def _credit_taken_msg(amount: Tiyn, fee: Tiyn, due_at: datetime) -> Msg:
    return Msg(
        "credit_taken", {"amount": tg(amount), "debt": tg(amount + fee), "date": _date(due_at)}
    )


def _credit_take(ctx: Ctx) -> Msg:
    from abonent.credit.services import take

    tier = ctx.values["tier"]
    credit = take(
        _deps(ctx).db,
        ctx.msisdn,
        tier.amount,
        session_key=ctx.session_key,
        actor=f"ussd:{ctx.msisdn}",
        rules=_deps(ctx).settings.credit_rules,
    )
    return _credit_taken_msg(credit.amount, credit.fee, credit.due_at)


def _credit_replay(ctx: Ctx) -> Msg | None:
    from abonent.credit.services import find_by_session

    credit = find_by_session(_deps(ctx).db, ctx.session_key)
    return None if credit is None else _credit_taken_msg(credit.amount, credit.fee, credit.due_at)


TRUST_CREDIT = Service(
    name="trust_credit",
    code=("141",),
    prepare=_credit_prepare,
    replay=_credit_replay,
    steps=(
        Choose(
            field="tier",
            prompt=lambda ctx, options: Msg(
                "credit_menu", {"days": ctx.values["offer"].term_days, "options": options}
            ),
            options=_credit_options,
        ),
        Confirm(
            prompt=lambda ctx: Msg(
                "credit_confirm",
                {
                    "amount": tg(ctx.values["tier"].amount),
                    "days": ctx.values["offer"].term_days,
                    "fee": tg(ctx.values["tier"].fee),
                },
            )
        ),
    ),
    action=_credit_take,
)

# -- *145*N*AMOUNT# ------------------------------------------------------------------------


def _transfer_prepare(ctx: Ctx) -> None:
    from abonent.transfers.services import quote_transfer

    ctx.values["quote"] = quote_transfer(
        _deps(ctx).db,
        ctx.msisdn,
        ctx.args["number"],
        ctx.args["amount"],
        rules=_deps(ctx).settings.transfer_rules,
    ).quote


def _transfer_done(net: Tiyn, recipient: str, balance: Tiyn) -> Msg:
    return Msg(
        "transfer_done", {"net": tg(net), "number": national10(recipient), "balance": tg(balance)}
    )


def _transfer_send(ctx: Ctx) -> Msg:
    from abonent.transfers.services import send

    transfer = send(
        _deps(ctx).db,
        ctx.msisdn,
        ctx.args["number"],
        ctx.args["amount"],
        session_key=ctx.session_key,
        actor=f"ussd:{ctx.msisdn}",
        rules=_deps(ctx).settings.transfer_rules,
    )
    return _transfer_done(transfer.net, transfer.recipient_msisdn, transfer.sender_balance_after)


def _transfer_replay(ctx: Ctx) -> Msg | None:
    from abonent.transfers.services import find_by_session

    done = find_by_session(_deps(ctx).db, ctx.session_key)
    if done is None:
        return None
    return _transfer_done(done.net, done.recipient_msisdn, done.sender_balance_after)


TRANSFER = Service(
    name="transfer",
    code=("145",),
    params=(Param("number", parse_number), Param("amount", parse_amount)),
    prepare=_transfer_prepare,
    replay=_transfer_replay,
    steps=(
        Confirm(
            prompt=lambda ctx: Msg(
                "transfer_confirm",
                {
                    "amount": tg(ctx.values["quote"].amount),
                    "number": national10(ctx.args["number"]),
                    "fee": tg(ctx.values["quote"].fee),
                    "net": tg(ctx.values["quote"].net),
                },
            )
        ),
    ),
    action=_transfer_send,
)

# -- *911*2*2# and *911*2*3# ---------------------------------------------------------------


def _autopay(ctx: Ctx, target: str) -> Msg:
    try:
        from abonent.autopay import services as autopay
    except ImportError:
        return Msg("unavailable")
    if ctx.values.get("friend") == ctx.msisdn:
        raise Refusal("own_number")
    rule = autopay.create_pending_rule(
        _deps(ctx).db, owner_msisdn=ctx.msisdn, target_msisdn=target, channel="ussd"
    )
    if str(getattr(rule, "status", "")) == "active":
        return Msg("autopay_active")
    if target == ctx.msisdn:
        return Msg("autopay_pending")
    return Msg("autopay_friend_pending", {"number": national10(target)})


AUTOPAY_SELF = Service(
    name="autopay_self",
    code=("911", "2", "2"),
    action=lambda ctx: _autopay(ctx, ctx.msisdn),
)
AUTOPAY_FRIEND = Service(
    name="autopay_friend",
    code=("911", "2", "3"),
    steps=(Ask(field="friend", prompt=lambda ctx: Msg("autopay_ask_friend"), parse=parse_number),),
    action=lambda ctx: _autopay(ctx, ctx.values["friend"]),
)

CATALOGUE = Catalogue(
    [
        BALANCE,
        VOUCHER,
        CALL_ME,
        TOP_UP_ME,
        COLLECT_REQUEST,
        COLLECT_ANSWER,
        TRUST_CREDIT,
        TRANSFER,
        AUTOPAY_SELF,
        AUTOPAY_FRIEND,
    ]
)
