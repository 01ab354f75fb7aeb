"""The ConfigurationState CR each component writes: is the configuration it runs valid, and if not, why.

MetalLB's controller writes ``controller`` and each speaker ``speaker-<node>`` (metallb.md section 1.7); ironlb
keeps the names, labels and condition types so dashboards and ``kubectl get configurationstates`` read the same.
The object is re-created when someone deletes it (MetalLB calls this self-healing): :meth:`report` is idempotent
and cheap when nothing changed, and :meth:`run` re-checks it periodically.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import Any

from loguru import logger

from ironlb.api import names
from ironlb.kube.resources import metallb
from ironlb.kube.rest import ApiError, Kube

RESOURCE = metallb("ConfigurationState")
CONDITION_TYPE = "configReconcilerValid"
MAX_SUMMARY = 32000


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConfigStateReporter:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        component_type: str,
        node_name: str = "",
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.component_type = component_type
        self.node_name = node_name
        self.fence = fence
        self._last: tuple[str, str] | None = None

    @property
    def last_result(self) -> str | None:
        return self._last[0] if self._last else None

    def _labels(self) -> dict[str, str]:
        labels = {names.LABEL_COMPONENT_TYPE: self.component_type}
        if self.node_name:
            labels[names.LABEL_NODE_NAME] = self.node_name
        return labels

    async def report(self, *, valid: bool, summary: str = "") -> None:
        """Write the outcome when it differs from what the object shows. Never raises on API errors."""
        result = "Valid" if valid else "Invalid"
        summary = summary[:MAX_SUMMARY] if not valid else ""
        try:
            obj = await self.kube.get(RESOURCE, self.name, self.namespace)
            if obj is None:
                self.fence()
                obj = await self.kube.create(
                    RESOURCE,
                    {
                        "apiVersion": RESOURCE.api_version,
                        "kind": "ConfigurationState",
                        "metadata": {"name": self.name, "namespace": self.namespace, "labels": self._labels()},
                    },
                    namespace=self.namespace,
                )
            status: dict[str, Any] = obj.get("status") or {}
            if status.get("result") == result and (status.get("errorSummary") or "") == summary:
                self._last = (result, summary)
                return
            previous = next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION_TYPE), None)
            cond_status = "True" if valid else "False"
            transition = (
                previous["lastTransitionTime"]
                if previous and previous.get("status") == cond_status and previous.get("lastTransitionTime")
                else _now()
            )
            condition = {
                "type": CONDITION_TYPE,
                "status": cond_status,
                "reason": "Reconciled" if valid else "ConfigurationError",
                "message": "the configuration is valid" if valid else summary,
                "lastTransitionTime": transition,
            }
            body = {"status": {"result": result, "errorSummary": summary, "conditions": [condition]}}
            self.fence()
            await self.kube.patch(RESOURCE, self.name, body, namespace=self.namespace, subresource="status")
            self._last = (result, summary)
        except ApiError as exc:
            logger.bind(configurationstate=self.name, error=str(exc)).warning("could not write ConfigurationState")

    async def run(self, *, period: float = 60.0) -> None:
        """Re-assert the last outcome periodically, re-creating the object if it was deleted."""
        while True:
            await asyncio.sleep(period)
            if self._last is not None:
                result, summary = self._last
                await self.report(valid=result == "Valid", summary=summary)


__all__ = ["CONDITION_TYPE", "ConfigStateReporter"]
