"""``GET|POST /agents/{code}``: the agent endpoint, answering in the agent's own dialect.

Every answer is HTTP 200 with the dialect's content type, whatever happens: bad input, wrong
credentials, a database outage (a retryable code) or a bug (logged, answered as retryable: no
unit of work commits half a payment). Blocking work runs in the thread pool.
"""

from __future__ import annotations

import base64
import binascii
from typing import cast
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from abonent.agents.domain import AgentCallError, Answer, Command, Dialect, Outcome
from abonent.agents.protocols import Params, echo_id, parse_call, render
from abonent.agents.services import AgentDirectory, PayBatcher, answer_call, authenticate
from abonent.bootstrap import Container
from abonent.core.errors import AbonentError, NotFound, StorageUnavailable, ValidationError
from abonent.payments.domain import SubscriberClosed

router = APIRouter(tags=["agents"])
log = structlog.get_logger("abonent.agents")

MAX_BODY = 64 * 1024
_DIRECTORY = "agents.directory"
_BATCHER = "agents.pay_batcher"
_FORM = "application/x-www-form-urlencoded"


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
    of the same pays one by one.
    """
    found = container.extras.get(_BATCHER)
    if not isinstance(found, PayBatcher) or found.db is not container.db:
        found = PayBatcher(container.db)
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
    content, content_type = await run_in_threadpool(
        serve,
        container,
        code,
        request.url.query,
        None if too_long else body,
        request.headers.get("content-type", ""),
        request.headers.get("authorization"),
        _client_host(request, container),
    )
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
    except AgentCallError as exc:
        answer = Answer(exc.outcome, exc.message)
    except StorageUnavailable:
        answer = Answer(Outcome.RETRY, "temporary error, repeat later")
    except SubscriberClosed:
        answer = Answer(Outcome.CLOSED, "account is not active")
    except NotFound:
        answer = Answer(Outcome.NOT_FOUND, "no such subscriber")
    except ValidationError as exc:
        answer = Answer(Outcome.BAD_REQUEST, exc.message)
    except AbonentError as exc:
        log.warning("agent_call_refused", agent=agent.code, code=exc.code)
        answer = Answer(Outcome.BAD_REQUEST, exc.message)
    except Exception:
        # Nothing was committed (the unit of work rolls back); the agent may safely repeat.
        log.exception("agent_call_failed", agent=agent.code)
        answer = Answer(Outcome.RETRY, "temporary error, repeat later")
    return render(agent.dialect, echo, answer)


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
