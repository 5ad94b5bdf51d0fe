"""USSD sessions: who opened them and when, and the final answers already given.

Sessions are short-lived (180 s by default) and every step re-sends all inputs, so nothing of
a session needs to survive a restart: money-moving actions are exactly-once in the database by
the session key, whatever this store remembers. It lives in the process (one USSD application
server; run several behind a gateway with sticky sessions, or swap in a shared store with the
same three methods).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class SessionState(StrEnum):
    LIVE = "live"
    EXPIRED = "expired"  # too old, or never opened here
    FOREIGN = "foreign"  # the id belongs to another number


@dataclass
class _Session:
    msisdn: str
    service_code: str
    started_at: datetime
    finals: dict[str, str] = field(default_factory=dict)
    caller: Any = None  # what the first step read about the caller (language, balance)
    acted: bool = False  # a service action has begun (so a replay may find its result)


class SessionStore:
    def __init__(self, ttl_seconds: int = 180, max_sessions: int = 200_000) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def open_or_check(
        self, session_id: str, msisdn: str, service_code: str, *, first: bool, now: datetime
    ) -> SessionState:
        """Open the session on its first request; on later ones check it is live and ours."""
        with self._lock:
            self._prune(now)
            session = self._sessions.get(session_id)
            if session is None:
                if not first:
                    return SessionState.EXPIRED
                self._sessions[session_id] = _Session(msisdn, service_code, now)
                return SessionState.LIVE
            if session.msisdn != msisdn or session.service_code != service_code:
                return SessionState.FOREIGN
            if now - session.started_at > self.ttl:
                return SessionState.EXPIRED
            return SessionState.LIVE

    def caller(self, session_id: str, msisdn: str) -> Any:
        """What the session's first step read about its caller, if this is that caller's."""
        with self._lock:
            session = self._sessions.get(session_id)
            return session.caller if session and session.msisdn == msisdn else None

    def remember_caller(self, session_id: str, caller: Any) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.caller = caller

    def acted(self, session_id: str) -> bool:
        """Whether an action may have run in this session (unknown sessions: assume so)."""
        with self._lock:
            session = self._sessions.get(session_id)
            return session.acted if session else True

    def mark_acted(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.acted = True

    def final_answer(self, session_id: str, text: str) -> str | None:
        with self._lock:
            session = self._sessions.get(session_id)
            return session.finals.get(text) if session else None

    def remember_final(self, session_id: str, text: str, answer: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None:
                session.finals[text] = answer

    def _prune(self, now: datetime) -> None:
        # Sessions are kept in opening order: drop from the front while they are long dead
        # (kept for one more TTL so a late repeat is still answered "expired", not reopened).
        while self._sessions:
            oldest_id, oldest = next(iter(self._sessions.items()))
            if now - oldest.started_at <= 2 * self.ttl and len(self._sessions) < self.max_sessions:
                break
            del self._sessions[oldest_id]
