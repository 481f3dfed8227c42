"""HttpFetcher against real loopback servers: limits, redirects, guard, retries, politeness."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import itertools
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import brotli
import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.web import FetchPolicy, HttpFetcher
from adapters.web.guard import GuardedResolver, is_public_address
from adapters.web.politeness import backoff_delay, parse_retry_after
from adapters.web.transport import AiohttpTransport, _httpx_error
from core.errors import (
    Blocked,
    InvalidUrl,
    NotAProductPage,
    NotFound,
    PrivateAddress,
    RetryLater,
    Timeout,
    TooLarge,
    TooManyRedirects,
    TransientFetchError,
    Unreachable,
)

PAGE = b"<!doctype html><html><head><title>Kettle</title></head><body>19.99 EUR</body></html>"

# Small numbers everywhere so every failure arrives in well under a second.
FAST = dict(
    connect_timeout=1.0,
    total_timeout=2.0,
    per_host_min_gap=0.0,
    backoff_base=0.01,
    backoff_max=0.05,
    max_retry_after=2.0,
    max_elapsed=10.0,
    allow_private_hosts=True,
)


def fast_policy(**overrides: object) -> FetchPolicy:
    return FetchPolicy(**{**FAST, **overrides})  # type: ignore[arg-type]


@pytest.fixture
async def make_fetcher() -> AsyncIterator[Callable[..., HttpFetcher]]:
    made: list[HttpFetcher] = []

    def make(**overrides: object) -> HttpFetcher:
        fetcher = HttpFetcher(fast_policy(**overrides))
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.aclose()


@pytest.fixture
async def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection the event loop opens, as (host, port). Also a tripwire: an
    attempt to reach anything but 127.0.0.1 fails the test instead of leaving the machine.

    Both ways a client can connect are watched: loop.sock_connect (aiohttp connects a socket
    itself, through aiohappyeyeballs, then hands it over) and loop.create_connection with a
    host (a handed-over socket is already recorded)."""
    loop = asyncio.get_running_loop()
    opened: list[tuple[str, int]] = []
    create_connection = loop.create_connection
    sock_connect = loop.sock_connect

    def record(host: str | None, port: int | None) -> None:
        opened.append((host, port))  # type: ignore[arg-type]
        if host != "127.0.0.1":
            raise AssertionError(f"the fetcher tried to connect to {host}:{port}")

    async def recording(protocol_factory, host=None, port=None, *args, **kwargs):
        if kwargs.get("sock") is None:
            record(host, port)
        return await create_connection(protocol_factory, host, port, *args, **kwargs)

    async def recording_sock_connect(sock, address):
        record(address[0], address[1])
        return await sock_connect(sock, address)

    monkeypatch.setattr(loop, "create_connection", recording)
    monkeypatch.setattr(loop, "sock_connect", recording_sock_connect)
    return opened


class FakeDns:
    """Answers the event loop's getaddrinfo from `answers` (name -> addresses, or an
    awaitable factory for a slow answer); any other name does not exist. Records lookups."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str] | Callable[[], Awaitable[list[str]]]] = {}
        self.lookups: list[str] = []

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        self.lookups.append(host)
        answer = self.answers.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = answer if isinstance(answer, list) else await answer()
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
            for a in addresses
        ]


@pytest.fixture
async def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Name lookups never leave the test: names resolve from a table the test fills."""
    fake = FakeDns()
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake.getaddrinfo)
    return fake


class Shop:
    """An aiohttp app on 127.0.0.1 whose routes tests add; counts hits per path."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.hits: dict[str, int] = {}
        self.requests: list[web.Request] = []
        self.server: TestServer | None = None

    def route(
        self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> None:
        async def counted(request: web.Request) -> web.StreamResponse:
            self.hits[path] = self.hits.get(path, 0) + 1
            self.requests.append(request)
            return await handler(request)

        self.app.router.add_get(path, counted)

    def url(self, path: str) -> str:
        assert self.server is not None
        return str(self.server.make_url(path))

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """Routes are added before the first request (aiohttp freezes the router on start), so
    the server starts lazily via `started`."""
    shop = Shop()
    yield shop
    if shop.server is not None:
        await shop.server.close()


async def started(shop: Shop) -> Shop:
    shop.server = TestServer(shop.app, host="127.0.0.1")
    await shop.server.start_server()
    return shop


class InFlight:
    """A slow page that remembers the most requests it ever served at once."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    async def slow_page(self, request: web.Request) -> web.Response:
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.05)
        self.now -= 1
        return html()


def html(body: bytes = PAGE, **headers: str) -> web.Response:
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)


@contextlib.asynccontextmanager
async def raw_server(
    script: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[int]:
    """A bare TCP server for misbehaviour aiohttp will not produce (lying Content-Length,
    endless or dripping bodies). Yields its port."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            await script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ----- success paths -------------------------------------------------------------------


async def test_fetches_a_page_with_browser_headers_and_validators(shop: Shop, make_fetcher) -> None:
    async def page(request: web.Request) -> web.Response:
        return html(ETag='"v1"', **{"Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"})

    shop.route("/kettle", page)
    await started(shop)

    result = await make_fetcher().fetch(shop.url("/kettle"))

    assert (result.status, result.body, result.not_modified) == (200, PAGE, False)
    assert result.url == shop.url("/kettle")
    assert result.content_type.startswith("text/html")
    assert (result.etag, result.last_modified) == ('"v1"', "Wed, 01 Jan 2025 00:00:00 GMT")
    sent = shop.requests[0].headers
    assert sent["User-Agent"].startswith("Mozilla/5.0") and "Chrome/" in sent["User-Agent"]
    assert sent["Accept-Language"] == "en-US,en;q=0.9"
    assert {"gzip", "deflate", "br"} <= {c.strip() for c in sent["Accept-Encoding"].split(",")}


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress),
    ],
    ids=["gzip", "deflate", "raw-deflate", "br"],
)
async def test_compressed_bodies_are_decoded(shop: Shop, make_fetcher, coding, encode) -> None:
    body = PAGE * 200

    async def page(request: web.Request) -> web.Response:
        return html(encode(body), **{"Content-Encoding": coding})

    shop.route("/p", page)
    await started(shop)

    assert (await make_fetcher().fetch(shop.url("/p"))).body == body


async def test_json_is_a_readable_page(shop: Shop, make_fetcher) -> None:
    async def api(request: web.Request) -> web.Response:
        return web.json_response({"price": "19.99", "currency": "EUR"})

    shop.route("/api", api)
    await started(shop)

    result = await make_fetcher().fetch(shop.url("/api"))

    assert result.content_type.startswith("application/json")
    assert b'"19.99"' in result.body


async def test_conditional_request_returns_not_modified(shop: Shop, make_fetcher) -> None:
    async def page(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        if request.headers.get("If-Modified-Since") == "Wed, 01 Jan 2025 00:00:00 GMT":
            return web.Response(status=304)
        return html(ETag='"v1"')

    shop.route("/p", page)
    await started(shop)
    fetcher = make_fetcher()

    first = await fetcher.fetch(shop.url("/p"))
    by_etag = await fetcher.fetch(shop.url("/p"), etag=first.etag)
    by_date = await fetcher.fetch(shop.url("/p"), last_modified="Wed, 01 Jan 2025 00:00:00 GMT")

    assert first.not_modified is False and first.etag == '"v1"'
    assert (by_etag.not_modified, by_etag.body, by_etag.status, by_etag.etag) == (
        True,
        b"",
        304,
        '"v1"',
    )
    assert by_date.not_modified is True
    assert by_date.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"  # kept for next time


async def test_cookies_set_on_one_hop_are_sent_on_the_next_but_not_kept(
    shop: Shop, make_fetcher
) -> None:
    async def gate(request: web.Request) -> web.Response:
        response = web.Response(status=302, headers={"Location": "/p"})
        response.set_cookie("session", "abc")
        return response

    async def page(request: web.Request) -> web.Response:
        if request.cookies.get("session") != "abc":
            return web.Response(status=302, headers={"Location": "/gate"})
        return html()

    shop.route("/gate", gate)
    shop.route("/p", page)
    await started(shop)
    fetcher = make_fetcher()

    assert (await fetcher.fetch(shop.url("/gate"))).body == PAGE
    # A fresh fetch starts without the cookie: shops must not see one user's session in
    # another user's check.
    await fetcher.fetch(shop.url("/gate"))
    assert [r.cookies.get("session") for r in shop.requests] == [None, "abc", None, "abc"]


# ----- redirects -----------------------------------------------------------------------


def add_redirect_chain(shop: Shop) -> None:
    """/r/<n> redirects to /r/<n-1> ... /r/1 redirects to /final (alternating absolute and
    relative Location headers)."""

    async def hop(request: web.Request) -> web.Response:
        left = int(request.match_info["n"])
        target = "/final" if left == 1 else f"/r/{left - 1}"
        location = shop.url(target) if left % 2 else target
        return web.Response(status=301 if left % 2 else 307, headers={"Location": location})

    async def final(request: web.Request) -> web.Response:
        return html()

    shop.app.router.add_get("/r/{n}", hop)
    shop.route("/final", final)


async def test_follows_a_redirect_chain_up_to_the_limit(shop: Shop, make_fetcher) -> None:
    add_redirect_chain(shop)
    await started(shop)

    result = await make_fetcher(max_redirects=5).fetch(shop.url("/r/5"))

    assert result.url == shop.url("/final")
    assert result.body == PAGE


async def test_one_redirect_too_many_is_refused(shop: Shop, make_fetcher) -> None:
    add_redirect_chain(shop)
    await started(shop)

    with pytest.raises(TooManyRedirects):
        await make_fetcher(max_redirects=5).fetch(shop.url("/r/6"))
    assert shop.hits.get("/final", 0) == 0


async def test_redirect_loop_ends_in_bounded_time(shop: Shop, make_fetcher) -> None:
    async def loop_(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/loop"})

    shop.route("/loop", loop_)
    await started(shop)

    with pytest.raises(TooManyRedirects):
        await make_fetcher().fetch(shop.url("/loop"))
    assert shop.hits["/loop"] == 6  # the first request and five redirects


async def test_redirect_to_another_scheme_is_refused(shop: Shop, make_fetcher) -> None:
    async def to_file(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "file:///etc/passwd"})

    shop.route("/p", to_file)
    await started(shop)

    with pytest.raises(InvalidUrl):
        await make_fetcher().fetch(shop.url("/p"))


# ----- address guard -------------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[fd00::1]/",
        "http://localhost:{port}/final",
        "http://LOCALHOST.:{port}/final",
        "http://127.0.0.2:{port}/final",
        "http://[::1]:{port}/final",
        "http://[::ffff:127.0.0.1]:{port}/final",
        "http://0.0.0.0:{port}/final",
        "http://2130706433:{port}/final",  # 127.0.0.1 as one number
        "http://127.1:{port}/final",
    ],
)
async def test_redirect_to_a_private_address_is_refused_before_connecting(
    shop: Shop, make_fetcher, connections, destination: str
) -> None:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": destination.format(port=shop.port)})

    async def final(request: web.Request) -> web.Response:
        return html()

    shop.route("/go", redirect)
    shop.route("/final", final)
    await started(shop)
    # Guard on; only the test server's literal address is let through for the first hop.
    fetcher = make_fetcher(allow_private_hosts=False, allowed_hosts=frozenset({"127.0.0.1"}))

    with pytest.raises(PrivateAddress):
        await fetcher.fetch(shop.url("/go"))

    assert connections == [("127.0.0.1", shop.port)]  # the first hop only
    assert shop.hits == {"/go": 1}


async def test_first_hop_to_loopback_is_refused_with_the_guard_on(
    shop: Shop, make_fetcher, connections
) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    fetcher = make_fetcher(allow_private_hosts=False)

    with pytest.raises(PrivateAddress):
        await fetcher.fetch(shop.url("/p"))
    with pytest.raises(PrivateAddress):
        await fetcher.fetch(f"http://localhost:{shop.port}/p")

    assert connections == []
    assert shop.hits == {}


async def test_guard_is_on_by_default(shop: Shop, connections) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    fetcher = HttpFetcher()
    try:
        with pytest.raises(PrivateAddress):
            await fetcher.fetch(shop.url("/p"))
    finally:
        await fetcher.aclose()
    assert connections == []


async def test_allowed_host_passes_the_guard(shop: Shop, make_fetcher, connections) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    fetcher = make_fetcher(allow_private_hosts=False, allowed_hosts=frozenset({"127.0.0.1"}))

    assert (await fetcher.fetch(shop.url("/p"))).body == PAGE
    assert connections == [("127.0.0.1", shop.port)]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
        "::ffff:8.8.8.8",  # mapped public IPv4
        "64:ff9b::808:808",  # NAT64 of a public IPv4
        "2002:808:808::1",  # 6to4 of a public IPv4
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:{port}/p",
        "http://[::1]:{port}/p",
        "http://[::ffff:127.0.0.1]:{port}/p",
        "http://127.1:{port}/p",
    ],
)
async def test_a_literal_private_address_is_refused_without_a_lookup_or_connection(
    shop: Shop, make_fetcher, connections, dns: FakeDns, url: str
) -> None:
    # aiohttp never asks a resolver about a literal: the transport's own check must hold.
    shop.route("/p", scripted(html))
    await started(shop)

    with pytest.raises(PrivateAddress):
        await make_fetcher(allow_private_hosts=False).fetch(url.format(port=shop.port))

    assert (connections, dns.lookups, shop.hits) == ([], [], {})


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], ["10.0.0.7"], ["::1"], ["93.184.215.14", "127.0.0.1"]],
    ids=["loopback", "private", "loopback-v6", "one-public-one-loopback"],
)
async def test_a_name_resolving_to_a_private_address_is_refused(
    shop: Shop, make_fetcher, connections, dns: FakeDns, answer: list[str]
) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    dns.answers["shop.test"] = answer

    with pytest.raises(PrivateAddress):
        await make_fetcher(allow_private_hosts=False).fetch(f"http://shop.test:{shop.port}/p")

    # A name with one private answer is refused as a whole, before any address is tried.
    assert dns.lookups == ["shop.test"]
    assert (connections, shop.hits) == ([], {})


async def test_an_allowed_name_is_resolved_once_and_reached_at_that_address(
    shop: Shop, make_fetcher, connections, dns: FakeDns
) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    dns.answers["shop.test"] = ["127.0.0.1"]
    fetcher = make_fetcher(allow_private_hosts=False, allowed_hosts=frozenset({"shop.test"}))

    for _ in range(2):
        assert (await fetcher.fetch(f"http://shop.test:{shop.port}/p")).body == PAGE

    # One lookup for the one new connection, which went to the address it answered; the
    # request still names the host.
    assert dns.lookups == ["shop.test"]
    assert connections == [("127.0.0.1", shop.port)]
    assert shop.requests[0].headers["Host"] == f"shop.test:{shop.port}"


@pytest.mark.parametrize("guard", [True, False], ids=["guard-on", "guard-off"])
async def test_an_unknown_name_is_an_invalid_url(
    make_fetcher, connections, dns: FakeDns, guard: bool
) -> None:
    with pytest.raises(InvalidUrl) as raised:
        await make_fetcher(allow_private_hosts=not guard).fetch("http://no-such-shop.test/p")

    assert raised.value.user_message == (
        "I cannot find the website no-such-shop.test: the name does not exist. Check the link."
    )
    assert dns.lookups == ["no-such-shop.test"]  # not retried: it will not start existing
    assert connections == []


async def test_a_slow_lookup_times_out(make_fetcher, connections, dns: FakeDns) -> None:
    async def never() -> list[str]:
        await asyncio.sleep(30)
        return ["127.0.0.1"]

    dns.answers["slow.test"] = never

    began = time.monotonic()
    with pytest.raises(Timeout):
        await make_fetcher(connect_timeout=0.2, max_retries=0).fetch("http://slow.test/p")
    assert time.monotonic() - began < 1.0
    assert connections == []


@pytest.mark.parametrize(
    "url",
    [
        "ftp://shop.example/x",
        "shop.example/x",
        "http://",
        "javascript:alert(1)",
        "http://user:pw@shop.example/",
        "http://exa mple.com/",
        "https://" + "a" * 5000 + ".com/",
    ],
)
async def test_malformed_urls_are_refused_without_traffic(make_fetcher, connections, url) -> None:
    with pytest.raises(InvalidUrl):
        await make_fetcher().fetch(url)
    assert connections == []


# ----- time and size limits ------------------------------------------------------------


async def test_slow_response_times_out_in_bounded_time(shop: Shop, make_fetcher) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return html()

    shop.route("/slow", slow)
    await started(shop)
    fetcher = make_fetcher(total_timeout=0.3, max_retries=1)

    began = time.monotonic()
    with pytest.raises(Timeout):
        await fetcher.fetch(shop.url("/slow"))
    assert time.monotonic() - began < 1.5
    assert shop.hits["/slow"] == 2  # timeouts are retried, within the bound


async def test_dripping_body_times_out(make_fetcher) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
        )
        while True:  # a byte every 50 ms never trips a read timeout, only the total one
            writer.write(b"<")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with raw_server(drip) as port:
        began = time.monotonic()
        with pytest.raises(Timeout):
            await make_fetcher(total_timeout=0.4, max_retries=0).fetch(f"http://127.0.0.1:{port}/")
        assert time.monotonic() - began < 1.5


async def test_declared_oversize_is_refused_before_reading(make_fetcher) -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 50000000\r\n\r\n"
        )
        await writer.drain()
        await asyncio.sleep(30)  # never sends the body: only the header can end this fast

    async with raw_server(huge) as port:
        began = time.monotonic()
        with pytest.raises(TooLarge):
            await make_fetcher(max_bytes=1_000_000).fetch(f"http://127.0.0.1:{port}/")
        assert time.monotonic() - began < 1.0


async def test_endless_chunked_body_is_cut_off(make_fetcher) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"<p>" + b"x" * 16_000 + b"</p>"
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()

    async with raw_server(endless) as port:
        began = time.monotonic()
        with pytest.raises(TooLarge):
            await make_fetcher(max_bytes=500_000).fetch(f"http://127.0.0.1:{port}/")
        assert time.monotonic() - began < 2.0


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """40 MB of zeros in about 180 KB of gzip."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(40)) + packer.flush()


@pytest.fixture(scope="module")
def brotli_bomb() -> bytes:
    """100 MB of zeros in a few hundred bytes of brotli."""
    return brotli.compress(b"\0" * (100 << 20), quality=5)


@pytest.mark.parametrize("kind", ["gzip", "br"])
async def test_decompression_bomb_is_stopped_with_bounded_memory(
    shop: Shop, make_fetcher, gzip_bomb: bytes, brotli_bomb: bytes, kind: str
) -> None:
    bomb = gzip_bomb if kind == "gzip" else brotli_bomb

    async def page(request: web.Request) -> web.Response:
        return html(bomb, **{"Content-Encoding": kind})

    shop.route("/bomb", page)
    await started(shop)
    fetcher = make_fetcher(max_bytes=1_000_000)
    assert len(bomb) < 1_000_000  # the declared size passes; only the decoded size can stop it

    tracemalloc.start()
    try:
        began = time.monotonic()
        with pytest.raises(TooLarge):
            await fetcher.fetch(shop.url("/bomb"))
        elapsed = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Server-side the whole compressed bomb sits in memory too; the decoded 100-200 MB never does.
    assert peak < len(bomb) + 12_000_000
    assert elapsed < 2.0


# ----- content checks ------------------------------------------------------------------


async def test_image_is_not_a_product_page(shop: Shop, make_fetcher) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    async def unlabelled(request: web.Request) -> web.Response:
        response = web.Response(body=png)
        response.headers.popall("Content-Type", None)
        return response

    shop.route("/img", image)
    shop.route("/unlabelled", unlabelled)
    await started(shop)
    fetcher = make_fetcher()

    with pytest.raises(NotAProductPage):
        await fetcher.fetch(shop.url("/img"))
    with pytest.raises(NotAProductPage):
        await fetcher.fetch(shop.url("/unlabelled"))


@pytest.mark.parametrize("status", [404, 410])
async def test_gone_pages_are_not_found_without_retries(shop: Shop, make_fetcher, status) -> None:
    shop.route("/p", scripted(lambda: web.Response(status=status, text="gone")))
    await started(shop)

    with pytest.raises(NotFound):
        await make_fetcher().fetch(shop.url("/p"))
    assert shop.hits["/p"] == 1


async def test_forbidden_is_blocked_without_retries(shop: Shop, make_fetcher) -> None:
    shop.route("/p", scripted(lambda: web.Response(status=403, text="no")))
    await started(shop)

    with pytest.raises(Blocked):
        await make_fetcher().fetch(shop.url("/p"))
    assert shop.hits["/p"] == 1


BOT_WALLS = {
    "amazon": b"""<html><head><title dir="ltr">Amazon.com</title></head><body>
        <h4>Type the characters you see in this image:</h4>
        <form method="get" action="/errors/validateCaptcha" name="">
        <input type=hidden name="amzn" value="abc"/></form></body></html>""",
    "amazon-old": b"<html><head><title>Robot Check</title></head><body>Enter the characters"
    b" you see below</body></html>",
    "cloudflare": b"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
        </head><body><script>(function(){window._cf_chl_opt={cvId: '3',cZone: 'shop.example'};
        }());</script></body></html>""",
    "datadome": b"""<html><head><title>shop.example</title></head><body><script>var dd={'rt':'c',
        'cid':'AHrlqAAA','hsh':'AB12','t':'fe','host':'geo.captcha-delivery.com'}</script>
        <script src="https://ct.captcha-delivery.com/c.js"></script></body></html>""",
    "perimeterx": b"""<html><head><title>Access to this page has been denied</title></head>
        <body><div id="px-captcha"></div><p>Press &amp; Hold to confirm you are a human</p>
        </body></html>""",
    "akamai": b"""<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>
        You don't have permission to access "http://shop.example/p" on this server.<P>
        Reference #18.6f5d3e17.1700000000.1a2b3c4d<P>https://errors.edgesuite.net/18.6f5d3e17
        </BODY></HTML>""",
}


@pytest.mark.parametrize("vendor", sorted(BOT_WALLS))
async def test_captcha_page_with_200_is_blocked(shop: Shop, make_fetcher, vendor: str) -> None:
    shop.route("/p", scripted(lambda: html(BOT_WALLS[vendor])))
    await started(shop)

    with pytest.raises(Blocked):
        await make_fetcher().fetch(shop.url("/p"))


async def test_cloudflare_challenge_with_503_is_blocked_not_retried(
    shop: Shop, make_fetcher
) -> None:
    async def challenge(request: web.Request) -> web.Response:
        return web.Response(
            status=503,
            body=BOT_WALLS["cloudflare"],
            content_type="text/html",
            headers={"cf-mitigated": "challenge", "Server": "cloudflare"},
        )

    shop.route("/p", challenge)
    await started(shop)

    with pytest.raises(Blocked):
        await make_fetcher().fetch(shop.url("/p"))
    assert shop.hits["/p"] == 1


async def test_ordinary_page_behind_cloudflare_is_not_a_bot_wall(shop: Shop, make_fetcher) -> None:
    # Cloudflare injects this script into normal pages; it must not read as a challenge.
    page = PAGE.replace(
        b"</body>",
        b'<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script></body>',
    )
    shop.route("/p", scripted(lambda: html(page, Server="cloudflare")))
    await started(shop)

    assert (await make_fetcher().fetch(shop.url("/p"))).body == page


# ----- retries -------------------------------------------------------------------------


def scripted(
    *responses: Callable[[], web.Response],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A handler answering with each response in turn, then repeating the last."""
    served = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal served
        make = responses[min(served, len(responses) - 1)]
        served += 1
        return make()

    return handler


async def test_server_errors_are_retried_until_success(shop: Shop, make_fetcher) -> None:
    error = lambda: web.Response(status=500, text="oops")  # noqa: E731
    shop.route("/p", scripted(error, error, html))
    await started(shop)

    result = await make_fetcher(max_retries=3).fetch(shop.url("/p"))

    assert result.body == PAGE
    assert shop.hits["/p"] == 3


async def test_persistent_server_error_is_transient_after_bounded_retries(
    shop: Shop, make_fetcher
) -> None:
    shop.route("/p", scripted(lambda: web.Response(status=502, text="bad gateway")))
    await started(shop)

    began = time.monotonic()
    with pytest.raises(TransientFetchError):
        await make_fetcher(max_retries=3).fetch(shop.url("/p"))
    assert shop.hits["/p"] == 4
    assert time.monotonic() - began < 1.0


async def test_dropped_connection_is_retried(make_fetcher) -> None:
    attempts = 0

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return  # hang up without a response
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(PAGE), PAGE)
        )
        await writer.drain()

    async with raw_server(flaky) as port:
        result = await make_fetcher().fetch(f"http://127.0.0.1:{port}/")
    assert result.body == PAGE and attempts == 2


@pytest.mark.parametrize("how", ["short-body", "cut-chunk", "reset"])
async def test_a_connection_lost_mid_body_is_retried_then_transient(make_fetcher, how) -> None:
    attempts = 0
    fetcher = make_fetcher(max_retries=1)
    reading_body = asyncio.Event()

    async def headers_arrived(response: httpx.Response) -> None:
        reading_body.set()  # the fetcher has the headers and goes on to read the body

    fetcher._client.event_hooks["response"].append(headers_arrived)

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        reading_body.clear()
        if how == "cut-chunk":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n4000\r\n<p>" + b"x" * 1000
            )
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n"
                b"\r\n<p>" + b"x" * 1000
            )
        await writer.drain()
        await reading_body.wait()
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST, not FIN

    async with raw_server(cut) as port:
        with pytest.raises(TransientFetchError) as raised:
            await fetcher.fetch(f"http://127.0.0.1:{port}/")

    assert not isinstance(raised.value, RetryLater)
    assert attempts == 2  # one retry, the fetcher's: the transport does not resend by itself


async def test_a_connection_dropped_before_the_response_is_not_resent_by_the_transport(
    make_fetcher,
) -> None:
    attempts = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1  # and hang up without a response

    async with raw_server(hang_up) as port:
        with pytest.raises(TransientFetchError):
            await make_fetcher(max_retries=0).fetch(f"http://127.0.0.1:{port}/")
    assert attempts == 1  # retries are the fetcher's to count and pace


async def test_a_refused_connection_is_retried_then_said_as_it_is(
    make_fetcher, connections
) -> None:
    """Not "a temporary error": the shop's server refused, which the user can act on."""
    with socket.socket() as placeholder:  # a port nothing listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]

    with pytest.raises(Unreachable) as raised:
        await make_fetcher(max_retries=1).fetch(f"http://127.0.0.1:{port}/")
    assert connections == [("127.0.0.1", port)] * 2
    assert "refused the connection" in raised.value.user_message
    assert raised.value.reason == "unreachable"


async def test_a_redirect_httpx_cannot_send_is_an_invalid_url(shop: Shop, make_fetcher) -> None:
    """httpx raises InvalidURL, which is no HTTPError, for "http:host/x": it used to escape."""
    bad = lambda: web.Response(status=302, headers={"Location": "http:x/y"})  # noqa: E731
    shop.route("/go", scripted(bad))
    await started(shop)
    with pytest.raises(InvalidUrl, match="to an address that is not valid"):
        await make_fetcher().fetch(shop.url("/go"))


async def test_only_the_fetchers_headers_are_sent_in_their_case(shop: Shop, make_fetcher) -> None:
    shop.route("/p", scripted(html))
    await started(shop)

    await make_fetcher().fetch(shop.url("/p"))

    names = [name for name, _ in shop.requests[0].raw_headers]
    assert sorted(names) == sorted(
        [b"Host", b"Connection", b"User-Agent", b"Accept", b"Accept-Language", b"Accept-Encoding"]
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
        (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
        (aiohttp.ClientPayloadError("cut short"), httpx.RemoteProtocolError),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), httpx.ReadError),
        (aiohttp.ClientConnectionResetError("reset"), httpx.ReadError),
    ],
)
def test_aiohttp_errors_map_to_the_httpx_errors_the_fetcher_classifies(error, expected) -> None:
    mapped = _httpx_error(error, sending=False)
    assert type(mapped) is expected


async def test_a_request_waiting_for_a_free_connection_times_out_as_pool_timeout(
    shop: Shop,
) -> None:
    shop.route("/p", scripted(html))
    await started(shop)
    transport = AiohttpTransport(
        resolver=GuardedResolver(guard=False), limits=httpx.Limits(max_connections=1)
    )
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(2, pool=0.1)) as client:
        first = await client.send(client.build_request("GET", shop.url("/p")), stream=True)
        try:
            with pytest.raises(httpx.PoolTimeout):
                await client.get(shop.url("/p"))
        finally:
            await first.aclose()
        assert (await client.get(shop.url("/p"))).content == PAGE  # the slot came back


async def test_429_retry_after_is_waited_out(shop: Shop, make_fetcher) -> None:
    too_many = lambda: web.Response(status=429, headers={"Retry-After": "1"})  # noqa: E731
    shop.route("/p", scripted(too_many, html))
    await started(shop)

    began = time.monotonic()
    result = await make_fetcher(max_retry_after=5.0).fetch(shop.url("/p"))

    assert result.body == PAGE
    assert time.monotonic() - began >= 0.95
    assert shop.hits["/p"] == 2


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_long_retry_after_fails_at_once_with_the_wait(
    shop: Shop, make_fetcher, status: int, form: str
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    value = "3600" if form == "seconds" else format_datetime(later, usegmt=True)
    shop.route(
        "/p",
        scripted(lambda: web.Response(status=status, headers={"Retry-After": value})),
    )
    await started(shop)

    began = time.monotonic()
    with pytest.raises(RetryLater) as raised:
        await make_fetcher(max_retry_after=5.0).fetch(shop.url("/p"))
    assert time.monotonic() - began < 0.5
    assert raised.value.retry_after == pytest.approx(3600, abs=5)
    assert isinstance(raised.value, TransientFetchError)  # callers that only know the base
    assert shop.hits["/p"] == 1


def test_retry_after_parsing() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 0 ") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    # An HTTP-date counts from the server's own Date header when it sends one.
    assert parse_retry_after(
        "Wed, 21 Oct 2015 07:28:00 GMT", server_date="Wed, 21 Oct 2015 07:27:30 GMT"
    ) == pytest.approx(30)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # long past


def test_backoff_grows_is_jittered_and_capped() -> None:
    assert backoff_delay(1, base=0.5, cap=30, rand=lambda: 0.0) == 0.25
    assert backoff_delay(1, base=0.5, cap=30, rand=lambda: 1.0) == 0.5
    assert backoff_delay(3, base=0.5, cap=30, rand=lambda: 1.0) == 2.0
    assert backoff_delay(20, base=0.5, cap=30, rand=lambda: 1.0) == 30


# ----- politeness ----------------------------------------------------------------------


async def test_at_most_two_requests_in_flight_per_host(shop: Shop, make_fetcher) -> None:
    counter = InFlight()
    shop.route("/p", counter.slow_page)
    await started(shop)
    fetcher = make_fetcher(per_host_concurrency=2)

    results = await asyncio.gather(*(fetcher.fetch(shop.url("/p")) for _ in range(10)))

    assert all(result.body == PAGE for result in results)
    assert counter.peak == 2  # never more, and the second slot is actually used


async def test_minimum_gap_between_requests_to_one_host(shop: Shop, make_fetcher) -> None:
    arrivals: list[float] = []

    async def page(request: web.Request) -> web.Response:
        arrivals.append(time.monotonic())
        return html()

    shop.route("/p", page)
    await started(shop)
    fetcher = make_fetcher(per_host_concurrency=2, per_host_min_gap=0.2)
    await fetcher.fetch(shop.url("/p"))  # warm up: connection set-up must not skew arrivals
    arrivals.clear()

    await asyncio.gather(*(fetcher.fetch(shop.url("/p")) for _ in range(4)))

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == 3
    # Starts are 0.2 s apart client-side; allow a little loopback latency jitter.
    assert min(gaps) >= 0.18


# ----- connection pool -------------------------------------------------------------------


async def test_one_keep_alive_connection_serves_fetch_after_fetch(
    shop: Shop, make_fetcher, connections
) -> None:
    shop.route("/p", lambda request: _async(html()))
    await started(shop)
    fetcher = make_fetcher()

    for _ in range(5):
        assert (await fetcher.fetch(shop.url("/p"))).body == PAGE

    assert connections == [("127.0.0.1", shop.port)]


async def test_open_connections_stay_within_max_connections(
    shop: Shop, make_fetcher, connections
) -> None:
    counter = InFlight()
    shop.route("/p", counter.slow_page)
    await started(shop)
    fetcher = make_fetcher(per_host_concurrency=8, max_connections=3)

    results = await asyncio.gather(*(fetcher.fetch(shop.url("/p")) for _ in range(9)))

    assert all(result.body == PAGE for result in results)
    assert counter.peak == 3
    assert len(connections) == 3  # the queued requests waited for a connection to come back


async def test_an_idle_connection_to_another_host_makes_room(
    shop: Shop, make_fetcher, connections
) -> None:
    shop.route("/p", lambda request: _async(html()))
    await started(shop)
    other = Shop()
    other.route("/q", lambda request: _async(html()))
    await started(other)
    other_port = other.port
    try:
        fetcher = make_fetcher(max_connections=1)
        for url in (shop.url("/p"), other.url("/q"), shop.url("/p")):
            assert (await fetcher.fetch(url)).body == PAGE
    finally:
        assert other.server is not None
        await other.server.close()

    # One socket at a time: each host's idle connection was closed for the other's.
    assert connections == [
        ("127.0.0.1", shop.port),
        ("127.0.0.1", other_port),
        ("127.0.0.1", shop.port),
    ]


async def test_a_body_left_unread_does_not_poison_the_pool(shop: Shop, make_fetcher) -> None:
    big = b"<html>" + b"x" * 200_000 + b"</html>"
    shop.route("/big", lambda request: _async(html(big)))
    shop.route("/p", lambda request: _async(html()))
    await started(shop)
    fetcher = make_fetcher(max_bytes=50_000, max_connections=1)

    with pytest.raises(TooLarge):
        await fetcher.fetch(shop.url("/big"))
    assert (await fetcher.fetch(shop.url("/p"))).body == PAGE


async def _async(response: web.Response) -> web.Response:
    return response


# ----- policy --------------------------------------------------------------------------


def test_policy_defaults_match_the_issue_and_allowed_hosts_are_normalised() -> None:
    policy = FetchPolicy(allowed_hosts="127.0.0.1")  # type: ignore[arg-type]
    assert (policy.connect_timeout, policy.total_timeout, policy.max_bytes) == (5, 20, 5_000_000)
    assert (policy.max_redirects, policy.per_host_concurrency, policy.per_host_min_gap) == (5, 2, 1)
    assert (policy.max_retries, policy.backoff_base, policy.backoff_max) == (3, 0.5, 30)
    assert policy.allow_private_hosts is False
    assert policy.allowed_hosts == frozenset({"127.0.0.1"})
    assert FetchPolicy(allowed_hosts=["Shop.LAN.", "[::1]"]).allowed_hosts == {"shop.lan", "::1"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    [{"total_timeout": 0}, {"max_bytes": 0}, {"per_host_concurrency": 0}, {"max_retries": -1}],
)
def test_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FetchPolicy(**bad)  # type: ignore[arg-type]
