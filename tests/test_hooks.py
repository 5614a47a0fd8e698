"""Host hooks: they run after the state change, isolated; they never delay or break anything.

A hook that never returns costs only its own slots: the other hooks run on time, retries wait
on timers rather than in a shared thread, ``dispose()`` returns at once and the process exits.
Timeouts and backoff run on a virtual clock (:class:`HookClock`); hooks run in real threads, so
tests wait for them on events and counts, never for a time.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import ROOT, flowrx_logs
from reactivex import abc
from reactivex.disposable import Disposable
from reactivex.subject import Subject

from flowrx import VirtualClock
from flowrx.concerns.effects import Hook
from flowrx.sinks.hooks import HookRunner
from flowrx.testing import Driver, exec_frame

RUN = "run-h"
PATIENCE = 30.0  # an upper bound for a thread to reach a point, never a time that must pass


RUN_FRAMES = [
    exec_frame("run_start", run=RUN),
    exec_frame("start_node", "n1", 0, run=RUN),
    exec_frame("end_node", "n1", 0, "success", run=RUN),
    exec_frame("start_node", "n2", 1, run=RUN),
    exec_frame("run_end", run=RUN),
]


class HookClock(VirtualClock):
    """A virtual clock for the runner's timers that lets a test wait until one is set or gone."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []
        self.disposed: list[bool] = []
        self._changed = threading.Condition()

    def schedule_relative(self, duetime: Any, action: Any, state: Any = None) -> abc.DisposableBase:
        """Set a timer as a virtual clock does, and record its delay."""
        inner = super().schedule_relative(duetime, action, state)
        with self._changed:
            index = len(self.delays)
            self.delays.append(float(duetime))
            self.disposed.append(False)
            self._changed.notify_all()

        def dispose() -> None:
            inner.dispose()
            with self._changed:
                self.disposed[index] = True
                self._changed.notify_all()

        return Disposable(dispose)

    def until(self, done: Callable[[HookClock], bool]) -> bool:
        """Wait until ``done(self)`` holds (the runner's threads set and cancel timers)."""
        with self._changed:
            return self._changed.wait_for(lambda: done(self), PATIENCE)


@pytest.fixture
def errors() -> Iterator[list[dict[str, Any]]]:
    """Error records flowrx logs during the test."""
    with flowrx_logs("ERROR") as seen:
        yield seen


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no hook will see set while the test runs; set at teardown to free its threads."""
    event = threading.Event()
    yield event
    event.set()


def _run(hooks: Any) -> tuple[dict[str, Any], Any, VirtualClock, Subject[str]]:
    driver = Driver(hooks=hooks)
    state, frames, clock = driver.state, driver.frames, driver.clock
    for f in RUN_FRAMES:
        frames.on_next(f)
    unlocked_at_once = state.snapshot()["lifecycle"]
    clock.run()
    return unlocked_at_once, state, clock, frames


def test_defect_3_a_hanging_run_end_hook_never_delays_the_unlock(
    errors: list[dict[str, Any]],
) -> None:
    """The editor is unlocked the moment run_end is applied, while the hook still hangs."""
    release = threading.Event()
    started = threading.Event()

    def fetch_chat_history(name: str, run_id: str) -> None:
        started.set()
        release.wait(PATIENCE)

    runner = HookRunner({"run_end": [fetch_chat_history]}, retries=1, scheduler=HookClock())
    lifecycle, _state, _, _ = _run(runner)
    assert lifecycle["editor_locked"] is False
    assert lifecycle["runs"][RUN]["status"] == "success"
    assert started.wait(PATIENCE)
    assert runner.stats.succeeded == 0  # it is still hanging
    release.set()
    assert runner.wait(PATIENCE)
    assert runner.stats.succeeded == 1
    runner.close()


def test_defect_2_a_failing_run_end_hook_skips_nothing_of_run_end_handling(
    errors: list[dict[str, Any]],
) -> None:
    """A raising results fetch is retried and logged; every concern's run-end work happened."""

    def fetch_results(name: str, run_id: str) -> None:
        raise ConnectionError("results service down")

    clean_now, clean, _, _ = _run(None)
    hook_clock = HookClock()
    runner = HookRunner({"run_end": [fetch_results]}, retries=3, scheduler=hook_clock)
    now, state, _, _ = _run(runner)
    for timers in (2, 4):  # attempt n set its timeout, then (it failed) the wait to retry
        assert hook_clock.until(lambda c, n=timers: len(c.delays) == n)
        hook_clock.advance_by(hook_clock.delays[-1])
    assert runner.wait(PATIENCE)
    assert now == clean_now
    a, b = clean.snapshot(), state.snapshot()
    for section in ("visual", "store", "lifecycle"):
        assert a[section] == b[section]
    assert b["store"][RUN][1]["status"] == "unfinished"
    assert runner.stats.failed_attempts == 3
    assert runner.stats.gave_up == 1
    hook_errors = [r for r in errors if r["extra"].get("concern") == "hooks"]
    assert len(hook_errors) == 3
    assert all(r["extra"]["run"] == RUN for r in hook_errors)
    runner.close()


def test_a_hook_that_fails_three_times_is_retried_with_capped_backoff() -> None:
    """The fourth attempt succeeds; the waits between attempts grow and are capped."""
    calls: list[str] = []
    hook_clock = HookClock()

    def flaky(name: str, run_id: str) -> None:
        calls.append(name)
        if len(calls) < 4:
            raise TimeoutError("try again")

    runner = HookRunner(
        {"run_start": [flaky]},
        retries=5,
        backoff=0.5,
        max_backoff=1.0,
        timeout=10.0,
        scheduler=hook_clock,
    )
    _run(runner)
    for timers in (2, 4, 6):  # attempt n set its timeout, then (it failed) the wait to retry
        assert hook_clock.until(lambda c, n=timers: len(c.delays) == n)
        hook_clock.advance_by(hook_clock.delays[-1])
    assert runner.wait(PATIENCE)
    assert calls == ["run_start"] * 4
    assert hook_clock.delays == [10.0, 0.5, 10.0, 1.0, 10.0, 1.0, 10.0]
    assert hook_clock.seconds == 2.5
    assert runner.stats.succeeded == 1
    assert runner.stats.failed_attempts == 3
    runner.close()


def test_a_hook_that_times_out_is_abandoned_and_counted(
    errors: list[dict[str, Any]], never: threading.Event
) -> None:
    """An attempt that does not finish within the timeout is logged as timed out, then given up."""
    hook_clock = HookClock()

    def stuck(name: str, run_id: str) -> None:
        never.wait()

    runner = HookRunner({"run_end": [stuck]}, timeout=5.0, retries=2, slots=2, scheduler=hook_clock)
    _run(runner)
    hook_clock.run()  # timeout at 5 s, retry at 5.5 s, timeout at 10.5 s: both attempts hang
    assert runner.wait(PATIENCE)
    assert hook_clock.seconds == 10.5
    assert runner.stats.timeouts == 2
    assert runner.stats.gave_up == 1
    assert runner.stats.succeeded == runner.stats.failed_attempts == 0
    assert sum("timed out" in r["message"] for r in errors) == 2
    runner.close()


def test_a_hook_that_never_returns_costs_only_its_own_slot(
    errors: list[dict[str, Any]], never: threading.Event
) -> None:
    """With fetch_logs hung in its one slot, every other hook runs at once, at virtual time 0;
    fetch_logs' later attempts are counted busy and given up, never queued behind it."""
    hook_clock = HookClock()
    entered: list[str] = []
    fetched = threading.Semaphore(0)

    def fetch_logs(name: str, run_id: str) -> None:
        entered.append(run_id)
        never.wait()

    def fetch_results(name: str, run_id: str) -> None:
        fetched.release()

    runner = HookRunner(
        {"run_start": [fetch_results], "run_end": [fetch_logs, fetch_results]},
        timeout=5.0,
        retries=3,
        backoff=1.0,
        slots=1,
        scheduler=hook_clock,
    )
    for run in ("run-a", "run-b"):
        runner(Hook("run_start", run))
        runner(Hook("run_end", run))
    for _ in range(4):  # two run_start and two run_end fetches, with fetch_logs hung
        assert fetched.acquire(timeout=PATIENCE)
    # the four have returned: their timeouts are cancelled before time moves on
    assert hook_clock.until(lambda c: sum(c.disposed) == 4)
    assert hook_clock.seconds == 0.0
    assert runner.stats.timeouts == 0
    hook_clock.run()  # run-a: hung, timed out at 5 s, busy at 6 s and 8 s; run-b: busy 0, 1, 3 s
    assert runner.wait(PATIENCE)
    assert entered == ["run-a"]  # one thread for the hung hook, whatever its retries
    assert runner.stats.calls == 6
    assert runner.stats.succeeded == 4
    assert runner.stats.timeouts == 1
    assert runner.stats.busy == 5
    assert runner.stats.gave_up == 2
    busy = [r for r in errors if "HookBusy" in r["message"]]
    assert len(busy) == 5
    assert {r["extra"]["run"] for r in busy} == {"run-a", "run-b"}
    runner.close()


def test_a_failing_hook_is_retried_on_time_while_another_hook_hangs(
    never: threading.Event,
) -> None:
    """A retry is a timer, not a wait in a shared thread: it runs at its moment beside a hang."""
    hook_clock = HookClock()
    second_try = threading.Event()
    tries: list[str] = []

    def poll_logs(name: str, run_id: str) -> None:
        never.wait()

    def fetch_results(name: str, run_id: str) -> None:
        tries.append(run_id)
        if len(tries) == 1:
            raise ConnectionError("results service down")
        second_try.set()

    runner = HookRunner(
        {"run_end": [poll_logs, fetch_results]},
        timeout=5.0,
        backoff=1.0,
        slots=1,
        scheduler=hook_clock,
    )
    runner(Hook("run_end", RUN))
    # poll_logs' timeout, fetch_results' timeout, then fetch_results' wait to retry (1 s)
    assert hook_clock.until(lambda c: len(c.delays) == 3)
    assert hook_clock.delays == [5.0, 5.0, 1.0]
    hook_clock.advance_by(1.0)
    assert second_try.wait(PATIENCE)
    assert hook_clock.seconds == 1.0
    assert runner.stats.timeouts == 0  # poll_logs still in its first attempt, unaffected
    # the second attempt returned: its timeout (timer 3) is cancelled before time moves on
    assert hook_clock.until(lambda c: len(c.delays) == 4 and c.disposed[3])
    hook_clock.run()
    assert runner.wait(PATIENCE)
    assert runner.stats.succeeded == 1
    assert runner.stats.timeouts == 1
    assert runner.stats.gave_up == 1  # poll_logs
    runner.close()


def test_disposing_while_a_hook_hangs_returns_at_once_and_ends_every_call(
    never: threading.Event,
) -> None:
    """dispose() does not wait for the hung hook nor the one waiting to retry; both give up."""
    hook_clock = HookClock()
    entered = threading.Event()

    def fetch_results(name: str, run_id: str) -> None:
        entered.set()
        never.wait()

    def poll_logs(name: str, run_id: str) -> None:
        raise ConnectionError("log service down")

    runner = HookRunner(
        {"run_start": [poll_logs], "run_end": [fetch_results]}, scheduler=hook_clock
    )
    driver = Driver(hooks=runner)
    state, subscription, frames, clock = (
        driver.state,
        driver.disposable,
        driver.frames,
        driver.clock,
    )
    for f in RUN_FRAMES:
        frames.on_next(f)
    clock.run()
    assert entered.wait(PATIENCE)
    # timers: poll_logs' timeout, fetch_results' timeout, poll_logs' wait to retry
    assert hook_clock.until(lambda c: len(c.delays) == 3)
    disposer = threading.Thread(target=subscription.dispose, daemon=True)
    disposer.start()
    disposer.join(PATIENCE)
    assert not disposer.is_alive()
    assert runner.wait(0)
    assert hook_clock.disposed == [True, True, True]  # no timer left to fire
    assert runner.stats.gave_up == 2
    assert runner.stats.succeeded == 0
    runner(Hook("run_end", RUN))  # a closed runner starts nothing
    assert runner.stats.calls == 2
    assert state.snapshot()["lifecycle"]["editor_locked"] is False


def test_the_process_exits_after_dispose_while_a_hook_never_returns() -> None:
    """A host with a forever-hung run_end hook disposes and its interpreter exits on its own."""
    script = textwrap.dedent(
        f"""
        import json, threading
        from reactivex.subject import Subject
        from flowrx import VirtualClock, connect

        never, entered = threading.Event(), threading.Event()

        def fetch_results(name, run_id):
            entered.set()
            never.wait()

        clock, frames = VirtualClock(), Subject()
        state, subscription = connect(
            frames, scheduler=clock, hooks={{"run_end": [fetch_results]}}
        )
        for f in {RUN_FRAMES!r}:
            frames.on_next(f)
        clock.run()
        assert entered.wait(60)
        subscription.dispose()
        print("disposed", state.snapshot()["lifecycle"]["editor_locked"], flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "disposed False\n"


def test_async_hooks_are_awaited() -> None:
    """A coroutine hook runs to completion in the worker."""
    seen: list[str] = []

    async def poll_logs(name: str, run_id: str) -> None:
        seen.append(run_id)

    runner = HookRunner({"run_start": [poll_logs]}, scheduler=HookClock())
    _run(runner)
    assert runner.wait(PATIENCE)
    assert seen == [RUN]
    runner.close()


def test_a_runner_without_retries_or_slots_is_refused() -> None:
    """retries and slots below one would never run a hook: a clear error at construction."""
    with pytest.raises(ValueError, match="at least 1"):
        HookRunner({}, retries=0)
    with pytest.raises(ValueError, match="at least 1"):
        HookRunner({}, slots=0)
