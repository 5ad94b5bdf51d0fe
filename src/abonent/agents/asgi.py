"""``GET|POST /agents/{code}`` as a plain ASGI app: the agents' hot path without Starlette's
request and response objects or a thread-pool hop for the common requests.

In the event loop, when nothing on the way can block for long: the agent is cached and its
password verified before, the request is a well-formed ``check`` or ``pay``. A check is one
indexed SELECT on a dedicated autocommit connection (tens of µs, cheaper than a hop to a
thread); a pay is queued for the group commit and awaited without holding a thread. Anything
else (a first request, a wrong password, cancel, a malformed request) goes to ``serve`` in the
thread pool, which answers it from the start exactly as before. Every answer is HTTP 200 in
the agent's dialect.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
from dataclasses import dataclass
from typing import NamedTuple, cast
from urllib.parse import parse_qsl

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

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
from abonent.agents.protocols import (
    JSON_CONTENT_TYPE,
    XML_CONTENT_TYPE,
    Params,
    echo_id,
    parse_call,
    render,
)
from abonent.agents.repository import SubscriberStatusReader
from abonent.agents.services import (
    AgentDirectory,
    PayBatcher,
    alert_conflict,
    answer_call,
    authenticate,
    check_with,
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
from abonent.web.fastpaths import read_body

log = structlog.get_logger("abonent.agents")

MAX_BODY = 64 * 1024
PG_WRITERS = 1  # batcher threads on PostgreSQL (see batcher_of)
# A batch of fewer than MIN_BATCH pays waits up to GATHER_SECONDS for more (see PayBatcher):
# measured with 16 agents on 2 cores, 4 ms cut the server's CPU per pay by ~15-25 %.
GATHER_SECONDS = 0.004
MIN_BATCH = 12
_DIRECTORY = "agents.directory"
_BATCHER = "agents.pay_batcher"
_WIRING = "agents.asgi_wiring"
_FORM = "application/x-www-form-urlencoded"
_RETRY = Answer(Outcome.RETRY, "temporary error, repeat later")
_NO_STORE = (b"cache-control", b"no-store")
_CONTENT_TYPES = {
    t: (b"content-type", t.encode("latin-1")) for t in (XML_CONTENT_TYPE, JSON_CONTENT_TYPE)
}


def directory_of(container: Container) -> AgentDirectory:
    found = container.extras.get(_DIRECTORY)
    if not isinstance(found, AgentDirectory) or found.db is not container.db:
        found = AgentDirectory(container.db)
        container.extras[_DIRECTORY] = found
    return found


def batcher_of(container: Container) -> PayBatcher:
    """The group-commit batcher of pays (one per database of the process).

    SQLite has one writer at a time, so pays waiting for it are best committed together.
    PostgreSQL could run batches side by side, but every batch of an agent's pays moves that
    agent's clearing account: concurrent batches queue on its row lock until each commits
    (and deadlock detection stepped in now and then), and smaller batches cost more CPU per
    pay. Measured with 16 agents and 2 server processes on a busy machine: 3 writers per
    process gave 87 pays/s at 5.5 ms of server CPU per pay, one writer 315/s at 2.7 ms.
    """
    found = container.extras.get(_BATCHER)
    if not isinstance(found, PayBatcher) or found.db is not container.db:
        writers = 1 if is_sqlite(container.db.engine) else PG_WRITERS
        found = PayBatcher(
            container.db,
            writers=writers,
            gather=GATHER_SECONDS,
            min_batch=MIN_BATCH,
        )
        container.extras[_BATCHER] = found
    return found


@dataclass(frozen=True, slots=True)
class _Wiring:
    """What the endpoint needs of a container, looked up once per container."""

    container: Container
    directory: AgentDirectory
    batcher: PayBatcher
    reader: SubscriberStatusReader
    trust_forwarded_for: bool
    # Agent code -> (password hash, Authorization header) of the last request whose password
    # ``_authorized`` found verified: the same header again needs no base64 or SHA-256.
    authorized: dict[str, tuple[str, str]] = dataclasses.field(
        default_factory=dict, compare=False, hash=False
    )


def _wiring(container: Container) -> _Wiring:
    found = container.extras.get(_WIRING)
    if (
        isinstance(found, _Wiring)
        and found.directory.db is container.db
        and container.extras.get(_DIRECTORY) is found.directory
    ):
        return found  # ``directory_of`` would give the same directory: nothing to rebuild
    directory = directory_of(container)
    if not isinstance(found, _Wiring) or found.directory is not directory:
        if isinstance(found, _Wiring):
            found.reader.close()  # the container's database was replaced
        found = _Wiring(
            container,
            directory,
            batcher_of(container),
            SubscriberStatusReader(container.db),
            container.settings.trust_forwarded_for,
        )
        container.extras[_WIRING] = found
    return found


class _Request(NamedTuple):
    code: str
    query: str
    body: bytes | None  # None: longer than MAX_BODY
    content_type: str
    authorization: str | None
    host: str | None


class AgentEndpoint:
    """The ASGI app; the container is the app's (``scope["app"].state.container``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        wiring = _wiring(cast(Container, scope["app"].state.container))
        body: bytes | None = b""
        if scope["method"] == "POST":
            body, too_long = await read_body(receive, MAX_BODY)
            if too_long:
                body = None  # answered "request body too large"
        request = _request(scope, body, wiring.trust_forwarded_for)
        quick = _quick(wiring, request)
        if quick is None:
            content, content_type = await run_in_threadpool(
                serve,
                wiring.container,
                request.code,
                request.query,
                request.body,
                request.content_type,
                request.authorization,
                request.host,
            )
        else:
            agent, echo, call = quick
            if call.command is Command.PAY:
                answer = await _pay(wiring, agent, call)
            else:
                answer = _check(wiring, agent, call)
            content, content_type = render(agent.dialect, echo, answer)
        type_header = _CONTENT_TYPES.get(content_type)
        if type_header is None:
            type_header = (b"content-type", content_type.encode("latin-1"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    type_header,
                    _NO_STORE,
                    (b"content-length", b"%d" % len(content)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": content})


agent_app = AgentEndpoint()


def _request(scope: Scope, body: bytes | None, trust_forwarded_for: bool) -> _Request:
    authorization = content_type = forwarded = None
    for name, value in scope["headers"]:  # the first of repeated headers counts
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"content-type":
            if content_type is None:
                content_type = value.decode("latin-1")
        elif name == b"x-forwarded-for" and forwarded is None and trust_forwarded_for:
            forwarded = value.decode("latin-1")
    client = scope.get("client")
    host = client[0] if client else None
    if forwarded:
        host = forwarded.split(",")[0].strip()
    return _Request(
        str(scope["path_params"]["code"]),
        scope["query_string"].decode("latin-1"),
        body,
        content_type or "",
        authorization,
        host,
    )


def _quick(wiring: _Wiring, request: _Request) -> tuple[Agent, str, AgentCall] | None:
    """The agent, echo and call of a request the event loop can answer; None if ``serve``
    must (a refusal included: it then answers from the start)."""
    directory = wiring.directory
    agent = directory.cached(request.code)
    if agent is None:
        return None
    try:
        params = request_params(request.query, request.body, request.content_type)
        authorization = request.authorization
        if agent.password_hash is not None and not _authorized(wiring, agent, authorization):
            return None
        if agent.allow_ips and not agent.address_allowed(request.host):
            return None
        call = parse_call(agent.dialect, params)
    except Exception:
        return None
    if call.command is Command.CANCEL:
        return None
    # ``echo_id(agent.dialect, params)``: parse_call took the id only if given once and 1-20
    # digits, which ``clean_text`` leaves as they are.
    return agent, call.txn_id or "", call


def _authorized(wiring: _Wiring, agent: Agent, authorization: str | None) -> bool:
    """Whether the request's Basic credentials are the agent's, by a password verified
    before; False when ``serve`` must decide (argon2 or a refusal)."""
    assert agent.password_hash is not None
    known = wiring.authorized.get(agent.code)
    if (
        known is not None
        and authorization is not None
        and known[0] == agent.password_hash
        # constant time: the remembered header holds a valid password
        and hmac.compare_digest(known[1].encode("latin-1"), authorization.encode("latin-1"))
    ):
        return True
    user, password = basic_credentials(authorization)
    if user != agent.code or password is None:
        return False
    if wiring.directory.password_known(agent, password) is not True:
        return False
    assert authorization is not None
    wiring.authorized[agent.code] = (agent.password_hash, authorization)
    return True


def _check(wiring: _Wiring, agent: Agent, call: AgentCall) -> Answer:
    try:
        return check_with(wiring.reader, agent, call)
    except Exception as exc:
        return answer_for(exc, agent)


async def _pay(wiring: _Wiring, agent: Agent, call: AgentCall) -> Answer:
    try:
        return await wiring.batcher.submit_async(agent, call)
    except IdempotencyConflict:
        await run_in_threadpool(alert_conflict, wiring.container.db, agent, call)
        return answer_for(
            PaymentConflict("this txn_id was already used for another account or sum"), agent
        )
    except StorageUnavailable:
        return _RETRY
    except Exception as exc:
        return answer_for(exc, agent)


# -- the thread-pool path: every request, from the start -------------------------------------


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
        return render(Dialect.OSMP, "", _RETRY)
    except Exception:
        log.exception("agent_lookup_failed", agent=code[:40])
        return render(Dialect.OSMP, "", _RETRY)
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
        return _RETRY
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
    return _RETRY


def request_params(query: str, body: bytes | None, content_type: str) -> Params:
    """Query and form parameters together (a name given in both counts as repeated)."""
    if body is None:
        raise AgentCallError(Outcome.BAD_REQUEST, "request body too large")
    try:
        params = parse_pairs(query)
        if body:
            if content_type and not content_type.lower().startswith(_FORM):
                raise AgentCallError(Outcome.BAD_REQUEST, "send a form (x-www-form-urlencoded)")
            params += parse_pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AgentCallError(Outcome.BAD_REQUEST, "parameters are not valid UTF-8") from None
    return params


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl(text, keep_blank_values=True, errors="strict")``, without its per-field
    unquoting when nothing is escaped (agents' parameters are digits and dots)."""
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    pairs = []
    for field in text.split("&"):
        if field:
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return pairs


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or header[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)
