"""Tool concern (behaviour §4): the pure reducer, then its timed rules in virtual time.

The glow of a call lasts ``max(end_tool arrival, start_tool arrival + 2 s)``; calls on one node
overlap; ``run_end`` ends the run's open calls (their glow then lasts out its window); eviction
and clears cancel the run's timers. Pipeline tests push frames through a subject between
``clock.run(until=t)`` calls, or play marbles on the virtual clock (one column = 100 ms).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import end_tool, frame, run_end, run_start, start_tool
from reactivex.testing import ReactiveTest, TestScheduler

from flowrx import VirtualClock, cli, connect, load_graph, read_recording, replay
from flowrx.concerns.effects import CancelTimer, StartTimer, TimerFired
from flowrx.concerns.tool import Call, ToolState, reduce_tool, tool_section
from flowrx.config import Config
from flowrx.messages import Background, Evict, ExecutionEvent, Foreground
from flowrx.sinks.state import FlowState
from flowrx.testing import Driver, fold, glow_changes, run_marbles, timer_requests

CONFIG = Config()
GLOW = "executing-tool"
ON = [GLOW]

# --- helpers ---------------------------------------------------------------------------------


def ev(event: str, node: str | None = None, run: str = "r1") -> ExecutionEvent:
    """An execution message as parse would build it (tool frames carry order -1)."""
    return ExecutionEvent(event, run, node, -1, "running")


def fired(node: str, run: str = "r1") -> TimerFired:
    """The TimerFired the wiring feeds back for a node's tool timer."""
    return TimerFired(("tool", run, node), None, run)


def feed(
    steps: list[tuple[float, Any]], state: ToolState | None = None
) -> tuple[ToolState, list[Any]]:
    """Run the pure reducer over ``(now, message)`` pairs; return the state and every effect."""
    return fold(lambda s, m, n: reduce_tool(s, m, n, CONFIG), steps, state or ToolState())


glows = glow_changes


timers = timer_requests


class Live(Driver):
    """The real pipeline on a virtual clock, fed through a subject between clock advances."""

    def __init__(self, config: Config | None = None) -> None:
        super().__init__(config=config)

    def tool(self, t: float) -> dict[str, list[str]]:
        """The tool section at time ``t``."""
        self.clock.run(until=t)
        return dict(self.state.section("tool"))


def tool_at(state: FlowState, clock: VirtualClock, times: list[float]) -> dict[float, Any]:
    """The tool section at each of ``times`` (in order)."""
    seen = {}
    for t in times:
        clock.run(until=t)
        seen[t] = dict(state.section("tool"))
    return seen


# --- pure reducer ----------------------------------------------------------------------------


def test_start_tool_lights_the_node_and_asks_for_no_timer_while_the_call_is_open():
    """start_tool shows executing-tool at once; an open call has no deadline yet."""
    state, effects = feed([(0.0, ev("start_tool", "t1"))])
    assert glows(effects) == [("r1", "t1", (GLOW,))]
    assert not [e for e in effects if isinstance(e, StartTimer)]
    assert state.runs["r1"].nodes == {"t1": (Call(0.0),)}
    assert tool_section(state) == {"t1": ON}


def test_a_50ms_call_asks_for_the_glow_to_end_2s_after_its_start():
    """end_tool 50 ms in: the glow stays, and a timer is set for start + 2 s."""
    state, effects = feed([(0.0, ev("start_tool", "t1")), (0.05, ev("end_tool", "t1"))])
    assert StartTimer(("tool", "r1", "t1"), pytest.approx(1.95)) in effects
    assert glows(effects) == [("r1", "t1", (GLOW,))]  # only the start's
    state, effects = feed([(2.0, fired("t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]
    assert state.runs == {}


def test_a_3s_call_goes_dark_when_its_end_arrives():
    """An end after the 2 s window puts the glow out in the same step, with no timer."""
    state, _ = feed([(0.0, ev("start_tool", "t1"))])
    state, effects = feed([(3.0, ev("end_tool", "t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]
    assert timers(effects) == [CancelTimer(("tool", "r1", "t1"))]
    assert state.runs == {}


def test_overlapping_calls_keep_the_node_lit_until_the_last_window_closes():
    """Two calls on one node: the first window's timer re-arms for the second's."""
    state, effects = feed(
        [
            (0.0, ev("start_tool", "t1")),
            (1.0, ev("start_tool", "t1")),
            (1.05, ev("end_tool", "t1")),
            (1.1, ev("end_tool", "t1")),
        ]
    )
    assert glows(effects) == [("r1", "t1", (GLOW,))]
    assert effects[-1] == StartTimer(("tool", "r1", "t1"), pytest.approx(1.9))
    state, effects = feed([(2.0, fired("t1"))], state)  # a stale firing at the first window
    assert glows(effects) == []
    assert tool_section(state) == {"t1": ON}
    state, effects = feed([(3.0, fired("t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]


def test_defect_15_a_second_call_during_the_first_window_extends_the_glow():
    """Defect 15: a call 1 s into the first call's 2 s window is never ignored."""
    state, _ = feed([(0.0, ev("start_tool", "t1")), (0.05, ev("end_tool", "t1"))])
    state, effects = feed([(1.0, ev("start_tool", "t1"))], state)
    assert timers(effects) == [CancelTimer(("tool", "r1", "t1"))]  # open again: no deadline
    assert glows(effects) == []  # already lit
    state, effects = feed([(1.05, ev("end_tool", "t1"))], state)
    assert effects == [StartTimer(("tool", "r1", "t1"), pytest.approx(1.95))]
    state, effects = feed([(2.0, fired("t1"))], state)
    assert glows(effects) == []
    assert tool_section(state) == {"t1": ON}


@pytest.mark.parametrize(
    ("begin", "finish"),
    [
        ("start_tool", "end_tool"),
        ("start_tool_or_member", "end_tool_or_member"),
        ("start_tool", "end_tool_or_member"),
        ("start_tool_or_member", "end_tool"),
    ],
)
def test_team_variants_drive_the_same_glow(begin: str, finish: str):
    """start_tool_or_member/end_tool_or_member open and close calls like start/end_tool."""
    state, effects = feed([(0.0, ev(begin, "t1")), (0.05, ev(finish, "t1"))])
    assert glows(effects) == [("r1", "t1", (GLOW,))]
    assert StartTimer(("tool", "r1", "t1"), pytest.approx(1.95)) in effects
    assert state.orphan_tool_end == 0


def test_run_end_closes_an_open_call_whose_glow_then_lasts_out_its_window():
    """run_end 0.5 s into an open call: the glow ends at start + 2 s, not at once."""
    state, _ = feed([(0.0, ev("start_tool", "t1"))])
    state, effects = feed([(0.5, ev("run_end"))], state)
    assert effects == [StartTimer(("tool", "r1", "t1"), pytest.approx(1.5))]
    assert state.runs["r1"].nodes["t1"] == (Call(0.0, 0.5),)
    state, effects = feed([(2.0, fired("t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]
    assert state.runs == {}


def test_defect_14_run_end_after_the_window_clears_a_call_whose_end_was_lost():
    """Defect 14: a call whose end_tool never came goes dark at run_end (window long over)."""
    state, _ = feed([(0.0, ev("start_tool", "t1")), (0.1, ev("start_tool", "t2"))])
    state, effects = feed([(5.0, ev("run_end"))], state)
    assert sorted(glows(effects)) == [("r1", "t1", ()), ("r1", "t2", ())]
    assert state.runs == {}


def test_run_end_of_one_run_leaves_another_runs_tool_glow():
    """Only the ending run's calls are closed; the other run's node stays lit."""
    state, _ = feed([(0.0, ev("start_tool", "t1", run="A")), (0.0, ev("start_tool", "t1", "B"))])
    state, effects = feed([(5.0, ev("run_end", run="A"))], state)
    assert glows(effects) == [("A", "t1", ())]
    assert tool_section(state) == {"t1": ON}
    assert list(state.runs) == ["B"]


def test_an_end_tool_without_a_start_is_counted_not_an_error():
    """An orphan end changes nothing but the orphan_tool_end counter."""
    state, effects = feed([(0.0, ev("end_tool", "t1"))])
    assert effects == []
    assert state == ToolState(orphan_tool_end=1)


def test_a_second_end_for_one_call_is_an_orphan_and_leaves_the_window_alone():
    """One start, two ends: the second end is counted and does not move the deadline."""
    state, _ = feed([(0.0, ev("start_tool", "t1")), (0.05, ev("end_tool", "t1"))])
    state, effects = feed([(1.0, ev("end_tool", "t1"))], state)
    assert effects == []
    assert state.orphan_tool_end == 1
    assert state.runs["r1"].nodes["t1"] == (Call(0.0, 0.05),)


def test_a_tool_frame_without_a_node_changes_nothing():
    """Defensive: a hand-made tool message without a node is ignored."""
    state, effects = feed([(0.0, ev("start_tool", None))])
    assert (state, effects) == (ToolState(), [])


def test_evict_cancels_the_runs_tool_timers_and_removes_its_glow():
    """Evict drops the run: its timers are cancelled and its nodes go dark."""
    state, _ = feed(
        [
            (0.0, ev("start_tool", "t1")),
            (0.05, ev("end_tool", "t1")),
            (0.1, ev("start_tool", "t2", run="other")),
        ]
    )
    state, effects = feed([(0.5, Evict("r1"))], state)
    assert CancelTimer(("tool", "r1", "t1")) in effects
    assert glows(effects) == [("r1", "t1", ())]
    assert list(state.runs) == ["other"]
    assert feed([(2.0, fired("t1"))], state) == (state, [])  # a stale firing is a no-op


def test_evict_of_an_unknown_run_is_a_no_op():
    """Evicting a run the tool concern never saw emits nothing."""
    state, _ = feed([(0.0, ev("start_tool", "t1"))])
    assert feed([(1.0, Evict("nope"))], state) == (state, [])


def test_background_hides_and_foreground_restores_the_tool_glow():
    """Background blanks the run's tool nodes; foreground relights those still glowing."""
    state, _ = feed([(0.0, ev("start_tool", "t1")), (0.0, ev("start_tool", "t2"))])
    state, effects = feed([(0.5, Background("r1"))], state)
    assert sorted(glows(effects)) == [("r1", "t1", ()), ("r1", "t2", ())]
    assert tool_section(state) == {}
    state, effects = feed([(1.0, ev("end_tool", "t1")), (2.0, fired("t1"))], state)
    assert glows(effects) == []  # no glow changes while in the background
    state, effects = feed([(2.5, Foreground("r1"))], state)
    assert glows(effects) == [("r1", "t2", (GLOW,))]
    assert tool_section(state) == {"t2": ON}


def test_a_node_lit_without_a_break_keeps_only_the_calls_that_still_glow():
    """A call a second for 100 s on one node: state holds the live calls, not all 100."""
    state = ToolState()
    for i in range(100):
        state, _ = feed([(i, ev("start_tool", "t1")), (i + 0.1, ev("end_tool", "t1"))], state)
        state, _ = feed([(i + 0.5, fired("t1"))], state)
    assert tool_section(state) == {"t1": ON}
    assert len(state.runs["r1"].nodes["t1"]) <= 3
    state, effects = feed([(101.0, fired("t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]


def test_a_run_backgrounded_before_its_first_call_never_lights_a_tool():
    """Background reaches the tool concern before any call: its calls stay hidden."""
    state, effects = feed([(0.0, Background("r1")), (0.1, ev("start_tool", "t1"))])
    assert glows(effects) == []
    assert tool_section(state) == {}
    state, effects = feed([(0.5, Foreground("r1"))], state)
    assert glows(effects) == [("r1", "t1", (GLOW,))]


def test_a_background_run_stays_hidden_after_its_glow_went_out_and_a_new_call_starts():
    """The background flag outlives the run's last lit node: the next call is hidden too."""
    state, _ = feed([(0.0, ev("start_tool", "t1")), (0.5, Background("r1"))])
    state, _ = feed([(0.6, ev("end_tool", "t1")), (2.0, fired("t1"))], state)
    state, effects = feed([(4.0, ev("start_tool", "t1"))], state)
    assert glows(effects) == []
    assert tool_section(state) == {}
    state, effects = feed([(5.0, Foreground("r1")), (5.0, ev("end_tool", "t1"))], state)
    assert glows(effects) == [("r1", "t1", (GLOW,))]
    state, effects = feed([(6.0, fired("t1"))], state)
    assert glows(effects) == [("r1", "t1", ())]
    assert state.runs == {}  # foreground and dark: nothing left to remember


# --- in virtual time, through the real pipeline ----------------------------------------------


def test_a_50ms_call_glows_exactly_2s_from_its_start():
    """On at 1.999 s, off at 2.0 s, although the call ended at 50 ms."""
    live = Live()
    live.at(0.0, run_start(), start_tool())
    live.at(0.05, end_tool())
    assert live.tool(0.06) == {"t1": ON}
    assert live.tool(1.999) == {"t1": ON}
    assert live.tool(2.0) == {}
    assert live.state.pending_timers["tool"] == 0


def test_a_50ms_call_in_test_scheduler_marbles():
    """TestScheduler hot observable: start at 1.0, end at 1.05, dark at 3.0."""
    scheduler = TestScheduler()
    frames = scheduler.create_hot_observable(
        ReactiveTest.on_next(1.0, run_start()),
        ReactiveTest.on_next(1.0, start_tool()),
        ReactiveTest.on_next(1.05, end_tool()),
    )
    state, _ = connect(frames, scheduler=scheduler)
    seen = []
    for t in (0.9, 1.0, 1.05, 2.999, 3.0):
        scheduler.advance_to(t)
        seen.append(state.section("tool"))
    assert seen == [{}, {"t1": ON}, {"t1": ON}, {"t1": ON}, {}]


def test_a_3s_call_glows_3s_in_marbles():
    """Marbles: a call from 0.2 s to 3.2 s glows until its end arrives, not just 2 s."""
    lookup = {"r": run_start(), "s": start_tool(), "e": end_tool()}
    h = run_marbles("r-s-----------------------------e-----", lookup)
    #                01234567890123456789012345678901234567   ruler: one column = 100 ms
    #                0         1         2         3          (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = tool_at(state, clock, [0.15, 0.2, 2.2, 3.199, 3.2])
    assert seen == {0.15: {}, 0.2: {"t1": ON}, 2.2: {"t1": ON}, 3.199: {"t1": ON}, 3.2: {}}


def test_two_overlapping_calls_on_one_node_glow_until_the_last_window_closes_in_marbles():
    """Marbles: calls 0.2-3.0 s and 0.5-4.0 s on one node: lit without a gap until 4.0 s."""
    lookup = {"r": run_start(), "s": start_tool(), "e": end_tool()}
    h = run_marbles("r-s--s------------------------e---------e----", lookup)
    #                012345678901234567890123456789012345678901234   ruler: one column = 100 ms
    #                0         1         2         3         4       (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = tool_at(state, clock, [0.2, 2.5, 3.0, 3.999, 4.0])
    assert seen == {0.2: {"t1": ON}, 2.5: {"t1": ON}, 3.0: {"t1": ON}, 3.999: {"t1": ON}, 4.0: {}}
    assert state.snapshot()["diagnostics"]["duplicates"] == 0  # 300 ms apart: two real calls


def test_defect_15_a_second_call_in_the_first_window_extends_the_glow_in_marbles():
    """Marbles: calls 0.2-0.4 s and 1.5-1.7 s: lit past the first window, dark at 1.5 + 2 s."""
    lookup = {"r": run_start(), "s": start_tool(), "e": end_tool()}
    h = run_marbles("r-s-e----------s-e------------------", lookup)
    #                012345678901234567890123456789012345   ruler: one column = 100 ms
    #                0         1         2         3        (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = tool_at(state, clock, [2.19, 2.2, 3.499, 3.5])
    assert seen == {2.19: {"t1": ON}, 2.2: {"t1": ON}, 3.499: {"t1": ON}, 3.5: {}}


def test_team_variant_calls_glow_through_the_pipeline():
    """start_tool_or_member/end_tool_or_member: the same 2 s glow on the member's tool node."""
    live = Live()
    live.at(0.0, run_start(), frame("start_tool_or_member", "t1"))
    live.at(0.05, frame("end_tool_or_member", "t1"))
    assert live.tool(1.999) == {"t1": ON}
    assert live.tool(2.0) == {}


def test_a_call_still_running_at_run_end_goes_dark_after_its_window_in_marbles():
    """Marbles: start 0.2 s, run_end 1.0 s with the call open: dark at 0.2 + 2 s."""
    lookup = {"r": run_start(), "s": start_tool(), "x": run_end()}
    h = run_marbles("r-s-------x------------------", lookup)
    #                01234567890123456789012345678   ruler: one column = 100 ms
    #                0         1         2           (tens of columns = seconds)
    state, clock = h.state, h.clock
    seen = tool_at(state, clock, [1.0, 2.199, 2.2])
    assert seen == {1.0: {"t1": ON}, 2.199: {"t1": ON}, 2.2: {}}
    assert state.pending_timers["tool"] == 0


def test_defect_14_a_lost_end_tool_never_leaves_the_glow_on_for_good():
    """Defect 14: no end_tool ever; run_end at 5 s clears at once; a late end changes nothing."""
    live = Live()
    live.at(0.0, run_start(), start_tool())
    assert live.tool(4.999) == {"t1": ON}
    live.at(5.0, run_end())
    assert live.tool(5.0) == {}
    assert live.state.pending_timers["tool"] == 0
    live.at(6.0, end_tool())  # for an ended run: late at intake, not an orphan
    assert live.tool(100.0) == {}
    diagnostics = live.state.snapshot()["diagnostics"]
    assert (diagnostics["late"], diagnostics["orphan_tool_end"]) == (1, 0)
    assert diagnostics["failed"]["tool"] == 0


def test_end_tool_without_start_is_counted_in_the_snapshot_diagnostics():
    """An orphan end_tool: counted as orphan_tool_end, no failure, no glow."""
    live = Live()
    live.at(0.0, run_start(), end_tool())
    live.at(1.0, start_tool("t2"), end_tool("t2"))
    snap = live.state.snapshot()
    assert snap["diagnostics"]["orphan_tool_end"] == 1
    assert snap["diagnostics"]["failed"]["tool"] == 0
    assert snap["diagnostics"]["health"]["tool"] == "ok"
    assert snap["tool"] == {"t2": ON}


def test_evicting_a_run_cancels_its_tool_timers_and_removes_the_glow():
    """max_runs 1: a second run evicts the first; no tool timer is left, its glow is gone."""
    live = Live(config=Config(max_runs=1))
    live.at(0.0, run_start("A"), start_tool(run="A"))
    live.at(0.05, end_tool(run="A"))
    assert live.state.pending_timers["tool"] == 1
    live.at(0.5, run_start("B"))
    assert live.state.pending_timers["tool"] == 0
    assert live.tool(0.5) == {}
    assert "t1" not in live.state.snapshot()["surface"]
    assert live.tool(3.0) == {}


def test_clearing_a_run_cancels_its_tool_timers_and_removes_the_glow():
    """state.clear(run): the run's tool timers go, its glow goes, another run's stays."""
    live = Live()
    live.at(0.0, run_start("A"), start_tool(run="A"), run_start("B"), start_tool("t2", "B"))
    live.at(0.05, end_tool(run="A"), end_tool("t2", "B"))
    assert live.state.pending_timers["tool"] == 2
    live.state.clear("A")
    assert live.state.pending_timers["tool"] == 1
    assert live.tool(0.05) == {"t2": ON}
    assert live.tool(2.0) == {}


def test_background_hides_and_foreground_restores_the_tool_glow_in_the_pipeline():
    """Background hides the tool glow; foreground restores what still glows, not more."""
    live = Live()
    live.at(0.0, run_start(), start_tool("t1"))
    live.at(0.05, end_tool("t1"), start_tool("t2"))
    live.at(0.5)
    live.state.background("r1")
    assert live.tool(0.5) == {}
    assert live.state.snapshot()["surface"] == {}
    live.at(1.5)
    live.state.foreground("r1")
    assert live.tool(1.5) == {"t1": ON, "t2": ON}
    assert live.state.snapshot()["surface"] == {"t1": ON, "t2": ON}
    live.state.background("r1")
    live.at(2.5)
    live.state.foreground("r1")
    assert live.tool(2.5) == {"t2": ON}  # t1's window closed at 2.0 in the background


def test_a_run_backgrounded_before_any_tool_call_keeps_its_calls_off_the_surface():
    """Host backgrounds the run at its start; later calls never reach tool or surface."""
    live = Live()
    live.at(0.0, run_start())
    live.state.background("r1")
    live.at(1.0, start_tool())
    live.at(1.05, end_tool())
    live.at(5.0, start_tool())
    assert live.tool(5.0) == {}
    assert live.state.snapshot()["surface"] == {}
    live.state.foreground("r1")
    assert live.tool(5.0) == {"t1": ON}


def test_tool_changes_reach_the_sinks_once_per_visible_change():
    """A sink sees the node light once and go dark once for two overlapping calls."""
    seen: list[tuple[str | None, Any]] = []
    live = Live()
    live.state.add_sink(
        lambda c: seen.append((c.node_id, c.value)) if c.concern == "tool" else None
    )
    live.at(0.0, run_start(), start_tool())
    live.at(0.5, start_tool())
    live.at(0.6, end_tool())
    live.at(0.8, end_tool())
    live.at(10.0)
    assert seen == [("t1", (GLOW,)), ("t1", ())]


# --- the done-when on the real recording ---------------------------------------------

TOOL_NODE = "a0000000-0000-4000-8000-000000000006"
START_TOOL_AT = 0.090251
END_TOOL_AT = 0.09903


def _replay(examples: Path, until: float | None = None, **kw: Any) -> FlowState:
    clock = VirtualClock()
    recording = read_recording(examples / "groups-tools-error.jsonl")
    graph = load_graph(examples / "groups-tools-error.flow.json")
    state, _ = connect(replay(recording.frames, clock), scheduler=clock, graph=graph, **kw)
    clock.run(until=until)
    return state


@pytest.mark.parametrize(
    ("at", "lit"),
    [
        (START_TOOL_AT, True),
        (END_TOOL_AT, True),
        (START_TOOL_AT + 1.9, True),
        (START_TOOL_AT + 2.1, False),
    ],
)
def test_recorded_tool_call_glows_at_its_end_and_at_1_9s_but_not_at_2_1s(
    examples: Path, at: float, lit: bool
):
    """Done-when: the recorded 9 ms call glows 2 s from its start_tool (surface and section)."""
    snap = _replay(examples, until=at).snapshot()
    assert (TOOL_NODE in snap["tool"]) is lit
    assert (GLOW in snap["surface"].get(TOOL_NODE, [])) is lit
    assert snap["diagnostics"]["orphan_tool_end"] == 0


@pytest.mark.parametrize(
    ("at", "lit"), [(END_TOOL_AT, True), (1.99, True), (START_TOOL_AT + 2.1, False)]
)
def test_recorded_tool_call_through_the_cli_at_snapshots(examples: Path, at: float, lit: bool):
    """Done-when through ``flowrx replay FILE --graph FLOW --at T`` run in-process."""
    out = io.StringIO()
    code = cli.main(
        [
            "replay",
            str(examples / "groups-tools-error.jsonl"),
            "--graph",
            str(examples / "groups-tools-error.flow.json"),
            "--at",
            repr(at),
        ],
        out=out,
    )
    assert code == 0
    snap = json.loads(out.getvalue())
    assert snap["clock"] == pytest.approx(at, abs=1e-6)
    assert (snap["tool"].get(TOOL_NODE) == ON) is lit
    assert (GLOW in snap["surface"].get(TOOL_NODE, [])) is lit


@pytest.mark.parametrize("at", [0.075, END_TOOL_AT, 0.2, 1.99, None])
def test_a_faulty_tool_concern_leaves_every_other_section_identical(
    examples: Path, at: float | None
):
    """Isolation (--fault tool): other sections and counters equal a clean replay's."""
    concern = "tool"
    clean = _replay(examples, until=at).snapshot()
    faulty = _replay(examples, until=at, faults={concern: 1.0}).snapshot()
    for section in ("visual", "store", "lifecycle", "tool", "chat", "interaction", "group"):
        if section != concern:
            assert faulty[section] == clean[section], section
    a = {k: v for k, v in clean["diagnostics"].items() if k not in ("failed", "health")}
    b = {k: v for k, v in faulty["diagnostics"].items() if k not in ("failed", "health")}
    assert a == b
    failed = faulty["diagnostics"]["failed"]
    assert all(n == 0 for name, n in failed.items() if name != concern)
    if at is None or at > START_TOOL_AT:  # the tool concern sees its first event at 0.09
        assert failed[concern] > 0
