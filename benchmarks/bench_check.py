"""Benchmark `pricebot check`: 2,000 products on a loopback shop, one worker on one core.

Seeds a SQLite database with 2,000 products (one watch each), then runs the real
`pricebot check` command as a subprocess pinned to one CPU, several rounds; between rounds the
shop lowers its prices, so rounds after the first also record price points and write alerts.
Reports checks per second (median over rounds) and the worker's peak memory.

Run: .venv/bin/python benchmarks/bench_check.py [--products 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.storage.engine import make_engine  # noqa: E402
from adapters.storage.migrate import upgrade_to_head  # noqa: E402
from adapters.storage.uow import SqlUnitOfWorkFactory  # noqa: E402
from core.model import ChatAddress, Product, Rule, RuleKind, Watch  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def seed(database_url: str, base: str, products: int) -> None:
    engine = make_engine(database_url)
    factory = SqlUnitOfWorkFactory(engine)
    past = datetime.now(UTC) - timedelta(days=1)
    async with factory() as uow:
        for index in range(products):
            product = await uow.products.get_or_add(
                Product(id=None, url=f"{base}/p/{index}", next_check_at=past)
            )
            await uow.watches.add(
                Watch(
                    None,
                    f"bench:{index % 500}",
                    product.id or 0,
                    ChatAddress("bench", str(index % 500)),
                    Rule(RuleKind.ANY_DROP),
                    created_at=past,
                )
            )
        await uow.commit()
    await factory.aclose()
    await engine.dispose()


async def make_due(database_url: str) -> None:
    """Every product due again, as if an interval had passed (through the typed column, so
    the time is stored exactly as pricebot stores it)."""
    from sqlalchemy import update

    from adapters.storage.tables import products

    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            update(products).values(next_check_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    await engine.dispose()


def run_check(env: dict[str, str], cpu: int) -> tuple[float, str, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pricebot"), "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pricebot check failed:\n{result.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, result.stdout.strip(), max(peak, before)


def start_shop(products: int) -> tuple[int, subprocess.Popen[bytes], str]:
    """Starts the loopback shop on the second CPU; returns the CPU left for the worker, the
    shop process and its base URL once it answers."""
    cpus = sorted(os.sched_getaffinity(0))
    worker_cpu, shop_cpus = cpus[0], set(cpus[1:] or cpus)
    port = free_port()
    shop = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "loopback_shop.py"),
            "--port",
            str(port),
            "--products",
            str(products),
        ],
        preexec_fn=lambda: os.sched_setaffinity(0, shop_cpus),
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{base}/stats", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    return worker_cpu, shop, base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    worker_cpu, shop, base = start_shop(args.products)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            upgrade_to_head(url)
            asyncio.run(seed(url, base, args.products))
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PRICEBOT_DATABASE_URL": url,
                "PRICEBOT_ALLOW_PRIVATE_HOSTS": "true",
                # One loopback host stands in for thousands of shops: lift the per-host limits.
                "PRICEBOT_PER_HOST_CONCURRENCY": "64",
                "PRICEBOT_PER_HOST_MIN_GAP": "0",
                "PRICEBOT_LOG_LEVEL": "WARNING",
            }
            rates, peaks = [], []
            for round_number in range(args.rounds):
                if round_number:
                    urllib.request.urlopen(urllib.request.Request(f"{base}/round", method="POST"))
                    asyncio.run(make_due(url))
                wall, summary, peak = run_check(env, worker_cpu)
                checked = int(re.search(r"checked (\d+)", summary).group(1))
                rates.append(checked / wall)
                peaks.append(peak)
                print(
                    f"round {round_number}: {summary}; {wall:.2f} s wall incl. start-up "
                    f"-> {checked / wall:.0f} checks/s; peak RSS {peak / 1024:.0f} MB"
                )
            print(
                json.dumps(
                    {
                        "products": args.products,
                        "rounds": args.rounds,
                        "median_checks_per_s": round(statistics.median(rates), 1),
                        "peak_rss_mb": round(max(peaks) / 1024, 1),
                    }
                )
            )
    finally:
        shop.terminate()
        shop.wait()


if __name__ == "__main__":
    main()
