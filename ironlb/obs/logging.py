"""Logging for both daemons: loguru, as JSON lines (default) or human text.

JSON lines carry MetalLB's keys (``ts`` RFC 3339, ``level``, ``caller``, ``msg``) plus whatever structured fields
the call site bound (``service``, ``pool``, ``ip``, ``peer``, ``op``, ``event`` ...), so the greps MetalLB users
know keep working. Levels accept MetalLB's names (``all|debug|info|warn|error|none``).

Third-party libraries log through the standard ``logging`` module (the Kubernetes client, urllib3, asyncio); an
intercept handler forwards those records into loguru at WARNING and above, so there is one stream and one format.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

LEVELS = {
    "all": "TRACE",
    "trace": "TRACE",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "none": None,
}
_LEVEL_NAMES = {
    "TRACE": "debug",
    "DEBUG": "debug",
    "INFO": "info",
    "SUCCESS": "info",
    "WARNING": "warn",
    "ERROR": "error",
    "CRITICAL": "error",
}


def _json_line(record: Record) -> str:
    out: dict[str, Any] = {
        "ts": record["time"].astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(record["level"].name, record["level"].name.lower()),
        "caller": f"{record['name']}:{record['line']}",
        "msg": record["message"],
    }
    for key, value in record["extra"].items():
        out[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
    if record["exception"] is not None and record["exception"].type is not None:
        out["error"] = f"{record['exception'].type.__name__}: {record['exception'].value}"
    return json.dumps(out, separators=(",", ":"))


class _JsonSink:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, message: Message) -> None:
        self.stream.write(_json_line(message.record) + "\n")
        self.stream.flush()


class _InterceptHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).bind(logger=record.name).log(level, record.getMessage())


def setup(level: str = "info", fmt: str = "json", *, stream: TextIO | None = None, component: str = "") -> None:
    """Configure the process-wide logger. ``component`` is bound into every line (``ccm``, ``speaker``)."""
    logger.remove()
    loguru_level = LEVELS.get(level.lower(), "INFO")
    if loguru_level is None:
        return
    out = stream or sys.stdout
    if component:
        logger.configure(extra={"component": component})
    if fmt == "json":
        logger.add(_JsonSink(out).write, level=loguru_level, format="{message}", backtrace=False, diagnose=False)
    else:
        logger.add(
            out,
            level=loguru_level,
            format="{time:HH:mm:ss.SSS} {level: <7} {name}:{line} {message} {extra}",
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=logging.WARNING, force=True)


__all__ = ["LEVELS", "setup"]
