"""Shared values and builders for the L2 tests (independent of the code under test where it matters: scapy)."""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from speaker.l2.core.ethernet import parse_mac
from speaker.l2.core.responder import Interface

NODE_MAC = parse_mac("02:00:00:00:00:0b")
OTHER_NODE_MAC = parse_mac("02:00:00:00:00:0c")
CLIENT_MAC = parse_mac("02:00:00:00:00:64")
STRANGER_MAC = parse_mac("02:00:00:00:00:99")

ETH0 = Interface("eth0", NODE_MAC)
ETH1 = Interface("eth1", parse_mac("02:00:00:00:01:0b"))

VIP4 = ipaddress.IPv4Address("198.51.100.5")
VIP6 = ipaddress.IPv6Address("2001:db8:100::5")
OTHER4 = ipaddress.IPv4Address("198.51.100.6")
OTHER6 = ipaddress.IPv6Address("2001:db8:100::6")
CLIENT4 = ipaddress.IPv4Address("192.0.2.100")
CLIENT6 = ipaddress.IPv6Address("2001:db8::100")

macs = st.binary(min_size=6, max_size=6)
ipv4s = st.builds(ipaddress.IPv4Address, st.integers(min_value=0, max_value=2**32 - 1))
ipv6s = st.builds(ipaddress.IPv6Address, st.integers(min_value=0, max_value=2**128 - 1))
