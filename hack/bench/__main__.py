"""Run every benchmark the project has and print one table: ``python -m hack.bench [NAME ...] [--json]``.

Each ``hack/bench/bench_*.py`` module exposes ``BENCHMARKS: list[Benchmark]``. Names select benchmarks by
prefix (``python -m hack.bench allocator``); with none, all run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback

from hack import bench
from hack.bench.registry import Benchmark, Result


def discover() -> list[Benchmark]:
    found: list[Benchmark] = []
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda m: m.name):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"hack.bench.{info.name}")
            found.extend(getattr(module, "BENCHMARKS", []))
    return found


def _fmt(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 1e7:
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only benchmarks whose name starts with one of these")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = parser.parse_args(argv)

    benchmarks = [b for b in discover() if not args.names or any(b.name.startswith(n) for n in args.names)]
    if args.list:
        for b in benchmarks:
            print(f"{b.name:32} {b.description}")
        return 0
    rows: list[tuple[str, Result | None, str]] = []
    failed = False
    for b in benchmarks:
        reason = b.unavailable_reason()
        if reason:
            rows.append((b.name, None, f"skipped: {reason}"))
            continue
        print(f"# running {b.name} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            results = b.run()
        except Exception as exc:  # a broken benchmark is reported, the others still run
            traceback.print_exc()
            rows.append((b.name, None, f"error: {exc}"))
            failed = True
            continue
        print(f"# {b.name} took {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
        rows.extend((b.name, r, r.note) for r in results)

    if args.json:
        for name, r, note in rows:
            out: dict[str, object] = {"benchmark": name, "note": note}
            if r is not None:
                out |= {"metric": r.metric, "value": r.value, "unit": r.unit, "goal": r.goal, "ok": r.ok}
            print(json.dumps(out))
        return 1 if failed else 0

    header = ("benchmark", "metric", "value", "unit", "goal", "met", "note")
    table = [header]
    for name, r, note in rows:
        if r is None:
            table.append((name, "", "", "", "", "", note))
            continue
        goal = f"{r.goal[0]} {_fmt(r.goal[1])}" if r.goal else ""
        met = "" if r.ok is None else ("yes" if r.ok else "NO")
        table.append((name, r.metric, _fmt(r.value), r.unit, goal, met, note))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
