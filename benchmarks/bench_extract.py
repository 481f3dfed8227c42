"""Extraction speed on the saved real product pages: parse + every extractor, fetch excluded.

Run from the project root:  .venv/bin/python benchmarks/bench_extract.py [--repeat N] [--slowest K]
Each page is decompressed once, then extracted N times in this process, pinned to one core; the
figure per page is the median of its N runs, and the report gives the median and p95 over the
pages. A bare Lexbor parse (the HTML parser extraction uses) of the same pages is timed alongside
as a baseline: on a shared, busy machine both move together, so the ratio says more than either
figure alone.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from adapters.extract import extract_observation  # noqa: E402
from core.errors import ExtractionError  # noqa: E402
from tests.paths import PRODUCT_PAGES  # noqa: E402


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per page (median taken)")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: last)")
    parser.add_argument("--slowest", type=int, default=5, help="list the K slowest pages")
    parser.add_argument("--pages", type=Path, default=PRODUCT_PAGES)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        # One core, as the target is stated; also keeps the scheduler from moving us around.
        cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
    truth = json.loads((args.pages / "ground-truth.json").read_text())
    pages = [
        (
            page_id,
            gzip.decompress((args.pages / "html" / f"{page_id}.html.gz").read_bytes()),
            entry["url"],
        )
        for page_id, entry in sorted(truth.items())
    ]
    per_page: dict[str, float] = {}
    parse_only: list[float] = []
    gc.disable()  # collector pauses would be charged to whichever page triggers them
    try:
        for page_id, body, url in pages:
            runs = []
            for _ in range(args.repeat + 1):  # the first run warms caches and is dropped
                start = time.perf_counter()
                try:
                    extract_observation(body, url)
                except ExtractionError:
                    pass
                runs.append((time.perf_counter() - start) * 1000)
                gc.collect()
            per_page[page_id] = statistics.median(runs[1:])
            # Baseline on the same machine state: a bare Lexbor parse of the page.
            bare = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                LexborHTMLParser(body)
                bare.append((time.perf_counter() - start) * 1000)
                gc.collect()
            parse_only.append(statistics.median(bare))
    finally:
        gc.enable()
    times = list(per_page.values())
    print(
        f"pages {len(times)}  repeat {args.repeat}  "
        f"size median {statistics.median(len(b) for _, b, _ in pages) / 1024:.0f} KiB"
    )
    print(
        f"extraction ms/page  median {statistics.median(times):.2f}  "
        f"p95 {_percentile(times, 0.95):.2f}  max {max(times):.2f}  "
        f"mean {statistics.mean(times):.2f}"
    )
    print(
        f"baseline: bare Lexbor parse  median {statistics.median(parse_only):.2f}  "
        f"p95 {_percentile(parse_only, 0.95):.2f}"
    )
    for page_id, ms in sorted(per_page.items(), key=lambda item: -item[1])[: args.slowest]:
        print(f"  {page_id[:12]}  {ms:7.2f} ms  {truth[page_id]['url'][:70]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
