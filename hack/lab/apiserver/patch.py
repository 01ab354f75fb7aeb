"""The three patch types kube-apiserver accepts: JSON merge patch, JSON patch and strategic merge patch.

* JSON merge patch (``application/merge-patch+json``, RFC 7386): objects merge recursively, ``null`` deletes,
  anything else (lists included) replaces.
* JSON patch (``application/json-patch+json``, RFC 6902): a list of add/remove/replace/move/copy/test
  operations addressed by JSON pointers (RFC 6901).
* Strategic merge patch (``application/strategic-merge-patch+json``, built-in kinds only): like a merge patch,
  but lists declared ``x-kubernetes-patch-strategy: merge`` in the OpenAPI schema merge element-wise - lists of
  objects by their ``x-kubernetes-patch-merge-key`` (ports by ``port``, containers by ``name``, conditions by
  ``type``), lists of scalars as sets (finalizers) - and the directives of ``apimachinery/pkg/util/
  strategicpatch`` are honoured: ``$patch: replace|delete|merge`` on maps and list elements,
  ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>`` and ``$retainKeys``.

Failures raise :class:`PatchError` with the HTTP code the real server uses (400 for a body that is not a
patch, 422 when a JSON patch operation does not apply).
"""

from __future__ import annotations

import copy
from typing import Any

from hack.lab.apiserver.schemas import SchemaNode

JSON = dict[str, Any]

DIRECTIVE = "$patch"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"
RETAIN_KEYS = "$retainKeys"


class PatchError(Exception):
    """A patch that cannot be applied; ``code`` is 400 (malformed) or 422 (does not apply)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------------------------------- merge patch


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(target, patch); neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# ---------------------------------------------------------------------------------------- JSON patch


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"invalid JSON pointer {path!r}: must be a string", 422)
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'JSON pointer must be empty or start with a "/": {path}', 422)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"Unable to access invalid index: {token}", 422)
    i = int(token)
    limit = len(container) if for_add else len(container) - 1
    if i > limit:
        raise PatchError(f"Unable to access invalid index: {i}", 422)
    return i


def _parent(doc: Any, tokens: list[str], op: str, path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value', 422)
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value', 422)
    return node


def _get(doc: Any, path: str, op: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"{op} operation does not apply: doc is missing key: {path}: missing value", 422)
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchError(f"{op} operation does not apply: doc is missing path: {path}: missing value", 422)


def _add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value', 422)
    return doc


def _remove(doc: Any, path: str, op: str = "remove") -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError(f"{op} operation does not apply: cannot remove the whole document", 422)
    parent = _parent(doc, tokens, op, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"Unable to remove nonexistent key: {last}: missing value", 422)
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, for_add=False)]
    else:
        raise PatchError(f'{op} operation does not apply: doc is missing path: "{path}": missing value', 422)
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """Apply RFC 6902 ``operations`` to a copy of ``target``."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op_obj in operations:
        if not isinstance(op_obj, dict):
            raise PatchError("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        op = op_obj.get("op")
        path = op_obj.get("path")
        if not isinstance(path, str):
            raise PatchError(f"{op} operation does not apply: path must be a string", 422)
        if op in ("add", "replace", "test") and "value" not in op_obj:
            raise PatchError(f"{op} operation does not apply: value is missing", 422)
        value = copy.deepcopy(op_obj.get("value"))
        if op == "add":
            doc = _add(doc, path, value)
        elif op == "remove":
            doc = _remove(doc, path)
        elif op == "replace":
            _get(doc, path, "replace")
            tokens = _pointer(path)
            if not tokens:
                doc = value
            else:
                parent = _parent(doc, tokens, "replace", path)
                if isinstance(parent, dict):
                    parent[tokens[-1]] = value
                else:
                    parent[_index(parent, tokens[-1], for_add=False)] = value
        elif op in ("move", "copy"):
            source = op_obj.get("from")
            if not isinstance(source, str):
                raise PatchError(f"{op} operation does not apply: from must be a string", 422)
            moved = copy.deepcopy(_get(doc, source, op))
            if op == "move":
                if path.startswith(source + "/"):
                    raise PatchError(
                        "move operation does not apply: a location cannot be moved into one of its children", 422
                    )
                doc = _remove(doc, source, op)
            doc = _add(doc, path, moved, op)
        elif op == "test":
            if _get(doc, path, "test") != value:
                raise PatchError(f"testing value {path} failed: test failed", 422)
        else:
            raise PatchError(f"Unexpected kind: {op}", 422)
    return doc


# ---------------------------------------------------------------------------------------- strategic merge


def strategic_merge_patch(original: Any, patch: Any, schema: SchemaNode | None) -> Any:
    """Apply a strategic merge patch to a copy of ``original`` guided by ``schema`` (the kind's definition)."""
    if not isinstance(patch, dict):
        raise PatchError("json: cannot unmarshal array into Go value of type map[string]interface {}")
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    return _merge_map(base, patch, schema)


def _merge_map(original: JSON, patch: JSON, schema: SchemaNode | None) -> Any:
    directive = patch.get(DIRECTIVE)
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != DIRECTIVE}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError(f"Unknown patch type: {directive}")
    retain = patch.get(RETAIN_KEYS)
    orders: dict[str, Any] = {}
    for key, value in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS):
            continue
        if key.startswith(SET_ELEMENT_ORDER):
            orders[key[len(SET_ELEMENT_ORDER) :]] = value
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE):
            field = key[len(DELETE_FROM_PRIMITIVE) :]
            if not isinstance(value, list):
                raise PatchError(f"invalid {key}: must be a list")
            present = original.get(field)
            if isinstance(present, list):
                original[field] = [v for v in present if v not in value]
            continue
        child = schema.child(key) if schema is not None else None
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            if schema is not None and child is not None and "replace" in child.patch_strategies:
                original[key] = {k: v for k, v in value.items() if k != DIRECTIVE}
                continue
            merged = _merge_map(current if isinstance(current, dict) else {}, value, child)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            original[key] = _merge_list(current if isinstance(current, list) else [], value, child)
        else:
            original[key] = copy.deepcopy(value)
    for field, order in orders.items():
        if isinstance(original.get(field), list) and isinstance(order, list):
            child = schema.child(field) if schema is not None else None
            original[field] = _apply_order(original[field], order, child.merge_key if child else None)
    if isinstance(retain, list):
        for key in list(original):
            if key not in retain:
                del original[key]
    return original


def _merge_list(original: list[Any], patch: list[Any], schema: SchemaNode | None) -> list[Any]:
    strategies = schema.patch_strategies if schema is not None else ()
    # A {"$patch": "replace"} element replaces the whole list with the other elements.
    if any(isinstance(v, dict) and v.get(DIRECTIVE) == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and DIRECTIVE in v and len(v) == 1)]
    if "merge" not in strategies:
        return [_strip_directives(copy.deepcopy(v)) for v in patch]
    merge_key = schema.merge_key if schema is not None else None
    items = schema.items() if schema is not None else None
    if merge_key is None:
        # A set of scalars: union, original order first; {"$patch": "delete"} elements are not meaningful here.
        result = list(original)
        for v in patch:
            if v not in result:
                result.append(copy.deepcopy(v))
        return result
    result = [copy.deepcopy(v) for v in original]
    for element in patch:
        if not isinstance(element, dict):
            raise PatchError(f"map: {element!r} does not contain declared merge key: {merge_key}")
        if merge_key not in element:
            raise PatchError(f"map: {element} does not contain declared merge key: {merge_key}")
        key_value = element[merge_key]
        position = next(
            (i for i, v in enumerate(result) if isinstance(v, dict) and v.get(merge_key) == key_value), None
        )
        if element.get(DIRECTIVE) == "delete":
            if position is not None:
                del result[position]
            continue
        if position is None:
            result.append(_strip_directives(copy.deepcopy(element)))
        else:
            merged = _merge_map(result[position], element, items)
            if merged is None:
                del result[position]
            else:
                result[position] = merged
    return result


def _apply_order(values: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def ident(v: Any) -> Any:
        return v.get(merge_key) if merge_key and isinstance(v, dict) else v

    wanted = [ident(o) for o in order]
    ranked = {repr(w): i for i, w in enumerate(wanted)}
    return sorted(values, key=lambda v: ranked.get(repr(ident(v)), len(wanted)))


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if k != DIRECTIVE and not k.startswith((SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE)) and k != RETAIN_KEYS
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


__all__ = ["PatchError", "json_patch", "merge_patch", "strategic_merge_patch"]
