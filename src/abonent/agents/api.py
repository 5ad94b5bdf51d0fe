"""``GET|POST /agents/{code}``: the agent endpoint, answering in the agent's own dialect.

Every answer is HTTP 200 with the dialect's content type, whatever happens: bad input, wrong
credentials, a database outage (a retryable code) or a bug (logged, answered as retryable: no
unit of work commits half a payment). Blocking work runs in the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from concurrent.futures import Future
from typing import cast
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from abonent.agents.domain import (
    Agent,
    AgentCall,
    AgentCallError,
    Answer,
    Command,
    Dialect,
    Outcome,
    PaymentConflict,
)
from abonent.agents.protocols import Params, echo_id, parse_call, render
from abonent.agents.services import (
    AgentDirectory,
    PayBatcher,
    alert_conflict,
    answer_call,
    authenticate,
)
from abonent.bootstrap import Container
from abonent.core.errors import (
    AbonentError,
    IdempotencyConflict,
    NotFound,
    StorageUnavailable,
    ValidationError,
)
from abonent.db.engine import is_sqlite
from abonent.payments.domain import SubscriberClosed

router = APIRouter(tags=["agents"])
log = structlog.get_logger("abonent.agents")

MAX_BODY = 64 * 1024
_DIRECTORY = "agents.directory"
_BATCHER = "agents.pay_batcher"
_FORM = "application/x-www-form-urlencoded"
PG_WRITERS = 3  # batcher threads on PostgreSQL (SQLite: one; it has one writer anyway)


def directory_of(container: Container) -> AgentDirectory:
    found = container.extras.get(_DIRECTORY)
    if not isinstance(found, AgentDirectory) or found.db is not container.db:
        found = AgentDirectory(container.db)
        container.extras[_DIRECTORY] = found
    return found


def batcher_of(container: Container) -> PayBatcher:
    """The group-commit batcher of pays (one per database of the process).

    SQLite has one writer at a time, so pays waiting for it are best committed together.
    PostgreSQL could run them side by side, but the server's Python work is what limits it:
    a batch written with bulk statements costs a fraction of the CPU, round trips and commits
    of the same pays one by one. There, a few writers overlap their round trips (their batches
    lock numbers, then accounts, each in one global order, so they cannot deadlock).
    """
    found = container.extras.get(_BATCHER)
    if not isinstance(found, PayBatcher) or found.db is not container.db:
        writers = 1 if is_sqlite(container.db.engine) else PG_WRITERS
        found = PayBatcher(container.db, writers=writers)
        container.extras[_BATCHER] = found
    return found


async def agent_endpoint(request: Request) -> Response:
    """A plain Starlette endpoint (no FastAPI dependency resolution on the hot path)."""
    code = str(request.path_params["code"])
    body = b""
    too_long = False
    if request.method == "POST":
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                too_long = True
            else:
                chunks.append(chunk)
        body = b"".join(chunks)
    container = cast(Container, request.app.state.container)
    args = (
        container,
        code,
        request.url.query,
        None if too_long else body,
        request.headers.get("content-type", ""),
        request.headers.get("authorization"),
        _client_host(request, container),
    )
    queued = quick_pay(*args)
    if queued is not None:
        agent, echo, call, future = queued
        answer = await answer_quick_pay(container, agent, call, future)
        content, content_type = render(agent.dialect, echo, answer)
    else:
        content, content_type = await run_in_threadpool(serve, *args)
    return Response(
        content,
        media_type=None,
        headers={"content-type": content_type, "cache-control": "no-store"},
    )


router.add_route("/agents/{code}", agent_endpoint, methods=["GET", "POST"], include_in_schema=False)


def _client_host(request: Request, container: Container) -> str | None:
    if container.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None


def serve(
    container: Container,
    code: str,
    query: str,
    body: bytes | None,
    content_type: str,
    authorization: str | None,
    host: str | None,
) -> tuple[bytes, str]:
    """One request from an agent, start to finish; never raises."""
    directory = directory_of(container)
    try:
        agent = directory.find(code)
    except StorageUnavailable:
        return render(Dialect.OSMP, "", Answer(Outcome.RETRY, "temporary error, repeat later"))
    except Exception:
        log.exception("agent_lookup_failed", agent=code[:40])
        return render(Dialect.OSMP, "", Answer(Outcome.RETRY, "temporary error, repeat later"))
    if agent is None:
        return render(Dialect.OSMP, "", Answer(Outcome.FORBIDDEN, "unknown agent"))
    echo = ""
    try:
        params = request_params(query, body, content_type)
        echo = echo_id(agent.dialect, params)
        user, password = basic_credentials(authorization)
        authenticate(directory, agent, user=user, password=password, host=host)
        call = parse_call(agent.dialect, params)
        if call.command is Command.PAY:
            answer = batcher_of(container).pay(agent, call)  # group commit
        else:
            answer = answer_call(container.db, agent, call)
    except Exception as exc:
        answer = answer_for(exc, agent)
    return render(agent.dialect, echo, answer)


def answer_for(exc: Exception, agent: Agent) -> Answer:
    """The answer to a call that failed with ``exc``."""
    if isinstance(exc, AgentCallError):
        return Answer(exc.outcome, exc.message)
    if isinstance(exc, StorageUnavailable):
        return Answer(Outcome.RETRY, "temporary error, repeat later")
    if isinstance(exc, SubscriberClosed):
        return Answer(Outcome.CLOSED, "account is not active")
    if isinstance(exc, NotFound):
        return Answer(Outcome.NOT_FOUND, "no such subscriber")
    if isinstance(exc, ValidationError):
        return Answer(Outcome.BAD_REQUEST, exc.message)
    if isinstance(exc, AbonentError):
        log.warning("agent_call_refused", agent=agent.code, code=exc.code)
        return Answer(Outcome.BAD_REQUEST, exc.message)
    # Nothing was committed (the unit of work rolls back); the agent may safely repeat.
    log.error("agent_call_failed", agent=agent.code, exc_info=exc)
    return Answer(Outcome.RETRY, "temporary error, repeat later")


def quick_pay(
    container: Container,
    code: str,
    query: str,
    body: bytes | None,
    content_type: str,
    authorization: str | None,
    host: str | None,
) -> tuple[Agent, str, AgentCall, Future[Answer]] | None:
    """The pay fast path, run in the event loop: only when nothing on the way can block (the
    agent is cached, its password verified before) and the request is a well-formed pay; the
    pay is queued for the group commit. Anything else is None: ``serve`` in the thread pool
    then handles it from the start, refusals included."""
    directory = directory_of(container)
    agent = directory.cached(code)
    if agent is None:
        return None
    try:
        params = request_params(query, body, content_type)
        if agent.password_hash is not None:
            user, password = basic_credentials(authorization)
            if user != agent.code or password is None:
                return None
            if directory.password_known(agent, password) is not True:
                return None
        if agent.allow_ips and not agent.address_allowed(host):
            return None
        call = parse_call(agent.dialect, params)
        echo = echo_id(agent.dialect, params)
    except Exception:
        return None
    if call.command is not Command.PAY:
        return None
    return agent, echo, call, batcher_of(container).submit(agent, call)


async def answer_quick_pay(
    container: Container, agent: Agent, call: AgentCall, future: Future[Answer]
) -> Answer:
    """Wait for a queued pay without holding a thread (the batcher sets the future)."""
    waiting = asyncio.wrap_future(future)
    try:
        # shield: a timeout must not cancel the future the batcher will still set.
        return await asyncio.wait_for(asyncio.shield(waiting), batcher_of(container).timeout)
    except TimeoutError:
        return Answer(Outcome.RETRY, "temporary error, repeat later")
    except IdempotencyConflict:
        await run_in_threadpool(alert_conflict, container.db, agent, call)
        return answer_for(
            PaymentConflict("this txn_id was already used for another account or sum"), agent
        )
    except Exception as exc:
        return answer_for(exc, agent)


def request_params(query: str, body: bytes | None, content_type: str) -> Params:
    """Query and form parameters together (a name given in both counts as repeated)."""
    if body is None:
        raise AgentCallError(Outcome.BAD_REQUEST, "request body too large")
    try:
        params = parse_qsl(query, keep_blank_values=True, errors="strict")
        if body:
            if content_type and not content_type.lower().startswith(_FORM):
                raise AgentCallError(Outcome.BAD_REQUEST, "send a form (x-www-form-urlencoded)")
            text = body.decode("utf-8")
            params += parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise AgentCallError(Outcome.BAD_REQUEST, "parameters are not valid UTF-8") from None
    return params


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or header[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)
