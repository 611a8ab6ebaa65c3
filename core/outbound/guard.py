"""The address guard: which IP addresses Specgate may contact.

The policy lives here; it is applied twice. The transport asks `Guard.vetted_addresses` for
the answer of every name resolution, when the socket is opened (so a DNS answer that changes
between a check and the connect cannot slip through), and the exchange asks `Guard.permits`
for IP literals in URLs and redirect targets, before any socket exists.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: str | IPAddress) -> bool:
    """Whether an IP address is one Specgate may contact without an operator exemption."""
    ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.is_site_local:
            return False
    # is_global alone has shifted between Python releases; the explicit checks pin the policy.
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or ip in _CGNAT
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # Addresses that reach an IPv4 host are judged by that host: ::ffff:127.0.0.1 is loopback.
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


class AddressBlocked(Exception):
    """Raised from inside the connection pool when a host resolves to a forbidden address."""


@dataclass(frozen=True, slots=True)
class Guard:
    """One address policy. Hashable: the transport keeps one pool per policy."""

    allow_private: bool
    allowed_networks: tuple[IPNetwork, ...]

    def permits(self, address: str | IPAddress) -> bool:
        if self.allow_private:
            return True
        ip = ipaddress.ip_address(address.split("%", 1)[0]) if isinstance(address, str) else address
        return is_public_address(ip) or any(ip in network for network in self.allowed_networks)

    def vetted_addresses(self, resolved: Iterable[tuple[Any, ...]]) -> list[str]:
        """The distinct addresses of a getaddrinfo answer, refusing all if any is forbidden."""
        addresses = list(dict.fromkeys(str(info[4][0]) for info in resolved))
        # A name with one public and one private record is a rebinding trick, not a mistake.
        if not addresses or not all(self.permits(address) for address in addresses):
            raise AddressBlocked
        return addresses


@functools.lru_cache(maxsize=64)
def guard_for(allow_private: bool, allowed_networks: tuple[str, ...]) -> Guard:
    """The guard of a policy, its CIDRs parsed once; a mistyped CIDR raises ValueError."""
    networks = tuple(ipaddress.ip_network(cidr) for cidr in allowed_networks)
    return Guard(allow_private=allow_private, allowed_networks=networks)


@functools.lru_cache(maxsize=1024)
def literal_ip(host: str) -> IPAddress | None:
    """The address a URL host names literally, or None when it is a name.

    Cached: the same few upstream hosts are asked about on every call (addresses are immutable).
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
