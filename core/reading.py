"""One way to read a product page, for /track and the check cycle: fetch, extract off the
event loop within a time budget, and check that what was read is a sane reading."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

import xxhash

from core.currency import is_currency
from core.errors import (
    FetchError,
    NoPriceFound,
    PageTooComplex,
    PricebotError,
    Timeout,
    UnreadablePage,
)
from core.model import Availability, Observation
from core.money import sane_amount
from core.ports import Clock, Extractor, Fetcher
from core.text import MAX_TITLE, clean_text, clean_url

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PageRead:
    """What one read of a page gave. `observation` is None when the page was not read in
    full: the shop said it is unchanged (304), or its bytes are those of `known_digest`."""

    url: str
    observation: Observation | None
    etag: str | None = None
    last_modified: str | None = None
    digest: str | None = None
    not_modified: bool = False
    unchanged: bool = False


def page_digest(body: bytes, css_selector: str | None, now: datetime) -> str:
    """What a reading of the page depends on: its bytes and the selector. Salted with the
    UTC day, so a page that never changes is still read in full once a day and a reading
    cannot outlive a fix to the extractor (or a bad one) by more than that.

    XXH3-128, not a cryptographic hash: the question is only "the same bytes as last time?",
    where 128 bits leave no room for an accident, and a shop that forged a collision would
    only keep its own page's reading for the rest of the day (it can show any price anyway).
    SHA-256 cost 0.4-0.5 ms per half-megabyte page, 5 % of a check cycle; this 0.03 ms."""
    digest = xxhash.xxh3_128(f"{now:%Y-%m-%d}|{css_selector or ''}|".encode())
    digest.update(body)
    return digest.hexdigest()


def checked(observation: Observation) -> Observation:
    """The observation with every field sane, or NoPriceFound: an amount that is no price
    (not finite, absurdly large, more decimals than its currency) is never recorded, and
    text is clean enough for every database and chat platform."""
    currency = (
        observation.currency if observation.currency and is_currency(observation.currency) else None
    )
    price = observation.price
    if price is not None:
        price = sane_amount(price, currency)
        if price is None:
            raise NoPriceFound()
    if price is None and observation.availability is not Availability.OUT_OF_STOCK:
        raise NoPriceFound()
    return replace(
        observation,
        price=price,
        currency=currency if price is not None else None,
        title=clean_text(observation.title, MAX_TITLE),
        image=clean_url(observation.image),
        canonical_url=clean_url(observation.canonical_url),
    )


class PageReader:
    """Fetches and reads pages. Extraction is CPU work of up to a few hundred milliseconds on
    big pages, so it runs on worker threads: chats, the scheduler and delivery keep the
    event loop. The extractor stops itself at its own time budget; `guard` seconds is the
    reader's limit for an extractor that does not."""

    def __init__(
        self,
        fetcher: Fetcher,
        extractor: Extractor,
        clock: Clock,
        *,
        guard: float = 10.0,
        threads: int = 2,
    ) -> None:
        self._fetcher = fetcher
        self._extractor = extractor
        self._clock = clock
        self._guard = guard
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="pricebot-extract")

    async def read(
        self,
        url: str,
        *,
        selector: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        known_digest: str | None = None,
        within: float | None = None,
    ) -> PageRead:
        """Raises a FetchError or ExtractionError subclass saying why the page is unreadable;
        `within` seconds bound the fetch (a person waiting for /track), else the fetcher's own."""
        try:
            async with asyncio.timeout(within):
                fetched = await self._fetcher.fetch(url, etag=etag, last_modified=last_modified)
        except TimeoutError:
            raise Timeout() from None
        except PricebotError:
            raise
        except Exception as error:
            log.exception("fetching %s failed unexpectedly", url)
            raise FetchError(
                "The shop's answer could not be understood. Try again later, or send another "
                "shop's link."
            ) from error
        if fetched.not_modified:
            return PageRead(fetched.url, None, fetched.etag, fetched.last_modified, None, True)
        digest = page_digest(fetched.body, selector, self._clock.now())
        if known_digest is not None and digest == known_digest:
            return PageRead(
                fetched.url, None, fetched.etag, fetched.last_modified, digest, unchanged=True
            )
        observation = await self.observe(fetched.body, fetched.url, selector)
        return PageRead(fetched.url, observation, fetched.etag, fetched.last_modified, digest)

    async def observe(self, body: bytes, url: str, selector: str | None = None) -> Observation:
        """The checked observation of page bytes, read on a worker thread."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._executor, self._extractor.extract, body, url, selector)
        try:
            async with asyncio.timeout(self._guard):
                observation = await work
        except TimeoutError:
            raise PageTooComplex() from None
        except PricebotError:
            raise
        except Exception as error:
            log.exception("reading %s failed unexpectedly", url)
            raise UnreadablePage() from error
        return checked(observation)

    def selector_is_valid(self, selector: str) -> bool:
        return self._extractor.selector_is_valid(selector)

    def close(self) -> None:
        """Lets the worker threads go; an extraction still running finishes on its own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
