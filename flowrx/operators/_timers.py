"""``Timers``: a reducer's timer requests, run as ``reactivex.timer`` subscriptions by key.

A concern's reducer asks for timers as data (``StartTimer(key, delay)``, ``CancelTimer(key)``
among a step's effects). :meth:`Timers.request` (the concern's ``do_action``) subscribes a
``reactivex.timer(delay, scheduler)`` under each started key, disposing the key's pending one
(a restart), or disposes the key's timer (a cancel). A timer that fires calls
``fire(key, payload)``, which the concern feeds back into its own ``scan``. ``pending`` is the
live mapping of pending timers (health counts it); :meth:`Timers.dispose` cancels them all.
The concern keeps its timers across a restart of its inner pipeline.

One ``reactivex.timer`` per request, kept by key, is the formulation that keeps memory flat:
per-key operators (``group_by`` + ``switch_latest``) keep a group alive for every key ever
seen (run and node keys never come back), and ``group_by_until`` costs ~20 times as much a
timer. A request that cannot be scheduled (a delay that is no number) raises: inside
``do_action`` that is an error downstream, and the concern's last line
(``retry_with_backoff``) takes over.

Marble (``s`` asks for a timer of 3 ticks on key k, ``c`` cancels k)::

    steps   -s----s-c--s---
    fire    ----------------k    only the last request fires: 3 ticks after it
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

import reactivex
from reactivex import abc

from flowrx.concerns.effects import CancelTimer, StartTimer

__all__ = ["Timers"]


class Timers(abc.DisposableBase):
    """One concern's pending timers, by key, on ``scheduler``."""

    def __init__(self, scheduler: abc.SchedulerBase, fire: Callable[[Hashable, Any], None]):
        self._scheduler = scheduler
        self._fire = fire
        self.pending: dict[Hashable, abc.DisposableBase] = {}
        """The timers not yet fired or cancelled, by key (read-only for others)."""

    def request(self, effects: Iterable[object]) -> None:
        """Start, restart or cancel the timers that ``effects`` ask for (others are ignored)."""
        pending = self.pending
        for effect in effects:
            kind = type(effect)
            if kind is StartTimer:
                self._start(effect)  # type: ignore[arg-type]  # checked: a StartTimer
            elif kind is CancelTimer:
                old = pending.pop(effect.key, None)  # type: ignore[attr-defined]
                if old is not None:
                    old.dispose()

    def _start(self, request: StartTimer) -> None:
        key, payload = request.key, request.payload
        timer = reactivex.timer(max(request.delay, 0.0), scheduler=self._scheduler)
        old = self.pending.pop(key, None)
        if old is not None:
            old.dispose()

        def fired(_: Any) -> None:
            self.pending.pop(key, None)
            self._fire(key, payload)

        self.pending[key] = timer.subscribe(fired)

    def dispose(self) -> None:
        """Cancel every pending timer."""
        for timer in list(self.pending.values()):
            timer.dispose()
        self.pending.clear()
