"""Configuration of the USSD and SMS channels and of the services behind them.

Read from the environment with the ``ABONENT_`` prefix, like ``abonent.settings``. Rules are
nested JSON: ``ABONENT_TRANSFER_RULES='{"daily_count": 10}'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from abonent.credit.domain import CreditRules
from abonent.messaging.domain import MessagingRules
from abonent.transfers.domain import TransferRules

if TYPE_CHECKING:
    from abonent.bootstrap import Container


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABONENT_", env_file=".env", extra="ignore")

    # Who may speak for the network: gateway addresses (CIDR) and, when set, a shared secret
    # the gateway sends in the ``X-Gateway-Secret`` header. Both must pass.
    gateway_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    gateway_secret: str = ""
    ussd_session_seconds: int = 180
    # Worker threads for USSD steps in one process (at most the database pool's size).
    ussd_threads: int = Field(default=4, ge=1, le=64)
    # On SQLite, steps that write run in the event loop like reads. A hop to a worker thread
    # cost ~1 ms of CPU per write step (GIL hand-offs between the loop and the thread: ~20% of
    # the server's CPU in the USSD benchmark) and gave a worse p99, while a commit holds the
    # loop for one fsync. Set false when long write transactions on this database (bulk jobs)
    # must not hold up every session: writes then wait for the lock on a worker thread.
    ussd_inline_writes: bool = True

    sms_adapter: Literal["recording", "jasmin"] = "recording"
    sms_gateway_url: str = "http://127.0.0.1:1401"
    sms_gateway_username: str = ""
    sms_gateway_password: str = ""
    sms_gateway_timeout_seconds: float = 5.0
    sms_max_attempts: int = 8
    sms_backoff_seconds: int = 30
    voucher_short_number: str = "9393"

    credit_rules: CreditRules = Field(default_factory=CreditRules)
    transfer_rules: TransferRules = Field(default_factory=TransferRules)
    messaging_rules: MessagingRules = Field(default_factory=MessagingRules)


def channel_settings_of(container: Container) -> ChannelSettings:
    """The container's channel settings, read from the environment once (tests put their own
    in ``container.extras["channel_settings"]``)."""
    found = container.extras.get("channel_settings")
    if not isinstance(found, ChannelSettings):
        found = container.extras["channel_settings"] = ChannelSettings()
    return found
