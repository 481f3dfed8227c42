"""HttpFetcher: the core.ports.Fetcher over one shared httpx.AsyncClient, with every limit."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from adapters.web.botwall import is_bot_wall
from adapters.web.decoding import ACCEPT_ENCODING, DecodingFailed, decoder_for, read_capped
from adapters.web.guard import GuardedResolver
from adapters.web.policy import FetchPolicy
from adapters.web.politeness import HostGate, HostGates, backoff_delay, parse_retry_after
from adapters.web.transport import AiohttpTransport
from core.errors import (
    Blocked,
    FetchError,
    InvalidUrl,
    NotAProductPage,
    NotFound,
    RetryLater,
    Timeout,
    TooLarge,
    TooManyRedirects,
    TransientFetchError,
    Unreachable,
)
from core.model import FetchResult
from core.ports import Fetcher
from core.urls import MAX_URL_LENGTH

log = logging.getLogger(__name__)

_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PAGE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "application/json", "text/json", "application/ld+json"}
)
# Error and redirect bodies are read this far: enough to recognise a bot wall, and
# reading a small body to its end lets the connection go back to the pool.
_SIDE_BODY_BYTES = 256 * 1024
_SIDE_BODY_BYTES_REDIRECT = 64 * 1024
_BLOCKING_STATUSES = frozenset({401, 403, 451})


class _Retry(Exception):
    """Internal: this attempt failed in a way worth retrying; `error` is raised if not."""

    def __init__(self, error: FetchError, wait: float | None = None) -> None:
        super().__init__(error.user_message)
        self.error = error
        self.wait = wait  # the server's Retry-After, already applied to the host's gate


class _NoCookies(httpx.Cookies):
    """Cookies that are never kept. httpx offers every response to its client's jar,
    building a urllib request and response to do so (over a percent of a check cycle);
    the shared client must keep none, so there is nothing to offer them to."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.AsyncClient):
    """The shared client: cookies live for one fetch (the fetcher carries them from hop
    to hop), never across fetches."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._no_cookies = _NoCookies()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        pass  # ignored: the shared client keeps no cookies, whatever it is given


class HttpFetcher(Fetcher):
    """Fetches product pages politely and safely; failures are core.errors.FetchError types.

    One instance holds one keep-alive connection pool; create it once per process and
    close it with aclose().
    """

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self._policy = policy = policy or FetchPolicy()
        resolver = GuardedResolver(
            guard=not policy.allow_private_hosts,
            allowed_hosts=policy.allowed_hosts,
            resolve_timeout=policy.connect_timeout,
        )
        limits = httpx.Limits(
            max_connections=policy.max_connections,
            max_keepalive_connections=policy.max_connections,
            keepalive_expiry=30.0,
        )
        # Cookies live for one fetch (a shop may set one and redirect to itself), never
        # across fetches: the shared client keeps none (_Client).
        self._client = _Client(
            transport=AiohttpTransport(resolver=resolver, limits=limits),
            headers={
                "User-Agent": policy.user_agent,
                "Accept": _ACCEPT,
                "Accept-Language": policy.accept_language,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            follow_redirects=False,  # followed here, so every hop is checked
            trust_env=False,  # no proxy or .netrc from the environment by surprise
        )
        self._gates = HostGates(policy.per_host_concurrency, policy.per_host_min_gap)

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        target = _checked_url(url)
        conditional: dict[str, str] = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        cookies = httpx.Cookies()
        started = asyncio.get_running_loop().time()
        for _hop in range(self._policy.max_redirects + 1):
            outcome = await self._hop_with_retries(target, conditional, cookies, started)
            if isinstance(outcome, FetchResult):
                return outcome
            target = outcome
        raise TooManyRedirects()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _hop_with_retries(
        self,
        target: httpx.URL,
        conditional: dict[str, str],
        cookies: httpx.Cookies,
        started: float,
    ) -> FetchResult | httpx.URL:
        policy = self._policy
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            try:
                return await self._hop(target, conditional, cookies)
            except _Retry as retry:
                attempt += 1
                if retry.wait is not None:
                    delay = retry.wait  # served by the host gate before the next start
                else:
                    delay = backoff_delay(attempt, base=policy.backoff_base, cap=policy.backoff_max)
                out_of_time = loop.time() - started + delay > policy.max_elapsed
                if attempt > policy.max_retries or out_of_time:
                    raise retry.error from retry.__cause__
                log.debug(
                    "retrying %s in %.2fs (attempt %d): %s",
                    target,
                    delay,
                    attempt,
                    retry.error.reason,
                )
                if retry.wait is None:
                    await asyncio.sleep(delay)

    async def _hop(
        self, target: httpx.URL, conditional: dict[str, str], cookies: httpx.Cookies
    ) -> FetchResult | httpx.URL:
        async with self._gates.slot(target.host) as gate:
            try:
                async with asyncio.timeout(self._policy.total_timeout):
                    return await self._exchange(target, conditional, cookies, gate)
            except (TimeoutError, httpx.TimeoutException) as error:
                raise _Retry(Timeout()) from error
            except httpx.ConnectError as error:
                # Refused, no route, or a name that does not resolve: retried (a restarting
                # server), then said as it is rather than as "a temporary error".
                raise _Retry(Unreachable()) from error
            except (httpx.NetworkError, httpx.RemoteProtocolError, DecodingFailed) as error:
                raise _Retry(TransientFetchError()) from error
            except httpx.InvalidURL as error:
                # Not an HTTPError: an address httpx cannot even build a request for.
                raise InvalidUrl("The shop sent me to an address that is not valid.") from error
            except httpx.HTTPError as error:  # e.g. a header value h11 refuses to send
                raise FetchError(
                    "I could not send a valid request to that shop. Check the link."
                ) from error

    async def _exchange(
        self,
        target: httpx.URL,
        conditional: dict[str, str],
        cookies: httpx.Cookies,
        gate: HostGate,
    ) -> FetchResult | httpx.URL:
        request = self._client.build_request("GET", target, headers=conditional or None)
        if cookies:
            cookies.set_cookie_header(request)
        response = await self._client.send(request, stream=True)
        try:
            if "set-cookie" in response.headers:
                cookies.extract_cookies(response)
            return await self._interpret(response, target, conditional, gate)
        finally:
            await response.aclose()

    async def _interpret(
        self,
        response: httpx.Response,
        target: httpx.URL,
        conditional: dict[str, str],
        gate: HostGate,
    ) -> FetchResult | httpx.URL:
        status = response.status_code
        headers = response.headers
        if status in _REDIRECTS:
            location = headers.get("location", "").strip()
            if not location:
                raise FetchError("The shop sent a redirect without saying where to.")
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) <= _SIDE_BODY_BYTES_REDIRECT:
                # Drained so the connection can carry the next hop; any other body is
                # dropped with its connection rather than waited for.
                await _read_quietly(response, _SIDE_BODY_BYTES_REDIRECT)
            return _redirect_target(target, location)
        if status == 304:
            return FetchResult(
                url=str(target),
                status=status,
                body=b"",
                content_type=headers.get("content-type", ""),
                etag=headers.get("etag") or conditional.get("If-None-Match"),
                last_modified=headers.get("last-modified") or conditional.get("If-Modified-Since"),
                not_modified=True,
            )
        if 200 <= status < 300:
            return await self._page(response, target)

        body = await _read_quietly(response, _SIDE_BODY_BYTES)
        if status in (404, 410):
            raise NotFound()
        if status in _BLOCKING_STATUSES or is_bot_wall(headers, body):
            raise Blocked()
        if status == 429 or 500 <= status <= 599:
            wait = None
            if status in (429, 503):
                wait = parse_retry_after(
                    headers.get("retry-after"), server_date=headers.get("date")
                )
            if wait is not None and wait > self._policy.max_retry_after:
                raise RetryLater(wait)
            if wait is not None:
                gate.hold_off(wait)  # every request to this host waits, not just this one
            raise _Retry(RetryLater(wait) if status == 429 else TransientFetchError(), wait)
        raise FetchError(f"The shop refused the request (HTTP {status}). Check the link.")

    async def _page(self, response: httpx.Response, target: httpx.URL) -> FetchResult:
        headers = response.headers
        content_type = headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and not _is_page_type(media_type):
            raise NotAProductPage()
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._policy.max_bytes:
            raise TooLarge()  # before reading a byte of it
        body = await read_capped(response, self._policy.max_bytes)
        if not media_type and not _looks_like_page(body):
            raise NotAProductPage()
        if is_bot_wall(headers, body):
            raise Blocked()
        return FetchResult(
            url=str(target),
            status=response.status_code,
            body=body,
            content_type=content_type,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )


async def _read_quietly(response: httpx.Response, limit: int) -> bytes:
    """Up to `limit` decoded bytes of a side body (error page, redirect); never raises for
    its size, coding or a broken connection, since the status already says what happened."""
    body = bytearray()
    try:
        decoder = decoder_for(response.headers.get("content-encoding"))
        async for chunk in response.aiter_raw():
            for piece in decoder.feed(chunk):
                body += piece
                if len(body) >= limit:
                    return bytes(body[:limit])
    except (NotAProductPage, DecodingFailed, httpx.TransportError):
        pass
    return bytes(body)


def _is_page_type(media_type: str) -> bool:
    return media_type in _PAGE_TYPES or media_type.endswith("+json")


def _looks_like_page(body: bytes) -> bool:
    """For responses without a Content-Type: markup or JSON, not an image or archive."""
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return start in (b"<", b"{", b"[")


def _checked_url(url: str) -> httpx.URL:
    if not isinstance(url, str):
        raise InvalidUrl()
    text = url.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise InvalidUrl()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise InvalidUrl() from error
    return _web_url(parsed)


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    if len(location) > MAX_URL_LENGTH:
        raise InvalidUrl("The shop redirected to an address that is far too long.")
    try:
        following = current.join(location)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise InvalidUrl("The shop redirected to an address that is not valid.") from error
    try:
        return _web_url(following)
    except InvalidUrl:
        raise InvalidUrl("The shop redirected to an address that is not valid.") from None


def _web_url(url: httpx.URL) -> httpx.URL:
    """Only http(s) with a host and no credentials; the fragment never goes on the wire."""
    if url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise InvalidUrl()
    return url.copy_with(fragment=None) if url.fragment else url
