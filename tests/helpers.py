"""Plumbing shared by the test suite: the repository's paths, the suite's frames, log capture.

What a user writing their own tests would want (frame builders, ``Driver``, ``run_marbles``,
``fold``) lives in :mod:`flowrx.testing`; this module only binds those to the suite's own
conventions (run ``r1`` of flow ``f1``) and holds what nothing outside ``tests/`` needs.
Tests import it as ``helpers`` (pytest puts ``tests/`` on ``sys.path`` for its ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loguru import logger

from flowrx import testing

__all__ = [
    "EXAMPLES",
    "FLOW",
    "ROOT",
    "RUN",
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
