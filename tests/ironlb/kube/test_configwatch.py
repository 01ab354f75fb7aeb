"""The shared configuration watch against the API emulator with the metallb.io CRDs: a valid configuration is
loaded and announced once, an invalid change keeps the last good one and is reported (ConfigurationState, one
Event per distinct error, the stale metric), a fix clears it, Secrets are read only when asked, and an outside
change (Node labels) parses again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from hack.lab.apiserver import ApiServerThread
from hack.manifests.crdschema import CRD_DIR
from ironlb.config import Config
from ironlb.kube.configstate import ConfigStateReporter
from ironlb.kube.configwatch import ConfigWatch
from ironlb.kube.events import EventRecorder
from ironlb.kube.resources import CONFIGMAPS, EVENTS, NAMESPACES, SECRETS, metallb
from ironlb.kube.rest import ApiError, Kube, Rest

NS = "metallb-system"
POOLS = metallb("IPAddressPool")
PEERS = metallb("BGPPeer")
STATES = metallb("ConfigurationState")


def pool(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": POOLS.api_version,
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses)},
    }


def peer(name: str, secret: str) -> dict[str, Any]:
    spec = {"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1", "passwordSecret": {"name": secret}}
    return {
        "apiVersion": PEERS.api_version,
        "kind": "BGPPeer",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def until(check: Callable[[], Any], what: str, limit: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
def crds(api: ApiServerThread, rest: Rest) -> Iterator[None]:
    """The metallb.io CRDs of manifests/crds, served, and the configuration namespace."""
    for path in sorted(CRD_DIR.glob("metallb.io_*.yaml")):
        rest.call(
            "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=yaml.safe_load(path.read_text())
        )
    rest.call("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for _ in range(200):
        try:
            rest.call("GET", f"/apis/{POOLS.group}/{POOLS.version}/namespaces/{NS}/ipaddresspools")
            rest.call("GET", f"/apis/{STATES.group}/{STATES.version}/namespaces/{NS}/configurationstates")
            break
        except ApiError:
            time.sleep(0.05)
    yield


class Watch(ConfigWatch):
    """Records what the hooks are told."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.announced: list[Config] = []
        self.synced_before_first_parse: bool | None = None

    def on_synced(self) -> None:
        self.synced_before_first_parse = not self.first_parse.is_set() and all(
            i.synced.is_set() for i in self.informers
        )

    def on_config(self, config: Config) -> None:
        self.announced.append(config)


@contextlib.asynccontextmanager
async def running(rest: Rest, kube: Kube, **kwargs: Any) -> AsyncIterator[Watch]:
    recorder = EventRecorder(kube, component="test", host="h", max_retry_delay=0.2)
    reporter = ConfigStateReporter(kube, namespace=NS, name="controller", component_type="controller")
    kwargs.setdefault("resolve_secrets", False)
    watch = Watch(rest, recorder, reporter, namespace=NS, legacy_configmap="config", **kwargs)
    tasks = [asyncio.create_task(watch.run()), asyncio.create_task(recorder.run())]
    try:
        await asyncio.wait_for(watch.first_parse.wait(), 10)
        yield watch
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def state(kube: Kube) -> dict[str, Any]:
    return (await kube.get(STATES, "controller", NS) or {}).get("status") or {}


async def invalid_events(kube: Kube) -> list[dict[str, Any]]:
    return [e for e in (await kube.list(EVENTS, NS)).items if e["reason"] == "ConfigurationInvalid"]


@pytest.mark.usefixtures("crds")
async def test_an_invalid_change_keeps_the_last_good_configuration_and_says_so_until_fixed(
    rest: Rest, kube: Kube
) -> None:
    await kube.create(POOLS, pool("good", "198.51.100.0/28"), namespace=NS)
    async with running(rest, kube) as watch:
        assert watch.synced_before_first_parse is True
        assert watch.loaded.is_set() and watch.current is not None
        assert list(watch.current.pools) == ["good"]
        assert len(watch.announced) == 1
        assert (gauge("metallb_k8s_client_config_loaded_bool"), gauge("metallb_k8s_client_config_stale_bool")) == (1, 0)
        await until(lambda: state(kube), "the ConfigurationState")
        assert (await state(kube))["result"] == "Valid"
        good = watch.current

        await kube.create(POOLS, pool("overlapping", "198.51.100.0/30"), namespace=NS)
        await until(lambda: gauge("metallb_k8s_client_config_stale_bool") == 1, "the stale metric")
        assert watch.current is good and len(watch.announced) == 1
        assert watch.last_result is not None and not watch.last_result.ok
        status = await until(lambda: _invalid(kube), "the ConfigurationState to say Invalid")
        assert "overlapping" in status["errorSummary"] and "overlaps" in status["errorSummary"]
        events = await until(lambda: invalid_events(kube), "the ConfigurationInvalid Event")
        assert events[0]["type"] == "Warning"
        assert (events[0]["involvedObject"]["kind"], events[0]["involvedObject"]["name"]) == (
            "IPAddressPool",
            "overlapping",
        )
        # an unrelated change parses again, with the same error: no second Event
        await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        await until(lambda: "other" in {n.split("/")[-1] for n in watch.namespaces.store}, "the Namespace seen")
        await asyncio.sleep(0.3)
        assert [e["count"] for e in await invalid_events(kube)] == [1]

        await kube.delete(POOLS, "overlapping", NS)
        await until(lambda: gauge("metallb_k8s_client_config_stale_bool") == 0, "the stale metric to clear")
        await until(lambda: _valid(kube), "the ConfigurationState to say Valid again")
        assert watch.current == good and len(watch.announced) == 1, "the same configuration is not announced again"


async def _invalid(kube: Kube) -> dict[str, Any] | None:
    status = await state(kube)
    return status if status.get("result") == "Invalid" else None


async def _valid(kube: Kube) -> bool:
    return (await state(kube)).get("result") == "Valid"


@pytest.mark.usefixtures("crds")
async def test_a_broken_legacy_configmap_is_named_in_the_event(rest: Rest, kube: Kube) -> None:
    legacy = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": NS},
        "data": {"config": "address-pools: [{name: a, protocol: layer2, addresses: [not-an-address]}]\n"},
    }
    await kube.create(CONFIGMAPS, legacy, namespace=NS)
    async with running(rest, kube) as watch:
        assert watch.current is None and not watch.loaded.is_set()
        assert gauge("metallb_k8s_client_config_stale_bool") == 0, "nothing ran before: nothing is stale"
        events = await until(lambda: invalid_events(kube), "the ConfigurationInvalid Event")
        assert (events[0]["involvedObject"]["kind"], events[0]["involvedObject"]["name"]) == ("ConfigMap", "config")


@pytest.mark.parametrize(
    ("resolve", "password"),
    [
        pytest.param(False, None, id="without-secrets-the-password-stays-unresolved"),
        pytest.param(True, "s3cret", id="with-secrets-the-password-is-read"),
    ],
)
@pytest.mark.usefixtures("crds")
async def test_secrets_are_read_only_when_asked(rest: Rest, kube: Kube, resolve: bool, password: str | None) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bgp", "namespace": NS}}
    await kube.create(SECRETS, {**secret, "type": "kubernetes.io/basic-auth", "stringData": {"password": "s3cret"}}, NS)
    await kube.create(PEERS, peer("router", "bgp"), namespace=NS)
    async with running(rest, kube, resolve_secrets=resolve) as watch:
        assert (watch.secrets is not None) == resolve
        assert watch.current is not None
        (found,) = watch.current.peers
        assert found.password == password


@pytest.mark.usefixtures("crds")
async def test_changed_parses_again_with_the_node_labels_of_now(rest: Rest, kube: Kube) -> None:
    labels: dict[str, dict[str, str]] = {}
    seen: list[dict[str, dict[str, str]]] = []

    def node_labels() -> dict[str, dict[str, str]]:
        seen.append({k: dict(v) for k, v in labels.items()})
        return labels

    await kube.create(POOLS, pool("good", "198.51.100.0/28"), namespace=NS)
    async with running(rest, kube, node_labels=node_labels, settle=0.05) as watch:
        assert seen == [{}] and watch.last_result is not None
        first = watch.last_result
        labels["node1"] = {"zone": "a"}
        watch.changed()
        await until(lambda: watch.last_result is not first, "a parse after changed()")
        assert seen == [{}, {"node1": {"zone": "a"}}]
