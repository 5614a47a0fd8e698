"""Route by concern: the shared message stream, filtered to what one concern handles.

Every concern subscribes to the one shared observable of ``(message, now)`` pairs through
``route(card.accepts)``. The predicate is the concern's own (``Concern.accepts``), so adding a
concern never touches another's routing.

Marble::

    messages  -a-b-c-d-|      a, c are node events; b is chat; d is a tool event
    route(visual accepts)
              -a---c---|
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reactivex import Observable
from reactivex import operators as ops

from flowrx.messages import Message

__all__ = ["route"]

T = TypeVar("T")


def route(
    accepts: Callable[[Message], bool],
) -> Callable[[Observable[tuple[Message, float]]], Observable[tuple[Message, float]]]:
    """Keep the ``(message, now)`` pairs whose message ``accepts`` takes."""
    return ops.filter(lambda item: accepts(item[0]))
