"""The error tree of Abonent.

Every error a user, an agent or an operator can provoke is an ``AbonentError`` with a stable,
machine-readable ``code`` (snake case, never renamed once published) and a human message.
Adapters translate them: the web layer to JSON problems with an HTTP status, the CLI to one line
and a non-zero exit, agent protocols to their own result codes, USSD to a menu text.

    AbonentError
    ├── ValidationError          bad input; nothing was changed          (HTTP 422)
    │   ├── InvalidAmount
    │   ├── InvalidMsisdn
    │   ├── InvalidIin
    │   └── InvalidStatusTransition                                      (HTTP 409)
    ├── NotFound                 the thing asked for does not exist      (HTTP 404)
    ├── Conflict                 the request contradicts stored state    (HTTP 409)
    │   ├── AlreadyExists
    │   └── IdempotencyConflict  same key, different request
    ├── InsufficientFunds        a balance would go below its floor      (HTTP 409)
    ├── Forbidden                authenticated but not allowed           (HTTP 403)
    └── StorageUnavailable       the database is down or busy; retry     (HTTP 503)
"""

from __future__ import annotations

from typing import Any, ClassVar


class AbonentError(Exception):
    """Base of every domain error; ``code`` is stable, ``message`` is for people."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


class ValidationError(AbonentError):
    code = "validation_error"
    http_status = 422


class InvalidAmount(ValidationError):
    code = "invalid_amount"


class InvalidMsisdn(ValidationError):
    code = "invalid_msisdn"


class InvalidIin(ValidationError):
    code = "invalid_iin"


class InvalidStatusTransition(ValidationError):
    code = "invalid_status_transition"
    http_status = 409


class NotFound(AbonentError):
    code = "not_found"
    http_status = 404


class Conflict(AbonentError):
    code = "conflict"
    http_status = 409


class AlreadyExists(Conflict):
    code = "already_exists"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class InsufficientFunds(AbonentError):
    code = "insufficient_funds"
    http_status = 409


class Forbidden(AbonentError):
    code = "forbidden"
    http_status = 403


class StorageUnavailable(AbonentError):
    code = "storage_unavailable"
    http_status = 503
