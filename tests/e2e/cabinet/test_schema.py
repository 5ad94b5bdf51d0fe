"""schemathesis against the app's OpenAPI schema, signed in with a bearer token of a seeded
subscriber: no 500s, and answers match the documented schema. Bounded: a few examples per
operation of the mobile app's API (cabinet, auth, cards, auto top-up, receipts, charging,
payments, vouchers)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from abonent.bootstrap import Container
from abonent.core.money import tenge
from tests.e2e.cabinet.conftest import last_code
from tests.factories import add_subscriber

schemathesis = pytest.importorskip("schemathesis")
pytestmark = [pytest.mark.storage, pytest.mark.slow]

# The mobile app's API: the cabinet and auth, and what the app calls of other features.
CABINET_TAGS = {
    "cabinet",
    "auth",
    "cards",
    "autopay",
    "receipts",
    "charging",
    "payments",
    "vouchers",
}
SKIP = {
    ("POST", "/api/v1/auth/logout"),  # would end the token the run uses
    ("POST", "/api/v1/auth/sessions/end-others"),
}


def test_api_matches_its_schema_and_never_fails(client: TestClient, container: Container) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import checks as st_checks

    db = container.db
    add_subscriber(db, "7071234567", balance=tenge(5000), name="Schema")
    add_subscriber(db, "7071234568", balance=tenge(5000))
    assert client.post("/api/v1/auth/code", json={"msisdn": "7071234567"}).status_code == 202
    login = client.post(
        "/api/v1/auth/login",
        json={"msisdn": "7071234567", "code": last_code(db, "+77071234567")},
    )
    token = login.json()["token"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = [
        result.ok()
        for result in schema.get_all_operations()
        if set(result.ok().definition.raw.get("tags", [])) & CABINET_TAGS
        and (result.ok().method.upper(), result.ok().path) not in SKIP
    ]
    assert 40 <= len(operations) <= 120, len(operations)
    failures: list[str] = []
    statuses: list[int] = []
    headers = {"Authorization": f"Bearer {token}"}

    def runner(operation: Any) -> Any:
        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            label = f"{operation.method.upper()} {operation.path}"
            try:
                response = case.call(headers=headers)
            except Exception as error:  # the test client re-raises what would be a 500
                failures.append(f"{label}: server error {type(error).__name__}: {error}"[:600])
                return
            statuses.append(response.status_code)
            try:
                case.validate_response(
                    response,
                    checks=[st_checks.not_a_server_error, st_checks.response_schema_conformance],
                )
            except Exception as error:  # a check failed: collected and reported together
                failures.append(f"{label}: {error}"[:600])

        return run

    for operation in operations:
        runner(operation)()
    assert any(200 <= s < 300 for s in statuses), statuses
    assert not failures, "\n\n".join(failures)
