"""Liveness sources: what speakers publish about themselves, and Node conditions as a membership stand-in."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.api.node import NodeView
from speaker.liveness import Metadata, NodeConditionsLiveness
from speaker.membership import MemberFailed, MemberJoined, MemberMetadataChanged, MembershipEvent


def test_metadata_round_trips() -> None:
    meta = Metadata(frozenset({"eth1", "eth0"}), ("02:00:00:00:00:02",))
    assert meta.encode() == b'{"up":["eth0","eth1"],"macs":["02:00:00:00:00:02"]}'
    assert Metadata.decode(meta.encode()) == meta


def test_metadata_is_shortened_to_the_limit_dropping_macs_first() -> None:
    meta = Metadata(frozenset(f"eth{i}" for i in range(10)), tuple(f"02:00:00:00:00:{i:02x}" for i in range(10)))
    data = meta.encode(limit=120)
    assert len(data) <= 120
    short = Metadata.decode(data)
    assert short is not None and short.interfaces_up == meta.interfaces_up and len(short.macs) < 10


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"[1,2]", id="not-an-object"),
        pytest.param(b'{"up":"eth0"}', id="up-not-a-list"),
        pytest.param(b'{"macs":[]}', id="no-up"),
    ],
)
def test_unreadable_metadata_is_none(data: bytes) -> None:
    assert Metadata.decode(data) is None


@given(st.binary(max_size=300))
def test_decoding_never_raises(data: bytes) -> None:
    Metadata.decode(data)


def nodes(**ready: bool) -> Mapping[str, NodeView]:
    return {
        name: NodeView(name, conditions={"Ready": "True" if is_ready else "False"}) for name, is_ready in ready.items()
    }


def test_node_conditions_turn_readiness_into_membership_events_script() -> None:
    seen: list[MembershipEvent] = []
    source = NodeConditionsLiveness(node="n1", metadata=b'{"up":["eth0"],"macs":[]}', on_event=seen.append)
    source.set_nodes(nodes(n1=True, n2=True, n3=False))
    assert seen == [
        MemberJoined("n1", None, b'{"up":["eth0"],"macs":[]}'),
        MemberJoined("n2", None, b""),
    ]
    assert source.view().alive() == {"n1", "n2"}
    seen.clear()
    source.set_nodes(nodes(n1=True, n2=False, n3=True))
    assert seen == [MemberFailed("n2", "node-conditions", 0.0), MemberJoined("n3", None, b"")]
    seen.clear()
    source.set_nodes(nodes(n1=True, n2=False, n3=True))
    assert seen == [], "the same readiness again says nothing"
    source.set_metadata(b'{"up":[],"macs":[]}')
    assert seen == [MemberMetadataChanged("n1", b'{"up":[],"macs":[]}', (0, 0))]
    assert source.member_states() == {"n1": "alive", "n2": "failed", "n3": "alive"}


def test_this_node_follows_its_own_readiness_too() -> None:
    """Every speaker must see the same candidates: a NotReady node stops announcing on its own as well."""
    seen: list[MembershipEvent] = []
    source = NodeConditionsLiveness(node="n1", metadata=b"", on_event=seen.append)
    source.set_nodes(nodes(n1=True, n2=True))
    seen.clear()
    source.set_nodes(nodes(n1=False, n2=True))
    assert seen == [MemberFailed("n1", "node-conditions", 0.0)]
    assert "n1" not in source.view()
