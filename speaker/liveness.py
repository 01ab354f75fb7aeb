"""Who is alive, and what each speaker publishes: the membership protocol, or Node conditions when it is off.

Both sources end in the same place (speaker/membership/README.md): a :class:`MembershipView` snapshot and the
live-set events (MemberJoined, MemberFailed, MemberLeft, MemberMetadataChanged), handed to one callback. The
speaker does not care which source produced them.

* :class:`MembershipLiveness` runs the UDP protocol (:class:`speaker.membership.udp.MembershipEndpoint`) on
  ``--ml-bind-addr:--ml-bind-port``. Seeds are the speaker pods' IPs (``--ml-labels``), refreshed as pods come
  and go; keys come from the membership Secret, rotated without a restart.
* :class:`NodeConditionsLiveness` (``--membership=false``) counts a speaker alive while its Node is Ready, and
  turns each change of that set into the same events with :meth:`MembershipView.diff`. This node follows the
  same rule (every speaker must see the same candidates, or two of them announce one address). Slow (the
  node-monitor grace period: tens of seconds), but needs no UDP.

Metadata is a small JSON object every speaker publishes about itself: whether it is *ready*, the L2 interfaces on
which it answers ARP/NDP (the election drops a speaker without a usable link from the candidates of addresses on
that link) and their MACs (the new owner of an address ignores the old owner's MACs when it probes during a planned
move, and a releasing owner recognises the new owner's announcements by them)::

    {"up": ["eth0"], "macs": ["02:00:00:00:00:02"], "ready": true}

**Readiness** carries the start-up invariant "no speaker is elected owner before it can answer"
(:mod:`speaker.app`). A starting speaker joins the membership as soon as it can (it needs the live set to decide),
but publishes ``"ready": false`` and no interface until its L2 controller runs on a loaded configuration and its
announcer answers on the interfaces it lists; :func:`speaker_liveness` makes such a member alive but not a
candidate, on every node alike (its own view included), so nobody hands it an address meanwhile. The empty ``up``
list keeps older speakers, which do not read ``ready``, from electing it too. Metadata without the key (an older
speaker) counts as ready, as it did before. With ``--membership=false`` other nodes cannot see a speaker's metadata:
there a node counts as ready while its Node is Ready, and the invariant holds only for the local decisions.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from loguru import logger

from ironlb.api.node import NodeView
from speaker.membership import MemberInfo, Membership, MembershipConfig, MembershipEvent, MembershipView
from speaker.membership.core.codec import Address
from speaker.membership.metrics import MembershipMetrics
from speaker.membership.udp import MembershipEndpoint
from speaker.view import Liveness as ViewLiveness

Listener = Callable[[MembershipEvent], None]
NODE_CONDITIONS = "node-conditions"
MEMBERSHIP = "membership"


@dataclass(frozen=True, slots=True)
class Metadata:
    """What a speaker publishes about itself."""

    #: interfaces on which it answers ARP/NDP (empty while it is not ready)
    interfaces_up: frozenset[str]
    macs: tuple[str, ...] = ()
    #: it acts on what it wins: an election may make it owner (see the module docstring)
    ready: bool = True

    def encode(self, limit: int = 512) -> bytes:
        """JSON, shortened to ``limit`` bytes by dropping MACs, then interfaces, from the end (sorted order)."""
        up, macs = sorted(self.interfaces_up), sorted(self.macs)
        while True:
            data = json.dumps({"up": up, "macs": macs, "ready": self.ready}, separators=(",", ":")).encode()
            if len(data) <= limit or not (up or macs):
                return data
            if macs:
                macs.pop()
            else:
                up.pop()

    @classmethod
    def decode(cls, data: bytes) -> Metadata | None:
        """The metadata another speaker published, or None when it published none we can read."""
        if not data:
            return None
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(obj, dict):
            return None
        up = obj.get("up")
        macs = obj.get("macs") or []
        ready = obj.get("ready", True)  # older speakers do not say: they were taken as ready, and still are
        if not isinstance(up, list) or not isinstance(macs, list) or not isinstance(ready, bool):
            return None
        return cls(frozenset(str(i) for i in up), tuple(str(m) for m in macs), ready)


def speaker_liveness(alive: bool, metadata: bytes | None) -> ViewLiveness:
    """What the view needs to know about a speaker: alive, ready (a candidate at all), where it answers.

    Unreadable or missing metadata (an older speaker, or Node conditions, which carry none) leaves the interfaces
    unknown (assumed up) and counts as ready, as before readiness existed.
    """
    meta = Metadata.decode(metadata) if metadata else None
    if meta is None:
        return ViewLiveness(alive)
    return ViewLiveness(alive, meta.interfaces_up, meta.ready)


class MembershipLiveness:
    """The membership protocol on a UDP socket. Create, then :meth:`start` inside the running loop."""

    source = MEMBERSHIP

    def __init__(
        self,
        *,
        node: str,
        address: Address,
        keys: Sequence[bytes],
        metadata: bytes,
        scale: float,
        on_event: Listener,
        metrics: MembershipMetrics | None = None,
    ) -> None:
        config = MembershipConfig()
        if scale != 1.0:
            config = config.scaled(scale)
        self.node = node
        self.address = address
        self.core = Membership(
            name=node,
            address=address,
            epoch=time.time_ns() // 1_000_000,
            keys=list(keys),
            metadata=metadata,
            config=config,
        )
        self._keys = tuple(keys)
        self._on_event = on_event
        self._metrics = metrics
        self.endpoint: MembershipEndpoint | None = None
        self._seeds: tuple[Address, ...] = ()
        self._settled = asyncio.Event()

    async def start(self) -> None:
        self.endpoint = await MembershipEndpoint.open(
            self.core, bind=self.address, on_event=self._dispatch, metrics=self._metrics
        )
        logger.bind(address=f"{self.address[0]}:{self.address[1]}").info("membership started")

    def _dispatch(self, event: MembershipEvent) -> None:
        if len(self.view()) > 1:
            self._settled.set()
        self._on_event(event)

    def set_seeds(self, seeds: Iterable[Address]) -> None:
        """The other speakers' addresses (from their pods); the first call joins."""
        fresh = tuple(sorted({s for s in seeds if s != self.address}))
        if not fresh:
            self._settled.set()  # nobody to join: we are the whole cluster
        if fresh == self._seeds or self.endpoint is None:
            self._seeds = fresh
            return
        first = not self._seeds
        self._seeds = fresh
        if first:
            self.endpoint.join(fresh)
        else:
            self.endpoint.set_seeds(fresh)

    async def settled(self, limit: float) -> bool:
        """Wait until we joined another member (or know there is none); False after ``limit`` seconds."""
        try:
            await asyncio.wait_for(self._settled.wait(), limit)
        except TimeoutError:
            return False
        return True

    def set_keys(self, keys: Sequence[bytes]) -> None:
        """The Secret changed: sign with the new key, keep accepting the previous one (a rolling rotation)."""
        previous = [k for k in self._keys if k not in keys][:1]
        self._keys = tuple(keys)
        if self.endpoint is not None:
            self.endpoint.set_keys([*keys, *previous])

    def set_metadata(self, metadata: bytes) -> None:
        """Publish new metadata; before :meth:`start` the core keeps it and the first datagrams carry it."""
        if self.endpoint is not None:
            self.endpoint.set_metadata(metadata)
        else:
            self.core.set_metadata(metadata)  # sans-IO: only queued; the endpoint flushes it when it opens

    def view(self) -> MembershipView:
        return self.core.view()

    def member_states(self) -> Mapping[str, str]:
        return {name: state.name.lower() for name, state in self.core.member_states().items()}

    async def leave(self, grace: float = 1.0) -> None:
        if self.endpoint is not None:
            await self.endpoint.leave(grace)

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.close()


class NodeConditionsLiveness:
    """Liveness from the Nodes' Ready condition (``--membership=false``)."""

    source = NODE_CONDITIONS

    def __init__(self, *, node: str, metadata: bytes, on_event: Listener) -> None:
        self.node = node
        self._metadata = metadata
        self._on_event = on_event
        self._ready: frozenset[str] = frozenset()
        self._known: frozenset[str] = frozenset()
        self._view = MembershipView.of(node, [])

    def _build(self) -> MembershipView:
        members = [MemberInfo(name, None, b"") for name in sorted(self._ready) if name != self.node]
        if self.node in self._ready:
            members.append(MemberInfo(self.node, None, self._metadata))
        return MembershipView.of(self.node, members)

    def _publish(self) -> None:
        new = self._build()
        events = MembershipView.diff(self._view, new, gone="failed", detected_by=NODE_CONDITIONS)
        self._view = new
        for event in events:
            self._on_event(event)

    def set_nodes(self, nodes: Mapping[str, NodeView]) -> None:
        """The Nodes as the informer has them now."""
        ready = frozenset(name for name, node in nodes.items() if node.ready and not node.deleting)
        self._known = frozenset(nodes)
        if ready != self._ready:
            self._ready = ready
            self._publish()

    def set_metadata(self, metadata: bytes) -> None:
        if metadata != self._metadata:
            self._metadata = metadata
            self._publish()

    def view(self) -> MembershipView:
        return self._view

    def member_states(self) -> Mapping[str, str]:
        names = sorted(self._known | {self.node})
        return {name: ("alive" if name in self._view else "failed") for name in names}

    async def settled(self, limit: float) -> bool:
        del limit
        return True

    async def leave(self, grace: float = 1.0) -> None:
        del grace

    def close(self) -> None:
        return


Liveness = MembershipLiveness | NodeConditionsLiveness

__all__ = [
    "MEMBERSHIP",
    "NODE_CONDITIONS",
    "Liveness",
    "MembershipLiveness",
    "Metadata",
    "NodeConditionsLiveness",
    "speaker_liveness",
]
