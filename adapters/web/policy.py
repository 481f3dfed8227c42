"""FetchPolicy: the limits, timeouts, retry and politeness settings of the HTTP fetcher."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

# A current desktop Chrome: some shops serve a stripped page (or a block page) to
# user agents they do not recognise as a browser.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DEFAULT_ACCEPT_LANGUAGE = "en-US,en;q=0.9"


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How the fetcher behaves. Times are seconds.

    allow_private_hosts turns the address guard off (tests and the demo, whose shop is on
    loopback); allowed_hosts lets named hosts or literal addresses through the guard while
    it stays on for everything else (an operator's own shop on the LAN, or a test server).
    """

    connect_timeout: float = 5.0
    total_timeout: float = 20.0  # one request: connect, headers and the whole body
    max_bytes: int = 5_000_000  # decoded body size
    max_redirects: int = 5
    per_host_concurrency: int = 2
    per_host_min_gap: float = 1.0  # between the starts of two requests to one host
    max_retries: int = 3  # extra attempts after 5xx, 429, timeouts and dropped connections
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # A Retry-After up to this long is waited out; longer fails at once with RetryLater
    # (carrying the wait) so the caller can reschedule instead of holding a task for hours.
    max_retry_after: float = 60.0
    # No new retry starts once this much time has passed since the first attempt, so one
    # fetch ends in about max_elapsed + total_timeout at worst.
    max_elapsed: float = 60.0
    allow_private_hosts: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    user_agent: str = DEFAULT_USER_AGENT
    accept_language: str = DEFAULT_ACCEPT_LANGUAGE
    max_connections: int = 100  # open sockets across all hosts

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "total_timeout", "backoff_max", "max_retry_after"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchPolicy.{name} must be positive")
        for name in ("per_host_min_gap", "backoff_base", "max_elapsed"):
            if getattr(self, name) < 0:
                raise ValueError(f"FetchPolicy.{name} must not be negative")
        if self.max_bytes < 1 or self.per_host_concurrency < 1 or self.max_connections < 1:
            raise ValueError("FetchPolicy sizes and concurrency must be at least 1")
        if self.max_redirects < 0 or self.max_retries < 0:
            raise ValueError("FetchPolicy.max_redirects and max_retries must not be negative")
        # frozen: normalise through object.__setattr__ so lookups compare like with like.
        object.__setattr__(self, "allowed_hosts", normalise_hosts(self.allowed_hosts))


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """Lower-cased host names without brackets or a trailing dot; addresses compressed."""
    if isinstance(hosts, str):  # a lone "127.0.0.1" would otherwise become its characters
        hosts = [hosts]
    return frozenset(normalise_host(host) for host in hosts if host.strip())


def normalise_host(host: str) -> str:
    text = host.strip().strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        return text
