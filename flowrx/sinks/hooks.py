"""Host hooks on lifecycle transitions, isolated so they can never delay or break anything.

The host registers callables per hook name (``run_start``: restart log polling; ``run_end`` and
``resume_end``: fetch results). The lifecycle concern has already applied the state change (the
editor is unlocked) when a hook is requested; :class:`HookRunner` then runs each hook off the
pipeline's thread, with a timeout, retried with capped exponential backoff, and logs every failed
attempt. A hook that raises or hangs changes nothing but its own log lines.

A hook is ``fn(name, run_id)``; it may return an awaitable, which is awaited in the worker.

Why no thread pool: a hook that never returns (a results fetch without its own timeout) would
hold a pooled worker for good, starve every other hook sharing the pool, and keep the
interpreter from exiting (``concurrent.futures`` joins its workers at exit). Here each attempt
runs in its own daemon thread, the timeouts and the waits between attempts are timers on a
scheduler (no thread sleeps or waits to retry), and each hook function has its own few slots:
a hung attempt keeps its slot until it returns, so a hook that keeps hanging costs at most
``slots`` threads and its own retries, and nothing of the other hooks.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from reactivex import abc
from reactivex.scheduler import TimeoutScheduler

from flowrx.concerns.effects import Hook
from flowrx.sinks.log import log_hook_failure

__all__ = ["HookBusy", "HookFn", "HookRunner", "HookStats"]

HookFn = Callable[[str, str], Any]
"""A host hook: ``fn(name, run_id)``, returning ``None`` or an awaitable (awaited in its thread)."""


class HookBusy(RuntimeError):
    """An attempt not started because every slot of its hook is held by a running attempt."""


@attrs.define
class HookStats:
    """What the hook runner has done: calls, failed attempts, timeouts, busy, gave up."""

    calls: int = 0
    failed_attempts: int = 0
    timeouts: int = 0
    busy: int = 0
    """Attempts not started because the hook's slots were all held (by hung attempts)."""
    gave_up: int = 0
    """Calls that ended without success: out of attempts, or pending when the runner closed."""
    succeeded: int = 0


@attrs.define(eq=False)
class _Call:
    """One requested hook call and the attempt it is at."""

    fn: HookFn
    hook: Hook
    attempt: int = 0
    current: object | None = None  # the attempt in flight; None between attempts
    timer: abc.DisposableBase | None = None  # its timeout, or the wait before the next attempt


class HookRunner:
    """Runs host hooks in their own daemon threads, with timeout and capped-backoff retries.

    ``scheduler`` runs the timeouts and the waits between attempts (a real-time
    ``TimeoutScheduler`` by default; a virtual clock in tests). ``timeout`` bounds how long one
    attempt is waited for: a hung attempt is abandoned, counted and logged, and its thread is
    left to finish on its own. ``slots`` is how many attempts of one hook function may run at
    once, abandoned ones included; an attempt due while all are held is counted ``busy``,
    logged, and retried like a failure. :meth:`close` ends every retry and never waits for a
    running hook; the threads are daemons, so a hung hook never keeps the process alive.
    """

    def __init__(
        self,
        hooks: Mapping[str, Sequence[HookFn]],
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        slots: int = 4,
        scheduler: abc.SchedulerBase | None = None,
    ) -> None:
        if retries < 1 or slots < 1:
            raise ValueError(f"retries and slots must be at least 1, not {retries} and {slots}")
        self._hooks = {name: tuple(fns) for name, fns in hooks.items()}
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._slots = slots
        self._scheduler = scheduler or TimeoutScheduler.singleton()
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._pending: set[_Call] = set()
        self._running: dict[int, int] = {}  # id(fn) -> attempts of it still running
        self._closed = False
        self.stats = HookStats()

    def __bool__(self) -> bool:
        return any(self._hooks.values())

    def __call__(self, hook: Hook) -> None:
        """Start the hooks of ``hook.name`` for its run; returns at once."""
        for fn in self._hooks.get(hook.name, ()):
            call = _Call(fn, hook)
            with self._lock:
                if self._closed:
                    return
                self.stats.calls += 1
                self._pending.add(call)
            self._start(call)

    # --- one attempt ----------------------------------------------------------------------------

    def _start(self, call: _Call) -> None:
        with self._lock:
            if call not in self._pending:  # closed meanwhile
                return
            call.attempt += 1
            key = id(call.fn)
            running = self._running.get(key, 0)
            if running >= self._slots:
                self.stats.busy += 1
                token = None
            else:
                self._running[key] = running + 1
                token = call.current = object()
                call.timer = self._scheduler.schedule_relative(
                    self._timeout, lambda _s, _st: self._timed_out(call, token)
                )
        if token is None:
            busy = HookBusy(f"all {self._slots} slots of this hook are held by running attempts")
            log_hook_failure(call.hook.name, call.hook.run_id, call.attempt, busy)
            self._retry_or_give_up(call)
            return
        thread = threading.Thread(
            target=self._attempt,
            args=(call, token),
            name=f"flowrx-hook-{call.hook.name}",
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError as exc:  # no new threads (interpreter shutting down)
            self._finished(call, token, exc)

    def _attempt(self, call: _Call, token: object) -> None:
        error: Exception | None = None
        try:
            result = call.fn(call.hook.name, call.hook.run_id)
            if inspect.isawaitable(result):

                async def wait() -> None:
                    await result

                asyncio.run(wait())
        except Exception as exc:
            error = exc
        self._finished(call, token, error)

    def _finished(self, call: _Call, token: object, error: Exception | None) -> None:
        with self._lock:
            key = id(call.fn)
            self._running[key] -= 1
            if not self._running[key]:
                del self._running[key]
            if call.current is not token:  # timed out before, or the runner closed
                return
            call.current = None
            timer, call.timer = call.timer, None
            if error is None:
                self.stats.succeeded += 1
                self._end(call)
            else:
                self.stats.failed_attempts += 1
        if timer is not None:
            timer.dispose()
        if error is not None:
            log_hook_failure(call.hook.name, call.hook.run_id, call.attempt, error)
            self._retry_or_give_up(call)

    def _timed_out(self, call: _Call, token: object) -> None:
        with self._lock:
            if call.current is not token:  # it finished just before
                return
            call.current = None
            call.timer = None
            self.stats.timeouts += 1
        log_hook_failure(call.hook.name, call.hook.run_id, call.attempt, None)
        self._retry_or_give_up(call)

    def _retry_or_give_up(self, call: _Call) -> None:
        with self._lock:
            if call not in self._pending:
                return
            if call.attempt >= self._retries:
                self.stats.gave_up += 1
                self._end(call)
                return
            wait = min(self._max_backoff, self._backoff * 2 ** (call.attempt - 1))
            call.timer = self._scheduler.schedule_relative(wait, lambda _s, _st: self._start(call))

    def _end(self, call: _Call) -> None:
        """Forget a finished call (the lock is held)."""
        self._pending.discard(call)
        if not self._pending:
            self._idle.notify_all()

    # --- for the host ---------------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every started hook has finished or given up (for tests and shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        """Stop: new hooks are ignored, pending calls give up, retries and timeouts are cancelled.

        Returns at once; a running hook is not waited for (its daemon thread is abandoned).
        """
        with self._lock:
            self._closed = True
            calls = list(self._pending)
            timers = [c.timer for c in calls if c.timer is not None]
            for call in calls:
                call.current = None
                call.timer = None
                self.stats.gave_up += 1
                self._end(call)
        for timer in timers:
            timer.dispose()
