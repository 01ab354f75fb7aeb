"""What the emulator serves: one :class:`ResourceType` per (group, version, resource), and the registry of them.

A resource type says how a kind is named in URLs and discovery, whether it is namespaced, which subresources
it has, which field selectors its registry accepts, how its names are validated, where it is stored (several
versions, or two groups as for Events, share one storage key) and the handful of strategy switches that the
real registry's ``RESTCreateStrategy``/``RESTUpdateStrategy`` express in code (``AllowCreateOnUpdate``,
``AllowUnconditionalUpdate``, whether the deleted object is returned, how ``metadata.generation`` moves).

Built-in types are listed here; custom resources are added and removed by :mod:`.crds` as CRDs come and go.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hack.lab.apiserver import meta

JSON = dict[str, Any]
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")


class Generation(enum.Enum):
    """How ``metadata.generation`` is kept (``BeforeCreate``/``PrepareForUpdate`` of each strategy)."""

    NONE = "none"  #: never set (Services, Pods, ConfigMaps...)
    SPEC = "spec"  #: 1 on create, +1 when ``spec`` changes (Deployments, CRDs)
    NON_METADATA = "non-metadata"  #: custom resources without /status: any change outside metadata
    NON_STATUS = "non-status"  #: custom resources with /status: any change outside metadata and status


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    #: subresource name -> verbs ("status", "token", "finalize", ...)
    subresources: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: field selector labels the registry accepts besides metadata.name (and metadata.namespace when namespaced)
    field_labels: tuple[str, ...] = ()
    name_errors: meta.NameValidator = meta.dns1123_subdomain_errors
    #: storage key shared by every version (and group) that serves the same objects
    storage: str = ""
    #: apiVersion objects are stored in (custom resources may be served in several)
    storage_version: str = ""
    generation: Generation = Generation.NONE
    allow_create_on_update: bool = False
    allow_unconditional_update: bool = True
    return_deleted_object: bool = False
    #: OpenAPI definition of built-in kinds (None for custom resources)
    definition: str | None = None
    #: custom resources: the CRD that defines them (name) and this version's compiled schema
    crd: str | None = None
    schema: Any = None
    printer_columns: list[JSON] = field(default_factory=list)
    #: convert a stored object to this type's external form, and back (Events in events.k8s.io)
    to_external: Callable[[JSON], JSON] | None = None
    to_storage: Callable[[JSON], JSON] | None = None

    def __post_init__(self) -> None:
        if not self.singular:
            self.singular = self.kind.lower()
        if not self.storage:
            self.storage = f"{self.group}/{self.plural}"
        if not self.storage_version:
            self.storage_version = self.api_version

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def is_custom(self) -> bool:
        return self.crd is not None

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def group_kind(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def supports_field(self, label: str) -> bool:
        if label == "metadata.name" or (label == "metadata.namespace" and self.namespaced):
            return True
        return label in self.field_labels


class Registry:
    """The served resource types, looked up by URL parts, by kind, or by storage key."""

    def __init__(self, types: Iterable[ResourceType] = ()) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._versions: dict[str, list[str]] = {}  # group -> versions, preferred first
        self.generation = 0  # bumped on every change, for discovery caches
        for rt in types:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        versions = self._versions.setdefault(rt.group, [])
        if rt.version not in versions:
            versions.append(rt.version)
        self.generation += 1

    def remove(self, group: str, version: str, plural: str) -> None:
        self._by_path.pop((group, version, plural), None)
        if not any(g == group and v == version for g, v, _ in self._by_path):
            versions = self._versions.get(group, [])
            if version in versions:
                versions.remove(version)
            if not versions:
                self._versions.pop(group, None)
        self.generation += 1

    def set_version_order(self, group: str, versions: list[str]) -> None:
        present = self._versions.get(group)
        if present is not None:
            present.sort(key=lambda v: versions.index(v) if v in versions else len(versions))

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def has_group_version(self, group: str, version: str) -> bool:
        return version in self._versions.get(group, ())

    def groups(self) -> dict[str, list[str]]:
        return {g: list(v) for g, v in self._versions.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for (g, v, _), rt in self._by_path.items() if g == group and v == version]

    def by_kind(self, group: str, version: str, kind: str) -> ResourceType | None:
        for (g, v, _), rt in self._by_path.items():
            if g == group and v == version and rt.kind == kind:
                return rt
        return None

    def by_storage(self, storage: str) -> list[ResourceType]:
        return [rt for rt in self._by_path.values() if rt.storage == storage]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_path.values()))


def _status() -> dict[str, tuple[str, ...]]:
    return {"status": STATUS_VERBS}


POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)


def builtin_types() -> list[ResourceType]:
    """The kinds ironlb and its tests touch, as a 1.30 server serves them."""
    from hack.lab.apiserver import events as ev  # conversion between core and events.k8s.io

    core = "io.k8s.api.core.v1."
    return [
        ResourceType(
            "",
            "v1",
            "namespaces",
            "Namespace",
            False,
            short_names=("ns",),
            verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
            subresources={"status": STATUS_VERBS, "finalize": ("update",)},
            field_labels=("status.phase",),
            name_errors=meta.dns1123_label_errors,
            definition=core + "Namespace",
        ),
        ResourceType(
            "",
            "v1",
            "services",
            "Service",
            True,
            short_names=("svc",),
            categories=("all",),
            subresources=_status(),
            name_errors=meta.dns1035_label_errors,
            return_deleted_object=True,
            definition=core + "Service",
        ),
        ResourceType(
            "",
            "v1",
            "endpoints",
            "Endpoints",
            True,
            singular="endpoints",
            short_names=("ep",),
            allow_create_on_update=True,
            definition=core + "Endpoints",
        ),
        ResourceType(
            "",
            "v1",
            "nodes",
            "Node",
            False,
            short_names=("no",),
            subresources=_status(),
            field_labels=("spec.unschedulable",),
            definition=core + "Node",
        ),
        ResourceType(
            "",
            "v1",
            "pods",
            "Pod",
            True,
            short_names=("po",),
            categories=("all",),
            subresources=_status(),
            field_labels=POD_FIELDS,
            return_deleted_object=True,
            definition=core + "Pod",
        ),
        ResourceType("", "v1", "secrets", "Secret", True, field_labels=("type",), definition=core + "Secret"),
        ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",), definition=core + "ConfigMap"),
        ResourceType(
            "",
            "v1",
            "events",
            "Event",
            True,
            short_names=("ev",),
            field_labels=EVENT_FIELDS,
            allow_create_on_update=True,
            definition=core + "Event",
        ),
        ResourceType(
            "",
            "v1",
            "serviceaccounts",
            "ServiceAccount",
            True,
            short_names=("sa",),
            subresources={"token": ("create",)},
            return_deleted_object=True,
            definition=core + "ServiceAccount",
        ),
        ResourceType(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            True,
            definition="io.k8s.api.discovery.v1.EndpointSlice",
        ),
        ResourceType(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            True,
            short_names=("deploy",),
            categories=("all",),
            subresources={"status": STATUS_VERBS, "scale": STATUS_VERBS},
            generation=Generation.SPEC,
            definition="io.k8s.api.apps.v1.Deployment",
        ),
        ResourceType(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            True,
            short_names=("ds",),
            categories=("all",),
            subresources=_status(),
            generation=Generation.SPEC,
            definition="io.k8s.api.apps.v1.DaemonSet",
        ),
        ResourceType(
            "apps",
            "v1",
            "replicasets",
            "ReplicaSet",
            True,
            short_names=("rs",),
            categories=("all",),
            subresources={"status": STATUS_VERBS, "scale": STATUS_VERBS},
            generation=Generation.SPEC,
            field_labels=("status.replicas",),
            definition="io.k8s.api.apps.v1.ReplicaSet",
        ),
        ResourceType(
            "coordination.k8s.io",
            "v1",
            "leases",
            "Lease",
            True,
            allow_create_on_update=True,
            definition="io.k8s.api.coordination.v1.Lease",
        ),
        ResourceType(
            "events.k8s.io",
            "v1",
            "events",
            "Event",
            True,
            short_names=("ev",),
            field_labels=EVENT_FIELDS,
            storage="/events",
            storage_version="v1",
            allow_create_on_update=True,
            definition="io.k8s.api.events.v1.Event",
            to_external=ev.core_to_events_v1,
            to_storage=ev.events_v1_to_core,
        ),
        ResourceType(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            False,
            short_names=("crd", "crds"),
            subresources=_status(),
            generation=Generation.SPEC,
            definition="io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
        *[
            ResourceType(
                "rbac.authorization.k8s.io",
                "v1",
                plural,
                kind,
                namespaced,
                allow_create_on_update=True,
                name_errors=meta.path_segment_errors,
                definition=f"io.k8s.api.rbac.v1.{kind}",
            )
            for plural, kind, namespaced in (
                ("roles", "Role", True),
                ("clusterroles", "ClusterRole", False),
                ("rolebindings", "RoleBinding", True),
                ("clusterrolebindings", "ClusterRoleBinding", False),
            )
        ],
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            False,
            verbs=("create",),
            definition="io.k8s.api.authorization.v1.SelfSubjectAccessReview",
        ),
        ResourceType(
            "authorization.k8s.io",
            "v1",
            "subjectaccessreviews",
            "SubjectAccessReview",
            False,
            verbs=("create",),
            definition="io.k8s.api.authorization.v1.SubjectAccessReview",
        ),
        ResourceType(
            "authentication.k8s.io",
            "v1",
            "selfsubjectreviews",
            "SelfSubjectReview",
            False,
            verbs=("create",),
            definition="io.k8s.api.authentication.v1.SelfSubjectReview",
        ),
    ]


#: Kinds answered by a computation, never stored (the "virtual" review resources).
VIRTUAL_KINDS = frozenset({"SelfSubjectAccessReview", "SubjectAccessReview", "SelfSubjectReview"})

__all__ = ["ALL_VERBS", "Generation", "JSON", "Registry", "ResourceType", "VIRTUAL_KINDS", "builtin_types"]
