"""All configuration, read from the environment (prefix ``ABONENT_``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "abonent.sqlite3"
DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105 - refused outside dev mode


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ABONENT_", env_file=".env", extra="ignore")

    mode: Literal["development", "production", "test"] = "development"
    database_url: str = Field(default=f"sqlite:///{DEFAULT_SQLITE_PATH}")
    # Server-side secret for keyed hashes (voucher codes, one-time codes) and signed tokens.
    secret_key: str = DEVELOPMENT_SECRET
    log_level: str = "INFO"
    log_json: bool = True

    # Operator identity, printed on receipts.
    operator_name: str = "Abonent Demo Operator LLP"
    operator_bin: str = "123456789012"
    operator_address: str = "Almaty, Al-Farabi ave. 1"

    # Floor of a postpaid main balance: the credit limit, in tiyn (10,000 tenge by default).
    postpaid_credit_limit_tiyn: int = 1_000_000

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.mode == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError("ABONENT_SECRET_KEY must be set in production mode")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
