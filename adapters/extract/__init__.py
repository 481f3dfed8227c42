"""Page -> Observation: site rules, structured data, the user's selector and text heuristics."""

from __future__ import annotations

from adapters.extract import selector
from adapters.extract.engine import extract_observation
from adapters.extract.prices import ParsedPrice, parse_price
from core.model import Observation
from core.ports import Extractor


class PageExtractor(Extractor):
    """The Extractor port over `extract_observation` (pure: no I/O, no state). Each call may
    take `budget_seconds` (None: no limit) before it gives up with PageTooComplex; calls in
    different threads at once each keep their own deadline."""

    def __init__(self, budget_seconds: float | None = None) -> None:
        self.budget_seconds = budget_seconds

    def extract(self, body: bytes, url: str, css_selector: str | None = None) -> Observation:
        return extract_observation(body, url, css_selector, budget=self.budget_seconds)

    def selector_is_valid(self, css_selector: str) -> bool:
        return selector.is_valid(css_selector)


__all__ = [
    "PageExtractor",
    "ParsedPrice",
    "extract_observation",
    "parse_price",
]
