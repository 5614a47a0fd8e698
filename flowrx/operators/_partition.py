"""``partition_by``: one stream split into branches by predicates, each asked once per item.

The shape of ``ops.publish()`` followed by one ``filter`` per branch, read in one pass: the
source is subscribed to once (when :meth:`Partition.connect` is called, after every branch has
its subscribers, as with ``publish().connect()``), and each item goes to every branch whose
predicate takes it. An item no branch takes costs one call per predicate and nothing else.

As ``route`` does for one branch:

* a batch (a ``list`` of items, how a burst crosses the graph) is split per branch: each gets
  the batch of what it takes (nothing when it takes nothing; a batch of one as that item alone);
* a predicate that raises does not end the stream: the branch's ``on_error(exc, item)`` is
  told, that branch does not take the item, the others do as usual;
* the source's completion or error goes to every branch.

Marble (``n`` node events, ``c`` chat; branch 1 takes nodes, branch 2 chat)::

    source    -n-c-[nc]-n-|
    branch 1  -n---n----n-|
    branch 2  ---c-c------|
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
from reactivex import Observable, abc
from reactivex.subject import Subject

from flowrx.operators._route import split_batch

__all__ = ["Partition", "partition_by"]


@attrs.define
class Partition:
    """The branches of a partitioned stream, and the switch that starts reading it."""

    branches: list[Observable[Any]]
    _source: Observable[Any] = attrs.field(alias="_source")
    _dispatch: _Dispatch = attrs.field(alias="_dispatch")

    def connect(self) -> abc.DisposableBase:
        """Subscribe to the source (once every branch has its subscribers)."""
        d = self._dispatch
        return self._source.subscribe(d.on_next, d.on_error, d.on_completed)


class _Dispatch:
    """Hands each item to the branches that take it (the partition's only observer)."""

    def __init__(
        self,
        accepts: Sequence[Callable[[Any], bool]],
        on_errors: Sequence[Callable[[Exception, Any], None]],
        subjects: Sequence[Subject[Any]],
    ) -> None:
        self.routes = list(zip(accepts, on_errors, subjects, strict=True))

    def on_next(self, value: Any) -> None:
        if type(value) is not list:
            msg = value[0]
            for accepts, on_error, subject in self.routes:
                try:
                    take = accepts(msg)
                except Exception as exc:  # counted for this branch; the others go on
                    on_error(exc, value)
                    continue
                if take:
                    subject.on_next(value)
            return
        for accepts, on_error, subject in self.routes:
            kept = split_batch(accepts, on_error, value)
            if kept is not None:
                subject.on_next(kept)

    def on_error(self, error: Exception) -> None:
        for _, _, subject in self.routes:
            subject.on_error(error)

    def on_completed(self) -> None:
        for _, _, subject in self.routes:
            subject.on_completed()


def partition_by(
    accepts: Sequence[Callable[[Any], bool]],
    on_errors: Sequence[Callable[[Exception, Any], None]],
) -> Callable[[Observable[Any]], Partition]:
    """Split a stream of ``(message, now)`` items (and batches of them) into one branch per
    predicate; ``on_errors[i]`` hears of ``accepts[i]`` raising. Call ``connect()`` on the
    result once every branch is subscribed to."""
    if len(accepts) != len(on_errors):
        raise ValueError("one error callback per predicate")

    def _partition(source: Observable[Any]) -> Partition:
        subjects: list[Subject[Any]] = [Subject() for _ in accepts]
        dispatch = _Dispatch(accepts, on_errors, subjects)
        return Partition(list(subjects), _source=source, _dispatch=dispatch)

    return _partition
