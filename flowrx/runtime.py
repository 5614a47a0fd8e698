"""Process tuning for live hosts: the cyclic garbage collector taken off the hot path.

flowrx's steady state makes no reference cycles: its state is trees of frozen records and
tuples, freed by reference counting the moment a newer state replaces them
(``tests/test_runtime.py`` checks it over simulated runs). Python's cyclic collector still
scans the young objects every few hundred frames and finds nothing, and each scan stalls the
event loop: on the 2-core benchmark machine, at 5,000 frames/s, those passes took 0.5 to 7 ms
each, and every frame that arrived meanwhile waited, which alone decided the p99 latency.

:func:`periodic_collection` is the usual remedy, opt-in because it is process-wide: freeze
what is alive (modules, graph, pipeline), turn automatic collection off, and collect in full
every ``every`` seconds on the host's event loop, so cycles that other libraries make (asyncio,
websockets, the host) are still reclaimed, at a moment and a rate the host chose.
``flowrx watch`` and ``flowrx demo`` use it; the latency benchmark measures with and without.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Protocol

__all__ = ["periodic_collection"]


class _Loop(Protocol):
    """What :func:`periodic_collection` needs of an event loop (``call_later``)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        """Run ``callback`` once after ``delay`` seconds."""


def periodic_collection(loop: _Loop, every: float = 60.0) -> Callable[[], None]:
    """Freeze what is alive, stop automatic collection, collect every ``every`` seconds.

    Returns the undo: it cancels the timer, unfreezes, and turns automatic collection back on
    if it was on. Call it once the pipeline is wired (so the startup objects are frozen).
    """
    if not every > 0:
        raise ValueError(f"collection interval must be positive, got {every}")
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    handle: list[asyncio.TimerHandle] = []

    def collect() -> None:
        gc.collect()
        handle[0] = loop.call_later(every, collect)

    handle.append(loop.call_later(every, collect))

    def undo() -> None:
        handle[0].cancel()
        gc.unfreeze()
        if was_enabled:
            gc.enable()

    return undo
