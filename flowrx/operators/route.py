"""Route by concern: the shared message stream, split into one observable per concern.

Every concern receives the ``(message, now)`` pairs its own predicate (``Concern.accepts``)
takes, so adding a concern never touches another's routing.

:class:`Partition` is the pipeline's router: **one** subscription to the shared stream and, per
message, one call of each concern's predicate and a direct call of each accepting branch. It
replaces ``publish`` plus seven filters, whose Subject and per-branch observer layers cost more
than most concerns' reducers (about 22 observer calls per frame). A branch that raises is
reported to ``on_error_in_branch`` with the branch's name and the other branches still get the
message: one concern's failure never costs another concern its event.

:func:`route` is the same filter as a standalone operator, for embedding one concern alone.

Marble::

    messages  -a-b-c-d-|      a, c are node events; b is chat; d is a tool event
    partition.branch(visual accepts)
              -a---c---|
    partition.branch(chat accepts)
              ---b-----|
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from flowrx.messages import Message
from flowrx.operators._direct import direct

__all__ = ["Partition", "route"]

Item = tuple[Message, float]
Accepts = Callable[[Message], bool]
_Route = tuple[Accepts, abc.ObserverBase[Item], str, bool]
_Plan = tuple[tuple[Accepts | None, abc.ObserverBase[Item], str], ...]


def route(accepts: Accepts) -> Callable[[Observable[Item]], Observable[Item]]:
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


class Partition:
    """One shared stream split into per-predicate branches (a hot, connectable router).

    Subscribe every :meth:`branch` first, then :meth:`connect` once: like ``publish`` +
    ``connect``, items arriving before a branch subscribes are not replayed to it.

    A branch made with ``by_kind=True`` promises that its predicate depends only on the
    message's type and ``event``: the router asks it once per kind and keeps a dispatch plan
    per kind, so most messages cost one dictionary lookup instead of one call per branch.
    """

    def __init__(
        self,
        source: Observable[Item],
        on_error_in_branch: Callable[[str, BaseException, Item], None] | None = None,
    ) -> None:
        self._source = source
        self._routes: list[_Route] = []
        self._plans: dict[tuple[type, Any] | None, _Plan] = {}
        self._on_error_in_branch = on_error_in_branch
        self._connection: SingleAssignmentDisposable | None = None

    def branch(
        self, accepts: Accepts, name: str = "branch", by_kind: bool = False
    ) -> Observable[Item]:
        """The observable of the items ``accepts`` takes (``name`` says whose, in reports)."""

        def subscribe(
            observer: abc.ObserverBase[Item], _: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            entry = (accepts, observer, name, by_kind)
            self._routes = [*self._routes, entry]  # copy on write: dispatch may be iterating
            self._plans = {}

            def remove() -> None:
                self._routes = [r for r in self._routes if r is not entry]
                self._plans = {}

            return Disposable(remove)

        return direct(subscribe)

    def _failed(self, name: str, exc: Exception, item: Item) -> None:
        if self._on_error_in_branch is None:
            raise exc
        self._on_error_in_branch(name, exc, item)

    def _plan(self, item: Item) -> tuple[_Plan, bool]:
        """Who gets messages of this item's kind, in branch order (``None`` for a branch that
        takes them all, else its predicate), and whether the plan may be kept for the kind."""
        plan: list[tuple[Accepts | None, abc.ObserverBase[Item], str]] = []
        keep = True
        for accepts, observer, name, by_kind in self._routes:
            if not by_kind:
                plan.append((accepts, observer, name))
                continue
            try:
                if accepts(item[0]):
                    plan.append((None, observer, name))
            except Exception as exc:  # asked again next time: no plan kept for this kind
                keep = False
                self._failed(name, exc, item)
        return tuple(plan), keep

    def connect(self) -> abc.DisposableBase:
        """Subscribe to the source (once); dispose the result to disconnect every branch."""
        if self._connection is not None:
            return self._connection
        connection = SingleAssignmentDisposable()
        self._connection = connection

        def on_next(item: Item) -> None:
            msg = item[0]
            event = getattr(msg, "event", None)
            kind = (type(msg), event) if type(event) is str else None  # None: never kept
            plans = self._plans
            plan = plans.get(kind)
            if plan is None:
                plan, keep = self._plan(item)
                if keep and kind is not None:
                    plans[kind] = plan
            for accepts, observer, name in plan:
                try:
                    if accepts is None or accepts(msg):
                        observer.on_next(item)
                except Exception as exc:  # one branch's failure is not the others'
                    self._failed(name, exc, item)

        def on_error(error: Exception) -> None:
            for _, observer, _, _ in self._routes:
                observer.on_error(error)

        def on_completed() -> None:
            for _, observer, _, _ in self._routes:
                observer.on_completed()

        connection.disposable = self._source.subscribe(on_next, on_error, on_completed)
        return connection
