"""Web fetching: one httpx client with size, time and redirect limits, retries, address guard."""

from adapters.web.fetcher import HttpFetcher
from adapters.web.policy import FetchPolicy

__all__ = ["FetchPolicy", "HttpFetcher"]
