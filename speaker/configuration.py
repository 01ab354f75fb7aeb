"""The speaker's configuration: metallb.io CRs, legacy ConfigMap, Namespaces, Secrets and Nodes -> one Config;
plus the two other things the speaker reads from its namespace: the excluded interfaces and the membership key.

Like the ccm's configuration controller, any change schedules one parse (a burst is coalesced); a valid result
replaces the running :class:`~ironlb.config.model.Config`, an invalid one keeps the last good one and says why in
the ConfigurationState ``speaker-<node>`` (labels ``metallb.io/component-type: speaker``, ``metallb.io/node-name``),
a Warning Event ``ConfigurationInvalid`` on each offending object, the metric
``metallb_k8s_client_config_stale_bool`` and the log. Unlike the ccm, the speaker parses *with* Secrets
(``BGPPeer.passwordSecret`` becomes a password) and with the cluster's Node labels (``node_labels``: whether two
nodeSelectors lists share a node, as MetalLB's speaker decides it). Node labels change rarely; heartbeats do not
trigger a parse.

MetalLB's excluded-interfaces ConfigMap (``--excluded-interfaces-configmap``, key ``excludel2.yaml``, field
``announcedInterfacesToExclude``) replaces the default exclude list when it exists; a pattern that is not a regular
expression is reported and the previous list kept. The membership key is the Secret ``--ml-secret-name``, key
``secretkey``; without it membership runs with a fixed, publicly known key (MetalLB gossips in clear then), and
says so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from loguru import logger

from ironlb.api import names
from ironlb.config import Config, ConfigSources, ParseResult, parse
from ironlb.kube import metrics as kube_metrics
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import Informer, WatchEvent
from ironlb.kube.resources import CONFIGMAPS, NAMESPACES, SECRETS, metallb
from ironlb.kube.rest import Rest

EXCLUDEL2_KEY = "excludel2.yaml"
EXCLUDEL2_FIELD = "announcedInterfacesToExclude"
MEMBERSHIP_SECRET_KEY = "secretkey"
#: The key used when the membership Secret is missing: every speaker derives the same one, so membership still
#: works, but anyone on the network can forge it (MetalLB gossips in clear in that case).
_FALLBACK_KEY_SEED = b"ironlb membership without a Secret"

Listener = Callable[[], None]


def membership_keys(secret: Mapping[str, Any] | None, namespace: str) -> tuple[tuple[bytes, ...], bool]:
    """(keys, from_secret): the HMAC keys to use, and whether they come from the Secret.

    MetalLB's Secret holds 16 random bytes as 22 characters of base64; any value of 16 bytes or more is used as
    it is. A shorter one is stretched with SHA-256 (every speaker derives the same key) - and a warning is due.
    """
    data = (secret or {}).get("data") or {}
    encoded = data.get(MEMBERSHIP_SECRET_KEY)
    if encoded:
        try:
            raw = base64.b64decode(encoded, validate=False)
        except (ValueError, TypeError):
            raw = b""
        if raw:
            return ((raw if len(raw) >= 16 else hashlib.sha256(raw).digest()),), True
    return (hashlib.sha256(_FALLBACK_KEY_SEED + namespace.encode()).digest(),), False


def excluded_interfaces(configmap: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    """The exclude patterns of MetalLB's excludel2 ConfigMap, or None when it has none.

    Raises:
        ValueError: the ConfigMap exists but its content cannot be used; the message says why and how to fix it.
    """
    if configmap is None:
        return None
    text = (configmap.get("data") or {}).get(EXCLUDEL2_KEY)
    name = (configmap.get("metadata") or {}).get("name", "")
    if text is None:
        raise ValueError(
            f"ConfigMap {name!r} has no key {EXCLUDEL2_KEY!r}; add it with {EXCLUDEL2_FIELD}: [regex, ...]"
        )
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"ConfigMap {name!r} key {EXCLUDEL2_KEY!r} is not YAML ({exc}); fix its syntax") from None
    patterns = doc.get(EXCLUDEL2_FIELD) if isinstance(doc, dict) else None
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(
            f"ConfigMap {name!r} key {EXCLUDEL2_KEY!r}: {EXCLUDEL2_FIELD} must be a list of regular expressions"
        )
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(
                f"ConfigMap {name!r}: {EXCLUDEL2_FIELD} entry {pattern!r} is not a regular expression ({exc}); "
                "fix or remove it"
            ) from None
    return tuple(patterns)


class ConfigWatcher:
    """Watches the configuration namespace; holds the running Config, exclude list and membership keys."""

    def __init__(
        self,
        rest: Rest,
        recorder: EventRecorder,
        reporter: ConfigStateReporter,
        *,
        namespace: str,
        legacy_configmap: str,
        excludel2_configmap: str,
        secret_name: str,
        node_labels: Callable[[], Mapping[str, Mapping[str, str]]],
    ) -> None:
        self.namespace = namespace
        self.recorder = recorder
        self.reporter = reporter
        self.legacy_configmap = legacy_configmap
        self.secret_name = secret_name
        self._node_labels = node_labels
        self.crs = {kind: Informer(rest, metallb(kind), namespace=namespace) for kind in sorted(names.CONFIG_KINDS)}
        self.namespaces = Informer(rest, NAMESPACES)
        self.legacy = Informer(
            rest, CONFIGMAPS, namespace=namespace, field_selector=f"metadata.name={legacy_configmap}"
        )
        self.excludel2 = Informer(
            rest, CONFIGMAPS, namespace=namespace, field_selector=f"metadata.name={excludel2_configmap}"
        )
        self.secrets = Informer(rest, SECRETS, namespace=namespace)
        self.informers: list[Informer] = [
            *self.crs.values(),
            self.namespaces,
            self.legacy,
            self.excludel2,
            self.secrets,
        ]
        self.current: Config | None = None
        self.last_result: ParseResult | None = None
        self.exclude: tuple[str, ...] | None = None
        self.keys: tuple[bytes, ...] = ()
        self.keys_from_secret = False
        #: set once every informer has synced and the first parse ran
        self.first_parse = asyncio.Event()
        self._listeners: dict[str, list[Listener]] = {"config": [], "exclude": [], "keys": []}
        self._dirty = asyncio.Event()
        self._warned: set[tuple[str, str, str]] = set()
        for informer in [*self.crs.values(), self.namespaces, self.legacy]:
            informer.add_handler(self._on_events)
        self.secrets.add_handler(self._on_secrets)
        self.excludel2.add_handler(lambda events: self._read_exclude())
        kube_metrics.CONFIG_LOADED.set(0)
        kube_metrics.CONFIG_STALE.set(0)

    # -- subscriptions -------------------------------------------------------------------------------------------
    def subscribe(self, what: str, listener: Listener) -> None:
        """Call ``listener()`` after ``what`` ("config", "exclude" or "keys") changed."""
        self._listeners[what].append(listener)

    def _notify(self, what: str) -> None:
        for listener in self._listeners[what]:
            try:
                listener()
            except Exception:
                logger.bind(subscriber=what).exception("configuration subscriber failed")

    def nodes_changed(self) -> None:
        """Node labels changed (or a Node came or went): parse again."""
        self._dirty.set()

    # -- events --------------------------------------------------------------------------------------------------
    def _on_events(self, events: Sequence[WatchEvent]) -> None:
        self._dirty.set()

    def _on_secrets(self, events: Sequence[WatchEvent]) -> None:
        self._dirty.set()  # BGP passwords
        if any(e.object.get("metadata", {}).get("name") == self.secret_name for e in events):
            self._read_keys()

    def _read_keys(self) -> None:
        secret = self.secrets.get(f"{self.namespace}/{self.secret_name}")
        keys, from_secret = membership_keys(secret, self.namespace)
        if (keys, from_secret) == (self.keys, self.keys_from_secret):
            return
        if not from_secret:
            logger.bind(secret=f"{self.namespace}/{self.secret_name}").warning(
                "the membership Secret is missing or has no key {!r}; membership runs with a publicly known key, "
                "so anyone on the network can forge membership datagrams. Create the Secret with 16 random bytes.",
                MEMBERSHIP_SECRET_KEY,
            )
        elif secret and len(base64.b64decode((secret.get("data") or {}).get(MEMBERSHIP_SECRET_KEY, ""))) < 16:
            logger.warning("the membership key is shorter than 16 bytes; use 16 random bytes or more")
        self.keys, self.keys_from_secret = keys, from_secret
        self._notify("keys")

    def _read_exclude(self) -> None:
        configmap = next(iter(self.excludel2.store.values()), None)
        try:
            patterns = excluded_interfaces(configmap)
        except ValueError as exc:
            logger.bind(configmap=f"{self.namespace}/{configmap and configmap['metadata']['name']}").error(
                "{}; keeping the current exclude list", exc
            )
            if configmap is not None:
                self.recorder.event(
                    ObjectRef.of(configmap, kind="ConfigMap"), "Warning", "ConfigurationInvalid", str(exc)
                )
            return
        if patterns != self.exclude:
            self.exclude = patterns
            self._notify("exclude")

    # -- parsing -------------------------------------------------------------------------------------------------
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
            for obj in self.secrets.store.values()
        }
        return ConfigSources(
            objects=objects,
            legacy_config=legacy_text,
            namespace_labels=namespace_labels,
            secrets=secrets,
            namespace=self.namespace,
            resolve_secrets=True,
            node_labels={name: dict(labels) for name, labels in self._node_labels().items()},
            legacy_config_name=self.legacy_configmap,
        )

    async def run(self) -> None:
        """Run the informers and parse on every change, until cancelled."""
        tasks = [asyncio.create_task(i.run(), name=f"informer-{i.name}") for i in self.informers]
        try:
            await asyncio.gather(*(i.synced.wait() for i in self.informers))
            self._read_keys()
            self._read_exclude()
            while True:
                self._dirty.clear()
                await self.reparse()
                self.first_parse.set()
                await self._dirty.wait()
                await asyncio.sleep(0.05)  # let a burst of events land before parsing again
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
            if result.config != self.current:
                for warning in result.warnings:
                    logger.warning(warning)
                self.current = result.config
                logger.bind(pools=len(result.config.pools), peers=len(result.config.peers)).info("configuration loaded")
                self._notify("config")
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
        return ObjectRef(
            "ConfigurationState", self.reporter.name, self.namespace, api_version=f"{names.GROUP}/{names.V1BETA1}"
        )


__all__ = ["ConfigWatcher", "excluded_interfaces", "membership_keys"]
