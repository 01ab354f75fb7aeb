"""Who may do what under a set of RBAC objects: bindings resolved offline, for tests and the lab.

The install tests ask questions such as "may the speaker patch services/status in any namespace?" of the rendered
manifests, and the lab can ask the same before it runs a daemon with exactly these rights. Matching follows
Kubernetes' RBAC authorizer (``plugin/pkg/auth/authorizer/rbac``): a ClusterRoleBinding applies its ClusterRole
everywhere, including cluster-scoped resources; a RoleBinding applies its Role or ClusterRole only in its own
namespace. Whether one rule covers a request is the API emulator's authorizer's call
(:func:`hack.lab.apiserver.rbac.rule_allows`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hack.lab.apiserver.rbac import Attributes
from hack.lab.apiserver.rbac import rule_allows as authorizer_rule_allows

RBAC_GROUP = "rbac.authorization.k8s.io"
READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
ALL_VERBS = (*READ_VERBS, *WRITE_VERBS)


@dataclass(frozen=True, slots=True)
class Request:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""  # "" = cluster-scoped, or across all namespaces
    name: str = ""


@dataclass(frozen=True, slots=True)
class Grant:
    """A rule, and where it applies: ``namespace`` None means every namespace and the cluster scope."""

    namespace: str | None
    rule: Mapping[str, Any]
    role: str


def _subject_is(subject: Mapping[str, Any], namespace: str, name: str, binding_namespace: str) -> bool:
    return (
        subject.get("kind") == "ServiceAccount"
        and subject.get("name") == name
        and (subject.get("namespace") or binding_namespace) == namespace
    )


def grants(objects: Sequence[Mapping[str, Any]], service_account: tuple[str, str]) -> list[Grant]:
    """Every rule that reaches the ServiceAccount (namespace, name), with the scope it reaches it in."""
    sa_namespace, sa_name = service_account
    roles: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for obj in objects:
        if obj.get("kind") in ("Role", "ClusterRole") and str(obj.get("apiVersion", "")).startswith(RBAC_GROUP):
            meta = obj.get("metadata") or {}
            roles[(obj["kind"], meta.get("namespace") or "", meta["name"])] = obj
    found: list[Grant] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        meta = obj.get("metadata") or {}
        binding_ns = meta.get("namespace") or ""
        if not any(_subject_is(s, sa_namespace, sa_name, binding_ns) for s in obj.get("subjects") or []):
            continue
        ref = obj.get("roleRef") or {}
        if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
            continue  # the API server refuses this; it grants nothing
        role_ns = binding_ns if ref.get("kind") == "Role" else ""
        role = roles.get((str(ref.get("kind")), role_ns, str(ref.get("name"))))
        if role is None:
            continue  # a binding to a missing role grants nothing
        scope = None if kind == "ClusterRoleBinding" else binding_ns
        found.extend(Grant(scope, rule, f"{role['kind']}/{ref.get('name')}") for rule in role.get("rules") or [])
    return found


def rule_allows(rule: Mapping[str, Any], request: Request) -> bool:
    """Whether ``rule`` covers ``request``: asked of the API emulator's authorizer, so that the install checks and
    the lab judge RBAC by one implementation of Kubernetes' matching."""
    attrs = Attributes(
        request.verb, request.group, request.resource, request.subresource, request.name, request.namespace
    )
    return authorizer_rule_allows(rule, attrs)


def allowed(objects: Sequence[Mapping[str, Any]], service_account: tuple[str, str], request: Request) -> bool:
    """Whether the ServiceAccount may make ``request`` under the RBAC objects among ``objects``."""
    return any(
        (grant.namespace is None or grant.namespace == request.namespace) and rule_allows(grant.rule, request)
        for grant in grants(objects, service_account)
    )


def wildcards(objects: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    """Every ``*`` in the verbs, apiGroups or resources of a Role or ClusterRole (least privilege allows none)."""
    for obj in objects:
        if obj.get("kind") not in ("Role", "ClusterRole"):
            continue
        for index, rule in enumerate(obj.get("rules") or []):
            for field in ("verbs", "apiGroups", "resources"):
                if any("*" in str(item) for item in rule.get(field) or []):
                    yield f"{obj['kind']} {obj['metadata']['name']} rules[{index}].{field}"


__all__ = [
    "ALL_VERBS",
    "READ_VERBS",
    "WRITE_VERBS",
    "Grant",
    "Request",
    "allowed",
    "grants",
    "rule_allows",
    "wildcards",
]
