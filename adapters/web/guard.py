"""Address guard: resolve a host, refuse non-public addresses, connect to the address checked.

The check lives in the httpcore network backend, the one place every new connection
passes through, so it covers the first hop, every redirect and every retry, and the
socket is opened to exactly the address that was checked: a second DNS answer (DNS
rebinding) never gets a say. TLS still verifies the certificate against the host name,
because httpcore passes the origin's name as SNI when it starts TLS on this stream.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore

from adapters.web.policy import normalise_host
from core.errors import InvalidUrl, PrivateAddress

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


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves with the event loop's getaddrinfo and connects to a checked address.

    With guard=False addresses are still resolved here (so name errors read the same) but
    not checked; hosts in allowed_hosts skip the check while the guard stays on.
    """

    def __init__(
        self,
        *,
        guard: bool,
        allowed_hosts: Iterable[str] = (),
        resolve_timeout: float = 5.0,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._guard = guard
        self._allowed_hosts = frozenset(normalise_host(host) for host in allowed_hosts)
        self._resolve_timeout = resolve_timeout
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error  # try the host's next address, like a browser would
        assert last_error is not None  # checked_addresses never returns an empty list
        raise last_error

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        """The host's addresses, each allowed by the guard; raises PrivateAddress if any is
        not (a name with one private answer is treated as hostile as a whole)."""
        guarded = self._guard and normalise_host(host) not in self._allowed_hosts
        if guarded and _is_localhost_name(host):
            raise PrivateAddress()  # RFC 6761: these names are loopback, whatever DNS says
        literal = parse_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            addresses = await self._resolve(host, port)
        if guarded:
            for address in addresses:
                if not is_public_address(address):
                    raise PrivateAddress()
        return [address.compressed for address in addresses]

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._resolve_timeout):
                answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError as error:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from error
        except socket.gaierror as error:
            if error.errno in _NAME_UNKNOWN:
                raise InvalidUrl(
                    f"I cannot find the website {host}: the name does not exist. Check the link."
                ) from error
            raise httpcore.ConnectError(f"resolving {host} failed: {error}") from error
        except UnicodeError as error:  # a label IDNA cannot encode
            raise InvalidUrl() from error
        addresses: list[IPAddress] = []
        for family, _type, _proto, _name, sockaddr in answers:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            address = ipaddress.ip_address(str(sockaddr[0]))  # keeps a zone id ("%eth0")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no IPv4 or IPv6 address")
        # IPv4 first: connections are tried one after another, and a host whose IPv6
        # route is black-holed would otherwise cost a full connect timeout per fetch.
        addresses.sort(key=lambda address: address.version)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the fetcher does not open unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
