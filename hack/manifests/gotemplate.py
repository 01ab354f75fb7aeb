"""A tiny renderer for the subset of Go templates (text/template + Helm's functions) the ironlb chart uses.

Why this exists: there is no ``helm`` binary on these machines, and the chart's templates are derived from the
kustomize manifests (``hack.manifests.helm``). To show that the derived templates, given the default values,
produce exactly the kustomize output, something has to execute them. This module does, for exactly the
constructs the derivation emits, with Go's semantics where they matter:

* text and actions ``{{ ... }}``; ``{{-`` trims all whitespace (newlines included) before the action, ``-}}``
  after it (text/template "Text and spaces");
* ``if`` / ``with`` (with ``else``) and ``end``; truth is Go's: false, 0, nil and empty strings, lists and maps
  are false; ``with`` rebinds ``.`` to its value;
* pipelines ``a | f x | g``: the previous result is passed as the *last* argument of the next command;
* operands: ``.Values.a.b`` (and ``$.Values...``), ``.Release.Namespace``, ``.Chart.AppVersion``, ``.``,
  "double-quoted" and `raw` strings, integers;
* functions: ``toYaml`` (sorted keys, no trailing newline, as Helm's), ``nindent N``, ``indent N``, ``quote``;
* printing: ``true``/``false`` for booleans, decimal integers, strings as they are; nil prints nothing (Helm
  replaces ``<no value>`` with an empty string).

Deliberately stricter than Helm: a missing map key is an error (:class:`TemplateError`) rather than an empty
value, so a template that names a value the chart does not define fails the tests instead of rendering nothing.
Anything outside the subset (``range``, ``define``, other functions, variables) is an error too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template uses something outside the supported subset, or names a value that does not exist."""


# --- lexing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Action:
    source: str  # the action's content, trim markers removed, stripped


def _lex(template: str) -> list[_Text | _Action]:
    """Split into text and actions, applying the ``{{-`` / ``-}}`` whitespace trimming."""
    tokens: list[_Text | _Action] = []
    pos = 0
    trim_next = False
    while True:
        start = template.find("{{", pos)
        text = template[pos:] if start < 0 else template[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                tokens.append(_Text(text))
            return tokens
        inner_start = start + 2
        trim_before = template.startswith(("- ", "-\n"), inner_start)
        if trim_before:
            text = text.rstrip(" \t\r\n")
            inner_start += 1
        if text:
            tokens.append(_Text(text))
        end = _find_action_end(template, inner_start)
        inner = template[inner_start:end]
        trim_next = inner.endswith((" -", "\n-"))
        if trim_next:
            inner = inner[:-1]
        tokens.append(_Action(inner.strip()))
        pos = end + 2


def _find_action_end(template: str, pos: int) -> int:
    """Index of the ``}}`` closing the action starting at ``pos``, skipping string literals."""
    i = pos
    while i < len(template):
        ch = template[i]
        if ch == "`":
            close = template.find("`", i + 1)
            if close < 0:
                raise TemplateError("unterminated raw string in an action")
            i = close + 1
            continue
        if ch == '"':
            i += 1
            while i < len(template) and template[i] != '"':
                i += 2 if template[i] == "\\" else 1
            i += 1
            continue
        if template.startswith("}}", i):
            return i
        i += 1
    raise TemplateError("unterminated action: '{{' without '}}'")


# --- parsing ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    keyword: str  # "if" or "with"
    pipeline: str
    body: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


def _parse(tokens: list[_Text | _Action]) -> list[Any]:
    root: list[Any] = []
    stack: list[tuple[_Block, list[Any]]] = []  # (block, the list currently being filled)
    current = root
    for token in tokens:
        if isinstance(token, _Text):
            current.append(token)
            continue
        word, _, rest = token.source.partition(" ")
        if word in ("if", "with"):
            block = _Block(word, rest.strip())
            current.append(block)
            stack.append((block, current))
            current = block.body
        elif token.source == "else":
            if not stack:
                raise TemplateError("{{ else }} outside if/with")
            current = stack[-1][0].orelse
        elif token.source == "end":
            if not stack:
                raise TemplateError("{{ end }} without if/with")
            _, current = stack.pop()
        elif word in ("range", "define", "template", "include", "block", "else", "end") or word.startswith("/*"):
            raise TemplateError(f"unsupported action {{{{ {token.source} }}}}")
        else:
            current.append(token)
    if stack:
        raise TemplateError(f"{{{{ {stack[-1][0].keyword} }}}} without {{{{ end }}}}")
    return root


# --- evaluation ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(`[^`]*`|"(?:[^"\\]|\\.)*"|\||[^\s|]+)')


def _split_pipeline(source: str) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None:
            break
        pos = match.end()
        word = match.group(1)
        if word == "|":
            commands.append([])
        else:
            commands[-1].append(word)
    if any(not command for command in commands):
        raise TemplateError(f"empty command in pipeline {source!r}")
    return commands


def _lookup(base: Any, chain: str, where: str) -> Any:
    value = base
    for part in [p for p in chain.split(".") if p]:
        if not isinstance(value, Mapping):
            raise TemplateError(f"{where}: cannot read {part!r} of a {type(value).__name__}")
        if part not in value:
            raise TemplateError(f"{where}: no value {part!r} (in {chain!r})")
        value = value[part]
    return value


def to_yaml(value: Any) -> str:
    """Helm's ``toYaml``: keys sorted, block style, the trailing newline removed."""
    if value is None:
        return "null"
    return str(yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=4096)).removesuffix("\n")


def _indent(width: int, text: str) -> str:
    pad = " " * width
    return pad + text.replace("\n", "\n" + pad)


def _call(name: str, args: list[Any]) -> str:
    if name == "toYaml":
        return to_yaml(args[0])
    if name == "nindent":
        return "\n" + _indent(int(args[0]), str(args[1]))
    if name == "indent":
        return _indent(int(args[0]), str(args[1]))
    return json.dumps(_print(args[0]))  # quote: Go's %q, which equals JSON for the strings charts hold


#: function name -> number of arguments (the piped value counts as the last one)
_FUNCTIONS = {"toYaml": 1, "nindent": 2, "indent": 2, "quote": 1}


def truthy(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def _print(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    raise TemplateError(f"cannot print a {type(value).__name__} directly; use toYaml")


@dataclass(frozen=True, slots=True)
class _Scope:
    root: Mapping[str, Any]
    dot: Any


def _operand(word: str, scope: _Scope) -> Any:
    if word.startswith("`"):
        return word[1:-1]
    if word.startswith('"'):
        return json.loads(word)
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if word == ".":
        return scope.dot
    if word.startswith("$."):
        return _lookup(scope.root, word[2:], word)
    if word.startswith("."):
        return _lookup(scope.dot, word[1:], word)
    raise TemplateError(f"unsupported operand {word!r}")


def _pipeline(source: str, scope: _Scope) -> Any:
    result: Any = None
    for index, command in enumerate(_split_pipeline(source)):
        head, args = command[0], [_operand(w, scope) for w in command[1:]]
        if index > 0:
            args.append(result)
        if head in _FUNCTIONS:
            arity = _FUNCTIONS[head]
            if len(args) != arity:
                raise TemplateError(f"{head} takes {arity} argument(s), got {len(args)} in {source!r}")
            result = _call(head, args)
        elif not args:
            result = _operand(head, scope)
        else:
            raise TemplateError(f"unknown function {head!r} in {source!r}")
    return result


def _execute(nodes: list[Any], scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Action):
            out.append(_print(_pipeline(node.source, scope)))
        else:
            value = _pipeline(node.pipeline, scope)
            if truthy(value):
                inner = _Scope(scope.root, value) if node.keyword == "with" else scope
                _execute(node.body, inner, out)
            else:
                _execute(node.orelse, scope, out)


def render(template: str, context: Mapping[str, Any]) -> str:
    """Execute ``template`` with ``context`` as ``.`` (Helm passes ``{"Values": ..., "Release": ..., ...}``)."""
    out: list[str] = []
    _execute(_parse(_lex(template)), _Scope(context, context), out)
    return "".join(out)


def escape(text: str) -> str:
    """``text`` as a template that prints it literally: every ``{{`` becomes an action printing ``{{``."""
    return text.replace("{{", '{{ "{{" }}')


__all__ = ["TemplateError", "escape", "render", "to_yaml", "truthy"]
