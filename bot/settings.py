"""Settings from the environment (PRICEBOT_*) or `.env`; the only place that reads them."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from functools import cached_property

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_ADMIN_ENTRY = re.compile(r"^(telegram|discord|console):[A-Za-z0-9_.-]+$")
_FEE_ENTRY = re.compile(r"^[a-z][a-z0-9_.-]{0,31}\s*=\s*(0(\.\d+)?|1(\.0+)?)$")
_DB_URL = re.compile(r"^(sqlite\+aiosqlite:///.+|postgresql\+asyncpg://.+)$")


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and what is expected."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRICEBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///pricebot.db"
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_webhook_secret: SecretStr | None = None
    discord_token: SecretStr | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    discord_prefix: str = Field(default="!", min_length=1, max_length=5)
    admins: str = ""
    check_interval: int = Field(default=3600, gt=0)
    tick: float = Field(default=10, gt=0)
    allow_private_hosts: bool = False
    max_watches_per_user: int = Field(default=100, ge=1)
    max_watches_per_server: int = Field(default=500, ge=1)
    commands_per_minute: int = Field(default=30, ge=1)
    tracks_per_minute: int = Field(default=10, ge=1)
    # Unset: INFO for services, WARNING for the terminal chat (its conversation is on stdout).
    log_level: str | None = None
    alert_cooldown: int = Field(default=6 * 3600, ge=0)
    daily_alert_cap: int = Field(default=20, ge=1)
    check_batch: int = Field(default=200, ge=1)
    check_concurrency: int = Field(default=32, ge=1)
    # Seconds a dead worker's claim holds back others: a product it was checking, and an
    # outbox row it was sending (then in doubt, and confirmed with the platform first).
    check_lease: float = Field(default=600, gt=0)
    delivery_claim: float = Field(default=120, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    total_timeout: float = Field(default=20.0, gt=0)
    max_page_bytes: int = Field(default=5_000_000, ge=10_000)
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_min_gap: float = Field(default=1.0, ge=0)
    # Seconds one page's extraction may take before it counts as "too complex".
    extract_budget: float = Field(default=3.0, gt=0, le=60)
    # Market data for holdings (base URLs are settings so tests serve recorded answers).
    scryfall_api: str = "https://api.scryfall.com"
    pokemon_api: str = "https://api.tcgdex.net/v2"  # TCGdex: TCGplayer and Cardmarket prices
    pokemon_language: str = "en"
    ygoprodeck_api: str = "https://db.ygoprodeck.com/api/v7"
    fx_api: str = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
    stockx_api: str = "https://api.stockx.com/v2"
    stockx_api_key: SecretStr | None = None
    stockx_token: SecretStr | None = None
    # Seller fees overriding the documented defaults, e.g. "stockx=0.10,ebay=0.1325".
    seller_fees: str = ""
    market_timeout: float = Field(default=15.0, gt=0)
    currency: str = "EUR"  # what portfolio grand totals are shown in
    max_holdings_per_chat: int = Field(default=5000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not _DB_URL.match(value):
            raise ValueError(
                "expected sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
            )
        return value

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not _ADMIN_ENTRY.match(entry):
                raise ValueError(
                    f"bad entry {entry!r}; expected platform:user_id pairs such as "
                    "telegram:123,discord:456"
                )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        from core.currency import is_currency

        code = value.strip().upper()
        if not is_currency(code):
            raise ValueError("expected an ISO 4217 currency code such as EUR or USD")
        return code

    @field_validator("seller_fees")
    @classmethod
    def _seller_fees(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            if not _FEE_ENTRY.match(entry):
                raise ValueError(
                    f"bad entry {entry!r}; expected platform=fraction pairs such as "
                    "stockx=0.12,goat=0.095 (fractions from 0 to 1)"
                )
        return value

    @cached_property
    def fee_overrides(self) -> dict[str, Decimal]:
        """Seller fees set by the operator, by platform."""
        found = {}
        for entry in filter(None, (part.strip() for part in self.seller_fees.split(","))):
            platform, _, fraction = entry.partition("=")
            found[platform.strip().lower()] = Decimal(fraction.strip())
        return found

    @cached_property
    def admin_keys(self) -> frozenset[str]:
        """Admin user keys (`platform:user_id`) as core.model.UserRef.key spells them."""
        return frozenset(filter(None, (part.strip() for part in self.admins.split(","))))

    def secrets(self) -> list[str]:
        """Every token and secret set: kept out of logs and of every line pricebot prints."""
        found = [
            secret.get_secret_value()
            for secret in (
                self.telegram_token,
                self.discord_token,
                self.telegram_webhook_secret,
                self.stockx_api_key,
                self.stockx_token,
            )
            if secret is not None
        ]
        if self.telegram_token is not None and self.telegram_webhook_url:
            found.append(derived_webhook_secret(self.telegram_token.get_secret_value()))
        return found

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def derived_webhook_secret(token: str) -> str:
    """The webhook secret every replica derives from the bot token when none is set."""
    return hashlib.sha256(f"pricebot-telegram-webhook:{token}".encode()).hexdigest()


def load_settings(**overrides: object) -> Settings:
    """Reads settings; a bad value raises SettingsError with one line naming the variable.
    `overrides` (tests, the demo) must name real settings: a misspelt one would otherwise be
    ignored like an unknown environment variable."""
    unknown = set(overrides) - set(Settings.model_fields)
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"PRICEBOT_{field.upper()}: {message}") from None
