"""``route``: a concern's share of the message stream (``filter``, for items and batches).

Like ``reactivex.operators.filter``, with two differences the pipeline needs:

* a batch (a ``list`` of items, how a burst crosses the graph) is filtered item by item and
  passed on as the batch of what was kept (nothing when nothing was kept; a batch of one as
  that item alone, on the normal path);
* a predicate that raises does not end the stream: ``on_error(exc, item)`` is told, the item
  is not taken, and the next item is asked as usual (one concern's bad routing never costs it,
  or anyone else, the stream).

Marble::

    messages  -a-b-[cd]-e-|     a, c, e are node events; b is chat; [cd] a batch
    route(node events)
              -a---c----e-|     the batch's kept part, one item: on the normal path
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from reactivex import Observable, abc

__all__ = ["route", "split_batch"]

_T = TypeVar("_T")


def split_batch(
    accepts: Callable[[Any], bool], on_error: Callable[[Exception, Any], None], batch: list[Any]
) -> Any | None:
    """What one branch takes of a batch: the batch of the items ``accepts`` takes, that item
    alone when it takes one, ``None`` when it takes none. A predicate that raises is asked
    again item by item, so that only the failing items are reported (and not taken)."""
    try:
        kept = [item for item in batch if accepts(item[0])]
    except Exception:
        kept = []
        for item in batch:
            try:
                if accepts(item[0]):
                    kept.append(item)
            except Exception as exc:  # counted for this branch; the stream goes on
                on_error(exc, item)
    if len(kept) > 1:
        return kept
    return kept[0] if kept else None


def route(
    accepts: Callable[[_T], bool],
    on_error: Callable[[Exception, Any], None],
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Keep the items (and the parts of batches) whose first element ``accepts`` takes."""

    def _route(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            def on_next(value: Any) -> None:
                if type(value) is not list:
                    try:
                        take = accepts(value[0])
                    except Exception as exc:  # counted for this concern; the stream goes on
                        on_error(exc, value)
                        return
                    if take:
                        observer.on_next(value)
                    return
                kept = split_batch(accepts, on_error, value)
                if kept is not None:
                    observer.on_next(kept)

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return Observable(subscribe)

    return _route
