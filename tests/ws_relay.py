"""A WebSocket relay for the tests: a real ``websockets`` server on 127.0.0.1, port 0, in
front of another WebSocket server, that drops a connection the way a network does.

Each client connection gets its own connection upstream (same path), and the text frames are
copied both ways as they come. The **first** connection is cut after ``cut_after`` frames from
the server have been relayed: the relay aborts the client's TCP connection (no close frame:
the client sees code 1006, as after a network drop) and closes its upstream connection (code
1001, as a client that went away), so the server notices the client is gone. Every later
connection waits for :attr:`admit` before it goes upstream: a test decides what happens on the
server meanwhile (a run finishing, say); with ``refuse_later`` they are refused at the
handshake instead (HTTP 503: a server that is away for a while). What was relayed is kept,
per connection, in
:attr:`downstream` (server frames) and :attr:`upstream` (client frames). It runs on its own
loop in a daemon thread (:class:`helpers.LoopThread`); the events a test waits on are
``threading.Event`` objects, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from http import HTTPStatus

from helpers import LoopThread
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["Relay"]

ANSWERS = ("replay", "catch_up", "subscribed")
"""AgentOS's answers to a reconnect."""


class Relay(LoopThread):
    """The relay in front of ``upstream`` (``ws://host:port``, no path); :attr:`url` is its
    own root (``ws://127.0.0.1:<port>``). :attr:`cut` is set once the first connection was
    cut; :attr:`answered` once a later connection relayed AgentOS's answer to a reconnect
    (``replay``, ``catch_up`` or ``subscribed``)."""

    def __init__(
        self,
        upstream: str,
        cut_after: int,
        *,
        refuse_later: bool = False,
        patience: float = 300.0,
    ) -> None:
        self.url = ""
        self.refused = 0
        """Connections refused at the handshake (``refuse_later``)."""
        self._refuse_later = refuse_later
        self.cut = threading.Event()
        self.admit = threading.Event()
        self.answered = threading.Event()
        self.downstream: list[list[str]] = []
        self.upstream: list[list[str]] = []
        self._target = upstream
        self._cut_after = cut_after
        self._patience = patience
        super().__init__(self._serve, patience)

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        async with serve(
            self._relay,
            "127.0.0.1",
            0,
            logger=None,
            ping_interval=None,
            process_request=self._refuse,
        ) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            ready()
            await stop.wait()

    def _refuse(self, client: ServerConnection, request: Request) -> Response | None:
        """With ``refuse_later``, every connection after the first: HTTP 503."""
        if not self._refuse_later or not self.cut.is_set():
            return None
        self.refused += 1
        return client.respond(HTTPStatus.SERVICE_UNAVAILABLE, "away for a while\n")

    async def _relay(self, client: ServerConnection) -> None:
        number = len(self.downstream)
        self.downstream.append([])
        self.upstream.append([])
        if number > 0 and not await asyncio.to_thread(self.admit.wait, self._patience):
            return
        path = client.request.path if client.request is not None else "/"
        async with connect(self._target + path, logger=None, ping_interval=None) as server:
            down = asyncio.create_task(self._down(number, client, server))
            up = asyncio.create_task(self._up(number, client, server))
            await asyncio.wait((down, up), return_when=asyncio.FIRST_COMPLETED)
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
            await server.close(1001)

    async def _down(self, number: int, client: ServerConnection, server: ClientConnection) -> None:
        """Server frames to the client; the first connection cut after ``cut_after``."""
        relayed = self.downstream[number]
        with contextlib.suppress(ConnectionClosed):
            async for frame in server:
                if number == 0 and len(relayed) == self._cut_after:
                    client.transport.abort()  # a network drop: no closing handshake
                    self.cut.set()
                    return
                assert isinstance(frame, str)
                await client.send(frame)
                relayed.append(frame)
                if number > 0 and _event(frame) in ANSWERS:
                    self.answered.set()

    async def _up(self, number: int, client: ServerConnection, server: ClientConnection) -> None:
        """Client frames to the server."""
        with contextlib.suppress(ConnectionClosed):
            async for frame in client:
                assert isinstance(frame, str)
                self.upstream[number].append(frame)
                await server.send(frame)


def _event(frame: str) -> object:
    """The ``event`` of a flat JSON frame (AgentOS's control frames), else None."""
    try:
        data = json.loads(frame)
    except ValueError:
        return None
    return data.get("event") if isinstance(data, dict) else None
