"""Serve a :class:`~connector.simulator.app.Simulator` in-process as an httpx transport.

Connection faults surface as the exceptions httpx raises over a real network: a reset is
``httpx.ReadError``, a
body cut short under its Content-Length is ``httpx.RemoteProtocolError`` raised while the body is read.
"""

from collections.abc import Iterator

import httpx

from connector.simulator.app import Simulator
from connector.simulator.messages import SimRequest

__all__ = ["SimTransport"]


class _Truncated(httpx.SyncByteStream):
    def __init__(self, part: bytes) -> None:
        self._part = part

    def __iter__(self) -> Iterator[bytes]:
        yield self._part
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class SimTransport(httpx.BaseTransport):
    """``httpx.Client(transport=SimTransport(sim))`` talks to the simulator without sockets."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        sim_request = SimRequest(
            method=request.method,
            url=str(request.url),
            headers=dict(request.headers.items()),
            body=body,
        )
        response = self.simulator.handle(sim_request)
        if response.reset:
            raise httpx.ReadError("connection reset by peer", request=request)
        headers = dict(response.headers)
        if response.truncate_at is not None:
            headers["Content-Length"] = str(len(response.body))
            return httpx.Response(
                response.status,
                headers=headers,
                stream=_Truncated(response.body[: response.truncate_at]),
                request=request,
            )
        return httpx.Response(response.status, headers=headers, content=response.body, request=request)
