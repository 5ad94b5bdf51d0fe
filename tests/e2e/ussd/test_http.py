"""``POST /ussd`` and ``POST /sms/incoming`` over HTTP: format, trust, and a property test that
random dial strings never get a 500 or more than one page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.ledger.services import audit_ledger
from abonent.ussd.config import ChannelSettings
from abonent.ussd.messages import fits_page
from abonent.web.app import create_app
from tests.integration.ussd.helpers import balance, new_subscriber, sms_texts

pytestmark = pytest.mark.storage

A, B = "7071234567", "7071234568"


def client_for(container: Container, host: str = "127.0.0.1") -> TestClient:
    return TestClient(create_app(container), client=(host, 50000))


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    new_subscriber(container.db, A, balance=tenge(1500))
    new_subscriber(container.db, B, balance=tenge(250))
    with client_for(container) as c:
        yield c


def ussd(
    client: TestClient,
    code: str,
    text: str = "",
    session: str = "h1",
    phone: str = A,
    **headers: str,
) -> tuple[int, str, str]:
    response = client.post(
        "/ussd",
        data={
            "sessionId": session,
            "serviceCode": code,
            "phoneNumber": phone,
            "networkCode": "40177",
            "text": text,
        },
        headers=headers,
    )
    return response.status_code, response.headers.get("content-type", ""), response.text


def test_ussd_answers_plain_text_con_then_end(client: TestClient, container: Container) -> None:
    status, content_type, body = ussd(client, "*145*7071234568*500#")
    assert (status, content_type.split(";")[0]) == (200, "text/plain")
    assert body == "CON Перевод 500 тг на 7071234568, комиссия 50, дойдет 450.\n1 Да\n2 Нет"
    assert ussd(client, "*145*7071234568*500#", "1")[2] == (
        "END Переведено 450 тг на 7071234568. Баланс: 1000 тг"
    )
    assert balance(container.db, A) == tenge(1000)


def test_missing_fields_get_a_page_not_an_error(client: TestClient) -> None:
    response = client.post("/ussd", data={})
    assert response.status_code == 200 and response.text.startswith("END ")
    response = client.post(
        "/ussd", content=b"\xff\xfe garbage", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200 and response.text.startswith("END ")


def test_only_the_gateway_is_trusted(container: Container) -> None:
    new_subscriber(container.db, A, balance=tenge(1500))
    new_subscriber(container.db, B, balance=tenge(250))
    with client_for(container, host="203.0.113.5") as outsider:
        assert ussd(outsider, "*145*7071234568*500#")[0] == 403
        response = outsider.post("/sms/incoming", data={"from": A, "to": "9393", "text": "1"})
        assert response.status_code == 403
    container.extras["channel_settings"] = ChannelSettings(gateway_secret="s3cret")
    container.extras.pop("ussd_channel", None)
    with client_for(container) as local:
        assert ussd(local, "*111#")[0] == 403
        assert ussd(local, "*111#", session="h2", **{"X-Gateway-Secret": "wrong"})[0] == 403
        status, _, body = ussd(local, "*111#", session="h3", **{"X-Gateway-Secret": "s3cret"})
        assert status == 200 and body.startswith("CON Баланс: 1500 тг")
    assert balance(container.db, A) == tenge(1500)


def test_sms_to_9393_with_a_voucher_code_tops_up(client: TestClient, container: Container) -> None:
    from tests.integration.vouchers.helpers import make_batch

    _, (code,) = make_batch(container.db, nominal=tenge(1000), count=1)
    response = client.post(
        "/sms/incoming", data={"from": "+77071234567", "to": "9393", "text": f" {code} "}
    )
    assert response.json() == {"status": "redeemed", "reply": None}
    assert balance(container.db, A) == tenge(2500)
    assert sms_texts(container.db, A)[-1].startswith("Баланс пополнен на 1000.00 тг")

    again = client.post("/sms/incoming", data={"from": "87071234567", "to": "9393", "text": code})
    assert again.json()["status"] == "refused"
    assert (
        sms_texts(container.db, A)[-1]
        == "Карта оплаты не принята: код неверен или уже использован."
    )
    assert balance(container.db, A) == tenge(2500)

    nonsense = client.post("/sms/incoming", data={"from": A, "to": "9393", "text": "hello"})
    assert nonsense.json()["status"] == "refused"
    assert sms_texts(container.db, A)[-1].startswith("Неверная команда.")
    other = client.post("/sms/incoming", data={"from": A, "to": "5555", "text": code})
    assert other.json() == {"status": "ignored", "reply": None}
    stranger = client.post("/sms/incoming", data={"from": "12", "to": "9393", "text": code})
    assert stranger.status_code == 200 and stranger.json()["status"] == "ignored"
    assert audit_ledger(container.db).ok


KNOWN_CODES = [
    "*111#",
    "*110*",
    "*144*",
    "*143*",
    "*133*",
    "*133#",
    "*141#",
    "*145*",
    "*911*2*2#",
    "*911*2*3#",
]
digits = st.text(alphabet="0123456789+", min_size=0, max_size=14)
dials = st.one_of(
    st.text(alphabet="*#0123456789+ab ", max_size=40),
    st.builds(
        lambda c, a, b: c if c.endswith("#") else f"{c}{a}*{b}#",
        st.sampled_from(KNOWN_CODES),
        digits,
        digits,
    ),
    st.builds(
        lambda c, a: c if c.endswith("#") else f"{c}{a}#",
        st.sampled_from(KNOWN_CODES),
        st.sampled_from([B, "87071234568", "+77071234568", "7011234567", A, "0", ""]),
    ),
)
answers = st.lists(
    st.one_of(st.sampled_from(["1", "2", "3", "0", "9", B]), digits, st.text(max_size=8)),
    max_size=4,
)
phones = st.sampled_from([A, B, "+77071234567", "87071234568", "7011234567", "", "x" * 40])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(dial=dials, inputs=answers, phone=phones, session=st.text(max_size=80))
def test_random_dials_never_fail_and_fit_one_page(
    client: TestClient,
    container: Container,
    dial: str,
    inputs: list[str],
    phone: str,
    session: str,
) -> None:
    for step in range(len(inputs) + 1):
        status, _, body = ussd(
            client, dial, "*".join(inputs[:step]), session=session or "s", phone=phone
        )
        assert status == 200
        assert body.startswith(("CON ", "END "))
        assert fits_page(body[4:]), body
        if body.startswith("END "):
            break
    assert audit_ledger(container.db).ok
