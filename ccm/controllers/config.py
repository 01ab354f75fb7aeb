"""The ccm's configuration controller: the shared :class:`~ironlb.kube.configwatch.ConfigWatch`, feeding the
service controller.

What it watches and how an invalid configuration is reported (ConfigurationState ``controller``, Warning Events
``ConfigurationInvalid``, ``metallb_k8s_client_config_stale_bool``) is :mod:`ironlb.kube.configwatch`, shared with
the speaker. What is the ccm's own: it parses without Secrets (``resolve_secrets=False``: it needs no BGP password
and is not allowed to read Secrets), parses again one turn of the event loop after a change (``settle=0``: the
events delivered together land first), and hands each new valid configuration to its subscribers (the service
controller) in the order they subscribed.
"""

from __future__ import annotations

from collections.abc import Callable

from ironlb.config import Config
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.configwatch import ConfigWatch
from ironlb.kube.events import EventRecorder
from ironlb.kube.rest import Kube, Rest

Subscriber = Callable[[Config], None]


class ConfigController(ConfigWatch):
    """The running configuration of the ccm; ``loaded`` is the barrier the service controller waits on."""

    def __init__(
        self,
        rest: Rest,
        kube: Kube,
        recorder: EventRecorder,
        *,
        namespace: str,
        legacy_configmap: str,
        reporter: ConfigStateReporter,
    ) -> None:
        del kube  # the reporter writes; the watch itself only reads (through ``rest``)
        super().__init__(
            rest, recorder, reporter, namespace=namespace, legacy_configmap=legacy_configmap, resolve_secrets=False
        )
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber(config)`` each time a new valid configuration replaces the running one."""
        self._subscribers.append(subscriber)

    def on_config(self, config: Config) -> None:
        for subscriber in self._subscribers:
            subscriber(config)


__all__ = ["ConfigController"]
