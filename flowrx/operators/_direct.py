"""``direct``: ``reactivex.create`` for the pipeline's own links, without a layer per item.

An observable made by ``reactivex.create`` wraps every subscriber in an ``AutoDetachObserver``
whose ``on_next`` checks that the subscription has not stopped and then calls the subscriber's
callback: one more Python call per item and per link. A frame crosses about six such links on
its way through flowrx (source, intake, router, each accepting concern, the state store), and
those calls were a larger share of a frame's cost than some concerns' reducers.

:func:`direct` makes the same observable, with the same subscription semantics (the subscribe
function runs on the trampoline as Rx's does, an exception it raises goes to ``on_error``,
``on_error``/``on_completed`` stop the observer and dispose the subscription, disposing stops
it), but the observer it hands the producer has the subscriber's ``on_next`` callback itself
as its ``on_next`` until it stops, and a no-op after. A producer must therefore look
``observer.on_next`` up when it emits, not keep it from subscription time (every producer in
flowrx does).

Marble (no change in what is observed)::

    source          -a-b-|
    direct(source)  -a-b-|
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.internal import noop
from reactivex.observer import AutoDetachObserver
from reactivex.scheduler import CurrentThreadScheduler

__all__ = ["direct"]

_T = TypeVar("_T")

Subscribe = Callable[[abc.ObserverBase[_T], abc.SchedulerBase | None], abc.DisposableBase]


class _DirectObserver(AutoDetachObserver[_T]):
    """An auto-detaching observer whose ``on_next`` is the subscriber's callback, no layer
    between, until it stops (then a no-op, as the auto-detaching one's check would make it)."""

    def __init__(
        self,
        on_next: Callable[[_T], None] | None,
        on_error: Callable[[Exception], None] | None,
        on_completed: Callable[[], None] | None,
    ) -> None:
        super().__init__(on_next, on_error, on_completed)
        self.on_next = self._on_next  # type: ignore[method-assign, assignment]  # the point

    def on_error(self, error: Exception) -> None:
        self.on_next = noop  # type: ignore[method-assign]
        super().on_error(error)

    def on_completed(self) -> None:
        self.on_next = noop  # type: ignore[method-assign]
        super().on_completed()

    def dispose(self) -> None:
        self.on_next = noop  # type: ignore[method-assign]
        super().dispose()

    def fail(self, exn: Exception) -> bool:
        self.on_next = noop  # type: ignore[method-assign]
        return super().fail(exn)


class _Direct(Observable[_T]):
    def subscribe(
        self,
        on_next: abc.ObserverBase[_T] | Callable[[_T], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        on_completed: Callable[[], None] | None = None,
        *,
        scheduler: abc.SchedulerBase | None = None,
    ) -> abc.DisposableBase:
        """Subscribe an observer or callbacks, as ``Observable.subscribe`` does."""
        given: Any = on_next
        if isinstance(given, abc.ObserverBase) or callable(getattr(given, "on_next", None)):
            given, on_error, on_completed = given.on_next, given.on_error, given.on_completed
        observer: _DirectObserver[_T] = _DirectObserver(given, on_error, on_completed)

        def set_disposable(_: abc.SchedulerBase | None = None, __: Any = None) -> None:
            try:
                subscription = self._subscribe_core(observer, scheduler)
            except Exception as exc:
                if not observer.fail(exc):
                    raise
            else:
                observer.subscription = subscription

        trampoline = CurrentThreadScheduler.singleton()
        if trampoline.schedule_required():
            trampoline.schedule(set_disposable)
        else:
            set_disposable()
        return Disposable(observer.dispose)


def direct(subscribe: Subscribe[_T]) -> Observable[_T]:
    """An observable from ``subscribe``, like ``reactivex.create``, that calls each
    subscriber's ``on_next`` directly (see the module docstring)."""
    return _Direct(subscribe)
