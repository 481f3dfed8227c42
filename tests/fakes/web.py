"""Fake fetcher and extractor: pages and observations keyed by URL."""

from __future__ import annotations

from core.errors import NoPriceFound, PricebotError
from core.model import FetchResult, Observation
from core.ports import Extractor, Fetcher


class FakeFetcher(Fetcher):
    """Serves bodies (or raises errors) registered per URL; counts fetches."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes | PricebotError] = {}
        self.fetches: list[str] = []

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        self.fetches.append(url)
        page = self.pages.get(url)
        if page is None:
            raise PricebotError("no such page in the fake shop")
        if isinstance(page, PricebotError):
            raise page
        return FetchResult(url=url, status=200, body=page, content_type="text/html")


class FakeExtractor(Extractor):
    """Returns the Observation registered for the URL (a sold-out one has price None, as the
    real extractor gives); NoPriceFound when there is none. Selectors made of letters, dots,
    hashes and spaces count as valid."""

    def __init__(self) -> None:
        self.observations: dict[str, Observation] = {}

    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation:
        observation = self.observations.get(url)
        if observation is None:
            raise NoPriceFound()
        return observation

    def selector_is_valid(self, css_selector: str) -> bool:
        return bool(css_selector) and all(ch.isalnum() or ch in ".#-_ >" for ch in css_selector)
