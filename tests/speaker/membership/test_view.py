"""MembershipView: folding events into a snapshot and diffing snapshots into events, so that another liveness
source (Node conditions, Leases) can feed the same consumers as the UDP protocol."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.membership.core.errors import DropReason
from speaker.membership.core.events import (
    MemberAlive,
    MemberFailed,
    MemberJoined,
    MemberLeft,
    MemberMetadataChanged,
    MembershipEvent,
    MemberSuspected,
    PacketDropped,
)
from speaker.membership.core.view import MemberInfo, MembershipView

BASE = MembershipView.of("n1", [MemberInfo("n1", ("192.0.2.11", 7946)), MemberInfo("n2", ("192.0.2.12", 7946), b"a")])

APPLY = [
    pytest.param(MemberJoined("n3", ("192.0.2.13", 7946), b"m"), {"n1", "n2", "n3"}, id="join-adds"),
    pytest.param(MemberFailed("n2", "n1", 0.4), {"n1"}, id="failure-removes"),
    pytest.param(MemberLeft("n2"), {"n1"}, id="leave-removes"),
    pytest.param(MemberLeft("n1"), {"n1", "n2"}, id="the-local-node-never-leaves-its-own-view"),
    pytest.param(MemberFailed("n9", "n1", 0.4), {"n1", "n2"}, id="failure-of-an-unknown-member-is-a-no-op"),
    pytest.param(MemberSuspected("n2", "n1", 0.25), {"n1", "n2"}, id="a-suspect-is-still-alive"),
    pytest.param(MemberAlive("n2", refuted=True), {"n1", "n2"}, id="alive-changes-nothing"),
    pytest.param(PacketDropped(DropReason.REPLAYED, ("192.0.2.9", 1), ""), {"n1", "n2"}, id="drops-change-nothing"),
]


@pytest.mark.parametrize(("event", "alive"), APPLY)
def test_apply(event: MembershipEvent, alive: set[str]) -> None:
    after = BASE.apply(event)
    assert after.alive() == alive
    assert BASE.alive() == {"n1", "n2"}  # views are immutable


def test_metadata_change_keeps_the_address_and_ignores_unknown_members() -> None:
    after = BASE.apply(MemberMetadataChanged("n2", b"b", (1, 2)))
    assert after.metadata("n2") == b"b" and after.members["n2"].address == ("192.0.2.12", 7946)
    assert BASE.apply(MemberMetadataChanged("n9", b"b", (1, 2))) is BASE
    assert after.metadata("n9") is None and "n2" in after and len(after) == 2
    assert [m.name for m in after] == ["n1", "n2"]


def test_diff_reports_removals_as_the_source_says() -> None:
    without = MembershipView.of("n1", [MemberInfo("n1", ("192.0.2.11", 7946))])
    assert MembershipView.diff(BASE, without, detected_by="node-conditions") == [
        MemberFailed("n2", "node-conditions", 0.0)
    ]
    assert MembershipView.diff(BASE, without, gone="left") == [MemberLeft("n2")]


members = st.builds(
    MemberInfo,
    st.sampled_from(["n2", "n3", "n4", "n5"]),
    st.sampled_from([None, ("192.0.2.12", 7946), ("192.0.2.13", 7946)]),
    st.sampled_from([b"", b"a", b"b"]),
)
views = st.lists(members, max_size=4).map(lambda ms: MembershipView.of("n1", [MemberInfo("n1"), *ms]))


@given(old=views, new=views, gone=st.sampled_from(["failed", "left"]))
def test_applying_the_diff_of_two_views_gives_the_second(old: MembershipView, new: MembershipView, gone: str) -> None:
    view = old
    events = MembershipView.diff(old, new, gone="left" if gone == "left" else "failed")
    for event in events:
        view = view.apply(event)
    assert view == new and hash(view) == hash(new)
    assert MembershipView.diff(new, new) == []
