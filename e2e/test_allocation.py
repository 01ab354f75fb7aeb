"""Address allocation as a MetalLB user sees it: sharing, requested addresses, exhaustion, pool deletion, and an
invalid configuration change that must not disturb what runs."""

from __future__ import annotations

import time
from typing import Any

from e2e import objects
from e2e.target import Config, Measure, Target
from hack.lab import probe
from hack.lab.kubeapi import JSON, wait_for
from ironlb.api import names

SHARE = names.ANNOTATION_PREFIX + names.ANN_ALLOW_SHARED_IP
REQUEST = names.ANNOTATION_PREFIX + names.ANN_LOADBALANCER_IPS


def _answer(target: Target, url: str) -> str:
    return target.answer("client", url)


def _one(ips: list[str]) -> str:
    assert len(ips) == 1, ips
    return ips[0]


def _l2(config: Config, name: str, *addresses: str, **spec: Any) -> None:
    config.apply(objects.pool(name, *addresses, **spec), objects.l2_advertisement(name, name))


def _events(target: Target, ns: str, service: str, reason: str) -> list[JSON]:
    return [
        e
        for e in target.kube.list("v1", "Event", ns)
        if e.get("reason") == reason and (e.get("involvedObject") or {}).get("name") == service
    ]


def test_two_services_share_one_address_on_different_ports(target: Target, config: Config, ns: str) -> None:
    _l2(config, "e2e-share", target.block4(7))
    shared = target.addr4(7, 3)
    annotations = {SHARE: "web", REQUEST: shared}
    target.kube.apply(objects.whoami("a", ns, port=80))
    target.kube.apply(objects.whoami("b", ns, port=8080))
    target.kube.apply(objects.lb_service("a", ns, port=80, annotations=annotations))
    target.kube.apply(objects.lb_service("b", ns, port=8080, annotations=annotations))
    assert target.kube.wait_ingress("a", ns) == [shared]
    assert target.kube.wait_ingress("b", ns) == [shared]
    assert _answer(target, f"http://{shared}/").startswith("Hostname: a-")
    assert _answer(target, f"http://{shared}:8080/").startswith("Hostname: b-")


def test_requested_address_is_given(target: Target, config: Config, ns: str) -> None:
    _l2(config, "e2e-request", target.block4(8))
    wanted = target.addr4(8, 5)
    legacy = target.addr4(8, 6)
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("web", ns, annotations={REQUEST: wanted}))
    old = objects.lb_service("old", ns, app="web")
    old["spec"]["loadBalancerIP"] = legacy  # the deprecated field still works
    target.kube.apply(old)
    assert target.kube.wait_ingress("web", ns) == [wanted]
    assert target.kube.wait_ingress("old", ns) == [legacy]
    assert _answer(target, f"http://{wanted}/").startswith("Hostname: web-")


def test_exhausted_pool_gives_the_freed_address_to_the_waiting_service(target: Target, config: Config, ns: str) -> None:
    only = target.addr4(9, 0)
    _l2(config, "e2e-one", f"{only}-{only}")
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("first", ns, app="web"))
    assert target.kube.wait_ingress("first", ns) == [only]
    target.kube.apply(objects.lb_service("second", ns, app="web"))
    failed = wait_for(
        lambda: _events(target, ns, "second", "AllocationFailed"),
        timeout=30,
        what="an AllocationFailed event on the second Service",
    )
    assert target.kube.ingress_ips("second", ns) == [], "the second Service got an address from an exhausted pool"
    assert "no available IPs" in failed[0].get("message", ""), failed[0]
    target.kube.delete("v1", "Service", "first", ns)
    assert target.kube.wait_ingress("second", ns, timeout=30) == [only]
    assert _answer(target, f"http://{only}/").startswith("Hostname: web-")


def test_deleting_a_pool_moves_its_services_to_another(target: Target, config: Config, ns: str) -> None:
    first = objects.pool("e2e-first", target.block4(10), serviceAllocation={"priority": 1})
    second = objects.pool("e2e-second", target.block4(11), serviceAllocation={"priority": 2})
    # An advertisement naming no pool covers all of them (one naming the deleted pool would become invalid).
    config.apply(first, second, objects.l2_advertisement("e2e-both"))
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("web", ns))
    assert target.kube.wait_ingress("web", ns) == [target.addr4(10, 0)]
    config.delete(first)

    def moved_away() -> list[str] | None:
        ips = target.kube.ingress_ips("web", ns)
        return ips if ips and ips != [target.addr4(10, 0)] else None

    moved = wait_for(moved_away, timeout=30, what="the Service to get an address from the remaining pool")
    assert moved == [target.addr4(11, 0)]
    assert _answer(target, f"http://{moved[0]}/").startswith("Hostname: web-")


def test_invalid_change_keeps_the_last_good_configuration(
    target: Target, config: Config, ns: str, measure: Measure
) -> None:
    _l2(config, "e2e-good", target.block4(12))
    target.kube.apply(objects.whoami("web", ns))
    target.kube.apply(objects.lb_service("web", ns))
    ip = _one(target.kube.wait_ingress("web", ns))
    _answer(target, f"http://{ip}/")

    def state() -> str:
        obj = target.kube.get("metallb.io/v1beta1", "ConfigurationState", "controller", names.DEFAULT_NAMESPACE) or {}
        return str((obj.get("status") or {}).get("result"))

    wait_for(lambda: state() == "Valid", timeout=30, what="the controller's ConfigurationState to be Valid")
    with target.probe("client", f"http://{ip}/") as run:
        # A pool that overlaps the running one: the CRD schema accepts it, the configuration does not.
        config.apply(objects.pool("e2e-bad", target.block4(12)))
        wait_for(lambda: state() == "Invalid", timeout=30, what="the controller's ConfigurationState to be Invalid")
        # The running configuration stays: a new Service still gets an address from the last good pools.
        target.kube.apply(objects.lb_service("later", ns, app="web"))
        later = _one(target.kube.wait_ingress("later", ns))
        assert later in [target.addr4(12, i) for i in range(8)]
        time.sleep(1.0)
        attempts = run.stop()
    summary = probe.analyze(attempts)
    assert target.kube.ingress_ips("web", ns) == [ip]
    assert summary.failed == 0 and summary.ok > 20, summary.line()
    measure(f"invalid configuration applied while serving: {summary.line()}")
    config.delete(objects.pool("e2e-bad", target.block4(12)))
    wait_for(lambda: state() == "Valid", timeout=30, what="the ConfigurationState to be Valid again")
