"""The L2 data plane: answer ARP and NDP for the addresses this node owns, and announce takeovers.

The speaker calls :class:`~speaker.l2.announcer.Announcer`::

    announcer = Announcer(exclude=DEFAULT_EXCLUDE, announce=AnnounceConfig(), probe=ProbeConfig())
    await announcer.start()
    announcer.set_speaker_macs(macs_from_membership)            # for Takeover.PROBE_IGNORING_SPEAKERS
    announcer.set_owned({ip: None, ip6: frozenset({"eth0"})},     # None = every eligible interface
                        takeover={ip: Takeover.PROBE_IGNORING_SPEAKERS})
    announcer.release(ip, after=0.5)                             # planned handover: answer a little longer
    announcer.add_listener(on_event)                             # AddressAnnounced / AddressConflict /
                                                                 # AddressReleased / LinkEvent
    announcer.interfaces(); announcer.macs()                     # eligible interfaces + link state, for membership
    metrics.register(announcer.read_stats)                       # MetalLB's metric names
    await announcer.stop()

Layout: ``core/`` is sans-IO (codecs, the answering decision, the announcement schedule, probing, the per-address
life cycle); the modules beside it are the thin adapters (BPF filters, packet sockets, multicast membership, netlink
interface monitor, the announcer, metrics). ``python -m speaker.l2`` runs the announcer alone for the lab.
Names are re-exported lazily so that importing ``speaker.l2.core`` never pulls in asyncio or netlink.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from speaker.l2.announcer import Announcer, AnnouncerEvent
    from speaker.l2.core.announce import AnnounceConfig
    from speaker.l2.core.ownership import AddressAnnounced, AddressReleased, Phase, Takeover
    from speaker.l2.core.probe import AddressConflict, ProbeConfig
    from speaker.l2.core.responder import DropReason
    from speaker.l2.interfaces import DEFAULT_EXCLUDE, LinkEvent, LinkEventKind, LinkState
    from speaker.l2.stats import L2Stats

_WHERE = {
    "Announcer": "speaker.l2.announcer",
    "AnnouncerEvent": "speaker.l2.announcer",
    "AnnounceConfig": "speaker.l2.core.announce",
    "AddressAnnounced": "speaker.l2.core.ownership",
    "AddressReleased": "speaker.l2.core.ownership",
    "Phase": "speaker.l2.core.ownership",
    "Takeover": "speaker.l2.core.ownership",
    "AddressConflict": "speaker.l2.core.probe",
    "ProbeConfig": "speaker.l2.core.probe",
    "DropReason": "speaker.l2.core.responder",
    "DEFAULT_EXCLUDE": "speaker.l2.interfaces",
    "LinkEvent": "speaker.l2.interfaces",
    "LinkEventKind": "speaker.l2.interfaces",
    "LinkState": "speaker.l2.interfaces",
    "L2Stats": "speaker.l2.stats",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'speaker.l2' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Announcer",
    "AnnouncerEvent",
    "AnnounceConfig",
    "ProbeConfig",
    "Takeover",
    "Phase",
    "AddressAnnounced",
    "AddressConflict",
    "AddressReleased",
    "LinkEvent",
    "LinkEventKind",
    "LinkState",
    "DropReason",
    "L2Stats",
    "DEFAULT_EXCLUDE",
]
