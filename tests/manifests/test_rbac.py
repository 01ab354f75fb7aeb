"""RBAC at least privilege, asked of the rendered manifests the way the API server's authorizer would answer.

Each row is one request a daemon makes (the code that makes it is named) or must never be able to make. The lab
runs the daemons with exactly these rights, so a missing right shows up there as a 403; these rows say which
rights are meant, and that nothing broader slipped in.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from hack.manifests import BASE_DIR, NAMESPACE
from hack.manifests.kustomize import ManifestError, render, rule_reasons
from hack.manifests.rbac import ALL_VERBS, WRITE_VERBS, Request, allowed, grants, rule_allows, wildcards

CCM = (NAMESPACE, "ironlb-ccm")
SPEAKER = (NAMESPACE, "ironlb-speaker")
OTHER = "team-a"  # any namespace other than metallb-system
SCOPES = ("", NAMESPACE, OTHER, "kube-system")  # "" = cluster scope / all namespaces
CONFIG_KINDS = ("ipaddresspools", "l2advertisements", "bgpadvertisements", "bgppeers", "bfdprofiles", "communities")


@functools.cache
def _rbac_objects() -> tuple[dict[str, Any], ...]:
    return tuple(o for o in render(BASE_DIR) if o["apiVersion"].startswith("rbac.authorization.k8s.io/"))


def objects() -> list[dict[str, Any]]:
    """The rendered Roles, ClusterRoles and bindings (read only: shared between tests)."""
    return list(_rbac_objects())


def r(verb: str, group: str, resource: str, namespace: str = "", sub: str = "", name: str = "") -> Request:  # noqa: PLR0917 - table rows read best positionally
    return Request(verb, group, resource, sub, namespace, name)


@pytest.mark.parametrize(
    ("who", "request_", "expected"),
    [
        # ironlb-ccm: what its code does
        pytest.param(CCM, r("list", "", "services"), True, id="ccm-lists-services-in-all-namespaces"),
        pytest.param(CCM, r("watch", "", "services"), True, id="ccm-watches-services"),
        pytest.param(CCM, r("patch", "", "services", OTHER), True, id="ccm-may-patch-services-as-upstream"),
        pytest.param(CCM, r("patch", "", "services", OTHER, "status"), True, id="ccm-patches-ingress-and-finalizer"),
        pytest.param(CCM, r("update", "", "services", OTHER, "status"), True, id="ccm-may-update-status-as-upstream"),
        pytest.param(CCM, r("list", "", "nodes"), True, id="ccm-lists-nodes"),
        pytest.param(CCM, r("get", "", "nodes", name="n1"), True, id="ccm-reads-a-node-before-updating-it"),
        pytest.param(CCM, r("update", "", "nodes", name="n1"), True, id="ccm-removes-the-uninitialized-taint"),
        pytest.param(CCM, r("delete", "", "nodes", name="n1"), True, id="ccm-deletes-a-removed-machines-node"),
        pytest.param(CCM, r("patch", "", "nodes", sub="status", name="n1"), True, id="ccm-patches-node-addresses"),
        pytest.param(CCM, r("create", "", "events", OTHER), True, id="ccm-records-service-events"),
        pytest.param(CCM, r("patch", "", "events", "default"), True, id="ccm-aggregates-node-events"),
        pytest.param(CCM, r("watch", "", "namespaces"), True, id="ccm-watches-namespace-labels"),
        pytest.param(CCM, r("get", "coordination.k8s.io", "leases", NAMESPACE, name="ironlb-ccm"), True,
                     id="ccm-reads-its-lease"),
        pytest.param(CCM, r("create", "coordination.k8s.io", "leases", NAMESPACE), True, id="ccm-creates-its-lease"),
        pytest.param(CCM, r("update", "coordination.k8s.io", "leases", NAMESPACE, name="ironlb-ccm"), True,
                     id="ccm-renews-its-lease"),
        *[pytest.param(CCM, r("watch", "metallb.io", kind, NAMESPACE), True, id=f"ccm-watches-{kind}")
          for kind in CONFIG_KINDS],
        pytest.param(CCM, r("patch", "metallb.io", "ipaddresspools", NAMESPACE, "status"), True,
                     id="ccm-writes-pool-usage"),
        pytest.param(CCM, r("create", "metallb.io", "configurationstates", NAMESPACE), True,
                     id="ccm-creates-its-configurationstate"),
        pytest.param(CCM, r("patch", "metallb.io", "configurationstates", NAMESPACE, "status", "controller"), True,
                     id="ccm-reports-config-validity"),
        pytest.param(CCM, r("watch", "", "configmaps", NAMESPACE), True, id="ccm-watches-the-legacy-configmap"),
        # ironlb-ccm: what it must not do
        pytest.param(CCM, r("list", "", "configmaps", "kube-system"), False, id="ccm-no-configmaps-elsewhere"),
        pytest.param(CCM, r("update", "coordination.k8s.io", "leases", "kube-system", name="x"), False,
                     id="ccm-no-leases-elsewhere"),
        pytest.param(CCM, r("list", "metallb.io", "ipaddresspools", OTHER), False, id="ccm-no-config-elsewhere"),
        pytest.param(CCM, r("create", "metallb.io", "servicel2statuses", NAMESPACE), False,
                     id="ccm-does-not-write-speaker-reports"),
        pytest.param(CCM, r("list", "", "pods", NAMESPACE), False, id="ccm-no-pods"),
        pytest.param(CCM, r("create", "", "services", OTHER), False, id="ccm-creates-no-services"),
        pytest.param(CCM, r("delete", "", "services", OTHER), False, id="ccm-deletes-no-services"),
        pytest.param(CCM, r("list", "discovery.k8s.io", "endpointslices"), False, id="ccm-no-endpointslices"),
        # ironlb-speaker: what it reads and writes
        pytest.param(SPEAKER, r("watch", "", "services"), True, id="speaker-watches-services"),
        pytest.param(SPEAKER, r("watch", "discovery.k8s.io", "endpointslices"), True, id="speaker-watches-endpoints"),
        pytest.param(SPEAKER, r("watch", "", "nodes"), True, id="speaker-watches-nodes"),
        pytest.param(SPEAKER, r("watch", "", "namespaces"), True, id="speaker-watches-namespaces"),
        pytest.param(SPEAKER, r("create", "", "events", OTHER), True, id="speaker-records-service-events"),
        *[pytest.param(SPEAKER, r("watch", "metallb.io", kind, NAMESPACE), True, id=f"speaker-watches-{kind}")
          for kind in CONFIG_KINDS],
        pytest.param(SPEAKER, r("create", "metallb.io", "servicel2statuses", NAMESPACE), True,
                     id="speaker-creates-l2-reports"),
        pytest.param(SPEAKER, r("delete", "metallb.io", "servicebgpstatuses", NAMESPACE, name="x"), True,
                     id="speaker-deletes-bgp-reports"),
        pytest.param(SPEAKER, r("patch", "metallb.io", "servicel2statuses", NAMESPACE, "status"), True,
                     id="speaker-writes-report-status"),
        pytest.param(SPEAKER, r("patch", "metallb.io", "configurationstates", NAMESPACE, "status"), True,
                     id="speaker-reports-config-validity"),
        pytest.param(SPEAKER, r("get", "", "secrets", NAMESPACE, name="memberlist"), True,
                     id="speaker-reads-the-membership-key"),
        pytest.param(SPEAKER, r("watch", "", "secrets", NAMESPACE), True, id="speaker-watches-bgp-passwords"),
        pytest.param(SPEAKER, r("watch", "", "configmaps", NAMESPACE), True, id="speaker-watches-legacy-and-excludel2"),
        pytest.param(SPEAKER, r("list", "", "pods", NAMESPACE), True, id="speaker-lists-membership-seeds"),
        # ironlb-speaker: what it must not do
        pytest.param(SPEAKER, r("get", "", "secrets", OTHER, name="x"), False, id="speaker-no-secrets-elsewhere"),
        pytest.param(SPEAKER, r("list", "", "secrets", "kube-system"), False, id="speaker-no-kube-system-secrets"),
        pytest.param(SPEAKER, r("list", "", "secrets"), False, id="speaker-cannot-list-all-secrets"),
        pytest.param(SPEAKER, r("list", "", "pods", OTHER), False, id="speaker-no-pods-elsewhere"),
        pytest.param(SPEAKER, r("patch", "", "nodes", name="n1"), False, id="speaker-does-not-write-nodes"),
        pytest.param(SPEAKER, r("get", "coordination.k8s.io", "leases", NAMESPACE), False, id="speaker-no-leases"),
        pytest.param(SPEAKER, r("patch", "metallb.io", "ipaddresspools", NAMESPACE, "status"), False,
                     id="speaker-does-not-write-pool-status"),
        pytest.param(SPEAKER, r("create", "metallb.io", "ipaddresspools", NAMESPACE), False,
                     id="speaker-does-not-write-configuration"),
        pytest.param(SPEAKER, r("create", "metallb.io", "servicel2statuses", OTHER), False,
                     id="speaker-reports-only-in-metallb-system"),
        pytest.param(SPEAKER, r("list", "", "endpoints"), False, id="speaker-uses-endpointslices-not-endpoints"),
    ],
)  # fmt: skip
def test_request(who: tuple[str, str], request_: Request, expected: bool) -> None:
    assert allowed(objects(), who, request_) is expected


@pytest.mark.parametrize("sub", ["", "status"])
@pytest.mark.parametrize("namespace", SCOPES)
@pytest.mark.parametrize("verb", WRITE_VERBS)
def test_speaker_cannot_write_services(verb: str, namespace: str, sub: str) -> None:
    assert not allowed(objects(), SPEAKER, r(verb, "", "services", namespace, sub, "web"))


def test_no_speaker_rule_grants_a_write_on_services_at_all() -> None:
    """Not only the sampled namespaces: no rule reaching the speaker covers a write on services(/status)."""
    for grant in grants(objects(), SPEAKER):
        for verb in WRITE_VERBS:
            for sub in ("", "status"):
                assert not rule_allows(grant.rule, r(verb, "", "services", sub=sub)), grant


def test_speaker_secrets_only_in_metallb_system() -> None:
    secret_grants = [
        g for g in grants(objects(), SPEAKER) if any(rule_allows(g.rule, r(v, "", "secrets")) for v in ALL_VERBS)
    ]
    assert secret_grants, "the speaker needs the membership key and BGP passwords"
    assert {g.namespace for g in secret_grants} == {NAMESPACE}
    assert all(not rule_allows(g.rule, r(v, "", "secrets")) for g in secret_grants for v in WRITE_VERBS)


@pytest.mark.parametrize("namespace", SCOPES)
@pytest.mark.parametrize("verb", ALL_VERBS)
def test_ccm_has_no_access_to_secrets(verb: str, namespace: str) -> None:
    assert not allowed(objects(), CCM, r(verb, "", "secrets", namespace, name="memberlist"))


def test_no_rule_uses_a_wildcard() -> None:
    assert list(wildcards(objects())) == []


def test_each_daemon_is_bound_to_its_own_roles_only() -> None:
    for who in (CCM, SPEAKER):
        roles = {g.role for g in grants(objects(), who)}
        assert roles == {f"ClusterRole/{who[1]}", f"Role/{who[1]}"}


def test_every_rule_has_its_reason_in_the_sources() -> None:
    reasons = rule_reasons()
    roles = [o for o in objects() if o["kind"] in ("Role", "ClusterRole")]
    assert len(roles) == 4
    for role in roles:
        meta = role["metadata"]
        assert isinstance(meta, dict)
        comments = reasons[(str(role["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))]
        assert len(comments) == len(role["rules"])
        assert all(" ".join(lines).strip() for lines in comments)


def test_a_rule_without_a_reason_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "rbac-x.yaml"
    source.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: x\nrules:\n"
        "# reads pods\n- apiGroups: ['']\n  resources: [pods]\n  verbs: [get]\n"
        "- apiGroups: ['']\n  resources: [secrets]\n  verbs: [get]\n"
    )
    with pytest.raises(ManifestError, match="no comment above it"):
        rule_reasons([source])


def test_the_authorizer_model_honours_binding_scope_and_resource_names() -> None:
    """The matcher itself: a RoleBinding grants only in its namespace, resourceNames restrict, a binding to a
    missing role grants nothing."""
    rbac = "rbac.authorization.k8s.io"
    role: dict[str, Any] = {
        "apiVersion": f"{rbac}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "read"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}],
    }
    binding: dict[str, Any] = {
        "apiVersion": f"{rbac}/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "read", "namespace": "ns1"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "read"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns0"}],
    }
    dangling: dict[str, Any] = {
        **binding,
        "metadata": {"name": "x", "namespace": "ns2"},
        "roleRef": {"apiGroup": rbac, "kind": "ClusterRole", "name": "gone"},
    }
    objs = [role, binding, dangling]
    who = ("ns0", "sa")
    assert allowed(objs, who, r("get", "", "configmaps", "ns1", name="a"))
    assert not allowed(objs, who, r("get", "", "configmaps", "ns1", name="b"))
    assert not allowed(objs, who, r("get", "", "configmaps", "ns0", name="a"))
    assert not allowed(objs, who, r("get", "", "configmaps", "ns2", name="a"))
    assert not allowed(objs, ("ns1", "sa"), r("get", "", "configmaps", "ns1", name="a"))
