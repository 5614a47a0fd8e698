"""Host hooks on lifecycle transitions, isolated so they can never delay or break anything.

The host registers callables per hook name (``run_start``: restart log polling; ``run_end`` and
``resume_end``: fetch results). The lifecycle concern has already applied the state change (the
editor is unlocked) when a hook is requested; :class:`HookRunner` then runs each hook off the
pipeline's thread, with a timeout, retried with capped exponential backoff, and logs every failed
attempt. A hook that raises or hangs changes nothing but its own log lines.

A hook is ``fn(name, run_id)``; it may return an awaitable, which is awaited in the worker.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import attrs

from flowrx.concerns.effects import Hook
from flowrx.sinks.log import log_hook_failure

__all__ = ["HookFn", "HookRunner", "HookStats"]

HookFn = Callable[[str, str], Any]


@attrs.define
class HookStats:
    """What the hook runner has done: calls, failed attempts, timeouts, gave up."""

    calls: int = 0
    failed_attempts: int = 0
    timeouts: int = 0
    gave_up: int = 0
    succeeded: int = 0


class HookRunner:
    """Runs host hooks in worker threads with timeout and capped-backoff retries.

    ``sleep`` is the wait between attempts (a parameter, so tests need no real waiting);
    ``timeout`` bounds how long one attempt is waited for; a hung attempt is abandoned (its
    thread is left to finish on its own) and counted.
    """

    def __init__(
        self,
        hooks: Mapping[str, Sequence[HookFn]],
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        workers: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._hooks = {name: tuple(fns) for name, fns in hooks.items()}
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep
        self._lock = threading.Lock()
        self.stats = HookStats()
        self._supervisors = ThreadPoolExecutor(workers, thread_name_prefix="flowrx-hook")
        self._attempts = ThreadPoolExecutor(workers, thread_name_prefix="flowrx-hook-call")
        self._pending: set[Future[None]] = set()
        self._closed = threading.Event()

    def __bool__(self) -> bool:
        return any(self._hooks.values())

    def __call__(self, hook: Hook) -> None:
        """Start the hooks of ``hook.name`` for its run; returns at once."""
        for fn in self._hooks.get(hook.name, ()):
            with self._lock:
                self.stats.calls += 1
            future = self._supervisors.submit(self._supervise, fn, hook)
            self._pending.add(future)
            future.add_done_callback(self._pending.discard)

    def _call(self, fn: HookFn, hook: Hook) -> None:
        result = fn(hook.name, hook.run_id)
        if inspect.isawaitable(result):

            async def wait() -> None:
                await result

            asyncio.run(wait())

    def _supervise(self, fn: HookFn, hook: Hook) -> None:
        for attempt in range(1, self._retries + 1):
            if self._closed.is_set():
                break
            try:
                future = self._attempts.submit(self._call, fn, hook)
            except RuntimeError:  # closed between two attempts: stop quietly
                break
            try:
                future.result(timeout=self._timeout)
            except FutureTimeout:
                with self._lock:
                    self.stats.timeouts += 1
                log_hook_failure(hook.name, hook.run_id, attempt, None)
            except Exception as exc:
                with self._lock:
                    self.stats.failed_attempts += 1
                log_hook_failure(hook.name, hook.run_id, attempt, exc)
            else:
                with self._lock:
                    self.stats.succeeded += 1
                return
            if attempt < self._retries:
                self._sleep(min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))
        with self._lock:
            self.stats.gave_up += 1

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every started hook has finished or given up (for tests and shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for future in list(self._pending):
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                future.result(timeout=remaining)
            except FutureTimeout:
                return False
            except Exception:  # a supervisor cancelled at close must not escape to the host
                continue
        return True

    def close(self) -> None:
        """Stop accepting work; running hooks are not waited for, retries end."""
        self._closed.set()
        self._supervisors.shutdown(wait=False, cancel_futures=True)
        self._attempts.shutdown(wait=False, cancel_futures=True)
