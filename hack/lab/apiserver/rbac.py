"""Authorization with RBAC semantics (``plugin/pkg/auth/authorizer/rbac``), plus the bootstrap policy we need.

A request is described by :class:`Attributes` (verb, API group, resource, subresource, name, namespace, or a
non-resource path). It is allowed when the user is in ``system:masters``, or when some rule reaches it: the
rules of ClusterRoles bound by ClusterRoleBindings apply everywhere, and those of Roles or ClusterRoles bound
by RoleBindings apply in the binding's namespace. A rule matches when its verbs, apiGroups and resources
(``services``, ``services/status``, ``*``, ``*/status``) cover the request and, if it names resourceNames,
the request names one of them; non-resource rules match paths exactly or by a ``*`` suffix.

A denial becomes the 403 ``Forbidden`` Status worded as upstream
(``services "x" is forbidden: User "..." cannot update resource "services" in API group "" in the
namespace "default"``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hack.lab.apiserver import errors
from hack.lab.apiserver.auth import User
from hack.lab.apiserver.store import Store

JSON = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Attributes:
    verb: str
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""
    resource_request: bool = True


def rule_allows(rule: Mapping[str, Any], attrs: Attributes) -> bool:
    """Whether one PolicyRule covers the request (Kubernetes' ``RuleAllows``); the install checks use it too."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs.verb not in verbs:
        return False
    if not attrs.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url in ("*", attrs.path) or (url.endswith("*") and attrs.path.startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs.api_group not in groups:
        return False
    combined = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    resources = rule.get("resources") or []
    matched = any(r in ("*", combined) or (attrs.subresource and r == f"*/{attrs.subresource}") for r in resources)
    if not matched:
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.name in names


def _subject_matches(subject: JSON, user: User, binding_namespace: str) -> bool:
    kind = subject.get("kind")
    name = subject.get("name")
    if kind == "User":
        return name == user.name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


class Authorizer:
    """RBAC over the Roles and bindings in the store (or allow-all when RBAC is off)."""

    def __init__(self, store: Store, *, enabled: bool) -> None:
        self.store = store
        self.enabled = enabled

    def _rules(self, user: User, namespace: str) -> Iterator[JSON]:
        for binding in self.store.list_objects(f"{RBAC}/clusterrolebindings"):
            if any(_subject_matches(s, user, "") for s in binding.get("subjects") or []):
                yield from self._role_rules(binding.get("roleRef") or {}, "")
        if namespace:
            for binding in self.store.list_objects(f"{RBAC}/rolebindings", namespace):
                if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                    yield from self._role_rules(binding.get("roleRef") or {}, namespace)

    def _role_rules(self, ref: JSON, namespace: str) -> Iterator[JSON]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.get(f"{RBAC}/clusterroles", "", str(ref.get("name")))
        elif ref.get("kind") == "Role" and namespace:
            role = self.store.get(f"{RBAC}/roles", namespace, str(ref.get("name")))
        else:
            role = None
        if role is not None:
            yield from role.get("rules") or []

    def allowed(self, user: User, attrs: Attributes) -> bool:
        if not self.enabled or user.is_master:
            return True
        return any(rule_allows(rule, attrs) for rule in self._rules(user, attrs.namespace))

    def check(self, user: User, attrs: Attributes) -> None:
        """Raises:
        ApiError: 403 Forbidden, worded as the real server words it.
        """
        if self.allowed(user, attrs):
            return
        raise forbidden(user, attrs)

    def rules_for(self, user: User, namespace: str) -> list[JSON]:
        if user.is_master or not self.enabled:
            return [
                {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                {"verbs": ["*"], "nonResourceURLs": ["*"]},
            ]
        return list(self._rules(user, namespace))


def forbidden(user: User, attrs: Attributes) -> errors.ApiError:
    if not attrs.resource_request:
        return errors.ApiError(
            403, errors.Reason.FORBIDDEN, f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"', {}
        )
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if attrs.namespace:
        where = f'in the namespace "{attrs.namespace}"'
    else:
        where = "at the cluster scope"
    why = f'User "{user.name}" cannot {attrs.verb} resource "{resource}" in API group "{attrs.api_group}" {where}'
    return errors.forbidden_error(attrs.api_group, attrs.resource, attrs.name, why)


def bootstrap_policy() -> list[tuple[str, JSON]]:
    """The default ClusterRoles and ClusterRoleBindings this emulator needs (a subset of upstream's)."""

    def role(name: str, rules: list[JSON], labels: dict[str, str] | None = None) -> tuple[str, JSON]:
        meta: JSON = {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        }
        return "clusterroles", {"apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": meta, "rules": rules}

    def binding(name: str, role_name: str, groups: list[str]) -> tuple[str, JSON]:
        meta: JSON = {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        }
        return "clusterrolebindings", {
            "apiVersion": f"{RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name},
            "subjects": [{"apiGroup": RBAC, "kind": "Group", "name": g} for g in groups],
        }

    read = ["get", "list", "watch"]
    write = ["create", "delete", "deletecollection", "patch", "update"]
    return [
        role(
            "cluster-admin",
            [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        ),
        role(
            "system:discovery",
            [
                {
                    "nonResourceURLs": [
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ],
                    "verbs": ["get"],
                }
            ],
        ),
        role(
            "system:public-info-viewer",
            [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
        ),
        role(
            "system:basic-user",
            [
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                },
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ],
        ),
        role(
            "view",
            [
                {
                    "apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"],
                    "resources": ["*"],
                    "verbs": read,
                }
            ],
            {"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
        ),
        role(
            "edit",
            [
                {
                    "apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io"],
                    "resources": ["*"],
                    "verbs": read + write,
                }
            ],
            {"rbac.authorization.k8s.io/aggregate-to-admin": "true"},
        ),
        role(
            "admin",
            [
                {
                    "apiGroups": ["", "apps", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io", RBAC],
                    "resources": ["*"],
                    "verbs": read + write,
                }
            ],
        ),
        binding("cluster-admin", "cluster-admin", ["system:masters"]),
        binding("system:discovery", "system:discovery", ["system:authenticated"]),
        binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
        binding(
            "system:public-info-viewer", "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]
        ),
    ]


__all__ = ["Attributes", "Authorizer", "bootstrap_policy", "forbidden", "rule_allows"]
