"""flowrx.testing: marble streams of frames and flowrx in virtual time, for users' tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from reactivex.testing import TestScheduler

from flowrx.messages import ExecutionEvent, parse
from flowrx.operators.clock import VirtualClock
from flowrx.testing import (
    agno_frame,
    end_node,
    end_tool,
    exec_frame,
    marble_frames,
    parse_marbles,
    recording_frames,
    run_end,
    run_marbles,
    run_start,
    start_node,
    start_tool,
)

S = exec_frame("start_node", "n1", 0)
E = exec_frame("end_node", "n1", 0, "success")


def test_the_500ms_window_in_five_lines() -> None:
    """The issue's promise: a marble test of the end window written only with flowrx.testing."""
    t = run_marbles("s-e", {"s": S, "e": E})
    #                012   ticks of 100 ms: e at 0.2 s
    assert t.glow("n1", at=0.2 + 0.499) == ["executing"]
    assert t.glow("n1", at=0.2 + 0.5) == ["executed-success"]


def test_each_character_is_one_tick_and_values_are_single_characters() -> None:
    """'ab' is two values at consecutive ticks, not one value 'ab' (RxPY's pitfall)."""
    frames, done = parse_marbles("ab--(cd)-|", {k: k for k in "abcd"}, tick=0.5)
    #                             0123456789
    assert [(f.t, f.data) for f in frames] == [
        (0.0, "a"),
        (0.5, "b"),
        (2.0, "c"),
        (2.0, "d"),
    ]
    assert done == 4.5


def test_times_are_exact_multiples_of_the_tick() -> None:
    """Column 7 at 0.1 s is 0.7, not 0.7000000000000001."""
    frames, _ = parse_marbles("-------a", {"a": "x"}, tick=0.1)
    assert frames[0].t == 0.7


@pytest.mark.parametrize(
    ("marbles", "message"),
    [
        ("a b", "spaces"),
        ("a-x", "'x' is not in the lookup"),
        ("(a", "never closed"),
        ("a|a", "after the stream completed"),
    ],
)
def test_unreadable_diagrams_name_the_column_and_the_problem(marbles: str, message: str) -> None:
    """Mistakes in a diagram are clear errors, never silently shifted time."""
    with pytest.raises(ValueError, match=message):
        parse_marbles(marbles, {"a": "x"})


def test_mappings_in_the_lookup_become_json_frames() -> None:
    """A dict value is sent as its JSON text, as the platform would."""
    frames, _ = parse_marbles("a", {"a": {"event": "run_start", "run_id": "r"}})
    assert frames[0].data == '{"event": "run_start", "run_id": "r"}'


def test_marble_frames_work_on_rxpy_test_scheduler() -> None:
    """Cold marble frames on RxPY's TestScheduler arrive at subscription + column * tick."""
    scheduler = TestScheduler()
    results = scheduler.start(
        lambda: marble_frames("a-b|", {"a": "A", "b": "B"}, scheduler, tick=10.0),
        created=0,
        subscribed=100,
        disposed=1000,
    )
    assert [(m.time, m.value.value) for m in results.messages[:2]] == [(100.0, "A"), (120.0, "B")]


def test_hot_marble_frames_are_timed_from_zero() -> None:
    """A hot diagram's columns are absolute times, whenever it is subscribed."""
    clock = VirtualClock()
    clock.run(until=0.3)
    seen: list[tuple[float, object]] = []
    marble_frames("a---b", {"a": "A", "b": "B"}, clock, hot=True).subscribe(
        lambda v: seen.append((clock.seconds, v))
    )
    clock.run(until=1.0)
    assert seen == [(0.3, "A"), (pytest.approx(0.4), "B")]


def test_the_tool_window_and_group_status_read_as_marbles() -> None:
    """Twenty ticks of 100 ms are the 2 s tool window."""
    lookup = {
        "r": exec_frame("run_start"),
        "t": exec_frame("start_tool", "tool"),
        "u": exec_frame("end_tool", "tool"),
    }
    t = run_marbles("rtu", lookup)
    assert t.glow("tool", at=0.1 + 1.999) == ["executing-tool"]
    assert t.glow("tool", at=0.1 + 2.0) == []
    assert [c.value for _, c in t.effects("tool", "glow")] == [("executing-tool",), ()]


def test_the_harness_refuses_to_go_back_in_time() -> None:
    """at() only moves forward: asking for the past is a clear error."""
    t = run_marbles("s", {"s": S})
    t.at(1.0)
    with pytest.raises(ValueError, match="before the clock"):
        t.at(0.5)


def test_recording_frames_replay_a_file_on_any_scheduler(examples: Path) -> None:
    """A recording becomes a marble-free stream at its recorded times."""
    clock = VirtualClock()
    got: list[object] = []
    recording_frames(examples / "agent-chat.jsonl", clock).subscribe(got.append)
    clock.run(until=0.05)
    assert len(got) == 8
    clock.run()
    assert len(got) == 25


def test_agno_frames_carry_the_relay_fields() -> None:
    """agno_frame builds a chat frame flowrx parses as an Agno event."""
    from flowrx.messages import AgnoEvent, parse

    msg = parse(agno_frame("RunContent", content="hi", sequence_id=1, node_id="a"))
    assert isinstance(msg, AgnoEvent)
    assert msg.content == "hi"


def test_the_driver_pushes_frames_at_virtual_times_and_reads_snapshots() -> None:
    """Driver: frames (text or mappings) at chosen times; the snapshot after timers fire."""
    from flowrx.testing import Driver

    d = Driver()
    d.at(
        0.0,
        exec_frame("run_start"),
        {
            "run_id": DEFAULT,
            "node_id": "n1",
            "event": "start_node",
            "order": 0,
            "status": "running",
        },
    )
    d.at(0.1, E)
    assert d.snapshot(0.599)["visual"]["n1"] == ["executing"]
    assert d.snapshot(0.6)["visual"]["n1"] == ["executed-success"]
    assert d.state.snapshot()["diagnostics"]["frames"] == 3


DEFAULT = "run-1"


def test_fold_runs_a_pure_reducer_and_collects_its_glows_and_timers() -> None:
    """fold, glow_changes and timer_requests test a reducer without any Rx."""
    from flowrx.concerns.effects import StartTimer
    from flowrx.concerns.visual import VisualState, reduce_visual
    from flowrx.messages import ExecutionEvent
    from flowrx.testing import fold, glow_changes, timer_requests

    state, effects = fold(
        reduce_visual,
        [
            (0.0, ExecutionEvent("start_node", "r", "n", 0, "running")),
            (0.1, ExecutionEvent("end_node", "r", "n", 0, "success")),
        ],
        VisualState(),
    )
    assert state.runs["r"].pending["n"].status == "success"
    assert glow_changes(effects) == [("r", "n", ("executing",))]
    assert timer_requests(effects) == [StartTimer(("end", "r", "n"), 0.5)]


def test_virtual_clock_runs_rx_timers_given_as_datetimes_timedeltas_or_seconds() -> None:
    """Absolute datetimes, timedeltas and float seconds all fire at their moment, in order."""
    from datetime import timedelta

    import reactivex
    from reactivex import operators as ops

    clock = VirtualClock()
    fired: list[tuple[str, float]] = []
    clock.schedule_relative(
        timedelta(seconds=0.3), lambda *_: fired.append(("delta", clock.seconds))
    )
    clock.schedule_relative(0.1, lambda *_: fired.append(("float", clock.seconds)))
    clock.schedule_absolute(
        clock.to_datetime(0.2), lambda *_: fired.append(("datetime", clock.seconds))
    )
    clock.schedule(lambda *_: fired.append(("now", clock.seconds)))
    reactivex.timer(0.25, scheduler=clock).pipe(ops.map(lambda _: "rx")).subscribe(
        lambda v: fired.append((v, clock.seconds))
    )
    clock.advance_to(0.2)
    assert fired == [("now", 0.0), ("float", 0.1), ("datetime", 0.2)]
    assert clock.seconds == 0.2
    clock.advance_by(timedelta(seconds=0.05))
    assert fired[-1] == ("rx", 0.25)
    clock.start()
    assert fired[-1] == ("delta", 0.3)
    with pytest.raises(ValueError, match="cannot go back in time"):
        clock.advance_to(0.1)


def test_named_frame_builders_send_what_the_platform_sends_for_each_event() -> None:
    """run_start .. end_tool are exec_frame with the event's own node, order and status."""
    assert run_start() == exec_frame("run_start")
    assert run_end(run="B", flow="f") == exec_frame("run_end", run="B", flow="f")
    assert start_node("n1") == exec_frame("start_node", "n1", 0)
    assert end_node("n1", 2, "error", run="B") == exec_frame("end_node", "n1", 2, "error", run="B")
    assert start_tool("t1") == exec_frame("start_tool", "t1", -1, "running")
    assert end_tool("t1", flow="f") == exec_frame("end_tool", "t1", -1, "running", flow="f")
    msg = parse(end_node("n1", 2, "killed"))
    assert isinstance(msg, ExecutionEvent)
    assert (msg.event, msg.run_id, msg.node_id, msg.order, msg.status) == (
        "end_node",
        DEFAULT,
        "n1",
        2,
        "killed",
    )
