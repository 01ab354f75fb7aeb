"""The BFD manager and its UDP adapter, between two ironlb speakers in network namespaces (node1 <-> node2).

Covered: sessions over IPv4 and IPv6 coming Up and reporting it; a silent link reported down with diagnostic 1 on
both sides; removal and close() signalling AdminDown, which the other side does not report as a failure (RFC 5882
section 3.2); GTSM, with packets sent at TTL 64 and 255 by a raw test client; socket errors as sentences; the
Prometheus names. Waits are bounded polls of state, never timed assertions. Not covered: FRR and BIRD
(test_interop.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from hack.lab.netns import Topology
from ironlb.api.addresses import IPAddress
from speaker.bfd import metrics
from speaker.bfd.core import BfdError, ControlPacket, Diagnostic, DropReason, State
from speaker.bfd.manager import BfdManager
from tests.speaker.bfd.harness import FAST

pytestmark = pytest.mark.netns

N1, N2 = ipaddress.ip_address("192.0.2.11"), ipaddress.ip_address("192.0.2.12")
N1_6, N2_6 = ipaddress.ip_address("2001:db8::11"), ipaddress.ip_address("2001:db8::12")


@dataclass
class Calls:
    """Every on_state call a manager made: (peer, up, diagnostic)."""

    seen: list[tuple[IPAddress, bool, int]] = field(default_factory=list)

    def __call__(self, peer: IPAddress, up: bool, diagnostic: int) -> None:
        self.seen.append((peer, up, diagnostic))

    def last(self, peer: IPAddress) -> tuple[bool, int] | None:
        found = [(up, diag) for p, up, diag in self.seen if p == peer]
        return found[-1] if found else None


async def eventually(predicate: Callable[[], bool], what: str, limit: float = 10.0) -> None:
    """Poll ``predicate`` every 20 ms; fail with ``what`` after ``limit`` seconds."""
    for _ in range(int(limit / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


@dataclass
class Speakers:
    topo: Topology
    one: BfdManager
    two: BfdManager
    calls_one: Calls
    calls_two: Calls
    registry: CollectorRegistry


@pytest.fixture
async def speakers_factory(topology: Callable[..., Topology]) -> AsyncIterator[Callable[[], Speakers]]:
    """node1 and node2, each with a manager and sessions to the other over IPv4 and IPv6; closed afterwards."""
    made: list[BfdManager] = []

    def make() -> Speakers:
        topo = topology(nodes=2, router=False, client=False)
        registry = CollectorRegistry()
        collector = metrics.register(registry)
        calls_one, calls_two = Calls(), Calls()
        with topo.entered("node1"):
            one = BfdManager(rng=random.Random(1), collector=collector)
            one.add_session(N2, N1, FAST, calls_one)
            one.add_session(str(N2_6), str(N1_6), FAST, calls_one)
        with topo.entered("node2"):
            two = BfdManager(rng=random.Random(2), collector=collector)
            two.add_session(N1, N2, FAST, calls_two)
            two.add_session(N1_6, N2_6, FAST, calls_two)
        made.extend((one, two))
        return Speakers(topo, one, two, calls_one, calls_two, registry)

    yield make
    for manager in made:  # close() is idempotent: a test that closed one already costs nothing here
        await manager.close(grace=0.1)


async def both_up(s: Speakers) -> None:
    await eventually(
        lambda: (
            all(s.calls_one.last(p) == (True, Diagnostic.NONE) for p in (N2, N2_6))
            and all(s.calls_two.last(p) == (True, Diagnostic.NONE) for p in (N1, N1_6))
        ),
        "four sessions up",
    )


async def test_speakers_come_up_over_ipv4_and_ipv6(speakers_factory: Callable[[], Speakers]) -> None:
    s = speakers_factory()
    await both_up(s)
    await eventually(lambda: all(p.session.remote_state is State.UP for p in s.one.status()), "node2's Up heard")
    statuses = {str(p.peer): p for p in s.one.status()}
    assert sorted(statuses) == ["192.0.2.12", "2001:db8::12"]
    for status in statuses.values():
        view = status.as_dict()
        assert (view["status"], view["remote_status"], view["negotiated_transmit_interval_ms"]) == ("up", "up", 100)
        assert view["detection_time_ms"] == 300 and view["echo_receive_interval_ms"] == 0
    assert s.one.dropped() == {} and s.two.dropped() == {}  # every packet arrived with TTL 255
    scraped = generate_latest(s.registry).decode()
    assert 'metallb_bfd_session_up{peer="192.0.2.12"} 1.0' in scraped
    assert 'metallb_bfd_session_up{peer="2001:db8::11"} 1.0' in scraped
    for name in ("control_packet_input", "control_packet_output", "session_up_events", "session_down_events"):
        assert f'metallb_bfd_{name}{{peer="192.0.2.12"}}' in scraped
    assert 'ironlb_bfd_dropped_total{reason="bad_ttl"} 0.0' in scraped


async def test_a_silent_link_is_reported_down_with_diagnostic_1(speakers_factory: Callable[[], Speakers]) -> None:
    s = speakers_factory()
    await both_up(s)
    s.topo.link_down("node2")
    expired = (False, Diagnostic.CONTROL_DETECTION_TIME_EXPIRED)
    await eventually(lambda: all(s.calls_one.last(p) == expired for p in (N2, N2_6)), "node1 sees node2 go")
    await eventually(lambda: all(s.calls_two.last(p) == expired for p in (N1, N1_6)), "node2 sees node1 go")
    s.topo.link_up("node2")
    await both_up(s)  # and they find each other again
    assert all(p.session.up_events == 2 and p.session.down_events == 1 for p in s.one.status())


async def test_removing_a_session_signals_admin_down_not_a_failure(speakers_factory: Callable[[], Speakers]) -> None:
    s = speakers_factory()
    await both_up(s)
    s.one.remove_session(N2)
    assert [p.removing for p in s.one.status() if p.peer == N2] == [True]

    def node2_heard_admin_down() -> bool:
        (status,) = [p for p in s.two.status() if p.peer == N1]
        return status.session.state is State.DOWN and status.session.remote_state is State.ADMIN_DOWN

    await eventually(node2_heard_admin_down, "node2 to hear AdminDown")
    assert s.calls_two.last(N1) == (True, Diagnostic.NONE)  # no "down": the path did not fail (RFC 5882 3.2)
    await eventually(lambda: [p.peer for p in s.one.status()] == [N2_6], "the removed session to go")
    assert s.calls_one.last(N2) == (True, Diagnostic.NONE)  # and its owner hears nothing more


async def test_close_signals_admin_down_to_every_peer(speakers_factory: Callable[[], Speakers]) -> None:
    s = speakers_factory()
    await both_up(s)
    await s.one.close()
    assert s.one.status() == []

    def all_heard() -> bool:
        return all(p.session.remote_state is State.ADMIN_DOWN for p in s.two.status())

    await eventually(all_heard, "node2 to hear AdminDown on both sessions")
    assert [s.calls_two.last(p) for p in (N1, N1_6)] == [(True, Diagnostic.NONE)] * 2


def _send_from(topo: Topology, role: str, source: str, payload: bytes, ttl: int) -> None:
    with topo.entered(role), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.bind((source, 0))
        sock.sendto(payload, (str(N1), 3784))


async def test_gtsm_drops_packets_that_did_not_arrive_with_ttl_255(speakers_factory: Callable[[], Speakers]) -> None:
    s = speakers_factory()
    await both_up(s)
    probe = ControlPacket(State.DOWN, my_discriminator=0x4242).encode()
    _send_from(s.topo, "node2", str(N2), probe, ttl=64)
    await eventually(lambda: s.one.dropped() == {DropReason.BAD_TTL: 1}, "the TTL-64 packet to be dropped")
    # The same packet at TTL 255 passes GTSM and is demultiplexed: from node2's address with Your Discriminator
    # 0 it selects the session and is accepted (a restart of the peer looks exactly like this).
    s.topo.run("node2", "ip", "addr", "add", "192.0.2.13/24", "dev", "eth0")
    _send_from(s.topo, "node2", "192.0.2.13", probe, ttl=255)
    await eventually(lambda: s.one.dropped().get(DropReason.NO_SESSION) == 1, "the stranger's packet dropped")
    assert s.one.dropped().get(DropReason.BAD_TTL) == 1
    scraped = generate_latest(s.registry).decode()
    assert 'ironlb_bfd_dropped_total{reason="bad_ttl"} 1.0' in scraped
    assert 'ironlb_bfd_dropped_total{reason="no_session"} 1.0' in scraped


@pytest.mark.parametrize(
    ("peer", "local", "message"),
    [
        pytest.param("192.0.2.12", "192.0.2.77", "Cannot open BFD sockets on 192.0.2.77", id="address-not-on-node"),
        pytest.param("192.0.2.12", "2001:db8::11", "different IP families", id="mixed-families"),
    ],
)
async def test_a_session_that_cannot_run_is_refused_with_a_sentence(
    topology: Callable[..., Topology], peer: str, local: str, message: str
) -> None:
    topo = topology(nodes=1, router=False, client=False)
    with topo.entered("node1"):
        manager = BfdManager(rng=random.Random(3), collector=None)
        with pytest.raises(BfdError, match=message):
            manager.add_session(peer, local, FAST, Calls())
    assert manager.status() == []
    with pytest.raises(BfdError, match="No BFD session"):
        manager.update_profile(peer, FAST)
    await manager.close()


async def test_adding_a_peer_again_updates_or_moves_its_session(topology: Callable[..., Topology]) -> None:
    topo = topology(nodes=1, router=False, client=False)
    topo.run("node1", "ip", "addr", "add", "192.0.2.21/24", "dev", "eth0")
    calls = Calls()
    with topo.entered("node1"):
        manager = BfdManager(rng=random.Random(4), collector=None)
        manager.add_session("192.0.2.12", "192.0.2.11", FAST, calls)
        first = manager.status()[0].session.local_discriminator
        echo = dataclasses.replace(FAST, name="echo", echo_mode=True, transmit_interval_ms=200)
        manager.add_session("192.0.2.12", "192.0.2.11", echo, calls)  # same addresses: a profile update
        (updated,) = manager.status()
        assert (updated.profile, updated.session.local_discriminator) == ("echo", first)
        assert updated.session.required_min_echo_rx_us == 0  # echo is not implemented, whatever the profile says
        manager.add_session("192.0.2.12", "192.0.2.21", FAST, calls)  # another local address: a new session
        (moved,) = manager.status()
        assert (str(moved.local), moved.profile) == ("192.0.2.21", "fast")
        assert moved.session.local_discriminator != first
    await manager.close()
