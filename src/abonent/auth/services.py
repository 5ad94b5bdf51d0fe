"""Authentication use cases. Each owns its unit of work.

Failures that must be remembered even though the request is refused (a wrong code's attempt
count, a failed login for throttling) are committed before the error is raised.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from abonent.auth.domain import (
    AuthenticationFailed,
    AuthPolicy,
    CodePurpose,
    NotAuthenticated,
    RateLimited,
    Session,
    StepUpRequired,
    check_password,
    code_hash,
    new_code,
    new_token,
    retry_after,
    token_hash,
)
from abonent.auth.repository import SqlAuthRepository
from abonent.core.errors import InvalidMsisdn
from abonent.core.msisdn import parse_msisdn
from abonent.db.uow import Database, UnitOfWork
from abonent.outbox.repository import enqueue_sms
from abonent.subscribers.domain import Language, Subscriber, SubscriberStatus

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the number is unknown, so both paths cost one argon2 verification
    (made on first use: hashing at import would slow every command's start-up)."""
    return _hasher.hash("abonent-dummy-password-for-timing")


SMS_SENDER = "Abonent"

_CODE_SMS = {
    CodePurpose.LOGIN: {
        Language.RU: "Код для входа: {code}. Никому его не сообщайте.",
        Language.KK: "Кіру коды: {code}. Оны ешкімге айтпаңыз.",
        Language.EN: "Your login code: {code}. Do not share it.",
    },
    CodePurpose.RESET: {
        Language.RU: "Код восстановления пароля: {code}.",
        Language.KK: "Құпиясөзді қалпына келтіру коды: {code}.",
        Language.EN: "Password recovery code: {code}.",
    },
    CodePurpose.STEP_UP: {
        Language.RU: "Код подтверждения операции: {code}.",
        Language.KK: "Операцияны растау коды: {code}.",
        Language.EN: "Confirmation code: {code}.",
    },
    CodePurpose.ATTACH: {
        Language.RU: "Код для привязки номера к кабинету {owner}: {code}.",
        Language.KK: "Нөмірді {owner} кабинетіне қосу коды: {code}.",
        Language.EN: "Code to attach this number to the account of {owner}: {code}.",
    },
}
_NEW_DEVICE_SMS = {
    Language.RU: "Вход в личный кабинет с нового устройства. Если это не вы, смените пароль.",
    Language.KK: (
        "Жеке кабинетке жаңа құрылғыдан кірді. Бұл сіз болмасаңыз, құпиясөзді ауыстырыңыз."
    ),
    Language.EN: "New sign-in to your account from a new device. Not you? Change your password.",
}


@dataclass(frozen=True, slots=True)
class Client:
    """Who is knocking: the address, the browser, and our long-lived device cookie."""

    ip: str
    user_agent: str = ""
    device_id: str = ""


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str  # goes to the cookie or the bearer header; only its hash is stored
    session: Session
    new_device: bool


def _repo(uow: UnitOfWork) -> SqlAuthRepository:
    return SqlAuthRepository(uow.connection)


def _msisdn_or_fail(text: str) -> str:
    try:
        return parse_msisdn(text)
    except InvalidMsisdn:
        raise AuthenticationFailed("wrong number, password or code") from None


def send_code(
    db: Database,
    secret: str,
    msisdn_text: str,
    purpose: CodePurpose,
    client: Client,
    policy: AuthPolicy,
    *,
    owner: str = "",
) -> None:
    """Send a one-time code by SMS. Answers the same whether the number is ours or not."""
    msisdn = parse_msisdn(msisdn_text)
    with db.uow() as uow:
        now = uow.clock.now()
        hour_ago = now - timedelta(hours=1)
        repo = _repo(uow)
        if (
            repo.codes_sent_since(ip=client.ip, since=hour_ago)
            >= policy.code_sends_per_address_per_hour
        ):
            raise RateLimited("too many codes requested from this address; try later", 3600)
        if (
            repo.codes_sent_since(msisdn=msisdn, since=hour_ago)
            >= policy.code_sends_per_number_per_hour
        ):
            raise RateLimited("too many codes sent to this number; try later", 3600)
        subscriber = uow.subscribers.by_msisdn(msisdn)
        code = new_code()
        # Unknown numbers get a code row too (never sent), so quotas and answers look the same.
        repo.add_code(
            msisdn=msisdn,
            purpose=purpose,
            code_hash=code_hash(secret, msisdn, purpose, code),
            ip=client.ip,
            now=now,
            expires_at=now + policy.code_ttl,
        )
        if subscriber is not None and subscriber.status is not SubscriberStatus.CLOSED:
            text = _CODE_SMS[purpose][subscriber.language].format(code=code, owner=owner)
            enqueue_sms(uow.outbox, to=msisdn, sender=SMS_SENDER, text=text, now=now)
        uow.commit()


def check_code(
    db: Database, secret: str, msisdn: str, purpose: CodePurpose, code: str, policy: AuthPolicy
) -> None:
    """Consume a valid code or raise ``AuthenticationFailed``; wrong tries are counted."""
    with db.uow() as uow:
        now = uow.clock.now()
        repo = _repo(uow)
        row = repo.live_code(msisdn, purpose)
        if row is None or row.expires_at < now or row.attempts >= policy.code_max_attempts:
            raise AuthenticationFailed("the code is wrong or expired; request a new one")
        expected = str(row.code_hash)
        given = code_hash(secret, msisdn, purpose, code.strip() if isinstance(code, str) else "")
        if not hmac.compare_digest(expected, given):
            repo.count_code_attempt(int(row.id))
            if row.attempts + 1 >= policy.code_max_attempts:
                repo.use_code(int(row.id), now)  # void it
            uow.commit()
            raise AuthenticationFailed("the code is wrong or expired; request a new one")
        if not repo.use_code(int(row.id), now):
            raise AuthenticationFailed("the code is wrong or expired; request a new one")
        uow.commit()


def login_with_code(
    db: Database,
    secret: str,
    msisdn_text: str,
    code: str,
    client: Client,
    policy: AuthPolicy,
    *,
    kind: str = "web",
) -> IssuedSession:
    msisdn = _msisdn_or_fail(msisdn_text)
    _refuse_if_throttled(db, msisdn, client, policy)
    try:
        check_code(db, secret, msisdn, CodePurpose.LOGIN, code, policy)
    except AuthenticationFailed:
        _record_failure(db, msisdn, client)
        raise
    return _open_session(db, msisdn, client, policy, kind=kind)


def login_with_password(
    db: Database,
    msisdn_text: str,
    password: str,
    client: Client,
    policy: AuthPolicy,
    *,
    kind: str = "web",
) -> IssuedSession:
    msisdn = _msisdn_or_fail(msisdn_text)
    _refuse_if_throttled(db, msisdn, client, policy)
    with db.reading() as uow:
        subscriber = uow.subscribers.by_msisdn(msisdn)
        stored = _repo(uow).password_hash(subscriber.id) if subscriber else None
    if not _verify(stored or _dummy_hash(), password) or stored is None:
        _record_failure(db, msisdn, client)
        raise AuthenticationFailed("wrong number, password or code")
    return _open_session(db, msisdn, client, policy, kind=kind)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password if isinstance(password, str) else "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _refuse_if_throttled(db: Database, msisdn: str, client: Client, policy: AuthPolicy) -> None:
    with db.reading() as uow:
        now = uow.clock.now()
        since = now - policy.failure_window
        repo = _repo(uow)
        waits = [
            retry_after(last, count, now, policy)
            for count, last in (
                repo.failures_since(f"msisdn:{msisdn}", since),
                repo.failures_since(f"ip:{client.ip}", since),
            )
        ]
    if max(waits) > 0:
        raise RateLimited("too many failed attempts; wait and try again", max(waits))


def _record_failure(db: Database, msisdn: str, client: Client) -> None:
    with db.uow() as uow:
        now = uow.clock.now()
        _repo(uow).add_failure(f"msisdn:{msisdn}", now)
        _repo(uow).add_failure(f"ip:{client.ip}", now)
        uow.commit()


def _open_session(
    db: Database, msisdn: str, client: Client, policy: AuthPolicy, *, kind: str
) -> IssuedSession:
    del policy  # timeouts are applied when the session is used
    token = new_token()
    with db.uow() as uow:
        now = uow.clock.now()
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None or subscriber.status is SubscriberStatus.CLOSED:
            raise AuthenticationFailed("wrong number, password or code")
        repo = _repo(uow)
        session = Session(
            id_hash=token_hash(token),
            subscriber_id=subscriber.id,
            msisdn=msisdn,
            kind=kind,
            created_at=now,
            last_seen_at=now,
            csrf_token=new_token(),
            device_id=client.device_id[:64],
            ip=client.ip[:64],
            user_agent=client.user_agent[:300],
            stepped_up_at=None,
            revoked_at=None,
        )
        repo.add_session(session)
        repo.clear_failures(f"msisdn:{msisdn}")
        new_device = bool(client.device_id) and repo.remember_device(
            subscriber.id, client.device_id[:64], client.user_agent, now
        )
        if new_device:
            enqueue_sms(
                uow.outbox,
                to=msisdn,
                sender=SMS_SENDER,
                text=_NEW_DEVICE_SMS[subscriber.language],
                now=now,
            )
        uow.audit.record(
            at=now,
            actor=f"subscriber:{msisdn}",
            action="auth.login",
            subject=f"subscriber:{msisdn}",
            details={"kind": kind, "ip": client.ip, "new_device": new_device},
        )
        uow.commit()
    return IssuedSession(token=token, session=session, new_device=new_device)


def authenticate(db: Database, token: str, policy: AuthPolicy) -> tuple[Session, Subscriber]:
    """The live session behind a token, refreshed; ``NotAuthenticated`` if none."""
    if not token or len(token) > 200:
        raise NotAuthenticated("please sign in")
    id_hash = token_hash(token)
    with db.uow() as uow:
        now = uow.clock.now()
        repo = _repo(uow)
        session = repo.session(id_hash)
        if session is None or session.expired(now, policy):
            raise NotAuthenticated("your session has ended; please sign in again")
        subscriber = uow.subscribers.by_id(session.subscriber_id)
        if subscriber is None or subscriber.status is SubscriberStatus.CLOSED:
            raise NotAuthenticated("please sign in")
        # Refresh the idle timer at most once a minute: fewer writes on busy pages.
        if now - session.last_seen_at > timedelta(minutes=1):
            repo.touch(id_hash, now)
            session = replace(session, last_seen_at=now)
            uow.commit()
    return session, subscriber


def logout(db: Database, token: str) -> None:
    with db.uow() as uow:
        _repo(uow).revoke(token_hash(token), uow.clock.now())
        uow.commit()


def active_sessions(db: Database, session: Session, policy: AuthPolicy) -> list[Session]:
    with db.reading() as uow:
        now = uow.clock.now()
        return [
            s for s in _repo(uow).sessions_of(session.subscriber_id) if not s.expired(now, policy)
        ]


def end_other_sessions(db: Database, session: Session) -> int:
    with db.uow() as uow:
        ended = _repo(uow).revoke_all_but(session.subscriber_id, session.id_hash, uow.clock.now())
        uow.commit()
    return ended


def step_up(db: Database, secret: str, session: Session, code: str, policy: AuthPolicy) -> None:
    """Confirm a fresh SMS code; sensitive actions are allowed for a few minutes after."""
    check_code(db, secret, session.msisdn, CodePurpose.STEP_UP, code, policy)
    with db.uow() as uow:
        _repo(uow).mark_stepped_up(session.id_hash, uow.clock.now())
        uow.commit()


def require_step_up(session: Session, now: datetime, policy: AuthPolicy) -> None:
    if not session.stepped_up(now, policy):
        raise StepUpRequired("confirm this action with the code we send by SMS")


def change_password(
    db: Database,
    session: Session,
    new_password: str,
    policy: AuthPolicy,
    *,
    current_password: str | None = None,
) -> None:
    """Change the password of a signed-in subscriber: at most N a day (seed 004)."""
    check_password(new_password, policy, msisdn=session.msisdn)
    with db.uow() as uow:
        now = uow.clock.now()
        repo = _repo(uow)
        stored = repo.password_hash(session.subscriber_id)
        if stored is not None and not _verify(stored, current_password or ""):
            raise AuthenticationFailed("the current password is wrong")
        if repo.password_changes_since(session.subscriber_id, now - timedelta(days=1)) >= (
            policy.password_changes_per_day
        ):
            raise RateLimited("the password can be changed at most twice a day", 86400)
        repo.set_password_hash(session.subscriber_id, _hasher.hash(new_password), now, "change")
        uow.audit.record(
            at=now,
            actor=f"subscriber:{session.msisdn}",
            action="auth.password_changed",
            subject=f"subscriber:{session.msisdn}",
            details={"via": "change"},
        )
        uow.commit()


def reset_password(
    db: Database, secret: str, msisdn_text: str, code: str, new_password: str, policy: AuthPolicy
) -> None:
    """ "Forgot password": a valid SMS code sets a new one. Never blocked by the daily limit;
    every other session of the number is ended."""
    msisdn = _msisdn_or_fail(msisdn_text)
    check_password(new_password, policy, msisdn=msisdn)
    check_code(db, secret, msisdn, CodePurpose.RESET, code, policy)
    with db.uow() as uow:
        now = uow.clock.now()
        subscriber = uow.subscribers.by_msisdn(msisdn)
        if subscriber is None:
            raise AuthenticationFailed("wrong number, password or code")
        repo = _repo(uow)
        repo.set_password_hash(subscriber.id, _hasher.hash(new_password), now, "recovery")
        repo.revoke_all_but(subscriber.id, "", now)
        uow.audit.record(
            at=now,
            actor=f"subscriber:{msisdn}",
            action="auth.password_changed",
            subject=f"subscriber:{msisdn}",
            details={"via": "recovery"},
        )
        uow.commit()
