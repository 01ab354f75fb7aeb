"""Liveness sources: what speakers publish about themselves, and Node conditions as a membership stand-in."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ironlb.api.node import NodeView
from speaker.liveness import MembershipLiveness, Metadata, NodeConditionsLiveness, speaker_liveness
from speaker.membership import MemberFailed, MemberJoined, MemberMetadataChanged, MembershipEvent
from speaker.view import Liveness


def test_metadata_round_trips() -> None:
    meta = Metadata(frozenset({"eth1", "eth0"}), ("02:00:00:00:00:02",))
    assert meta.encode() == b'{"up":["eth0","eth1"],"macs":["02:00:00:00:00:02"],"ready":true}'
    assert Metadata.decode(meta.encode()) == meta
    starting = Metadata(frozenset(), ("02:00:00:00:00:02",), ready=False)
    assert starting.encode() == b'{"up":[],"macs":["02:00:00:00:00:02"],"ready":false}'
    assert Metadata.decode(starting.encode()) == starting


def test_metadata_of_an_older_speaker_counts_as_ready() -> None:
    """Speakers from before readiness publish no "ready": they were electable, and stay so during an upgrade."""
    assert Metadata.decode(b'{"up":["eth0"],"macs":[]}') == Metadata(frozenset({"eth0"}), (), ready=True)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        pytest.param(None, Liveness(True), id="no-metadata-interfaces-unknown-and-ready"),
        pytest.param(b"not json", Liveness(True), id="unreadable-metadata-as-if-none"),
        pytest.param(
            b'{"up":["eth0"],"macs":[],"ready":true}', Liveness(True, frozenset({"eth0"}), True), id="ready-speaker"
        ),
        pytest.param(
            b'{"up":[],"macs":["02:00:00:00:00:02"],"ready":false}',
            Liveness(True, frozenset(), False),
            id="starting-speaker-is-no-candidate",
        ),
    ],
)
def test_speaker_liveness_reads_readiness_and_interfaces(metadata: bytes | None, expected: Liveness) -> None:
    assert speaker_liveness(True, metadata) == expected


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
        pytest.param(b'{"up":[],"ready":"yes"}', id="ready-not-a-bool"),
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


async def test_metadata_published_before_the_endpoint_opens_is_kept() -> None:
    """A link or readiness change between building the liveness source and opening its socket is not lost."""
    starting = Metadata(frozenset(), ("02:00:00:00:00:02",), ready=False).encode()
    ready = Metadata(frozenset({"eth0"}), ("02:00:00:00:00:02",)).encode()
    source = MembershipLiveness(
        node="n1",
        address=("192.0.2.11", 7946),
        keys=[b"0123456789abcdef0123"],
        metadata=starting,
        scale=1.0,
        on_event=lambda event: None,
    )
    source.set_metadata(ready)
    assert source.view().metadata("n1") == ready
