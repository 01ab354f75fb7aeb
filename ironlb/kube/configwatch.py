"""Watching MetalLB's configuration: metallb.io CRs + Namespaces + the legacy ConfigMap (+ Secrets) -> one Config.

Both daemons read the same configuration, unchanged from MetalLB's, the same way; this module is that one way.
Theory of operation
-------------------
* Informers watch every metallb.io configuration kind in the configuration namespace, the Namespaces (cluster-wide:
  ``serviceAllocation.namespaceSelectors`` match their labels), the legacy ConfigMap (by name) and, when BGP
  passwords are to be resolved (``resolve_secrets``), the namespace's Secrets. Nothing is parsed before every
  informer has listed once (start-up barrier: no decision from a partial view). Each kind is read at its storage
  version (BGPPeer: v1beta2), so that no field is pruned.
* Any change schedules one parse of everything (:func:`ironlb.config.parse`, sans-IO); changes arriving together
  are coalesced (``settle``). :meth:`ConfigWatch.changed` schedules one from outside (the speaker's Node labels).
* A valid result replaces the running :class:`~ironlb.config.model.Config` when it differs, and
  :meth:`ConfigWatch.on_config` tells the daemon. An invalid one keeps the last good configuration running and
  says why where users look: the ConfigurationState (:class:`~ironlb.kube.configstate.ConfigStateReporter`), a
  Warning Event ``ConfigurationInvalid`` on each offending object (once per distinct error until a valid
  configuration clears them), the metric ``metallb_k8s_client_config_stale_bool`` (1 while a newer, invalid
  configuration is refused) and the log.

The daemons differ only in what they add: the ccm parses without Secrets (it needs no BGP password and has no right
to read Secrets); the speaker resolves them, passes the Nodes' labels (``node_labels``: whether two nodeSelectors
lists share a node) and watches two more objects of its namespace (:meth:`ConfigWatch.watch`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from loguru import logger

from ironlb.api import names
from ironlb.config import Config, ConfigSources, ParseResult, parse
from ironlb.kube import metrics
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import Informer, WatchEvent
from ironlb.kube.resources import CONFIGMAPS, NAMESPACES, SECRETS, metallb
from ironlb.kube.rest import Rest

NodeLabels = Callable[[], Mapping[str, Mapping[str, str]]]


class ConfigWatch:
    """Holds the running Config of one configuration namespace (see the module docstring).

    Subclasses override :meth:`on_config` (a new valid configuration replaced the running one) and
    :meth:`on_synced` (every informer has listed once, before the first parse).
    """

    def __init__(
        self,
        rest: Rest,
        recorder: EventRecorder,
        reporter: ConfigStateReporter,
        *,
        namespace: str,
        legacy_configmap: str,
        resolve_secrets: bool,
        node_labels: NodeLabels | None = None,
        settle: float = 0.0,
    ) -> None:
        self.namespace = namespace
        self.recorder = recorder
        self.reporter = reporter
        self.legacy_configmap = legacy_configmap
        #: seconds to let a burst of events land before parsing again
        self.settle = settle
        self._node_labels = node_labels
        self.crs = {kind: Informer(rest, metallb(kind), namespace=namespace) for kind in sorted(names.CONFIG_KINDS)}
        self.namespaces = Informer(rest, NAMESPACES)
        self.legacy = self.configmap(rest, legacy_configmap)
        #: the namespace's Secrets (BGPPeer ``passwordSecret``); None when they are not resolved
        self.secrets = Informer(rest, SECRETS, namespace=namespace) if resolve_secrets else None
        parsed = [*self.crs.values(), self.namespaces, self.legacy, *([self.secrets] if self.secrets else [])]
        self.informers: list[Informer] = list(parsed)
        self.current: Config | None = None
        self.last_result: ParseResult | None = None
        #: set once every informer has synced and the first parse ran
        self.first_parse = asyncio.Event()
        #: set once a valid configuration has been loaded
        self.loaded = asyncio.Event()
        self._dirty = asyncio.Event()
        self._warned: set[tuple[str, str, str]] = set()
        for informer in parsed:
            informer.add_handler(self._on_events)
        metrics.CONFIG_LOADED.set(0)
        metrics.CONFIG_STALE.set(0)

    def configmap(self, rest: Rest, name: str) -> Informer:
        """An informer of one ConfigMap of the configuration namespace, by name."""
        return Informer(rest, CONFIGMAPS, namespace=self.namespace, field_selector=f"metadata.name={name}")

    def watch(self, informer: Informer) -> Informer:
        """Run ``informer`` along with the configuration's (call before :meth:`run`); its changes do not parse."""
        self.informers.append(informer)
        return informer

    def changed(self) -> None:
        """Something the configuration depends on changed outside the watched objects: parse again."""
        self._dirty.set()

    # -- hooks ---------------------------------------------------------------------------------------------------
    def on_synced(self) -> None:
        """Every informer has listed once; the first parse follows."""

    def on_config(self, config: Config) -> None:
        """``config`` (valid) has just replaced the running configuration."""

    # -- parsing -------------------------------------------------------------------------------------------------
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
        secrets = {
            (str(obj["metadata"].get("namespace") or self.namespace), str(obj["metadata"]["name"])): obj
            for obj in (self.secrets.store.values() if self.secrets is not None else ())
        }
        node_labels = self._node_labels
        return ConfigSources(
            objects=objects,
            legacy_config=legacy_text,
            namespace_labels=namespace_labels,
            secrets=secrets,
            namespace=self.namespace,
            resolve_secrets=self.secrets is not None,
            node_labels=None if node_labels is None else {name: dict(labels) for name, labels in node_labels().items()},
            legacy_config_name=self.legacy_configmap,
        )

    async def run(self) -> None:
        """Run the informers and parse on every change, until cancelled."""
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in self.informers]
        try:
            await asyncio.gather(*(i.synced.wait() for i in self.informers))
            self.on_synced()
            while True:
                self._dirty.clear()
                await self.reparse()
                self.first_parse.set()
                await self._dirty.wait()
                await asyncio.sleep(self.settle)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def reparse(self) -> None:
        result = parse(self.sources())
        self.last_result = result
        if result.config is not None:
            metrics.CONFIG_STALE.set(0)
            metrics.CONFIG_LOADED.set(1)
            self._warned.clear()
            if result.config != self.current:
                for warning in result.warnings:
                    logger.warning(warning)
                self.current = result.config
                logger.bind(pools=len(result.config.pools), peers=len(result.config.peers)).info("configuration loaded")
                self.on_config(result.config)
            self.loaded.set()
            await self.reporter.report(valid=True)
            return
        summary = "; ".join(str(e) for e in result.errors)
        if self.current is not None:
            metrics.CONFIG_STALE.set(1)
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
        """The object an error is about: the CR, else the legacy ConfigMap, else this component's
        ConfigurationState."""
        informer = self.crs.get(kind)
        obj = informer.get(f"{self.namespace}/{name}") if informer else None
        if obj is not None:
            return ObjectRef.of(obj, kind=kind)
        if kind == "ConfigMap" or informer is None:
            legacy = next(iter(self.legacy.store.values()), None)
            if legacy is not None:
                return ObjectRef.of(legacy, kind="ConfigMap", api_version="v1")
        return ObjectRef(
            "ConfigurationState", self.reporter.name, self.namespace, api_version=f"{names.GROUP}/{names.V1BETA1}"
        )


__all__ = ["ConfigWatch", "NodeLabels"]
