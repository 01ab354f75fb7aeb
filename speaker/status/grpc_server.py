"""The gRPC status service (``ironlb.status.v1.Speaker``) on ``--status-address``, for ``ironlbctl status``.

grpc.aio on the speaker's own event loop: a ``Status`` call builds its reply on the loop (a consistent snapshot,
no locks) and never blocks the data planes for longer than that. The default address is a unix socket
(``unix:///run/ironlb/speaker.sock``): reachable by ``kubectl exec`` into the pod and by nothing on the network.
A stale socket file from an earlier process is replaced; the directory is created if missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import grpc
from loguru import logger

from ironlb.rpc import status_pb2 as pb
from ironlb.rpc import status_pb2_grpc as pb_grpc

Snapshot = Callable[[], pb.StatusResponse]


def socket_path(address: str) -> Path | None:
    """The filesystem path of a ``unix://`` address (``unix:///run/x.sock`` or ``unix:relative.sock``)."""
    if address.startswith("unix://"):
        return Path(address[len("unix://") :])
    if address.startswith("unix:"):
        return Path(address[len("unix:") :])
    return None


class _Servicer(pb_grpc.SpeakerServicer):
    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    async def Status(
        self, request: pb.StatusRequest, context: grpc.aio.ServicerContext[pb.StatusRequest, pb.StatusResponse]
    ) -> pb.StatusResponse:
        del request, context
        return self._snapshot()


class StatusServer:
    """Serves ``Status`` on ``address`` (``unix:///PATH`` or ``HOST:PORT``) until :meth:`stop`."""

    def __init__(self, address: str, snapshot: Snapshot) -> None:
        self.address = address
        self._snapshot = snapshot
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        """Bind and serve. Raises OSError-like RuntimeError with a sentence when the address cannot be bound."""
        path = socket_path(self.address)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                if path.is_socket():
                    path.unlink()
        server = grpc.aio.server()
        pb_grpc.add_SpeakerServicer_to_server(_Servicer(self._snapshot), server)  # type: ignore[no-untyped-call]
        try:
            self.port = server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise RuntimeError(
                f"cannot serve the status service on --status-address {self.address!r} ({exc}); "
                "use a writable unix:///PATH or a free HOST:PORT"
            ) from None
        await server.start()
        self._server = server
        logger.bind(address=self.address).info("serving the gRPC status service")

    async def stop(self, grace: float = 0.5) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        path = socket_path(self.address)
        if path is not None:
            with contextlib.suppress(FileNotFoundError, OSError):
                path.unlink()


__all__ = ["StatusServer", "socket_path"]
