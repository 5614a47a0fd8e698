"""Host hooks: they run after the state change, isolated; they never delay or break anything."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.sinks.hooks import HookRunner

RUN = "run-h"


def frame(event: str, node: str | None = None, order: int = -1, status: str = "running") -> str:
    """One execution frame of the test run."""
    return json.dumps(
        {"run_id": RUN, "node_id": node, "event": event, "order": order, "status": status}
    )


RUN_FRAMES = [
    frame("run_start"),
    frame("start_node", "n1", 0),
    frame("end_node", "n1", 0, "success"),
    frame("start_node", "n2", 1),
    frame("run_end"),
]


@pytest.fixture
def errors() -> Iterator[list[dict[str, Any]]]:
    """Error records flowrx logs during the test."""
    seen: list[dict[str, Any]] = []
    logger.enable("flowrx")
    sink = logger.add(lambda m: seen.append(m.record), level="ERROR", format="{message}")
    yield seen
    logger.remove(sink)
    logger.disable("flowrx")


def _run(hooks: Any) -> tuple[dict[str, Any], Any, VirtualClock, Subject[str]]:
    clock = VirtualClock()
    frames: Subject[str] = Subject()
    state, _ = connect(frames, scheduler=clock, hooks=hooks)
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
        release.wait(30)

    runner = HookRunner({"run_end": [fetch_chat_history]}, timeout=30, retries=1)
    lifecycle, _state, _, _ = _run(runner)
    assert lifecycle["editor_locked"] is False
    assert lifecycle["runs"][RUN]["status"] == "success"
    assert started.wait(10)
    assert runner.stats.succeeded == 0  # it is still hanging
    release.set()
    assert runner.wait(10)
    assert runner.stats.succeeded == 1
    runner.close()


def test_defect_2_a_failing_run_end_hook_skips_nothing_of_run_end_handling(
    errors: list[dict[str, Any]],
) -> None:
    """A raising results fetch is retried and logged; every concern's run-end work happened."""

    def fetch_results(name: str, run_id: str) -> None:
        raise ConnectionError("results service down")

    clean_now, clean, _, _ = _run(None)
    runner = HookRunner({"run_end": [fetch_results]}, retries=3, sleep=lambda _: None)
    now, state, _, _ = _run(runner)
    assert runner.wait(10)
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


def test_a_hook_that_fails_once_is_retried_with_capped_backoff() -> None:
    """The second attempt succeeds; the waits between attempts grow and are capped."""
    waits: list[float] = []
    calls: list[str] = []

    def flaky(name: str, run_id: str) -> None:
        calls.append(name)
        if len(calls) < 4:
            raise TimeoutError("try again")

    runner = HookRunner(
        {"run_start": [flaky]}, retries=5, backoff=0.5, max_backoff=1.0, sleep=waits.append
    )
    _run(runner)
    assert runner.wait(10)
    assert calls == ["run_start"] * 4
    assert waits == [0.5, 1.0, 1.0]
    assert runner.stats.succeeded == 1
    runner.close()


def test_a_hook_that_times_out_is_abandoned_and_counted(errors: list[dict[str, Any]]) -> None:
    """An attempt that does not finish within the timeout is logged as timed out."""
    release = threading.Event()

    def stuck(name: str, run_id: str) -> None:
        release.wait(30)

    runner = HookRunner({"run_end": [stuck]}, timeout=0.01, retries=2, sleep=lambda _: None)
    _run(runner)
    assert runner.wait(10)
    assert runner.stats.timeouts == 2
    assert runner.stats.gave_up == 1
    assert any("timed out" in r["message"] for r in errors)
    release.set()
    runner.close()


def test_async_hooks_are_awaited() -> None:
    """A coroutine hook runs to completion in the worker."""
    seen: list[str] = []

    async def poll_logs(name: str, run_id: str) -> None:
        seen.append(run_id)

    runner = HookRunner({"run_start": [poll_logs]})
    _run(runner)
    assert runner.wait(10)
    assert seen == [RUN]
    runner.close()
