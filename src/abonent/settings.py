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

    # Cabinet sessions. Cookies are Secure unless this is set false for plain-http local use;
    # by default they are Secure everywhere except development mode on http://127.0.0.1.
    cookie_secure: bool | None = None
    password_min_length: int = 8
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Trust X-Forwarded-For for the client address only behind a known reverse proxy.
    trust_forwarded_for: bool = False

    # Floor of a postpaid main balance: the credit limit, in tiyn (10,000 tenge by default).
    postpaid_credit_limit_tiyn: int = 1_000_000

    # Receipts (bills, cashdesk, receipts features): VAT included in every amount (percent),
    # the public address share links and QR codes point to.
    vat_rate_percent: int = 12
    public_base_url: str = "http://127.0.0.1:8000"
    # Postpaid bills: months are cut at midnight of this UTC offset (Kazakhstan: +5); a bill is
    # due this many days after its month ends and bars the number this many days after that.
    bills_utc_offset_hours: int = 5
    bills_due_days: int = 15
    bills_grace_days: int = 10
    # Self-service cash machines: the largest sum one session may take, in tiyn.
    cash_session_limit_tiyn: int = 50_000_000
    # Vouchers: this many wrong codes from one number within the window lock voucher entry for
    # that number for ``voucher_lock_hours``. The API key lets staff systems call
    # POST /api/v1/vouchers/redeem (empty: the route refuses everyone).
    voucher_max_failures: int = 5
    voucher_failure_window_hours: int = 24
    voucher_lock_hours: int = 24
    voucher_api_key: str = ""
    # Charging: the API key network elements send (X-Api-Key) to POST /api/v1/usage and
    # /api/v1/usage/authorize (empty: refused to everyone); how often ``serve`` runs due jobs
    # (renewals, statement e-mails), 0 for never; a TTF font of PDF statements (Cyrillic).
    usage_api_key: str = ""
    jobs_interval_seconds: int = 60
    # How often ``serve`` delivers pending SMS (the outbox) through the SMS adapter; 0: never
    # (then run ``abonent sms send --loop`` beside it).
    frequent_jobs_interval_seconds: float = 2.0
    statement_font_path: str = ""  # empty: Roboto from the font-roboto package
    # Outgoing e-mail (statements); empty host: e-mails wait in the outbox.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = "Abonent <noreply@abonent.example.kz>"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 20.0

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.mode == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError("ABONENT_SECRET_KEY must be set in production mode")
        return self

    @property
    def secure_cookies(self) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.mode != "development"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
