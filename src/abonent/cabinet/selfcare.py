"""Money and service use cases of the cabinet on top of other features' services: tariffs,
options, card top-ups, statements. Each function authorises through ``access.authorize`` first
(view to read; pay to top up; full to change tariff, options or order a paid statement); the
features' modules are imported lazily so the cabinet works without them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from abonent.auth import services as auth
from abonent.auth.domain import AuthPolicy, Session
from abonent.cabinet.access import authorize
from abonent.cabinet.domain import Right
from abonent.core.errors import ValidationError
from abonent.core.money import Tiyn
from abonent.db.uow import Database
from abonent.settings import Settings
from abonent.subscribers.domain import Subscriber

MAX_CODE = 32


def _actor(principal: Subscriber) -> str:
    return f"subscriber:{principal.msisdn}"


def _check(db: Database, principal: Subscriber, target_msisdn: str, needed: Right) -> Subscriber:
    with db.reading() as uow:
        return authorize(uow, principal, target_msisdn, needed)


def _code(code: str) -> str:
    if not isinstance(code, str) or not 1 <= len(code.strip()) <= MAX_CODE:
        raise ValidationError("choose a tariff or an option")
    return code.strip()


# -- tariffs and options ------------------------------------------------------------------
def tariffs(db: Database, principal: Subscriber, target_msisdn: str) -> list[Any]:
    from abonent.charging.services import list_tariffs

    target = _check(db, principal, target_msisdn, Right.VIEW)
    return list_tariffs(db, target.msisdn)


def options(db: Database, principal: Subscriber, target_msisdn: str) -> list[Any]:
    from abonent.charging.services import list_options

    target = _check(db, principal, target_msisdn, Right.VIEW)
    return list_options(db, target.msisdn)


def summary(db: Database, principal: Subscriber, target_msisdn: str) -> Any | None:
    from abonent.charging.services import subscription_summary

    target = _check(db, principal, target_msisdn, Right.VIEW)
    return subscription_summary(db, target.msisdn)


def change_tariff(db: Database, principal: Subscriber, target_msisdn: str, code: str) -> Any:
    from abonent.charging.services import change_tariff as change

    target = _check(db, principal, target_msisdn, Right.FULL)
    return change(db, target.msisdn, _code(code), actor=_actor(principal))


def connect_option(db: Database, principal: Subscriber, target_msisdn: str, code: str) -> Any:
    from abonent.charging.services import connect_option as connect

    target = _check(db, principal, target_msisdn, Right.FULL)
    return connect(db, target.msisdn, _code(code), actor=_actor(principal))


def disconnect_option(db: Database, principal: Subscriber, target_msisdn: str, code: str) -> None:
    from abonent.charging.services import disconnect_option as disconnect

    target = _check(db, principal, target_msisdn, Right.FULL)
    disconnect(db, target.msisdn, _code(code), actor=_actor(principal))


# -- cards --------------------------------------------------------------------------------
def cards(db: Database, principal: Subscriber) -> list[Any]:
    """The signed-in subscriber's own cards (cards always belong to the signed-in number)."""
    from abonent.cards.services import list_cards

    return list_cards(db, principal.msisdn)


def start_card_link(
    db: Database,
    acquirer: Any,
    principal: Subscriber,
    session: Session,
    policy: AuthPolicy,
    return_url: str,
) -> str:
    """Linking a card needs a fresh SMS code; returns the acquirer's card-entry page URL."""
    from abonent.cards.services import start_card_link as start

    with db.reading() as uow:
        auth.require_step_up(session, uow.clock.now(), policy)
    _, url = start(db, acquirer, owner_msisdn=principal.msisdn, return_url=return_url)
    return url


def complete_card_link(db: Database, acquirer: Any, principal: Subscriber, session_id: str) -> Any:
    from abonent.cards.services import complete_card_link as complete

    return complete(db, acquirer, session_id, actor=_actor(principal))


def remove_card(db: Database, principal: Subscriber, card_id: int) -> Any:
    from abonent.cards.services import remove_card as remove

    return remove(db, owner_msisdn=principal.msisdn, card_id=card_id, actor=_actor(principal))


def card_topup(
    db: Database,
    acquirer: Any,
    principal: Subscriber,
    target_msisdn: str,
    *,
    card_id: int,
    amount: Tiyn,
    idempotency_key: str,
) -> Any:
    """Pay from one's own card to a number one holds at least the pay right on."""
    from abonent.cards.services import card_topup as topup

    target = _check(db, principal, target_msisdn, Right.PAY)
    if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 100:
        raise ValidationError("the payment key must be 1 to 100 characters")
    return topup(
        db,
        acquirer,
        owner_msisdn=principal.msisdn,
        card_id=card_id,
        target_msisdn=target.msisdn,
        amount=amount,
        idempotency_key=idempotency_key,
    )


# -- statements ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime


def period_of(day_from: str, day_to: str, now: datetime) -> Period:
    """Days ``YYYY-MM-DD`` (inclusive) → a period; defaults: the last 30 days up to now."""

    def day(text: str) -> datetime | None:
        if not text:
            return None
        try:
            return datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise ValidationError("dates must look like 2026-01-31") from None

    start = day(day_from) or (now - timedelta(days=30))
    end_day = day(day_to)
    end = min(end_day + timedelta(days=1), now) if end_day else now
    return Period(start, end)


def short_statement(db: Database, principal: Subscriber, target_msisdn: str, period: Period) -> Any:
    from abonent.statements.services import short_statement_for

    target = _check(db, principal, target_msisdn, Right.VIEW)
    return short_statement_for(db, target.msisdn, period.start, period.end)


def order_full_statement(
    db: Database,
    principal: Subscriber,
    target_msisdn: str,
    period: Period,
    settings: Settings,
    email: str | None,
) -> Any:
    """The full detail for the catalogue's fee (once per period), e-mailed."""
    from abonent.statements.services import order_full_statement as order

    target = _check(db, principal, target_msisdn, Right.FULL)
    address = email or target.email or principal.email
    if not address:
        raise ValidationError("give an e-mail address for the statement")
    return order(
        db,
        target.msisdn,
        period.start,
        period.end,
        actor=_actor(principal),
        settings=settings,
        email=address,
    )


# -- trust credit -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreditView:
    current: Any | None  # the open TrustCredit: outstanding and due_at
    tiers: tuple[Any, ...]  # what may be taken now (empty when refused)
    refusal: str | None  # the stable reason when nothing may be taken
    term_days: int


def credit(db: Database, principal: Subscriber, target_msisdn: str) -> CreditView:
    from abonent.credit.services import CreditRefused, current_credit, offer

    target = _check(db, principal, target_msisdn, Right.VIEW)
    current = current_credit(db, target.msisdn)
    try:
        found = offer(db, target.msisdn)
    except CreditRefused as refused:
        return CreditView(current, (), str(refused.details.get("reason", refused.code)), 0)
    return CreditView(current, found.tiers, None, found.term_days)


def take_credit(
    db: Database, principal: Subscriber, target_msisdn: str, amount: Tiyn, key: str
) -> Any:
    """Take a trust credit on the number (full right); once per ``key``."""
    from abonent.credit.services import take

    target = _check(db, principal, target_msisdn, Right.FULL)
    if not isinstance(key, str) or not 1 <= len(key) <= 100:
        raise ValidationError("the request key must be 1 to 100 characters")
    return take(
        db,
        target.msisdn,
        amount,
        session_key=f"cabinet:{principal.msisdn}:{key}",
        actor=_actor(principal),
    )


# -- balance transfers --------------------------------------------------------------------
def quote_transfer(
    db: Database, principal: Subscriber, target_msisdn: str, recipient: str, amount: Tiyn
) -> Any:
    """Amount, fee and what arrives; refuses exactly as sending would (full right)."""
    from abonent.core.msisdn import parse_msisdn
    from abonent.transfers.services import quote_transfer as quote

    target = _check(db, principal, target_msisdn, Right.FULL)
    return quote(db, target.msisdn, parse_msisdn(recipient), amount)


def send_transfer(
    db: Database,
    principal: Subscriber,
    session: Session,
    policy: AuthPolicy,
    target_msisdn: str,
    recipient: str,
    amount: Tiyn,
    key: str,
) -> Any:
    """Send money from the number's balance (full right and a fresh SMS code)."""
    from abonent.core.msisdn import parse_msisdn
    from abonent.transfers.services import send

    target = _check(db, principal, target_msisdn, Right.FULL)
    with db.reading() as uow:
        auth.require_step_up(session, uow.clock.now(), policy)
    if not isinstance(key, str) or not 1 <= len(key) <= 100:
        raise ValidationError("the request key must be 1 to 100 characters")
    return send(
        db,
        target.msisdn,
        parse_msisdn(recipient),
        amount,
        session_key=f"cabinet:{principal.msisdn}:{key}",
        actor=_actor(principal),
    )


# -- auto top-up rules (the signed-in subscriber's own rules; any number as the target) -----
def autopay_rules(db: Database, principal: Subscriber) -> list[Any]:
    from abonent.autopay.services import list_rules

    return [r for r in list_rules(db, principal.msisdn) if r.status.value != "deleted"]


def create_autopay_rule(
    db: Database,
    principal: Subscriber,
    *,
    kind: str,
    target_msisdn: str,
    card_id: int,
    amount: Tiyn | None,
    threshold: Tiyn | None,
    period: str | None,
    day: int | None,
) -> Any:
    from abonent.autopay.domain import Period as RulePeriod
    from abonent.autopay.domain import RuleKind, RuleSpec
    from abonent.autopay.services import create_rule

    try:
        spec = RuleSpec(
            RuleKind(kind),
            amount=amount,
            threshold=threshold,
            period=RulePeriod(period) if period else None,
            day=day,
        )
    except ValueError:
        raise ValidationError("choose a kind of rule and a period") from None
    return create_rule(
        db,
        owner_msisdn=principal.msisdn,
        target_msisdn=target_msisdn,
        card_id=card_id,
        spec=spec,
        channel="cabinet",
        actor=_actor(principal),
    )


def complete_autopay_rule(db: Database, principal: Subscriber, rule_id: int, card_id: int) -> Any:
    """Give a rule created by USSD (``*911*2*2#``, waiting for a card) one of one's cards."""
    from abonent.autopay.domain import RuleStatus
    from abonent.autopay.services import update_rule

    return update_rule(
        db,
        owner_msisdn=principal.msisdn,
        rule_id=rule_id,
        card_id=card_id,
        status=RuleStatus.ACTIVE,
        actor=_actor(principal),
    )


def delete_autopay_rule(db: Database, principal: Subscriber, rule_id: int) -> Any:
    from abonent.autopay.services import delete_rule

    return delete_rule(db, owner_msisdn=principal.msisdn, rule_id=rule_id, actor=_actor(principal))
