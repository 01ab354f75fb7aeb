"""Media types in and out: content negotiation, request bodies, responses and ``Status`` errors.

Responses are JSON (or YAML when asked); ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io`` selects the
server-side table (:mod:`.tables`) and ``as=PartialObjectMetadata`` the metadata-only form that metadata
informers use. Protobuf is not offered, so an ``Accept`` listing only protobuf gets 406, as a server without
that serializer would answer. Request bodies are JSON or YAML, at most 3 MiB (kube-apiserver's
``maxRequestBodyBytes``); anything else is 413 or 415.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from hack.lab.apiserver import errors

JSON = dict[str, Any]
MAX_BODY_BYTES = 3 * 1024 * 1024
SERVED_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
BODY_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]


@dataclass(frozen=True)
class Format:
    """What the client will get: ``json``/``yaml``, optionally as a Table or PartialObjectMetadata."""

    media: str = "json"
    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    meta_version: str = "v1"


JSON_FORMAT = Format()


def negotiate(accept: str | None) -> Format:
    """Pick the first acceptable representation of an ``Accept`` header.

    Raises:
        ApiError: 406 when nothing listed can be produced.
    """
    if not accept:
        return JSON_FORMAT
    for clause in accept.split(","):
        parts = [p.strip() for p in clause.split(";")]
        media = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        if params.get("q") == "0":
            continue
        as_kind = params.get("as", "")
        if media in ("application/json", "application/yaml", "*/*", "application/*"):
            if as_kind:
                if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
                    continue
                if as_kind not in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                    continue
            kind = "yaml" if media == "application/yaml" else "json"
            return Format(kind, as_kind, params.get("v", "v1"))
    raise errors.not_acceptable(SERVED_TYPES)


def dumps(obj: Any, fmt: Format = JSON_FORMAT) -> bytes:
    if fmt.media == "yaml":
        return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True).encode()
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def respond(obj: Any, status: int = 200, fmt: Format = JSON_FORMAT, warnings: list[str] | None = None) -> web.Response:
    content_type = "application/yaml" if fmt.media == "yaml" else "application/json"
    response = web.Response(body=dumps(obj, fmt), status=status, content_type=content_type)
    for warning in warnings or ():
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def error_response(err: errors.ApiError, fmt: Format = JSON_FORMAT) -> web.Response:
    if fmt.as_kind:
        fmt = Format(fmt.media)
    response = respond(err.status(), err.code, fmt)
    for key, value in err.headers.items():
        response.headers[key] = value
    if err.code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="kubernetes"'
    if err.details and isinstance(err.details.get("retryAfterSeconds"), int):
        response.headers["Retry-After"] = str(err.details["retryAfterSeconds"])
    return response


async def read_body(request: web.Request) -> bytes:
    """The request body, refusing anything over 3 MiB with 413 as kube-apiserver does."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise errors.too_large(MAX_BODY_BYTES)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise errors.too_large(MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def _summary(raw: bytes) -> str:
    text = raw[:30].decode("utf-8", "replace")
    return text + (" ..." if len(raw) > 30 else "")


def _go_json_error(exc: json.JSONDecodeError, raw: bytes) -> str:
    """A ``encoding/json`` style message for the common syntax errors."""
    pos = exc.pos
    if pos >= len(raw.strip()):
        return "unexpected end of JSON input"
    ch = raw[pos : pos + 1].decode("utf-8", "replace")
    where = "looking for beginning of value" if "Expecting value" in exc.msg else "after object key"
    if "Expecting ',' delimiter" in exc.msg:
        where = "after object key:value pair" if raw.lstrip().startswith(b"{") else "after array element"
    elif "Expecting property name" in exc.msg:
        where = "looking for beginning of object key string"
    elif "Extra data" in exc.msg:
        where = "after top-level value"
    return f"invalid character '{ch}' {where}"


def parse_body(raw: bytes, content_type: str | None, kind: str) -> Any:
    """Decode a create/update body (JSON or YAML).

    Raises:
        ApiError: 415 for an unsupported media type, 400 for a body that does not parse.
    """
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media in ("application/json", "", "*/*"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; json "
                f"parse error: {_go_json_error(exc, raw)} ({_summary(raw)})"
            ) from None
        except UnicodeDecodeError:
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): invalid UTF-8 in JSON ({_summary(raw)})"
            ) from None
    if media in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            return yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise errors.bad_request(
                f"the object provided is unrecognized (must be of type {kind}): couldn't get version/kind; yaml "
                f"parse error: {str(exc).splitlines()[0]}"
            ) from None
    raise errors.unsupported_media_type(media, BODY_TYPES)


def parse_json_param(raw: bytes) -> JSON:
    """A DeleteOptions body (empty means none)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise errors.bad_request(f"couldn't decode DeleteOptions: {exc}") from None
    if not isinstance(body, dict):
        raise errors.bad_request("couldn't decode DeleteOptions: must be an object")
    return body


__all__ = [
    "BODY_TYPES",
    "Format",
    "JSON_FORMAT",
    "MAX_BODY_BYTES",
    "dumps",
    "error_response",
    "negotiate",
    "parse_body",
    "parse_json_param",
    "read_body",
    "respond",
]
