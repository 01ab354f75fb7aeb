"""IP address vocabulary shared by every part of ironlb.

Kubernetes names address families "IPv4"/"IPv6" (``spec.ipFamilies``); the standard library names them by
version number. One enum bridges the two so that no module compares ``version == 4`` against ``"IPv4"``.
"""

from __future__ import annotations

import enum
import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class IPFamily(enum.StrEnum):
    """An address family, spelled as in ``Service.spec.ipFamilies``."""

    IPV4 = "IPv4"
    IPV6 = "IPv6"

    @property
    def version(self) -> int:
        return 4 if self is IPFamily.IPV4 else 6

    @classmethod
    def of(cls, address: IPAddress | IPNetwork) -> IPFamily:
        return cls.IPV4 if address.version == 4 else cls.IPV6


def parse_ip(text: str) -> IPAddress | None:
    """Parse one address, returning None for anything that is not exactly an address.

    Zone indices (``fe80::1%eth0``) are rejected: Service and pool addresses are never link-local scoped.
    """
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return address


def address_range_to_networks(first: IPAddress, last: IPAddress) -> tuple[IPNetwork, ...]:
    """The smallest list of CIDRs covering ``first``..``last`` inclusive (MetalLB summarizes ranges the same way)."""
    if first.version != last.version:
        raise ValueError(f"{first} and {last} are not of the same IP family")
    if int(first) > int(last):
        raise ValueError(f"start IP {first} is after the end IP {last}")
    if isinstance(first, ipaddress.IPv4Address) and isinstance(last, ipaddress.IPv4Address):
        return tuple(ipaddress.summarize_address_range(first, last))
    if isinstance(first, ipaddress.IPv6Address) and isinstance(last, ipaddress.IPv6Address):
        return tuple(ipaddress.summarize_address_range(first, last))
    raise ValueError(f"{first} and {last} are not of the same IP family")  # pragma: no cover - unreachable


__all__ = ["IPAddress", "IPFamily", "IPNetwork", "address_range_to_networks", "parse_ip"]
