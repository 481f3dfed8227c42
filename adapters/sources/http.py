"""One HTTP client per market source: shared pacing, a bounded wait, every failure a SourceError."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpx

from adapters.sources.limits import RateLimit, shared_throttle
from adapters.web.decoding import ACCEPT_ENCODING, DecodingFailed, read_capped
from adapters.web.politeness import parse_retry_after
from core.errors import NotAProductPage, TooLarge
from core.market import SourceError, SourceRateLimited

log = logging.getLogger(__name__)


def _pricebot_version() -> str:
    try:
        return version("pricebot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "0"


# Scryfall asks every client to name itself; the others are told the same.
USER_AGENT = f"pricebot/{_pricebot_version()} (self-hosted price tracker)"
DEFAULT_TIMEOUT = 15.0
# A Retry-After up to this long is waited out once, inline: a short one smooths a burst, and
# waiting two seconds beats failing a whole valuation. A longer one is handed to the caller as
# SourceRateLimited so it can reschedule instead of holding a chat reply or a worker hostage.
MAX_INLINE_WAIT = 2.0
# After a 429 without Retry-After the source is left alone this long (Scryfall's own penalty is
# 30 s; YGOPRODeck's is an hour, which nobody should reach at our pace).
DEFAULT_PAUSE = 60.0
# No card answer comes near this; a bigger body is a broken or hostile server.
MAX_BODY_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """A response read in full."""

    source: str
    status: int
    body: bytes
    headers: httpx.Headers

    def json(self) -> Any:
        """The body as JSON with every number as an exact Decimal (prices never pass through
        float); SourceError("malformed") when it is not JSON."""
        try:
            return json.loads(self.body, parse_float=Decimal, parse_constant=Decimal)
        except (ValueError, RecursionError):
            raise SourceError(self.source, "malformed") from None


class SourceHttp:
    """Requests to one source. Endpoints are grouped into buckets, each with its own pace
    (`limits`), shared with every other SourceHttp of the same base URL in the process."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        limits: Mapping[str, RateLimit],
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_inline_wait: float = MAX_INLINE_WAIT,
        default_pause: float = DEFAULT_PAUSE,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{source}: not an http(s) base URL: {base_url!r}")
        if timeout <= 0:
            raise ValueError(f"{source}: the timeout must be positive")
        self.source = source
        self.origin = str(url).rstrip("/")
        self.timeout = timeout
        self._limits = dict(limits)
        self._max_inline_wait = max_inline_wait
        self._default_pause = default_pause
        self._max_body_bytes = max_body_bytes
        self._headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            # Only codings read_capped can inflate a step at a time.
            "Accept-Encoding": ACCEPT_ENCODING,
            **(headers or {}),
        }
        # Opened on the first request: every process builds every source, and `pricebot
        # check` or a chat command often uses none of them.
        self._client: httpx.AsyncClient | None = None
        self._closed = False

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            await self._client.aclose()

    def _connection(self) -> httpx.AsyncClient:
        if self._client is None:
            if self._closed:
                raise RuntimeError(f"{self.source}: requested after aclose()")
            self._client = httpx.AsyncClient(
                headers=self._headers,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=True,
                max_redirects=3,
                trust_env=False,  # no proxy settings from the environment in a market lookup
            )
        return self._client

    async def request(
        self,
        method: str,
        path: str,
        *,
        bucket: str,
        expect: Collection[int] = (200,),
        params: Mapping[str, str] | None = None,
        json_body: object = None,
    ) -> Reply:
        """The reply when its status is one of `expect`; otherwise SourceError (or
        SourceRateLimited). A 429 with a short Retry-After is retried once, never more: a
        source that keeps saying 429 must not be asked again and again."""
        throttle = shared_throttle(self.origin, bucket, self._limits[bucket])
        for attempt in range(2):
            await throttle.turn(self.source, self._max_inline_wait)
            reply = await self._exchange(method, path, params, json_body)
            if reply.status != 429:
                break
            retry_after = parse_retry_after(
                reply.headers.get("Retry-After"), server_date=reply.headers.get("Date")
            )
            # Everyone using this source waits too: hammering a source after its 429 gets
            # pricebot blocked (Scryfall bans, YGOPRODeck blocks for an hour).
            throttle.pause(retry_after if retry_after is not None else self._default_pause)
            log.warning("%s answered 429 (Retry-After: %s)", self.source, retry_after)
            if attempt or retry_after is None or retry_after > self._max_inline_wait:
                raise SourceRateLimited(self.source, retry_after)
        if reply.status in expect:
            return reply
        log.warning("%s answered HTTP %s to %s %s", self.source, reply.status, method, path)
        raise SourceError(self.source, failure_reason(reply.status))

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}" if path else self.origin

    async def _exchange(
        self, method: str, path: str, params: Mapping[str, str] | None, json_body: object
    ) -> Reply:
        try:
            # One bound for connect, headers and body alike: httpx's timeouts are per phase,
            # and a server trickling bytes would slip through them.
            async with asyncio.timeout(self.timeout):
                client = self._connection()
                request = client.build_request(
                    method, self.url(path), params=params, json=json_body
                )
                response = await client.send(request, stream=True)
                try:
                    # Read raw and inflated in bounded steps: httpx inflates a whole chunk at
                    # once, so the cap alone would not stop a compression bomb.
                    body = await read_capped(response, self._max_body_bytes)
                finally:
                    await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            raise SourceError(self.source, "timeout") from None
        except (TooLarge, NotAProductPage, DecodingFailed):
            # Bigger than any card answer, or in a coding nobody asked for: broken or hostile.
            raise SourceError(self.source, "malformed") from None
        except httpx.HTTPError as error:
            log.info("%s unreachable: %r", self.source, error)
            raise SourceError(self.source, "unavailable") from None
        return Reply(self.source, response.status_code, body, response.headers)


def failure_reason(status: int) -> str:
    """SourceError's reason for an HTTP status nobody expected."""
    if status in (401, 403):
        return "unauthorized"
    if 400 <= status < 500:
        return "rejected"  # the source refused the request itself
    return "unavailable"
