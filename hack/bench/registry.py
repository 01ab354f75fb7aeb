"""The shape of a benchmark, shared by every ``hack/bench/bench_*.py`` module and the runner.

Benchmarks measure; tests assert. A benchmark returns :class:`Result` rows, each with the goal it is held to
(ARCHITECTURE.md "Numbers we hold ourselves to"), and the runner prints them side by side. A benchmark that
cannot run here (not root, a program missing) says why instead of failing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Result:
    metric: str
    value: float
    unit: str
    #: (operator, threshold), operator one of "<=", ">=": what the value must satisfy to meet the goal.
    goal: tuple[str, float] | None = None
    note: str = ""

    @property
    def ok(self) -> bool | None:
        if self.goal is None:
            return None
        op, threshold = self.goal
        return self.value <= threshold if op == "<=" else self.value >= threshold


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[], list[Result]]
    description: str = ""
    needs_root: bool = False
    needs_programs: tuple[str, ...] = field(default=())

    def unavailable_reason(self) -> str | None:
        if self.needs_root and os.geteuid() != 0:
            return "needs root (network namespaces)"
        missing = [p for p in self.needs_programs if shutil.which(p) is None]
        if missing:
            return "missing programs: " + ", ".join(missing)
        return None


__all__ = ["Benchmark", "Result"]
