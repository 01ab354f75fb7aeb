"""The L2 controller between the view and a real (not started) Announcer and StatusWriter.

The Announcer runs its real ownership core on the event loop; it is not started, so it opens no socket and
frames have nowhere to go (they count as send failures): what is checked is which addresses it is told to own,
how (takeover mode, visible as the phase), what it releases with a grace period, and what the controller reports
(status objects it wants, Events queued, metrics). Packets on a real LAN: tests/speaker/integration.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s_client
from prometheus_client import CollectorRegistry

from ironlb.api.endpoints import Endpoint, ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView
from ironlb.config.model import Config, L2Advertisement, Pool
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.rest import Kube, Rest
from speaker.election import rank_key
from speaker.l2.announcer import Announcer, PortsChanged
from speaker.l2.core.ownership import Phase
from speaker.l2controller import MAC_MEMORY, Context, L2Controller
from speaker.liveness import Metadata
from speaker.metrics import SpeakerMetrics
from speaker.status.crs import L2, StatusWriter
from speaker.view import Liveness, SpeakerView

POOL = Pool("p", (ipaddress.ip_network("198.51.100.0/24"),))
CONFIG = Config.build(pools=[POOL], l2_advertisements=[L2Advertisement("all", frozenset({"p"}))])


def svc(name: str, ip: str) -> ServiceView:
    return ServiceView("default", name, type="LoadBalancer", ingress_ips=(ip,), annotations={})


class Rig:
    def __init__(self, me: str = "n1", config: Config | None = CONFIG) -> None:
        self.view = SpeakerView(me)
        self.view.set_config(config)
        self.published: list[Metadata] = []
        for node in ("n1", "n2", "n3"):
            self.view.set_node(node, NodeView(node))
            self.view.set_liveness(node, Liveness(True))
        self.announcer = Announcer()
        self.kube = Kube(Rest(k8s_client.ApiClient(k8s_client.Configuration())))
        self.recorder = EventRecorder(self.kube, component="test")
        self.status = StatusWriter(
            self.kube.rest,
            self.kube,
            self.recorder,
            namespace="metallb-system",
            node=me,
            service_ref=lambda key: ObjectRef("Service", key.split("/")[1], "default"),
            owner=lambda: None,
        )
        self.metrics = SpeakerMetrics(CollectorRegistry())
        self.l2 = L2Controller(
            view=self.view,
            announcer=self.announcer,
            status=self.status,
            metrics=self.metrics,
            probe=True,
            grace=1.0,
            clock=asyncio.get_running_loop().time,
            on_metadata_change=lambda: self.published.append(self.l2.metadata()),
        )

    def add(self, name: str, ip: str) -> str:
        key = f"default/{name}"
        self.view.set_service(key, svc(name, ip))
        changes = self.view.set_endpoints(key, ServiceEndpoints((Endpoint(("10.0.0.1",), "n1", True),)))
        self.l2.on_changes(changes.l2, Context())
        return key

    def ip_owned_by(self, *ranking: str, avoid: tuple[str, ...] = ()) -> str:
        """An address whose election ranks the nodes in ``ranking``'s order first (the owner, then the next)."""
        for host in range(1, 250):
            ip = f"198.51.100.{host}"
            order = sorted(("n1", "n2", "n3"), key=lambda n: rank_key(n, ipaddress.ip_address(ip)))
            if ip not in avoid and tuple(order[: len(ranking)]) == ranking:
                return ip
        raise AssertionError(f"no address ranking {ranking}")

    def phase(self, ip: str) -> Phase | None:
        return self.announcer.phases().get(ipaddress.ip_address(ip))

    def close(self) -> None:
        self.kube.close()


@pytest.fixture
async def rig() -> Iterator[Rig]:  # type: ignore[misc]
    made = Rig()
    made.l2.start()
    yield made
    await made.announcer.stop()
    made.close()


async def test_a_new_allocation_is_probed_then_announced_and_reported(rig: Rig) -> None:
    ip = rig.ip_owned_by("n1")
    key = rig.add("web", ip)
    assert rig.phase(ip) is Phase.PROBING
    await asyncio.sleep(0.3)
    assert rig.phase(ip) is Phase.ANNOUNCED
    (shown,) = rig.l2.announcements()
    assert (str(shown.ip), shown.services, shown.cause, shown.phase) == (ip, (key,), "new", "announced")
    assert rig.status.desired(L2) == {key: {"interfaces": []}}
    assert rig.metrics.announced.labels(key, "layer2", "n1", ip)._value.get() == 1
    assert rig.recorder._queue.qsize() == 1, "one nodeAssigned Event"


async def test_a_service_someone_else_owns_is_not_announced(rig: Rig) -> None:
    ip = rig.ip_owned_by("n2")
    rig.add("web", ip)
    assert rig.phase(ip) is None and rig.l2.announcements() == []


async def test_failover_takes_over_ignoring_speakers_and_is_timed(rig: Rig) -> None:
    ip = rig.ip_owned_by("n2", "n1")
    rig.add("web", ip)
    t0 = asyncio.get_running_loop().time()
    changes = rig.view.set_liveness("n2", Liveness(False))
    rig.l2.on_changes(changes.l2, Context(frozenset({"n2"}), t0))
    assert rig.phase(ip) is Phase.PROBING
    await asyncio.sleep(0.3)
    (shown,) = rig.l2.announcements()
    assert (shown.cause, shown.phase) == ("failover", "announced")
    assert rig.metrics.takeovers.labels("failover")._value.get() == 1
    (family,) = rig.metrics.takeover_seconds.collect()
    (sample,) = [s for s in family.samples if s.name.endswith("_count")]
    assert sample.value == 1


async def test_losing_to_a_live_node_hands_over_with_a_grace_period(rig: Rig) -> None:
    ip = rig.ip_owned_by("n1")
    key = rig.add("web", ip)
    await asyncio.sleep(0.3)
    rig.l2.on_changes(rig.view.set_liveness("n1", Liveness(True, frozenset())).l2, Context())  # our link went down
    decision = rig.view.decision(key)
    assert decision is not None and decision.owner in ("n2", "n3")
    assert rig.phase(ip) is Phase.RELEASING, "still answered while the next owner probes"
    assert rig.status.desired(L2) == {}
    await asyncio.sleep(1.1)
    assert rig.phase(ip) is None


async def test_losing_with_no_next_owner_stops_at_once(rig: Rig) -> None:
    ip = rig.ip_owned_by("n1")
    key = rig.add("web", ip)
    await asyncio.sleep(0.3)
    rig.l2.on_changes(rig.view.set_service(key, None).l2, Context())
    assert rig.phase(ip) is None


async def test_a_shared_address_is_answered_once_until_its_last_service_goes(rig: Rig) -> None:
    ip = rig.ip_owned_by("n1")
    a, b = rig.add("a", ip), rig.add("b", ip)
    await asyncio.sleep(0.3)
    (shown,) = rig.l2.announcements()
    assert shown.services == (a, b)
    assert set(rig.status.desired(L2)) == {a, b}
    rig.l2.on_changes(rig.view.set_service(a, None).l2, Context())
    assert rig.phase(ip) is Phase.ANNOUNCED
    rig.l2.on_changes(rig.view.set_service(b, None).l2, Context())
    assert rig.phase(ip) is None


async def test_release_all_releases_everything_and_ignores_later_decisions(rig: Rig) -> None:
    ip = rig.ip_owned_by("n1")
    rig.add("web", ip)
    await asyncio.sleep(0.3)
    probing = rig.ip_owned_by("n1", avoid=(ip,))
    rig.add("new", probing)
    assert rig.phase(probing) is Phase.PROBING
    assert rig.l2.release_all() == [ipaddress.ip_address(ip)], "only what is answered needs handing over"
    assert rig.phase(ip) is Phase.RELEASING
    assert rig.phase(probing) is None, "never answered: dropped at once"
    other = rig.ip_owned_by("n1", avoid=(ip, probing))
    rig.add("late", other)
    assert rig.phase(other) is None
    assert not rig.l2.ready and not rig.l2.metadata().ready, "a stopping speaker is electable no more"


# ----- readiness: "no node is elected owner before it can answer" ---------------------------------------------------
async def test_not_ready_until_started_with_a_configuration_then_published_once() -> None:
    rig = Rig()
    try:
        meta = rig.l2.metadata()
        assert (meta.ready, meta.interfaces_up) == (False, frozenset()), "before start: no candidate, no interface"
        rig.l2.start()
        assert rig.l2.ready
        assert [m.ready for m in rig.published] == [True], "published once, when it became ready"
        rig.l2.on_changes(set(), Context())
        assert len(rig.published) == 1, "and not again while nothing changed"
    finally:
        await rig.announcer.stop()
        rig.close()


async def test_without_a_configuration_a_started_speaker_stays_not_ready() -> None:
    rig = Rig(config=None)
    try:
        rig.l2.start()
        assert not rig.l2.ready and rig.published == []
        changes = rig.view.set_config(CONFIG)
        rig.view.set_service("default/web", svc("web", rig.ip_owned_by("n2")))
        changes.merge(rig.view.set_endpoints("default/web", ServiceEndpoints((Endpoint(("10.0.0.1",), "n2", True),))))
        rig.l2.on_changes(changes.l2, Context())
        assert [m.ready for m in rig.published] == [True], "ready once the configuration loaded"
        assert rig.l2.metadata() == Metadata(frozenset(), (), ready=True), "(the unstarted announcer has no port)"
    finally:
        await rig.announcer.stop()
        rig.close()


async def test_becoming_ready_takes_addresses_over_as_a_planned_move() -> None:
    """The restart script: the node starts not ready (n2 owns what n1 ranks first for), then becomes ready."""
    rig = Rig()
    try:
        ip = rig.ip_owned_by("n1", "n2")
        rig.view.set_liveness("n1", Liveness(True, frozenset(), ready=False))  # as it joined the membership
        key = rig.add("web", ip)
        rig.l2.start()
        assert rig.view.decision(key).owner == "n2" and rig.phase(ip) is None  # type: ignore[union-attr]
        assert rig.published[-1].ready
        changes = rig.view.set_liveness("n1", Liveness(True, frozenset({"eth0"}), ready=True))  # our own event
        rig.l2.on_changes(changes.l2, Context(frozenset(), asyncio.get_running_loop().time()))
        assert rig.phase(ip) is Phase.PROBING, "probing, while n2 still answers"
        assert rig.metrics.takeovers.labels("planned")._value.get() == 1
    finally:
        await rig.announcer.stop()
        rig.close()


async def test_ports_opening_or_closing_republishes_the_metadata(rig: Rig) -> None:
    before = len(rig.published)
    rig.l2._on_announcer_event(PortsChanged(("eth0",)))
    assert len(rig.published) == before + 1


async def test_a_live_speakers_macs_are_never_forgotten(rig: Rig) -> None:
    """A planned move probes ignoring speaker MACs; forgetting a live one turns the move into a conflict."""
    n2 = Metadata(frozenset({"eth0"}), ("02:00:00:00:00:0c",))
    n3 = Metadata(frozenset({"eth0"}), ("02:00:00:00:00:0d",))
    rig.l2.learn_macs({"n2": n2, "n3": n3}, 0.0)
    rig.view.set_liveness("n3", Liveness(False))  # n3 failed long ago; n2 is alive and quiet
    rig.l2.learn_macs({"n3": None}, 10.0)
    rig.l2.learn_macs({}, 10.0 + MAC_MEMORY + 1)
    macs = rig.announcer.ownership.speaker_macs
    assert bytes.fromhex("02000000000c") in macs, "n2 is alive: its MACs stay however quiet it is"
    assert bytes.fromhex("02000000000d") not in macs, "n3 is gone for longer than MAC_MEMORY"
