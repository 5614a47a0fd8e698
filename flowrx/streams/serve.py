"""A stand-in for the platform's execution WebSocket, for front-end work and tests.

:class:`PlatformServer` speaks the platform's protocol on 127.0.0.1: path
``/ws/v1/execution/{flow_id}``, a token checked at the handshake (HTTP 403 when wrong, as the
platform does), the text heartbeat (``ping`` → ``pong``), and every backend message as one text
frame. It plays a list of recorded frames (the simulator's, or a recording's) at their recorded
times, broadcast to every connected client like the platform's Redis pub/sub: at-most-once, a
client that connects late misses what was sent before.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import urllib.parse
from collections.abc import Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from flowrx.streams.replay import RecordedFrame

__all__ = ["PlatformServer"]


class PlatformServer:
    """Serve ``frames`` for ``flow_id`` on 127.0.0.1:``port`` (0: any free port)."""

    def __init__(
        self,
        frames: Sequence[RecordedFrame],
        *,
        flow_id: str,
        token: str | None = None,
        port: int = 0,
        speed: float = 1.0,
        wait_for_client: bool = True,
    ) -> None:
        self.frames = list(frames)
        self.flow_id = flow_id
        self.token = token if token is not None else secrets.token_urlsafe(16)
        self.port = port
        self.speed = speed
        self.wait_for_client = wait_for_client
        self.clients: set[ServerConnection] = set()
        self.sent = 0
        self.refused = 0
        self._server: Server | None = None
        self._first_client = asyncio.Event()
        self.done = asyncio.Event()

    @property
    def path(self) -> str:
        """The WebSocket path of this flow."""
        return f"/ws/v1/execution/{self.flow_id}"

    @property
    def url(self) -> str:
        """The URL to connect to, token included (the platform wants ``?token=``)."""
        query = urllib.parse.urlencode({"token": self.token})
        return f"ws://127.0.0.1:{self.port}{self.path}?{query}"

    async def start(self) -> str:
        """Listen; return the URL (with the port actually bound)."""
        self._server = await serve(
            self._handler, "127.0.0.1", self.port, process_request=self._check, logger=None
        )
        sockets = list(self._server.sockets)
        self.port = int(sockets[0].getsockname()[1])
        return self.url

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urllib.parse.urlsplit(request.path)
        if parts.path != self.path:
            self.refused += 1
            return connection.respond(HTTPStatus.NOT_FOUND, "no such flow\n")
        offered = dict(urllib.parse.parse_qsl(parts.query)).get("token")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            offered = header.removeprefix("Bearer ")
        if offered is None or not hmac.compare_digest(offered, self.token):
            self.refused += 1
            return connection.respond(HTTPStatus.FORBIDDEN, "bad token\n")
        return None

    async def _handler(self, ws: ServerConnection) -> None:
        self.clients.add(ws)
        self._first_client.set()
        try:
            async for message in ws:
                if message == "ping":
                    await ws.send("pong")
        except ConnectionClosed:
            pass  # a client that goes away abruptly is normal here
        finally:
            self.clients.discard(ws)

    async def play(self) -> None:
        """Send every frame at its time (after the first client connects, if so configured)."""
        if self.wait_for_client:
            await self._first_client.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for frame in self.frames:
            delay = start + frame.t / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            broadcast(self.clients, frame.data)
            self.sent += 1
        self.done.set()

    async def close(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
