"""Signing in by SMS code and by password, on a real database."""

from __future__ import annotations

import re

import pytest

from abonent.auth import services
from abonent.auth.domain import (
    AuthenticationFailed,
    AuthPolicy,
    CodePurpose,
    NotAuthenticated,
    RateLimited,
)
from abonent.core.clock import FrozenClock
from abonent.db.uow import Database
from tests.factories import add_subscriber

pytestmark = pytest.mark.storage
SECRET = "test-secret"
POLICY = AuthPolicy()
HOME = services.Client(ip="10.0.0.1", user_agent="pytest", device_id="dev-1")


def last_code(db: Database, msisdn: str = "+77071234567") -> str:
    with db.reading() as uow:
        sms = uow.outbox.messages(topic="sms", recipient=msisdn)
    match = re.search(r"\b(\d{6})\b", sms[0]["payload"]["text"])
    assert match, sms[0]
    return match.group(1)


def sms_count(db: Database, msisdn: str = "+77071234567") -> int:
    with db.reading() as uow:
        return len(uow.outbox.messages(topic="sms", recipient=msisdn))


def test_login_by_code_opens_a_session_and_the_code_is_single_use(db: Database) -> None:
    add_subscriber(db, "7071234567")
    services.send_code(db, SECRET, "87071234567", CodePurpose.LOGIN, HOME, POLICY)
    code = last_code(db)
    issued = services.login_with_code(db, SECRET, "+7 707 123 45 67", code, HOME, POLICY)
    session, subscriber = services.authenticate(db, issued.token, POLICY)
    assert subscriber.msisdn == "+77071234567" and session.kind == "web"
    with pytest.raises(AuthenticationFailed):
        services.login_with_code(db, SECRET, "7071234567", code, HOME, POLICY)


def test_code_expires_after_five_minutes(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    services.send_code(db, SECRET, "7071234567", CodePurpose.LOGIN, HOME, POLICY)
    code = last_code(db)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(AuthenticationFailed):
        services.login_with_code(db, SECRET, "7071234567", code, HOME, POLICY)


def test_five_wrong_tries_void_the_code(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    services.send_code(db, SECRET, "7071234567", CodePurpose.LOGIN, HOME, POLICY)
    code = last_code(db)
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(5):
        clock.advance(minutes=1)  # let the throttle's delay pass; only the code's count matters
        with pytest.raises((AuthenticationFailed, RateLimited)):
            services.login_with_code(
                db, SECRET, "7071234567", wrong, services.Client(ip=f"10.1.0.{attempt}"), POLICY
            )
    clock.advance(minutes=1)
    with pytest.raises(AuthenticationFailed):
        services.login_with_code(
            db, SECRET, "7071234567", code, services.Client(ip="10.2.0.1"), POLICY
        )


def test_code_sends_are_limited_per_number(db: Database) -> None:
    add_subscriber(db, "7071234567")
    for i in range(5):
        services.send_code(
            db, SECRET, "7071234567", CodePurpose.LOGIN, services.Client(ip=f"10.0.1.{i}"), POLICY
        )
    with pytest.raises(RateLimited):
        services.send_code(
            db, SECRET, "7071234567", CodePurpose.LOGIN, services.Client(ip="10.0.1.9"), POLICY
        )
    assert sms_count(db) == 5


def test_unknown_number_gets_the_same_answer_and_no_sms(db: Database) -> None:
    services.send_code(db, SECRET, "7479999999", CodePurpose.LOGIN, HOME, POLICY)
    assert sms_count(db, "+77479999999") == 0
    with pytest.raises(AuthenticationFailed) as unknown:
        services.login_with_password(db, "7479999999", "whatever-long-pass", HOME, POLICY)
    add_subscriber(db, "7071234567")
    with pytest.raises(AuthenticationFailed) as wrong:
        services.login_with_password(
            db, "7071234567", "whatever-long-pass", services.Client(ip="10.9.9.9"), POLICY
        )
    assert unknown.value.code == wrong.value.code and unknown.value.message == wrong.value.message


def test_failed_logins_are_throttled_with_growing_delay(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            services.login_with_password(db, "7071234567", "bad-password-1", HOME, POLICY)
    with pytest.raises(RateLimited) as throttled:
        services.login_with_password(db, "7071234567", "bad-password-1", HOME, POLICY)
    assert throttled.value.retry_after_seconds == 2
    clock.advance(seconds=3)
    with pytest.raises(AuthenticationFailed):
        services.login_with_password(db, "7071234567", "bad-password-1", HOME, POLICY)
    with pytest.raises(RateLimited) as longer:
        services.login_with_password(db, "7071234567", "bad-password-1", HOME, POLICY)
    assert longer.value.retry_after_seconds == 4


def _signed_in(db: Database, device: str = "dev-1") -> services.IssuedSession:
    services.send_code(db, SECRET, "7071234567", CodePurpose.LOGIN, HOME, POLICY)
    client = services.Client(ip="10.0.0.1", user_agent="pytest", device_id=device)
    return services.login_with_code(db, SECRET, "7071234567", last_code(db), client, POLICY)


def test_password_login_change_limit_and_recovery(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    issued = _signed_in(db)
    services.change_password(db, issued.session, "first-good-pass", POLICY)
    services.login_with_password(db, "7071234567", "first-good-pass", HOME, POLICY)
    services.change_password(
        db, issued.session, "second-good-pass", POLICY, current_password="first-good-pass"
    )
    with pytest.raises(RateLimited):
        services.change_password(
            db, issued.session, "third-good-pass", POLICY, current_password="second-good-pass"
        )
    # Recovery by SMS is never blocked by the daily limit, and ends every session.
    services.send_code(db, SECRET, "7071234567", CodePurpose.RESET, HOME, POLICY)
    services.reset_password(db, SECRET, "7071234567", last_code(db), "recovered-pass-1", POLICY)
    services.login_with_password(db, "7071234567", "recovered-pass-1", HOME, POLICY)
    with pytest.raises(NotAuthenticated):
        services.authenticate(db, issued.token, POLICY)
    clock.advance(days=1, seconds=1)
    fresh = services.login_with_password(db, "7071234567", "recovered-pass-1", HOME, POLICY)
    services.change_password(
        db, fresh.session, "fourth-good-pass", POLICY, current_password="recovered-pass-1"
    )


def test_sessions_time_out_when_idle_and_absolutely(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    issued = _signed_in(db)
    clock.advance(minutes=29)
    services.authenticate(db, issued.token, POLICY)
    clock.advance(minutes=31)
    with pytest.raises(NotAuthenticated):
        services.authenticate(db, issued.token, POLICY)
    active = _signed_in(db)
    for _ in range(12 * 4):  # stay active every 15 minutes for 12 hours
        clock.advance(minutes=15)
        services.authenticate(db, active.token, POLICY)
    clock.advance(minutes=1)
    with pytest.raises(NotAuthenticated):
        services.authenticate(db, active.token, POLICY)


def test_logout_and_end_other_sessions(db: Database) -> None:
    add_subscriber(db, "7071234567")
    first, second, third = _signed_in(db), _signed_in(db), _signed_in(db)
    services.logout(db, first.token)
    with pytest.raises(NotAuthenticated):
        services.authenticate(db, first.token, POLICY)
    assert services.end_other_sessions(db, second.session) == 1
    with pytest.raises(NotAuthenticated):
        services.authenticate(db, third.token, POLICY)
    services.authenticate(db, second.token, POLICY)


def test_new_device_login_sends_an_sms_once(db: Database) -> None:
    add_subscriber(db, "7071234567")
    first = _signed_in(db, device="phone-a")
    assert first.new_device
    again = _signed_in(db, device="phone-a")
    assert not again.new_device
    other = _signed_in(db, device="laptop-b")
    assert other.new_device
    with db.reading() as uow:
        texts = [
            m["payload"]["text"] for m in uow.outbox.messages(topic="sms", recipient="+77071234567")
        ]
    assert sum("нового устройства" in t for t in texts) == 2
