"""Member table: the merge rules walked over every (record state x claim state x version order), and the ring.

The expected table below is written out by hand from the SWIM rules in members.py's docstring; the test walks
every combination and fails if one is missing from the table, so a new state cannot slip in unreviewed.
"""

from __future__ import annotations

import itertools

import pytest

from speaker.membership.core.codec import MemberState, MemberUpdate
from speaker.membership.core.members import MemberTable, ring_key

A, S, F, L = MemberState.ALIVE, MemberState.SUSPECT, MemberState.FAILED, MemberState.LEFT
NONE = None
ADDRESS = ("192.0.2.12", 7946)
LOCAL_VERSION = (100, 5)

# (record state or None, claim state, claim version vs record) -> (state afterwards, event names)
EXPECTED: dict[tuple[MemberState | None, MemberState, str], tuple[MemberState, tuple[str, ...]]] = {}
for order in ("older", "equal", "newer"):
    EXPECTED |= {
        (NONE, A, order): (A, ("MemberJoined",)),
        (NONE, S, order): (A, ("MemberJoined",)),
        (NONE, F, order): (F, ()),
        (NONE, L, order): (L, ()),
        (A, S, order): (A, ()),
        (S, S, order): (S, ()),
        (F, S, order): (F, ()),
        (F, F, order): (F, ()),
        (L, S, order): (L, ()),
        (L, F, order): (L, ()),
        (L, L, order): (L, ()),
    }
for order in ("older", "equal"):
    EXPECTED |= {
        (A, A, order): (A, ()),
        (S, A, order): (S, ()),
        (F, A, order): (F, ()),
        (L, A, order): (L, ()),
    }
EXPECTED |= {
    (A, A, "newer"): (A, ("MemberMetadataChanged",)),
    (S, A, "newer"): (A, ("MemberAlive", "MemberMetadataChanged")),
    (F, A, "newer"): (A, ("MemberJoined",)),
    (L, A, "newer"): (A, ("MemberJoined",)),
}
for order, applies in (("older", False), ("equal", True), ("newer", True)):
    EXPECTED |= {
        (A, F, order): (F, ("MemberFailed",)) if applies else (A, ()),
        (S, F, order): (F, ("MemberFailed",)) if applies else (S, ()),
        (A, L, order): (L, ("MemberLeft",)) if applies else (A, ()),
        (S, L, order): (L, ("MemberLeft",)) if applies else (S, ()),
        (F, L, order): (L, ()) if applies else (F, ()),
    }

VERSIONS = {"older": (10, 3), "equal": (10, 4), "newer": (10, 5)}


def _table_with(state: MemberState | None) -> MemberTable:
    table = MemberTable("local")
    if state is not None:
        table.apply(MemberUpdate(A, "x", 10, 4, ADDRESS, b"old"), LOCAL_VERSION, 0.0)
        record = table.get("x")
        assert record is not None
        table.set_state(record, state, 0.0)
    return table


@pytest.mark.parametrize(
    ("record_state", "claim", "order"),
    [
        pytest.param(r, c, o, id=f"{r.name if r else 'unknown'}-hears-{c.name}-{o}")
        for r, c, o in itertools.product([NONE, A, S, F, L], [A, S, F, L], VERSIONS)
    ],
)
def test_merge_rule(record_state: MemberState | None, claim: MemberState, order: str) -> None:
    assert (record_state, claim, order) in EXPECTED, "every combination must be in the expected table"
    want_state, want_events = EXPECTED[(record_state, claim, order)]
    table = _table_with(record_state)
    epoch, incarnation = VERSIONS[order]
    applied = table.apply(MemberUpdate(claim, "x", epoch, incarnation, ADDRESS, b"new", "det", 400), LOCAL_VERSION, 1.0)
    record = table.get("x")
    assert record is not None and record.state == want_state
    assert tuple(type(e).__name__ for e in applied.events) == want_events
    assert applied.refute_above is None
    assert applied.changed == (bool(want_events) or want_state != record_state)
    if want_events == ("MemberFailed",):
        failed = applied.events[0]
        assert getattr(failed, "detected_by", None) == "det" and getattr(failed, "after_seconds", None) == 0.4


LOCAL_CLAIMS = [
    pytest.param(S, (100, 5), 5, id="suspected-at-our-incarnation-refutes"),
    pytest.param(F, (100, 5), 5, id="declared-failed-at-our-incarnation-refutes"),
    pytest.param(L, (100, 7), 7, id="said-to-have-left-at-a-higher-incarnation-refutes-above-it"),
    pytest.param(F, (100, 4), None, id="an-already-refuted-claim-is-ignored"),
    pytest.param(A, (100, 5), None, id="alive-at-our-version-is-just-us"),
    pytest.param(A, (100, 9), 9, id="alive-above-our-version-is-outbid"),
    pytest.param(F, (99, 50), None, id="claims-about-a-previous-life-are-not-ours-to-refute"),
]


@pytest.mark.parametrize(("claim", "version", "refute_above"), LOCAL_CLAIMS)
def test_claims_about_the_local_node_ask_for_refutation(
    claim: MemberState, version: tuple[int, int], refute_above: int | None
) -> None:
    table = MemberTable("local")
    applied = table.apply(MemberUpdate(claim, "local", *version, ADDRESS), LOCAL_VERSION, 0.0)
    assert applied.refute_above == refute_above
    assert applied.events == [] and len(table) == 0


def test_unknown_member_without_an_address_is_not_recorded() -> None:
    table = MemberTable("local")
    assert table.apply(MemberUpdate(A, "x", 1, 0, None), LOCAL_VERSION, 0.0).events == []
    assert table.get("x") is None


def test_ring_is_ordered_by_hash_and_successors_wrap_around() -> None:
    table = MemberTable("n0")
    for i in range(1, 6):
        table.apply(MemberUpdate(A, f"n{i}", 1, 0, ("192.0.2.1", 7000 + i)), LOCAL_VERSION, 0.0)
    ring = table.ring()
    assert ring == sorted([f"n{i}" for i in range(6)], key=ring_key)
    at = ring.index("n0")
    assert table.successors(3) == [ring[(at + i) % 6] for i in (1, 2, 3)]
    assert table.successors(10) == [ring[(at + i) % 6] for i in range(1, 6)]
    generation = table.generation
    record = table.get(ring[(at + 1) % 6])
    assert record is not None
    table.set_state(record, F, 1.0)
    assert table.generation == generation + 1
    assert record.name not in table.ring()
    table.set_state(record, F, 2.0)  # no change of the live set: same generation
    assert table.generation == generation + 1


def test_every_node_computes_the_same_ring() -> None:
    names = [f"node-{i}" for i in range(8)]
    rings = []
    for local in names:
        table = MemberTable(local)
        for other in reversed(names):
            if other != local:
                table.apply(MemberUpdate(A, other, 1, 0, ("192.0.2.1", 7946)), LOCAL_VERSION, 0.0)
        rings.append(table.ring())
    assert all(r == rings[0] for r in rings)
