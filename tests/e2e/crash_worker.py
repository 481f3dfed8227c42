"""Crash-test worker: the real Runtime checking and delivering in a loop until it is killed."""

# Run as `python -m tests.e2e.crash_worker DATABASE_URL PLATFORM_URL`. It imports everything,
# prints `ready`, then waits for one line on stdin: `go` loops check -> deliver until killed,
# `drain` loops until every product was checked since the start and no outbox row is open,
# then exits 0 (1 when that takes too long). End of input exits at once. Before each step it
# writes the step's name (`check`, `deliver`, `idle`) to stderr, so after a SIGKILL the last
# line tells what the worker was doing.

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime

from sqlalchemy import func, or_, select

from adapters.storage.tables import outbox, products
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from core.model import OutboxStatus
from tests.fakes.http_notifier import HttpNotifier

CHECK_INTERVAL = 1  # seconds: products are due again and again while the worker runs
CHECK_LEASE = 2.0  # a product a dead worker claimed is due again this soon
DELIVERY_CLAIM = 1.0  # and a row it was sending is in doubt, and resolved, this soon
IDLE_SLEEP = 0.02
RUN_LIMIT = 30.0  # a worker the test forgot to kill still stops
DRAIN_LIMIT = 30.0
_OPEN = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


def crash_settings(database_url: str) -> Settings:
    """Settings for the crash test; the test seeds its database with the same ones."""
    return load_settings(
        database_url=database_url,
        allow_private_hosts=True,
        per_host_min_gap=0,
        check_interval=CHECK_INTERVAL,
        alert_cooldown=0,
        daily_alert_cap=1_000_000,
        tracks_per_minute=1000,  # the test seeds dozens of watches per user at once
        check_lease=CHECK_LEASE,
        delivery_claim=DELIVERY_CLAIM,
        log_level="WARNING",
    )


async def _settled(runtime: Runtime, since: datetime) -> bool:
    """Every product checked since `since` and nothing left to deliver."""
    unchecked = (
        select(func.count())
        .select_from(products)
        .where(or_(products.c.last_checked_at.is_(None), products.c.last_checked_at < since))
    )
    open_rows = select(func.count()).select_from(outbox).where(outbox.c.status.in_(_OPEN))
    async with runtime.engine.connect() as connection:
        left = (await connection.execute(unchecked)).scalar_one()
        left += (await connection.execute(open_rows)).scalar_one()
    return left == 0


def trace(step: str) -> None:
    sys.stderr.write(f"{time.time():.3f} {step}\n")
    sys.stderr.flush()


async def work(settings: Settings, platform_url: str, *, drain: bool) -> int:
    notifier = HttpNotifier(platform_url)
    runtime = Runtime(settings, notifiers={notifier.platform: notifier})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (DRAIN_LIMIT if drain else RUN_LIMIT)
    started = runtime.clock.now()
    try:
        while loop.time() < deadline:
            trace("check")
            checked = await runtime.check_once()
            trace("deliver")
            delivered = await runtime.deliver_once()
            trace("idle")
            if drain and await _settled(runtime, started):
                return 0
            if not (checked.checked or delivered.sent or delivered.confirmed):
                await asyncio.sleep(IDLE_SLEEP)
        return 1 if drain else 0
    finally:
        await runtime.close()
        await notifier.aclose()


def main(argv: list[str]) -> int:
    database_url, platform_url = argv
    settings = crash_settings(database_url)
    print("ready", flush=True)
    command = sys.stdin.readline().strip()
    if command not in ("go", "drain"):
        return 0
    return asyncio.run(work(settings, platform_url, drain=command == "drain"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
