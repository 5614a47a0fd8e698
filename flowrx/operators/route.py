"""Route by concern: the shared message stream, filtered to what one concern handles.

Every concern subscribes to the one shared observable of ``(message, now)`` pairs through
``route(card.accepts)``. The predicate is the concern's own (``Concern.accepts``), so adding a
concern never touches another's routing. It is a lean filter (one closure, no operator chain):
it runs seven times per frame.

Marble::

    messages  -a-b-c-d-|      a, c are node events; b is chat; d is a tool event
    route(visual accepts)
              -a---c---|
"""

from __future__ import annotations

from collections.abc import Callable

import reactivex
from reactivex import Observable, abc

from flowrx.messages import Message

__all__ = ["route"]

Item = tuple[Message, float]


def route(accepts: Callable[[Message], bool]) -> Callable[[Observable[Item]], Observable[Item]]:
    """Keep the ``(message, now)`` pairs whose message ``accepts`` takes."""

    def operator(source: Observable[Item]) -> Observable[Item]:
        def subscribe(
            observer: abc.ObserverBase[Item], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            on_next = observer.on_next

            def forward(item: Item) -> None:
                if accepts(item[0]):
                    on_next(item)

            return source.subscribe(
                forward, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return reactivex.create(subscribe)

    return operator
