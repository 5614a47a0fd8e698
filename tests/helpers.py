"""Plumbing shared by the test suite: the repository's paths, the suite's frames, log capture,
servers' threads and a TCP relay that drops a connection.

What a user writing their own tests would want (frame builders, ``Driver``, ``run_marbles``,
``fold``) lives in :mod:`flowrx.testing`; this module only binds those to the suite's own
conventions (run ``r1`` of flow ``f1``) and holds what nothing outside ``tests/`` needs.
Tests import it as ``helpers`` (pytest puts ``tests/`` on ``sys.path`` for its ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from loguru import logger

from flowrx import testing

__all__ = [
    "EXAMPLES",
    "FLOW",
    "ROOT",
    "RUN",
    "LoopThread",
    "Relay",
    "cli",
    "end_node",
    "end_tool",
    "flowrx_logs",
    "frame",
    "run_end",
    "run_start",
    "start_node",
    "start_tool",
]

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root folder."""

EXAMPLES = ROOT / "examples"
"""The repository's examples folder (real recordings of the platform and their graphs)."""

RUN = "r1"
"""The run of the suite's hand-written frames, unless a test names another."""

FLOW = "f1"
"""The flow of the suite's hand-written frames."""


def cli(*argv: str) -> tuple[int, str, str]:
    """Run ``flowrx`` with ``argv`` in process: its exit code, standard output and error."""
    from flowrx.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv), out)
    return code, out.getvalue(), err.getvalue()


def frame(
    event: str, node: str | None = None, order: int = -1, status: str = "running", run: str = RUN
) -> str:
    """One execution frame of the suite's flow as the platform sends it (run events: no node)."""
    return testing.exec_frame(event, node, order, status, run=run, flow=FLOW)


def run_start(run: str = RUN) -> str:
    """A run_start frame."""
    return testing.run_start(run=run, flow=FLOW)


def run_end(run: str = RUN) -> str:
    """A run_end frame (its status is always "running" on the wire)."""
    return testing.run_end(run=run, flow=FLOW)


def start_node(node: str, order: int = 0, run: str = RUN) -> str:
    """A start_node frame."""
    return testing.start_node(node, order, run=run, flow=FLOW)


def end_node(node: str, order: int = 0, status: str = "success", run: str = RUN) -> str:
    """An end_node frame."""
    return testing.end_node(node, order, status, run=run, flow=FLOW)


def start_tool(node: str = "t1", run: str = RUN) -> str:
    """A start_tool frame (on tool node ``t1`` unless given)."""
    return testing.start_tool(node, run=run, flow=FLOW)


def end_tool(node: str = "t1", run: str = RUN) -> str:
    """An end_tool frame (on tool node ``t1`` unless given)."""
    return testing.end_tool(node, run=run, flow=FLOW)


def _record(message: Any) -> Any:
    return message.record


@contextmanager
def flowrx_logs(
    level: str, keep: Callable[[Any], Any] = _record, **options: Any
) -> Iterator[list[Any]]:
    """flowrx's loguru messages at ``level`` and above while the block runs, each as
    ``keep(message)`` (its record, unless told).

    flowrx keeps its logging disabled, as a library should; this enables it for the block and
    disables it again afterwards. ``options`` go to ``logger.add`` (the format is the message).
    """
    seen: list[Any] = []
    logger.enable("flowrx")
    sink = logger.add(lambda m: seen.append(keep(m)), level=level, format="{message}", **options)
    try:
        yield seen
    finally:
        logger.remove(sink)
        logger.disable("flowrx")


class LoopThread:
    """``main(ready, stop)`` on a fresh asyncio loop in a daemon thread, for a server that must
    not run on the test's own loop (so every task left on the test loop is the code under
    test's). ``main`` calls ``ready()`` once it serves and returns once ``stop`` is set; leaving
    the ``with`` block sets it and checks that the thread ended, within ``patience`` seconds
    (a hang guard, never a measurement)."""

    def __init__(
        self,
        main: Callable[[Callable[[], None], asyncio.Event], Awaitable[None]],
        patience: float = 300.0,
    ) -> None:
        self._main = main
        self._patience = patience
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self._main(self._ready.set, self._stop)

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(self._patience), "the server thread did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self._patience)
        assert not self._thread.is_alive(), "the server thread did not stop"


async def serve_asgi(
    app: Any, listening: Callable[[str], None], stop: asyncio.Event, **config: Any
) -> None:
    """Serve an ASGI ``app`` with uvicorn on 127.0.0.1, port 0, until ``stop`` is set, for a
    :class:`LoopThread`'s serve function; ``listening(url)`` once the socket listens (a client
    that comes before uvicorn serves waits in the backlog). ``config`` goes to
    ``uvicorn.Config``."""
    import socket

    import uvicorn

    settings = uvicorn.Config(
        app, log_config=None, access_log=False, timeout_graceful_shutdown=5, **config
    )
    server = uvicorn.Server(settings)
    sock = socket.create_server(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    listening(f"http://127.0.0.1:{sock.getsockname()[1]}")
    await stop.wait()
    server.should_exit = True
    await serving


_LAST_CHUNK = b"\r\n0\r\n\r\n"
"""How a chunked HTTP body ends (an SSE answer is chunked)."""


class Relay(LoopThread):
    """A TCP relay on 127.0.0.1, port 0 (:attr:`url`), in front of the HTTP server at
    ``target``: every connection is passed through byte for byte, except that connection
    number ``n`` (0-based, in the order they come) for each ``n`` in ``cuts`` is cut after
    ``cuts[n]`` bytes of the server's answer (headers included): the client gets those bytes
    and then a closed socket, mid-body, as when a proxy or a network drops. With ``drain``,
    the relay first reads the rest of that answer (a chunked body, to its last chunk) from
    the server and drops it, so the server has sent everything (a run in the background has
    ended) by the time the client sees the cut; without, it closes the server's side at once
    too (the server sees its client go away). :attr:`cut` counts the connections cut,
    :attr:`connections` all."""

    def __init__(
        self,
        target: str,
        cuts: Mapping[int, int],
        *,
        drain: bool = False,
        patience: float = 300.0,
    ) -> None:
        import urllib.parse

        parts = urllib.parse.urlsplit(target)
        assert parts.hostname is not None
        assert parts.port is not None
        self._target = (parts.hostname, parts.port)
        self._cuts = dict(cuts)
        self._drain = drain
        self.url = ""
        self.connections = 0
        self.cut = 0
        super().__init__(self._serve, patience)

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        ready()
        async with server:
            await stop.wait()

    async def _relay(self, client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        server, to_server = await asyncio.open_connection(*self._target)
        up = asyncio.create_task(self._pipe(client, to_server, None))
        down = asyncio.create_task(self._pipe(server, to_client, self._cuts.get(number)))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            for writer in (to_client, to_server):
                writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limit: int | None
    ) -> None:
        sent = 0
        while chunk := await reader.read(64 * 1024):
            if limit is not None and sent + len(chunk) >= limit:
                writer.write(chunk[: limit - sent])
                await writer.drain()
                self.cut += 1
                if self._drain:  # to the chunked body's last chunk (the connection stays open)
                    tail = chunk[-len(_LAST_CHUNK) :]
                    while not tail.endswith(_LAST_CHUNK) and (more := await reader.read(65536)):
                        tail = (tail + more)[-len(_LAST_CHUNK) :]
                return
            writer.write(chunk)
            sent += len(chunk)
            await writer.drain()
