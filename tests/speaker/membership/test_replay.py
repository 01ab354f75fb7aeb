"""Replay guard: per-sender epoch and sliding sequence window (RFC 4303 style). Pure; no protocol object here."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.membership.core.errors import DropReason
from speaker.membership.core.replay import ReplayGuard

A = DropReason | None
SCRIPTS = [
    pytest.param([(1, 1, None), (1, 2, None), (1, 3, None)], id="increasing-sequence-is-accepted"),
    pytest.param([(1, 5, None), (1, 5, DropReason.REPLAYED)], id="same-datagram-twice-is-a-replay"),
    pytest.param([(1, 5, None), (1, 9, None), (1, 7, None)], id="reordered-within-the-window-is-accepted"),
    pytest.param([(1, 5, None), (1, 9, None), (1, 5, DropReason.REPLAYED)], id="old-seen-number-is-a-replay"),
    pytest.param([(1, 100, None), (1, 37, None), (1, 36, DropReason.STALE_SEQUENCE)], id="below-window-is-stale"),
    pytest.param([(1, 1, None), (1, 1000, None), (1, 999, None), (1, 1, DropReason.STALE_SEQUENCE)], id="big-jump"),
    pytest.param([(2, 50, None), (1, 51, DropReason.STALE_EPOCH)], id="older-epoch-is-stale-whatever-the-seq"),
    pytest.param([(1, 50, None), (2, 1, None), (2, 2, None)], id="restart-with-newer-epoch-resets-the-window"),
    pytest.param([(1, 50, None), (2, 1, None), (1, 51, DropReason.STALE_EPOCH)], id="after-restart-old-life-is-stale"),
    pytest.param([(1, 0, None), (1, 0, DropReason.REPLAYED)], id="sequence-zero-is-tracked-too"),
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_replay_script(script: list[tuple[int, int, A]]) -> None:
    guard = ReplayGuard(window=64)
    for step, (epoch, seq, expected) in enumerate(script):
        assert guard.check("node1", epoch, seq) == expected, f"step {step}: epoch {epoch} seq {seq}"


def test_senders_are_tracked_separately_and_can_be_forgotten() -> None:
    guard = ReplayGuard(window=8)
    assert guard.check("a", 1, 5) is None
    assert guard.check("b", 1, 5) is None
    assert guard.check("a", 1, 5) == DropReason.REPLAYED
    assert guard.epoch_of("a") == 1
    guard.forget("a")
    assert guard.epoch_of("a") is None
    assert guard.check("a", 1, 5) is None  # forgotten: accepted again (only done for forgotten members)
    assert sorted(guard.senders()) == ["a", "b"] and len(guard) == 2


@given(st.lists(st.tuples(st.integers(1, 3), st.integers(0, 300)), max_size=200))
def test_no_datagram_is_ever_accepted_twice(datagrams: list[tuple[int, int]]) -> None:
    guard = ReplayGuard(window=32)
    accepted: set[tuple[int, int]] = set()
    newest_epoch = 0
    for epoch, seq in datagrams:
        reason = guard.check("n", epoch, seq)
        if reason is None:
            assert (epoch, seq) not in accepted
            assert epoch >= newest_epoch
            accepted.add((epoch, seq))
            newest_epoch = epoch
        elif reason == DropReason.STALE_EPOCH:
            assert epoch < newest_epoch


@given(st.permutations(list(range(64))))
def test_any_reordering_within_the_window_is_accepted_once(order: list[int]) -> None:
    guard = ReplayGuard(window=64)
    assert all(guard.check("n", 1, seq) is None for seq in order)
    assert all(guard.check("n", 1, seq) == DropReason.REPLAYED for seq in order)
