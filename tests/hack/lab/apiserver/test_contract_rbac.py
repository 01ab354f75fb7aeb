"""Contract: ServiceAccount tokens and RBAC, with the real server's 401/403 wording.

Tokens come from the TokenRequest API (``serviceaccounts/<name>/token``), which works the same against the
emulator and a real cluster. Rules match verbs, API groups, resources including subresources
(``services/status``) and resourceNames; Roles apply through RoleBindings in their namespace, ClusterRoles
anywhere through ClusterRoleBindings or in one namespace through RoleBindings; subjects are users, groups or
ServiceAccounts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as kube_client

client: Any = kube_client

RBAC = "rbac.authorization.k8s.io"


def _eventually(fn: Callable[[], Any]) -> Any:
    """RBAC caches on a real server lag writes by a moment; the emulator applies them at once."""
    for _ in range(50):
        try:
            return fn()
        except client.ApiException as exc:
            if exc.status != 403:
                raise
            time.sleep(0.1)
    return fn()


@pytest.fixture
def sa_client(api: Any, core: Any, ns: str) -> Iterator[Any]:
    """An API client authenticated as ServiceAccount ``robot`` in the test namespace."""
    core.create_namespaced_service_account(ns, {"metadata": {"name": "robot"}})
    token = core.create_namespaced_service_account_token("robot", ns, {"spec": {"expirationSeconds": 3600}})
    cfg = api.configuration.__class__()
    cfg.host = api.configuration.host
    cfg.ssl_ca_cert = api.configuration.ssl_ca_cert
    cfg.verify_ssl = api.configuration.verify_ssl
    cfg.api_key = {"BearerToken": f"Bearer {token.status.token}"}
    with client.ApiClient(cfg) as c:
        yield c


def _rbac(api: Any) -> Any:
    return client.RbacAuthorizationV1Api(api)


def _bind_role(
    api: Any,
    ns: str,
    rules: list[dict[str, Any]],
    *,
    kind: str = "Role",
    subject: dict[str, Any] | None = None,
) -> None:
    rbac = _rbac(api)
    if kind == "Role":
        rbac.create_namespaced_role(ns, {"metadata": {"name": "r"}, "rules": rules})
    subject = subject or {"kind": "ServiceAccount", "name": "robot", "namespace": ns}
    rbac.create_namespaced_role_binding(
        ns,
        {
            "metadata": {"name": "rb"},
            "roleRef": {"apiGroup": RBAC, "kind": kind, "name": "r" if kind == "Role" else "view"},
            "subjects": [subject],
        },
    )


def test_service_account_without_bindings_is_forbidden(sa_client: Any, ns: str, expect_error: Any) -> None:
    status = expect_error(403, client.CoreV1Api(sa_client).list_namespaced_service, ns)
    assert status["reason"] == "Forbidden"
    assert status["message"] == (
        f'services is forbidden: User "system:serviceaccount:{ns}:robot" cannot list resource "services" '
        f'in API group "" in the namespace "{ns}"'
    )
    assert status["details"] == {"kind": "services"}


def test_role_grants_only_its_verbs(api: Any, sa_client: Any, core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(ns, {"metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}})
    _bind_role(api, ns, [{"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}])
    robot = client.CoreV1Api(sa_client)
    assert [s.metadata.name for s in _eventually(lambda: robot.list_namespaced_service(ns)).items] == ["x"]
    status = expect_error(403, robot.patch_namespaced_service, "x", ns, {"metadata": {"labels": {"a": "b"}}})
    assert status["message"] == (
        f'services "x" is forbidden: User "system:serviceaccount:{ns}:robot" cannot patch resource "services" '
        f'in API group "" in the namespace "{ns}"'
    )
    assert status["details"] == {"name": "x", "kind": "services"}


def test_status_subresource_needs_its_own_rule(api: Any, sa_client: Any, core: Any, ns: str, expect_error: Any) -> None:
    core.create_namespaced_service(
        ns, {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}
    )
    _bind_role(api, ns, [{"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch", "update"]}])
    robot = client.CoreV1Api(sa_client)
    patch = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.7"}]}}}
    out = _eventually(lambda: robot.patch_namespaced_service_status("lb", ns, patch))
    assert out.status.load_balancer.ingress[0].ip == "192.0.2.7"
    status = expect_error(403, robot.patch_namespaced_service, "lb", ns, {"metadata": {"labels": {"a": "b"}}})
    assert 'cannot patch resource "services"' in status["message"]
    status = expect_error(403, robot.read_namespaced_service, "lb", ns)
    assert 'cannot get resource "services"' in status["message"]


def test_resource_names_limit_a_rule(api: Any, sa_client: Any, core: Any, ns: str, expect_error: Any) -> None:
    for name in ("mine", "theirs"):
        core.create_namespaced_config_map(ns, {"metadata": {"name": name}})
    _bind_role(api, ns, [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["mine"], "verbs": ["get"]}])
    robot = client.CoreV1Api(sa_client)
    assert _eventually(lambda: robot.read_namespaced_config_map("mine", ns)).metadata.name == "mine"
    expect_error(403, robot.read_namespaced_config_map, "theirs", ns)
    expect_error(403, robot.list_namespaced_config_map, ns)


def test_cluster_role_through_a_role_binding_applies_in_that_namespace(
    api: Any, sa_client: Any, ns: str, expect_error: Any
) -> None:
    _bind_role(api, ns, [], kind="ClusterRole")  # the default "view" ClusterRole
    robot = client.CoreV1Api(sa_client)
    _eventually(lambda: robot.list_namespaced_config_map(ns))
    expect_error(403, robot.list_namespaced_config_map, "default")


def test_group_subjects_match_service_account_groups(api: Any, sa_client: Any, ns: str) -> None:
    _bind_role(
        api,
        ns,
        [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["list"]}],
        subject={"kind": "Group", "name": f"system:serviceaccounts:{ns}", "apiGroup": RBAC},
    )
    robot = client.AppsV1Api(sa_client)
    assert _eventually(lambda: robot.list_namespaced_deployment(ns)).items == []


def test_cluster_role_binding_grants_cluster_scope(api: Any, sa_client: Any, ns: str, expect_error: Any) -> None:
    robot = client.CoreV1Api(sa_client)
    status = expect_error(403, robot.list_node)
    assert status["message"].endswith('cannot list resource "nodes" in API group "" at the cluster scope')
    rbac = _rbac(api)
    name = f"contract-{ns}"
    rbac.create_cluster_role(
        {"metadata": {"name": name}, "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}]}
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": ns}],
        }
    )
    try:
        _eventually(robot.list_node)
    finally:
        rbac.delete_cluster_role_binding(name)
        rbac.delete_cluster_role(name)


def test_self_subject_access_review(api: Any, sa_client: Any, ns: str) -> None:
    _bind_role(api, ns, [{"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]}])
    authz = client.AuthorizationV1Api(sa_client)

    def review(resource: str, subresource: str = "") -> bool:
        body = {
            "spec": {
                "resourceAttributes": {
                    "namespace": ns,
                    "verb": "patch",
                    "resource": resource,
                    "subresource": subresource,
                }
            }
        }
        return bool(authz.create_self_subject_access_review(body).status.allowed)

    for _ in range(50):
        if review("services", "status"):
            break
        time.sleep(0.1)
    assert review("services", "status") is True
    assert review("services") is False


def test_token_of_a_deleted_service_account_is_401(sa_client: Any, core: Any, ns: str) -> None:
    core.delete_namespaced_service_account("robot", ns)
    robot = client.CoreV1Api(sa_client)
    for _ in range(50):
        try:
            robot.list_namespaced_service(ns)
        except client.ApiException as exc:
            if exc.status == 401:
                return
        time.sleep(0.1)
    raise AssertionError("the token still authenticates after its ServiceAccount was deleted")


def test_anonymous_requests_are_forbidden_but_may_read_the_version(raw: Any) -> None:
    status, body, _ = raw("GET", "/api/v1/namespaces", None, {"Authorization": ""})
    assert status == 403
    assert body["message"] == (
        'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" '
        "at the cluster scope"
    )
    status, body, _ = raw("GET", "/version", None, {"Authorization": ""})
    assert status == 200


def test_kubectl_auth_can_i_with_a_service_account(target: Any, api: Any, core: Any, ns: str, tmp_path: Any) -> None:
    import yaml

    core.create_namespaced_service_account(ns, {"metadata": {"name": "viewer"}})
    _bind_role(api, ns, [], kind="ClusterRole", subject={"kind": "ServiceAccount", "name": "viewer", "namespace": ns})
    token = core.create_namespaced_service_account_token("viewer", ns, {"spec": {}}).status.token
    data = yaml.safe_load(target.kubeconfig.read_text())
    user = {"name": "viewer", "user": {"token": token}}
    data["users"] = [user]
    for ctx in data["contexts"]:
        ctx["context"]["user"] = "viewer"
        ctx["context"]["namespace"] = ns
    path = tmp_path / "viewer.kubeconfig"
    path.write_text(yaml.safe_dump(data))
    time.sleep(0.2)
    yes = target.kubectl("auth", "can-i", "list", "configmaps", kubeconfig=path)
    no = target.kubectl("auth", "can-i", "delete", "configmaps", kubeconfig=path)
    assert yes.stdout.strip() == "yes" and yes.returncode == 0
    assert no.stdout.strip() == "no" and no.returncode == 1
    forbidden = target.kubectl("delete", "configmap", "anything", kubeconfig=path)
    assert "Error from server (Forbidden)" in forbidden.stderr


def test_cluster_role_aggregation_collects_labelled_rules(api: Any, ns: str) -> None:
    rbac = _rbac(api)
    label = f"contract.ironlb.dev/aggregate-{ns}"
    rbac.create_cluster_role(
        {
            "metadata": {"name": f"{ns}-agg"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]},
        }
    )
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    rbac.create_cluster_role({"metadata": {"name": f"{ns}-part", "labels": {label: "true"}}, "rules": [rule]})
    try:
        for _ in range(100):
            rules = rbac.read_cluster_role(f"{ns}-agg").rules or []
            if rules:
                break
            time.sleep(0.1)
        assert [(r.api_groups, r.resources, r.verbs) for r in rules] == [([""], ["configmaps"], ["get"])]
    finally:
        rbac.delete_cluster_role(f"{ns}-agg")
        rbac.delete_cluster_role(f"{ns}-part")
