"""The ownership core: scripts per address life cycle, a LAN harness of several nodes in memory, and invariants.

The LAN harness (style anchor 12a) connects :class:`Ownership` cores and a client on one simulated segment: every
frame a node sends reaches every other node's responder and probe listener, replies travel back the same way, and a
hand-driven clock fires each core's timers in deadline order.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ironlb.api.addresses import IPAddress
from speaker.l2.core import arp, ndp
from speaker.l2.core.announce import AnnounceConfig, Purpose
from speaker.l2.core.ethernet import parse_mac
from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Ownership, Phase, Takeover
from speaker.l2.core.probe import AddressConflict, ClaimKind, ProbeConfig
from speaker.l2.core.responder import Interface, Reply
from tests.speaker.l2.helpers import (
    CLIENT4,
    CLIENT_MAC,
    ETH0,
    ETH1,
    NODE_MAC,
    OTHER4,
    OTHER_NODE_MAC,
    STRANGER_MAC,
    VIP4,
    VIP6,
)

BOTH = {"eth0": ETH0, "eth1": ETH1}


def core(*, interfaces: dict[str, Interface] | None = None, retry: float | None = 10.0) -> Ownership:
    own = Ownership(announce=AnnounceConfig(rounds=3, interval=1.0), probe=ProbeConfig(retry_after=retry))
    own.set_interfaces(interfaces if interfaces is not None else {"eth0": ETH0}, 0.0)
    return own


def run_until(own: Ownership, end: float) -> None:
    while (deadline := own.next_deadline()) is not None and deadline <= end:
        own.handle_timer(deadline)


def answers(own: Ownership, ip: IPAddress, iface: Interface = ETH0) -> bool:
    if isinstance(ip, ipaddress.IPv4Address):
        frame = arp.request_frame(CLIENT_MAC, CLIENT4, ip)
    else:
        frame = ndp.solicitation_frame(CLIENT_MAC, ipaddress.IPv6Address("2001:db8::100"), ip)
    return isinstance(own.responder.answer(frame, iface), Reply)


# -- scripts on one core --------------------------------------------------------------------------------------------


def test_probe_then_announce_script() -> None:
    own = core()
    own.set_owned({VIP4: None}, 0.0)
    assert own.phase(VIP4) is Phase.PROBING and not answers(own, VIP4)  # never answer before the probe is over
    assert [o.purpose for o in own.data_to_send()] == [Purpose.PROBE]
    run_until(own, 0.149)
    assert own.phase(VIP4) is Phase.PROBING
    run_until(own, 0.1501)
    assert own.phase(VIP4) is Phase.ANNOUNCED and answers(own, VIP4)
    assert own.events() == [AddressAnnounced(VIP4, ("eth0",))]
    sent = own.data_to_send()
    assert [o.purpose for o in sent] == [Purpose.PROBE] * 2 + [Purpose.ANNOUNCEMENT] * 2
    run_until(own, 100.0)
    assert sum(o.purpose is Purpose.ANNOUNCEMENT for o in own.data_to_send()) == 4  # two more rounds of two
    assert own.next_deadline() is None


def test_immediate_takeover_answers_at_once_and_removal_stops_everything() -> None:
    own = core()
    own.set_owned({VIP6: None}, 5.0, takeover=Takeover.IMMEDIATE)
    assert answers(own, VIP6) and own.events() == [AddressAnnounced(VIP6, ("eth0",))]
    assert len(own.data_to_send()) == 1  # the first unsolicited NA, at once
    own.set_owned({}, 5.5)
    assert not answers(own, VIP6) and own.phase(VIP6) is None
    run_until(own, 100.0)
    assert own.data_to_send() == [] and own.events() == []


def test_same_table_twice_changes_nothing() -> None:
    own = core()
    own.set_owned({VIP4: None}, 0.0, takeover=Takeover.IMMEDIATE)
    own.data_to_send(), own.events()
    own.set_owned({VIP4: None}, 0.5, takeover=Takeover.IMMEDIATE)
    assert own.data_to_send() == [] and own.events() == []


def test_conflict_blocks_the_address_then_retries() -> None:
    own = core(retry=10.0)
    own.set_owned({VIP4: None}, 0.0)
    reply = arp.packet_frame(ETH0.mac, STRANGER_MAC, arp.ArpPacket(2, STRANGER_MAC, VIP4, ETH0.mac, arp.UNSPECIFIED))
    own.receive("eth0", reply, 0.01)
    assert own.phase(VIP4) is Phase.CONFLICT and not answers(own, VIP4)
    assert own.events() == [AddressConflict(VIP4, "eth0", "02:00:00:00:00:99", ClaimKind.ARP_SENDER)]
    assert own.next_deadline() == pytest.approx(10.01) and own.probing_interfaces() == frozenset()
    own.data_to_send()
    run_until(own, 10.01)
    assert own.phase(VIP4) is Phase.PROBING  # the other host may be gone: ask again
    run_until(own, 10.2)
    assert own.phase(VIP4) is Phase.ANNOUNCED


def test_conflict_without_retry_waits_for_the_table() -> None:
    own = core(retry=None)
    own.set_owned({VIP6: None}, 0.0)
    na = ndp.packet_frame(
        ndp.multicast_mac(ndp.ALL_NODES), STRANGER_MAC, VIP6, ndp.ALL_NODES,
        ndp.NeighborAdvertisement(VIP6, override=True, options=(ndp.link_layer_option(2, STRANGER_MAC),)),
    )  # fmt: skip
    own.receive("eth0", na, 0.02)
    assert own.phase(VIP6) is Phase.CONFLICT and own.next_deadline() is None
    own.set_owned({}, 1.0)
    own.set_owned({VIP6: None}, 2.0)
    assert own.phase(VIP6) is Phase.PROBING


def test_release_keeps_answering_for_the_grace_period_without_announcing() -> None:
    own = core()
    own.set_owned({VIP4: None}, 0.0, takeover=Takeover.IMMEDIATE)
    own.data_to_send(), own.events()
    own.release(VIP4, after=0.5, now=0.2)
    own.set_owned({}, 0.2)  # the table no longer lists it: the grace period still holds
    assert own.phase(VIP4) is Phase.RELEASING and answers(own, VIP4)
    assert own.pending(VIP4) == {}  # announcements stopped at once: the new owner is announcing
    run_until(own, 0.69)
    assert answers(own, VIP4) and own.data_to_send() == []
    run_until(own, 0.7)
    assert not answers(own, VIP4) and own.events() == [AddressReleased(VIP4)]


def test_taking_back_a_releasing_address_announces_again() -> None:
    own = core()
    own.set_owned({VIP4: None}, 0.0, takeover=Takeover.IMMEDIATE)
    own.release(VIP4, after=5.0, now=1.0)
    own.data_to_send(), own.events()
    own.set_owned({VIP4: None}, 2.0)
    assert own.phase(VIP4) is Phase.ANNOUNCED and own.events() == [AddressAnnounced(VIP4, ("eth0",))]
    assert len(own.data_to_send()) == 2
    run_until(own, 10.0)
    assert own.phase(VIP4) is Phase.ANNOUNCED  # the old release deadline is void


def releasing(ip: IPAddress, *, allowed: frozenset[str] | None = None) -> Ownership:
    """A core answering ``ip`` in its grace period (3 s from t=1), knowing OTHER_NODE_MAC as a speaker's."""
    own = core(interfaces=BOTH)
    own.set_speaker_macs([NODE_MAC, OTHER_NODE_MAC])
    own.set_owned({ip: allowed}, 0.0, takeover=Takeover.IMMEDIATE)
    own.release(ip, after=3.0, now=1.0)
    own.data_to_send(), own.events()
    return own


def announcement(ip: IPAddress, mac: bytes, *, reply_form: bool = False) -> bytes:
    if isinstance(ip, ipaddress.IPv4Address):
        return arp.announcement_reply_frame(mac, ip) if reply_form else arp.announcement_request_frame(mac, ip)
    return ndp.unsolicited_advertisement_frame(mac, ip, ip)


@pytest.mark.parametrize(
    ("ip", "reply_form"),
    [
        pytest.param(VIP4, False, id="gratuitous-arp-request-form"),
        pytest.param(VIP4, True, id="gratuitous-arp-reply-form"),
        pytest.param(VIP6, False, id="unsolicited-neighbor-advertisement"),
    ],
)
def test_the_next_owners_announcement_ends_the_grace_at_once(ip: IPAddress, reply_form: bool) -> None:
    own = releasing(ip)
    assert own.listening_interfaces() == {"eth0", "eth1"}, "the adapter must hand us what the LAN says"
    own.receive("eth1", announcement(ip, OTHER_NODE_MAC, reply_form=reply_form), 1.2)
    assert own.phase(ip) is None and not answers(own, ip)
    assert own.events() == [AddressReleased(ip, "02:00:00:00:00:0c")]
    assert own.listening_interfaces() == frozenset() and own.next_deadline() is None
    run_until(own, 10.0)
    assert own.events() == [], "released once"


@pytest.mark.parametrize(
    ("frame", "ifname", "allowed"),
    [
        pytest.param(announcement(VIP4, STRANGER_MAC), "eth0", None, id="a-mac-no-speaker-has"),
        pytest.param(announcement(VIP4, NODE_MAC), "eth1", None, id="our-own-announcement-heard-on-another-interface"),
        pytest.param(
            arp.packet_frame(
                CLIENT_MAC, OTHER_NODE_MAC, arp.ArpPacket(arp.ArpOp.REPLY, OTHER_NODE_MAC, VIP4, CLIENT_MAC, CLIENT4)
            ),
            "eth0",
            None,
            id="a-speakers-reply-to-a-client-another-owner-in-grace-sends-those",
        ),
        pytest.param(announcement(OTHER4, OTHER_NODE_MAC), "eth0", None, id="another-address"),
        pytest.param(
            announcement(VIP4, OTHER_NODE_MAC), "eth0", frozenset({"eth1"}), id="on-an-interface-we-do-not-answer-it-on"
        ),
        pytest.param(announcement(VIP4, OTHER_NODE_MAC), "eth9", None, id="on-an-unknown-interface"),
    ],
)
def test_what_does_not_end_the_grace(frame: bytes, ifname: str, allowed: frozenset[str] | None) -> None:
    own = releasing(VIP4, allowed=allowed)
    own.receive(ifname, frame, 1.2)
    assert own.phase(VIP4) is Phase.RELEASING and answers(own, VIP4, ETH1 if allowed else ETH0)
    run_until(own, 4.0)
    assert own.phase(VIP4) is None and own.events() == [AddressReleased(VIP4)], "the grace still bounds it"


def test_an_announcement_while_announced_or_taken_back_changes_nothing() -> None:
    """Only a releasing address yields: two owners that both believe they own it are the election's problem."""
    own = releasing(VIP4)
    own.set_owned({VIP4: None}, 1.5)  # taken back: announced again
    own.events()
    own.receive("eth0", announcement(VIP4, OTHER_NODE_MAC), 1.6)
    assert own.phase(VIP4) is Phase.ANNOUNCED and own.events() == []


@pytest.mark.parametrize(
    ("phase_setup", "released_event"),
    [
        pytest.param("probing", False, id="a-probing-address-is-forgotten-at-once"),
        pytest.param("announced-no-grace", True, id="zero-grace-releases-at-once"),
    ],
)
def test_release_without_grace(phase_setup: str, released_event: bool) -> None:
    own = core()
    takeover = Takeover.PROBE if phase_setup == "probing" else Takeover.IMMEDIATE
    own.set_owned({VIP4: None}, 0.0, takeover=takeover)
    own.events()
    own.release(VIP4, after=0.0, now=0.01)
    assert own.phase(VIP4) is None and not answers(own, VIP4)
    assert own.events() == ([AddressReleased(VIP4)] if released_event else [])


def test_interfaces_coming_up_get_their_own_burst_for_allowed_addresses_only() -> None:
    own = core(interfaces={"eth0": ETH0})
    own.set_owned({VIP4: None, VIP6: frozenset({"eth0"})}, 0.0, takeover=Takeover.IMMEDIATE)
    run_until(own, 2.5)
    own.data_to_send()
    own.set_interfaces(BOTH, 3.0)
    assert {(o.ip, o.ifname) for o in own.data_to_send()} == {(VIP4, "eth1")}
    assert answers(own, VIP4, ETH1) and not answers(own, VIP6, ETH1)


def test_changing_the_allowed_interfaces_announces_on_the_new_set() -> None:
    own = core(interfaces=BOTH)
    own.set_owned({VIP4: frozenset({"eth0"})}, 0.0, takeover=Takeover.IMMEDIATE)
    own.data_to_send()
    own.set_owned({VIP4: frozenset({"eth1"})}, 1.0)
    assert {o.ifname for o in own.data_to_send()} == {"eth1"}
    assert answers(own, VIP4, ETH1) and not answers(own, VIP4, ETH0)
    run_until(own, 50.0)
    assert {o.ifname for o in own.data_to_send()} == {"eth1"}


def test_takeover_per_address() -> None:
    own = core()
    own.set_owned({VIP4: None, VIP6: None}, 0.0, takeover={VIP6: Takeover.IMMEDIATE})
    assert own.phases() == {VIP4: Phase.PROBING, VIP6: Phase.ANNOUNCED}


# -- the LAN harness --------------------------------------------------------------------------------------------------


@dataclass
class Node:
    name: str
    iface: Interface
    own: Ownership
    attached: bool = True


@dataclass
class Lan:
    """Nodes and a client on one Ethernet segment, with one clock."""

    nodes: dict[str, Node] = field(default_factory=dict)
    now: float = 0.0
    #: frames the client received, in order
    client_inbox: list[bytes] = field(default_factory=list)

    def add(self, name: str, mac: str) -> Node:
        iface = Interface("eth0", parse_mac(mac))
        own = Ownership(announce=AnnounceConfig(rounds=3, interval=1.0), probe=ProbeConfig())
        own.set_interfaces({"eth0": iface}, self.now)
        node = self.nodes[name] = Node(name, iface, own)
        return node

    def deliver(self, frame: bytes, sender: str | None) -> None:
        if sender is not None:
            self.client_inbox.append(frame)
        for node in self.nodes.values():
            if node.name == sender or not node.attached:
                continue
            node.own.receive("eth0", frame, self.now)
            result = node.own.responder.answer(frame, node.iface)
            if isinstance(result, Reply):
                self.deliver(result.frame, node.name)

    def quiet(self) -> None:
        """Move frames until no node has anything to send (bounded: a loop would be a bug)."""
        for _ in range(100):
            moved = False
            for node in self.nodes.values():
                for out in node.own.data_to_send():
                    moved = True
                    if node.attached:
                        self.deliver(out.frame, node.name)
            if not moved:
                return
        raise AssertionError("frames kept flowing on the LAN")

    def advance(self, to: float) -> None:
        self.quiet()
        while True:
            due = [(d, n) for n in self.nodes.values() if (d := n.own.next_deadline()) is not None and d <= to]
            if not due:
                break
            deadline, node = min(due, key=lambda item: item[0])
            self.now = max(self.now, deadline)
            node.own.handle_timer(self.now)
            self.quiet()
        self.now = to

    def client_asks(self, ip: ipaddress.IPv4Address) -> set[bytes]:
        """MACs that answer a who-has from the client."""
        before = len(self.client_inbox)
        self.deliver(arp.request_frame(CLIENT_MAC, CLIENT4, ip), None)
        replies = [arp.ArpPacket.decode_frame(f) for f in self.client_inbox[before:] if f[12:14] == b"\x08\x06"]
        return {p.sender_mac for p in replies if p.op == arp.ArpOp.REPLY and p.target_ip == CLIENT4}


def test_lan_planned_handover_needs_the_speaker_macs() -> None:
    lan = Lan()
    node1 = lan.add("node1", "02:00:00:00:00:0b")
    node2 = lan.add("node2", "02:00:00:00:00:0c")
    node1.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.IMMEDIATE)
    lan.advance(10.0)
    assert lan.client_asks(VIP4) == {node1.iface.mac}
    # A plain probe from node2 hears node1 answering it: a conflict.
    node2.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.PROBE)
    lan.advance(10.5)
    assert node2.own.phase(VIP4) is Phase.CONFLICT
    node2.own.set_owned({}, lan.now)
    # With node1 known as a speaker, the planned move goes through while node1 is still answering.
    node2.own.set_speaker_macs([node1.iface.mac, node2.iface.mac])
    node1.own.release(VIP4, after=1.0, now=lan.now)
    node2.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.PROBE_IGNORING_SPEAKERS)
    lan.advance(lan.now + 0.2)
    assert node2.own.phase(VIP4) is Phase.ANNOUNCED
    assert lan.client_asks(VIP4) == {node1.iface.mac, node2.iface.mac}  # both during the grace period
    lan.advance(lan.now + 1.0)
    assert lan.client_asks(VIP4) == {node2.iface.mac}


def test_lan_planned_handover_ends_when_the_next_owner_announces() -> None:
    """Someone answers at every moment, and the two answer together only until the next owner's first round."""
    lan = Lan()
    node1 = lan.add("node1", "02:00:00:00:00:0b")
    node2 = lan.add("node2", "02:00:00:00:00:0c")
    for node in (node1, node2):
        node.own.set_speaker_macs([node1.iface.mac, node2.iface.mac])
    node1.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.IMMEDIATE)
    lan.advance(10.0)
    node1.own.events()
    node1.own.release(VIP4, after=2.0, now=lan.now)
    node2.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.PROBE_IGNORING_SPEAKERS)
    answered: list[set[bytes]] = []
    for _ in range(30):  # 300 ms in 10 ms steps
        lan.advance(lan.now + 0.01)
        answered.append(lan.client_asks(VIP4))
    assert all(answered), "nobody answered at some moment"
    assert answered[0] == {node1.iface.mac} and answered[-1] == {node2.iface.mac}
    assert {node1.iface.mac, node2.iface.mac} not in answered, "both answered together after the announcement"
    assert node1.own.events() == [AddressReleased(VIP4, "02:00:00:00:00:0c")]


def test_lan_failover_from_a_dead_node_probes_clear() -> None:
    lan = Lan()
    node1 = lan.add("node1", "02:00:00:00:00:0b")
    node2 = lan.add("node2", "02:00:00:00:00:0c")
    node1.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.IMMEDIATE)
    lan.advance(5.0)
    node1.attached = False  # powered off: says nothing, answers nothing
    lan.client_inbox.clear()
    node2.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.PROBE)
    lan.advance(lan.now + 0.2)
    assert node2.own.phase(VIP4) is Phase.ANNOUNCED
    announcements = [arp.ArpPacket.decode_frame(f) for f in lan.client_inbox if f[12:14] == b"\x08\x06"]
    assert any(p.is_announcement and p.sender_mac == node2.iface.mac for p in announcements)
    assert lan.client_asks(VIP4) == {node2.iface.mac}


def test_lan_a_foreign_host_with_the_address_is_detected() -> None:
    lan = Lan()
    node1 = lan.add("node1", "02:00:00:00:00:0b")
    foreign = lan.add("router", "02:00:00:00:00:01")  # a host that has the address configured
    foreign.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.IMMEDIATE)
    lan.advance(5.0)
    node1.own.set_speaker_macs([node1.iface.mac])
    node1.own.set_owned({VIP4: None}, lan.now, takeover=Takeover.PROBE_IGNORING_SPEAKERS)
    lan.advance(lan.now + 0.2)
    assert node1.own.phase(VIP4) is Phase.CONFLICT
    assert lan.client_asks(VIP4) == {foreign.iface.mac}


# -- invariants -------------------------------------------------------------------------------------------------------

ADDRESSES: list[IPAddress] = [VIP4, VIP6, OTHER4]
steps = st.one_of(
    st.tuples(
        st.just("own"),
        st.dictionaries(st.sampled_from(ADDRESSES), st.sampled_from([None, frozenset({"eth0"}), frozenset({"eth1"})])),
        st.sampled_from(list(Takeover)),
    ),
    st.tuples(st.just("release"), st.sampled_from(ADDRESSES), st.floats(0, 3)),
    st.tuples(st.just("wait"), st.floats(0, 3), st.none()),
    st.tuples(st.just("claim"), st.sampled_from(ADDRESSES), st.none()),
    st.tuples(st.just("next-owner-announces"), st.sampled_from(ADDRESSES), st.none()),
    st.tuples(st.just("interfaces"), st.sampled_from([{"eth0": ETH0}, BOTH, {}]), st.none()),
)


@settings(max_examples=200)
@given(st.lists(steps, max_size=15))
def test_invariants_hold_over_any_script(script: list[tuple[object, object, object]]) -> None:
    own = core(interfaces=BOTH)
    own.set_speaker_macs([OTHER_NODE_MAC])
    now = 0.0
    desired: set[IPAddress] = set()
    for op, a, b in script:
        if op == "own":
            assert isinstance(a, dict) and isinstance(b, Takeover)
            own.set_owned(a, now, takeover=b)
            desired = set(a)
        elif op == "release":
            assert isinstance(b, float)
            own.release(a, after=b, now=now)  # type: ignore[arg-type]
        elif op == "wait":
            assert isinstance(a, float)
            now += a
            run_until(own, now)
        elif op == "claim":
            ip = a
            if isinstance(ip, ipaddress.IPv4Address):
                frame = arp.announcement_request_frame(STRANGER_MAC, ip)
            else:
                frame = ndp.unsolicited_advertisement_frame(STRANGER_MAC, ip, ip)  # type: ignore[arg-type]
            own.receive("eth0", frame, now)
        elif op == "next-owner-announces":
            before = own.phase(a)  # type: ignore[arg-type]
            own.receive("eth0", announcement(a, OTHER_NODE_MAC), now)  # type: ignore[arg-type]
            # an owner does not yield to an announcement (only one in its grace does); probes may see a claim
            if before in (Phase.ANNOUNCED, None):
                assert own.phase(a) is before  # type: ignore[arg-type]
        else:
            own.set_interfaces(a, now)  # type: ignore[arg-type]
        phases = own.phases()
        answered = set(own.answered())
        # Answered exactly when announced or releasing; never while probing or in conflict.
        assert answered == {ip for ip, phase in phases.items() if phase in (Phase.ANNOUNCED, Phase.RELEASING)}
        # Everything tracked is desired, or releasing.
        assert {ip for ip, phase in phases.items() if phase is not Phase.RELEASING} <= desired
        # Every call ran what was due: the next deadline lies ahead.
        deadline = own.next_deadline()
        assert deadline is None or deadline > now
        # Announcements only for announced addresses; probes only for addresses being (or just) probed.
        for out in own.data_to_send():
            if out.purpose is Purpose.ANNOUNCEMENT:
                assert phases.get(out.ip) is Phase.ANNOUNCED
            else:
                assert phases.get(out.ip) in (Phase.PROBING, Phase.ANNOUNCED, Phase.CONFLICT)
