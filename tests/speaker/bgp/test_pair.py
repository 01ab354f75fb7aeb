"""Scenarios on the pair harness: two sans-IO speakers in memory, on a fake clock (style anchor 12a).

``x`` plays the node's speaker, ``y`` the router (another instance of our own speaker, which is enough to check
what goes over the wire: every message is decoded by the harness's taps).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from speaker.bgp.core import iana
from speaker.bgp.core.attributes import AsPathSegment, IPNetwork
from speaker.bgp.core.capabilities import ExtendedNextHop, GracefulRestart
from speaker.bgp.core.errors import DropReason
from speaker.bgp.core.events import MessageDropped, SessionDown, SessionEstablished
from speaker.bgp.core.fsm import State
from speaker.bgp.core.messages import Notification, Open, RouteRefresh, Update
from speaker.bgp.core.outbound import SessionConfig
from speaker.bgp.core.rib import RouteAttrs
from tests.speaker.bgp.harness import Pair, config, prefixes, state_of

GSHUT = iana.WellKnownCommunity.GRACEFUL_SHUTDOWN.value
ROUTES = {
    p: RouteAttrs(local_pref=200, communities=(0xFDE80001,))
    for p in prefixes("198.51.100.10/32", "2001:db8:100::10/128")
}


def up(x: SessionConfig, y: SessionConfig, **kwargs: object) -> Pair:
    pair = Pair(x, y, **kwargs)  # type: ignore[arg-type]
    pair.x.peer.set_routes(ROUTES, pair.now)
    pair.start()
    pair.roundtrip_until_quiet()
    assert state_of(pair.x.session) is State.ESTABLISHED and state_of(pair.y.session) is State.ESTABLISHED
    return pair


def ebgp() -> Pair:
    return up(config(64513, 64512), config(64512, 64513, router_id="192.0.2.1", passive=True))


def ibgp() -> Pair:
    return up(config(64512, 64512), config(64512, 64512, router_id="192.0.2.1", passive=True))


def test_ebgp_session_carries_ipv4_and_ipv6_with_one_as_in_the_path_and_no_local_pref() -> None:
    pair = ebgp()
    routes = pair.routes_at(pair.y)
    v4, v6 = (routes[p] for p in prefixes("198.51.100.10/32", "2001:db8:100::10/128"))
    assert v4.as_path == (AsPathSegment(2, (64513,)),) and v4.origin == iana.Origin.IGP
    assert v4.next_hop == ipaddress.IPv4Address("192.0.2.11")
    assert v4.local_pref is None  # RFC 4271 5.1.5: never to an external peer
    assert v4.communities == (0xFDE80001,)
    assert v6.mp_reach is not None
    assert v6.mp_reach.next_hop == (ipaddress.IPv6Address("2001:db8::11"), ipaddress.IPv6Address("fe80::11"))


def test_ibgp_session_has_an_empty_as_path_and_the_local_pref() -> None:
    pair = ibgp()
    attrs = pair.routes_at(pair.y)[prefixes("198.51.100.10/32")[0]]
    assert attrs.as_path == () and attrs.local_pref == 200


def test_a_4_octet_as_goes_in_the_path_and_the_open_says_as_trans() -> None:
    pair = up(config(4200000001, 64512), config(64512, 4200000001, router_id="192.0.2.1", passive=True))
    (x_open,) = [m for m in pair.received_by(pair.y) if isinstance(m, Open)]
    assert x_open.my_as == iana.AS_TRANS and x_open.asn == 4200000001
    assert pair.routes_at(pair.y)[prefixes("198.51.100.10/32")[0]].as_path == (AsPathSegment(2, (4200000001,)),)


def test_over_an_ipv6_session_ipv4_routes_use_the_interface_ipv4_address() -> None:
    pair = up(config(64513, 64512), config(64512, 64513, router_id="192.0.2.1", passive=True), ipv6_transport=True)
    routes = pair.routes_at(pair.y)
    assert routes[prefixes("198.51.100.10/32")[0]].next_hop == ipaddress.IPv4Address("192.0.2.11")
    mp = routes[prefixes("2001:db8:100::10/128")[0]].mp_reach
    assert mp is not None and mp.next_hop[0] == ipaddress.IPv6Address("2001:db8::11")


def test_without_an_ipv4_address_ipv4_routes_use_an_ipv6_next_hop_rfc8950() -> None:
    pair = Pair(config(64513, 64512), config(64512, 64513, router_id="192.0.2.1", passive=True), ipv6_transport=True)
    pair.x.v4 = None
    pair.x.peer.set_routes(ROUTES, pair.now)
    pair.start()
    pair.roundtrip_until_quiet()
    (x_open,) = [m for m in pair.received_by(pair.y) if isinstance(m, Open)]
    assert ExtendedNextHop(((1, 1, 2),)) in x_open.capabilities
    mp = pair.routes_at(pair.y)[prefixes("198.51.100.10/32")[0]].mp_reach
    assert mp is not None and (mp.afi, mp.next_hop) == (1, (ipaddress.IPv6Address("2001:db8::11"),))


def test_changes_become_withdrawals_and_reannouncements() -> None:
    pair = ebgp()
    changed = {prefixes("198.51.100.10/32")[0]: RouteAttrs(communities=(1,))}
    pair.x.peer.set_routes(changed, pair.now)
    pair.roundtrip_until_quiet()
    assert set(pair.routes_at(pair.y)) == set(changed)
    assert pair.routes_at(pair.y)[prefixes("198.51.100.10/32")[0]].communities == (1,)
    pair.x.peer.set_routes({}, pair.now)
    pair.roundtrip_until_quiet()
    assert pair.routes_at(pair.y) == {}
    assert pair.x.session.rib.sent == {} and pair.x.session.rib.pending() == 0


def test_ten_thousand_prefixes_go_out_in_full_updates() -> None:
    pair = ebgp()
    many = {ipaddress.ip_network(f"10.{i // 256}.{i % 256}.1/32"): RouteAttrs() for i in range(10_000)}
    before = len(pair.received_by(pair.y))
    pair.x.peer.set_routes(many, pair.now)
    pair.roundtrip_until_quiet()
    updates = [m for m in pair.received_by(pair.y)[before:] if isinstance(m, Update)]
    assert len(pair.routes_at(pair.y)) == 10_000
    # one UPDATE withdraws the two old prefixes, then 5-octet /32s fill 4096-octet UPDATEs: 13 of them
    assert len(updates) == 1 + 1 + 13  # IPv4 withdrawal, IPv6 withdrawal, announcements
    assert all(len(u.encode()) <= 4096 for u in updates)


def test_ecmp_needs_equal_attributes_from_every_node() -> None:
    one = ebgp()
    two = Pair(config(64513, 64512, router_id="192.0.2.12"), config(64512, 64513, router_id="192.0.2.1", passive=True))
    two.x.v4 = ipaddress.IPv4Address("192.0.2.12")
    two.x.peer.set_routes(ROUTES, two.now)
    two.start()
    two.roundtrip_until_quiet()
    prefix = prefixes("198.51.100.10/32")[0]
    a, b = one.routes_at(one.y)[prefix], two.routes_at(two.y)[prefix]
    assert a.next_hop != b.next_hop
    assert replace(a, next_hop=None) == replace(b, next_hop=None)


def test_the_hold_timer_drops_a_silent_peer_and_the_session_comes_back() -> None:
    pair = ebgp()
    wire = pair.open_wires()[0]
    wire.open = False  # the router goes silent: nothing moves any more, no FIN
    pair.advance(9.0)
    down = [e for e in pair.events_of(pair.x, SessionDown) if isinstance(e, SessionDown)]
    assert down and "Hold Timer Expired" in down[0].reason
    assert state_of(pair.x.session) is not State.ESTABLISHED
    pair.y.session.connection_lost(pair.now, "test")  # the router notices too
    pair.advance(5.0)
    assert state_of(pair.x.session) is State.ESTABLISHED
    assert set(pair.routes_at(pair.y)) == set(ROUTES)


@pytest.mark.parametrize(
    ("x_id", "y_id"),
    [
        pytest.param("192.0.2.11", "192.0.2.1", id="node-has-the-higher-id"),
        pytest.param("192.0.2.1", "192.0.2.11", id="router-has-the-higher-id"),
    ],
)
def test_a_connection_collision_leaves_exactly_one_session_on_the_same_connection(x_id: str, y_id: str) -> None:
    pair = Pair(config(64513, 64512, router_id=x_id), config(64512, 64513, router_id=y_id))
    pair.x.peer.set_routes(ROUTES, pair.now)
    pair.start()
    pair.complete_connects(crossed=True)
    assert len(pair.open_wires()) == 2
    pair.roundtrip_until_quiet()
    (wire,) = pair.open_wires()
    assert wire.a.state is State.ESTABLISHED and wire.b.state is State.ESTABLISHED
    assert pair.x.peer.twin is None and pair.y.peer.twin is None
    assert pair.x.session is (wire.a if wire.a_side is pair.x else wire.b)
    # the surviving connection is the one initiated by the speaker with the higher identifier
    initiator = wire.a_side if wire.a.connection and wire.a.connection.initiated_locally else wire.b_side
    assert str(initiator.session.router_id) == max(x_id, y_id, key=lambda a: int(ipaddress.IPv4Address(a)))
    # each speaker closes the losing connection with a Cease (the two may cross on the wire)
    ceases = [m for m in pair.received_by(pair.x) + pair.received_by(pair.y) if isinstance(m, Notification)]
    assert {(n.code, n.subcode) for n in ceases} == {(6, 7)}
    assert len(ceases) <= 2
    assert set(pair.routes_at(pair.y)) == set(ROUTES)


def test_an_incoming_connection_while_established_is_refused() -> None:
    pair = ebgp()
    target, events = pair.y.peer.incoming(pair.now, pair.y.info(pair.x, initiated_locally=False, ipv6_transport=False))
    assert target is None and events == []


def test_graceful_restart_keeps_routes_across_a_planned_restart() -> None:
    x_cfg = config(64513, 64512, graceful_restart=True)
    pair = up(x_cfg, config(64512, 64513, router_id="192.0.2.1", passive=True, graceful_restart=True))
    (x_open,) = [m for m in pair.received_by(pair.y) if isinstance(m, Open)]
    (gr,) = [c for c in x_open.capabilities if isinstance(c, GracefulRestart)]
    assert gr.restart_time == 120 and all(f.forwarding_preserved for f in gr.families)
    assert len(gr.families) == 2
    old_wire = pair.open_wires()[0]
    pair.x.peer.stop(pair.now, graceful=True, restarting=True)  # the speaker process is restarting
    pair.roundtrip_until_quiet()
    assert not [m for m in old_wire.a_to_b.messages if isinstance(m, Notification)]  # no NOTIFICATION: GR keeps routes
    assert set(old_wire.a_to_b.routes) == set(ROUTES)  # nothing was withdrawn
    # the new process: a fresh speaker with the same config sends everything again, then End-of-RIB
    restarted = Pair(x_cfg, config(64512, 64513, router_id="192.0.2.1", passive=True, graceful_restart=True))
    restarted.x.peer.set_routes(ROUTES, restarted.now)
    restarted.start()
    restarted.roundtrip_until_quiet()
    updates = [m for m in restarted.received_by(restarted.y) if isinstance(m, Update)]
    assert [u.end_of_rib for u in updates][-2:] == [iana.IPV4_UNICAST, iana.IPV6_UNICAST]
    assert set(restarted.routes_at(restarted.y)) == set(ROUTES)


def test_a_planned_stop_without_graceful_restart_drains_withdraws_then_ceases() -> None:
    pair = ibgp()
    wire = pair.open_wires()[0]
    before = len(wire.a_to_b.messages)
    pair.x.peer.stop(pair.now, graceful=True, message="node drain")
    pair.roundtrip_until_quiet()
    drain = [m for m in wire.a_to_b.messages[before:] if isinstance(m, Update)]
    assert drain and all(GSHUT in u.attributes.communities and u.attributes.local_pref == 0 for u in drain)
    assert state_of(pair.x.session) is State.ESTABLISHED  # still up while the router moves traffic away
    pair.advance(1.0)  # shutdown_wait
    after = wire.a_to_b.messages[before + len(drain) :]
    withdrawn: set[IPNetwork] = set()
    for message in after:
        if isinstance(message, Update):
            withdrawn |= set(message.withdrawn)
            if message.attributes.mp_unreach is not None:
                withdrawn |= set(message.attributes.mp_unreach.withdrawn)
    assert withdrawn == set(ROUTES)
    last = after[-1]
    assert isinstance(last, Notification)
    assert (last.code, last.subcode, last.shutdown_message) == (6, 2, "node drain")
    assert state_of(pair.x.session) is State.IDLE


def test_route_refresh_resends_the_family_asked_for() -> None:
    pair = ebgp()
    wire = pair.open_wires()[0]
    before = len(wire.a_to_b.messages)
    pair.y.session._out.append(RouteRefresh(2, 1).encode())  # the router asks for IPv6 again
    pair.roundtrip_until_quiet()
    resent = [m for m in wire.a_to_b.messages[before:] if isinstance(m, Update)]
    assert [u.attributes.mp_reach.nlri for u in resent if u.attributes.mp_reach] == [
        tuple(prefixes("2001:db8:100::10/128"))
    ]


def test_a_malformed_attribute_from_the_peer_is_treated_as_withdraw_and_the_session_stays() -> None:
    pair = ebgp()
    bad = bytes.fromhex("0000 000e 40010103 400200 400304c0000201 20c6336401".replace(" ", ""))
    wire = iana.MARKER + (19 + len(bad)).to_bytes(2, "big") + b"\x02" + bad
    events = pair.x.session.receive_data(wire, pair.now)
    drops = [e for e in events if isinstance(e, MessageDropped)]
    assert [d.reason for d in drops] == [DropReason.TREAT_AS_WITHDRAW]
    assert state_of(pair.x.session) is State.ESTABLISHED


def test_routes_from_the_peer_are_counted_and_ignored() -> None:
    pair = up(config(64513, 64512, passive=True), config(64512, 64513, router_id="192.0.2.1"))
    pair.y.peer.set_routes(ROUTES, pair.now)
    pair.roundtrip_until_quiet()
    drops = [
        e for e in pair.x.events if isinstance(e, MessageDropped) and e.reason is DropReason.RECEIVED_ROUTE_IGNORED
    ]
    assert sum(d.count for d in drops) == 2
    assert pair.x.session.stats.prefixes_received == 2
    assert pair.events_of(pair.x, SessionEstablished)
