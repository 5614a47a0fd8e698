"""``VirtualClock``: a virtual-time scheduler with a float clock in seconds.

Replay (``--instant``), the testing helpers and the benchmarks run the whole pipeline on it:
nothing waits, yet every timer fires at its due time. It is reactivex's
``VirtualTimeScheduler`` with due times kept as float seconds and a :meth:`VirtualClock.run`
that never nudges the clock (see the class).
"""

from __future__ import annotations

from typing import TypeVar

from reactivex import abc, typing
from reactivex.scheduler import VirtualTimeScheduler
from reactivex.scheduler.scheduleditem import ScheduledItem

__all__ = ["VirtualClock"]

_T = TypeVar("_T")


class VirtualClock(VirtualTimeScheduler):
    """A virtual-time scheduler with a float clock in seconds, for replay and tests.

    Unlike ``VirtualTimeScheduler.start``, :meth:`run` never nudges the clock forward when many
    items share one instant (RxPY's start does after 100, which would shift display windows).
    Due times are kept as float seconds, not datetimes: a replay advances the clock once per
    frame and the concerns schedule a timer on most frames, and the datetime conversions were a
    measurable share of each frame's cost. ``now`` is still a datetime, as Rx expects.
    """

    def __init__(self, initial: float = 0.0) -> None:
        super().__init__(float(initial))

    @property
    def seconds(self) -> float:
        """The clock, in seconds (read directly: no datetime round trip)."""
        return self._clock  # type: ignore[return-value]  # always a float here

    def schedule_absolute(
        self,
        duetime: typing.AbsoluteTime,
        action: abc.ScheduledAction[_T],
        state: _T | None = None,
    ) -> abc.DisposableBase:
        """Schedule ``action`` at ``duetime`` (a datetime or float seconds)."""
        due = duetime if isinstance(duetime, float | int) else self.to_seconds(duetime)
        item: ScheduledItem = ScheduledItem(self, state, action, due)  # type: ignore[arg-type]
        with self._lock:
            self._queue.enqueue(item)
        return item.disposable

    def schedule_relative(
        self,
        duetime: typing.RelativeTime,
        action: abc.ScheduledAction[_T],
        state: _T | None = None,
    ) -> abc.DisposableBase:
        """Schedule ``action`` ``duetime`` (a timedelta or float seconds) from now."""
        delay = duetime if isinstance(duetime, float | int) else self.to_seconds(duetime)
        return self.schedule_absolute(self.seconds + delay, action, state)

    def schedule(
        self, action: abc.ScheduledAction[_T], state: _T | None = None
    ) -> abc.DisposableBase:
        """Schedule ``action`` now."""
        return self.schedule_absolute(self.seconds, action, state)

    def start(self) -> None:
        """Run until idle (as :meth:`run`; kept for ``VirtualTimeScheduler`` callers)."""
        self.run()

    def advance_to(self, time: typing.AbsoluteTime) -> None:
        """Run everything due up to ``time`` (seconds or datetime) and move the clock there."""
        until = float(time) if isinstance(time, float | int) else self.to_seconds(time)
        if until < self.seconds:
            raise ValueError(f"cannot go back in time: {until} is before {self.seconds}")
        self.run(until=until)

    def advance_by(self, time: typing.RelativeTime) -> None:
        """Run everything due within ``time`` from now."""
        delay = float(time) if isinstance(time, float | int) else self.to_seconds(time)
        self.advance_to(self.seconds + delay)

    def run(self, until: float | None = None) -> None:
        """Run every pending item (and those they schedule) up to ``until``, or until idle.

        The clock moves to each item's due time; with ``until`` it ends exactly there.
        """
        queue = self._queue
        lock = self._lock
        while True:
            with lock:  # one acquisition per item, and one for the final look
                item = queue.peek() if queue else None
                if item is not None and item.is_cancelled():  # does not move the clock
                    queue.dequeue()
                    continue
                if item is None or (until is not None and item.duetime > until):  # type: ignore[operator]
                    if until is not None and until > self._clock:  # type: ignore[operator]
                        self._clock = float(until)  # nothing more is due: end at ``until``
                    return
                queue.dequeue()
                due: float = item.duetime  # type: ignore[assignment]  # float seconds here
                if due > self._clock:  # type: ignore[operator]
                    self._clock = due
            if not item.is_cancelled():
                item.invoke()
