"""Auto top-up configuration (prefix ``ABONENT_AUTOPAY_``)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict


class AutopaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ABONENT_AUTOPAY_", env_file=".env", extra="ignore"
    )

    # Daily cap on automatic charges per card owner (count and sum), per local calendar day.
    max_charges_per_day: int = 3
    max_amount_per_day_tiyn: int = 5_000_000
    # After this many declines in a row a rule stops and the owner gets an SMS.
    max_consecutive_declines: int = 3
    # Defaults of a rule created by USSD (*911*2*2#, *911*2*3#): seed 002's example.
    default_threshold_tiyn: int = 10_000
    default_amount_tiyn: int = 200_000
    timezone: str = "Asia/Almaty"
    schedule_hour: int = 10

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
