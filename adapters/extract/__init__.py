"""Page -> Observation: site rules, structured data, the user's selector and text heuristics."""

from __future__ import annotations

from adapters.extract.engine import PriceUnavailable, extract_observation
from adapters.extract.prices import ParsedPrice, parse_price
from core.model import Observation
from core.ports import Extractor


class PageExtractor(Extractor):
    """The Extractor port over `extract_observation` (pure: no I/O, no state)."""

    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation:
        return extract_observation(body, url, css_selector)


__all__ = [
    "PageExtractor",
    "ParsedPrice",
    "PriceUnavailable",
    "extract_observation",
    "parse_price",
]
