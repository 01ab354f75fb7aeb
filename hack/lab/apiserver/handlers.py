"""REST routing: from an HTTP request to a verb on a resource, authenticated and authorized, and back.

Paths follow kube-apiserver's layout::

    /api/v1/<resource>[/<name>[/<subresource>]]                          cluster-scoped, or all namespaces
    /api/v1/namespaces/<ns>/<resource>[/<name>[/<subresource>]]          namespaced
    /apis/<group>/<version>/...                                          the same under a group
    /api/v1/watch/...                                                    legacy watch paths

Verbs map as upstream: GET is get, list or watch; POST create; PUT update; PATCH patch; DELETE delete or
deletecollection. Errors are ``Status`` objects with the server's reasons and codes: an unknown group/version
is a plain-text 404, an unknown resource under a known one the NotFound Status "the server could not find the
requested resource", a verb a resource does not support 405.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hack.lab.apiserver import codec, discovery, errors, subresources, tables, writes
from hack.lab.apiserver.auth import Authenticator, User
from hack.lab.apiserver.cluster import Cluster, ListOptions, WriteOptions
from hack.lab.apiserver.rbac import Attributes, Authorizer
from hack.lab.apiserver.resources import VIRTUAL_KINDS, ResourceType
from hack.lab.apiserver.watch import WatchStream

JSON = dict[str, Any]
log = logging.getLogger(__name__)
PROTO_OPENAPI_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PATCH_TYPES = [writes.JSON_PATCH, writes.MERGE_PATCH, writes.APPLY_PATCH, writes.STRATEGIC_PATCH]


@dataclass
class ServerState:
    cluster: Cluster
    authn: Authenticator
    authz: Authorizer
    server_address: str = "127.0.0.1:6443"
    bookmark_interval: float = 60.0
    min_request_timeout: int = 1800
    streams: set[web.StreamResponse] = field(default_factory=set)
    requests: int = 0


@dataclass
class Target:
    rt: ResourceType
    namespace: str
    name: str
    subresource: str
    watch_path: bool


def _split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _route(state: ServerState, parts: list[str]) -> Target | None:
    """Resolve resource paths; None means "not a resource path" (discovery or unknown)."""
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    registry = state.cluster.registry
    if not registry.has_group_version(group, version):
        raise _page_not_found()
    watch_path = False
    if rest[0] == "watch":
        watch_path, rest = True, rest[1:]
        if not rest:
            raise errors.resource_not_found()
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    rt = registry.get(group, version, rest[0])
    if rt is None or len(rest) > 3:
        raise errors.resource_not_found()
    if namespace and not rt.namespaced:
        raise errors.resource_not_found()
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if not rt.namespaced and rest[0] == "namespaces":
        namespace = ""
    if sub and sub not in rt.subresources:
        raise errors.resource_not_found()
    if rt.namespaced and not namespace and name:
        raise errors.resource_not_found()
    return Target(rt, namespace, name, sub, watch_path)


def _page_not_found() -> errors.ApiError:
    err = errors.ApiError(404, errors.Reason.NOT_FOUND, "404 page not found")
    err.headers["X-Plain-Text"] = "1"
    return err


def _verb(method: str, target: Target, query: Any) -> str:
    watching = target.watch_path or query.get("watch") in ("true", "1")
    if method == "GET":
        if watching:
            return "watch"
        return "get" if target.name else "list"
    if method == "POST":
        if target.name and not target.subresource:
            raise errors.method_not_allowed()
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    raise errors.method_not_allowed()


def _write_options(query: Any) -> WriteOptions:
    dry = query.getall("dryRun", [])
    for value in dry:
        if value != "All":
            raise errors.bad_request(f'Invalid dryRun value: "{value}": supported values: "All"')
    validation = query.get("fieldValidation") or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"'
        )
    return WriteOptions(dry_run=bool(dry), field_validation=validation, field_manager=query.get("fieldManager", ""))


def _list_options(query: Any) -> ListOptions:
    limit_text = query.get("limit") or "0"
    try:
        limit = int(limit_text)
    except ValueError:
        raise errors.bad_request(f'limit: Invalid value: "{limit_text}": must be an integer') from None
    return ListOptions(
        label_selector=query.get("labelSelector"),
        field_selector=query.get("fieldSelector"),
        limit=limit,
        continue_token=query.get("continue") or None,
        resource_version=query.get("resourceVersion"),
        resource_version_match=query.get("resourceVersionMatch") or None,
    )


class Handler:
    """The single aiohttp handler behind every path."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.state.requests += 1
        fmt = codec.JSON_FORMAT
        try:
            user = self.state.authn.authenticate(request.headers.get("Authorization"))
            if not request.path.startswith("/openapi/"):  # OpenAPI documents negotiate for themselves
                fmt = codec.negotiate(request.headers.get("Accept"))
            return await self._dispatch(request, user, fmt)
        except errors.ApiError as exc:
            if exc.headers.pop("X-Plain-Text", None):
                return web.Response(status=404, text="404 page not found\n")
            return codec.error_response(exc, fmt)
        except Exception as exc:  # the server never dies on a request; it says what broke
            log.exception("request %s %s failed", request.method, request.path)
            return codec.error_response(errors.internal(f"{type(exc).__name__}: {exc}"))

    async def _dispatch(self, request: web.Request, user: User, fmt: codec.Format) -> web.StreamResponse:
        parts = _split(request.path)
        target = _route(self.state, parts) if parts else None
        if target is None:
            self.state.authz.check(user, Attributes("get", path=request.path, resource_request=False))
            return self._non_resource(request, parts, fmt)
        verb = _verb(request.method, target, request.query)
        rt = target.rt
        resource, sub = rt.plural, target.subresource
        if target.subresource and verb == "create" and target.subresource != "token":
            raise errors.method_not_allowed()
        if not target.subresource and verb not in rt.verbs:
            raise errors.method_not_allowed()
        if target.subresource and verb not in rt.subresources.get(target.subresource, ()):
            raise errors.method_not_allowed()
        if rt.namespaced and not target.namespace and verb not in ("list", "watch"):
            raise errors.method_not_allowed()
        self.state.authz.check(user, Attributes(verb, rt.group, resource, sub, target.name, target.namespace))
        if verb == "watch":
            if target.name:  # GET .../name?watch=true watches that one object
                query = dict(request.query)
                query["fieldSelector"] = f"metadata.name={target.name}"
                request = request.clone(rel_url=request.rel_url.with_query(query))
            stream = WatchStream(self.state, rt, target.namespace or None, fmt, request.query.get("includeObject", ""))
            return await stream.serve(request)
        if verb in ("get", "list"):
            return self._read(request, target, verb, fmt)
        raw = await codec.read_body(request)
        return self._write(request, target, verb=verb, raw=raw, user=user, fmt=fmt)

    # ------------------------------------------------------------------------------------------ reads

    def _read(self, request: web.Request, target: Target, verb: str, fmt: codec.Format) -> web.Response:
        cluster = self.state.cluster
        rt = target.rt
        include = request.query.get("includeObject", "")
        if include not in ("", "None", "Metadata", "Object"):
            raise errors.bad_request(f'unrecognized includeObject value: "{include}"')
        if verb == "get":
            obj = cluster.get(rt, target.namespace, target.name)
            if target.subresource == "scale":
                return codec.respond(subresources.scale_of(obj), 200, fmt)
            if fmt.as_kind == "Table":
                out = tables.table(
                    rt, [obj], resource_version=obj["metadata"].get("resourceVersion", ""), include=include
                )
                out["apiVersion"] = f"meta.k8s.io/{fmt.meta_version}"
                return codec.respond(out, 200, fmt)
            if fmt.as_kind == "PartialObjectMetadata":
                return codec.respond(tables.partial_metadata(obj), 200, fmt)
            return codec.respond(obj, 200, fmt)
        listed = cluster.list_collection(rt, target.namespace or None, _list_options(request.query))
        if fmt.as_kind == "Table":
            lm = listed["metadata"]
            objs = [_with_type(rt, o) for o in listed["items"]]
            out = tables.table(
                rt,
                objs,
                resource_version=lm["resourceVersion"],
                include=include,
                continue_token=lm.get("continue"),
                remaining=lm.get("remainingItemCount"),
            )
            out["apiVersion"] = f"meta.k8s.io/{fmt.meta_version}"
            return codec.respond(out, 200, fmt)
        if fmt.as_kind.startswith("PartialObjectMetadata"):
            listed = {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": listed["metadata"],
                "items": [tables.partial_metadata(o) for o in listed["items"]],
            }
        return codec.respond(listed, 200, fmt)

    # ------------------------------------------------------------------------------------------ writes

    def _write(
        self, request: web.Request, target: Target, *, verb: str, raw: bytes, user: User, fmt: codec.Format
    ) -> web.Response:
        cluster = self.state.cluster
        rt = target.rt
        if fmt.as_kind:
            fmt = codec.Format(fmt.media)
        opts = _write_options(request.query)
        if verb == "create":
            body = codec.parse_body(raw, request.headers.get("Content-Type"), rt.kind)
            if rt.kind in VIRTUAL_KINDS:
                return codec.respond(subresources.review(self.state.authz, rt, body, user), 201, fmt)
            if target.subresource == "token":
                token = subresources.token_request(cluster, self.state.authn, target.namespace, target.name, body)
                return codec.respond(token, 201, fmt)
            obj, code = writes.create(cluster, rt, target.namespace, body, opts)
            return codec.respond(obj, code, fmt, opts.warnings)
        if target.subresource == "scale" and verb in ("update", "patch"):
            content_type = request.headers.get("Content-Type")
            scale = subresources.write_scale(
                cluster,
                rt,
                namespace=target.namespace,
                name=target.name,
                raw=raw,
                content_type=content_type,
                is_patch=verb == "patch",
                opts=opts,
            )
            return codec.respond(scale, 200, fmt, opts.warnings)
        if verb == "update":
            body = codec.parse_body(raw, request.headers.get("Content-Type"), rt.kind)
            obj, code = writes.update(
                cluster,
                rt,
                namespace=target.namespace,
                name=target.name,
                body=body,
                opts=opts,
                subresource=target.subresource,
            )
            return codec.respond(obj, code, fmt, opts.warnings)
        if verb == "patch":
            patch_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if patch_type not in PATCH_TYPES or (rt.definition is None and patch_type == writes.STRATEGIC_PATCH):
                accepted = [t for t in PATCH_TYPES if rt.definition or t != writes.STRATEGIC_PATCH]
                raise errors.unsupported_media_type(patch_type, accepted)
            force = request.query.get("force") in ("true", "1")
            obj, code = writes.patch_object(
                cluster,
                rt,
                namespace=target.namespace,
                name=target.name,
                patch_type=patch_type,
                raw=raw,
                opts=opts,
                subresource=target.subresource,
                force=force,
            )
            return codec.respond(obj, code, fmt, opts.warnings)
        options = codec.parse_json_param(raw)
        for key in ("gracePeriodSeconds",):
            if key in request.query:
                try:
                    options[key] = int(request.query[key])
                except ValueError:
                    raise errors.bad_request(f'{key}: Invalid value: "{request.query[key]}"') from None
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if "orphanDependents" in request.query:
            options["orphanDependents"] = request.query["orphanDependents"] == "true"
        if options.get("dryRun"):
            opts.dry_run = True
        if verb == "delete":
            obj, code = writes.delete(
                cluster, rt, namespace=target.namespace, name=target.name, options=options, opts=opts
            )
            return codec.respond(obj, code, fmt)
        listed = cluster.list_collection(rt, target.namespace or None, _list_options(request.query))
        return codec.respond(
            writes.delete_collection(
                cluster, rt, namespace=target.namespace or None, listed=listed, options=options, opts=opts
            ),
            200,
            fmt,
        )

    # ------------------------------------------------------------------------------------------ discovery

    def _non_resource(self, request: web.Request, parts: list[str], fmt: codec.Format) -> web.StreamResponse:
        if request.method != "GET":
            if parts[:1] in (["api"], ["apis"]):
                raise errors.method_not_allowed()
            raise _page_not_found()
        registry = self.state.cluster.registry
        path = "/".join(parts)
        if fmt.as_kind:
            fmt = codec.Format(fmt.media)
        if path == "version":
            return codec.respond(discovery.VERSION_INFO, 200, fmt)
        if path in ("healthz", "livez", "readyz"):
            return web.Response(text="ok", content_type="text/plain")
        if path == "api":
            return codec.respond(discovery.api_versions(self.state.server_address), 200, fmt)
        if path == "apis":
            return codec.respond(discovery.api_group_list(registry), 200, fmt)
        if len(parts) == 2 and parts[0] == "apis":
            found = discovery.api_group(registry, parts[1])
            if found is None:
                raise _page_not_found()
            return codec.respond(found, 200, fmt)
        if (len(parts) == 2 and parts[0] == "api") or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            listed = discovery.api_resource_list(registry, group, version)
            if listed is None:
                raise _page_not_found()
            return codec.respond(listed, 200, fmt)
        if path == "openapi/v2":
            accept = request.headers.get("Accept", "")
            if accept and "json" not in accept and "*/*" not in accept:
                if "protobuf" in accept:
                    # A valid, empty gnostic Document: clients find no v2 schema and skip client-side validation,
                    # which then fails where a real server fails it (no such kind), not on the media type.
                    return web.Response(body=b"", content_type=PROTO_OPENAPI_V2)
                raise errors.not_acceptable(["application/json"])
            return codec.respond(discovery.openapi_v2_document(), 200)
        if path == "openapi/v3":
            return codec.respond(discovery.openapi_v3_root(registry), 200)
        if parts[:2] == ["openapi", "v3"] and len(parts) >= 4:
            rest = parts[2:]
            group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2] if len(rest) > 2 else "")
            if not registry.has_group_version(group, version):
                raise _page_not_found()
            return codec.respond(discovery.openapi_v3_document(registry, group, version), 200)
        raise _page_not_found()


def _with_type(rt: ResourceType, item: JSON) -> JSON:
    if "apiVersion" in item:
        return item
    return {"apiVersion": rt.api_version, "kind": rt.kind, **item}


__all__ = ["Handler", "ServerState"]
