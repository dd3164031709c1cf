"""Where the service may send requests of its own (webhook deliveries).

A URL must be ``http`` or ``https`` with a host; every address the host resolves to must
be public (not loopback, private, link-local, shared, reserved, multicast or
unspecified; IPv6 addresses that lead to an IPv4 address (mapped, NAT64, 6to4) are
judged as that IPv4 address, and IPv4-compatible and Teredo ones are refused; port 0 is
refused),
unless private targets are allowed (``TRADEPOST_WEBHOOKS_ALLOW_PRIVATE``). The check
runs when a webhook is saved and again before each delivery, which then connects to an
address it checked (``pinned``), so DNS cannot answer differently in between.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_SECONDS = 5.0


class RefusedURL(ValueError):
    """The URL may not be sent to; the message says why."""


class Unresolved(RefusedURL):
    """The host has no address (now)."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # the URL as configured
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def pinned(self) -> tuple[str, str]:
        """The URL with the host replaced by its first checked address, and the ``Host``
        header to send (for https, the host name also goes into TLS as SNI)."""
        parts = urlsplit(self.url)
        address = self.addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = literal if parts.port is None else f"{literal}:{parts.port}"
        host_header = parts.hostname or self.host
        if parts.port is not None:
            host_header = f"{host_header}:{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc)), host_header


NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ``::a.b.c.d``


def is_public(address: IPAddress) -> bool:
    """Public, and so is any IPv4 address it carries: IPv4-mapped (``::ffff:a.b.c.d``),
    NAT64 (``64:ff9b::a.b.c.d``) and 6to4 (``2002:aabb:ccdd::``) addresses are judged as
    the IPv4 address they lead to; IPv4-compatible (``::a.b.c.d``, deprecated) and Teredo
    addresses are refused."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in IPV4_COMPATIBLE or address.teredo is not None:
            return False
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and any(address in network for network in NAT64):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            address = carried
    return address.is_global and not address.is_multicast


async def resolve(url: str, *, allow_private: bool) -> Target:
    """The checked target, or ``RefusedURL`` (``Unresolved`` when DNS has no answer)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a bracketed host that is not IPv6, a port out of range, ...
        raise RefusedURL("endpoint_url is not a valid URL") from None
    if parts.scheme not in {"http", "https"}:
        raise RefusedURL("endpoint_url must be an http or https URL")
    if not host:
        raise RefusedURL("endpoint_url has no host")
    if port == 0:
        raise RefusedURL("endpoint_url has port 0")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = await _addresses(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused and not allow_private:
        raise RefusedURL(
            f"endpoint_url resolves to a non-public address ({refused[0]}); "
            "loopback, private and link-local targets are refused"
        )
    return Target(url, host, port, addresses)


async def _addresses(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_SECONDS
        )
    except (OSError, TimeoutError, ValueError):  # UnicodeError (IDNA) is a ValueError
        raise Unresolved(f"endpoint_url host {host} does not resolve") from None
    found = tuple(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    if not found:
        raise Unresolved(f"endpoint_url host {host} does not resolve")
    return found
