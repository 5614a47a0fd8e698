"""Group concern (behaviour §7): the pure reducer, then its timed rules in virtual time.

A group's state is derived from its descendants in the run: ``executing`` while any descendant
is executing or inside its 500 ms end window, then ``executed-<worst>`` over those that ended.
Pipeline tests push frames through a subject between ``clock.run(until=t)`` calls, or play
marbles on the virtual clock (one column = 100 ms).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import end_node, frame, run_end, run_start, start_node
from reactivex.testing import ReactiveTest, TestScheduler

from flowrx import VirtualClock, cli, connect, load_graph, read_recording, replay
from flowrx.concerns.effects import CancelTimer, StartTimer, TimerFired
from flowrx.concerns.group import (
    GroupState,
    Member,
    group_section,
    group_surface,
    reduce_group,
)
from flowrx.config import Config
from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.messages import Background, Evict, ExecutionEvent, Foreground, NodeAnnounced
from flowrx.sinks.state import FlowState
from flowrx.testing import Driver, fold, glow_changes, run_marbles, timer_requests

CONFIG = Config()

#: outer g1 holds inner g2 (member m) and sibling g3 (member k); gs holds a and b; x is outside.
GRAPH = graph_from_mapping(
    {
        "nodes": [
            {"id": "g1", "handle": "outer", "category": "group"},
            {"id": "g2", "handle": "inner", "category": "group", "group": "g1"},
            {"id": "g3", "handle": "sibling", "category": "group", "group": "g1"},
            {"id": "m", "handle": "deep", "path": "a.b.C", "group": "g2"},
            {"id": "k", "handle": "side", "path": "a.b.K", "group": "g3"},
            {"id": "gs", "handle": "steps", "category": "group"},
            {"id": "a", "handle": "first", "path": "x.y.A", "group": "gs"},
            {"id": "b", "handle": "second", "path": "x.y.B", "group": "gs"},
            {"id": "x", "handle": "outside", "path": "x.y.X"},
        ]
    }
)

#: a bad graph: A in B and B in A, with m in A.
CYCLE = graph_from_mapping(
    {
        "nodes": [
            {"id": "A", "category": "group", "group": "B"},
            {"id": "B", "category": "group", "group": "A"},
            {"id": "m", "path": "a.b.C", "group": "A"},
        ]
    }
)

# --- helpers ---------------------------------------------------------------------------------


def ev(
    event: str,
    node: str | None = None,
    status: str | None = "running",
    run: str = "r1",
    order: int = 0,
) -> ExecutionEvent:
    """An execution message as parse would build it."""
    return ExecutionEvent(event, run, node, order, status)


def start(node: str, run: str = "r1", order: int = 0) -> ExecutionEvent:
    """A start_node message."""
    return ev("start_node", node, "running", run, order)


def end(node: str, status: str = "success", run: str = "r1", order: int = 0) -> ExecutionEvent:
    """An end_node message."""
    return ev("end_node", node, status, run, order)


def window(node: str, run: str = "r1") -> TimerFired:
    """The TimerFired of a descendant's 500 ms end window."""
    return TimerFired(("gwin", run, node), None, run)


def clear(run: str = "r1") -> TimerFired:
    """The TimerFired of run_end's delayed clear."""
    return TimerFired(("gclear", run), None, run)


def feed(
    steps: list[tuple[float, Any]], state: GroupState | None = None, graph: FlowGraph = GRAPH
) -> tuple[GroupState, list[Any]]:
    """Run the pure reducer over ``(now, message)`` pairs; return the state and every effect."""
    return fold(lambda s, m, n: reduce_group(s, m, n, CONFIG, graph), steps, state or GroupState())


glows = glow_changes


timers = timer_requests


def record(status: str | None, started: int, ended: int) -> dict[str, Any]:
    """One group's record as the ``group`` section shows it."""
    return {"status": status, "started": started, "ended": ended}


class Live(Driver):
    """The real pipeline on a virtual clock, fed through a subject between clock advances."""

    def __init__(self, graph: FlowGraph = GRAPH, config: Config | None = None) -> None:
        super().__init__(graph=graph, config=config)

    def snap(self, t: float) -> dict[str, Any]:
        """The snapshot at time ``t``."""
        return self.snapshot(t)

    def surface(self, t: float) -> dict[str, list[str]]:
        """The surface at time ``t``, group nodes only."""
        surface = self.snap(t)["surface"]
        return {n: c for n, c in surface.items() if n in GROUPS}


GROUPS = frozenset({"g1", "g2", "g3", "gs", "A", "B"})


def seen_at(
    state: FlowState, clock: VirtualClock, times: list[float]
) -> dict[float, tuple[dict[str, list[str]], dict[str, Any]]]:
    """(group surface, group section of r1) at each of ``times``, in order."""
    seen = {}
    for t in times:
        clock.run(until=t)
        snap = state.snapshot()
        surface = {n: c for n, c in snap["surface"].items() if n in GROUPS}
        seen[t] = (surface, snap["group"].get("r1", {}))
    return seen


# --- the graph -------------------------------------------------------------------------------


def test_the_test_graph_nests_g2_and_g3_in_g1_and_keeps_x_outside():
    """The fixture's membership: ancestors innermost first, x in no group."""
    assert GRAPH.ancestors("m") == ("g2", "g1")
    assert GRAPH.ancestors("k") == ("g3", "g1")
    assert GRAPH.ancestors("g2") == ("g1",)
    assert GRAPH.ancestors("a") == ("gs",)
    assert GRAPH.ancestors("x") == ()
    assert GRAPH.problems == ()


def test_a_graph_with_a_cycle_loads_and_reports_the_cycle_once():
    """A in B and B in A: loaded, one problem line, every walk stops before a repeat."""
    cycles = [p for p in CYCLE.problems if "cycle" in p]
    assert len(cycles) == 1
    assert len(CYCLE.problems) == 1
    assert CYCLE.ancestors("A") == ("B",)
    assert CYCLE.ancestors("B") == ("A",)
    assert CYCLE.ancestors("m") == ("A", "B")


# --- pure reducer ----------------------------------------------------------------------------


def test_a_members_start_makes_its_group_and_every_enclosing_group_executing():
    """start_node of m lights g2 and g1 (innermost first); the sibling g3 is untouched."""
    state, effects = feed([(0.0, start("m"))])
    assert glows(effects) == [("r1", "g2", ("executing",)), ("r1", "g1", ("executing",))]
    assert group_section(state) == {
        "r1": {"g1": record("executing", 1, 0), "g2": record("executing", 1, 0)}
    }


def test_end_node_keeps_the_group_executing_500ms_then_shows_the_status():
    """The end asks for a 500 ms window timer; its firing shows executed-success."""
    state, effects = feed([(0.0, start("a")), (1.0, end("a"))])
    assert StartTimer(("gwin", "r1", "a"), 0.5) in effects
    assert glows(effects) == [("r1", "gs", ("executing",))]
    assert state.runs["r1"].members["a"] == Member("window", "success", 1.5)
    assert group_section(state)["r1"]["gs"] == record("executing", 1, 1)
    state, effects = feed([(1.5, window("a"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-success",))]
    assert group_section(state)["r1"]["gs"] == record("success", 1, 1)


def test_defect_9_a_group_never_completes_while_a_later_member_runs():
    """Defect 9: a ends when only a had started; b starts in a's window; done only after b."""
    state, effects = feed([(0.0, start("a")), (1.0, end("a"))])
    assert group_section(state)["r1"]["gs"] == record("executing", 1, 1)
    state, effects = feed([(1.2, start("b")), (1.5, window("a"))], state)
    assert glows(effects) == []  # stays executing: no flicker to executed-success
    assert group_section(state)["r1"]["gs"] == record("executing", 2, 1)
    state, effects = feed([(2.0, end("b", order=1)), (2.5, window("b"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-success",))]
    assert group_section(state)["r1"]["gs"] == record("success", 2, 2)


def test_defect_10_nested_groups_complete_and_only_the_failing_branch_is_error():
    """Defects 10/11: m fails in g2, k succeeds in g3: g2 and g1 error, g3 success."""
    state, _ = feed(
        [
            (0.0, start("m")),
            (0.0, start("k", order=1)),
            (1.0, end("m", "error")),
            (1.0, end("k", "success", order=1)),
        ]
    )
    state, effects = feed([(1.5, window("m")), (1.5, window("k"))], state)
    assert group_surface(state) == {
        "g1": ["executed-error"],
        "g2": ["executed-error"],
        "g3": ["executed-success"],
    }
    assert group_section(state)["r1"] == {
        "g1": record("error", 2, 2),
        "g2": record("error", 1, 1),
        "g3": record("success", 1, 1),
    }
    assert ("r1", "g3", ("executed-error",)) not in glows(effects)


def test_worst_status_wins_error_over_killed_over_success_over_provided():
    """The derived status is the worst over the descendants that ended."""
    for statuses, worst in [
        (("provided", "success"), "success"),
        (("success", "killed"), "killed"),
        (("killed", "error"), "error"),
        (("provided", "provided"), "provided"),
    ]:
        state, _ = feed(
            [
                (0.0, start("a")),
                (0.0, start("b", order=1)),
                (1.0, end("a", statuses[0])),
                (1.0, end("b", statuses[1], order=1)),
                (1.5, window("a")),
                (1.5, window("b")),
            ]
        )
        assert group_section(state)["r1"]["gs"]["status"] == worst, statuses


def test_defect_11_a_node_outside_every_group_never_colours_one():
    """Defect 11: x's error changes no group; gs is coloured by its own member only."""
    state, effects = feed([(0.0, start("x")), (1.0, end("x", "error")), (1.5, window("x"))])
    assert (state, effects) == (GroupState(), [])
    state, _ = feed(
        [
            (0.0, start("a")),
            (0.0, start("x", order=1)),
            (1.0, end("a")),
            (1.0, end("x", "error", order=1)),
            (1.5, window("a")),
        ]
    )
    assert group_section(state) == {"r1": {"gs": record("success", 1, 1)}}


def test_a_member_that_starts_again_puts_the_group_back_to_executing():
    """After executed-success, a new start of a member shows executing; counts stay distinct."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a")), (1.5, window("a"))])
    state, effects = feed([(3.0, start("a", order=1))], state)
    assert glows(effects) == [("r1", "gs", ("executing",))]
    assert timers(effects) == []
    assert group_section(state)["r1"]["gs"] == record("executing", 1, 1)
    state, _ = feed([(4.0, end("a", "error", order=1)), (4.5, window("a"))], state)
    assert group_section(state)["r1"]["gs"] == record("error", 1, 1)


def test_a_restart_inside_the_end_window_cancels_the_window_timer():
    """start_node of a member in its 500 ms window cancels the pending window."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a"))])
    state, effects = feed([(1.2, start("a", order=1))], state)
    assert timers(effects) == [CancelTimer(("gwin", "r1", "a"))]
    assert glows(effects) == []
    stale, effects = feed([(1.5, window("a"))], state)
    assert (stale, effects) == (state, [])


def test_defect_13_a_repeated_end_node_keeps_the_window_and_counts_once():
    """Defect 13: a second end_node neither cancels nor moves the window, nor counts twice."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a"))])
    state, effects = feed([(1.2, end("a")), (1.3, end("a", "error"))], state)
    assert timers(effects) == []
    assert state.runs["r1"].members["a"] == Member("window", "error", 1.5)
    assert group_section(state)["r1"]["gs"] == record("executing", 1, 1)
    state, effects = feed([(1.5, window("a"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-error",))]
    assert group_section(state)["r1"]["gs"] == record("error", 1, 1)


def test_run_end_without_pending_windows_clears_the_group_glow_at_once():
    """run_end after every window: glow cleared in the same step, record kept."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a")), (1.5, window("a"))])
    state, effects = feed([(2.0, ev("run_end"))], state)
    assert glows(effects) == [("r1", "gs", ())]
    assert timers(effects) == []
    assert group_surface(state) == {}
    assert group_section(state) == {"r1": {"gs": record("success", 1, 1)}}


def test_run_end_with_a_pending_window_clears_100ms_after_it():
    """run_end 100 ms after an end: the clear is asked for at the window's due + 100 ms."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a"))])
    state, effects = feed([(1.1, ev("run_end"))], state)
    assert effects == [StartTimer(("gclear", "r1"), pytest.approx(0.5))]
    state, effects = feed([(1.5, window("a"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-success",))]
    state, effects = feed([(1.6, clear())], state)
    assert glows(effects) == [("r1", "gs", ())]
    assert group_section(state) == {"r1": {"gs": record("success", 1, 1)}}


def test_a_member_still_running_at_run_end_makes_the_group_unfinished():
    """Documented choice: a descendant cut short by run_end counts as unfinished, not ended."""
    state, _ = feed([(0.0, start("a")), (0.0, start("b", order=1)), (0.5, end("b", order=1))])
    state, _ = feed([(1.0, window("b")), (2.0, ev("run_end"))], state)
    assert group_section(state) == {"r1": {"gs": record("unfinished", 2, 1)}}
    assert group_surface(state) == {}


def test_a_nested_group_nodes_own_start_and_end_count_for_its_parent_only():
    """g2's own start/end count for g1; g1's own start/end touch no group."""
    state, effects = feed([(0.0, start("g1")), (0.1, end("g1"))])
    assert (state, effects) == (GroupState(), [])
    state, _ = feed([(0.0, start("g2")), (0.1, start("m", order=1))])
    assert group_section(state)["r1"] == {
        "g1": record("executing", 2, 0),
        "g2": record("executing", 1, 0),
    }


def test_background_run_groups_still_complete_and_foreground_restores_the_glow():
    """Defect 12: windows close in the background without glow; foreground shows the result."""
    state, _ = feed([(0.0, start("a"))])
    state, effects = feed([(0.5, Background("r1"))], state)
    assert glows(effects) == [("r1", "gs", ())]
    state, effects = feed([(1.0, end("a")), (1.5, window("a"))], state)
    assert glows(effects) == []
    assert group_section(state)["r1"]["gs"] == record("success", 1, 1)
    assert group_surface(state) == {}
    state, effects = feed([(2.0, Foreground("r1"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-success",))]
    assert group_surface(state) == {"gs": ["executed-success"]}


def test_evict_cancels_the_runs_group_timers_and_drops_it():
    """Evict drops the run whole: window and clear timers cancelled, glow blanked."""
    state, _ = feed([(0.0, start("a")), (1.0, end("a")), (0.0, start("a", run="other"))])
    state, effects = feed([(1.1, Evict("r1"))], state)
    assert CancelTimer(("gwin", "r1", "a")) in effects
    assert CancelTimer(("gclear", "r1")) in effects
    assert glows(effects) == [("r1", "gs", ())]
    assert list(state.runs) == ["other"]
    assert feed([(1.5, window("a"))], state) == (state, [])


def test_events_of_a_cyclic_graph_terminate_and_count_each_group_once():
    """A in B, B in A: m counts for A and B once; A's own start counts for B, B's for A."""
    state, _ = feed(
        [(0.0, start("A")), (0.0, start("B", order=1)), (0.1, start("m", order=2))], graph=CYCLE
    )
    assert group_section(state)["r1"] == {
        "A": record("executing", 2, 0),
        "B": record("executing", 2, 0),
    }
    steps = [(1.0, end("m", order=2)), (1.0, end("A")), (1.0, end("B", order=1))]
    steps += [(1.5, window("m")), (1.5, window("A")), (1.5, window("B"))]
    state, _ = feed(steps, state, graph=CYCLE)
    assert group_section(state)["r1"] == {
        "A": record("success", 2, 2),
        "B": record("success", 2, 2),
    }


# --- in virtual time, through the real pipeline ----------------------------------------------


def test_a_group_of_two_sequential_members_in_marbles():
    """Marbles: a 0.2-0.5 s, b 0.7-1.0 s: executing from 0.2 s until 1.5 s, then success."""
    lookup = {
        "r": run_start(),
        "a": start_node("a", 0),
        "A": end_node("a", 0),
        "b": start_node("b", 1),
        "B": end_node("b", 1),
    }
    h = run_marbles("r-a--A-b--B---------", lookup, graph=GRAPH)
    #                01234567890123456789   ruler: one column = 100 ms
    #                0         1            (tens of columns = seconds)
    state, clock = h.state, h.clock
    executing = {"gs": ["executing"]}
    seen = seen_at(state, clock, [0.1, 0.2, 0.6, 1.0, 1.499, 1.5, 5.0])
    assert seen == {
        0.1: ({}, {}),
        0.2: (executing, {"gs": record("executing", 1, 0)}),
        0.6: (executing, {"gs": record("executing", 1, 1)}),  # only a started, and ended
        1.0: (executing, {"gs": record("executing", 2, 2)}),
        1.499: (executing, {"gs": record("executing", 2, 2)}),
        1.5: ({"gs": ["executed-success"]}, {"gs": record("success", 2, 2)}),
        5.0: ({"gs": ["executed-success"]}, {"gs": record("success", 2, 2)}),
    }


def test_defect_9_the_group_stays_executing_in_the_gap_between_members():
    """Defect 9: at every instant between a's end and b's end the group shows executing."""
    live = Live()
    live.at(0.0, run_start(), start_node("a", 0))
    live.at(1.0, end_node("a", 0))
    live.at(1.4, start_node("b", 1))
    for t in (1.0, 1.2, 1.399, 1.4, 1.5, 1.9):
        assert live.surface(t) == {"gs": ["executing"]}, t
    live.at(2.0, end_node("b", 1))
    assert live.surface(2.499) == {"gs": ["executing"]}
    assert live.surface(2.5) == {"gs": ["executed-success"]}
    assert live.snap(2.5)["group"] == {"r1": {"gs": record("success", 2, 2)}}


def test_nested_two_deep_where_only_the_inner_member_fails_in_marbles():
    """Marbles: m fails in g2 (in g1), k succeeds in g3 (in g1): g2, g1 error; g3 success."""
    lookup = {
        "r": run_start(),
        "m": start_node("m", 0),
        "k": start_node("k", 1),
        "M": end_node("m", 0, "error"),
        "K": end_node("k", 1, "success"),
    }
    h = run_marbles("r-m-k-M-K-----------", lookup, graph=GRAPH)
    #                01234567890123456789   ruler: one column = 100 ms
    #                0         1            (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = seen_at(state, clock, [0.3, 1.1, 1.3])
    assert seen[0.3][0] == {"g1": ["executing"], "g2": ["executing"]}
    assert seen[1.1][0] == {
        "g1": ["executing"],  # k's window is still open
        "g2": ["executed-error"],
        "g3": ["executing"],
    }
    assert seen[1.3] == (
        {"g1": ["executed-error"], "g2": ["executed-error"], "g3": ["executed-success"]},
        {"g1": record("error", 2, 2), "g2": record("error", 1, 1), "g3": record("success", 1, 1)},
    )


def test_defect_11_a_node_outside_the_group_never_colours_it_in_the_pipeline():
    """Defect 11: x fails in the same run; gs shows its member's success; x colours no group."""
    live = Live()
    live.at(0.0, run_start(), start_node("x", 0))
    live.at(1.0, end_node("x", 0, "error"))
    assert live.snap(2.0)["group"] == {}
    assert live.surface(2.0) == {}
    live.at(2.0, start_node("a", 1))
    live.at(2.5, end_node("a", 1))
    snap = live.snap(3.0)
    assert snap["group"] == {"r1": {"gs": record("success", 1, 1)}}
    assert snap["surface"] == {
        "a": ["executed-success"],
        "gs": ["executed-success"],
        "x": ["executed-error"],
    }


def test_a_member_that_starts_again_after_the_status_showed_in_marbles():
    """Marbles: a succeeds (shown at 0.9 s), runs again from 1.5 s and fails: error at 2.3 s."""
    lookup = {
        "r": run_start(),
        "a": start_node("a", 0),
        "A": end_node("a", 0),
        "c": start_node("a", 1),
        "E": end_node("a", 1, "error"),
    }
    h = run_marbles("r-a-A----------c--E---------", lookup, graph=GRAPH)
    #                0123456789012345678901234567   ruler: one column = 100 ms
    #                0         1         2          (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = seen_at(state, clock, [0.899, 0.9, 1.5, 2.299, 2.3])
    assert seen == {
        0.899: ({"gs": ["executing"]}, {"gs": record("executing", 1, 1)}),
        0.9: ({"gs": ["executed-success"]}, {"gs": record("success", 1, 1)}),
        1.5: ({"gs": ["executing"]}, {"gs": record("executing", 1, 1)}),
        2.299: ({"gs": ["executing"]}, {"gs": record("executing", 1, 1)}),
        2.3: ({"gs": ["executed-error"]}, {"gs": record("error", 1, 1)}),
    }


def test_group_marbles_with_test_scheduler():
    """TestScheduler hot observable: a member's start, end and run_end, group over time."""
    scheduler = TestScheduler()
    frames = scheduler.create_hot_observable(
        ReactiveTest.on_next(1.0, run_start()),
        ReactiveTest.on_next(1.0, start_node("a")),
        ReactiveTest.on_next(2.0, end_node("a", status="killed")),
        ReactiveTest.on_next(2.2, run_end()),
    )
    state, _ = connect(frames, scheduler=scheduler, graph=GRAPH)
    seen = []
    for t in (1.1, 2.1, 2.45, 2.55, 2.65):
        scheduler.advance_to(t)
        seen.append(state.surface_of("group"))
    assert seen == [
        {"gs": ["executing"]},
        {"gs": ["executing"]},
        {"gs": ["executing"]},
        {"gs": ["executed-killed"]},
        {},
    ]
    assert state.section("group") == {"r1": {"gs": record("killed", 1, 1)}}


def test_defect_13_a_repeated_end_node_does_not_cancel_the_window_or_count_twice():
    """Defect 13: a second end_node keeps the first end's deadline and counts one end."""
    live = Live()
    live.at(0.0, run_start(), start_node("a"))
    live.at(1.0, end_node("a", status="success"))
    live.at(1.2, end_node("a", status="success"))
    live.at(1.3, end_node("a", status="error"))
    assert live.surface(1.499) == {"gs": ["executing"]}
    snap = live.snap(1.5)
    assert snap["surface"]["gs"] == ["executed-error"]
    assert snap["group"] == {"r1": {"gs": record("error", 1, 1)}}
    assert snap["diagnostics"]["duplicates"] == 1
    assert live.state.pending_timers["group"] == 0


def test_defect_12_groups_of_a_backgrounded_run_complete_and_glow_on_foreground():
    """Defect 12: in the background the record reaches success; foreground shows the glow."""
    live = Live()
    live.at(0.0, run_start())
    live.state.background("r1")
    live.at(0.1, start_node("a"))
    live.at(0.5, end_node("a"))
    snap = live.snap(1.0)
    assert snap["group"] == {"r1": {"gs": record("success", 1, 1)}}
    assert snap["surface"] == {}
    live.state.foreground("r1")
    assert live.surface(1.0) == {"gs": ["executed-success"]}


def test_a_run_ended_in_the_background_stays_dark_on_foreground_but_keeps_its_record():
    """Background, then run_end: the clear happens unseen; foreground relights nothing."""
    live = Live()
    live.at(0.0, run_start(), start_node("a"))
    live.state.background("r1")
    live.at(0.5, end_node("a"))
    live.at(0.6, run_end())
    live.at(2.0)
    live.state.foreground("r1")
    snap = live.snap(2.0)
    assert snap["surface"] == {}
    assert snap["group"] == {"r1": {"gs": record("success", 1, 1)}}


def test_run_end_clears_the_group_glow_after_the_pending_window_and_keeps_the_record():
    """run_end at 1.1 s, a's window closes at 1.5 s: success shows, cleared at 1.6 s."""
    live = Live()
    live.at(0.0, run_start(), start_node("a"))
    live.at(1.0, end_node("a"))
    live.at(1.1, run_end())
    assert live.surface(1.499) == {"gs": ["executing"]}
    assert live.surface(1.5) == {"gs": ["executed-success"]}
    assert live.surface(1.599) == {"gs": ["executed-success"]}
    snap = live.snap(1.6)
    assert snap["surface"] == {}
    assert snap["group"] == {"r1": {"gs": record("success", 1, 1)}}
    assert live.state.pending_timers["group"] == 0


def test_a_member_still_running_at_run_end_leaves_the_group_unfinished():
    """Documented choice: the cut-short member makes the group unfinished; glow cleared."""
    live = Live()
    live.at(0.0, run_start(), start_node("a"))
    live.at(1.0, run_end())
    snap = live.snap(1.0)
    assert snap["group"] == {"r1": {"gs": record("unfinished", 1, 0)}}
    assert snap["surface"] == {}
    assert [r["status"] for r in snap["store"]["r1"]] == ["unfinished"]


def test_the_group_nodes_own_events_set_its_badge_but_the_derived_state_wins_the_surface():
    """gs's own start/end set its badge and visual class; the surface shows the derived one."""
    live = Live()
    live.at(0.0, run_start(), start_node("gs", 0), start_node("a", 1))
    live.at(0.2, end_node("gs", 0, "success"))
    snap = live.snap(0.8)
    assert snap["visual"]["gs"] == ["executed-success"]
    assert snap["surface"]["gs"] == ["executing"]
    live.at(1.0, end_node("a", 1, "error"))
    snap = live.snap(1.5)
    assert snap["visual"]["gs"] == ["executed-success"]
    assert snap["surface"]["gs"] == ["executed-error"]
    assert [(r["id"], r["status"], r["handle"], r["type"]) for r in snap["store"]["r1"]] == [
        ("gs-0", "success", "steps", None),
        ("a-1", "error", "first", "A"),
    ]
    assert snap["group"] == {"r1": {"gs": record("error", 1, 1)}}


def test_a_nested_group_nodes_own_end_counts_for_its_parent_in_the_pipeline():
    """g2's own start/end are descendants of g1: g1 waits for g2's window too."""
    live = Live()
    live.at(0.0, run_start(), start_node("g2", 0), start_node("m", 1))
    live.at(0.5, end_node("m", 1))
    live.at(0.8, end_node("g2", 0))
    assert live.surface(1.0) == {"g1": ["executing"], "g2": ["executed-success"]}
    assert live.surface(1.3) == {"g1": ["executed-success"], "g2": ["executed-success"]}
    assert live.snap(1.3)["group"]["r1"]["g1"] == record("success", 2, 2)


def test_a_graph_with_a_cycle_drives_its_groups_and_every_event_terminates():
    """A in B, B in A: the pipeline handles their events and reports the cycle once."""
    live = Live(graph=CYCLE)
    live.at(0.0, run_start(), start_node("A", 0), start_node("m", 1))
    live.at(1.0, end_node("m", 1, "killed"), end_node("A", 0))
    live.at(1.1, run_end())
    snap = live.snap(5.0)
    assert snap["group"] == {"r1": {"A": record("killed", 1, 1), "B": record("killed", 2, 2)}}
    assert snap["surface"] == {}
    assert snap["diagnostics"]["failed"]["group"] == 0
    assert len([p for p in live.state.graph.problems if "cycle" in p]) == 1


def test_evicting_a_run_cancels_its_group_timers_and_drops_its_record():
    """max_runs 1: the second run evicts the first; no group timer or record of it is left."""
    live = Live(config=Config(max_runs=1))
    live.at(0.0, run_start("A"), start_node("a", run="A"))
    live.at(1.0, end_node("a", run="A"), run_end("A"))
    assert live.state.pending_timers["group"] == 2  # a's window and the delayed clear
    live.at(1.2, run_start("B"))
    assert live.state.pending_timers["group"] == 0
    snap = live.snap(3.0)
    assert snap["group"] == {}
    assert snap["surface"] == {}


def test_clearing_a_run_drops_its_groups_and_leaves_another_runs():
    """state.clear(run): the run's group record, glow and timers go; the other run's stay."""
    live = Live()
    live.at(0.0, start_node("a", run="A"), start_node("a", run="B"))
    live.at(1.0, end_node("a", run="A"), end_node("a", run="B"))
    live.state.clear("A")
    assert live.state.pending_timers["group"] == 1
    snap = live.snap(2.0)
    assert snap["group"] == {"B": {"gs": record("success", 1, 1)}}
    assert snap["surface"]["gs"] == ["executed-success"]


def test_a_resumed_run_keeps_its_cleared_group_glow_dark_until_a_member_changes_it():
    """resume_start relights no cleared group; a descendant's start does; counts go on."""
    seen: list[tuple[str | None, Any]] = []
    live = Live()
    live.state.add_sink(
        lambda c: seen.append((c.node_id, c.value)) if c.concern == "group" else None
    )
    live.at(0.0, run_start(), start_node("a", 0))
    live.at(1.0, end_node("a", 0))
    live.at(2.0, run_end())
    live.at(10.0, frame("resume_start"))
    snap = live.snap(10.0)
    assert snap["surface"] == {}
    assert snap["group"] == {"r1": {"gs": record("success", 1, 1)}}
    live.at(11.0, start_node("b", 1))
    assert live.surface(11.0) == {"gs": ["executing"]}
    live.at(12.0, end_node("b", 1), frame("resume_end"))
    assert live.surface(12.5) == {"gs": ["executed-success"]}
    snap = live.snap(12.6)
    assert snap["surface"] == {}
    assert snap["group"] == {"r1": {"gs": record("success", 2, 2)}}
    assert seen == [
        ("gs", ("executing",)),
        ("gs", ("executed-success",)),
        ("gs", ()),
        ("gs", ("executing",)),
        ("gs", ("executed-success",)),
        ("gs", ()),
    ]


def test_a_resume_before_the_run_end_clear_keeps_the_group_glow_like_the_nodes():
    """resume_start inside run_end's clear delay cancels the clear: the status stays shown."""
    live = Live()
    live.at(0.0, run_start(), start_node("a", 0))
    live.at(1.0, end_node("a", 0))
    live.at(1.1, run_end())
    live.at(1.2, frame("resume_start"))
    snap = live.snap(3.0)
    assert snap["surface"] == {"a": ["executed-success"], "gs": ["executed-success"]}
    assert live.state.pending_timers["group"] == 0


def test_a_run_backgrounded_before_its_first_group_event_never_lights_a_group():
    """Background reaches the group concern before any member event: still no glow."""
    state, effects = feed([(0.0, Background("r1")), (0.1, start("a")), (0.5, end("a"))])
    assert glows(effects) == []
    assert group_surface(state) == {}
    state, effects = feed([(1.0, window("a")), (1.5, Foreground("r1"))], state)
    assert glows(effects) == [("r1", "gs", ("executed-success",))]
    assert feed([(0.0, Foreground("nope"))]) == (GroupState(), [])


# --- the done-when on the real recording ---------------------------------------------

GROUP_NODE = "a0000000-0000-4000-8000-00000000000a"
IN_GROUP = "a0000000-0000-4000-8000-000000000003"  # runs 0.073277 .. 0.079593
RUN = "0e000000-0000-4000-8000-000000000001"


def _replay(examples: Path, until: float | None = None, **kw: Any) -> FlowState:
    clock = VirtualClock()
    recording = read_recording(examples / "groups-tools-error.jsonl")
    graph = load_graph(examples / "groups-tools-error.flow.json")
    state, _ = connect(replay(recording.frames, clock), scheduler=clock, graph=graph, **kw)
    clock.run(until=until)
    return state


def _cli(examples: Path, *args: str) -> dict[str, Any]:
    out = io.StringIO()
    code = cli.main(
        [
            "replay",
            str(examples / "groups-tools-error.jsonl"),
            "--graph",
            str(examples / "groups-tools-error.flow.json"),
            *args,
        ],
        out=out,
    )
    assert code == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc


def test_recorded_group_is_executing_while_in_group_runs(examples: Path):
    """Done-when: at 0.075 s my_group shows executing (surface and group section)."""
    snap = _replay(examples, until=0.075).snapshot()
    assert snap["surface"][GROUP_NODE] == ["executing"]
    assert snap["visual"][IN_GROUP] == ["executing"]
    assert snap["group"] == {RUN: {GROUP_NODE: record("executing", 1, 0)}}


def test_recorded_group_ends_success_with_one_started_and_one_ended(examples: Path):
    """Done-when: after the replay my_group's record is success, started == ended == 1."""
    snap = _replay(examples).snapshot()
    assert snap["group"] == {RUN: {GROUP_NODE: record("success", 1, 1)}}
    assert GROUP_NODE not in snap["surface"]  # cleared by run_end, the record stays


def test_recorded_group_shows_success_between_its_window_and_the_run_end_clear(examples: Path):
    """in_group ends at 0.079593: success from 0.579593 until run_end's clear at ~0.718 s."""
    assert _replay(examples, until=0.579).snapshot()["surface"][GROUP_NODE] == ["executing"]
    snap = _replay(examples, until=0.6).snapshot()
    assert snap["surface"][GROUP_NODE] == ["executed-success"]
    assert GROUP_NODE not in _replay(examples, until=0.75).snapshot()["surface"]


@pytest.mark.parametrize(
    ("args", "surface", "status"),
    [
        (("--at", "0.075"), ["executing"], "executing"),
        (("--at", "0.6"), ["executed-success"], "success"),
        (("--at", "1.99"), None, "success"),
        (("--instant", "--snapshot"), None, "success"),
    ],
)
def test_recorded_group_through_the_cli(
    examples: Path, args: tuple[str, ...], surface: list[str] | None, status: str
):
    """Done-when through ``flowrx replay FILE --graph FLOW --at T`` run in-process."""
    snap = _cli(examples, *args)
    assert snap["surface"].get(GROUP_NODE) == surface
    started_ended = (1, 0) if status == "executing" else (1, 1)
    assert snap["group"] == {RUN: {GROUP_NODE: record(status, *started_ended)}}


@pytest.mark.parametrize("at", [0.075, 0.6, 1.99, None])
def test_a_faulty_group_concern_leaves_every_other_section_identical(
    examples: Path, at: float | None
):
    """Isolation (--fault group): every other section and counter equals a clean replay."""
    clean = _replay(examples, until=at).snapshot()
    faulty = _replay(examples, until=at, faults={"group": 1.0}).snapshot()
    for section in ("visual", "store", "lifecycle", "tool", "chat", "interaction"):
        assert faulty[section] == clean[section], section
    a = {k: v for k, v in clean["diagnostics"].items() if k not in ("failed", "health")}
    b = {k: v for k, v in faulty["diagnostics"].items() if k not in ("failed", "health")}
    assert a == b
    assert faulty["group"] == {}
    failed = faulty["diagnostics"]["failed"]
    assert failed["group"] > 0
    assert all(n == 0 for name, n in failed.items() if name != "group")


# --- membership a protocol announces (Agno without a definition) ------------------------------


def test_announced_membership_makes_groups_without_a_graph_nested_to_any_depth():
    """NodeAnnounced gives a node's enclosing group; with no graph the run derives its groups
    from that chain (innermost first), exactly as from a graph's."""
    empty = FlowGraph.empty()
    steps = [
        (0.0, NodeAnnounced("r1", "loop", None)),
        (0.0, NodeAnnounced("r1", "par", "loop")),
        (0.0, NodeAnnounced("r1", "x", "par")),
        (0.0, start("x")),
        (1.0, end("x", "error")),
        (1.5, window("x")),
    ]
    state, effects = feed(steps, graph=empty)
    assert glows(effects)[:2] == [("r1", "par", ("executing",)), ("r1", "loop", ("executing",))]
    assert group_section(state) == {
        "r1": {"loop": record("error", 1, 1), "par": record("error", 1, 1)}
    }


def test_announced_membership_belongs_to_its_run_and_the_graph_wins_for_nodes_it_knows():
    """Another run learns nothing from r1's announcements; a node the graph knows keeps the
    graph's groups whatever is announced; a repeat of the same membership changes nothing."""
    state, _ = feed([(0.0, NodeAnnounced("r1", "x", "gx"))], graph=FlowGraph.empty())
    same, effects = feed([(0.0, NodeAnnounced("r1", "x", "gx"))], state, graph=FlowGraph.empty())
    assert same is state
    assert effects == []
    state, _ = feed([(0.0, start("x", run="r2"))], state, graph=FlowGraph.empty())
    assert group_section(state) == {}
    state, _ = feed([(0.0, NodeAnnounced("r1", "m", "elsewhere")), (0.0, start("m"))])
    assert set(group_section(state)["r1"]) == {"g1", "g2"}


def test_a_run_evicted_forgets_its_announced_membership():
    """Evict drops the run whole, the membership it learned included."""
    state, _ = feed([(0.0, NodeAnnounced("r1", "x", "gx"))], graph=FlowGraph.empty())
    state, _ = feed([(0.0, Evict("r1"))], state, graph=FlowGraph.empty())
    assert state.runs == {}
