"""Settings: defaults from DESIGN.md, and one clear line naming the variable on a bad value."""

from __future__ import annotations

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "DATABASE_URL",
        "ADMINS",
        "CHECK_INTERVAL",
        "TICK",
        "TELEGRAM_TOKEN",
        "ALLOW_PRIVATE_HOSTS",
        "MAX_WATCHES_PER_USER",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(f"PRICEBOT_{name}", raising=False)


def test_defaults_match_the_design():
    settings = load_settings()
    assert settings.database_url == "sqlite+aiosqlite:///pricebot.db"
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.check_interval == 3600
    assert settings.tick == 10
    assert settings.allow_private_hosts is False
    assert settings.max_watches_per_user == 100
    assert settings.log_level is None  # each command picks: INFO, or WARNING for `chat`
    assert settings.admin_keys == frozenset()
    assert settings.telegram_token is None


def test_environment_and_dotenv(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("PRICEBOT_CHECK_INTERVAL=600\nPRICEBOT_ADMINS=telegram:1\n")
    monkeypatch.setenv("PRICEBOT_ADMINS", "telegram:123, discord:456")
    settings = load_settings()
    assert settings.check_interval == 600
    assert settings.admin_keys == frozenset({"telegram:123", "discord:456"})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PRICEBOT_CHECK_INTERVAL", "-5"),
        ("PRICEBOT_CHECK_INTERVAL", "soon"),
        ("PRICEBOT_DATABASE_URL", "mysql://root@localhost/pricebot"),
        ("PRICEBOT_DATABASE_URL", "sqlite:///no-async-driver.db"),
        ("PRICEBOT_ADMINS", "alice"),
        ("PRICEBOT_ADMINS", "telegram:1,slack:2"),
        ("PRICEBOT_TICK", "0"),
        ("PRICEBOT_MAX_WATCHES_PER_USER", "0"),
        ("PRICEBOT_LOG_LEVEL", "chatty"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def test_token_is_secret_in_repr(monkeypatch):
    monkeypatch.setenv("PRICEBOT_TELEGRAM_TOKEN", "123456:SECRET-TOKEN")
    settings = load_settings()
    assert "SECRET-TOKEN" not in repr(settings)
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123456:SECRET-TOKEN"
