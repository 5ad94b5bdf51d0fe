from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from abonent.agents import services as agent_services
from abonent.agents.domain import Dialect
from abonent.bootstrap import Container
from abonent.core.money import tenge
from abonent.db.uow import Database
from abonent.subscribers import services as subscribers
from abonent.subscribers.domain import SubscriberStatus
from abonent.web.app import create_app
from tests.factories import add_subscriber
from tests.integration.agents.harness import (
    AgentHarness,
    Http,
    LoopbackServer,
    asgi_http,
    server_http,
)

PASSWORD = "s3cret-pass"
ACTIVE, CLOSED, BARRED, SUSPENDED = "7071234567", "7071234568", "7471234567", "7001234567"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its real cost makes every test slow; the algorithm stays the same."""
    monkeypatch.setattr(
        agent_services, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture(scope="session")
def loopback_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["asgi", "uvicorn"])
def http(request: pytest.FixtureRequest, container: Container) -> Iterator[Http]:
    app = create_app(container)
    if request.param == "asgi":
        with asgi_http(app) as client:
            yield client
        return
    server: LoopbackServer = request.getfixturevalue("loopback_server")
    server.app.target = app
    with server_http(server.base_url) as client:
        yield client
    server.app.target = None


@pytest.fixture
def numbers(db: Database) -> dict[str, str]:
    """An active, a closed, a barred and a suspended number (all prepaid, balance 0)."""
    for msisdn in (ACTIVE, CLOSED, BARRED, SUSPENDED):
        add_subscriber(db, msisdn)
    subscribers.set_status(db, CLOSED, SubscriberStatus.CLOSED, actor="test")
    subscribers.set_status(db, BARRED, SubscriberStatus.BARRED, actor="test")
    subscribers.set_status(db, SUSPENDED, SubscriberStatus.SUSPENDED, actor="test")
    return {"active": ACTIVE, "closed": CLOSED, "barred": BARRED, "suspended": SUSPENDED}


def make_agent(
    db: Database,
    http: Http,
    dialect: Dialect,
    code: str,
    *,
    password: str | None = PASSWORD,
    allow_ips: tuple[str, ...] = (),
) -> AgentHarness:
    agent_services.add_agent(
        db,
        agent_services.NewAgent(
            code=code,
            name=f"Agent {code}",
            protocol=dialect.value,
            password=password,
            allow_ips=allow_ips,
            min_sum=tenge(100),
            max_sum=tenge(50_000),
        ),
        actor="test",
    )
    return AgentHarness(http, dialect, code, password)


@pytest.fixture(params=[d.value for d in Dialect])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return Dialect(request.param)


@pytest.fixture
def agent(db: Database, http: Http, dialect: Dialect, numbers: dict[str, str]) -> AgentHarness:
    return make_agent(db, http, dialect, f"AG_{dialect.value.upper()}")
