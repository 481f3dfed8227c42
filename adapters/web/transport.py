"""An httpx transport over aiohttp: its C HTTP/1.1 parser and keep-alive pool, our limits.

httpcore parses responses with h11 in pure Python and copies a body several times on its
way up; for product pages of half a megabyte and more that was most of a fetch's CPU
(through HttpFetcher, 580 KiB pages at 32 in flight: 2.2-2.5 ms CPU per page before,
1.3-1.5 ms over this transport, of which the client and transport alone take 1.2). So the
fetcher keeps httpx.AsyncClient for its API (requests, cookies, URL joining) and sends
through one aiohttp.ClientSession instead. aiohttp is told to do nothing on its own: no
redirects, cookies, decompression, proxies from the environment, retries or headers httpx
did not ask for, so the fetcher stays the one place where those are decided. The
httpx-aiohttp package does the same job, but maps errors in ways the fetcher would
misread (a refused connection as a connect timeout) and reads bodies 16 KiB at a time.

New connections are opened by aiohttp's connector through `GuardedResolver` (see guard.py);
hosts that are IP literals never reach a resolver, so every request's host is checked here
first, with the same guard object.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from yarl import URL

from adapters.web.guard import GuardedResolver

# Each response's buffer: the body is handed up as whatever has arrived, up to this much
# (twice this before aiohttp pauses the socket), in few large pieces rather than many of
# aiohttp's default 64 KiB, so a page makes fewer trips through the stream layers and the
# fetcher's decoder. Measured on 580 KiB pages at 32 in flight: 1.48 ms CPU per page,
# against 1.56 for iter_chunked(1 MiB) and 1.62 for aiohttp's default buffer.
_READ_BUFFER = 1 << 20

# A response header line may be as long as h11 allowed all headers together (16 KiB),
# which the fetcher used before: shops send long Content-Security-Policy and Set-Cookie
# headers, past aiohttp's default of 8 KiB.
_MAX_HEADER_LINE = 16 * 1024

# aiohttp adds these when a request lacks them; httpx always sends its own, and nothing
# should reach a shop that the fetcher did not ask for.
_NO_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent")

# aiohttp 3.10 split ServerTimeoutError into ConnectionTimeoutError and SocketTimeoutError;
# on older versions every one maps to a read timeout: still a timeout, just less precise.
_CONNECT_TIMEOUTS: tuple[type[Exception], ...] = tuple(
    getattr(aiohttp, name) for name in ("ConnectionTimeoutError",) if hasattr(aiohttp, name)
)


def _httpx_error(error: Exception, *, sending: bool) -> httpx.TransportError | None:
    """The httpx exception the fetcher's except clauses expect for an aiohttp one.

    Order matters: aiohttp's timeouts are ServerConnectionErrors and OSErrors too, and its
    connector errors are OSErrors.
    """
    message = str(error) or type(error).__name__
    if isinstance(error, _CONNECT_TIMEOUTS):
        return httpx.ConnectTimeout(message)
    if isinstance(error, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message)  # SocketTimeoutError: no data within sock_read
    if isinstance(error, aiohttp.ClientConnectorError | aiohttp.ServerFingerprintMismatch):
        return httpx.ConnectError(message)  # refused, unreachable, DNS, TLS handshake
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        # The server hung up before the response or inside its body, or framed the body
        # wrongly (a short Content-Length, a broken chunk).
        return httpx.RemoteProtocolError(message)
    if isinstance(error, aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(message)  # a status line or headers we cannot parse
    if isinstance(error, aiohttp.ClientConnectionError):
        return httpx.ReadError(message)  # a reset or other socket error on a live connection
    if isinstance(error, aiohttp.InvalidURL):
        return httpx.LocalProtocolError(message)
    if sending and isinstance(error, ValueError):
        return httpx.LocalProtocolError(message)  # e.g. a header value aiohttp will not send
    if isinstance(error, TimeoutError):
        return httpx.ConnectTimeout(message) if sending else httpx.ReadTimeout(message)
    return None


@contextlib.contextmanager
def _httpx_errors(*, sending: bool) -> Iterator[None]:
    """Re-raises aiohttp's errors as httpx ones; anything else (PrivateAddress and InvalidUrl
    from the guard, cancellation) passes through unchanged."""
    try:
        yield
    except Exception as error:
        mapped = _httpx_error(error, sending=sending)
        if mapped is None:
            raise
        raise mapped from error


class _BoundedConnector(aiohttp.TCPConnector):
    """A TCPConnector whose open sockets, busy plus idle, stay within `limit`.

    aiohttp's limit counts only connections in use: idle keep-alive ones pile up beside
    them, one per host visited. Before a new socket is opened, the least recently used
    idle connections (of any host) are closed to make room. This reads the connector's
    pool (`_conns`, `_acquired`, `_limit`); the connection-limit tests in
    tests/integration/test_fetcher.py fail loudly if a new aiohttp changes them.
    """

    async def _create_connection(
        self,
        req: Any,
        traces: Any,
        timeout: Any,  # noqa: ASYNC109 - aiohttp's signature
    ) -> Any:
        self._make_room()
        return await super()._create_connection(req, traces, timeout)

    def _make_room(self) -> None:
        # Runs once the connection being opened is counted in _acquired (as a placeholder).
        idle = self._conns
        idle_count = sum(len(stack) for stack in idle.values())
        while idle_count and len(self._acquired) + idle_count > self._limit:
            # Each host's idle connections are kept oldest first as (protocol, released at).
            key = min((key for key in idle if idle[key]), key=lambda key: idle[key][0][1])
            stack = idle[key]
            protocol, _released_at = stack[0]
            del stack[0]
            if not stack:
                del idle[key]
            protocol.close()
            idle_count -= 1


class _ResponseStream(httpx.AsyncByteStream):
    """The response body; closing it gives the connection back (or drops it) and frees the
    request's slot."""

    def __init__(self, response: aiohttp.ClientResponse, transport: AiohttpTransport) -> None:
        self._response = response
        self._transport: AiohttpTransport | None = transport

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors(sending=False):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        if transport is None:
            return  # closed already: the slot is freed exactly once
        try:
            # Back to the pool if the whole body arrived; otherwise aiohttp closes the
            # socket, so a body left unread never reaches the next request on it.
            self._response.release()
        finally:
            transport._slot_free()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pool over aiohttp whose new connections pass `resolver`.

    At most `max_connections` requests are in flight, and open sockets (busy plus idle) stay
    within that number too, an idle socket of another host being closed to make room.
    """

    def __init__(
        self,
        *,
        resolver: GuardedResolver,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._resolver = resolver
        # Verified against the host name: aiohttp passes the URL's host (or the request's
        # sni_hostname extension) as server_hostname.
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._ssl_context.set_alpn_protocols(["http/1.1"])
        self._max_connections = limits.max_connections or 100
        self._keepalive_expiry = limits.keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
        self._resolver.check_host(url.raw_host.decode("ascii"))  # IDNA-encoded, as resolved
        session = self._session or self._open_session()
        timeouts = request.extensions.get("timeout", {})
        await self._acquire_slot(timeouts.get("pool"))
        try:
            headers, body = _headers_and_body(request)
            with _httpx_errors(sending=True):
                response = await session.request(
                    request.method,
                    URL(str(url), encoded=True),  # httpx has quoted it already
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=self._client_timeout(timeouts.get("connect"), timeouts.get("read")),
                    server_hostname=request.extensions.get("sni_hostname"),
                )
        except BaseException:
            self._slot_free()
            raise
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/%d.%d" % (response.version.major, response.version.minor)
        }
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("ascii", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, self),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        """The session and its connector, made on first use: aiohttp binds both to the
        running event loop, which may not exist yet when the fetcher is built."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        connector = _BoundedConnector(
            resolver=self._resolver,
            # Every new connection asks the guard: the cache would also hand out a host's
            # addresses in rotation, IPv6 first half of the time.
            use_dns_cache=False,
            ssl=self._ssl_context,
            limit=self._max_connections,
            limit_per_host=0,  # the fetcher's HostGates limit each host
            keepalive_timeout=self._keepalive_expiry,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # the fetcher keeps cookies per fetch
            skip_auto_headers=_NO_AUTO_HEADERS,
            auto_decompress=False,  # decoding.py decodes, with its bomb limit
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),  # per request, from httpx's
            max_line_size=_MAX_HEADER_LINE,
            max_field_size=_MAX_HEADER_LINE,
            read_bufsize=_READ_BUFFER,
        )
        # aiohttp resends an idempotent request once by itself when the connection drops
        # before a response; retries are the fetcher's to count and pace. (The attribute is
        # how aiohttp's own test client turns this off; there is no public switch.)
        if hasattr(session, "_retry_connection"):
            session._retry_connection = False
        self._session = session
        return session

    def _client_timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        """httpx's connect timeout bounds resolving, connecting and the TLS handshake; its
        read timeout the wait for each piece of the response. The pool wait is ours."""
        key = (connect, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(
                total=None, connect=connect, sock_connect=connect, sock_read=read
            )
            if len(self._timeouts) < 64:  # a handful of distinct settings in practice
                self._timeouts[key] = timeout
        return timeout

    # ----- request slots -------------------------------------------------------------------

    async def _acquire_slot(self, wait: float | None) -> None:
        """Waits for one of max_connections slots, within the pool timeout.

        aiohttp's connector would queue for a connection too, but inside its connect
        timeout, so a wait for the pool could not be told from a slow server.
        """
        if self._closed:
            raise RuntimeError("the transport is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._max_connections)
        if not self._slots.locked():
            await self._slots.acquire()  # returns at once, without a trip through the loop
            return
        try:
            async with asyncio.timeout(wait):
                await self._slots.acquire()
        except TimeoutError as error:
            raise httpx.PoolTimeout("no connection became free in time") from error

    def _slot_free(self) -> None:
        assert self._slots is not None
        self._slots.release()


def _headers_and_body(request: httpx.Request) -> tuple[list[tuple[str, str]], Any]:
    """The headers as httpx prepared them, names in their original case (as a browser sends
    them over HTTP/1.1; all lower case is a bot's tell), and the body: bytes, a stream or
    None."""
    # aiohttp writes header strings as UTF-8: byte for byte what httpx holds, unless a value
    # (a shop's cookie, say) is not valid UTF-8, when its Latin-1 reading is re-encoded.
    encoding = request.headers.encoding
    headers = [
        (name.decode(encoding), value.decode(encoding)) for name, value in request.headers.raw
    ]
    try:
        content = request.content
    except httpx.RequestNotRead:
        # A streamed body: aiohttp frames it (chunked) itself and refuses a request that
        # already says so.
        headers = [(name, value) for name, value in headers if name.lower() != "transfer-encoding"]
        return headers, _body_chunks(request)
    return headers, content or None


async def _body_chunks(request: httpx.Request) -> AsyncIterator[bytes]:
    assert isinstance(request.stream, httpx.AsyncByteStream)
    async for chunk in request.stream:
        yield chunk
