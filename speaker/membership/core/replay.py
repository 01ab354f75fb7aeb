"""Replay protection: per sender, a boot epoch and a sliding window of accepted sequence numbers.

Theory of operation
-------------------
The HMAC proves a datagram was made by a key holder, not that it is fresh: anyone on the LAN could record an ACK
and play it back after the sender died, keeping a dead node "alive". So every datagram carries, inside the signed
bytes, the sender's *epoch* (a boot id the adapter picks when the process starts, e.g. its start time in
milliseconds, so that it grows across restarts without the core reading a clock) and a *sequence number* that
the sender increments for every datagram it sends to anyone.

For each sender name we keep the highest epoch seen and, within it, the highest sequence number plus a bitmap
of the ``window`` numbers below it (the same scheme as IPsec's anti-replay window, RFC 4303 section 3.4.3):

* epoch older than the one on record                  -> STALE_EPOCH (a packet from a previous life of the sender)
* epoch newer                                          -> accepted; the window restarts (the sender rebooted)
* same epoch, sequence above the highest               -> accepted; the window slides
* same epoch, within the window and not yet seen       -> accepted (reordered on the way)
* same epoch, within the window and already seen       -> REPLAYED
* same epoch, below the window                         -> STALE_SEQUENCE

The window is counted in the sender's sequence numbers, and those are shared by all its destinations, so a
receiver sees gaps; that is fine, gaps are just zero bits. The check happens after authentication, so only key
holders create entries here, and :meth:`ReplayGuard.forget` drops a sender when the member table forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.membership.core.errors import DropReason


@dataclass(slots=True)
class _Window:
    epoch: int
    highest: int
    seen: int  # bit i set = sequence (highest - i) was accepted; bit 0 is ``highest`` itself


class ReplayGuard:
    """Remembers what each sender already sent; :meth:`check` names the drop reason or returns ``None``."""

    def __init__(self, window: int = 256) -> None:
        self._window = window
        self._senders: dict[str, _Window] = {}

    def check(self, sender: str, epoch: int, seq: int) -> DropReason | None:
        """Accept (and record) ``(sender, epoch, seq)``, or return why it must be dropped (nothing recorded)."""
        state = self._senders.get(sender)
        if state is None or epoch > state.epoch:
            self._senders[sender] = _Window(epoch, seq, 1)
            return None
        if epoch < state.epoch:
            return DropReason.STALE_EPOCH
        if seq > state.highest:
            shift = seq - state.highest
            state.seen = ((state.seen << shift) | 1) & ((1 << self._window) - 1) if shift < self._window else 1
            state.highest = seq
            return None
        offset = state.highest - seq
        if offset >= self._window:
            return DropReason.STALE_SEQUENCE
        if state.seen >> offset & 1:
            return DropReason.REPLAYED
        state.seen |= 1 << offset
        return None

    def epoch_of(self, sender: str) -> int | None:
        """The newest epoch accepted from ``sender``, if any."""
        state = self._senders.get(sender)
        return state.epoch if state else None

    def forget(self, sender: str) -> None:
        self._senders.pop(sender, None)

    def senders(self) -> list[str]:
        return list(self._senders)

    def __len__(self) -> int:
        return len(self._senders)


__all__ = ["ReplayGuard"]
