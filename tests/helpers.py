"""Plumbing shared by the test suite: the repository's paths, the suite's frames, log capture.

What a user writing their own tests would want (frame builders, ``Driver``, ``run_marbles``,
``fold``) lives in :mod:`flowrx.testing`; this module only binds those to the suite's own
conventions (run ``r1`` of flow ``f1``) and holds what nothing outside ``tests/`` needs.
Tests import it as ``helpers`` (pytest puts ``tests/`` on ``sys.path`` for its ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
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
