"""The emulated cluster without HTTP: state, decoding of request bodies, reads, and the built-in controllers.

:class:`Cluster` owns the :class:`~.store.Store`, the resource :class:`~.resources.Registry` (built-in types
plus those CRDs add), the Service network and the emulated controllers. The HTTP layer parses a request,
resolves its :class:`~.resources.ResourceType` and calls a method here or in :mod:`.writes`; everything that
fails raises :class:`~.errors.ApiError`.

Objects are stored in their storage shape (core ``v1`` for Events, the storage version for custom resources)
and converted on the way out (:meth:`Cluster.external`) and in (:meth:`Cluster.decode`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hack.lab.apiserver import crds, errors, schemas, selectors, services
from hack.lab.apiserver.resources import Registry, ResourceType, builtin_types
from hack.lab.apiserver.store import DELETED, Change, Store, decode_continue, encode_continue

JSON = dict[str, Any]
log = logging.getLogger(__name__)

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@dataclass
class WriteOptions:
    dry_run: bool = False
    #: "Strict" refuses unknown fields, "Warn" (the default) drops them with a warning, "Ignore" drops them
    field_validation: str = "Warn"
    field_manager: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class ListOptions:
    label_selector: str | None = None
    field_selector: str | None = None
    limit: int = 0
    continue_token: str | None = None
    resource_version: str | None = None
    resource_version_match: str | None = None


class Cluster:
    """All the state of one emulated API server."""

    def __init__(
        self,
        *,
        service_cidrs: tuple[str, ...] = ("10.96.0.0/16",),
        node_port_range: tuple[int, int] = (30000, 32767),
        history_window: int = 10_000,
        seed: int | None = None,
    ) -> None:
        self.store = Store(window=history_window)
        self.registry = Registry(builtin_types())
        self.network = services.ServiceNetwork(service_cidrs, node_port_range, seed=seed)
        self.crds = crds.CrdServing(self.registry)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._owners: dict[str, set[tuple[str, str, str]]] = {}  # owner uid -> dependents (storage, ns, name)
        self._pending: list[Callable[[], None]] = []
        self.store.add_hook(self._on_commit)
        from hack.lab.apiserver import controllers

        self.controllers = controllers.Controllers(self)

    # ------------------------------------------------------------------------------------------ hooks

    def _on_commit(self, change: Change) -> None:
        if change.storage == "/services":
            self.network.observe(change)
        elif change.storage == "apiextensions.k8s.io/customresourcedefinitions":
            name = change.key[1]
            self.crds.sync(None if change.type == DELETED else change.obj, name)
        self._index_owners(change)
        self.controllers.on_commit(change)

    def _index_owners(self, change: Change) -> None:
        key = (change.storage, *change.key)
        before = {r.get("uid") for r in ((change.prev or {}).get("metadata") or {}).get("ownerReferences") or []}
        after = (
            set()
            if change.type == DELETED
            else {r.get("uid") for r in (change.obj.get("metadata") or {}).get("ownerReferences") or []}
        )
        for uid in before - after:
            self._owners.get(str(uid), set()).discard(key)
        for uid in after - before:
            self._owners.setdefault(str(uid), set()).add(key)

    def dependents(self, uid: str) -> list[tuple[str, str, str]]:
        return sorted(self._owners.get(uid, ()))

    def defer(self, work: Callable[[], None]) -> None:
        """Run ``work`` after the current request, as a controller reacting to a watch event would."""
        if self.loop is not None and self.loop.is_running():
            self.loop.call_soon(self._run_deferred, work)
        else:
            self._pending.append(work)

    def _run_deferred(self, work: Callable[[], None]) -> None:
        try:
            work()
        except errors.ApiError as exc:
            log.debug("emulated controller step failed: %s", exc.message)
        except Exception:  # a controller bug must not take the server down
            log.exception("emulated controller step failed")

    def run_pending(self) -> None:
        while self._pending:
            self._run_deferred(self._pending.pop(0))

    # ------------------------------------------------------------------------------------------ lookup

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, version, plural)
        if rt is None:
            raise errors.resource_not_found()
        return rt

    def primary_type(self, storage: str) -> ResourceType | None:
        """The type whose apiVersion objects of ``storage`` are stored in."""
        for rt in self.registry.by_storage(storage):
            if rt.api_version == rt.storage_version and rt.to_external is None:
                return rt
        types = self.registry.by_storage(storage)
        return types[0] if types else None

    def namespace_state(self, namespace: str) -> JSON | None:
        return self.store.get("/namespaces", "", namespace)

    def check_namespace(self, rt: ResourceType, namespace: str, name: str, *, creating: bool) -> None:
        """A namespaced write needs the namespace to exist, and a create needs it not to be terminating."""
        if not rt.namespaced:
            return
        ns = self.namespace_state(namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if creating and (ns.get("metadata") or {}).get("deletionTimestamp"):
            raise errors.namespace_terminating(namespace, rt.group, rt.plural, name)

    # ------------------------------------------------------------------------------------------ shapes

    def external(self, rt: ResourceType, stored: JSON) -> JSON:
        """A stored object as ``rt``'s group/version shows it."""
        if rt.to_external is not None:
            return rt.to_external(stored)
        if rt.is_custom and stored.get("apiVersion") != rt.api_version:
            out = dict(stored)
            out["apiVersion"] = rt.api_version
            if rt.schema is not None:
                out = rt.schema.default(out)
            return out
        return stored

    def to_storage(self, rt: ResourceType, obj: JSON) -> JSON:
        if rt.to_storage is not None:
            return rt.to_storage(obj)
        if rt.is_custom:
            obj["apiVersion"] = rt.storage_version
        return obj

    def decode(self, rt: ResourceType, body: Any, opts: WriteOptions) -> tuple[JSON, list[str]]:
        """Turn a request body into an object of ``rt`` the way the server's decoder would.

        Returns the object (external shape, unknown fields dropped) and the paths of required fields that are
        missing (reported later as 422 causes).

        Raises:
            ApiError: 400 for a body that is not an object of this kind, has wrong types, or (Strict) unknown
                fields.
        """
        if not isinstance(body, dict):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): couldn't get version/kind; "
                f"json parse error: json: cannot unmarshal {_json_kind(body)} into Go value of type struct "
                '{ APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
            )
        obj = copy.deepcopy(body)
        api_version = obj.get("apiVersion") or rt.api_version
        kind = obj.get("kind") or rt.kind
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {rt.kind}): apiVersion and kind must be strings"
            )
        if (api_version, kind) != (rt.api_version, rt.kind):
            raise self._kind_mismatch(rt, api_version, kind)
        obj["apiVersion"], obj["kind"] = api_version, kind
        if "metadata" in obj and not isinstance(obj["metadata"], dict):
            raise self._type_error(
                rt,
                f"json: cannot unmarshal {_json_kind(obj['metadata'])} into Go struct "
                f"field {rt.kind}.metadata of type v1.ObjectMeta",
            )
        obj.setdefault("metadata", {})
        missing: list[str] = []
        if rt.definition is not None:
            decoded = schemas.decode(obj, rt.definition)
            if decoded.type_errors:
                raise self._type_error(rt, decoded.type_errors[0])
            unknown = decoded.unknown
            obj = decoded.obj
            missing = decoded.missing
        else:
            meta_decoded = schemas.decode(obj["metadata"], OBJECT_META)
            if meta_decoded.type_errors:
                raise self._type_error(rt, meta_decoded.type_errors[0])
            unknown = [f"metadata.{p}" for p in meta_decoded.unknown]
            obj["metadata"] = meta_decoded.obj
            if rt.schema is not None:
                obj, dropped = rt.schema.prune(obj)
                unknown += dropped
        obj["metadata"].pop("managedFields", None)
        obj["metadata"].pop("selfLink", None)
        if unknown:
            if opts.field_validation == "Strict":
                listed = ", ".join(f'unknown field "{p}"' for p in unknown)
                raise self._type_error(rt, f"strict decoding error: {listed}")
            if opts.field_validation != "Ignore":
                opts.warnings.extend(f'unknown field "{p}"' for p in unknown)
        return obj, missing

    def _type_error(self, rt: ResourceType, detail: str) -> errors.ApiError:
        return errors.bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {detail}')

    def _kind_mismatch(self, rt: ResourceType, api_version: str, kind: str) -> errors.ApiError:
        group, _, version = api_version.rpartition("/")
        if rt.is_custom:
            if api_version != rt.api_version:
                return errors.bad_request(
                    f"the API version in the data ({api_version}) does not match the expected API version "
                    f"({rt.api_version})"
                )
            return errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: kind must be {rt.kind}'
            )
        other = self.registry.by_kind(group, version, kind)
        if other is None or other.is_custom:
            scheme = "pkg/api/legacyscheme/scheme.go:30"
            return errors.bad_request(
                f'{kind} in version "{version}" cannot be handled as a {rt.kind}: no kind "{kind}" is registered '
                f'for version "{api_version}" in scheme "{scheme}"'
            )
        if other.kind == rt.kind:
            return errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        internal = rt.group.split(".")[0] if rt.group else "core"
        return errors.bad_request(
            f'{kind} in version "{version}" cannot be handled as a {rt.kind}: converting '
            f"({other.version}.{kind}) to ({internal}.{rt.kind}): unknown conversion"
        )

    # ------------------------------------------------------------------------------------------ reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> JSON:
        stored = self.store.get(rt.storage, namespace if rt.namespaced else "", name)
        if stored is None:
            raise errors.not_found(rt.group, rt.plural, name)
        return self.external(rt, stored)

    def list_collection(self, rt: ResourceType, namespace: str | None, opts: ListOptions) -> JSON:
        """A list as the server returns it: filtered, paginated, with the collection's resourceVersion."""
        labels = selectors.parse_label_selector(opts.label_selector)
        terms = selectors.parse_field_selector(opts.field_selector, rt)
        matches = selectors.make_filter(labels, terms, rt)
        ns = namespace if rt.namespaced else None
        rv = self.store.rv
        start: tuple[str, str] | None = None
        limit = max(0, opts.limit)
        if opts.continue_token:
            if opts.resource_version not in (None, ""):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            rv, start = decode_continue(opts.continue_token)
            if rv < self.store.compacted_rv:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start "
                    "a new list without the continue parameter, or use the continue token in this response to "
                    "retrieve the remainder of the results. Continuing with the provided token results in an "
                    "inconsistent list - objects that were created, modified, or deleted between the time the "
                    "first chunk was returned and now may show up in the list."
                )
            pairs = self.store.snapshot(rt.storage, rv)
        else:
            requested = parse_rv(opts.resource_version)
            match = opts.resource_version_match or ""
            if match and match not in ("Exact", "NotOlderThan"):
                raise errors.bad_request(
                    f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
                )
            if match and requested is None:
                raise errors.bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
            if match == "Exact" and requested == 0:
                raise errors.bad_request('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
            if requested is not None and requested > self.store.rv:
                raise errors.too_large_resource_version(requested)
            if match == "Exact" and requested is not None:
                rv = requested
                pairs = self.store.snapshot(rt.storage, requested)
            else:
                if requested == 0 and not match:
                    limit = 0  # served from the watch cache: no pagination (1.30)
                keys = self.store.keys(rt.storage)
                pairs = [(k, self.store.get(rt.storage, *k)) for k in keys]  # type: ignore[misc]
        items: list[JSON] = []
        next_key: tuple[str, str] | None = None
        remaining = 0
        for key, obj in pairs:
            if ns is not None and key[0] != ns:
                continue
            if start is not None and key <= start:
                continue
            if not matches(obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(obj)
            next_key = key
        out_meta: JSON = {"resourceVersion": str(rv)}
        if remaining and next_key is not None:
            out_meta["continue"] = encode_continue(rv, next_key)
            if labels.is_empty and not terms:
                out_meta["remainingItemCount"] = remaining
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": out_meta,
            "items": [self.list_item(rt, o) for o in items],
        }

    def list_item(self, rt: ResourceType, stored: JSON) -> JSON:
        """Items of built-in lists carry no apiVersion/kind (typed lists); custom resources keep them."""
        obj = self.external(rt, stored)
        if rt.is_custom:
            return obj
        return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


def parse_rv(text: str | None) -> int | None:
    """Parse a resourceVersion query parameter.

    Raises:
        ApiError: 400 for anything that is not a non-negative integer.
    """
    if text in (None, ""):
        return None
    try:
        value = int(str(text))
        if value < 0:
            raise ValueError
    except ValueError:
        raise errors.bad_request(f'resourceVersion: Invalid value: "{text}": must be a non-negative integer') from None
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "object"


__all__ = ["Cluster", "ListOptions", "SYSTEM_NAMESPACES", "WriteOptions", "parse_rv"]
