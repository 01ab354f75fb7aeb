"""The configuration controller: metallb.io CRs + Namespaces + legacy ConfigMap -> the running :class:`Config`.

Any change to the watched objects schedules one parse (changes arriving together are coalesced into one). A
valid result replaces the running configuration and is announced to the subscribers (the service controller);
an invalid one keeps the last good configuration running and says why, in three places users look:

* the ConfigurationState ``controller`` (``kubectl get configurationstates -n metallb-system``),
* a Warning Event ``ConfigurationInvalid`` on each offending object (``kubectl describe ipaddresspool x``),
* the metric ``metallb_k8s_client_config_stale_bool`` (1 while a newer, invalid configuration is refused).

The ccm parses without Secrets (``resolve_secrets=False``): it needs no BGP password and is not allowed to read
Secrets. BGPPeers are read at the storage version (v1beta2) so that no field is pruned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from loguru import logger

from ironlb.api import names
from ironlb.config import Config, ConfigSources, ParseResult, parse
from ironlb.kube import metrics as kube_metrics
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import Informer, WatchEvent
from ironlb.kube.resources import CONFIGMAPS, NAMESPACES, metallb
from ironlb.kube.rest import Kube, Rest

Subscriber = Callable[[Config], None]


class ConfigController:
    def __init__(
        self,
        rest: Rest,
        kube: Kube,
        recorder: EventRecorder,
        *,
        namespace: str,
        legacy_configmap: str,
        reporter: ConfigStateReporter,
        resolve_secrets: bool = False,
    ) -> None:
        self.namespace = namespace
        self.recorder = recorder
        self.reporter = reporter
        self.resolve_secrets = resolve_secrets
        self.crs = {kind: Informer(rest, metallb(kind), namespace=namespace) for kind in sorted(names.CONFIG_KINDS)}
        self.namespaces = Informer(rest, NAMESPACES)
        self.legacy = Informer(
            rest, CONFIGMAPS, namespace=namespace, field_selector=f"metadata.name={legacy_configmap}"
        )
        self.informers: list[Informer] = [*self.crs.values(), self.namespaces, self.legacy]
        self.current: Config | None = None
        self.last_result: ParseResult | None = None
        #: set once every informer has synced and the first parse ran
        self.first_parse = asyncio.Event()
        #: set once a valid configuration has been loaded
        self.loaded = asyncio.Event()
        self._subscribers: list[Subscriber] = []
        self._dirty = asyncio.Event()
        self._warned: set[tuple[str, str, str]] = set()
        for informer in self.informers:
            informer.add_handler(self._on_events)
        kube_metrics.CONFIG_LOADED.set(0)
        kube_metrics.CONFIG_STALE.set(0)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def _on_events(self, events: Sequence[WatchEvent]) -> None:
        self._dirty.set()

    def sources(self) -> ConfigSources:
        objects = [obj for informer in self.crs.values() for obj in informer.store.values()]
        legacy_obj = next(iter(self.legacy.store.values()), None)
        legacy_text = (legacy_obj.get("data") or {}).get(names.LEGACY_CONFIGMAP_KEY) if legacy_obj else None
        namespace_labels = {
            str(obj["metadata"]["name"]): dict(obj["metadata"].get("labels") or {})
            for obj in self.namespaces.store.values()
        }
        return ConfigSources(
            objects=objects,
            legacy_config=legacy_text,
            namespace_labels=namespace_labels,
            namespace=self.namespace,
            resolve_secrets=self.resolve_secrets,
        )

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in self.informers]
        try:
            await asyncio.gather(*(i.synced.wait() for i in self.informers))
            while True:
                self._dirty.clear()
                await self.reparse()
                self.first_parse.set()
                await self._dirty.wait()
                await asyncio.sleep(0)  # let a burst of events land before parsing again
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def reparse(self) -> None:
        result = parse(self.sources())
        self.last_result = result
        if result.config is not None:
            kube_metrics.CONFIG_STALE.set(0)
            kube_metrics.CONFIG_LOADED.set(1)
            self._warned.clear()
            for warning in result.warnings:
                logger.warning(warning)
            if result.config != self.current:
                self.current = result.config
                logger.bind(pools=len(result.config.pools)).info("configuration loaded")
                for subscriber in self._subscribers:
                    subscriber(result.config)
            self.loaded.set()
            await self.reporter.report(valid=True)
            return
        summary = "; ".join(str(e) for e in result.errors)
        if self.current is not None:
            kube_metrics.CONFIG_STALE.set(1)
        logger.bind(errors=len(result.errors), error=summary).error(
            "failed to parse the configuration; keeping the last good one"
        )
        for error in result.errors:
            key = (error.kind, error.name, error.message)
            if key in self._warned:
                continue
            self._warned.add(key)
            self.recorder.event(self._ref(error.kind, error.name), "Warning", "ConfigurationInvalid", error.message)
        await self.reporter.report(valid=False, summary=summary)

    def _ref(self, kind: str, name: str) -> ObjectRef:
        informer = self.crs.get(kind)
        obj = informer.get(f"{self.namespace}/{name}") if informer else None
        if obj is not None:
            return ObjectRef.of(obj, kind=kind)
        if kind == "ConfigMap" or informer is None:
            legacy = next(iter(self.legacy.store.values()), None)
            if legacy is not None:
                return ObjectRef.of(legacy, kind="ConfigMap", api_version="v1")
        return ObjectRef("ConfigurationState", "controller", self.namespace, api_version=f"{names.GROUP}/v1beta1")


__all__ = ["ConfigController"]
