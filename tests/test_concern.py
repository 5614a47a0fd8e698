"""The concern runner: guarded scan, timers as data, fault injection, last-line restart."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from helpers import flowrx_logs
from reactivex.subject import Subject

from flowrx import VirtualClock
from flowrx.concerns.effects import (
    CancelTimer,
    Change,
    Concern,
    Effect,
    Input,
    StartTimer,
    TimerFired,
)
from flowrx.messages import ExecutionEvent, Message
from flowrx.operators.concern import InjectedFault, inject_fault
from flowrx.testing import Driver, exec_frame

RUN = "run-1"  # flowrx.testing's default run: the run of every exec_frame here


@attrs.frozen
class Count:
    """A toy state: how many messages were applied, and which timers fired."""

    applied: int = 0
    fired: tuple[Any, ...] = ()


def _toy(
    raise_on: str | None = None, timer: tuple[str, float] | None = None, cancel_on: str = ""
) -> Concern[Count]:
    def reduce(state: Count, msg: Input, now: float) -> tuple[Count, tuple[Effect, ...]]:
        if isinstance(msg, TimerFired):
            return attrs.evolve(state, fired=(*state.fired, (msg.key, now))), ()
        node = getattr(msg, "node_id", None)
        if raise_on is not None and node == raise_on:
            raise ValueError(f"cannot handle {node}")
        effects: list[Effect] = [Change("toy", "seen", RUN, node, state.applied + 1)]
        if timer is not None and node == timer[0]:
            effects.append(StartTimer(("t", RUN, node), timer[1]))
        if cancel_on and node == cancel_on:
            effects.append(CancelTimer(("t", RUN, timer[0] if timer else "")))
        return Count(state.applied + 1, state.fired), tuple(effects)

    def accepts(msg: Message) -> bool:
        return isinstance(msg, ExecutionEvent)

    return Concern("toy", Count(), reduce, accepts, lambda s: {"applied": s.applied})


@pytest.fixture
def records() -> Iterator[list[dict[str, Any]]]:
    """Loguru records flowrx emits during the test."""
    with flowrx_logs("DEBUG") as seen:
        yield seen


def _start(concern: Concern[Any]) -> tuple[Any, Subject[str], VirtualClock]:
    driver = Driver(concerns=[concern])
    return driver.state, driver.frames, driver.clock


def test_a_failing_event_keeps_the_state_from_before_it_and_the_next_event_applies(
    records: list[dict[str, Any]],
) -> None:
    """Per-event isolation: the failed event changes nothing, the following one is applied."""
    state, frames, _ = _start(_toy(raise_on="bad"))
    frames.on_next(exec_frame("start_node", "a", 0))
    frames.on_next(exec_frame("start_node", "bad", 1))
    assert state.state("toy") == Count(1)
    frames.on_next(exec_frame("start_node", "c", 2))
    assert state.state("toy") == Count(2)
    assert state.failed["toy"] == 1
    assert state.health["toy"] == "ok"


def test_defect_1_a_failure_mid_event_is_logged_once_with_concern_event_run_node_and_traceback(
    records: list[dict[str, Any]],
) -> None:
    """The failure is recorded: one error line naming everything, with the traceback."""
    _state, frames, _ = _start(_toy(raise_on="bad"))
    frames.on_next(exec_frame("start_node", "bad", 0))
    errors = [r for r in records if r["level"].name == "ERROR"]
    assert len(errors) == 1
    extra = errors[0]["extra"]
    assert (extra["concern"], extra["event"], extra["run"], extra["node"]) == (
        "toy",
        "start_node",
        RUN,
        "bad",
    )
    assert errors[0]["exception"] is not None
    assert errors[0]["exception"].type is ValueError


def test_a_concern_failing_on_every_event_is_degraded_not_silently_complete() -> None:
    """After degraded_after failures in a row health says degraded; a success restores ok."""
    concern = inject_fault(_toy(), 1.0)
    state, frames, _ = _start(concern)
    for i in range(5):
        frames.on_next(exec_frame("start_node", f"n{i}", i))
    assert state.health["toy"] == "degraded"
    assert state.failed["toy"] == 5
    assert isinstance(state.step("toy").failure.error, InjectedFault)


def test_inject_fault_spreads_a_fraction_evenly_and_reproducibly() -> None:
    """Rate 0.5 fails every second event, the same way on every run."""

    def failures() -> list[bool]:
        concern = inject_fault(_toy(), 0.5)
        out = []
        for i in range(6):
            try:
                concern.reduce(Count(), ExecutionEvent("start_node", RUN, f"n{i}", i, None), 0.0)
                out.append(False)
            except InjectedFault:
                out.append(True)
        return out

    assert failures() == [False, True, False, True, False, True]
    assert failures() == failures()


def test_inject_fault_rejects_a_rate_outside_zero_to_one() -> None:
    """A rate of 1.5 is a user mistake with a clear message."""
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        inject_fault(_toy(), 1.5)


def test_a_requested_timer_fires_back_into_the_reducer_at_its_time() -> None:
    """StartTimer is data: the runner schedules it and feeds TimerFired at +delay."""
    state, frames, clock = _start(_toy(timer=("a", 0.5)))
    frames.on_next(exec_frame("start_node", "a", 0))
    clock.run(until=0.499)
    assert state.state("toy").fired == ()
    clock.run(until=0.5)
    assert state.state("toy").fired == ((("t", RUN, "a"), pytest.approx(0.5)),)
    assert state.pending_timers["toy"] == 0


def test_a_cancelled_timer_never_fires() -> None:
    """CancelTimer disposes the scheduled action."""
    state, frames, clock = _start(_toy(timer=("a", 0.5), cancel_on="b"))
    frames.on_next(exec_frame("start_node", "a", 0))
    clock.run(until=0.2)
    frames.on_next(exec_frame("start_node", "b", 1))
    clock.run(until=5.0)
    assert state.state("toy").fired == ()


def test_restarting_a_timer_replaces_it() -> None:
    """A second StartTimer of the same key moves the deadline; only one fires."""
    state, frames, clock = _start(_toy(timer=("a", 0.5)))
    frames.on_next(exec_frame("start_node", "a", 0))
    clock.run(until=0.3)
    frames.on_next(exec_frame("start_node", "a", 1))
    clock.run(until=0.79)
    assert state.state("toy").fired == ()
    clock.run(until=0.8)
    assert len(state.state("toy").fired) == 1


def test_an_error_outside_the_guard_restarts_the_concern_with_its_state(
    records: list[dict[str, Any]],
) -> None:
    """Last line: a broken effect (a timer delay that is no number) ends the inner subscription; the
    concern resubscribes after a backoff with the state it had, and counts the restart."""

    def reduce(state: Count, msg: Input, now: float) -> tuple[Count, tuple[Effect, ...]]:
        node = getattr(msg, "node_id", None)
        effects: tuple[Effect, ...] = ()
        if node == "broken":
            effects = (StartTimer(("k",), "soon"),)  # type: ignore[arg-type]
        return Count(state.applied + 1), effects

    concern = Concern("toy", Count(), reduce, lambda m: isinstance(m, ExecutionEvent), repr)
    state, frames, clock = _start(concern)
    frames.on_next(exec_frame("start_node", "a", 0))
    frames.on_next(exec_frame("start_node", "broken", 1))
    assert state.step("toy").restarts == 1
    assert state.health["toy"] == "degraded"
    frames.on_next(exec_frame("start_node", "lost-while-down", 2))
    clock.run(until=1.0)
    frames.on_next(exec_frame("start_node", "c", 3))
    assert state.state("toy").applied == 3  # a, broken and c: state survived the restart
    assert state.health["toy"] == "ok"


def _cold(scheduler: Any, *items: tuple[int, Any]) -> Any:
    """A hot observable of ``(tick, value)`` items that completes 10 ticks after the last."""
    from reactivex.testing import ReactiveTest

    end = max(t for t, _ in items) + 10
    return scheduler.create_hot_observable(
        *(ReactiveTest.on_next(t, v) for t, v in items), ReactiveTest.on_completed(end)
    )


def _values(recorded: Any) -> list[tuple[int, Any]]:
    return [(m.time, m.value.value) for m in recorded.messages if m.value.kind == "N"]


def test_route_keeps_only_what_the_concern_accepts() -> None:
    """route(accepts) passes the (message, now) pairs a concern takes, in order, nothing else."""
    from reactivex.testing import TestScheduler

    from flowrx.messages import parse
    from flowrx.operators._route import route

    scheduler = TestScheduler()
    node = parse(exec_frame("start_node", "a", 0))
    tool = parse(exec_frame("start_tool", "t"))
    source = _cold(scheduler, (210, (node, 0.1)), (220, (tool, 0.2)), (230, (node, 0.3)))
    #   time 210: node   220: tool   230: node   240: |
    errors: list[Any] = []
    seen = scheduler.start(
        lambda: source.pipe(route(lambda m: m is node, lambda e, i: errors.append(e)))
    )
    assert [v[1] for _, v in _values(seen)] == [0.1, 0.3]
    assert seen.messages[-1].value.kind == "C"
    assert errors == []


def test_route_splits_a_batch_and_passes_a_batch_of_one_as_its_item() -> None:
    """A batch keeps its accepted items as a batch; one accepted item leaves on its own."""
    from reactivex.testing import TestScheduler

    from flowrx.messages import parse
    from flowrx.operators._route import route

    scheduler = TestScheduler()
    a, b = parse(exec_frame("start_node", "a", 0)), parse(exec_frame("start_node", "b", 1))
    tool = parse(exec_frame("start_tool", "t"))
    batch = [(a, 0.1), (tool, 0.1), (b, 0.1)]
    source = _cold(scheduler, (210, batch), (220, [(tool, 0.2), (a, 0.2)]), (230, [(tool, 0.3)]))
    #   time 210: [a t b]   220: [t a]   230: [t]
    seen = scheduler.start(lambda: source.pipe(route(lambda m: m is not tool, lambda e, i: None)))
    assert _values(seen) == [(210, [(a, 0.1), (b, 0.1)]), (220, (a, 0.2))]


def test_route_reports_a_raising_predicate_and_goes_on() -> None:
    """A predicate that raises costs that item only: reported, not taken, the stream goes on."""
    from reactivex.testing import TestScheduler

    from flowrx.messages import parse
    from flowrx.operators._route import route

    scheduler = TestScheduler()
    bad, good = parse(exec_frame("start_node", "bad", 0)), parse(exec_frame("start_node", "ok", 1))

    def accepts(m: Message) -> bool:
        if m is bad:
            raise ValueError("predicate bug")
        return True

    errors: list[str] = []
    source = _cold(
        scheduler, (210, (bad, 0.1)), (220, [(bad, 0.2), (good, 0.2)]), (230, (good, 0.3))
    )
    seen = scheduler.start(lambda: source.pipe(route(accepts, lambda e, i: errors.append(str(e)))))
    assert _values(seen) == [(220, (good, 0.2)), (230, (good, 0.3))]
    assert errors == ["predicate bug", "predicate bug"]
    assert seen.messages[-1].value.kind == "C"


def test_retry_with_backoff_reports_and_resubscribes_after_a_doubling_capped_delay() -> None:
    """Each error is reported as a value, then the source is resubscribed 1, 2, 4, 4 s later."""
    import reactivex
    from reactivex.testing import TestScheduler

    from flowrx.operators._retry_backoff import retry_with_backoff

    scheduler = TestScheduler()
    subscribed: list[float] = []

    def source(_: Any) -> Any:
        subscribed.append(scheduler.to_seconds(scheduler.now))
        return reactivex.concat(reactivex.just("x"), reactivex.throw(RuntimeError("down")))

    seen = scheduler.start(
        lambda: reactivex.defer(source).pipe(
            retry_with_backoff(
                scheduler, first=1.0, cap=4.0, on_failure=lambda e, n: f"failed {n}: {e}"
            )
        ),
        disposed=230,
    )
    values = [v for _, v in _values(seen)]
    assert values[:6] == ["x", "failed 1: down", "x", "failed 2: down", "x", "failed 3: down"]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(subscribed)]
    assert gaps[:4] == [1.0, 2.0, 4.0, 4.0]


def test_timers_restart_and_cancel_by_key_and_only_what_is_pending_fires() -> None:
    """A restart replaces the key's timer, a cancel disposes it; disposing cancels the rest."""
    from reactivex.testing import TestScheduler

    from flowrx.operators._timers import Timers

    scheduler = TestScheduler()
    fired: list[tuple[float, Any]] = []
    timers = Timers(scheduler, lambda key, payload: fired.append((scheduler.clock, payload)))
    requests = {
        210: (StartTimer("k", 3.0, "first"),),
        211: (StartTimer("k", 3.0, "second"), StartTimer("j", 5.0, "j")),
        212: (CancelTimer("j"), Change("toy", "ignored", None)),
        220: (StartTimer("gone", 1000.0),),
    }
    #   210: start k (3 ticks)   211: restart k (3), start j (5)   212: cancel j
    #   220: start "gone" (1000): still pending when the test ends
    for at, effects in requests.items():
        scheduler.schedule_absolute(at, lambda *_, e=effects: timers.request(e))
    scheduler.advance_to(300)
    assert fired == [(214, "second")]
    assert list(timers.pending) == ["gone"]
    timers.dispose()
    assert timers.pending == {}
    scheduler.advance_by(10_000)
    assert fired == [(214, "second")]  # "gone" was cancelled with the rest


def test_pipeline_counts_a_branch_failure_as_that_concerns_sink_failure() -> None:
    """A concern whose predicate raises is counted and logged; the other concerns carry on."""
    from flowrx.config import Config
    from flowrx.graph import FlowGraph
    from flowrx.pipeline import default_concerns

    def broken(_: Message) -> bool:
        raise RuntimeError("bad predicate")

    cards = default_concerns(FlowGraph.empty(), Config())
    cards = [attrs.evolve(c, accepts=broken) if c.name == "tool" else c for c in cards]
    driver = Driver(concerns=cards)
    state, frames = driver.state, driver.frames
    frames.on_next(exec_frame("run_start"))
    frames.on_next(exec_frame("start_node", "a", 1))
    snapshot = state.snapshot()
    assert snapshot["visual"] == {"a": ["executing"]}
    assert snapshot["store"][RUN][0]["status"] == "executing"
    assert state.failed["tool"] == 2  # both frames, counted once each


def test_retry_with_backoff_subscribes_upstream_with_the_subscribers_scheduler() -> None:
    """Its own scheduler is for the backoff only: upstream sees the subscriber's (here none),
    so a merge above it subscribes its sources at once instead of on the backoff clock."""
    import reactivex

    from flowrx.operators._retry_backoff import retry_with_backoff

    seen: list[Any] = []

    def subscribe(observer: Any, scheduler: Any = None) -> Any:
        seen.append(scheduler)
        observer.on_next("x")
        return reactivex.disposable.Disposable()

    got: list[str] = []
    reactivex.Observable(subscribe).pipe(retry_with_backoff(VirtualClock())).subscribe(got.append)
    assert seen == [None]
    assert got == ["x"]


@pytest.mark.parametrize(
    "nodes",
    [
        ["a", "bad", "c"],
        ["bad"] * 6,
        ["a", *["bad"] * 5, "c"],
        ["bad", "bad", "a"],
    ],
    ids=["one-failure", "degraded", "degraded-then-recovered", "recovered"],
)
def test_a_batch_leaves_the_state_failures_and_health_that_its_events_one_by_one_leave(
    nodes: list[str],
) -> None:
    """Folded as one batch, the events keep per-event isolation: same state, counts, health."""
    frames = [exec_frame("start_node", node, i) for i, node in enumerate(nodes)]
    single, one_by_one, _ = _start(_toy(raise_on="bad"))
    for each in frames:
        one_by_one.on_next(each)
    batched, batch, _ = _start(_toy(raise_on="bad"))
    batch.on_next(frames)
    for name in ("state", "step"):
        ours, theirs = getattr(batched, name)("toy"), getattr(single, name)("toy")
        if name == "step":
            ours, theirs = (
                (ours.failures, ours.streak, ours.degraded),
                (
                    theirs.failures,
                    theirs.streak,
                    theirs.degraded,
                ),
            )
        assert ours == theirs
    assert batched.failed == single.failed
    assert batched.health == single.health
    assert len(batched.step("toy").failed) == nodes.count("bad")
