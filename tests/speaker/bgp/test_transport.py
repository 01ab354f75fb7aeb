"""Socket plumbing: the tcp_md5sig layout, the kernel's MD5 drop counters, and interface facts in a namespace."""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from hack.lab.netns import Topology
from speaker.bgp import transport as tcp


@pytest.mark.parametrize(
    ("peer", "family", "address_at"),
    [
        pytest.param(ipaddress.IPv4Address("192.0.2.1"), socket.AF_INET, slice(4, 8), id="ipv4-sockaddr-in"),
        pytest.param(ipaddress.IPv6Address("2001:db8::1"), socket.AF_INET6, slice(8, 24), id="ipv6-sockaddr-in6"),
    ],
)
def test_md5sig_is_a_linux_tcp_md5sig(peer: tcp.IPAddress, family: int, address_at: slice) -> None:
    raw = tcp.md5sig(peer, "s3cret")
    assert len(raw) == 128 + 1 + 1 + 2 + 4 + 80
    assert struct.unpack_from("=H", raw)[0] == family
    assert raw[address_at] == peer.packed
    flags, prefixlen, keylen, ifindex = struct.unpack_from("=BBHI", raw, 128)
    assert (flags, prefixlen, keylen, ifindex) == (0, 0, 6, 0)
    assert raw[136:142] == b"s3cret" and raw[142:] == bytes(74)


def test_no_password_means_an_empty_key_which_deletes_it() -> None:
    raw = tcp.md5sig(ipaddress.IPv4Address("192.0.2.1"), None)
    assert struct.unpack_from("=H", raw, 130)[0] == 0


def test_a_password_longer_than_80_octets_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 80"):
        tcp.md5sig(ipaddress.IPv4Address("192.0.2.1"), "x" * 81)


def test_the_kernel_accepts_the_key_on_a_socket() -> None:
    # setsockopt only: no packet is sent
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        tcp.set_md5(sock, ipaddress.IPv4Address("192.0.2.1"), "s3cret")
        tcp.set_ttl(sock)
        assert sock.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 255


def test_md5_drop_counters_read_tcpext(tmp_path: Path) -> None:
    netstat = tmp_path / "netstat"
    netstat.write_text(
        "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\n"
        "TcpExt: 0 3 1 7\n"
        "IpExt: InNoRoutes\nIpExt: 0\n"
    )
    assert tcp.md5_drop_counters(netstat) == {"TCPMD5NotFound": 3, "TCPMD5Unexpected": 1, "TCPMD5Failure": 7}
    assert tcp.md5_drop_counters(tmp_path / "missing") == {}


@pytest.mark.netns
def test_interface_facts_find_the_other_addresses_of_the_session_interface(
    topology: Callable[..., Topology],
) -> None:
    topo = topology(nodes=1, router=True, client=False)
    with topo.entered("node1"):
        facts = tcp.interface_facts(ipaddress.IPv4Address("192.0.2.11"), ipaddress.IPv4Address("192.0.2.1"))
        remote = tcp.interface_facts(ipaddress.IPv4Address("192.0.2.11"), ipaddress.IPv4Address("203.0.113.1"))
        unknown = tcp.interface_facts(ipaddress.IPv4Address("198.51.100.99"), ipaddress.IPv4Address("192.0.2.1"))
    assert facts.ipv4 == ipaddress.IPv4Address("192.0.2.11")
    assert facts.ipv6 == ipaddress.IPv6Address("2001:db8::11")
    assert facts.ipv6_link_local is not None and facts.ipv6_link_local.is_link_local
    assert facts.on_link and not remote.on_link
    assert unknown == tcp.InterfaceFacts()
