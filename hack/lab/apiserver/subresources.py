"""Endpoints that are not plain objects: access reviews, ServiceAccount token requests, and ``/scale``.

* ``SelfSubjectAccessReview``, ``SubjectAccessReview`` and ``SelfSubjectReview`` are computed, never stored:
  ``kubectl auth can-i`` and ``kubectl auth whoami`` ask them.
* ``serviceaccounts/<name>/token`` (TokenRequest) mints a bearer token bound to the ServiceAccount (it stops
  working when the ServiceAccount is deleted); ``kubectl create token`` and the contract tests use it.
* ``deployments/<name>/scale`` and ``replicasets/<name>/scale`` show and change ``spec.replicas`` as an
  ``autoscaling/v1`` Scale (``kubectl scale``), with the object's resourceVersion as precondition.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from hack.lab.apiserver import codec, errors, meta, patch, writes
from hack.lab.apiserver.auth import Authenticator, User
from hack.lab.apiserver.cluster import Cluster, WriteOptions
from hack.lab.apiserver.printers import format_selector
from hack.lab.apiserver.rbac import Attributes, Authorizer
from hack.lab.apiserver.resources import ResourceType

JSON = dict[str, Any]


def review(authz: Authorizer, rt: ResourceType, body: Any, user: User) -> JSON:
    """Answer an access review (or a SelfSubjectReview) for ``user``."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {rt.kind})")
    out = dict(body)
    out.setdefault("apiVersion", rt.api_version)
    out.setdefault("kind", rt.kind)
    out["metadata"] = dict(out.get("metadata") or {})
    out["metadata"].setdefault("creationTimestamp", None)
    if rt.kind == "SelfSubjectReview":
        out["status"] = {"userInfo": user.info()}
        return out
    spec = out.get("spec") or {}
    subject = user
    if rt.kind == "SubjectAccessReview":
        subject = User(str(spec.get("user", "")), tuple(spec.get("groups") or ()), str(spec.get("uid", "")))
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(ra, dict) and ra:
        attrs = Attributes(
            str(ra.get("verb", "")),
            str(ra.get("group", "")),
            str(ra.get("resource", "")),
            str(ra.get("subresource", "")),
            str(ra.get("name", "")),
            str(ra.get("namespace", "")),
        )
    elif isinstance(nra, dict) and nra:
        attrs = Attributes(str(nra.get("verb", "")), path=str(nra.get("path", "")), resource_request=False)
    else:
        detail = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        raise errors.invalid_object(rt.group, rt.kind, "", [errors.invalid("spec.resourceAttributes", "null", detail)])
    allowed = authz.allowed(subject, attrs)
    out["status"] = {"allowed": allowed}
    if allowed and authz.enabled and not subject.is_master:
        out["status"]["reason"] = "RBAC: allowed by a binding"
    return out


def token_request(cluster: Cluster, authn: Authenticator, namespace: str, name: str, body: Any) -> JSON:
    """``TokenRequest``: a token for ServiceAccount ``namespace/name``."""
    if cluster.store.get("/serviceaccounts", namespace, name) is None:
        raise errors.not_found("", "serviceaccounts", name)
    spec = (body.get("spec") or {}) if isinstance(body, dict) else {}
    try:
        seconds = int(spec.get("expirationSeconds") or 3600)
    except (TypeError, ValueError):
        raise errors.bad_request("spec.expirationSeconds must be an integer") from None
    if seconds < 600:
        detail = "may not specify a duration less than 10 minutes"
        raise errors.invalid_object(
            "authentication.k8s.io", "TokenRequest", name, [errors.invalid("spec.expirationSeconds", seconds, detail)]
        )
    token = authn.mint_service_account(namespace, name, expiration_seconds=seconds)
    expires = meta.format_time(meta.now() + dt.timedelta(seconds=seconds))
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": None},
        "spec": {
            "audiences": spec.get("audiences") or ["https://kubernetes.default.svc.cluster.local"],
            "expirationSeconds": seconds,
            "boundObjectRef": spec.get("boundObjectRef"),
        },
        "status": {"token": token, "expirationTimestamp": expires},
    }


def scale_of(obj: JSON) -> JSON:
    """The ``autoscaling/v1`` Scale of a Deployment or ReplicaSet."""
    m = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    keep = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: m[k] for k in keep if k in m},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": format_selector(spec.get("selector"))},
    }


def write_scale(
    c: Cluster,
    rt: ResourceType,
    *,
    namespace: str,
    name: str,
    raw: bytes,
    content_type: str | None,
    is_patch: bool,
    opts: WriteOptions,
) -> JSON:
    """PUT or PATCH on ``/scale``: only ``spec.replicas`` (and the resourceVersion precondition) count."""
    stored = c.store.get(rt.storage, namespace, name)
    if stored is None:
        raise errors.not_found(rt.group, rt.plural, name)
    current = scale_of(c.external(rt, stored))
    if is_patch:
        kind = (content_type or "").split(";")[0].strip().lower()
        body = writes.parse_patch_body(kind, raw)
        try:
            if kind == writes.JSON_PATCH:
                wanted = patch.json_patch(current, body)
            elif kind in (writes.MERGE_PATCH, writes.STRATEGIC_PATCH):
                wanted = patch.merge_patch(current, body)
            else:
                raise errors.unsupported_media_type(
                    kind, [writes.JSON_PATCH, writes.MERGE_PATCH, writes.STRATEGIC_PATCH]
                )
        except patch.PatchError as exc:
            raise errors.ApiError(
                exc.code, errors.Reason.INVALID if exc.code == 422 else errors.Reason.BAD_REQUEST, exc.message
            ) from None
    else:
        wanted = codec.parse_body(raw, content_type, "Scale")
    if not isinstance(wanted, dict):
        raise errors.bad_request("the object provided is unrecognized (must be of type Scale)")
    replicas = (wanted.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid_object(
            "autoscaling",
            "Scale",
            name,
            [errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    target = copy.deepcopy(c.external(rt, stored))
    target["spec"]["replicas"] = replicas
    sent_rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if sent_rv:
        target["metadata"]["resourceVersion"] = sent_rv
    obj, _ = writes.update_existing(c, rt, target, stored, opts)
    return scale_of(obj)


__all__ = ["review", "scale_of", "token_request", "write_scale"]
