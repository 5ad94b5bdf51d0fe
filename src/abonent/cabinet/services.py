"""Cabinet use cases. Every function takes the signed-in subscriber (``principal``) and a
target number, and authorises through ``access.authorize`` before anything else."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from abonent.auth import services as auth
from abonent.auth.domain import AuthPolicy, CodePurpose, Session
from abonent.cabinet.access import SqlGrantRepository, authorize
from abonent.cabinet.domain import (
    Grant,
    GrantKind,
    Right,
    months_back,
    spending_by_month,
)
from abonent.cabinet.repository import HistoryLine, SqlCabinetRepository, SupportMessage
from abonent.core.errors import AlreadyExists, Conflict, Forbidden, NotFound, ValidationError
from abonent.core.money import Tiyn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.subscribers import services as subscriber_services
from abonent.subscribers.domain import (
    Language,
    Subscriber,
    SubscriberStatus,
    clean_email,
)
from abonent.subscribers.repository import SqlSubscriberRepository

HISTORY_PAGE = 20
SUPPORT_TEXT_MAX = 2000


@dataclass(frozen=True, slots=True)
class Dashboard:
    subscriber: Subscriber
    balance: Tiyn
    floor: Tiyn | None
    right: Right
    spending: dict[str, dict[str, int]]
    recent: list[HistoryLine]
    numbers: list[tuple[str, str]]  # (msisdn, relation) the principal can switch to
    tariff: Any | None  # charging summary when the charging engine is installed


def _cabinet(uow: UnitOfWork) -> SqlCabinetRepository:
    return SqlCabinetRepository(uow.connection)


def right_on(uow: UnitOfWork, principal: Subscriber, target: Subscriber) -> Right:
    if principal.id == target.id:
        return Right.OWNER
    grants = SqlGrantRepository(uow.connection).grants_between(principal.id, target.id)
    return max(g.right for g in grants)


def reachable_numbers(uow: UnitOfWork, principal: Subscriber) -> list[tuple[str, str]]:
    """The principal's own number, then family numbers and numbers delegated to them."""
    grants = SqlGrantRepository(uow.connection).grants_of_grantee(principal.id)
    return [(principal.msisdn, "own")] + [(g.target_msisdn, g.kind.value) for g in grants]


def dashboard(
    db: Database, principal: Subscriber, target_msisdn: str, *, months: int = 6
) -> Dashboard:
    with db.reading() as uow:
        target = authorize(uow, principal, target_msisdn, Right.VIEW)
        account = uow.ledger.account(target.account_id)
        assert account is not None
        now = uow.clock.now()
        labels = months_back(now, months)
        since = datetime(int(labels[0][:4]), int(labels[0][5:]), 1, tzinfo=now.tzinfo)
        repo = _cabinet(uow)
        view = Dashboard(
            subscriber=target,
            balance=account.balance,
            floor=account.floor,
            right=right_on(uow, principal, target),
            spending=spending_by_month(repo.spending_since(account.id, since), labels),
            recent=repo.history(account.id, limit=5),
            numbers=reachable_numbers(uow, principal),
            tariff=None,
        )
    return _with_tariff(db, view)


def _with_tariff(db: Database, view: Dashboard) -> Dashboard:
    try:
        from abonent.charging.services import subscription_summary
    except ImportError:  # the charging engine is optional for the cabinet
        return view
    return replace(view, tariff=subscription_summary(db, view.subscriber.msisdn))


def history(
    db: Database,
    principal: Subscriber,
    target_msisdn: str,
    *,
    before: int | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = HISTORY_PAGE,
) -> list[HistoryLine]:
    if direction not in (None, "", "in", "out"):
        raise ValidationError("direction must be in or out")
    if not 1 <= limit <= 10_000:
        raise ValidationError("limit must be between 1 and 10000")
    with db.reading() as uow:
        target = authorize(uow, principal, target_msisdn, Right.VIEW)
        return _cabinet(uow).history(
            target.account_id,
            limit=limit,
            before_posting_id=before,
            direction=direction or None,
            since=since,
            until=until,
        )


def set_suspended(
    db: Database, principal: Subscriber, target_msisdn: str, suspended: bool
) -> Subscriber:
    """Voluntary suspension (lost phone) and resumption by the subscriber or a full delegate."""
    with db.reading() as uow:
        target = authorize(uow, principal, target_msisdn, Right.FULL)
    if suspended and target.status is not SubscriberStatus.ACTIVE:
        raise Conflict("only an active number can be suspended")
    if not suspended and target.status is not SubscriberStatus.SUSPENDED:
        raise Conflict("the number is not suspended")
    return subscriber_services.set_status(
        db,
        target.msisdn,
        SubscriberStatus.SUSPENDED if suspended else SubscriberStatus.ACTIVE,
        actor=f"subscriber:{principal.msisdn}",
        reason="by the subscriber in the cabinet",
    )


def update_profile(
    db: Database, principal: Subscriber, *, email: str | None, language: str | None
) -> Subscriber:
    """Contacts and language of one's own number."""
    clean = clean_email(email) if email is not None else principal.email
    lang = Language(language) if language in ("ru", "kk", "en") else principal.language
    if language is not None and language not in ("ru", "kk", "en"):
        raise ValidationError("language must be one of: ru, kk, en")
    with db.uow() as uow:
        SqlSubscriberRepository(uow.connection).update_contacts(
            principal.id, email=clean, language=lang
        )
        uow.audit.record(
            at=uow.clock.now(),
            actor=f"subscriber:{principal.msisdn}",
            action="subscriber.profile_updated",
            subject=f"subscriber:{principal.msisdn}",
            details={"email_set": clean is not None, "language": lang.value},
        )
        uow.commit()
        updated = uow.subscribers.by_id(principal.id)
    assert updated is not None
    return updated


# -- family numbers and delegation --------------------------------------------------------
def start_attach(
    db: Database,
    secret: str,
    principal: Subscriber,
    family_msisdn: str,
    client: auth.Client,
    policy: AuthPolicy,
) -> None:
    """Send a code to the family number; its holder reads it to the cabinet owner."""
    msisdn = parse_msisdn(family_msisdn)
    if msisdn == principal.msisdn:
        raise ValidationError("this is your own number")
    auth.send_code(db, secret, msisdn, CodePurpose.ATTACH, client, policy, owner=principal.msisdn)


def confirm_attach(
    db: Database,
    secret: str,
    principal: Subscriber,
    family_msisdn: str,
    code: str,
    policy: AuthPolicy,
) -> Grant:
    msisdn = parse_msisdn(family_msisdn)
    auth.check_code(db, secret, msisdn, CodePurpose.ATTACH, code, policy)
    return _grant(
        db,
        grantee=principal,
        target_msisdn=msisdn,
        kind=GrantKind.FAMILY,
        right=Right.FULL,
        actor=principal,
    )


def delegate(
    db: Database,
    principal: Subscriber,
    session: Session,
    delegate_msisdn: str,
    right: Right,
    policy: AuthPolicy,
) -> Grant:
    """Give another person's number rights on one's own number (needs a fresh SMS code)."""
    with db.reading() as uow:
        auth.require_step_up(session, uow.clock.now(), policy)
        grantee = uow.subscribers.by_msisdn(parse_msisdn(delegate_msisdn))
    if grantee is None:
        raise NotFound("this number is not with us; delegation needs a subscriber number")
    if grantee.id == principal.id:
        raise ValidationError("you cannot delegate to yourself")
    return _grant(
        db,
        grantee=grantee,
        target_msisdn=principal.msisdn,
        kind=GrantKind.DELEGATE,
        right=right,
        actor=principal,
    )


def _grant(
    db: Database,
    *,
    grantee: Subscriber,
    target_msisdn: str,
    kind: GrantKind,
    right: Right,
    actor: Subscriber,
) -> Grant:
    with db.uow() as uow:
        target = uow.subscribers.by_msisdn(target_msisdn)
        if target is None:
            raise NotFound("this number is not with us")
        repo = SqlGrantRepository(uow.connection)
        if any(g.kind is kind for g in repo.grants_between(grantee.id, target.id)):
            raise AlreadyExists("this access already exists; revoke it first to change it")
        now = uow.clock.now()
        grant_id = repo.add(
            grantee_id=grantee.id, target_id=target.id, kind=kind, right=right, now=now
        )
        uow.audit.record(
            at=now,
            actor=f"subscriber:{actor.msisdn}",
            action=f"access.{kind.value}_granted",
            subject=f"subscriber:{target.msisdn}",
            details={"grantee": grantee.msisdn, "right": right.name.lower()},
        )
        uow.commit()
        grant = repo.by_id(grant_id)
    assert grant is not None
    return grant


def grants_view(db: Database, principal: Subscriber) -> tuple[list[Grant], list[Grant]]:
    """(access I hold on other numbers, access others hold on my number)."""
    with db.reading() as uow:
        repo = SqlGrantRepository(uow.connection)
        return repo.grants_of_grantee(principal.id), repo.grants_on_target(principal.id)


def revoke(db: Database, principal: Subscriber, grant_id: int) -> None:
    """Either side can end an access, at once: the owner of the target or the grantee."""
    with db.uow() as uow:
        repo = SqlGrantRepository(uow.connection)
        grant = repo.by_id(grant_id)
        if grant is None or principal.id not in (
            grant.grantee_subscriber_id,
            grant.target_subscriber_id,
        ):
            raise Forbidden("you have no access to this number")
        now = uow.clock.now()
        repo.revoke(grant.id, now)
        uow.audit.record(
            at=now,
            actor=f"subscriber:{principal.msisdn}",
            action="access.revoked",
            subject=f"subscriber:{grant.target_msisdn}",
            details={"grant_id": grant.id},
        )
        uow.commit()


# -- support chat -------------------------------------------------------------------------
def _clean_text(text: str) -> str:
    value = text.strip() if isinstance(text, str) else ""
    if not value or len(value) > SUPPORT_TEXT_MAX:
        raise ValidationError(f"write a message of 1 to {SUPPORT_TEXT_MAX} characters")
    return value


def post_support_message(db: Database, principal: Subscriber, text: str) -> SupportMessage:
    value = _clean_text(text)
    with db.uow() as uow:
        repo = _cabinet(uow)
        now = uow.clock.now()
        recent = [
            m
            for m in repo.messages(principal.id, limit=30)
            if now - m.created_at < timedelta(minutes=1)
        ]
        if len(recent) >= 10:
            raise Conflict("too many messages in a minute; please wait")
        message_id = repo.add_message(principal.id, "subscriber", value, now)
        uow.commit()
    return SupportMessage(message_id, principal.id, "subscriber", value, now)


def support_thread(db: Database, principal: Subscriber) -> list[SupportMessage]:
    with db.reading() as uow:
        return _cabinet(uow).messages(principal.id)


def answer_support(db: Database, agent_name: str, msisdn_text: str, text: str) -> SupportMessage:
    """A support agent answers a subscriber (staff page and CLI)."""
    value = _clean_text(text)
    name = agent_name.strip()[:60]
    if not name:
        raise ValidationError("the support agent's name is required")
    msisdn = parse_msisdn(msisdn_text)
    with db.uow() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise NotFound(f"no subscriber {msisdn}")
        now = uow.clock.now()
        message_id = _cabinet(uow).add_message(subscriber.id, f"support:{name}", value, now)
        uow.audit.record(
            at=now,
            actor=f"support:{name}",
            action="support.answered",
            subject=f"subscriber:{msisdn}",
            details={"message_id": message_id},
        )
        uow.commit()
    return SupportMessage(message_id, subscriber.id, f"support:{name}", value, now)


def waiting_threads(db: Database) -> list[tuple[str, SupportMessage]]:
    with db.reading() as uow:
        threads = _cabinet(uow).open_threads()
        result = []
        for subscriber_id, message in threads:
            subscriber = uow.subscribers.by_id(subscriber_id)
            if subscriber is not None:
                result.append((subscriber.msisdn, message))
    return result


def notifications(db: Database, principal: Subscriber, limit: int = 50) -> list[dict[str, Any]]:
    """SMS and other messages sent to the subscriber's number, newest first."""
    with db.reading() as uow:
        rows = uow.outbox.messages(recipient=principal.msisdn, limit=limit)
    return [
        {
            "at": r["created_at"],
            "channel": r["topic"],
            "text": r["payload"].get("text", ""),
            "status": r["status"],
        }
        for r in rows
    ]


def receipt_links(
    db: Database, principal: Subscriber, target_msisdn: str, lines: list[HistoryLine]
) -> dict[str, str]:
    """Receipt number → share token of the receipts behind these history lines (view right);
    empty when the receipts feature is not installed."""
    wanted = {line.receipt_number for line in lines if line.receipt_number}
    if not wanted:
        return {}
    try:
        from abonent.receipts.services import receipts_of_number
    except ImportError:  # pragma: no cover - receipts are optional for the cabinet
        return {}
    with db.reading() as uow:
        target = authorize(uow, principal, target_msisdn, Right.VIEW)
    found = receipts_of_number(db, target.msisdn, limit=max(50, 2 * len(lines)))
    return {r.number: r.share_token for r in found if r.number in wanted}
