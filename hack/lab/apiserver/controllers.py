"""The kube-controller-manager loops whose effects clients of an API server expect to see.

A bare kube-apiserver leaves some things to controllers; tests and the lab would notice their absence, so the
emulator runs small versions of them, reacting to commits the way informers would (asynchronously, after the
request that caused them has returned):

* namespace lifecycle: a deleted Namespace is ``Terminating``; its objects are deleted (their finalizers
  respected), then the ``kubernetes`` finalizer is removed and the Namespace disappears;
* service accounts: every new Namespace gets a ``default`` ServiceAccount;
* CRD finalizer: a deleted CRD's instances are deleted, then the CRD;
* garbage collection: when an owner is gone, dependents whose every owner is gone are deleted in the
  background (``propagationPolicy: Orphan`` strips the owner references instead);
* ClusterRole aggregation: a ClusterRole with an ``aggregationRule`` gets the rules of the ClusterRoles its
  selectors match.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from hack.lab.apiserver import crds, errors
from hack.lab.apiserver.store import ADDED, DELETED, Change
from ironlb.api.selectors import LabelSelector, SelectorError

if TYPE_CHECKING:
    from hack.lab.apiserver.cluster import Cluster

JSON = dict[str, Any]
log = logging.getLogger(__name__)
CRD_STORAGE = "apiextensions.k8s.io/customresourcedefinitions"


class Controllers:
    def __init__(self, cluster: Cluster) -> None:
        self.c = cluster
        self._orphaned: set[str] = set()
        self.enabled = True

    def orphan(self, uid: str) -> None:
        """Remember that the owner ``uid`` was deleted with ``propagationPolicy: Orphan``."""
        if uid:
            self._orphaned.add(uid)

    def on_commit(self, change: Change) -> None:
        if not self.enabled:
            return
        storage = change.storage
        m = change.obj.get("metadata") or {}
        if storage == "/namespaces":
            if change.type == ADDED:
                self.c.defer(lambda: self._default_service_account(m["name"]))
            elif change.type != DELETED and m.get("deletionTimestamp"):
                self.c.defer(lambda: self._clean_namespace(m["name"]))
        elif m.get("namespace"):
            ns = self.c.namespace_state(m["namespace"])
            if ns is not None and ns["metadata"].get("deletionTimestamp"):
                self.c.defer(lambda: self._clean_namespace(m["namespace"]))
        if storage == CRD_STORAGE and change.type != DELETED and m.get("deletionTimestamp"):
            self.c.defer(lambda: self._clean_crd(m["name"]))
        elif change.type == DELETED:
            for rt in self.c.registry.by_storage(storage):
                if rt.crd is not None:
                    crd = self.c.store.get(CRD_STORAGE, "", rt.crd)
                    if crd is not None and crd["metadata"].get("deletionTimestamp"):
                        self.c.defer(functools.partial(self._clean_crd, rt.crd))
                    break
        if change.type == DELETED and m.get("uid"):
            uid = m["uid"]
            if self.c.dependents(uid):
                self.c.defer(lambda: self._collect(uid))
        if storage == "rbac.authorization.k8s.io/clusterroles":
            self.c.defer(self._aggregate)

    # -------------------------------------------------------------------------------- the loops

    def _system_write(self) -> Any:
        from hack.lab.apiserver.cluster import WriteOptions

        return WriteOptions(field_validation="Ignore")

    def _default_service_account(self, namespace: str) -> None:
        from hack.lab.apiserver import writes

        if self.c.store.get("/serviceaccounts", namespace, "default") is not None:
            return
        ns = self.c.namespace_state(namespace)
        if ns is None or ns["metadata"].get("deletionTimestamp"):
            return
        rt = self.c.resolve("", "v1", "serviceaccounts")
        try:
            writes.create(self.c, rt, namespace, {"metadata": {"name": "default"}}, self._system_write())
        except errors.ApiError as exc:
            if exc.code != 409:
                raise

    def _clean_namespace(self, namespace: str) -> None:
        from hack.lab.apiserver import writes

        ns = self.c.namespace_state(namespace)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        remaining = 0
        for storage in self.c.store.storages():
            if storage == "/namespaces":
                continue
            rt = self.c.primary_type(storage)
            if rt is None or not rt.namespaced:
                continue
            for obj in self.c.store.list_objects(storage, namespace):
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        writes.delete(
                            self.c,
                            rt,
                            namespace=namespace,
                            name=obj["metadata"]["name"],
                            options={"gracePeriodSeconds": 0},
                            opts=self._system_write(),
                        )
                    except errors.ApiError as exc:
                        if exc.code != 404:
                            raise
        if remaining and any(
            self.c.store.list_objects(s, namespace) for s in self.c.store.storages() if s != "/namespaces"
        ):
            return
        rt = self.c.resolve("", "v1", "namespaces")
        current = self.c.namespace_state(namespace)
        if current is None:
            return
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": dict(current["metadata"]),
            "spec": {"finalizers": []},
        }
        writes.update_existing(self.c, rt, body, current, self._system_write(), subresource="finalize")

    def _clean_crd(self, name: str) -> None:
        from hack.lab.apiserver import writes

        crd = self.c.store.get(CRD_STORAGE, "", name)
        if crd is None or not crd["metadata"].get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        storage = f"{spec.get('group')}/{(spec.get('names') or {}).get('plural')}"
        types = self.c.crds.types(name)
        left = self.c.store.list_objects(storage)
        if types:
            for obj in left:
                m = obj["metadata"]
                if not m.get("deletionTimestamp"):
                    try:
                        writes.delete(
                            self.c,
                            types[0],
                            namespace=m.get("namespace") or "",
                            name=m["name"],
                            options={},
                            opts=self._system_write(),
                        )
                    except errors.ApiError as exc:
                        if exc.code != 404:
                            raise
        if self.c.store.list_objects(storage):
            return
        body = dict(crd)
        body["metadata"] = dict(crd["metadata"])
        body["metadata"]["finalizers"] = [
            f for f in crd["metadata"].get("finalizers") or [] if f != crds.CLEANUP_FINALIZER
        ]
        rt = self.c.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        writes.update_existing(self.c, rt, body, crd, self._system_write())

    def _collect(self, owner_uid: str) -> None:
        from hack.lab.apiserver import writes

        orphan = owner_uid in self._orphaned
        for storage, namespace, name in self.c.dependents(owner_uid):
            obj = self.c.store.get(storage, namespace, name)
            rt = self.c.primary_type(storage)
            if obj is None or rt is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            if orphan:
                body = dict(obj)
                body["metadata"] = dict(obj["metadata"])
                body["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != owner_uid]
                writes.update_existing(self.c, rt, self.c.external(rt, body), obj, self._system_write())
                continue
            if any(self._owner_exists(r, namespace) for r in refs if r.get("uid") != owner_uid):
                continue
            if not obj["metadata"].get("deletionTimestamp"):
                writes.delete(self.c, rt, namespace=namespace, name=name, options={}, opts=self._system_write())
        self._orphaned.discard(owner_uid)

    def _owner_exists(self, ref: JSON, namespace: str) -> bool:
        for storage in self.c.store.storages():
            for rt in self.c.registry.by_storage(storage):
                if rt.kind == ref.get("kind"):
                    found = self.c.store.get(storage, namespace if rt.namespaced else "", str(ref.get("name")))
                    return found is not None and found["metadata"].get("uid") == ref.get("uid")
        return False

    def _aggregate(self) -> None:
        from hack.lab.apiserver import writes

        storage = "rbac.authorization.k8s.io/clusterroles"
        roles = self.c.store.list_objects(storage)
        rt = self.c.resolve("rbac.authorization.k8s.io", "v1", "clusterroles")
        for role in roles:
            rule = role.get("aggregationRule")
            if not isinstance(rule, dict):
                continue
            try:
                chosen = [LabelSelector.from_object(s) for s in rule.get("clusterRoleSelectors") or []]
            except SelectorError:
                continue
            rules: list[JSON] = []
            for other in roles:
                if other is role or other["metadata"]["name"] == role["metadata"]["name"]:
                    continue
                labels = other["metadata"].get("labels") or {}
                if any(s.matches(labels) for s in chosen):
                    for r in other.get("rules") or []:
                        if r not in rules:
                            rules.append(r)
            if rules != (role.get("rules") or []):
                body = dict(role)
                body["rules"] = rules
                writes.update_existing(self.c, rt, body, role, self._system_write())


__all__ = ["Controllers"]
