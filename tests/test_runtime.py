"""The collector policy for live hosts, and the claim it rests on: flowrx makes no cycles."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.runtime import periodic_collection
from flowrx.streams.simulate import demo_flow, simulate


@pytest.fixture
def collector() -> Iterator[None]:
    """Leave the process's collector as the test found it."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


class _Loop:
    """An event loop's ``call_later``, recorded: the test fires the timers itself."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Callable[[], object], asyncio.TimerHandle]] = []
        self._loop = asyncio.new_event_loop()

    def call_later(self, delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(0.0, callback, (), self._loop)
        self.timers.append((delay, callback, handle))
        return handle

    def close(self) -> None:
        self._loop.close()


def test_the_pipeline_makes_no_reference_cycles_in_steady_state(collector: None) -> None:
    """Frames of many runs (evictions included) leave nothing for the cyclic collector."""
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    state, subscription = connect(inbox, scheduler=clock, graph=demo_flow())
    frames = simulate(80, seed=11)  # more runs than are held: eviction is exercised
    warm = len(frames) // 3
    for frame in frames[:warm]:  # warm up: caches, the first run of each kind
        clock.run(until=frame.t)
        inbox.on_next(frame.data)
    gc.collect()
    gc.disable()
    for frame in frames[warm:]:
        clock.run(until=frame.t)
        inbox.on_next(frame.data)
    clock.run()
    found = gc.collect()
    assert state.intake.counters.frames == len(frames)
    assert state.counters["rejected"] == 0
    assert found == 0, f"{found} objects were only reachable through cycles"
    subscription.dispose()


def test_periodic_collection_freezes_turns_collection_off_and_collects_on_its_timer(
    collector: None,
) -> None:
    """Startup objects are frozen, automatic passes stop, and each timer collects and re-arms."""
    gc.enable()
    loop = _Loop()
    passes: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            passes.append(info["generation"])

    undo = periodic_collection(loop, every=30.0)
    try:
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert [delay for delay, _, _ in loop.timers] == [30.0]
        gc.callbacks.append(seen)
        try:
            loop.timers[0][1]()  # the timer fires
        finally:
            gc.callbacks.remove(seen)
        assert passes == [2]  # one full collection
        assert [delay for delay, _, _ in loop.timers] == [30.0, 30.0]  # and the next is set
    finally:
        undo()
        loop.close()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert loop.timers[-1][2].cancelled()


def test_periodic_collection_leaves_a_disabled_collector_disabled(collector: None) -> None:
    """A host that had turned collection off gets it back off after the undo."""
    gc.disable()
    loop = _Loop()
    undo = periodic_collection(loop, every=5.0)
    undo()
    loop.close()
    assert not gc.isenabled()


@pytest.mark.parametrize("every", [0.0, -1.0, float("nan")])
def test_periodic_collection_refuses_an_interval_that_is_not_positive(
    every: float, collector: None
) -> None:
    """A zero, negative or NaN interval is a clear error, and nothing is changed."""
    enabled = gc.isenabled()
    loop = _Loop()
    with pytest.raises(ValueError, match="must be positive"):
        periodic_collection(loop, every=every)
    loop.close()
    assert gc.isenabled() == enabled
    assert gc.get_freeze_count() == 0
