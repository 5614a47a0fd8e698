"""``retry_with_backoff``: resubscribe after an error, after a capped exponential delay.

reactivex's ``retry`` resubscribes at once and as often as asked; a concern's last line of
defence must instead wait (``first``, doubling, at most ``cap`` seconds, on the injected
scheduler through ``reactivex.timer``), report the failure downstream as a value (the concern's
health shows it), and go on. Items the source emits while it is down are not seen: the source
is hot, and resubscribing is the last line, not the isolation (which is per event, inside the
concern's ``scan``).

Marble (``first`` = 2 ticks)::

    source    -a-b-#              # = an error; the source is resubscribed after the backoff
    result    -a-b-f---c-d-       f = on_failure(error, 1); c, d from the new subscription
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable

__all__ = ["retry_with_backoff"]

_T = TypeVar("_T")


def retry_with_backoff(
    scheduler: abc.SchedulerBase,
    *,
    first: float = 0.1,
    cap: float = 30.0,
    on_failure: Callable[[Exception, int], _T] | None = None,
) -> Callable[[Observable[_T]], Observable[_T]]:
    """Resubscribe to the source ``first·2ⁿ`` seconds (at most ``cap``) after its n-th error,
    emitting ``on_failure(error, n)`` first when given."""

    def _retry(source: Observable[_T]) -> Observable[_T]:
        def subscribe(
            observer: abc.ObserverBase[_T], scheduler_: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            failures = 0
            current = SerialDisposable()

            def attach(*_: Any) -> None:
                current.disposable = source.subscribe(
                    observer.on_next, on_error, observer.on_completed, scheduler=scheduler_
                )

            def on_error(error: Exception) -> None:
                nonlocal failures
                failures += 1
                if on_failure is not None:
                    observer.on_next(on_failure(error, failures))
                delay = min(cap, first * 2 ** min(failures - 1, 16))
                current.disposable = reactivex.timer(delay, scheduler=scheduler).subscribe(attach)

            attach()
            return current

        return Observable(subscribe)

    return _retry
