"""Run one concern as an isolated Rx pipeline: guarded ``scan`` plus timers on a scheduler.

``run_concern`` feeds the concern's routed messages and its own fired timers into a ``scan``
whose step calls the pure reducer inside a guard. A failure of one event keeps the state from
before that event and emits a :class:`Failure`; the next event carries on (isolation per event,
not by resubscription, and without an observable per event). Timers are data: the reducer's
:class:`~flowrx.operators.effects.StartTimer` effects are scheduled on the injected scheduler
and come back as :class:`~flowrx.operators.effects.TimerFired` through the same scan, so every
rule runs in virtual time in tests. Disposing the subscription cancels every timer. An input
that changes nothing (the reducer returns the same state object and no effects, and there is no
failure or degraded health to clear) emits no step: most frames leave most concerns as they
were, and a step per input cost more than some reducers.

Last line of defence: a failure outside the guard (the timer bookkeeping, say) takes the
concern down; inputs are lost until a capped exponential backoff brings it back with the last
good state (nothing is reset), and the restart is counted in health.

Marble (``-`` = 100 ms, visual concern)::

    messages  -s----e------------
    steps     -a----b----c-------    c = the end window's TimerFired step
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

import attrs
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

from flowrx.messages import Message
from flowrx.operators._direct import direct
from flowrx.operators.effects import CancelTimer, Concern, Effect, Input, StartTimer, TimerFired

__all__ = ["Failure", "InjectedFault", "Step", "inject_fault", "run_concern"]

S = TypeVar("S")


class InjectedFault(RuntimeError):
    """Raised by :func:`inject_fault`'s reducer on the events chosen to fail."""


@attrs.frozen(slots=False)  # a cheaper __init__: see flowrx.operators._maps
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


@attrs.frozen(slots=False)  # a cheaper __init__: see flowrx.operators._maps
class Step(Generic[S]):
    """What a concern's scan emits for an input that changed something: the state after it,
    its effects, or its failure, and the concern's failure counts and health."""

    concern: str
    state: S
    effects: tuple[Effect, ...] = ()
    failure: Failure | None = None
    failures: int = 0
    streak: int = 0
    restarts: int = 0
    degraded: bool = False


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


def run_concern(
    concern: Concern[S],
    messages: Observable[tuple[Message, float]],
    scheduler: abc.SchedulerBase,
    clock: Callable[[], float],
    *,
    degraded_after: int = 5,
    max_backoff: float = 30.0,
    timers_seen: Callable[[Mapping[Hashable, object]], None] | None = None,
) -> Observable[Step[S]]:
    """The concern's stream of steps, fed by ``messages`` (already routed to it: see
    :func:`~flowrx.operators.route.route`) and its own timers.

    ``messages`` carry the pipeline time at which intake received them (read once per frame);
    ``clock`` gives the time for fired timers. Both reach the reducer as ``now``. Timers run on
    ``scheduler`` (virtual in tests, asyncio when live).
    ``timers_seen`` receives the live mapping of pending timers (read-only use: health and the
    memory suite count them).

    The scan is fused into one operator (accumulator, effects, emission in one call per input):
    RxPY's ``scan`` + ``merge`` + ``do_action`` cost several observer layers per event, paid
    seven times per frame.
    """
    reduce = concern.reduce
    name = concern.name

    def subscribe(
        observer: abc.ObserverBase[Step[S]], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        timers: dict[Hashable, abc.DisposableBase] = {}
        last: list[Step[S]] = [Step(concern.name, concern.initial)]
        down = [False]  # after a failure outside the guard, until the backoff restarts it
        restart = SerialDisposable()
        if timers_seen is not None:
            timers_seen(timers)

        def fire(key: Hashable, payload: Any) -> Callable[[abc.SchedulerBase, Any], None]:
            def action(_: abc.SchedulerBase, __: Any = None) -> None:
                timers.pop(key, None)
                run_id = key[1] if isinstance(key, tuple) and len(key) > 1 else None
                fired = TimerFired(key, payload, run_id if isinstance(run_id, str) else None)
                process((fired, clock()))

            return action

        def apply_effects(step: Step[S]) -> None:
            for effect in step.effects:
                if isinstance(effect, StartTimer):
                    old = timers.pop(effect.key, None)
                    if old is not None:
                        old.dispose()
                    timers[effect.key] = scheduler.schedule_relative(
                        max(effect.delay, 0.0), fire(effect.key, effect.payload)
                    )
                elif isinstance(effect, CancelTimer):
                    old = timers.pop(effect.key, None)
                    if old is not None:
                        old.dispose()

        def broken(error: Exception) -> None:
            """Last line: a failure outside the guard. Inputs are lost until a capped backoff
            restarts the concern with the state it had; the restart is counted in health."""
            restarts = last[0].restarts
            failure = Failure(concern.name, None, error, "".join(traceback.format_exception(error)))
            last[0] = attrs.evolve(
                last[0],
                effects=(),
                failure=failure,
                failures=last[0].failures + 1,
                restarts=restarts + 1,
                degraded=True,
            )
            down[0] = True
            observer.on_next(last[0])

            def back(*_: Any) -> None:
                down[0] = False
                last[0] = attrs.evolve(last[0], effects=(), failure=None)

            delay = min(max_backoff, 0.1 * 2 ** min(restarts, 16))
            restart.disposable = scheduler.schedule_relative(delay, back)

        def process(item: tuple[Input, float]) -> None:
            if down[0]:
                return
            acc = last[0]
            msg, now = item
            try:  # the guarded scan accumulator
                state, effects = reduce(acc.state, msg, now)
            except Exception as exc:
                failure = Failure(name, msg, exc, traceback.format_exc())
                streak = acc.streak + 1
                step = Step(
                    name,
                    acc.state,
                    (),
                    failure,
                    acc.failures + 1,
                    streak,
                    acc.restarts,
                    streak >= degraded_after,
                )
            else:
                if (
                    state is acc.state
                    and not effects
                    and acc.failure is None
                    and not acc.streak
                    and not acc.degraded
                ):
                    return  # nothing changed and nothing to clear: no step to emit
                step = Step(name, state, effects, None, acc.failures, 0, acc.restarts, False)
            last[0] = step
            try:
                if step.effects:
                    apply_effects(step)
            except Exception as exc:
                broken(exc)
                return
            observer.on_next(step)

        upstream = messages.subscribe(process, observer.on_error, observer.on_completed)

        def cancel_timers() -> None:
            for disposable in list(timers.values()):
                disposable.dispose()
            timers.clear()

        return CompositeDisposable(upstream, restart, Disposable(cancel_timers))

    return direct(subscribe)
