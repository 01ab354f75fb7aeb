"""Fixtures for ironlb.kube's tests: an API emulator per test, and our REST client pointed at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hack.lab.apiserver import ApiServerThread, writes
from hack.lab.apiserver.cluster import WriteOptions
from ironlb.kube.rest import Kube, Rest, load_api_client


@pytest.fixture
def api() -> Iterator[ApiServerThread]:
    with ApiServerThread(bookmark_interval=0.5) as server:
        yield server


@pytest.fixture
def rest(api: ApiServerThread) -> Iterator[Rest]:
    r = Rest(load_api_client(str(api.kubeconfig)))
    yield r
    r.api_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def kube(rest: Rest) -> Iterator[Kube]:
    k = Kube(rest)
    yield k
    k.close()


def offline_write(
    api: ApiServerThread, verb: str, plural: str, namespace: str, *, name: str = "", body: Any = None
) -> None:
    """Write through the emulator's own write path on its loop: works while its HTTP side is paused."""
    server = api.server
    assert server is not None

    def run() -> None:
        c = server.cluster
        rt = c.resolve("", "v1", plural)
        if verb == "create":
            writes.create(c, rt, namespace, body, WriteOptions())
        elif verb == "patch":
            raw = json.dumps(body).encode()
            writes.patch_object(
                c, rt, namespace=namespace, name=name, patch_type=writes.MERGE_PATCH, raw=raw, opts=WriteOptions()
            )
        elif verb == "delete":
            writes.delete(c, rt, namespace=namespace, name=name, options={}, opts=WriteOptions())
        else:
            raise ValueError(verb)

    api.run(run)
