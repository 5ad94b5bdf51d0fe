"""JSON API of charging.

- ``POST /api/v1/usage`` — a batch of usage records from a network element; one outcome per
  record (rated with its amount, duplicate, or refused with a reason). A malformed record is
  refused alone; the rest are rated.
- ``POST /api/v1/usage/authorize`` — how many seconds / messages / bytes a number may use now
  (online charging): ``result`` is ``ok`` or ``insufficient``.
- ``GET /api/v1/subscribers/{msisdn}/remainders`` — tariff and bundle remainders, for a
  signed-in subscriber holding at least the view right on the number.

Network elements authenticate with ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``,
the key from ``ABONENT_USAGE_API_KEY``; without a configured key the usage routes refuse all.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header
from pydantic import BaseModel, ConfigDict, Field

from abonent.bootstrap import Container
from abonent.charging import services
from abonent.charging.domain import Refusal, UsageRecord
from abonent.charging.jobs import Scheduler
from abonent.charging.usage_file import record_from_fields
from abonent.charging.views import summary_as_json
from abonent.core.errors import AbonentError, Forbidden, NotFound, ValidationError
from abonent.core.money import format_tenge
from abonent.web.app import container_of
from abonent.web.security import SignedIn

router = APIRouter(tags=["charging"])
ContainerDep = Annotated[Container, Depends(container_of)]
MAX_BATCH = 10_000


class Unauthorized(AbonentError):
    code = "unauthorized"
    http_status = 401


class UsageApiDisabled(Forbidden):
    code = "usage_api_disabled"


def require_network_element(
    c: ContainerDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    expected = c.settings.usage_api_key
    if not expected:
        raise UsageApiDisabled("the usage API is not enabled (ABONENT_USAGE_API_KEY)")
    scheme, _, token = (authorization or "").partition(" ")
    given = token if scheme.lower() == "bearer" else (x_api_key or "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("a valid network element API key is required")


NetworkElement = Annotated[None, Depends(require_network_element)]


class UsageBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Objects are checked one by one so that one bad record is refused alone.
    records: list[dict[str, Any]] = Field(max_length=MAX_BATCH)


class AuthorizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    msisdn: str = Field(
        max_length=32, description="Who pays: the caller, or a collect call's callee"
    )
    kind: str = Field(max_length=20, examples=["call"])
    callee: str = Field(default="", max_length=32)


@router.post("/api/v1/usage")
def post_usage(batch: UsageBatch, c: ContainerDep, _: NetworkElement) -> dict[str, Any]:
    parsed: list[UsageRecord | dict[str, Any]] = []
    for fields in batch.records:
        try:
            parsed.append(record_from_fields(fields))
        except ValidationError as exc:
            parsed.append(
                {
                    "record_id": str(fields.get("record_id", ""))[:64],
                    "status": "refused",
                    "amount_tiyn": 0,
                    "amount": "0.00",
                    "reason": Refusal.BAD_RECORD.value,
                    "message": exc.message,
                }
            )
    report = services.rate_usage(c.db, [r for r in parsed if isinstance(r, UsageRecord)])
    rated = iter(report.outcomes)
    outcomes = []
    for item in parsed:
        if isinstance(item, dict):
            outcomes.append(item)
            continue
        o = next(rated)
        outcomes.append(
            {
                "record_id": o.record_id,
                "status": o.status,
                "amount_tiyn": o.amount,
                "amount": format_tenge(o.amount),
                "reason": o.reason or None,
                "message": o.message or None,
            }
        )
    early = len(parsed) - len(report.outcomes)
    return {
        "rated": report.rated,
        "duplicates": report.duplicates,
        "refused": report.refused + early,
        "amount_tiyn": report.total_amount,
        "outcomes": outcomes,
    }


@router.post("/api/v1/usage/authorize")
def authorize(body: AuthorizeRequest, c: ContainerDep, _: NetworkElement) -> dict[str, Any]:
    answer = services.authorize_usage(c.db, body.msisdn, body.kind, body.callee)
    return {
        "msisdn": answer.payer,
        "result": answer.result,
        "units": answer.units,
        "unit": answer.unit,
    }


@router.get("/api/v1/subscribers/{msisdn}/remainders")
def remainders(msisdn: str, principal: SignedIn, c: ContainerDep) -> dict[str, Any]:
    from abonent.cabinet.access import authorize
    from abonent.cabinet.domain import Right

    with c.db.reading() as uow:
        target = authorize(uow, principal.subscriber, msisdn, Right.VIEW)
    summary = services.subscription_summary(c.db, target.msisdn)
    if summary is None:
        raise NotFound("no tariff for this number")
    return summary_as_json(summary)


def install(app: FastAPI) -> None:
    """Mount the routes and run the due jobs on a schedule while the server runs."""
    app.include_router(router)
    container: Container = app.state.container
    settings = container.settings
    # Tests drive jobs by hand (``run_due``) so a background tick never races a test's data.
    testing = settings.mode == "test"
    scheduler = Scheduler(
        container,
        0 if testing else settings.jobs_interval_seconds,
        0 if testing else settings.frequent_jobs_interval_seconds,
    )
    app.state.job_scheduler = scheduler
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        scheduler.start()
        try:
            async with inner(application) as state:
                yield state
        finally:
            scheduler.stop()

    app.router.lifespan_context = lifespan
