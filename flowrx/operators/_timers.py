"""``start_timers``: a reducer's timer requests, run as ``reactivex.timer`` subscriptions.

A concern's reducer asks for timers as data (``StartTimer(key, delay)``, ``CancelTimer(key)``
among a step's effects). This operator passes every step on unchanged and, for each request,
subscribes a ``reactivex.timer(delay, scheduler)`` under its key (disposing the key's pending
one: a restart), or disposes the key's timer (a cancel). A timer that fires calls
``fire(key, payload)``, which the concern feeds back into its own ``scan``. ``pending`` is the
live mapping of pending timers and belongs to the caller, which disposes what is left when it
is done: a concern keeps its timers across a restart of its inner pipeline, and cancels them
all when it is disposed (see :func:`cancel_all`).

One ``reactivex.timer`` per request, kept by key, is the formulation that keeps memory flat:
per-key operators (``group_by`` + ``switch_latest``) keep a group alive for every key ever
seen (run and node keys never come back), and ``group_by_until`` costs ~20 times as much a
timer.

A request that cannot be scheduled (a delay that is no number) is an error downstream: the
concern's last line (``retry_with_backoff``) takes over.

Marble (``s`` asks for a timer of 3 ticks on key k, ``c`` cancels k)::

    steps   -s----s-c--s---
    result  -s----s-c--s---      (unchanged)
    fire    ----------------k    only the last request fires: 3 ticks after it
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

from flowrx.concerns.effects import CancelTimer, StartTimer

__all__ = ["cancel_all", "start_timers"]


class _HasEffects(Protocol):
    @property
    def effects(self) -> Sequence[object]: ...


def start_timers(
    scheduler: abc.SchedulerBase,
    fire: Callable[[Hashable, Any], None],
    pending: dict[Hashable, abc.DisposableBase],
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Run the timer requests among each step's ``effects``; pass the steps on."""

    def _start_timers(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], _: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def start(request: StartTimer) -> None:
                key, payload = request.key, request.payload

                def fired(_: Any) -> None:
                    pending.pop(key, None)
                    fire(key, payload)

                timer = reactivex.timer(max(request.delay, 0.0), scheduler=scheduler)
                old = pending.pop(key, None)
                if old is not None:
                    old.dispose()
                pending[key] = timer.subscribe(fired)

            def on_next(step: _HasEffects) -> None:
                try:
                    for effect in step.effects:
                        if type(effect) is StartTimer:
                            start(effect)
                        elif type(effect) is CancelTimer:
                            old = pending.pop(effect.key, None)
                            if old is not None:
                                old.dispose()
                except Exception as exc:
                    observer.on_error(exc)
                    return
                observer.on_next(step)

            return source.subscribe(on_next, observer.on_error, observer.on_completed)

        return Observable(subscribe)

    return _start_timers


def cancel_all(pending: dict[Hashable, abc.DisposableBase]) -> abc.DisposableBase:
    """A disposable that disposes every timer still in ``pending``."""

    def cancel() -> None:
        for timer in list(pending.values()):
            timer.dispose()
        pending.clear()

    return Disposable(cancel)
