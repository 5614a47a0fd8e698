"""A stand-in for the platform's execution WebSocket, for front-end work and tests.

:class:`PlatformServer` speaks the platform's protocol on 127.0.0.1: path
``/ws/v1/execution/{flow_id}``, a token checked at the handshake (HTTP 403 when wrong, as the
platform does, for any token offered, however odd: compared as bytes in constant time, and
one token exactly, in one ``Authorization: Bearer`` header or one ``token`` parameter), the
text heartbeat (``ping`` → ``pong``), and every backend message as one text
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


def _offered(query: str, authorization: list[str]) -> list[bytes]:
    """The tokens a handshake offers, as bytes: a ``Bearer`` header's (it takes precedence
    over the query), else every ``token`` query parameter's, percent-decoded to the bytes the client
    encoded (invalid escapes stay as they are; nothing here can fail on what a client sends)."""
    bearers = [h.removeprefix("Bearer ") for h in authorization if h.startswith("Bearer ")]
    if bearers:  # header values arrive decoded as ISO-8859-1: exactly their bytes again
        return [b.encode("latin-1", "replace") for b in bearers]
    tokens = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if urllib.parse.unquote_plus(name) == "token":
            tokens.append(urllib.parse.unquote_to_bytes(value.replace("+", " ")))
    return tokens


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
        self._token = self.token.encode("utf-8", "surrogateescape")  # argv's undecodable bytes
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
        try:
            path, _, query = request.path.partition("#")[0].partition("?")
            if path != self.path:
                self.refused += 1
                return connection.respond(HTTPStatus.NOT_FOUND, "no such flow\n")
            offered = _offered(query, request.headers.get_all("Authorization"))
            allowed = len(offered) == 1 and hmac.compare_digest(offered[0], self._token)
        except Exception:  # fail closed: whatever the request holds, it is refused, never a 500
            allowed = False
        if not allowed:
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
