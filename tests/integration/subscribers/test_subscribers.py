"""The subscriber register on a real database: registration, lifecycle, and refused input
that changes nothing (no row, no account, no money, no audit entry)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from abonent.core.clock import FrozenClock
from abonent.core.errors import (
    AbonentError,
    AlreadyExists,
    InvalidAmount,
    InvalidIin,
    InvalidMsisdn,
    InvalidStatusTransition,
    NotFound,
    ValidationError,
)
from abonent.core.iin import make_iin
from abonent.db.uow import Database
from abonent.ledger.services import audit_ledger
from abonent.subscribers import services
from abonent.subscribers.domain import Language, PaymentType, SubscriberStatus
from tests.factories import CREDIT_LIMIT, add_subscriber
from tests.integration.subscribers.state import database_state

pytestmark = pytest.mark.storage

VALID_IIN = make_iin(date(1990, 3, 14), 4, 1)
assert VALID_IIN == "900314400011"


def register(db: Database, **fields: Any) -> services.SubscriberView:
    values: dict[str, Any] = {"msisdn": "7071234567", "name": "Айгерим Сейтқали"}
    values.update(fields)
    return services.add_subscriber(
        db, services.NewSubscriber(**values), actor="test", postpaid_credit_limit=CREDIT_LIMIT
    )


@pytest.mark.parametrize("typed", ["7071234567", "87071234567", "+7 707 123 45 67", "+77071234567"])
def test_every_accepted_number_form_registers_the_e164_number(db: Database, typed: str) -> None:
    view = register(db, msisdn=typed)
    assert view.subscriber.msisdn == "+77071234567"
    assert services.get_subscriber(db, "7071234567").subscriber.id == view.subscriber.id


def test_registration_with_every_detail(db: Database) -> None:
    view = register(
        db,
        iin=VALID_IIN,
        payment_type=PaymentType.POSTPAID,
        opening_balance=15_050,
        language=Language.KK,
        email="aigerim@example.kz",
        brand="altel",
    )
    stored = services.get_subscriber(db, "+77071234567")
    s = stored.subscriber
    assert (s.iin, s.language, s.payment_type, s.email) == (
        VALID_IIN,
        Language.KK,
        PaymentType.POSTPAID,
        "aigerim@example.kz",
    )
    assert s.status is SubscriberStatus.ACTIVE
    assert s.brand == "altel"  # given explicitly: a ported number
    assert stored.balance == 15_050 == view.balance
    assert stored.floor == -CREDIT_LIMIT
    assert stored.home_network
    assert audit_ledger(db).ok


def test_brand_comes_from_the_prefix_table_unless_given(db: Database) -> None:
    assert register(db, msisdn="7011112233").subscriber.brand == "kcell"
    assert register(db, msisdn="7011112234", brand="tele2").subscriber.brand == "tele2"
    prepaid = services.get_subscriber(db, "7011112233")
    assert prepaid.floor == 0 and prepaid.balance == 0 and not prepaid.home_network


BAD_REGISTRATIONS = [
    pytest.param({"msisdn": "abcdefghij"}, InvalidMsisdn, id="msisdn-letters"),
    pytest.param({"msisdn": "707123456"}, InvalidMsisdn, id="msisdn-9-digits"),
    pytest.param({"msisdn": "70712345678"}, InvalidMsisdn, id="msisdn-11-digits"),
    pytest.param({"msisdn": "+79161234567"}, InvalidMsisdn, id="msisdn-russian"),
    pytest.param({"msisdn": "+998901234567"}, InvalidMsisdn, id="msisdn-uzbek"),
    pytest.param({"msisdn": ""}, InvalidMsisdn, id="msisdn-empty"),
    pytest.param({"msisdn": "7" * 40}, InvalidMsisdn, id="msisdn-too-long"),
    pytest.param({"iin": "900314400012"}, InvalidIin, id="iin-checksum"),
    pytest.param({"iin": "901314400011"}, InvalidIin, id="iin-date"),
    pytest.param({"iin": "900314700011"}, InvalidIin, id="iin-century-digit"),
    pytest.param({"iin": "90031440001"}, InvalidIin, id="iin-length"),
    pytest.param({"opening_balance": -1}, InvalidAmount, id="balance-negative"),
    pytest.param({"opening_balance": 100.5}, InvalidAmount, id="balance-float"),
    pytest.param({"opening_balance": True}, InvalidAmount, id="balance-bool"),
    pytest.param({"opening_balance": "100"}, InvalidAmount, id="balance-text"),
    pytest.param({"name": "   "}, ValidationError, id="name-blank"),
    pytest.param({"email": "not-an-email"}, ValidationError, id="email"),
    pytest.param({"brand": "nosuchbrand"}, ValidationError, id="brand-unknown"),
    pytest.param({"msisdn": "7991234567"}, AbonentError, id="number-without-brand"),
]


@pytest.mark.parametrize(("fields", "error"), BAD_REGISTRATIONS)
def test_bad_registration_is_refused_and_changes_nothing(
    db: Database, fields: dict[str, Any], error: type[AbonentError]
) -> None:
    # Given a register with one subscriber in it
    add_subscriber(db, "7001234567", balance=5_000)
    before = database_state(db)
    # When a registration with one bad detail arrives
    with pytest.raises(error) as caught:
        register(db, **{"opening_balance": 10_000, **fields})
    # Then it is refused with a stable code, and nothing was written
    assert caught.value.code
    assert database_state(db) == before
    assert audit_ledger(db).ok


def test_a_number_cannot_be_registered_twice(db: Database) -> None:
    register(db, opening_balance=500)
    before = database_state(db)
    with pytest.raises(AlreadyExists):
        register(db, msisdn="+7 707 123 45 67", opening_balance=900)
    assert database_state(db) == before


def test_status_change_is_stored_with_time_and_audit(db: Database, clock: FrozenClock) -> None:
    add_subscriber(db, "7071234567")
    clock.advance(hours=1)
    changed = services.set_status(
        db, "7071234567", SubscriberStatus.SUSPENDED, actor="test", reason="lost phone"
    )
    assert changed.status is SubscriberStatus.SUSPENDED
    stored = services.get_subscriber(db, "7071234567").subscriber
    assert stored.status is SubscriberStatus.SUSPENDED
    assert stored.status_changed_at == clock.now()
    assert stored.status_changed_at - stored.created_at == timedelta(hours=1)


def walk_to(db: Database, msisdn: str, status: SubscriberStatus) -> None:
    if status is not SubscriberStatus.ACTIVE:
        services.set_status(db, msisdn, status, actor="test")


FORBIDDEN = [
    (SubscriberStatus.CLOSED, SubscriberStatus.ACTIVE),
    (SubscriberStatus.CLOSED, SubscriberStatus.SUSPENDED),
    (SubscriberStatus.CLOSED, SubscriberStatus.BARRED),
    (SubscriberStatus.CLOSED, SubscriberStatus.CLOSED),
    (SubscriberStatus.BARRED, SubscriberStatus.SUSPENDED),
    (SubscriberStatus.ACTIVE, SubscriberStatus.ACTIVE),
]


@pytest.mark.parametrize(("current", "target"), FORBIDDEN)
def test_forbidden_transition_is_refused_and_changes_nothing(
    db: Database, current: SubscriberStatus, target: SubscriberStatus
) -> None:
    add_subscriber(db, "7071234567", balance=1_000)
    walk_to(db, "7071234567", current)
    before = database_state(db)
    with pytest.raises(InvalidStatusTransition) as caught:
        services.set_status(db, "7071234567", target, actor="test")
    assert caught.value.details == {"current": current.value, "target": target.value}
    assert database_state(db) == before


def test_status_of_an_unknown_or_invalid_number(db: Database) -> None:
    before = database_state(db)
    with pytest.raises(NotFound):
        services.set_status(db, "7079999999", SubscriberStatus.BARRED, actor="test")
    with pytest.raises(InvalidMsisdn):
        services.set_status(db, "12345", SubscriberStatus.BARRED, actor="test")
    with pytest.raises(NotFound):
        services.get_subscriber(db, "7079999999")
    assert database_state(db) == before
