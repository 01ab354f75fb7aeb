"""nodeAssigned: once per change of the announcing node, from the new one, never on a plain re-reconcile."""

from __future__ import annotations

from speaker.status.assignments import AssignmentEvents, node_assigned_message


def test_reconciling_again_emits_nothing_more() -> None:
    events = AssignmentEvents("n1")
    assert events.announce("default/web", recorded=frozenset())
    assert not any(events.announce("default/web", recorded=frozenset({"n1"})) for _ in range(100))


def test_the_owner_flapping_emits_on_each_new_owner_script() -> None:
    a, b = AssignmentEvents("a"), AssignmentEvents("b")
    emitted = []
    emitted.append(("a", a.announce("s", recorded=frozenset())))
    a.withdraw("s")  # a fails over to b; b sees a's object still there
    emitted.append(("b", b.announce("s", recorded=frozenset({"a"}))))
    b.withdraw("s")  # and back to a
    emitted.append(("a", a.announce("s", recorded=frozenset({"b"}))))
    assert emitted == [("a", True), ("b", True), ("a", True)]
    assert a.announcing() == frozenset({"s"}) and b.announcing() == frozenset()


def test_a_restarted_speaker_resuming_its_own_announcement_emits_nothing() -> None:
    restarted = AssignmentEvents("n1")
    assert not restarted.announce("s", recorded=frozenset({"n1"}))


def test_a_restarted_speaker_taking_over_from_another_emits() -> None:
    """Its object from before it died survives next to the owner's meanwhile: that is a change."""
    restarted = AssignmentEvents("n1")
    assert restarted.announce("s", recorded=frozenset({"n1", "n2"}))


def test_services_are_independent() -> None:
    events = AssignmentEvents("n1")
    assert events.announce("a", recorded=frozenset())
    assert events.announce("b", recorded=frozenset())
    events.withdraw("a")
    assert not events.announce("b", recorded=frozenset())
    assert events.announce("a", recorded=frozenset())


def test_message_is_metallbs() -> None:
    assert node_assigned_message("n1", "layer2") == 'announcing from node "n1" with protocol "layer2"'
