"""Hostile pages on SQLite and PostgreSQL: each gets a clear reply within its budget, nothing
half-saved, and while it is read another user's /help is answered before a page read could end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text

from bot.runtime import Runtime
from bot.settings import load_settings
from core.chat.dispatcher import APOLOGY
from core.model import ChatAddress, ChatContext, UserRef
from core.reply import Reply
from tests.integration.hostile_shop import FINE, PAGES, HostilePage, HostileShop

ALICE = ChatContext(UserRef("telegram", "1", "alice"), ChatAddress("telegram", "1"))
BOB = ChatContext(UserRef("telegram", "2", "bob"), ChatAddress("telegram", "2"))
# Budgets: reading a page (extraction), and fetching one (the trickling shop).
EXTRACT_BUDGET = 2.0
FETCH_BUDGET = 3.0
REPLY_WITHIN = EXTRACT_BUDGET * 2 + FETCH_BUDGET + 5  # a hang guard, not a speed target


@pytest.fixture
async def hostile_shop() -> AsyncIterator[HostileShop]:
    async with HostileShop() as shop:
        yield shop


@asynccontextmanager
async def running(sql_database_url: str) -> AsyncIterator[Runtime]:
    settings = load_settings(
        database_url=sql_database_url,
        allow_private_hosts=True,
        per_host_min_gap=0,
        total_timeout=FETCH_BUDGET,
        extract_budget=EXTRACT_BUDGET,
        max_page_bytes=20_000_000,
    )
    async with Runtime(settings) as runtime:
        yield runtime


async def track_while_another_asks_for_help(
    runtime: Runtime, shop: HostileShop, url: str
) -> tuple[Reply, float]:
    """Alice tracks `url`; once the shop has served it, Bob sends /help. Returns Alice's reply
    and how long Bob waited."""
    shop.served.clear()
    tracking = asyncio.create_task(runtime.dispatcher.handle_text(ALICE, f"/track {url}"))
    await asyncio.wait_for(shop.served.wait(), REPLY_WITHIN)
    started = time.monotonic()
    help_reply = await runtime.dispatcher.handle_text(BOB, "/help")
    waited = time.monotonic() - started
    assert help_reply is not None and help_reply.text.startswith("Commands:")
    reply = await asyncio.wait_for(tracking, REPLY_WITHIN)
    assert reply is not None
    return reply, waited


async def rows(runtime: Runtime, sql: str) -> list[Any]:
    async with runtime.engine.connect() as connection:
        return list(await connection.execute(text(sql)))


@pytest.mark.parametrize("page", PAGES, ids=[page.slug for page in PAGES])
async def test_a_hostile_page_gets_a_clear_reply_and_hurts_nobody(
    sql_database_url: str, hostile_shop: HostileShop, page: HostilePage
) -> None:
    async with running(sql_database_url) as runtime:
        reply, waited = await track_while_another_asks_for_help(
            runtime, hostile_shop, hostile_shop.url(page.slug)
        )
        # Reading on the event loop would hold /help for a whole page read (up to the budget).
        assert waited < EXTRACT_BUDGET, f"/help waited {waited:.2f} s while {page.slug} was read"
        assert reply.text != APOLOGY
        assert all(words in reply.text for words in page.says), reply.text
        watches = await rows(runtime, "SELECT id FROM watches")
        assert reply.text.startswith("Now tracking") is page.tracked, reply.text
        assert len(watches) == int(page.tracked)
        if not page.tracked:
            # Refused: nothing saved half-way.
            assert await rows(runtime, "SELECT id FROM products") == []
            assert await rows(runtime, "SELECT id FROM price_points") == []
        listing = await runtime.dispatcher.handle_text(ALICE, "/watches")
        assert listing is not None and listing.text != APOLOGY


async def test_a_trickling_shop_is_a_clear_timeout_within_the_fetch_budget(
    sql_database_url: str, hostile_shop: HostileShop
) -> None:
    async with running(sql_database_url) as runtime:
        started = time.monotonic()
        reply, waited = await track_while_another_asks_for_help(
            runtime, hostile_shop, f"http://127.0.0.1:{hostile_shop.port}/trickle"
        )
        took = time.monotonic() - started
    assert waited < EXTRACT_BUDGET
    assert "took too long" in reply.text and reply.is_error
    assert took < FETCH_BUDGET + 2, f"/track answered after {took:.1f} s"


async def test_a_very_long_url_is_stored_and_listed_on_both_databases(
    sql_database_url: str, hostile_shop: HostileShop
) -> None:
    async with running(sql_database_url) as runtime:
        reply = await runtime.dispatcher.handle_text(ALICE, f"/track {hostile_shop.long_url}")
        assert reply is not None and reply.text.startswith("Now tracking"), reply.text
        [product] = await rows(runtime, "SELECT url FROM products")
        assert product.url == hostile_shop.long_url
        again = await runtime.dispatcher.handle_text(ALICE, f"/track {hostile_shop.long_url}")
        assert again is not None and "already tracks it" in again.text


async def test_a_redirect_httpx_cannot_parse_is_a_clear_refusal(
    sql_database_url: str, hostile_shop: HostileShop
) -> None:
    async with running(sql_database_url) as runtime:
        url = f"http://127.0.0.1:{hostile_shop.port}/bad-redirect"
        reply = await runtime.dispatcher.handle_text(ALICE, f"/track {url}")
    assert reply is not None and reply.is_error and reply.text != APOLOGY
    assert "to an address that is not valid" in reply.text


@pytest.mark.parametrize(
    "page", [p for p in PAGES if not p.tracked], ids=[p.slug for p in PAGES if not p.tracked]
)
async def test_a_page_turning_hostile_fails_its_check_with_a_reason(
    sql_database_url: str, hostile_shop: HostileShop, page: HostilePage
) -> None:
    """The check cycle records the failure with its reason code (never "internal") and backs
    off; the product keeps its last good price, and the lists keep working."""
    async with running(sql_database_url) as runtime:
        url = hostile_shop.url(FINE.slug)
        reply = await runtime.dispatcher.handle_text(ALICE, f"/track {url}")
        assert reply is not None and reply.text.startswith("Now tracking")
        hostile_shop.serve_instead(FINE.slug, page)
        await _make_due(runtime)
        report = await asyncio.wait_for(runtime.check_once(), REPLY_WITHIN)
        [(reason, count)] = report.failures.items()
        assert count == 1 and reason not in {"internal", "storage"}, reason
        [product] = await rows(runtime, "SELECT price, failure_count FROM products")
        assert product.failure_count == 1 and str(product.price) == "24.99"
        listing = await runtime.dispatcher.handle_text(ALICE, "/watches")
        assert listing is not None and "€24.99" in listing.text


async def _make_due(runtime: Runtime) -> None:
    async with runtime.uow_factory() as uow:
        product = await uow.products.get(1)
        assert product is not None
        product.next_check_at = runtime.clock.now()
        product.body_digest = None
        await uow.products.update(product)
        await uow.commit()
