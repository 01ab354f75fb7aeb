"""The LoadBalancer provider over the allocator: the contract's four calls, restore, and a fresh allocation that
settles in one call (its outcome must not depend on whether the Service happens to be reconciled again)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from ccm.allocator import Allocator, Decision, RequestError
from ccm.provider.loadbalancer import LoadBalancerProvider, current_addresses, load_balancer_name
from ironlb.api.service import ServiceView
from ironlb.config.model import Config, Pool


def provider(*pools: tuple[str, tuple[str, ...]]) -> LoadBalancerProvider:
    config = Config.build(pools=[Pool(name, tuple(ipaddress.ip_network(c) for c in cidrs)) for name, cidrs in pools])
    return LoadBalancerProvider(Allocator(config))


def service(name: str = "svc", *, ingress: tuple[str, ...] = (), **spec: Any) -> ServiceView:
    return ServiceView.from_object(
        {
            "metadata": {"name": name, "namespace": "default", "uid": "0a1b2c3d-0000-1111-2222-333344445555"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}], **spec},
            "status": {"loadBalancer": {"ingress": [{"ip": ip} for ip in ingress]}},
        }
    )


def decide(p: LoadBalancerProvider, svc: ServiceView) -> Decision:
    decision = p.ensure_load_balancer(svc)
    assert isinstance(decision, Decision), decision
    return decision


def shown(decision: Decision) -> list[str]:
    return [str(a) for a in decision.addresses]


DUAL: dict[str, Any] = {
    "clusterIPs": ["10.96.0.10", "fd00::10"],
    "ipFamilies": ["IPv4", "IPv6"],
    "ipFamilyPolicy": "PreferDualStack",
}


def test_a_fresh_prefer_dual_stack_allocation_of_one_family_says_why_in_the_same_call() -> None:
    p = provider(("v4", ("192.0.2.0/30",)))
    decision = decide(p, service(**DUAL))
    assert shown(decision) == ["192.0.2.0"]
    assert decision.allocated
    assert decision.add_failed is not None, "AdditionalAssignFailed is known now, not on a later pass"
    again = decide(p, service(ingress=("192.0.2.0",), **DUAL))
    assert again.add_failed == decision.add_failed and not again.allocated


def test_a_fresh_dual_stack_allocation_is_reported_as_one_allocation() -> None:
    p = provider(("dual", ("192.0.2.0/30", "2001:db8::/126")))
    decision = decide(p, service(**DUAL))
    assert shown(decision) == ["192.0.2.0", "2001:db8::"]
    assert decision.allocated and decision.added is None and decision.add_failed is None


@pytest.mark.parametrize(
    ("ingress", "exists"),
    [
        pytest.param((), False, id="nothing-held-nothing-shown"),
        pytest.param(("192.0.2.1",), True, id="shows-an-address-of-our-pools-after-a-restart"),
        pytest.param(("203.0.113.9",), False, id="shows-a-foreign-address"),
    ],
)
def test_get_load_balancer_says_exists_for_what_we_hold_or_gave(ingress: tuple[str, ...], exists: bool) -> None:
    p = provider(("v4", ("192.0.2.0/30",)))
    status, found = p.get_load_balancer(service(ingress=ingress))
    assert found is exists
    assert status.ingress == (ingress if exists else ())


def test_restore_retakes_shown_addresses_and_delete_releases_them() -> None:
    p = provider(("v4", ("192.0.2.0/30",)))
    old = service("old", ingress=("192.0.2.2",))
    assert p.restore(old) is not None
    assert shown(decide(p, service("new"))) == ["192.0.2.0"]
    assert shown(decide(p, service("next"))) == ["192.0.2.1"], "the restored address is skipped"
    assert p.get_load_balancer(old)[1]
    assert p.ensure_load_balancer_deleted("default/old") is not None
    assert p.ensure_load_balancer_deleted("default/old") is None, "idempotent"
    assert shown(decide(p, service("third", loadBalancerIP="192.0.2.2"))) == ["192.0.2.2"]


def test_a_request_the_service_cannot_make_is_returned_not_raised() -> None:
    p = provider(("v4", ("192.0.2.0/30",)))
    bad = ServiceView.from_object(
        {
            "metadata": {
                "name": "both",
                "namespace": "default",
                "annotations": {"metallb.io/loadBalancerIPs": "192.0.2.2"},
            },
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10"], "loadBalancerIP": "192.0.2.1"},
        }
    )
    result = p.ensure_load_balancer(bad)
    assert isinstance(result, RequestError)
    assert "can not have both" in str(result)


def test_names_and_current_addresses() -> None:
    svc = service(ingress=("192.0.2.1", "not-an-ip"))
    assert [str(a) for a in current_addresses(svc)] == ["192.0.2.1"]
    assert load_balancer_name(svc) == "a0a1b2c3d00001111222233334444555"
