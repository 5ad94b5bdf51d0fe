"""Card configuration (prefix ``ABONENT_CARDS_``); every limit is a default, not a constant."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

from abonent.cards.domain import TopUpLimits

DEVELOPMENT_CALLBACK_SECRET = "sandbox-callback-secret"  # noqa: S105 - the sandbox's own


class CardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABONENT_CARDS_", env_file=".env", extra="ignore")

    acquirer: Literal["sandbox", "cloudpayments"] = "sandbox"
    # Per payment, in tiyn: 100 to 50,000 tenge.
    min_topup_tiyn: int = 10_000
    max_topup_tiyn: int = 5_000_000
    # Shared secret of the acquirer's signed notifications (HMAC-SHA256, base64).
    callback_secret: str = DEVELOPMENT_CALLBACK_SECRET
    # An unknown payment is asked about after this many seconds, then with a growing pause.
    reconcile_after_seconds: int = 60
    # A 3-D Secure step the cardholder abandoned is given up after this long.
    three_ds_expiry_seconds: int = 1800
    # CloudPayments-style adapter.
    cloudpayments_base_url: str = "https://api.cloudpayments.ru"
    cloudpayments_public_id: str = ""
    cloudpayments_api_secret: str = ""
    cloudpayments_widget_url: str = "https://widget.cloudpayments.ru/pay"
    cloudpayments_timeout_seconds: float = 20.0
    currency: str = "KZT"

    @property
    def limits(self) -> TopUpLimits:
        return TopUpLimits(self.min_topup_tiyn, self.max_topup_tiyn)
