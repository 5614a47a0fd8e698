"""The concern runner: guarded scan, timers as data, fault injection, last-line restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from loguru import logger
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.messages import ExecutionEvent, Message
from flowrx.operators.concern import InjectedFault, inject_fault
from flowrx.operators.effects import (
    CancelTimer,
    Change,
    Concern,
    Effect,
    Input,
    StartTimer,
    TimerFired,
)

RUN = "run-1"


def frame(event: str, node: str | None = None, order: int = -1, status: str = "running") -> str:
    """One execution frame as the platform sends it."""
    return json.dumps(
        {"run_id": RUN, "node_id": node, "event": event, "order": order, "status": status}
    )


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
    seen: list[dict[str, Any]] = []
    logger.enable("flowrx")
    sink = logger.add(lambda m: seen.append(m.record), level="DEBUG", format="{message}")
    yield seen
    logger.remove(sink)
    logger.disable("flowrx")


def _start(concern: Concern[Any]) -> tuple[Any, Subject[str], VirtualClock]:
    clock = VirtualClock()
    frames: Subject[str] = Subject()
    state, _ = connect(frames, scheduler=clock, concerns=[concern])
    return state, frames, clock


def test_a_failing_event_keeps_the_state_from_before_it_and_the_next_event_applies(
    records: list[dict[str, Any]],
) -> None:
    """Per-event isolation: the failed event changes nothing, the following one is applied."""
    state, frames, _ = _start(_toy(raise_on="bad"))
    frames.on_next(frame("start_node", "a", 0))
    frames.on_next(frame("start_node", "bad", 1))
    assert state.state("toy") == Count(1)
    frames.on_next(frame("start_node", "c", 2))
    assert state.state("toy") == Count(2)
    assert state.failed["toy"] == 1
    assert state.health["toy"] == "ok"


def test_defect_1_a_failure_mid_event_is_logged_once_with_concern_event_run_node_and_traceback(
    records: list[dict[str, Any]],
) -> None:
    """The failure is recorded: one error line naming everything, with the traceback."""
    _state, frames, _ = _start(_toy(raise_on="bad"))
    frames.on_next(frame("start_node", "bad", 0))
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
        frames.on_next(frame("start_node", f"n{i}", i))
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
    frames.on_next(frame("start_node", "a", 0))
    clock.run(until=0.499)
    assert state.state("toy").fired == ()
    clock.run(until=0.5)
    assert state.state("toy").fired == ((("t", RUN, "a"), pytest.approx(0.5)),)
    assert state.pending_timers["toy"] == 0


def test_a_cancelled_timer_never_fires() -> None:
    """CancelTimer disposes the scheduled action."""
    state, frames, clock = _start(_toy(timer=("a", 0.5), cancel_on="b"))
    frames.on_next(frame("start_node", "a", 0))
    clock.run(until=0.2)
    frames.on_next(frame("start_node", "b", 1))
    clock.run(until=5.0)
    assert state.state("toy").fired == ()


def test_restarting_a_timer_replaces_it() -> None:
    """A second StartTimer of the same key moves the deadline; only one fires."""
    state, frames, clock = _start(_toy(timer=("a", 0.5)))
    frames.on_next(frame("start_node", "a", 0))
    clock.run(until=0.3)
    frames.on_next(frame("start_node", "a", 1))
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
    frames.on_next(frame("start_node", "a", 0))
    frames.on_next(frame("start_node", "broken", 1))
    assert state.step("toy").restarts == 1
    assert state.health["toy"] == "degraded"
    frames.on_next(frame("start_node", "lost-while-down", 2))
    clock.run(until=1.0)
    frames.on_next(frame("start_node", "c", 3))
    assert state.state("toy").applied == 3  # a, broken and c: state survived the restart
    assert state.health["toy"] == "ok"


def test_route_keeps_only_what_the_concern_accepts() -> None:
    """route(accepts) passes the (message, now) pairs a concern takes, in order, nothing else."""
    from reactivex.testing import ReactiveTest, TestScheduler

    from flowrx.messages import parse
    from flowrx.operators.route import route

    scheduler = TestScheduler()
    node = parse(frame("start_node", "a", 0))
    tool = parse(frame("start_tool", "t"))
    source = scheduler.create_hot_observable(
        ReactiveTest.on_next(210, (node, 0.1)),
        ReactiveTest.on_next(220, (tool, 0.2)),
        ReactiveTest.on_next(230, (node, 0.3)),
        ReactiveTest.on_completed(240),
    )
    #   time 210: node   220: tool   230: node   240: |
    accepts = _toy().accepts
    seen = scheduler.start(lambda: source.pipe(route(lambda m: accepts(m) and m is node)))
    assert [m.value.value[1] for m in seen.messages if m.value.kind == "N"] == [0.1, 0.3]
    assert seen.messages[-1].value.kind == "C"


def test_partition_sends_each_branch_what_it_accepts_from_one_subscription() -> None:
    """Partition subscribes once upstream and each branch gets exactly its accepted items."""
    from flowrx.messages import parse
    from flowrx.operators.route import Partition

    node = parse(frame("start_node", "a", 0))
    tool = parse(frame("start_tool", "t"))
    source: Subject[Any] = Subject()
    partition = Partition(source)
    nodes: list[Any] = []
    tools: list[Any] = []
    done: list[str] = []
    partition.branch(lambda m: m is node, "nodes").subscribe(
        nodes.append, None, lambda: done.append("n")
    )
    partition.branch(lambda m: m is tool, "tools").subscribe(
        tools.append, None, lambda: done.append("t")
    )
    connection = partition.connect()
    assert partition.connect() is connection  # connecting twice keeps the one subscription
    assert len(source.observers) == 1
    for item in [(node, 0.1), (tool, 0.2), (node, 0.3)]:
        source.on_next(item)
    source.on_completed()
    assert [t for _, t in nodes] == [0.1, 0.3]
    assert [t for _, t in tools] == [0.2]
    assert done == ["n", "t"]


def test_partition_branch_that_raises_costs_no_other_branch_its_message() -> None:
    """A raising predicate or observer is reported by name; the next branch still gets the item."""
    from flowrx.messages import parse
    from flowrx.operators.route import Partition

    node = parse(frame("start_node", "a", 0))
    source: Subject[Any] = Subject()
    reports: list[tuple[str, str]] = []
    partition = Partition(source, lambda name, exc, item: reports.append((name, str(exc))))
    got: list[Any] = []

    def bad_accepts(_: Message) -> bool:
        raise ValueError("predicate bug")

    partition.branch(bad_accepts, "first").subscribe(got.append)
    partition.branch(lambda m: True, "second").subscribe(got.append)
    disposable = partition.branch(lambda m: True, "third").subscribe(got.append)
    partition.connect()
    source.on_next((node, 1.0))
    assert reports == [("first", "predicate bug")]
    assert got == [(node, 1.0), (node, 1.0)]
    disposable.dispose()  # an unsubscribed branch gets nothing more
    source.on_next((node, 2.0))
    assert got[-1] == (node, 2.0)
    assert len(got) == 3


def test_partition_asks_a_by_kind_predicate_once_per_kind_of_message() -> None:
    """A by-kind branch's predicate runs once per (type, event); a per-message one every time."""
    from flowrx.messages import parse
    from flowrx.operators.route import Partition

    starts = [parse(frame("start_node", n, i)) for i, n in enumerate("abc")]
    tool = parse(frame("start_tool", "t"))
    asked: list[str] = []

    def by_kind(m: Message) -> bool:
        asked.append("kind")
        return getattr(m, "event", None) == "start_node"

    def per_message(m: Message) -> bool:
        asked.append("message")
        return True

    source: Subject[Any] = Subject()
    partition = Partition(source)
    kinds: list[Any] = []
    every: list[Any] = []
    partition.branch(by_kind, "kinds", by_kind=True).subscribe(kinds.append)
    partition.branch(per_message, "every").subscribe(every.append)
    partition.connect()
    for i, m in enumerate([*starts, tool, tool]):
        source.on_next((m, float(i)))
    assert [t for _, t in kinds] == [0.0, 1.0, 2.0]
    assert len(every) == 5
    assert asked.count("kind") == 2  # start_node once, start_tool once
    assert asked.count("message") == 5
    late: list[Any] = []
    partition.branch(lambda m: True, "late", by_kind=True).subscribe(late.append)
    source.on_next((tool, 9.0))  # a new branch: the plans are made again and include it
    assert late == [(tool, 9.0)]
    assert asked.count("kind") == 3


def test_partition_keeps_no_plan_for_a_kind_whose_by_kind_predicate_raised() -> None:
    """A by-kind predicate that raises is reported each time it is asked, never cached."""
    from flowrx.messages import parse
    from flowrx.operators.route import Partition

    node = parse(frame("start_node", "a", 0))
    reports: list[str] = []
    source: Subject[Any] = Subject()
    partition = Partition(source, lambda name, exc, item: reports.append(name))
    calls = [0]

    def flaky(_: Message) -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise ValueError("first time only")
        return True

    got: list[Any] = []
    others: list[Any] = []
    partition.branch(flaky, "flaky", by_kind=True).subscribe(got.append)
    partition.branch(lambda m: True, "other", by_kind=True).subscribe(others.append)
    partition.connect()
    for t in (1.0, 2.0, 3.0):
        source.on_next((node, t))
    assert reports == ["flaky"]
    assert [t for _, t in got] == [2.0, 3.0]
    assert [t for _, t in others] == [1.0, 2.0, 3.0]
    assert calls[0] == 2  # asked again after the failure, then remembered


def test_concerns_routed_by_kind_answer_alike_for_every_message_of_a_kind(examples: Any) -> None:
    """Every concern that claims by-kind routing gives one answer per (type, event) seen."""
    from flowrx.graph import load_graph
    from flowrx.messages import Background, ClearRun, Evict, Foreground, parse
    from flowrx.operators.effects import Config
    from flowrx.pipeline import default_concerns
    from flowrx.streams.replay import read_recording
    from flowrx.streams.simulate import simulate

    messages: list[Any] = [parse(f.data) for f in simulate(20, seed=7)]
    for path in sorted(examples.glob("*.jsonl")):
        messages += [parse(f.data) for f in read_recording(path).frames]
    messages += [Evict("r"), Evict("s", "cleared"), Background("r"), Foreground("r")]
    messages += [ClearRun("r")]
    graph = load_graph(examples / "agent-chat.flow.json")  # a flow id: no flow learning
    keyed = [c for c in default_concerns(graph, Config()) if c.accepts_by_kind]
    assert len(keyed) == 7
    for card in keyed:
        answers: dict[tuple[type, str], set[bool]] = {}
        for m in messages:
            if hasattr(m, "event"):
                answers.setdefault((type(m), m.event), set()).add(card.accepts(m))
        assert all(len(a) == 1 for a in answers.values()), card.name
        assert any(a == {True} for a in answers.values()), card.name


def test_pipeline_counts_a_branch_failure_as_that_concerns_sink_failure() -> None:
    """A concern whose predicate raises is counted and logged; the other concerns carry on."""
    from flowrx.graph import FlowGraph
    from flowrx.operators.effects import Config
    from flowrx.pipeline import default_concerns

    def broken(_: Message) -> bool:
        raise RuntimeError("bad predicate")

    cards = default_concerns(FlowGraph.empty(), Config())
    cards = [attrs.evolve(c, accepts=broken) if c.name == "tool" else c for c in cards]
    clock = VirtualClock()
    frames: Subject[Any] = Subject()
    state, _ = connect(frames, scheduler=clock, concerns=cards)
    frames.on_next(frame("run_start"))
    frames.on_next(frame("start_node", "a", 1))
    snapshot = state.snapshot()
    assert snapshot["visual"] == {"a": ["executing"]}
    assert snapshot["store"][RUN][0]["status"] == "executing"
    assert state.failed["tool"] == 2  # both frames, counted once each
