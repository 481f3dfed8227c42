"""Shared pytest configuration for pricebot's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bot.demo_shop import DemoShop

# The address guard refuses loopback shops; tests run every shop on 127.0.0.1.
os.environ.setdefault("PRICEBOT_ALLOW_PRIVATE_HOSTS", "true")

POSTGRES_URL = os.environ.get(
    "PRICEBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def postgres_url() -> str:
    return POSTGRES_URL


@pytest.fixture
def shop() -> Iterator[DemoShop]:
    """The bundled sample shop (the demo's catalogue) on 127.0.0.1, stopped afterwards.
    Modules that need other products define their own `shop`."""
    shop = DemoShop()
    shop.start()
    yield shop
    shop.stop()


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI the shared product pages must be there; a skip for want of them is a failure."""
    from tests.paths import PRODUCT_PAGES

    if (
        os.environ.get("PRICEBOT_REQUIRE_SHARED")
        and not (PRODUCT_PAGES / "ground-truth.json").exists()
    ):
        raise pytest.UsageError(
            f"PRICEBOT_REQUIRE_SHARED is set but {PRODUCT_PAGES} is missing; CI needs ../shared."
        )
