"""An in-memory network of sans-IO membership nodes on a simulated clock, for tests and benchmarks.

Theory of operation
-------------------
Each simulated node is a real :class:`~speaker.membership.core.protocol.Membership` driven exactly as the asyncio
adapter drives it: after every input the harness takes ``datagrams_to_send()``, re-arms the node's one timer at
``next_deadline()``, and when the timer fires it calls ``handle_timer(max(deadline, now))``. Nothing here is a
stand-in for the protocol; only the wire and the clock are simulated.

The network is a priority queue of (time, event) on one simulated clock. A datagram is delivered after
``delay`` plus a uniform ``jitter``, unless it is lost (probability ``loss``), or the two ends are in different
partition groups, or the destination has crashed. Faults:

* :meth:`Network.crash` - the node stops at once: it receives, sends and runs nothing (a hard failure, SIGKILL
  or power loss). :meth:`Network.restart` brings it back as a new process (new epoch) that joins again.
* :meth:`Network.stall` - the node runs nothing for a while (CPU starvation, GC pause, SIGSTOP): datagrams for it
  queue up as in a socket buffer; when the stall ends it reads them all and runs its overdue timer, like an
  asyncio loop waking up.
* :meth:`Network.partition` / :meth:`Network.heal` - groups of nodes that cannot reach each other.

Everything is deterministic for a given ``seed``. The harness also counts datagrams per node, so that a test
can check that traffic per interval grows linearly with the cluster size.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from speaker.membership.core.codec import Address
from speaker.membership.core.config import MembershipConfig
from speaker.membership.core.events import MemberFailed, MembershipEvent
from speaker.membership.core.protocol import Membership, RunState

DEFAULT_KEY = b"simulation-key-0123456789abcdef"
E = TypeVar("E")


@dataclass
class SimNode:
    name: str
    address: Address
    core: Membership
    crashed: bool = False
    stalled_until: float = 0.0
    backlog: list[tuple[bytes, Address]] = field(default_factory=list)
    timer_token: int = 0
    timer_at: float | None = None
    events: list[tuple[float, MembershipEvent]] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    @property
    def running(self) -> bool:
        return not self.crashed and self.core.state == RunState.RUNNING


class Network:
    """N membership nodes wired through an in-memory network with a simulated clock."""

    def __init__(
        self,
        *,
        seed: int = 0,
        loss: float = 0.0,
        delay: float = 0.0005,
        jitter: float = 0.0005,
        config: MembershipConfig | None = None,
        keys: Sequence[bytes] = (DEFAULT_KEY,),
    ) -> None:
        self.rng = random.Random(seed)
        self.loss = loss
        self.delay = delay
        self.jitter = jitter
        self.config = config or MembershipConfig()
        self.keys = tuple(keys)
        self.now = 0.0
        self.nodes: dict[str, SimNode] = {}
        self._by_address: dict[Address, str] = {}
        self._queue: list[tuple[float, int, str, str, object]] = []
        self._order = itertools.count()
        self._tokens = itertools.count(1)
        self._groups: dict[str, int] | None = None
        self.lost = 0
        self._epochs = itertools.count(1_700_000_000_000)

    # -- building -----------------------------------------------------------------------------------------------
    def add_node(
        self, name: str, *, seeds: Iterable[Address] = (), metadata: bytes = b"", config: MembershipConfig | None = None
    ) -> SimNode:
        """Start a node now and make it join ``seeds``."""
        index = len(self._by_address) + 1 if name not in self.nodes else None
        address = self.nodes[name].address if index is None else _address_for(index)
        core = Membership(
            name=name,
            address=address,
            epoch=next(self._epochs),
            keys=self.keys,
            metadata=metadata,
            config=config or self.config,
            seed=self.rng.randrange(1 << 30),
        )
        node = SimNode(name, address, core)
        self.nodes[name] = node
        self._by_address[address] = name
        core.join(seeds)
        self._service(node, core.handle_timer(self.now))
        return node

    def add_cluster(self, count: int, *, prefix: str = "node", seeds: int = 3) -> list[str]:
        """Start ``count`` nodes; each joins the first ``seeds`` nodes (as speakers listing their peers would)."""
        names = [f"{prefix}-{i:02d}" for i in range(count)]
        for name in names:
            seed_addresses = [self.nodes[n].address for n in names[:seeds] if n in self.nodes]
            self.add_node(name, seeds=seed_addresses)
        return names

    # -- faults -------------------------------------------------------------------------------------------------
    def crash(self, name: str) -> None:
        node = self.nodes[name]
        node.crashed = True
        node.backlog.clear()

    def restart(self, name: str, *, seeds: Iterable[Address] | None = None) -> SimNode:
        """A new process for a crashed node: same name and address, new epoch; it joins the other nodes."""
        old = self.nodes[name]
        if seeds is None:
            seeds = [n.address for n in self.nodes.values() if n.name != name]
        node = self.add_node(name, seeds=seeds, metadata=old.core.metadata)
        node.events[:0] = old.events
        return node

    def stall(self, name: str, duration: float) -> None:
        node = self.nodes[name]
        node.stalled_until = max(node.stalled_until, self.now + duration)
        self._push(node.stalled_until, "wake", name, None)

    def partition(self, *groups: Iterable[str]) -> None:
        """Cut the network into ``groups``; nodes not named form one more group."""
        assignment: dict[str, int] = {}
        for index, group in enumerate(groups):
            for name in group:
                assignment[name] = index
        self._groups = {name: assignment.get(name, len(groups)) for name in self.nodes}

    def heal(self) -> None:
        self._groups = None

    def leave(self, name: str) -> None:
        node = self.nodes[name]
        node.core.leave()
        self._service(node, node.core.handle_timer(self.now))

    def set_metadata(self, name: str, metadata: bytes) -> None:
        node = self.nodes[name]
        node.core.set_metadata(metadata)
        self._service(node, node.core.handle_timer(self.now))

    # -- running ------------------------------------------------------------------------------------------------
    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, deadline: float) -> None:
        while self._queue and self._queue[0][0] <= deadline:
            at, _, kind, name, payload = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            node = self.nodes[name]
            if node.crashed:
                continue
            if kind == "deliver":
                assert isinstance(payload, tuple)
                if self.now < node.stalled_until:
                    node.backlog.append(payload)
                    continue
                self._deliver(node, payload)
            elif kind == "timer":
                if payload != node.timer_token or self.now < node.stalled_until:
                    continue
                assert node.timer_at is not None
                self._service(node, node.core.handle_timer(max(node.timer_at, self.now)))
            elif kind == "wake" and self.now >= node.stalled_until:
                backlog, node.backlog = node.backlog, []
                for item in backlog:
                    self._deliver(node, item)
                deadline_at = node.core.next_deadline()
                if deadline_at is not None and deadline_at <= self.now:
                    self._service(node, node.core.handle_timer(self.now))
        self.now = max(self.now, deadline)

    def _deliver(self, node: SimNode, item: tuple[bytes, Address]) -> None:
        data, source = item
        node.received += 1
        self._service(node, node.core.receive_datagram(data, source, self.now))

    def _service(self, node: SimNode, events: list[MembershipEvent]) -> None:
        """The adapter's loop shape: record events, send datagrams, re-arm the one timer."""
        node.events.extend((self.now, e) for e in events)
        for data, destination in node.core.datagrams_to_send():
            node.sent += 1
            self._transmit(node.name, data, destination)
        deadline = node.core.next_deadline()
        node.timer_token = next(self._tokens)
        node.timer_at = deadline
        if deadline is not None:
            self._push(max(deadline, self.now), "timer", node.name, node.timer_token)

    def _transmit(self, source: str, data: bytes, destination: Address) -> None:
        target = self._by_address.get(destination)
        if target is None:
            return
        if self._groups is not None and self._groups.get(source) != self._groups.get(target):
            return
        if self.loss and self.rng.random() < self.loss:
            self.lost += 1
            return
        at = self.now + self.delay + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
        self._push(at, "deliver", target, (data, self.nodes[source].address))

    def _push(self, at: float, kind: str, name: str, payload: object) -> None:
        heapq.heappush(self._queue, (at, next(self._order), kind, name, payload))

    # -- observing ----------------------------------------------------------------------------------------------
    def running(self) -> list[str]:
        return sorted(n.name for n in self.nodes.values() if n.running)

    def views(self) -> dict[str, frozenset[str]]:
        """Every running node's live set."""
        return {n.name: n.core.view().alive() for n in self.nodes.values() if n.running}

    def converged(self, expected: Iterable[str] | None = None) -> bool:
        """Whether every running node sees exactly ``expected`` (default: the running nodes) as alive."""
        want = frozenset(expected if expected is not None else self.running())
        return all(view == want for name, view in self.views().items() if name in want)

    def run_until_converged(self, timeout: float, *, step: float = 0.01) -> float | None:
        """Run until :meth:`converged`; returns the simulated time it took, or ``None`` after ``timeout``."""
        start = self.now
        while self.now - start <= timeout:
            if self.converged():
                return self.now - start
            self.run_for(step)
        return None

    def failure_seen_at(self, name: str, *, since: float = 0.0) -> dict[str, float]:
        """For each running node, when it first reported ``MemberFailed(name)`` at or after ``since``."""
        seen: dict[str, float] = {}
        for node in self.nodes.values():
            if node.name == name or not node.running:
                continue
            for at, event in node.events:
                if at >= since and isinstance(event, MemberFailed) and event.name == name:
                    seen[node.name] = at
                    break
        return seen

    def events_of(self, name: str, kind: type[E], *, since: float = 0.0) -> list[tuple[float, E]]:
        """The events of type ``kind`` node ``name`` reported at or after ``since``, with their times."""
        return [(at, e) for at, e in self.nodes[name].events if at >= since and isinstance(e, kind)]

    def datagrams_sent(self) -> dict[str, int]:
        return {n.name: n.sent for n in self.nodes.values()}


def _address_for(index: int) -> Address:
    if index <= 250:
        return (f"192.0.2.{index}", 7946)
    return (f"2001:db8::{index:x}", 7946)


__all__ = ["DEFAULT_KEY", "Network", "SimNode"]
