"""Where a check's CPU goes: fetch, extraction (and the HTML parse inside it), digest, the rest.

Serves the loopback shop of bench_check.py, then on one pinned core: fetches every product
through HttpFetcher (32 in flight), extracts each body under its loopback URL, times a bare
Lexbor parse of the bodies that the extractor reads through a DOM, hashes each body as the
check cycle does, and finally runs one real check cycle in process (Runtime.check_once on a
seeded SQLite file). All figures are CPU milliseconds per product (time.process_time).

Run: .venv/bin/python benchmarks/bench_check_parts.py [--products 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_check import seed, start_shop  # noqa: E402
from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from adapters.extract import extract_observation  # noqa: E402
from adapters.extract.page import Page  # noqa: E402
from adapters.storage.migrate import upgrade_to_head  # noqa: E402
from adapters.web.fetcher import HttpFetcher  # noqa: E402
from adapters.web.policy import FetchPolicy  # noqa: E402
from bot.__main__ import GC_THRESHOLDS  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from core.errors import ExtractionError  # noqa: E402
from core.reading import page_digest  # noqa: E402


def cpu_ms(seconds: float, count: int) -> float:
    return seconds / count * 1000


async def fetch_all(base: str, products: int) -> list[tuple[bytes, str]]:
    fetcher = HttpFetcher(
        FetchPolicy(allow_private_hosts=True, per_host_concurrency=64, per_host_min_gap=0)
    )
    slots = asyncio.Semaphore(32)
    bodies: list[tuple[bytes, str]] = []

    async def one(index: int) -> None:
        async with slots:
            result = await fetcher.fetch(f"{base}/p/{index}")
            bodies.append((result.body, result.url))

    await asyncio.gather(*(one(i) for i in range(min(products, 200))))  # warm the shop
    bodies.clear()
    started = time.process_time()
    await asyncio.gather(*(one(i) for i in range(products)))
    print(
        f"fetch        {cpu_ms(time.process_time() - started, products):6.2f} ms/product  "
        f"({statistics.mean(len(b) for b, _ in bodies) / 1024:.0f} KiB mean body)"
    )
    await fetcher.aclose()
    return bodies


def _extract(body: bytes, url: str) -> None:
    try:
        extract_observation(body, url)
    except ExtractionError:
        pass


def parts(bodies: list[tuple[bytes, str]]) -> None:
    count = len(bodies)
    # Which pages need a DOM: extract once, noting each page whose tree gets built.
    original = Page.document.func  # type: ignore[attr-defined]
    with_dom: set[int] = set()

    def counting(self: Page) -> object:
        with_dom.add(id(self.body))
        return original(self)

    Page.document.func = counting  # type: ignore[attr-defined]
    try:
        for body, url in bodies:
            _extract(body, url)
    finally:
        Page.document.func = original  # type: ignore[attr-defined]
    spent = {True: 0.0, False: 0.0}
    for body, url in bodies:
        started = time.process_time()
        _extract(body, url)
        spent[id(body) in with_dom] += time.process_time() - started
    dom_bodies = [body for body, _ in bodies if id(body) in with_dom]
    started = time.process_time()
    for body in dom_bodies:
        LexborHTMLParser(body)
    parse = time.process_time() - started
    now = datetime.now(UTC)
    started = time.process_time()
    for body, _ in bodies:
        page_digest(body, None, now)
    digest = time.process_time() - started
    dom, flat = len(dom_bodies), count - len(dom_bodies)
    print(
        f"extraction   {cpu_ms(spent[True] + spent[False], count):6.2f} ms/product  "
        f"({dom} of {count} pages build a DOM)"
    )
    print(f"  no DOM     {cpu_ms(spent[False], max(flat, 1)):6.2f} ms/page  (JSON-LD, meta, bytes)")
    print(f"  DOM        {cpu_ms(spent[True], max(dom, 1)):6.2f} ms/page")
    print(
        f"  of which a bare Lexbor parse {cpu_ms(parse, max(dom, 1)):6.2f} ms/page "
        f"= {cpu_ms(parse, count):.2f} ms/product over the mix"
    )
    print(f"digest       {cpu_ms(digest, count):6.2f} ms/product")


async def cycle(database_url: str, products: int) -> float:
    runtime = Runtime(
        load_settings(
            database_url=database_url,
            allow_private_hosts=True,
            per_host_concurrency=64,
            per_host_min_gap=0,
            log_level="WARNING",
        )
    )
    started = time.process_time()
    report = await runtime.check_once()
    spent = time.process_time() - started
    await runtime.close()
    per_check = cpu_ms(spent, report.checked)
    print(
        f"check cycle  {per_check:6.2f} ms/product  (in process, {report.checked} checked: "
        f"fetch + extraction + digest + storage + alerts; start-up excluded)"
    )
    return per_check


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1000)
    args = parser.parse_args()
    worker_cpu, shop, base = start_shop(args.products)
    os.sched_setaffinity(0, {worker_cpu})
    gc.set_threshold(*GC_THRESHOLDS)  # as the pricebot command sets it
    try:
        bodies = asyncio.run(fetch_all(base, args.products))
        gc.collect()
        parts(bodies)
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/parts.db"
            upgrade_to_head(url)
            asyncio.run(seed(url, base, args.products))
            per_check = asyncio.run(cycle(url, args.products))
        print(f"-> at most {1000 / per_check:.0f} checks/s on this core, before start-up")
    finally:
        shop.terminate()
        shop.wait()


if __name__ == "__main__":
    main()
