"""A small evaluator for the CEL expressions CRDs put in ``x-kubernetes-validations``.

kube-apiserver evaluates these rules with cel-go. We implement the part of the language CRD rules are written
in: literals, ``self``/``oldSelf``, field selection, indexing, ``has()``, arithmetic, comparison, logic,
the conditional operator, ``in``, list and map literals, the ``all``/``exists``/``exists_one``/``map``/
``filter`` macros, and the usual functions (``size``, ``int``, ``uint``, ``double``, ``string``,
``duration`` with ``getSeconds``/``getMilliseconds``/..., ``startsWith``, ``endsWith``, ``contains``,
``matches``, ``lowerAscii``, ``upperAscii``, ``isSorted``...). Anything else raises :class:`CelUnsupported` at
compile time; the caller then skips that rule and logs a note, which is the documented emulator behaviour.

Semantics follow the spec where clients can see a difference: ``&&``/``||`` absorb errors when the other side
decides the result (commutative short-circuit), integer division truncates toward zero, an absent field is an
error unless tested with ``has()``, and equality is deep.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|0x[0-9a-fA-F]+u?|\d+u?)
  | (?P<str>[rR]?(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'))
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()\[\]{}])
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
)""",
    re.VERBOSE,
)


class CelError(Exception):
    """An evaluation error (``no such key``, a bad duration...): the rule fails."""


class CelUnsupported(Exception):
    """A construct this evaluator does not implement: the rule is skipped, with a note."""


@dataclass(frozen=True)
class Duration:
    nanos: int


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_duration(text: str) -> Duration:
    """Go's ``time.ParseDuration`` (what CEL's ``duration()`` accepts)."""
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    if s == "0":
        return Duration(0)
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise CelError(f'invalid duration "{text}"')
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if not s:
        raise CelError(f'invalid duration "{text}"')
    return Duration(sign * int(total))


_ABSENT = object()


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise CelUnsupported(f"cannot tokenize {text[pos : pos + 10]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise CelUnsupported("unexpected end of expression")
        tok = self.tokens[self.i]
        if expected is not None and tok[1] != expected:
            raise CelUnsupported(f"expected {expected!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    # Grammar (precedence low to high): ?: , ||, &&, relations (incl. in), + -, * / %, unary, member.
    def expr(self) -> Node:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take("?")
            a = self.expr()
            self.take(":")
            b = self.expr()
            return ("?", cond, a, b)
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!=", "<", "<=", ">", ">=", "in"),
        ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self._LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = (op, left, right)
        return left

    def unary(self) -> Node:
        if self.peek() in ("!", "-"):
            op = self.take()[1]
            return ("neg" if op == "-" else "!", self.unary())
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.peek() in (".", "["):
            if self.take()[1] == ".":
                name = self.take()[1]
                if self.peek() == "(":
                    node = ("call", name, node, self.args())
                else:
                    node = ("field", node, name)
            else:
                index = self.expr()
                self.take("]")
                node = ("index", node, index)
        return node

    def args(self) -> list[Node]:
        self.take("(")
        out: list[Node] = []
        while self.peek() != ")":
            out.append(self.expr())
            if self.peek() == ",":
                self.take(",")
        self.take(")")
        return out

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return ("lit", _number(text))
        if kind == "str":
            raw = text[0] in "rR"
            body = text[2:-1] if raw else text[1:-1]
            return ("lit", body if raw else _unescape(body))
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if text == "[":
            items: list[Node] = []
            while self.peek() != "]":
                items.append(self.expr())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            return ("list", items)
        if text == "{":
            pairs: list[tuple[Node, Node]] = []
            while self.peek() != "}":
                k = self.expr()
                self.take(":")
                pairs.append((k, self.expr()))
                if self.peek() == ",":
                    self.take(",")
            self.take("}")
            return ("map", pairs)
        if kind == "id":
            if text in ("true", "false"):
                return ("lit", text == "true")
            if text == "null":
                return ("lit", None)
            if self.peek() == "(":
                return ("call", text, None, self.args())
            return ("var", text)
        raise CelUnsupported(f"unexpected token {text!r}")


Node = tuple[Any, ...]


_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "`": "`",
    "?": "?",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def _unescape(body: str) -> str:
    """CEL string escapes: the C ones, \\xHH, \\uHHHH, \\UHHHHHHHH and three-digit octal."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in _HEX_ESCAPES:
            width = _HEX_ESCAPES[nxt]
            digits = body[i + 2 : i + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise CelUnsupported(f"bad escape \\{nxt}{digits}") from None
            i += 2 + width
        elif nxt.isdigit():
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise CelUnsupported(f"bad octal escape \\{digits}")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise CelUnsupported(f"bad escape \\{nxt}")
    return "".join(out)


def _number(text: str) -> int | float:
    digits = text[:-1] if text.endswith("u") else text
    if digits.lower().startswith("0x"):
        return int(digits, 16)
    if "." in digits or "e" in digits.lower():
        return float(digits)
    return int(digits, 10)


_MACROS = ("all", "exists", "exists_one", "map", "filter")


def compile_rule(rule: str) -> Node:
    """Parse ``rule``; raises :class:`CelUnsupported` for anything outside the implemented subset."""
    parser = _Parser(rule)
    try:
        node = parser.expr()
    except RecursionError:
        raise CelUnsupported("expression nested too deeply") from None
    if parser.peek() is not None:
        raise CelUnsupported(f"unexpected {parser.peek()!r} after the expression")
    return node


def uses_old_self(node: Any) -> bool:
    if isinstance(node, tuple):
        if node[:2] == ("var", "oldSelf"):
            return True
        return any(uses_old_self(part) for part in node)
    if isinstance(node, list):
        return any(uses_old_self(part) for part in node)
    return False


def evaluate(node: Node, env: dict[str, Any]) -> Any:
    """Evaluate a compiled rule; raises :class:`CelError` on any runtime error (and nothing else)."""
    try:
        return _eval(node, env)
    except CelError:
        raise
    except (
        TypeError,
        KeyError,
        ValueError,
        ZeroDivisionError,
        AttributeError,
        RecursionError,
        OverflowError,
        IndexError,
        re.error,
    ) as exc:
        raise CelError(f"evaluation error: {exc}") from None


def _eval(node: Node, env: dict[str, Any]) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "var":
        if node[1] not in env:
            raise CelError(f"undeclared reference to '{node[1]}'")
        return env[node[1]]
    if op == "field":
        base = _eval(node[1], env)
        if isinstance(base, dict):
            if node[2] not in base:
                raise CelError(f"no such key: {node[2]}")
            return base[node[2]]
        raise CelError(f"no such field: {node[2]}")
    if op == "index":
        base, index = _eval(node[1], env), _eval(node[2], env)
        try:
            return base[index]
        except (KeyError, IndexError, TypeError):
            raise CelError(f"no such key: {index}") from None
    if op == "list":
        return [_eval(n, env) for n in node[1]]
    if op == "map":
        return {_eval(k, env): _eval(v, env) for k, v in node[1]}
    if op == "?":
        return _eval(node[2] if _bool(_eval(node[1], env)) else node[3], env)
    if op == "!":
        return not _bool(_eval(node[1], env))
    if op == "neg":
        return -_eval(node[1], env)
    if op in ("&&", "||"):
        return _logic(op, node, env)
    if op == "call":
        return _call(node, env)
    left, right = _eval(node[1], env), _eval(node[2], env)
    return _BINARY[op](left, right)


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise CelError("no matching overload: expected bool")
    return value


def _logic(op: str, node: Node, env: dict[str, Any]) -> bool:
    # Commutative: an error on one side is absorbed when the other side decides the result.
    decisive = op == "||"
    results: list[bool | CelError] = []
    for part in (node[1], node[2]):
        try:
            value = _bool(_eval(part, env))
        except CelError as exc:
            results.append(exc)
            continue
        if value == decisive:
            return decisive
        results.append(value)
    for r in results:
        if isinstance(r, CelError):
            raise r
    return not decisive


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            raise CelError("division by zero")
        return int(a / b)
    return a / b


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        raise CelError("modulus by zero")
    return int(math.fmod(a, b))


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, Duration) and isinstance(b, Duration):
        return Duration(a.nanos + b.nanos)
    if type(a) is not type(b) and not (isinstance(a, int | float) and isinstance(b, int | float)):
        raise CelError("no matching overload for '_+_'")
    return a + b


def _compare(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, Duration) and isinstance(b, Duration):
        return a.nanos, b.nanos
    numeric = isinstance(a, int | float) and isinstance(b, int | float)
    mixed_bool = isinstance(a, bool) or isinstance(b, bool)
    if type(a) is not type(b) and (mixed_bool or not numeric):
        raise CelError("no matching overload for comparison")
    return a, b


def _lt(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return bool(x < y)


def _le(a: Any, b: Any) -> bool:
    x, y = _compare(a, b)
    return bool(x <= y)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": _lt,
    "<=": _le,
    ">": lambda a, b: _lt(b, a),
    ">=": lambda a, b: _le(b, a),
    "in": lambda a, b: a in b,
    "+": _add,
    "-": lambda a, b: Duration(a.nanos - b.nanos) if isinstance(a, Duration) else a - b,
    "*": lambda a, b: a * b,
    "/": _div,
    "%": _mod,
}


def _call(node: Node, env: dict[str, Any]) -> Any:
    _, name, target, args = node
    if name == "has":
        if len(args) != 1 or args[0][0] != "field":
            raise CelError("has() needs a field selection")
        base = _eval(args[0][1], env)
        return isinstance(base, dict) and args[0][2] in base
    if name in _MACROS and target is not None:
        return _macro(name, _eval(target, env), args, env)
    values = [_eval(a, env) for a in args]
    if target is not None:
        values.insert(0, _eval(target, env))
    fn = _FUNCTIONS.get(name)
    if fn is None:
        raise CelError(f"found no matching overload for '{name}'")
    try:
        return fn(*values)
    except CelError:
        raise
    except (TypeError, ValueError, AttributeError, re.error) as exc:
        raise CelError(f"no matching overload for '{name}': {exc}") from None


def _macro(name: str, collection: Any, args: list[Node], env: dict[str, Any]) -> Any:
    if not args or args[0][0] != "var":
        raise CelError(f"{name}() needs a variable name")
    var = args[0][1]
    items = list(collection.keys()) if isinstance(collection, dict) else list(collection)

    def run(expr: Node, item: Any) -> Any:
        return _eval(expr, {**env, var: item})

    if name == "all":
        return all(_bool(run(args[1], i)) for i in items)
    if name == "exists":
        return any(_bool(run(args[1], i)) for i in items)
    if name == "exists_one":
        return sum(1 for i in items if _bool(run(args[1], i))) == 1
    if name == "map":
        return [run(args[-1], i) for i in items if len(args) == 2 or _bool(run(args[1], i))]
    return [i for i in items if _bool(run(args[1], i))]


def _size(value: Any) -> int:
    if isinstance(value, str | list | dict | bytes):
        return len(value)
    raise CelError("no matching overload for 'size'")


def _to_int(value: Any) -> int:
    if isinstance(value, Duration):
        return value.nanos // 10**9
    return int(value)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "int": _to_int,
    "uint": _to_int,
    "double": float,
    "string": lambda v: ("true" if v else "false") if isinstance(v, bool) else str(v),
    "bool": lambda v: v if isinstance(v, bool) else {"true": True, "false": False}[v],
    "duration": lambda v: v if isinstance(v, Duration) else parse_duration(v),
    "dyn": lambda v: v,
    "getHours": lambda d: int(d.nanos / 3600 / 10**9),
    "getMinutes": lambda d: int(d.nanos / 60 / 10**9),
    "getSeconds": lambda d: int(d.nanos / 10**9),
    "getMilliseconds": lambda d: int(d.nanos / 10**6),
    "startsWith": lambda s, p: s.startswith(p),
    "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: p in s,
    "matches": lambda s, p: re.search(p, s) is not None,
    "lowerAscii": lambda s: s.lower(),
    "upperAscii": lambda s: s.upper(),
    "trim": lambda s: s.strip(),
    "split": lambda s, sep: s.split(sep),
    "join": lambda items, sep="": sep.join(items),
    "isSorted": lambda items: list(items) == sorted(items),
    "sum": sum,
    "min": lambda *v: min(v[0]) if len(v) == 1 else min(v),
    "max": lambda *v: max(v[0]) if len(v) == 1 else max(v),
    "indexOf": lambda s, p: s.find(p),
}


__all__ = ["CelError", "CelUnsupported", "Duration", "compile_rule", "evaluate", "parse_duration", "uses_old_self"]
