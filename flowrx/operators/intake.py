"""``intake``: raw frames and host controls in, ``(message, now)`` items out.

Runs a protocol's pure reducer (:class:`~flowrx.protocols.card.Protocol`: decode, per-run
dedupe, counting, eviction) as a scan over the input: the clock is read once per input, the
reducer's state is the operator's accumulator (and is handed to ``on_state`` for diagnostics),
notices go to ``on_notice``. It never errors downstream: a bug in the reducer itself costs that
one frame, counted as rejected, and intake carries on; an error of the input itself is noticed
(``source_failed``) and ends the stream as a completion, so the concerns keep their state and
their timers (a concern's ``retry_with_backoff`` is for its own failures, not the input's).

A batch (a ``list`` of frames: a burst) is taken in one go and its messages leave as one batch
(a batch of one as that item alone, on the normal path). A single frame's messages (an
``Evict`` and the message that caused it, say) leave one by one, as they always did.

Marble::

    frames    -a--p--x--a-|      p = "pong", x = not JSON, second a = duplicate
    intake    -A----------|      counters: frames 4, messages 1, heartbeats 1, rejected 1,
                                 duplicates 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from flowrx.config import Config
from flowrx.messages import Message
from flowrx.protocols.card import Notice, Protocol

__all__ = ["intake"]


def intake(
    protocol: Protocol[Any],
    config: Config,
    clock: Callable[[], float],
    on_state: Callable[[Any], None],
    on_notice: Callable[[Notice], None],
) -> Callable[[Observable[Any]], Observable[Any]]:
    """Decode, dedupe and count every input with ``protocol``; emit the messages with their
    arrival time."""
    reduce = protocol.reduce

    def _intake(source: Observable[Any]) -> Observable[Any]:
        def subscribe(
            observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            state = protocol.initial

            def take(item: object, now: float, out: list[tuple[Message, float]]) -> None:
                nonlocal state
                try:
                    state, outputs = reduce(state, item, now, config)
                except Exception as exc:  # a bug in intake must not stop the intake
                    state = protocol.rejected(state)
                    outputs = (Notice("rejected", f"intake error: {exc!r}"),)
                for output in outputs:
                    if type(output) is Notice:
                        on_notice(output)
                    else:
                        out.append((output, now))  # type: ignore[arg-type]  # a Message

            def on_next(value: Any) -> None:
                out: list[tuple[Message, float]] = []
                now = clock()
                if type(value) is not list:  # one frame: its messages one by one
                    take(value, now, out)
                    on_state(state)
                    for item in out:
                        observer.on_next(item)
                    return
                for frame in value:
                    take(frame, now, out)
                on_state(state)
                if len(out) == 1:
                    observer.on_next(out[0])
                elif out:
                    observer.on_next(out)

            def on_error(error: Exception) -> None:  # the input ends; what it gave stays
                on_notice(Notice("source_failed", f"the frames ended with an error: {error!r}"))
                observer.on_completed()

            return source.subscribe(on_next, on_error, observer.on_completed, scheduler=scheduler)

        return Observable(subscribe)

    return _intake
