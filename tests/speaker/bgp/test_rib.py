"""The Adj-RIB-Out: desired versus sent, and the packing of the difference into as few UPDATEs as fit."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import EncodeContext, IPNetwork, MpReach, PathAttributes
from speaker.bgp.core.messages import Update, decode_message, message_length
from speaker.bgp.core.rib import AdjRibOut, Family, RouteAttrs, routes_from

CTX = EncodeContext()
NH4 = ipaddress.IPv4Address("192.0.2.11")
NH6 = ipaddress.IPv6Address("2001:db8::11")


def attributes_for(family: Family, route: RouteAttrs) -> PathAttributes | None:
    base = PathAttributes(origin=0, as_path=(), local_pref=route.local_pref, communities=route.communities)
    if family == iana.IPV4_UNICAST:
        return replace(base, next_hop=NH4)
    return replace(base, mp_reach=MpReach(2, 1, (NH6,)))


def decode_all(messages: tuple[bytes, ...]) -> list[Update]:
    out = []
    for data in messages:
        assert len(data) <= iana.MAX_MESSAGE_LEN
        assert message_length(data) == len(data)
        update = decode_message(data)
        assert isinstance(update, Update)
        out.append(update)
    return out


def announced(updates: list[Update]) -> list[IPNetwork]:
    out: list[IPNetwork] = []
    for u in updates:
        out += u.nlri
        if u.attributes.mp_reach is not None:
            out += u.attributes.mp_reach.nlri
    return out


def withdrawn(updates: list[Update]) -> list[IPNetwork]:
    out: list[IPNetwork] = []
    for u in updates:
        out += u.withdrawn
        if u.attributes.mp_unreach is not None:
            out += u.attributes.mp_unreach.withdrawn
    return out


@pytest.mark.parametrize(
    ("count", "plen", "updates"),
    [
        pytest.param(10_000, 32, 13, id="ten-thousand-ipv4-host-routes-in-13-updates"),
        pytest.param(800, 32, 1, id="eight-hundred-fit-in-one"),
        pytest.param(2000, 24, 2, id="slash-24s-take-four-octets-each-1014-fit"),
    ],
)
def test_prefixes_sharing_attributes_are_packed_into_full_updates(count: int, plen: int, updates: int) -> None:
    rib = AdjRibOut()
    shift = 32 - plen
    rib.set_desired(routes_from([ipaddress.IPv4Network(((10 << 24) + (i << shift), plen)) for i in range(count)]))
    built = rib.build(attributes_for, CTX)
    decoded = decode_all(built.messages)
    assert len(decoded) == updates
    assert len(announced(decoded)) == count == built.announced
    assert rib.pending() == 0


def test_ipv6_prefixes_go_in_mp_reach_and_are_packed_too() -> None:
    rib = AdjRibOut()
    rib.set_desired(routes_from([f"2001:db8:100::{i:x}/128" for i in range(1000)]))
    decoded = decode_all(rib.build(attributes_for, CTX).messages)
    assert len(decoded) == 5  # 17 octets a prefix: ~238 per UPDATE
    assert len(announced(decoded)) == 1000
    assert all(u.attributes.mp_reach is not None and u.attributes.mp_reach.next_hop == (NH6,) for u in decoded)


def test_each_attribute_group_gets_its_own_updates() -> None:
    rib = AdjRibOut()
    routes = routes_from(["198.51.100.1/32", "198.51.100.2/32"], RouteAttrs(communities=(1,)))
    routes |= routes_from(["198.51.100.3/32"], RouteAttrs(local_pref=200))
    rib.set_desired(routes)
    decoded = decode_all(rib.build(attributes_for, CTX).messages)
    assert [(u.attributes.communities, len(u.nlri)) for u in decoded] == [((1,), 2), ((), 1)]


def test_withdrawals_are_batched_and_come_first() -> None:
    rib = AdjRibOut()
    old = routes_from([f"10.0.{i // 256}.{i % 256}/32" for i in range(2000)] + ["2001:db8:100::1/128"])
    rib.set_desired(old)
    rib.build(attributes_for, CTX)
    rib.set_desired(routes_from(["198.51.100.1/32"]))
    decoded = decode_all(rib.build(attributes_for, CTX).messages)
    assert len(withdrawn(decoded)) == 2001
    assert [bool(u.withdrawn or u.attributes.mp_unreach) for u in decoded] == [True, True, True, True, False]
    assert [len(u.withdrawn) for u in decoded[:3]] == [814, 814, 372]  # (4096 - 23) / 5 per UPDATE
    assert announced(decoded) == [ipaddress.IPv4Network("198.51.100.1/32")]


def test_a_changed_route_is_announced_again_without_a_withdrawal() -> None:
    rib = AdjRibOut()
    rib.set_desired(routes_from(["198.51.100.1/32"]))
    rib.build(attributes_for, CTX)
    rib.set_desired(routes_from(["198.51.100.1/32"], RouteAttrs(communities=(7,))))
    decoded = decode_all(rib.build(attributes_for, CTX).messages)
    assert withdrawn(decoded) == [] and decoded[0].attributes.communities == (7,)


def test_nothing_to_send_builds_nothing() -> None:
    rib = AdjRibOut()
    rib.set_desired(routes_from(["198.51.100.1/32"]))
    rib.build(attributes_for, CTX)
    assert rib.build(attributes_for, CTX).messages == ()


def test_a_family_the_session_cannot_announce_stays_pending() -> None:
    rib = AdjRibOut()
    rib.set_desired(routes_from(["198.51.100.1/32", "2001:db8:100::1/128"]))
    built = rib.build(lambda family, route: attributes_for(family, route) if family == iana.IPV4_UNICAST else None, CTX)
    assert built.announced == 1 and rib.pending() == 1
    assert built.unsendable == ((iana.IPV6_UNICAST, 1),)


def test_reset_and_forget_make_everything_go_out_again() -> None:
    rib = AdjRibOut()
    rib.set_desired(routes_from(["198.51.100.1/32", "2001:db8:100::1/128"]))
    rib.build(attributes_for, CTX)
    rib.forget(iana.IPV6_UNICAST)
    assert rib.pending() == 1
    rib.reset()
    assert rib.pending() == 2
    assert rib.build(attributes_for, CTX).announced == 2
