"""What the lab's stand-ins for Kubernetes components share: a client, informers, and one reconcile loop shape.

The stand-ins (kubelet, kube-proxy, deployment controller + scheduler, EndpointSlice controller, node lifecycle)
exist only in hack/lab, because there is no real Kubernetes on these machines. They talk to the API like the real
components do - list+watch through :class:`ironlb.kube.informer.Informer`, writes through
:class:`ironlb.kube.rest.Kube` - and they are level-triggered: any change wakes a full reconcile of the little
state a lab holds (a few dozen objects), debounced by a few milliseconds, and a periodic resync repairs anything a
failed write left behind. Simplicity beats cleverness here; speed matters only where a test measures ironlb, and
a lab reconcile takes about a millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from loguru import logger

from ironlb.kube.informer import Informer, WatchEvent
from ironlb.kube.resources import Resource
from ironlb.kube.rest import Kube, Rest, load_api_client

JSON = dict[str, Any]
#: the annotation on Pod objects the lab creates for the processes it runs itself (ironlb-ccm, ironlb-speaker):
#: the kubelet stand-in leaves those Pods alone
ANN_RUN_BY_LAB = "lab.ironlb.io/run-by"
NODE_LABEL_HOSTNAME = "kubernetes.io/hostname"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def setup_logging(component: str) -> None:
    """Text lines on stderr (the lab's log files), one component name per process."""
    logger.remove()
    logger.add(
        sys.stderr,
        level="INFO",
        format="{time:HH:mm:ss.SSS} {level: <7} " + component + ": {message} {extra}",
    )


def connect(kubeconfig: str) -> tuple[Rest, Kube]:
    rest = Rest(load_api_client(kubeconfig))
    return rest, Kube(rest, max_workers=8)


def meta(obj: Mapping[str, Any]) -> JSON:
    value = obj.get("metadata")
    return value if isinstance(value, dict) else {}


def condition(obj: Mapping[str, Any], kind: str) -> JSON | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_true(obj: Mapping[str, Any], kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service's (map) selector: every pair present. An empty selector selects nothing, as for Services."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Reconciler:
    """Runs ``reconcile`` after any informer event (debounced) and every ``resync`` seconds, one at a time."""

    def __init__(
        self,
        name: str,
        informers: Sequence[Informer],
        reconcile: Callable[[], Awaitable[None]],
        *,
        debounce: float = 0.01,
        resync: float = 5.0,
    ) -> None:
        self.name = name
        self.informers = list(informers)
        self.reconcile = reconcile
        self.debounce = debounce
        self.resync = resync
        self._wake = asyncio.Event()
        for informer in self.informers:
            informer.add_handler(self._on_events)

    def _on_events(self, events: Sequence[WatchEvent]) -> None:
        del events
        self._wake.set()

    def kick(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        await asyncio.gather(*(i.synced.wait() for i in self.informers))
        log = logger.bind(loop=self.name)
        while True:
            try:
                await self.reconcile()
            except Exception as exc:  # a failed write is retried at the next wake or resync
                log.bind(error=str(exc)).warning("reconcile failed; retrying")
                await asyncio.sleep(0.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.resync)
            self._wake.clear()
            await asyncio.sleep(self.debounce)


def informer(rest: Rest, resource: Resource, **kwargs: Any) -> Informer:
    return Informer(rest, resource, max_backoff=1.0, **kwargs)


async def run_until_signalled(tasks: Sequence[Awaitable[Any]], cleanup: Callable[[], Awaitable[None]]) -> int:
    """Run ``tasks`` until SIGTERM/SIGINT (or until one fails), then ``cleanup``; returns the exit status."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = [asyncio.ensure_future(t) for t in tasks]
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
    status = 0
    for task in done:
        if task is not stopper and task.exception() is not None:
            logger.opt(exception=task.exception()).error("a loop failed; stopping")
            status = 1
    for task in [*running, stopper]:
        task.cancel()
    await asyncio.gather(*running, stopper, return_exceptions=True)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(cleanup(), 10)
    return status


__all__ = [
    "ANN_RUN_BY_LAB",
    "JSON",
    "NODE_LABEL_HOSTNAME",
    "Reconciler",
    "condition",
    "connect",
    "informer",
    "is_true",
    "labels_match",
    "meta",
    "now_iso",
    "parse_time",
    "run_until_signalled",
    "setup_logging",
]
