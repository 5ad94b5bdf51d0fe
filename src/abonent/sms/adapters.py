"""SMS gateway adapters behind one Protocol.

- ``RecordingAdapter`` (the embedded default): keeps what it was given; the messages stay
  visible in the outbox (the simulator's inbox, ``abonent sms outbox``).
- ``JasminAdapter``: the HTTP send API of Jasmin-style SMS gateways,
  ``GET /send?username=&password=&to=&content=&coding=`` answering ``Success "<id>"``.
  UCS-2 content travels as its UTF-16BE bytes (coding 8), as that API expects.

Errors say whether a retry is safe: ``TransientSmsError`` (nothing was accepted: connection
refused, 5xx, 429) and ``PermanentSmsError`` (a 4xx the same request will get again);
``UncertainSmsError`` (timed out after sending) must not be retried blindly — the gateway may
have accepted the part, and a duplicate SMS is worse than a missing one.
"""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from abonent.sms.domain import Coding


class SmsError(Exception):
    pass


class TransientSmsError(SmsError):
    pass


class PermanentSmsError(SmsError):
    pass


class UncertainSmsError(SmsError):
    pass


class SmsAdapter(Protocol):
    def send(self, *, to: str, sender: str, text: str, coding: Coding) -> str:
        """Hand one part to the gateway; returns the gateway's message id."""
        ...


@dataclass
class RecordingAdapter:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, *, to: str, sender: str, text: str, coding: Coding) -> str:
        with self._lock:
            self.sent.append((to, sender, text))
            return f"rec-{len(self.sent)}"


class JasminAdapter:
    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._client = client or httpx.Client(timeout=timeout)

    def send(self, *, to: str, sender: str, text: str, coding: Coding) -> str:
        content = text.encode("utf-16-be") if coding is Coding.UCS2 else text.encode("utf-8")
        query = "&".join(
            [
                "username=" + urllib.parse.quote(self.username, safe=""),
                "password=" + urllib.parse.quote(self.password, safe=""),
                "to=" + urllib.parse.quote(to.lstrip("+"), safe=""),
                "from=" + urllib.parse.quote(sender, safe=""),
                "coding=" + str(int(coding)),
                "content=" + urllib.parse.quote_from_bytes(content, safe=""),
            ]
        )
        try:
            response = self._client.get(f"{self.base_url}/send?{query}")
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientSmsError(f"gateway unreachable: {exc}") from exc
        except httpx.TimeoutException as exc:
            raise UncertainSmsError(f"gateway did not answer in time: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UncertainSmsError(f"gateway exchange failed: {exc}") from exc
        body = response.text.strip()
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientSmsError(f"gateway answered {response.status_code}: {body[:200]}")
        if response.status_code >= 400 or not body.startswith("Success"):
            raise PermanentSmsError(f"gateway refused ({response.status_code}): {body[:200]}")
        return body.removeprefix("Success").strip().strip('"') or "unknown"

    def close(self) -> None:
        self._client.close()


def build_adapter(settings: object) -> SmsAdapter:
    """The adapter the configuration names (``ABONENT_SMS_ADAPTER``)."""
    from abonent.ussd.config import ChannelSettings

    assert isinstance(settings, ChannelSettings)
    if settings.sms_adapter == "jasmin":
        return JasminAdapter(
            settings.sms_gateway_url,
            username=settings.sms_gateway_username,
            password=settings.sms_gateway_password,
            timeout=settings.sms_gateway_timeout_seconds,
        )
    return RecordingAdapter()
