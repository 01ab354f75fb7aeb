"""Layer 2: IPv4 and IPv6 (ARP and NDP) from the client on the LAN, failover when a node or a speaker goes away.

Timing is asserted only as an outcome with generous bounds ("traffic flows again", "no request failed"); the
figures themselves are measured by the probe (a new connection every 20 ms) and printed at the end of the run.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from e2e import objects
from e2e.target import Config, Measure, Target, settle
from hack.lab import neighbours, probe
from hack.lab.cluster import Lab
from hack.lab.kubeapi import wait_for
from hack.lab.netns import netns_pids
from ironlb.api import names

LABEL_PODS = "e2e.ironlb.io/pods"


def _l2_service(
    target: Target, config: Config, ns: str, block: int, *, node_selector: dict[str, str] | None = None
) -> str:
    """Pool + L2Advertisement + whoami + LoadBalancer Service; returns the Service's IPv4 address."""
    config.apply(
        objects.pool(f"e2e-l2-{block}", target.block4(block)),
        objects.l2_advertisement(f"e2e-l2-{block}", f"e2e-l2-{block}"),
    )
    target.kube.apply(objects.whoami("web", ns, node_selector=node_selector))
    target.kube.apply(objects.lb_service("web", ns))
    return _one(target.kube.wait_ingress("web", ns, timeout=30))


def _one(ips: list[str]) -> str:
    assert len(ips) == 1, ips
    return ips[0]


def _owner(target: Target, ip: str, ns: str, *, not_: str | None = None, timeout: float = 30.0) -> str:
    """The announcing node, as the client's neighbour table says after a request (optionally: not ``not_``)."""

    def check() -> str | None:
        target.http("client", f"http://{ip}/", timeout=1)
        owner = target.l2_owner(ip, ns, "web")
        return owner if owner and owner != not_ else None

    return wait_for(check, timeout=timeout, what=f"a node {'other than ' + not_ + ' ' if not_ else ''}to announce {ip}")


def test_dual_stack_service_answers_over_arp_and_ndp(target: Target, config: Config, ns: str) -> None:
    config.apply(
        objects.pool("e2e-ds", target.block4(1), target.block6(1)),
        objects.l2_advertisement("e2e-ds", "e2e-ds"),
    )
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("web", ns, families=["IPv4", "IPv6"]))
    ips: list[str] = target.kube.wait_ingress("web", ns, count=2, timeout=30)
    v4 = next(ip for ip in ips if ":" not in ip)
    v6 = next(ip for ip in ips if ":" in ip)
    target.wait_ready("web", ns, 2)
    assert "Hostname: web-" in target.answer("client", f"http://{v4}/")
    answer6 = target.answer("client", f"http://[{v6}]/")
    assert f"Host: [{v6}]" in answer6, answer6
    # Both families were resolved on the LAN, to the same node (one owner per Service).
    assert target.l2_owner(v4, ns, "web") is not None
    assert target.l2_owner(v6, ns, "web") is not None


def test_node_failure_moves_the_address(target: Target, config: Config, ns: str, measure: Measure) -> None:
    lab = target.lab("cuts a node's link and SIGKILLs its speaker")
    # The Pods must live on the nodes that survive, so that the measurement is the address moving, not Kubernetes
    # noticing that a Pod died with its node (node-monitor-grace-period, 40 s). A Service is announced only while
    # it has endpoints, and with the Cluster policy the owner does not depend on where they are: start with Pods
    # anywhere, find the owner, then move its Pods away.
    for node in lab.nodes:
        target.kube.patch("v1", "Node", node, {"metadata": {"labels": {LABEL_PODS: "yes"}}})
    try:
        ip = _l2_service(target, config, ns, 2, node_selector={LABEL_PODS: "yes"})
        target.wait_ready("web", ns, 2)
        owner = _owner(target, ip, ns)
        target.kube.patch("v1", "Node", owner, {"metadata": {"labels": {LABEL_PODS: None}}})
        for pod in target.kube.list("v1", "Pod", ns, field_selector=f"spec.nodeName={owner}"):
            target.kube.delete("v1", "Pod", pod["metadata"]["name"], ns)
        wait_for(
            lambda: not target.kube.list("v1", "Pod", ns, field_selector=f"spec.nodeName={owner}"),
            timeout=60,
            what=f"the Pods on {owner} to be gone",
        )
        target.wait_ready("web", ns, 2)
        target.answer("client", f"http://{ip}/")
        with target.probe("client", f"http://{ip}/") as run:
            settle(1.0)
            killed_at = lab.kill_node(owner)
            settle(5.0)
            attempts = run.stop()
    finally:
        for node in lab.nodes:
            target.kube.patch("v1", "Node", node, {"metadata": {"labels": {LABEL_PODS: None}}})
    after = probe.analyze(attempts, since=killed_at)
    # Traffic flows again: the last second of the run was answered.
    tail = probe.analyze(attempts, since=attempts[-1].start - 1.0)
    assert tail.failed == 0 and tail.ok > 10, f"{owner} died; {after.line()}; last second: {tail.line()}"
    assert _owner(target, ip, ns, not_=owner) != owner
    recovered = probe.recovery_after(attempts, killed_at)
    measure(
        f"L2 node failure (link cut + speaker SIGKILL on {owner}): answered again {1000 * recovered:.0f} ms after "
        f"the kill; {after.line()}"
    )


def test_speaker_sigkill_fails_over(target: Target, config: Config, ns: str, measure: Measure) -> None:
    lab = target.lab("SIGKILLs one speaker process")
    ip = _l2_service(target, config, ns, 3)
    target.wait_ready("web", ns, 2)
    owner = _owner(target, ip, ns)
    with target.probe("client", f"http://{ip}/") as run:
        settle(1.0)
        killed_at = time.monotonic()
        lab.stop_speaker(owner, signal.SIGKILL)
        new_owner = _owner(target, ip, ns, not_=owner, timeout=15)
        settle(2.0)
        attempts = run.stop()
    after = probe.analyze(attempts, since=killed_at)
    tail = probe.analyze(attempts, since=attempts[-1].start - 1.0)
    assert tail.failed == 0 and tail.ok > 10, tail.line()
    measure(f"L2 speaker SIGKILL on {owner} (node still forwarding), new owner {new_owner}: {after.line()}")


def test_speaker_sigterm_hands_over_without_a_failed_request(
    target: Target, config: Config, ns: str, measure: Measure
) -> None:
    ip = _l2_service(target, config, ns, 4)
    target.wait_ready("web", ns, 2)
    owner = _owner(target, ip, ns)
    with target.probe("client", f"http://{ip}/") as run:
        settle(1.0)
        stopped_at = time.monotonic()
        target.stop_speaker_gracefully(owner)
        new_owner = _owner(target, ip, ns, not_=owner, timeout=15)
        settle(2.0)
        attempts = run.stop()
    summary = probe.analyze(attempts)
    during = probe.analyze(attempts, since=stopped_at)
    measure(f"L2 speaker SIGTERM on {owner} (planned move to {new_owner}): {during.line()}")
    assert summary.failed_connect == 0 and summary.failed_request == 0, summary.line()
    assert summary.ok > 100, summary.line()
    target.start_speaker(owner)


def test_node_exclusion_label_moves_the_address(target: Target, config: Config, ns: str) -> None:
    ip = _l2_service(target, config, ns, 5)
    target.wait_ready("web", ns, 2)
    owner = _owner(target, ip, ns)
    target.kube.patch("v1", "Node", owner, {"metadata": {"labels": {names.LABEL_EXCLUDE_FROM_LB: ""}}})
    try:
        moved = _owner(target, ip, ns, not_=owner, timeout=30)
        assert moved != owner
        target.answer("client", f"http://{ip}/")
    finally:
        target.kube.patch("v1", "Node", owner, {"metadata": {"labels": {names.LABEL_EXCLUDE_FROM_LB: None}}})


# ----- start-up and restart ordering (speaker/app.py: "no node is elected owner before it can answer") -------------
def _speaker_processes(lab: Lab, node: str) -> list[int]:
    """PIDs of every ironlb-speaker process in ``node``'s network namespace, tracked by the lab or not."""
    pids: list[int] = []
    for pid in netns_pids(lab.nodes[node].netns):
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile
        if any("ironlb-speaker" in w or w == "speaker.cli" for w in words) and f"--node-name={node}" in words:
            pids.append(pid)
    return pids


def _arp_answer(lab: Lab, ip: str) -> str | None:
    """The node whose MAC answers one fresh ARP request for ``ip`` from the client (None: nobody answers)."""
    return lab.node_of_mac(neighbours.arping_one(lab.topo, ip))


def _owner_is(target: Target, ip: str, ns: str, node: str) -> None:
    """Wait until the client's neighbour entry for ``ip`` names ``node``."""

    def check() -> bool:
        target.http("client", f"http://{ip}/", timeout=1)
        return target.l2_owner(ip, ns, "web") == node

    wait_for(check, timeout=30, what=f"{node} to announce {ip} (again)")


def test_a_revived_node_whose_speaker_is_killed_again_fails_over(
    target: Target, config: Config, ns: str, measure: Measure
) -> None:
    """The reported 15 s gap: node failure, the node revived (link up, speaker restarted), its speaker SIGKILLed
    again - and no other node took over for 15 s. The lab had started the revived speaker twice (its watchdog raced
    the revive); the untracked copy survived the SIGKILL and kept announcing. Twice over, each revival must leave
    one speaker process, and each second kill must move the address."""
    lab = target.lab("cuts a node's link, revives it and SIGKILLs its speaker")
    ip = _l2_service(target, config, ns, 6)
    target.wait_ready("web", ns, 2)
    top = _owner(target, ip, ns)  # every speaker is up: the owner is the node the election ranks first
    took: list[float] = []
    for _ in range(2):
        _owner_is(target, ip, ns, top)
        lab.kill_node(top)
        _owner(target, ip, ns, not_=top, timeout=15)
        target.heal()  # link up, speaker restarted: what the e2e fixtures do between tests
        running = _speaker_processes(lab, top)
        assert len(running) == 1, f"{top} runs {running} after its revival"
        _owner_is(target, ip, ns, top)  # the address returns to the revived node once it can answer
        killed = time.monotonic()
        lab.stop_speaker(top, signal.SIGKILL)
        left = _speaker_processes(lab, top)
        assert left == [], f"a SIGKILL of {top}'s speaker left {left}"
        _owner(target, ip, ns, not_=top, timeout=15)
        took.append(time.monotonic() - killed)
        target.heal()
    times = ", ".join(f"{t:.1f} s" for t in took)
    measure(f"L2 revived node's speaker SIGKILLed again: another node announced after {times}")


def test_a_restarting_speaker_takes_its_address_back_without_a_gap(
    target: Target, config: Config, ns: str, measure: Measure
) -> None:
    """While the top-ranked speaker restarts and takes its address back, a fresh ARP request from the client is
    answered at every moment - by the interim owner until the restarted one can answer, then by it."""
    lab = target.lab("restarts one speaker process and samples ARP from the client")
    ip = _l2_service(target, config, ns, 7)
    target.wait_ready("web", ns, 2)
    top = _owner(target, ip, ns)
    lab.stop_speaker(top, signal.SIGKILL)
    interim = _owner(target, ip, ns, not_=top, timeout=15)
    assert _arp_answer(lab, ip) == interim
    lab.start_speaker(top)
    answers: list[str | None] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and answers[-3:] != [top] * 3:
        answers.append(_arp_answer(lab, ip))
    assert answers[-3:] == [top] * 3, f"{top} never answered again: {answers[-10:]}"
    assert None not in answers, f"nobody answered {answers.count(None)} of {len(answers)} requests: {answers}"
    assert set(answers) <= {interim, top}
    lab.wait_speaker_ready(top)
    # and "kill right after it became owner": the address moves on at once
    lab.stop_speaker(top, signal.SIGKILL)
    assert _owner(target, ip, ns, not_=top, timeout=15) != top
    measure(f"L2 speaker restart on {top}: {len(answers)} ARP requests during its start-up, all answered")


def test_a_planned_move_ends_the_old_owners_grace_on_the_new_owners_announcement(
    target: Target, config: Config, ns: str
) -> None:
    """SIGTERM: the leaving speaker stops answering as soon as it hears the next owner's gratuitous ARP, not after
    its whole grace period, and no request fails."""
    lab = target.lab("reads the leaving speaker's log")
    ip = _l2_service(target, config, ns, 8)
    target.wait_ready("web", ns, 2)
    owner = _owner(target, ip, ns)
    with target.probe("client", f"http://{ip}/") as run:
        settle(0.5)
        lab.stop_speaker(owner, signal.SIGTERM)
        new_owner = _owner(target, ip, ns, not_=owner, timeout=15)
        settle(1.0)
        attempts = run.stop()
    summary = probe.analyze(attempts)
    assert summary.failed_connect == 0 and summary.failed_request == 0, summary.line()
    log = lab.logs(f"speaker-{owner}", 200)
    assert "its next owner announces it; no longer answering" in log, log[-3000:]
    assert _arp_answer(lab, ip) == new_owner
