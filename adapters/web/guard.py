"""Address guard: resolve a host, refuse non-public addresses, connect to the address checked.

The check lives in an aiohttp resolver, the one place every new connection to a named host
passes through, so it covers the first hop, every redirect and every retry. aiohttp opens
the socket to exactly the addresses this resolver returned (the connector's own DNS cache is
off, and nothing resolves the name a second time), so a second DNS answer (DNS rebinding)
never gets a say. aiohttp skips the resolver for IP-literal hosts, so the transport calls
`check_host` on every request too, before a connection is looked for. TLS still verifies the
certificate against the host name, not the address: aiohttp sends the URL's host as SNI.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver

from adapters.web.policy import normalise_host
from core.errors import InvalidUrl, PrivateAddress

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult  # a TypedDict, in aiohttp 3.10 and later

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Embedded-IPv4 prefixes a packet can be translated through (RFC 6052 NAT64, local-use
# RFC 8215); the IPv4 inside must pass the same test.
_NAT64_PREFIXES = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)

# getaddrinfo codes that mean "this name does not exist" rather than "DNS is down".
_NAME_UNKNOWN = {
    code
    for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
    if code is not None
}

# What aiohttp's connector expects of a resolved address: numeric, never looked up again.
_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified, shared
    (CGNAT) and site-local addresses, also when hidden inside an IPv6 form."""
    if isinstance(address, ipaddress.IPv6Address):
        # Mapped and NAT64 addresses are their IPv4 address in IPv6 form: judge that one
        # (Python 3.11 calls ::ffff:127.0.0.1 "not loopback").
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if any(address in prefix for prefix in _NAT64_PREFIXES):
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        # 6to4 and Teredo carry an IPv4 address too; both it and the outer one must pass.
        embedded = address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None and not is_public_address(embedded):
            return False
        if address.is_site_local:
            return False
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def parse_address(host: str) -> IPAddress | None:
    """The address when `host` is an IP literal (brackets and zone id allowed), else None."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a numeric host that is not a dotted quad stands for ("2130706433",
    "127.1", "127.0.0.1."), or None when socket functions would not take it either."""
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        return None


class GuardedResolver(AbstractResolver):
    """Resolves with the event loop's getaddrinfo and returns only checked addresses.

    With guard=False addresses are still resolved here (so name errors read the same) but
    not checked; hosts in allowed_hosts skip the check while the guard stays on.
    """

    def __init__(
        self,
        *,
        guard: bool,
        allowed_hosts: Iterable[str] = (),
        resolve_timeout: float = 5.0,
    ) -> None:
        self._guard = guard
        self._allowed_hosts = frozenset(normalise_host(host) for host in allowed_hosts)
        self._resolve_timeout = resolve_timeout

    def check_host(self, host: str) -> None:
        """The per-request check of a URL's host, before any connection is looked for.

        Refuses localhost names and IP literals the guard does not allow (aiohttp never
        asks the resolver about a literal), and numeric hosts in the legacy IPv4 forms
        aiohttp cannot open. Names are judged by `resolve`, on every new connection.
        """
        guarded = self._is_guarded(host)
        if guarded and _is_localhost_name(host):
            raise PrivateAddress()  # RFC 6761: these names are loopback, whatever DNS says
        literal = parse_address(host)
        if literal is not None:
            if guarded and not is_public_address(literal):
                raise PrivateAddress()
            return
        if host.replace(".", "").isdigit():
            # aiohttp refuses numeric hosts other than a dotted quad itself, never asking
            # the resolver, while socket functions map them onto an address: judge that
            # address first, so a link to loopback still reads as a private address.
            legacy = _numeric_ipv4(host)
            if guarded and legacy is not None and not is_public_address(legacy):
                raise PrivateAddress()
            raise InvalidUrl(
                f"{host} is an address written in an old numeric form. Send the shop's link."
            )

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        """The host's addresses, IPv4 first, each allowed by the guard; PrivateAddress if
        any is not (a name with one private answer is treated as hostile as a whole)."""
        guarded = self._is_guarded(host)
        if guarded and _is_localhost_name(host):
            raise PrivateAddress()
        literal = parse_address(host)
        addresses = [literal] if literal is not None else await self._lookup(host, port, family)
        if guarded:
            for address in addresses:
                if not is_public_address(address):
                    raise PrivateAddress()
        return [
            {
                "hostname": host,
                "host": address.compressed,  # keeps a zone id ("fe80::1%eth0")
                "port": port,
                "family": socket.AF_INET if address.version == 4 else socket.AF_INET6,
                "proto": socket.IPPROTO_TCP,
                "flags": _NUMERIC,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        """Nothing to release: lookups run in the loop's default executor."""

    def _is_guarded(self, host: str) -> bool:
        return self._guard and normalise_host(host) not in self._allowed_hosts

    async def _lookup(self, host: str, port: int, family: int) -> list[IPAddress]:
        # Errors are raised as aiohttp expects of a resolver: OSError (which it reports as a
        # connection error) or TimeoutError (a connect timeout); InvalidUrl reaches the
        # fetcher's caller unchanged.
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._resolve_timeout):
                answers = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
        except TimeoutError as error:
            raise TimeoutError(f"resolving {host} timed out") from error
        except socket.gaierror as error:
            if error.errno in _NAME_UNKNOWN:
                raise InvalidUrl(
                    f"I cannot find the website {host}: the name does not exist. Check the link."
                ) from error
            raise OSError(f"resolving {host} failed: {error}") from error
        except UnicodeError as error:  # a label IDNA cannot encode
            raise InvalidUrl() from error
        addresses: list[IPAddress] = []
        for answer_family, _type, _proto, _name, sockaddr in answers:
            if answer_family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]))  # keeps a zone id ("%eth0")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OSError(f"{host} has no IPv4 or IPv6 address")
        # IPv4 first: aiohttp tries them in this order (happy eyeballs starting the next
        # attempt 250 ms in), so a host whose IPv6 route is black-holed costs little.
        addresses.sort(key=lambda address: address.version)
        return addresses
