"""An httpx transport: HTTP/1.1 keep-alive connections per origin, opened by our network backend.

httpx 0.28's AsyncHTTPTransport cannot take an httpcore network backend, so this is a small
bridge built from public httpx and httpcore API. It keeps its own pool rather than using
httpcore's AsyncConnectionPool: that one re-examines every connection (a readability syscall
each) for every request it queues or finishes, which with a few dozen requests in flight cost
more CPU than the requests themselves. Here a request takes an idle connection for its origin
from a list, or opens one, and gives it back when its response is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import httpcore
import httpx

# Most specific first: the first match wins.
_ERROR_MAP: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)

Origin = tuple[bytes, bytes, int]


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raises httpcore's errors as the httpx ones callers of an httpx client expect."""
    try:
        yield
    except Exception as error:
        for core_type, httpx_type in _ERROR_MAP:
            if isinstance(error, core_type):
                raise httpx_type(str(error)) from error
        raise


class _Http11Connection(httpcore.AsyncHTTP11Connection):
    # Product pages run to megabytes: asking the stream for more per read means fewer trips
    # through h11 and the stream layers per page (the stream returns what it has, up to this).
    READ_NUM_BYTES = 1024 * 1024


class _ResponseStream(httpx.AsyncByteStream):
    """The response body; closing it returns the connection to the pool (or drops it)."""

    def __init__(self, core_stream: AsyncIterable[bytes], release: _Release) -> None:
        self._core_stream = core_stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._core_stream:
                yield part

    async def aclose(self) -> None:
        try:
            closer = getattr(self._core_stream, "aclose", None)
            if closer is not None:
                with _httpx_errors():
                    await closer()
        finally:
            self._release()


class _Release:
    """Gives one request's connection and pool slot back, exactly once."""

    __slots__ = ("_connection", "_done", "_origin", "_transport")

    def __init__(
        self, transport: PooledTransport, origin: Origin, connection: _Http11Connection
    ) -> None:
        self._transport = transport
        self._origin = origin
        self._connection = connection
        self._done = False

    def __call__(self) -> None:
        if not self._done:
            self._done = True
            self._transport._give_back(self._origin, self._connection)


class PooledTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 keep-alive pool whose sockets are opened by `network_backend`.

    At most `max_connections` requests are in flight; open sockets (busy plus idle) stay
    within that number too, an idle socket of another origin being closed to make room.
    """

    def __init__(
        self,
        *,
        network_backend: httpcore.AsyncNetworkBackend,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._backend = network_backend
        self._ssl_context = ssl_context or httpx.create_ssl_context()
        self._ssl_context.set_alpn_protocols(["http/1.1"])
        self._max_connections = limits.max_connections or 100
        self._max_idle = min(
            self._max_connections, limits.max_keepalive_connections or self._max_connections
        )
        self._keepalive_expiry = limits.keepalive_expiry
        # Idle connections by origin, least recently used origin first; each list is a stack.
        self._idle: OrderedDict[Origin, list[_Http11Connection]] = OrderedDict()
        self._idle_count = 0
        self._busy: set[_Http11Connection] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"unsupported scheme {url.scheme!r}")
        port = url.port or (443 if scheme == b"https" else 80)
        origin: Origin = (scheme, url.raw_host, port)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=scheme, host=url.raw_host, port=port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        timeouts = request.extensions.get("timeout", {})
        with _httpx_errors():
            await self._acquire_slot(timeouts.get("pool"))
            try:
                connection = await self._connection_for(origin, timeouts.get("connect"), request)
            except BaseException:
                self._slot_free()
                raise
            release = _Release(self, origin, connection)
            try:
                core_response = await connection.handle_async_request(core_request)
            except BaseException:
                release()
                raise
        assert isinstance(core_response.stream, AsyncIterable)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream, release),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        self._closed = True
        connections = [c for stack in self._idle.values() for c in stack] + list(self._busy)
        self._idle.clear()
        self._idle_count = 0
        self._busy.clear()
        for connection in connections:
            with contextlib.suppress(Exception):
                await connection.aclose()

    # ----- the pool ------------------------------------------------------------------------

    async def _acquire_slot(self, wait: float | None) -> None:
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
            raise httpcore.PoolTimeout("no connection became free in time") from error

    def _slot_free(self) -> None:
        assert self._slots is not None
        self._slots.release()

    async def _connection_for(
        self, origin: Origin, connect_timeout: float | None, request: httpx.Request
    ) -> _Http11Connection:
        stack = self._idle.get(origin)
        while stack:
            connection = stack.pop()
            self._idle_count -= 1
            if not stack:
                del self._idle[origin]
            if connection.is_idle() and not connection.has_expired():
                self._busy.add(connection)
                return connection
            await _close_quietly(connection)  # expired, or the server hung up meanwhile
            stack = self._idle.get(origin)
        while self._idle_count and self._idle_count + len(self._busy) >= self._max_connections:
            await _close_quietly(self._pop_oldest_idle())
        stream = await self._open(origin, connect_timeout, request)
        connection = _Http11Connection(
            origin=httpcore.Origin(*origin), stream=stream, keepalive_expiry=self._keepalive_expiry
        )
        self._busy.add(connection)
        return connection

    async def _open(
        self, origin: Origin, connect_within: float | None, request: httpx.Request
    ) -> httpcore.AsyncNetworkStream:
        scheme, host, port = origin
        stream = await self._backend.connect_tcp(host.decode("ascii"), port, timeout=connect_within)
        if scheme == b"https":
            sni = request.extensions.get("sni_hostname") or host.decode("ascii")
            try:
                stream = await stream.start_tls(
                    self._ssl_context, server_hostname=sni, timeout=connect_within
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    await stream.aclose()
                raise
        return stream

    def _pop_oldest_idle(self) -> _Http11Connection:
        origin, stack = next(iter(self._idle.items()))
        connection = stack.pop(0)
        self._idle_count -= 1
        if not stack:
            del self._idle[origin]
        return connection

    def _give_back(self, origin: Origin, connection: _Http11Connection) -> None:
        """Called when a response is closed: an idle connection is kept for its origin."""
        self._busy.discard(connection)
        try:
            if connection.is_idle() and not self._closed:
                stack = self._idle.get(origin)
                if stack is None:
                    stack = self._idle[origin] = []
                else:
                    self._idle.move_to_end(origin)
                stack.append(connection)
                self._idle_count += 1
                while self._idle_count > self._max_idle:
                    surplus = self._pop_oldest_idle()
                    _close_soon(surplus)
            elif not connection.is_closed():
                _close_soon(connection)
        finally:
            self._slot_free()


async def _close_quietly(connection: _Http11Connection) -> None:
    with contextlib.suppress(Exception):
        await connection.aclose()


def _close_soon(connection: _Http11Connection) -> None:
    """Closes a surplus connection without making the caller wait for it."""
    task = asyncio.get_running_loop().create_task(_close_quietly(connection))
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Task[None]] = set()
