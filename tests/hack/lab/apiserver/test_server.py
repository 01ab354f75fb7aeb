"""The in-process API: ``async with ApiServer()`` on the test's loop, and the knobs tests use."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
import yaml

from hack.lab.apiserver import ApiServer, ApiServerThread


async def test_async_server_serves_watches_and_survives_a_pause() -> None:
    async with ApiServer(bookmark_interval=0.2) as api:
        headers = {"Authorization": f"Bearer {api.admin_token}"}
        async with aiohttp.ClientSession(api.url, headers=headers) as http:
            async with http.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "a"}}) as r:
                assert r.status == 201
                rv = (await r.json())["metadata"]["resourceVersion"]
            params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "5"}
            async with http.get("/api/v1/namespaces/default/configmaps", params=params) as stream:
                async with http.patch(
                    "/api/v1/namespaces/default/configmaps/a",
                    data=json.dumps({"data": {"k": "v"}}),
                    headers={"Content-Type": "application/merge-patch+json"},
                ) as r:
                    assert r.status == 200
                kinds = []
                async for line in stream.content:
                    kinds.append(json.loads(line)["type"])
                    if "BOOKMARK" in kinds:
                        break
                assert kinds[0] == "MODIFIED" and "BOOKMARK" in kinds
        await api.pause()
        assert api.paused
        async with aiohttp.ClientSession() as http:
            try:
                async with http.get(api.url + "/version", timeout=aiohttp.ClientTimeout(total=2)):
                    raise AssertionError("the API answered while paused")
            except aiohttp.ClientConnectionError:
                pass
        await api.resume()
        async with (
            aiohttp.ClientSession(api.url, headers=headers) as http,
            http.get("/api/v1/namespaces/default/configmaps/a") as r,
        ):
            assert (await r.json())["data"] == {"k": "v"}


async def test_watchers_see_the_stream_end_when_the_server_pauses() -> None:
    async with ApiServer() as api:
        headers = {"Authorization": f"Bearer {api.admin_token}"}
        async with aiohttp.ClientSession(api.url, headers=headers) as http:
            params = {"watch": "1", "timeoutSeconds": "30"}
            async with http.get("/api/v1/namespaces", params=params) as stream:
                await stream.content.readline()
                await api.pause()
                # The stream must end (EOF or a dropped connection) instead of hanging until its timeout.
                with contextlib.suppress(aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                    await asyncio.wait_for(stream.content.read(), timeout=10)
                assert stream.content.at_eof() or stream.connection is None


def test_minted_service_account_tokens_authenticate(tmp_path: object) -> None:
    from kubernetes import client as kube_client
    from kubernetes import config as kube_config

    client: Any = kube_client
    config: Any = kube_config

    with ApiServerThread(rbac_enabled=True) as api:
        token = api.mint_token("default", "default")
        path = api.kubeconfig_for(token, str(tmp_path) + "/sa.kubeconfig")
        user = yaml.safe_load(path.read_text())["users"][0]["user"]
        assert user == {"token": token}
        core = client.CoreV1Api(config.new_client_from_config(str(path)))
        try:
            core.list_namespace()
        except client.ApiException as exc:
            assert exc.status == 403
            message = json.loads(exc.body)["message"]
            assert 'User "system:serviceaccount:default:default" cannot list resource "namespaces"' in message
        else:
            raise AssertionError("an unbound ServiceAccount may not list namespaces")
        assert api.resource_version > 1
        before = api.compact()
        assert before == api.resource_version
