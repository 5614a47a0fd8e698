"""One concern as an Rx pipeline: ``route`` → ``scan`` over the guarded reducer → timers →
``retry_with_backoff``.

:func:`concern` is the operator the pipeline applies to the shared message stream once per
card::

    messages ─ route(card.accepts) ─┐
                  fired timers ─────┴─ merge ─ scan(guarded(card.reduce))
        ─ distinct_until_changed(is) ─ do_action(timers) ─ retry_with_backoff ─▶ steps

* **Isolation is per event, inside the scan.** :func:`guarded` calls the pure reducer in a
  guard: a failure of one event keeps the state from before it and the step carries a
  :class:`Failure`; the next event carries on. No observable per event, no resubscription.
* **A batch is folded by the same guard**, item by item, into one step (its effects in order,
  every failure): a burst crosses the graph once.
* **Timers are data.** The reducer's ``StartTimer``/``CancelTimer`` effects become
  ``reactivex.timer`` subscriptions on the injected scheduler (``Timers``, in ``do_action``),
  whose firing
  comes back as ``TimerFired`` through the same scan: every rule runs in virtual time in tests.
* **An input that changes nothing emits no step** (the guard returns the same step object,
  ``distinct_until_changed`` drops it): most frames leave most concerns as they were.
* **Last line**: a failure outside the guard (a timer request that cannot be scheduled) ends
  the inner pipeline; ``retry_with_backoff`` reports it as a degraded step and resubscribes after
  a capped exponential backoff, from the last good state. Inputs that arrive meanwhile are lost,
  and the restart is counted in health. Pending timers survive a restart; disposing the
  concern cancels them all.

Marble (``-`` = 100 ms, visual concern)::

    messages  -s----e------------
    steps     -a----b----c-------    c = the end window's TimerFired step
"""

from __future__ import annotations

import operator
import traceback
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar

import attrs
import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable
from reactivex.subject import Subject

from flowrx.concerns.effects import Concern, Effect, Input, Reduce, TimerFired
from flowrx.operators._retry_backoff import retry_with_backoff
from flowrx.operators._route import route
from flowrx.operators._timers import Timers

__all__ = ["Failure", "InjectedFault", "Item", "Step", "concern", "guarded", "inject_fault"]

S = TypeVar("S")


class InjectedFault(RuntimeError):
    """Raised by :func:`inject_fault`'s reducer on the events chosen to fail."""


@attrs.frozen
class Failure:
    """One event a concern could not apply: which concern, which message, why."""

    concern: str
    message: object
    error: BaseException
    traceback: str = attrs.field(repr=False)

    @property
    def event(self) -> str:
        """The failed message's event name."""
        return str(getattr(self.message, "event", type(self.message).__name__))

    @property
    def run_id(self) -> str | None:
        """The failed message's run, if any."""
        run_id = getattr(self.message, "run_id", None)
        return run_id if isinstance(run_id, str) else None

    @property
    def node_id(self) -> str | None:
        """The failed message's node, if any."""
        node_id = getattr(self.message, "node_id", None)
        return node_id if isinstance(node_id, str) else None


@attrs.frozen
class Step(Generic[S]):
    """What a concern's scan emits for an input (or batch) that changed something: the state
    after it, its effects, the failures among its events, and the concern's failure counts
    and health."""

    concern: str
    state: S
    effects: tuple[Effect, ...] = ()
    failed: tuple[Failure, ...] = ()
    failures: int = 0
    streak: int = 0
    restarts: int = 0
    degraded: bool = False

    @property
    def failure(self) -> Failure | None:
        """The last failure of this step's events, if any."""
        return self.failed[-1] if self.failed else None


Item: TypeAlias = tuple[Input, float]
"""What a concern's scan takes: a message (or fired timer) and the pipeline time it came at.
A burst is a ``list`` of items (a batch)."""


def inject_fault(concern: Concern[S], rate: float = 1.0) -> Concern[S]:
    """A copy of ``concern`` whose reducer raises on a deterministic ``rate`` of its events.

    The choice is evenly spread and the same on every run (event *n* fails when
    ``floor((n+1)·rate) > floor(n·rate)``), so faulty runs are reproducible.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate must be within 0..1, got {rate}")
    inner = concern.reduce
    seen = [0]

    def reduce(state: S, msg: Input, now: float) -> tuple[S, tuple[Effect, ...]]:
        n = seen[0]
        seen[0] = n + 1
        if int((n + 1) * rate) > int(n * rate):
            raise InjectedFault(f"injected fault in {concern.name} (event {n})")
        return inner(state, msg, now)

    return attrs.evolve(concern, reduce=reduce)


def guarded(
    reduce: Reduce[S], name: str, degraded_after: int = 5
) -> Callable[[Step[S], Item | list[Item]], Step[S]]:
    """The concern's ``scan`` accumulator: the pure reducer called inside a guard.

    Returns the same step object when the input changed nothing (same state object, no
    effects, no failure or degraded health to clear). A failing event keeps the state from
    before it and its step carries the :class:`Failure`. A batch is folded event by event with
    the same guard into one step: its state after the last event, every event's effects in
    order, every failure, and the health the same events one by one would leave.
    """

    def one(acc: Step[S], item: Item) -> Step[S]:
        msg, now = item
        try:
            state, effects = reduce(acc.state, msg, now)
        except Exception as exc:
            streak = acc.streak + 1
            return Step(
                concern=name,
                state=acc.state,
                failed=(Failure(name, msg, exc, traceback.format_exc()),),
                failures=acc.failures + 1,
                streak=streak,
                restarts=acc.restarts,
                degraded=streak >= degraded_after,
            )
        unchanged = state is acc.state and not effects
        if unchanged and not (acc.failed or acc.streak or acc.degraded):
            return acc  # nothing changed and nothing to clear
        return Step(
            concern=name,
            state=state,
            effects=effects,
            failures=acc.failures,
            restarts=acc.restarts,
        )

    def fold(acc: Step[S], items: list[Item]) -> Step[S]:
        state = acc.state
        effects: list[Effect] = []
        failed: list[Failure] = []
        streak = acc.streak
        for msg, now in items:
            try:
                state, out = reduce(state, msg, now)
            except Exception as exc:  # this event is lost in this concern, and nothing else
                failed.append(Failure(name, msg, exc, traceback.format_exc()))
                streak += 1
                continue
            streak = 0
            effects.extend(out)
        unchanged = state is acc.state and not effects and not failed
        if unchanged and not (acc.failed or acc.streak or acc.degraded):
            return acc
        return Step(
            concern=name,
            state=state,
            effects=tuple(effects),
            failed=tuple(failed),
            failures=acc.failures + len(failed),
            streak=streak,
            restarts=acc.restarts,
            degraded=streak >= degraded_after,
        )

    def step(acc: Step[S], item: Item | list[Item]) -> Step[S]:
        if type(item) is list:
            return fold(acc, item)
        return one(acc, item)  # type: ignore[arg-type]  # an Item: not a list

    return step


def _fired(key: Hashable, payload: Any) -> TimerFired:
    run_id = key[1] if isinstance(key, tuple) and len(key) > 1 else None
    return TimerFired(key, payload, run_id if isinstance(run_id, str) else None)


def concern(
    card: Concern[S],
    scheduler: abc.SchedulerBase,
    clock: Callable[[], float],
    *,
    degraded_after: int = 5,
    max_backoff: float = 30.0,
    on_route_error: Callable[[Exception, Any], None] | None = None,
    timers_seen: Callable[[Mapping[Hashable, object]], None] | None = None,
) -> Callable[[Observable[Any]], Observable[Step[S]]]:
    """The operator that runs ``card`` over the shared stream of ``(message, now)`` items.

    ``now`` is the pipeline time at which intake received the message; ``clock`` gives the
    time for fired timers. Timers run on ``scheduler`` (virtual in tests, asyncio when live).
    ``on_route_error`` hears of a routing predicate that raised (the item is not taken, the
    stream goes on); without it the input is taken as routed already (a branch of
    :func:`~flowrx.operators._partition.partition_by`, as the pipeline wires it);
    ``timers_seen`` receives the live mapping of pending timers (health counts it).
    """
    accumulate = guarded(card.reduce, card.name, degraded_after)

    def broken(last: Step[S], error: Exception) -> Step[S]:
        """The step a failure outside the guard leaves: degraded, the restart counted."""
        failure = Failure(card.name, None, error, "".join(traceback.format_exception(error)))
        return attrs.evolve(
            last,
            effects=(),
            failed=(failure,),
            failures=last.failures + 1,
            restarts=last.restarts + 1,
            degraded=True,
        )

    def _concern(messages: Observable[Any]) -> Observable[Step[S]]:
        def subscribe(
            observer: abc.ObserverBase[Step[S]], _: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            fired: Subject[Item] = Subject()
            last = Step(card.name, card.initial)

            def fire(key: Hashable, payload: Any) -> None:
                fired.on_next((_fired(key, payload), clock()))

            timers = Timers(scheduler, fire)
            if timers_seen is not None:
                timers_seen(timers.pending)

            def applied(step: Step[S]) -> None:  # remembered for a restart; its timers run
                nonlocal last
                last = step
                if step.effects:
                    timers.request(step.effects)

            def restart(error: Exception, _: int) -> Step[S]:
                nonlocal last
                last = broken(last, error)
                return last

            def steps(_: abc.SchedulerBase) -> Observable[Step[S]]:
                seed = last if not last.failed else attrs.evolve(last, effects=(), failed=())
                mine = (
                    messages
                    if on_route_error is None
                    else messages.pipe(route(card.accepts, on_route_error))
                )
                return reactivex.merge(mine, fired).pipe(
                    ops.scan(accumulate, seed),
                    ops.distinct_until_changed(comparer=operator.is_),
                    ops.do_action(applied),
                )

            pipeline = reactivex.defer(steps).pipe(
                retry_with_backoff(scheduler, cap=max_backoff, on_failure=restart)
            )
            return CompositeDisposable(pipeline.subscribe(observer), timers)

        return Observable(subscribe)

    return _concern
