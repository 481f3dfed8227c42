"""`pricebot extract`: run the extractor on saved pages, one JSON line per page."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapters.extract import extract_observation
from core.errors import ExtractionError
from core.model import Availability, Observation


def _pages(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(file, url) pairs from the manifest, then from the file arguments."""
    if args.manifest:
        with open(args.manifest, encoding="utf-8") as manifest:
            for line in manifest:
                line = line.strip()
                if not line:
                    continue
                entry = json.loads(line)
                yield str(entry["file"]), str(entry.get("url") or args.url or "")
    for file in args.files:
        yield file, args.url or Path(file).resolve().as_uri()


def _row(file: str, url: str, observation: Observation | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "file": file,
        "url": url,
        "price": None,
        "currency": None,
        "availability": None,
        "title": None,
        "method": None,
    }
    if observation is not None:
        row.update(
            price=None if observation.price is None else str(observation.price),
            currency=observation.currency,
            availability=None
            if observation.availability is Availability.UNKNOWN
            else str(observation.availability),
            title=observation.title,
            method=observation.method,
        )
    return row


def extract_file(file: str, url: str, selector: str | None) -> dict[str, Any]:
    """One page's JSON row; errors become an "error" field, never an exception. A sold-out
    page without a price is a row like any other, with price null."""
    try:
        body = Path(file).read_bytes()
    except OSError as error:
        return _row(file, url, None) | {"error": "unreadable", "detail": str(error)}
    try:
        return _row(file, url, extract_observation(body, url, selector))
    except ExtractionError as error:
        return _row(file, url, None) | {"error": error.reason}
    except Exception as error:
        return _row(file, url, None) | {"error": "crash", "detail": repr(error)[:300]}


def run_extract(args: argparse.Namespace) -> int:
    if not args.files and not args.manifest:
        print("pricebot extract: give FILE... or --manifest M.jsonl", file=sys.stderr)
        return 2
    try:
        pages = list(_pages(args))
    except (OSError, ValueError, KeyError) as error:
        print(f"pricebot extract: cannot read the manifest: {error}", file=sys.stderr)
        return 2
    out = sys.stdout
    for file, url in pages:
        out.write(json.dumps(extract_file(file, url, args.selector), ensure_ascii=False) + "\n")
        out.flush()
    return 0
