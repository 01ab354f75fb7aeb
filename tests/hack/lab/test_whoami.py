"""The whoami stand-in: what it answers, and that no input makes it raise."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hack.lab.whoami import WhoamiServer, format_addr, parse_head, whoami_body


@pytest.mark.parametrize(
    ("head", "line", "headers"),
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x", "GET / HTTP/1.1", (("Host", "x"),), id="a-plain-get"),
        pytest.param(
            b"HEAD /health HTTP/1.0\r\nA: 1\r\nB:  two ",
            "HEAD /health HTTP/1.0",
            (("A", "1"), ("B", "two")),
            id="headers-keep-their-order-and-lose-outer-spaces",
        ),
    ],
)
def test_parse_head_reads_requests(head: bytes, line: str, headers: tuple[tuple[str, str], ...]) -> None:
    request = parse_head(head)
    assert request is not None
    assert request.line == line and request.headers == headers


@pytest.mark.parametrize(
    "head",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"GET /", id="no-version"),
        pytest.param(b"GET / SPDY/3", id="not-http-1"),
        pytest.param(b"GET / HTTP/1.1\r\nno-colon", id="a-header-without-a-colon"),
        pytest.param(b"G3T / HTTP/1.1", id="a-method-that-is-not-a-word"),
    ],
)
def test_parse_head_refuses_what_is_not_http(head: bytes) -> None:
    assert parse_head(head) is None


@given(st.binary(max_size=300))
def test_parse_head_never_raises(data: bytes) -> None:
    parse_head(data)


def test_body_reads_like_containous_whoami() -> None:
    body = whoami_body(
        "whoami-abc", ["127.0.0.1", "203.0.113.17"], "192.0.2.100:4242", "GET / HTTP/1.1", [("Host", "v")]
    )
    assert body.splitlines() == [
        "Hostname: whoami-abc",
        "IP: 127.0.0.1",
        "IP: 203.0.113.17",
        "RemoteAddr: 192.0.2.100:4242",
        "GET / HTTP/1.1",
        "Host: v",
    ]
    assert format_addr("2001:db8::1", 80) == "[2001:db8::1]:80"


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return data


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_server_answers_get_health_and_garbage() -> None:
    port = _free_port()
    server = await WhoamiServer("pod-1", ["127.0.0.1"], [port]).start()
    try:
        answer = (await _exchange(port, b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")).decode()
        assert answer.startswith("HTTP/1.1 200 OK")
        body = answer.split("\r\n\r\n", 1)[1]
        assert body.startswith("Hostname: pod-1\nIP: 127.0.0.1\nIP: ::1\nIP: 127.0.0.1\nRemoteAddr: 127.0.0.1:")
        assert "GET /x HTTP/1.1\nHost: h\n" in body
        assert (await _exchange(port, b"GET /health HTTP/1.1\r\n\r\n")).endswith(b"\r\n\r\nOK\n")
        assert (await _exchange(port, b"\x00\x01 nonsense\r\n\r\n")).startswith(b"HTTP/1.1 400")
        assert server.served == 2
    finally:
        await server.close()
