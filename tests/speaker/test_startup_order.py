"""Start-up order across several speakers: "no node is elected owner before it can answer" (speaker/app.py).

Each speaker here is the real decision side of ironlb-speaker: its :class:`SpeakerView`, its :class:`L2Controller`
and an :class:`Announcer` running its real ownership core (answering table, probes, grace periods) on the event
loop. What stands in for the rest: the membership delivers each published metadata to every speaker at once (the
three lines of ``Speaker._on_member``), and the announcer's sockets are not opened - :class:`OpenPorts` reports the
port on ``eth0`` as open, which is all the controller reads of them. Sockets and real processes: e2e/test_l2.py.

After every step the script checks, on every speaker: each owner any view elects has published that it is ready
(and is ready), and some speaker's data plane answers the address.
"""

from __future__ import annotations

import asyncio
import ipaddress

from kubernetes import client as k8s_client
from prometheus_client import CollectorRegistry

from ironlb.api.endpoints import Endpoint, ServiceEndpoints
from ironlb.api.node import NodeView
from ironlb.api.service import ServiceView
from ironlb.config.model import Config, L2Advertisement, Pool
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.rest import Kube, Rest
from speaker.election import rank_key
from speaker.l2.announcer import Announcer
from speaker.l2.core.ownership import Phase
from speaker.l2controller import Context, L2Controller
from speaker.liveness import Metadata, speaker_liveness
from speaker.metrics import SpeakerMetrics
from speaker.status.crs import StatusWriter
from speaker.view import SpeakerView

POOL = Pool("p", (ipaddress.ip_network("198.51.100.0/24"),))
CONFIG = Config.build(pools=[POOL], l2_advertisements=[L2Advertisement("all", frozenset({"p"}))])
NODES = ("n1", "n2", "n3")
KEY = "default/web"
#: short, so that the control case shows its gap quickly
GRACE = 0.4
#: longer than the probe (150 ms) with room for a busy machine
SETTLE = 0.35


def address_ranking(first: str) -> ipaddress.IPv4Address:
    """An address whose election ranks ``first`` before the other nodes."""
    for host in range(1, 250):
        ip = ipaddress.IPv4Address(f"198.51.100.{host}")
        if min(NODES, key=lambda n: rank_key(n, ip)) == first:
            return ip
    raise AssertionError(f"no address ranks {first} first")


class OpenPorts(Announcer):
    """The real announcer core, with its (unopened) port on eth0 reported open and the node's MAC known."""

    def __init__(self, mac: str) -> None:
        super().__init__()
        self._mac = mac

    def answering(self) -> tuple[str, ...]:
        return ("eth0",)

    def macs(self) -> list[str]:
        return [self._mac]


class Node:
    """One speaker, started the way speaker.app starts it."""

    def __init__(self, cluster: Cluster, name: str, *, config: Config | None) -> None:
        self.cluster = cluster
        self.name = name
        self.view = SpeakerView(name)
        self.view.set_config(config)
        for node in NODES:
            self.view.set_node(node, NodeView(node))
        self.view.set_service(KEY, ServiceView("default", "web", type="LoadBalancer", ingress_ips=(str(cluster.ip),)))
        self.view.set_endpoints(KEY, ServiceEndpoints((Endpoint(("10.0.0.1",), "n1", True),)))
        self.announcer = OpenPorts(f"02:00:00:00:00:0{NODES.index(name) + 1}")
        self.kube = Kube(Rest(k8s_client.ApiClient(k8s_client.Configuration())))
        recorder = EventRecorder(self.kube, component="test")
        status = StatusWriter(
            self.kube.rest,
            self.kube,
            recorder,
            namespace="metallb-system",
            node=name,
            service_ref=lambda key: ObjectRef("Service", key.split("/")[1], "default"),
            owner=lambda: None,
        )
        self.l2 = L2Controller(
            view=self.view,
            announcer=self.announcer,
            status=status,
            metrics=SpeakerMetrics(CollectorRegistry()),
            probe=True,
            grace=GRACE,
            clock=asyncio.get_running_loop().time,
            on_metadata_change=lambda: cluster.publish(self.name, self.l2.metadata().encode()),
        )

    def join(self, metadata: bytes | None = None) -> None:
        """Join the membership with what the controller publishes before it starts (not ready), and learn the others."""
        self.cluster.running[self.name] = self
        for other, published in self.cluster.published.items():
            self.on_member(other, published)
        self.cluster.publish(self.name, metadata if metadata is not None else self.l2.metadata().encode())

    def on_member(self, name: str, metadata: bytes) -> None:
        """speaker.app.Speaker._on_member for a member that joined or changed its metadata."""
        self.l2.learn_macs({name: Metadata.decode(metadata)}, asyncio.get_running_loop().time())
        changes = self.view.set_liveness(name, speaker_liveness(True, metadata))
        self.l2.on_changes(changes.l2, Context(frozenset(), asyncio.get_running_loop().time()))

    def start(self) -> None:
        self.l2.start()  # publishes readiness when it has a configuration


class Cluster:
    def __init__(self, ip: ipaddress.IPv4Address) -> None:
        self.ip = ip
        self.running: dict[str, Node] = {}
        self.published: dict[str, bytes] = {}

    def publish(self, name: str, metadata: bytes) -> None:
        self.published[name] = metadata
        for node in list(self.running.values()):
            node.on_member(name, metadata)

    def owners(self) -> dict[str, str | None]:
        """Who each running speaker's view elects (a view without a configuration decides nothing: None)."""
        decisions = {name: node.view.decision(KEY) for name, node in self.running.items()}
        return {name: decision.owner if decision else None for name, decision in decisions.items()}

    def answered_by(self) -> set[str]:
        return {name for name, node in self.running.items() if self.ip in node.announcer.ownership.answered()}

    def phase(self, name: str) -> Phase | None:
        return self.running[name].announcer.phases().get(self.ip)

    def check(self) -> None:
        for viewer, owner in self.owners().items():
            if owner is not None:
                meta = Metadata.decode(self.published[owner])
                assert meta is not None and meta.ready, f"{viewer} elects {owner}, which has not said it is ready"
                assert self.running[owner].l2.ready, f"{viewer} elects {owner}, which cannot answer yet"
        assert self.answered_by(), "nobody answers the address"

    async def close(self) -> None:
        for node in self.running.values():
            await node.announcer.stop()
            node.kube.close()


async def started(cluster: Cluster, *names: str) -> None:
    for name in names:
        node = Node(cluster, name, config=CONFIG)
        node.join()
        node.start()
    await asyncio.sleep(SETTLE)


async def test_a_restarting_speaker_takes_its_address_back_only_once_it_can_answer() -> None:
    cluster = Cluster(address_ranking("n3"))
    try:
        await started(cluster, "n1", "n2")
        holder = next(iter(cluster.answered_by()))
        cluster.check()
        n3 = Node(cluster, "n3", config=CONFIG)
        n3.join()  # a member now, but not ready: everybody, n3 included, keeps the current owner
        assert set(cluster.owners().values()) == {holder}
        cluster.check()
        await asyncio.sleep(GRACE + 0.1)  # however long it takes n3 to get ready
        assert cluster.answered_by() == {holder}
        cluster.check()
        n3.start()  # ready: a planned move - n3 probes while the holder still answers
        assert set(cluster.owners().values()) == {"n3"}
        assert (cluster.phase("n3"), cluster.phase(holder)) == (Phase.PROBING, Phase.RELEASING)
        cluster.check()
        await asyncio.sleep(SETTLE)
        assert cluster.phase("n3") is Phase.ANNOUNCED
        cluster.check()
    finally:
        await cluster.close()


async def test_a_speaker_without_a_configuration_is_never_elected() -> None:
    cluster = Cluster(address_ranking("n3"))
    try:
        await started(cluster, "n1", "n2")
        n3 = Node(cluster, "n3", config=None)
        n3.join()
        n3.start()
        assert "n3" not in cluster.owners().values()
        await asyncio.sleep(GRACE + 0.1)
        cluster.check()
    finally:
        await cluster.close()


async def test_the_control_a_member_elected_before_it_can_answer_leaves_the_address_unanswered() -> None:
    """What the order prevents: n3 joins claiming to be ready (the old order: metadata without readiness, links up)
    while its controller has not started; the holder hands over and, after its grace, nobody answers."""
    cluster = Cluster(address_ranking("n3"))
    try:
        await started(cluster, "n1", "n2")
        holder = next(iter(cluster.answered_by()))
        n3 = Node(cluster, "n3", config=CONFIG)
        n3.join(Metadata(frozenset({"eth0"}), ("02:00:00:00:00:03",), ready=True).encode())
        assert set(cluster.owners().values()) == {"n3"} and cluster.phase(holder) is Phase.RELEASING
        await asyncio.sleep(GRACE + 0.1)
        assert cluster.answered_by() == set()
    finally:
        await cluster.close()
