"""The intake operator: raw frames and host controls in, ``(message, now)`` pairs out.

Wraps the pure :func:`~flowrx.streams.intake.reduce_intake` in one Rx operator: the clock is
read once per input, the reducer's state is kept in the operator's accumulator (and mirrored to
the state handle for diagnostics), notices go to the log. It never errors downstream: a bug in
the reducer itself costs that one frame, counted as rejected, and intake carries on.

Marble::

    frames    -a--p--x--a-|      p = "pong", x = not JSON, second a = duplicate
    ingest    -A----------|      counters: frames 4, messages 1, heartbeats 1, rejected 1,
                                 duplicates 1
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
from reactivex import Observable, abc

from flowrx.messages import Message
from flowrx.operators._direct import direct
from flowrx.operators.effects import Config
from flowrx.streams.intake import IntakeState, Notice, reduce_intake

__all__ = ["ingest"]


def ingest(
    config: Config,
    clock: Callable[[], float],
    on_state: Callable[[IntakeState], None],
    on_notice: Callable[[Notice], None],
) -> Callable[[Observable[object]], Observable[tuple[Message, float]]]:
    """Parse, dedupe and count every input; emit the messages with their arrival time."""

    def operator(source: Observable[object]) -> Observable[tuple[Message, float]]:
        def subscribe(
            observer: abc.ObserverBase[tuple[Message, float]],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            state = [IntakeState()]

            def on_next(item: object) -> None:
                now = clock()
                try:
                    new, outputs = reduce_intake(state[0], item, now, config)
                except Exception as exc:  # a bug in intake must not stop the intake
                    counters = state[0].counters
                    bumped = attrs.evolve(
                        counters, frames=counters.frames + 1, rejected=counters.rejected + 1
                    )
                    new, outputs = (
                        attrs.evolve(state[0], counters=bumped),
                        (Notice("rejected", f"intake error: {exc!r}"),),
                    )
                state[0] = new
                on_state(new)
                for out in outputs:
                    if isinstance(out, Notice):
                        on_notice(out)
                    else:
                        observer.on_next((out, now))

            return source.subscribe(
                on_next, observer.on_error, observer.on_completed, scheduler=scheduler
            )

        return direct(subscribe)

    return operator
