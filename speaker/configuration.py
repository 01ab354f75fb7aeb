"""The speaker's configuration: the shared :class:`~ironlb.kube.configwatch.ConfigWatch` with Secrets and Node
labels, plus the two other things the speaker reads from its namespace: the excluded interfaces and the membership
key.

How the configuration is watched, parsed and reported is :mod:`ironlb.kube.configwatch`, shared with the ccm; an
invalid one is reported in the ConfigurationState ``speaker-<node>`` (labels ``metallb.io/component-type:
speaker``, ``metallb.io/node-name``). Unlike the ccm, the speaker parses *with* Secrets (``BGPPeer.passwordSecret``
becomes a password) and with the cluster's Node labels (``node_labels``: whether two nodeSelectors lists share a
node, as MetalLB's speaker decides it), and lets a burst of changes settle for 50 ms before parsing again. Node
labels change rarely; heartbeats do not trigger a parse (:meth:`ConfigWatcher.nodes_changed` does).

MetalLB's excluded-interfaces ConfigMap (``--excluded-interfaces-configmap``, key ``excludel2.yaml``, field
``announcedInterfacesToExclude``) replaces the default exclude list when it exists; a pattern that is not a regular
expression is reported and the previous list kept. The membership key is the Secret ``--ml-secret-name``, key
``secretkey``; without it membership runs with a fixed, publicly known key (MetalLB gossips in clear then), and
says so.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml
from loguru import logger

from ironlb.config import Config
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.configwatch import ConfigWatch, NodeLabels
from ironlb.kube.events import EventRecorder, ObjectRef
from ironlb.kube.informer import WatchEvent
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


class ConfigWatcher(ConfigWatch):
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
        node_labels: NodeLabels,
    ) -> None:
        super().__init__(
            rest,
            recorder,
            reporter,
            namespace=namespace,
            legacy_configmap=legacy_configmap,
            resolve_secrets=True,
            node_labels=node_labels,
            settle=0.05,
        )
        self.secret_name = secret_name
        self.excludel2 = self.watch(self.configmap(rest, excludel2_configmap))
        self.exclude: tuple[str, ...] | None = None
        self.keys: tuple[bytes, ...] = ()
        self.keys_from_secret = False
        self._listeners: dict[str, list[Listener]] = {"config": [], "exclude": [], "keys": []}
        assert self.secrets is not None  # resolve_secrets=True
        self.secrets.add_handler(self._on_secrets)
        self.excludel2.add_handler(lambda events: self._read_exclude())

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
        self.changed()

    def on_synced(self) -> None:
        self._read_keys()
        self._read_exclude()

    def on_config(self, config: Config) -> None:
        self._notify("config")

    # -- the membership key and the exclude list -----------------------------------------------------------------
    def _on_secrets(self, events: Sequence[WatchEvent]) -> None:
        # (every Secret change also parses again, for BGP passwords: the shared watch does that)
        if any(e.object.get("metadata", {}).get("name") == self.secret_name for e in events):
            self._read_keys()

    def _read_keys(self) -> None:
        secret = self.secrets.get(f"{self.namespace}/{self.secret_name}") if self.secrets is not None else None
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


__all__ = ["ConfigWatcher", "excluded_interfaces", "membership_keys"]
