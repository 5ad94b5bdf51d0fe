"""The web application shell over HTTP: health, OpenAPI, metrics, and errors as JSON problems."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from abonent.bootstrap import Container
from abonent.core.clock import FrozenClock
from abonent.core.errors import (
    AbonentError,
    AlreadyExists,
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidMsisdn,
    InvalidStatusTransition,
    NotFound,
    StorageUnavailable,
    ValidationError,
)
from abonent.db.engine import create_engine
from abonent.db.uow import Database
from abonent.demo import load_demo
from abonent.ledger.domain import AlreadyReversed
from abonent.settings import Settings
from abonent.web.app import create_app
from tests.conftest import START

pytestmark = pytest.mark.storage

PROBLEM = "application/problem+json"
DOMAIN_ERRORS: list[tuple[AbonentError, int, str]] = [
    (ValidationError("bad"), 422, "validation_error"),
    (InvalidAmount("bad amount", field="amount"), 422, "invalid_amount"),
    (InvalidMsisdn("bad number"), 422, "invalid_msisdn"),
    (
        InvalidStatusTransition("no", current="closed", target="active"),
        409,
        "invalid_status_transition",
    ),
    (NotFound("missing"), 404, "not_found"),
    (AlreadyExists("twice"), 409, "already_exists"),
    (IdempotencyConflict("other request", key="k1"), 409, "idempotency_conflict"),
    (AlreadyReversed("again", transaction_id=7), 409, "already_reversed"),
    (InsufficientFunds("poor", account_id=3), 409, "insufficient_funds"),
    (Forbidden("no"), 403, "forbidden"),
    (StorageUnavailable("down"), 503, "storage_unavailable"),
]


def add_test_routes(app: FastAPI) -> None:
    @app.get("/test/domain-error/{index}")
    def domain_error(index: int) -> None:
        raise DOMAIN_ERRORS[index][0]

    @app.get("/test/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    app = create_app(container)
    add_test_routes(app)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_healthz_is_ok_with_demo_data(container: Container, client: TestClient) -> None:
    load_demo(container)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["version"]


def test_openapi_document_is_a_valid_openapi_3_specification(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)  # raises on any violation of the OpenAPI 3 schema
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Abonent"
    assert "/healthz" in spec["paths"]
    assert "/metrics" not in spec["paths"]


def test_metrics_count_requests_by_route_template_and_status(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/healthz")
    client.get("/test/domain-error/4")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE abonent_http_requests_total counter" in text
    assert 'abonent_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert (
        'abonent_http_requests_total{method="GET",route="/test/domain-error/{index}",'
        'status="404"} 1.0'
    ) in text
    assert "abonent_http_request_seconds_bucket" in text


def test_unknown_route_is_a_not_found_problem(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["type"] == "urn:abonent:error:not_found"


def test_wrong_method_is_a_problem_too(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("index", "status", "code"),
    [(i, status, code) for i, (_, status, code) in enumerate(DOMAIN_ERRORS)],
    ids=[code for _, _, code in DOMAIN_ERRORS],
)
def test_domain_errors_become_problems_with_their_status_and_code(
    client: TestClient, index: int, status: int, code: str
) -> None:
    response = client.get(f"/test/domain-error/{index}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    error = DOMAIN_ERRORS[index][0]
    assert body["code"] == code
    assert body["status"] == status
    assert body["title"] == error.message
    for key, value in error.details.items():
        assert body[key] == value


def test_invalid_request_parameters_are_a_validation_problem(client: TestClient) -> None:
    response = client.get("/test/domain-error/not-a-number")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["errors"][0]["field"] == "path.index"


def test_an_unexpected_error_is_a_500_problem_without_internals(client: TestClient) -> None:
    response = client.get("/test/bug")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


def unreachable(url: str, engine: sa.Engine) -> Container:
    clock = FrozenClock(START)
    settings = Settings(database_url=url, mode="test", log_json=False)
    return Container(settings=settings, db=Database(engine, clock), clock=clock)


@pytest.mark.parametrize("kind", ["postgresql-closed-port", "sqlite-missing-directory"])
def test_healthz_is_a_503_problem_when_the_database_is_unreachable(
    kind: str, tmp_path: Path
) -> None:
    if kind == "postgresql-closed-port":
        # Port 1 on loopback: nothing listens there, the connection is refused at once.
        url = "postgresql+psycopg://postgres@127.0.0.1:1/abonent"
        engine = create_engine(url)
    else:
        url = f"sqlite:///{tmp_path / 'missing' / 'abonent.sqlite3'}"
        engine = sa.create_engine(url)  # not abonent's, which would create the directory
    container = unreachable(url, engine)
    with TestClient(create_app(container)) as test_client:
        response = test_client.get("/healthz")
    engine.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "storage_unavailable"
    assert body["status"] == 503
