"""Visual concern (behaviour §1): the pure reducer, then its timed rules in virtual time."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import end_node, frame, run_end, run_start, start_node
from reactivex.testing import ReactiveTest, TestScheduler

from flowrx.concerns.effects import CancelTimer, Change, StartTimer, TimerFired
from flowrx.concerns.visual import Pending, VisualState, reduce_visual
from flowrx.config import Config
from flowrx.graph import graph_from_mapping
from flowrx.messages import Background, Evict, ExecutionEvent, Foreground
from flowrx.pipeline import connect
from flowrx.testing import Driver, fold, glow_changes, run_marbles

CONFIG = Config()

# --- helpers ---------------------------------------------------------------------------------


def ev(
    event: str,
    run: str = "r1",
    node: str | None = None,
    order: int | None = None,
    status: str | None = "running",
) -> ExecutionEvent:
    """An execution message as parse would build it."""
    return ExecutionEvent(event, run, node, order, status)


def start(node: str, run: str = "r1", order: int = 0) -> ExecutionEvent:
    """A start_node message."""
    return ev("start_node", run, node, order)


def end(node: str, status: str = "success", run: str = "r1", order: int = 0) -> ExecutionEvent:
    """An end_node message."""
    return ev("end_node", run, node, order, status)


def fired(key: tuple[str, ...]) -> TimerFired:
    """The TimerFired the wiring would feed back for ``key``."""
    return TimerFired(key, None, key[1])


def feed(
    steps: list[tuple[float, Any]], state: VisualState | None = None
) -> tuple[VisualState, list[Any]]:
    """Run the pure reducer over ``(now, message)`` pairs; return the state and every effect."""
    return fold(lambda s, m, n: reduce_visual(s, m, n, CONFIG), steps, state or VisualState())


glows = glow_changes


class Live(Driver):
    """The real pipeline on a virtual clock, fed through a subject between clock advances."""

    def __init__(self, graph: Any = None, config: Config | None = None) -> None:
        super().__init__(graph=graph, config=config)

    def visual(self, t: float) -> dict[str, list[str]]:
        """The visual section at time ``t``."""
        self.clock.run(until=t)
        return dict(self.state.section("visual"))


# --- pure reducer ----------------------------------------------------------------------------


def test_start_node_shows_executing():
    """A start_node puts ``executing`` on its node and says so."""
    state, effects = feed([(0.0, start("n1"))])
    assert state.runs["r1"].nodes == {"n1": "executing"}
    assert glows(effects) == [("r1", "n1", ("executing",))]


def test_start_node_drops_a_previous_executed_class():
    """A node that ran before loses ``executed-*`` when it starts again."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1")), (1.5, fired(("end", "r1", "n1")))])
    assert state.runs["r1"].nodes["n1"] == "executed-success"
    state, effects = feed([(2.0, start("n1", order=1))], state)
    assert state.runs["r1"].nodes == {"n1": "executing"}
    assert glows(effects) == [("r1", "n1", ("executing",))]


def test_end_node_asks_for_a_500ms_timer_and_keeps_executing():
    """An end_node keeps ``executing`` and asks for the transition 500 ms later."""
    state, effects = feed([(0.0, start("n1")), (1.0, end("n1"))])
    assert StartTimer(("end", "r1", "n1"), 0.5) in effects
    assert state.runs["r1"].nodes["n1"] == "executing"
    assert state.runs["r1"].pending["n1"] == Pending("success", 1.5)


def test_end_timer_shows_executed_status():
    """When the end window's timer fires the node shows ``executed-<status>``."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1", "error"))])
    state, effects = feed([(1.5, fired(("end", "r1", "n1")))], state)
    assert state.runs["r1"].nodes == {"n1": "executed-error"}
    assert state.runs["r1"].pending == {}
    assert glows(effects) == [("r1", "n1", ("executed-error",))]


def test_start_node_within_window_cancels_pending_transition():
    """A restart inside the end window cancels the timer; a stale firing changes nothing."""
    state, effects = feed([(0.0, start("n1")), (1.0, end("n1")), (1.2, start("n1", order=1))])
    assert CancelTimer(("end", "r1", "n1")) in effects
    assert state.runs["r1"].pending == {}
    stale, effects = feed([(1.5, fired(("end", "r1", "n1")))], state)
    assert stale == state
    assert effects == []


def test_repeated_end_node_keeps_the_original_deadline():
    """A second end_node inside the window neither restarts nor moves the timer."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1"))])
    state, effects = feed([(1.3, end("n1", "error"))], state)
    assert not [e for e in effects if isinstance(e, StartTimer | CancelTimer)]
    assert state.runs["r1"].pending["n1"].due == 1.5


def test_run_end_without_pending_clears_at_once():
    """run_end with nothing pending clears every node of the run in the same step."""
    state, _ = feed(
        [
            (0.0, start("n1")),
            (0.1, start("n2")),
            (1.0, end("n1")),
            (1.5, fired(("end", "r1", "n1"))),
        ]
    )
    state, effects = feed([(2.0, ev("run_end"))], state)
    assert "r1" not in state.runs
    assert sorted(glows(effects)) == [("r1", "n1", ()), ("r1", "n2", ())]


def test_run_end_with_pending_waits_for_it_plus_100ms():
    """run_end while a transition is pending asks for the clear at its due + 100 ms."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1"))])
    state, effects = feed([(1.25, ev("run_end"))], state)
    assert effects == [StartTimer(("clear", "r1"), pytest.approx(0.35))]
    assert state.runs["r1"].clearing
    assert glows(effects) == []


def test_run_end_clear_is_at_most_600ms_after_it_arrives():
    """The clear delay never exceeds end window + margin, even when ends arrive together."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1"))])
    _, effects = feed([(1.0, ev("run_end"))], state)
    (timer,) = effects
    assert isinstance(timer, StartTimer)
    assert timer.delay == pytest.approx(0.6)
    assert timer.delay <= CONFIG.end_window + CONFIG.clear_margin + 1e-9


def test_clear_timer_clears_the_run_and_cancels_its_timers():
    """The clear timer drops the run, blanks its nodes and cancels what is still pending."""
    state, _ = feed(
        [(0.0, start("n1")), (0.1, start("n2")), (1.0, end("n1")), (1.0, ev("run_end"))]
    )
    state, effects = feed([(1.6, fired(("clear", "r1")))], state)
    assert state.runs == {}
    assert CancelTimer(("end", "r1", "n1")) in effects
    assert sorted(glows(effects)) == [("r1", "n1", ()), ("r1", "n2", ())]


def test_run_end_of_one_run_leaves_another_runs_nodes_untouched():
    """Clearing run A emits nothing for run B and keeps B's glow."""
    state, _ = feed([(0.0, start("a1", run="A")), (0.0, start("b1", run="B"))])
    state, effects = feed([(1.0, ev("run_end", run="A"))], state)
    assert {run for run, _, _ in glows(effects)} == {"A"}
    assert state.runs["B"].nodes == {"b1": "executing"}


def test_background_run_tracks_state_without_glow():
    """A backgrounded run's events change its tracked state but emit no glow."""
    state, _ = feed([(0.0, start("n1")), (0.5, Background("r1"))])
    state, effects = feed([(1.0, end("n1")), (1.5, fired(("end", "r1", "n1")))], state)
    assert glows(effects) == []
    assert state.runs["r1"].nodes == {"n1": "executed-success"}


def test_background_blanks_and_foreground_restores_the_glow():
    """Background removes the run's glow; foreground re-emits it from the tracked state."""
    state, _ = feed([(0.0, start("n1")), (0.1, start("n2"))])
    state, effects = feed([(0.5, Background("r1"))], state)
    assert sorted(glows(effects)) == [("r1", "n1", ()), ("r1", "n2", ())]
    state, _ = feed([(1.0, end("n1")), (1.5, fired(("end", "r1", "n1")))], state)
    state, effects = feed([(2.0, Foreground("r1"))], state)
    assert sorted(glows(effects)) == [
        ("r1", "n1", ("executed-success",)),
        ("r1", "n2", ("executing",)),
    ]
    _, effects = feed([(2.1, start("n3"))], state)
    assert glows(effects) == [("r1", "n3", ("executing",))]


def test_evict_drops_the_run_and_cancels_its_timers():
    """Evict forgets the run and cancels its end and clear timers."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1")), (1.1, ev("run_end"))])
    state, effects = feed([(1.2, Evict("r1"))], state)
    assert state.runs == {}
    assert CancelTimer(("end", "r1", "n1")) in effects
    assert CancelTimer(("clear", "r1")) in effects


def test_evict_of_an_unknown_run_is_a_no_op():
    """Evicting a run the concern never saw changes nothing."""
    state, _ = feed([(0.0, start("n1"))])
    assert feed([(1.0, Evict("other"))], state) == (state, [])


def test_unknown_status_is_shown_as_executed_status():
    """A well-formed status outside the known four is shown as ``executed-<status>``."""
    state, _ = feed([(0.0, start("n1")), (1.0, end("n1", "skipped"))])
    state, effects = feed([(1.5, fired(("end", "r1", "n1")))], state)
    assert glows(effects) == [("r1", "n1", ("executed-skipped",))]


def test_timer_of_a_cleared_run_changes_nothing():
    """A timer that outlives its run (already cleared) is ignored: state is the authority."""
    state, _ = feed([(0.0, start("n1")), (1.0, ev("run_end"))])
    assert feed([(2.0, fired(("end", "r1", "n1")))], state) == (state, [])


# --- timed rules through the real Rx wiring --------------------------------------------------


def test_start_node_shows_executing_through_the_pipeline():
    """start_node reaches the visual section at once."""
    live = Live()
    live.at(1.0, run_start(), start_node("n1"))
    assert live.visual(1.0) == {"n1": ["executing"]}


def test_end_node_shows_status_after_500ms():
    """After end_node the node is still executing at +499 ms and executed at +500 ms."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1"))
    assert live.visual(1.499) == {"n1": ["executing"]}
    assert live.visual(1.5) == {"n1": ["executed-success"]}


def test_end_node_window_in_marbles():
    """Marbles: start, end 500 ms later, status shown 500 ms after the end."""
    lookup = {"r": run_start(), "s": start_node("n1"), "e": end_node("n1")}
    h = run_marbles("-r-s----e------", lookup)
    #                012345678901234   ruler: one column = 100 ms
    state, clock = h.state, h.clock
    seen: dict[float, dict[str, list[str]]] = {}
    for t in (0.05, 0.35, 1.25, 1.35):
        clock.run(until=t)
        seen[t] = dict(state.section("visual"))
    assert seen == {
        0.05: {},
        0.35: {"n1": ["executing"]},
        1.25: {"n1": ["executing"]},
        1.35: {"n1": ["executed-success"]},
    }


def test_restart_within_500ms_cancels_the_stale_transition():
    """A new start_node of the node in the window: the stale transition never fires."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1", 0))
    live.at(1.0, end_node("n1", 0))
    live.at(1.2, start_node("n1", 1))
    assert live.visual(1.5) == {"n1": ["executing"]}
    assert live.visual(5.0) == {"n1": ["executing"]}
    live.at(6.0, end_node("n1", 1, "error"))
    assert live.visual(6.499) == {"n1": ["executing"]}
    assert live.visual(6.5) == {"n1": ["executed-error"]}


def test_repeated_end_node_keeps_the_original_deadline_in_the_pipeline():
    """A second end_node of the node (another status, so not a duplicate) does not postpone it."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1", status="success"))
    live.at(1.3, end_node("n1", status="error"))
    assert live.visual(1.499) == {"n1": ["executing"]}
    assert live.visual(1.5) == {"n1": ["executed-error"]}
    assert live.visual(2.0) == {"n1": ["executed-error"]}


def test_run_end_with_no_pending_transition_clears_at_once():
    """run_end after every window has passed clears the run's nodes immediately."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1"))
    assert live.visual(2.0) == {"n1": ["executed-success"]}
    live.at(2.0, run_end())
    assert live.visual(2.0) == {}


def test_run_end_with_pending_transition_clears_100ms_after_its_due():
    """The last node's status is visible from its due until due + 100 ms, then cleared."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1"))
    live.at(1.25, run_end())
    assert live.visual(1.499) == {"n1": ["executing"]}
    assert live.visual(1.5) == {"n1": ["executed-success"]}
    assert live.visual(1.599) == {"n1": ["executed-success"]}
    assert live.visual(1.6) == {}


def test_run_end_clears_at_most_600ms_after_it_arrives():
    """run_end at the very moment of the last end_node clears exactly 600 ms later."""
    lookup = {"r": run_start(), "s": start_node("n1"), "e": end_node("n1"), "x": run_end()}
    h = run_marbles("-r-s------(ex)-----", lookup)
    #                0123456789012345678   ruler: one column = 100 ms; (ex) both at 1.0 s
    state, clock = h.state, h.clock
    clock.run(until=1.05)
    assert state.section("visual") == {"n1": ["executing"]}
    clock.run(until=1.5)
    assert state.section("visual") == {"n1": ["executed-success"]}
    clock.run(until=1.599)
    assert state.section("visual") == {"n1": ["executed-success"]}
    clock.run(until=1.6)
    assert state.section("visual") == {}
    assert state.pending_timers["visual"] == 0


def test_run_end_of_run_a_leaves_run_b_untouched():
    """Ending one run clears only its nodes; a concurrent run keeps its glow and timers."""
    live = Live()
    live.at(0.0, run_start("A"), start_node("a1", run="A"))
    live.at(0.1, run_start("B"), start_node("b1", run="B"))
    live.at(1.0, end_node("b1", run="B"))
    live.at(1.1, run_end("A"))
    assert live.visual(1.1) == {"b1": ["executing"]}
    assert live.visual(1.5) == {"b1": ["executed-success"]}


def test_background_run_updates_store_but_not_glow_and_foreground_restores_it():
    """Defect 20: a backgrounded run's events reach the store, and foreground brings glow back."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1", 0))
    live.state.background("r1")
    live.at(0.5, end_node("n1", 0), start_node("n2", 1))
    assert live.visual(1.5) == {}
    store = live.state.section("store")["r1"]
    assert [(r["id"], r["status"]) for r in store] == [("n1-0", "success"), ("n2-1", "executing")]
    live.state.foreground("r1")
    assert live.visual(1.5) == {"n1": ["executed-success"], "n2": ["executing"]}
    live.at(2.0, end_node("n2", 1, "error"))
    assert live.visual(2.5) == {"n1": ["executed-success"], "n2": ["executed-error"]}
    live.at(3.0, run_end())
    assert live.visual(3.0) == {}


def test_evict_drops_the_run_and_leaves_no_visual_timer():
    """Clearing a run cancels its pending transition and clear; its later frames are late."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"), start_node("n2", 1))
    live.at(1.0, end_node("n1"))
    live.at(1.1, run_end())
    assert live.state.pending_timers["visual"] == 2
    live.state.clear("r1")
    assert live.state.pending_timers["visual"] == 0
    assert live.visual(1.1) == {}
    assert live.state.state("visual").runs == {}
    live.at(1.2, start_node("n3", 2))  # any frame of an evicted run is late
    assert live.visual(10.0) == {}
    assert live.state.counters["late"] == 1


def test_eviction_beyond_max_runs_cancels_the_oldest_runs_timers():
    """With max_runs 1, a second run evicts the first with its pending visual timers."""
    live = Live(config=Config(max_runs=1))
    live.at(0.0, run_start("A"), start_node("a1", run="A"))
    live.at(1.0, end_node("a1", run="A"))
    assert live.state.pending_timers["visual"] == 1
    live.at(1.1, run_start("B"), start_node("b1", run="B"))
    assert live.state.pending_timers["visual"] == 0
    assert live.visual(5.0) == {"b1": ["executing"]}
    assert set(live.state.state("visual").runs) == {"B"}


def test_unknown_status_executed_skipped_is_shown():
    """end_node with status ``skipped`` shows ``executed-skipped`` and is counted."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1", status="skipped"))
    assert live.visual(1.5) == {"n1": ["executed-skipped"]}
    assert live.state.counters["unknown_status"] == 1


def test_defect_7_late_start_node_after_run_end_never_relights_the_node():
    """Defect 7: a start_node arriving after run_end is counted late and never shown."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1"))
    live.at(1.0, end_node("n1"))
    live.at(2.0, run_end())
    live.at(2.5, start_node("n1", 3))
    assert live.visual(2.5) == {}
    assert live.visual(60.0) == {}
    assert live.state.counters["late"] == 1
    assert live.state.pending_timers["visual"] == 0


def test_defect_8_no_status_reappears_after_run_end_clear():
    """Defect 8: run_end during a pending transition; after the clear nothing ever re-appears."""
    live = Live()
    live.at(0.0, run_start(), start_node("n1", 0), start_node("n2", 1))
    live.at(1.0, end_node("n1", 0))
    live.at(1.2, end_node("n2", 1, "error"))
    live.at(1.3, run_end())
    assert live.visual(1.7) == {"n1": ["executed-success"], "n2": ["executed-error"]}
    assert live.visual(1.8) == {}
    assert live.state.pending_timers["visual"] == 0
    changes: list[Change] = []
    live.state.changes.subscribe(changes.append)
    live.at(1.9, end_node("n2", 1, "success"))  # late: must not restart a transition
    for t in (2.0, 2.4, 2.5, 3.0, 30.0, 600.0):
        assert live.visual(t) == {}, t
    assert [c for c in changes if c.concern == "visual"] == []


def test_visual_marbles_with_test_scheduler():
    """TestScheduler hot observable: the glow over time of a start, an end and a run_end."""
    scheduler = TestScheduler()
    frames = scheduler.create_hot_observable(
        ReactiveTest.on_next(1.0, run_start()),
        ReactiveTest.on_next(1.0, start_node("n1")),
        ReactiveTest.on_next(2.0, end_node("n1", status="killed")),
        ReactiveTest.on_next(2.2, run_end()),
    )
    state, _ = connect(frames, scheduler=scheduler)
    seen = []
    for t in (1.1, 2.1, 2.45, 2.55, 2.65):
        scheduler.advance_to(t)
        seen.append(state.section("visual"))
    assert seen == [
        {"n1": ["executing"]},
        {"n1": ["executing"]},
        {"n1": ["executing"]},
        {"n1": ["executed-killed"]},
        {},
    ]


# --- the user's timeline, end to end ---------------------------------------------------------


def test_user_timeline_ends_with_badges_kept_glow_gone_editor_unlocked():
    """Two nodes, a tool call, run_end: glows fade after the windows; badges and outcome stay."""
    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "n1", "handle": "agent", "path": "nodes.agent.Agent"},
                {"id": "n1t", "handle": "search", "path": "nodes.tools.Search"},
                {"id": "n2", "handle": "out", "path": "nodes.io.Output"},
            ]
        }
    )
    lookup = {
        "r": run_start(),
        "s": start_node("n1", 0),
        "t": frame("start_tool", "n1t"),
        "u": frame("end_tool", "n1t"),
        "e": end_node("n1", 0),
        "S": start_node("n2", 1),
        "E": end_node("n2", 1),
        "x": run_end(),
    }
    h = run_marbles("-r-s-t-u-e-S-E-x----", lookup, graph=graph)
    #                0123456789          ruler: one column = 100 ms (units digit)
    #                          1111111111       (tens digit)
    state, clock = h.state, h.clock
    clock.run(until=0.75)
    assert state.section("visual") == {"n1": ["executing"]}
    assert state.state("lifecycle").editor_locked
    clock.run(until=1.15)
    assert state.section("visual") == {"n1": ["executing"], "n2": ["executing"]}
    clock.run(until=1.45)
    assert state.section("visual") == {"n1": ["executed-success"], "n2": ["executing"]}
    clock.run(until=1.55)  # run_end at 1.5 while n2's transition is pending (due 1.8)
    assert state.section("visual") == {"n1": ["executed-success"], "n2": ["executing"]}
    assert not state.state("lifecycle").editor_locked
    clock.run(until=1.85)
    assert state.section("visual") == {"n1": ["executed-success"], "n2": ["executed-success"]}
    clock.run(until=1.95)  # run_end's clear: n2's due (1.8 s) + 100 ms
    assert state.section("visual") == {}
    clock.run(until=2.55)  # any tool glow has its 2 s minimum window (0.5 s + 2 s) behind it
    snap = state.snapshot()
    assert snap["visual"] == {}
    assert snap["surface"] == {}
    assert [(r["id"], r["status"], r["handle"], r["type"]) for r in snap["store"]["r1"]] == [
        ("n1-0", "success", "agent", "Agent"),
        ("n2-1", "success", "out", "Output"),
    ]
    badges = sorted(b.badge for b in state.state("store").runs["r1"].records.values())
    assert badges == [1, 2]
    assert snap["lifecycle"]["editor_locked"] is False
    assert snap["lifecycle"]["active_run_id"] is None
    assert snap["lifecycle"]["runs"]["r1"]["status"] == "success"
    assert not any(state.pending_timers.values())
