"""Lifecycle concern (behaviour §3): runs, outcome, editor lock and watchdog; pure and timed."""

from __future__ import annotations

import json
import threading
from typing import Any

from helpers import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrx.concerns.effects import CancelTimer, Change, Hook, StartTimer, TimerFired
from flowrx.concerns.lifecycle import LifecycleState, reduce_lifecycle
from flowrx.config import Config
from flowrx.messages import AgentPaused, AgnoEvent, Evict, ExecutionEvent, Unknown
from flowrx.testing import Driver, fold, run_marbles

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


def ended(node: str, status: str, run: str = "r1", order: int = 0) -> ExecutionEvent:
    """An end_node message."""
    return ev("end_node", run, node, order, status)


def watchdog(run: str = "r1") -> TimerFired:
    """The watchdog timer of ``run`` firing."""
    return TimerFired(("watchdog", run), None, run)


def feed(
    steps: list[tuple[float, Any]], state: LifecycleState | None = None
) -> tuple[LifecycleState, list[Any]]:
    """Run the pure reducer over ``(now, message)`` pairs; return the state and every effect."""
    return fold(lambda s, m, n: reduce_lifecycle(s, m, n, CONFIG), steps, state or LifecycleState())


def status(state: LifecycleState, run: str = "r1") -> str:
    """The run's status."""
    return state.runs[run].status


def agent_paused(run: str = "r1", node: str = "agent") -> str:
    """The platform's AgentPaused frame."""
    return json.dumps(
        {
            "event": "AgentPaused",
            "run_id": run,
            "node_id": node,
            "pause_type": "confirmation",
            "pause_message": "Confirm?",
            "pause_data": {"tools": [{"tool_name": "delete_file", "tool_args": {}}]},
        }
    )


def agno(event: str, seq: int, run: str = "r1", node: str | None = None) -> str:
    """An Agno chat frame (RunPaused, RunContent, ...)."""
    return json.dumps(
        {"event": event, "run_id": run, "node_id": node, "sequence_id": seq, "microtime": seq / 10}
    )


class Live(Driver):
    """The real pipeline on a virtual clock, fed through a subject between clock advances."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._order = 0

    def node(self, t: float, run: str = "r1") -> None:
        """Push a fresh start_node of ``run`` at ``t`` (a sign of life)."""
        self._order += 1
        self.at(t, frame("start_node", "n", self._order, run=run))

    def lc(self, t: float | None = None) -> dict[str, Any]:
        """The lifecycle section (at ``t`` when given)."""
        if t is not None:
            self.clock.run(until=t)
        return dict(self.state.section("lifecycle"))

    def status(self, t: float, run: str = "r1") -> tuple[str, bool]:
        """The run's status and the editor lock at ``t``."""
        section = self.lc(t)
        return section["runs"][run]["status"], section["editor_locked"]


# --- pure reducer ----------------------------------------------------------------------------


def test_run_start_makes_the_run_running_active_and_locked():
    """run_start → running, the active run, editor locked, watchdog armed, hook requested."""
    state, effects = feed([(1.0, ev("run_start"))])
    assert (status(state), state.active_run_id, state.editor_locked) == ("running", "r1", True)
    assert state.runs["r1"].started_at == 1.0
    assert effects == [
        Change("lifecycle", "run", "r1", None, "running"),
        Change("lifecycle", "editor", "r1", None, "locked"),
        StartTimer(("watchdog", "r1"), 120.0),
        Hook("run_start", "r1"),
    ]


def test_run_end_of_a_clean_run_is_success():
    """A run whose nodes all succeeded (or provided) ends ``success``."""
    state, _ = feed(
        [
            (0.0, ev("run_start")),
            (1.0, ended("a", "success")),
            (1.1, ended("b", "provided", order=1)),
            (2.0, ev("run_end")),
        ]
    )
    assert status(state) == "success"
    assert state.runs["r1"].ended_at == 2.0


def test_defect_19_run_with_an_error_node_ends_error():
    """Defect 19: a run with an ``error`` node is ``error``, not ``success``."""
    state, _ = feed(
        [
            (0.0, ev("run_start")),
            (1.0, ended("a", "success")),
            (1.1, ended("b", "error", order=1)),
            (2.0, ev("run_end")),
        ]
    )
    assert status(state) == "error"


def test_defect_19_run_with_a_killed_node_ends_killed():
    """Defect 19: a run with a ``killed`` node and no error is ``killed``."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, ended("a", "killed")), (2.0, ev("run_end"))])
    assert status(state) == "killed"


def test_error_wins_over_killed():
    """A run with both an error and a killed node is ``error``, in either order."""
    for first, second in (("killed", "error"), ("error", "killed")):
        state, _ = feed(
            [
                (0.0, ev("run_start")),
                (1.0, ended("a", first)),
                (1.1, ended("b", second, order=1)),
                (2.0, ev("run_end")),
            ]
        )
        assert status(state) == "error"


def test_defect_3_run_end_unlocks_at_once_and_the_hook_comes_after():
    """Defect 3: run_end unlocks in its own step; the run_end hook is requested after that."""
    state, _ = feed([(0.0, ev("run_start"))])
    state, effects = feed([(5.0, ev("run_end"))], state)
    assert (state.editor_locked, state.active_run_id) == (False, None)
    unlock = effects.index(Change("lifecycle", "editor", "r1", None, "unlocked"))
    run_change = effects.index(Change("lifecycle", "run", "r1", None, "success"))
    hook = effects.index(Hook("run_end", "r1"))
    assert run_change < hook
    assert unlock < hook
    assert effects[-1] == Hook("run_end", "r1")
    assert CancelTimer(("watchdog", "r1")) in effects


def test_defect_18_run_end_right_after_run_start_unlocks():
    """Defect 18: a run_end in the same instant as its run_start leaves the editor unlocked."""
    state, _ = feed([(1.0, ev("run_start")), (1.0, ev("run_end"))])
    assert (state.editor_locked, state.active_run_id, status(state)) == (False, None, "success")


def test_run_end_of_a_non_active_run_leaves_the_lock_alone():
    """Ending a run that is not the active one keeps the editor locked on the active run."""
    state, _ = feed([(0.0, ev("run_start", "A")), (1.0, ev("run_start", "B"))])
    state, effects = feed([(2.0, ev("run_end", "A"))], state)
    assert (state.editor_locked, state.active_run_id) == (True, "B")
    assert status(state, "A") == "success"
    assert not [e for e in effects if isinstance(e, Change) and e.what == "editor"]


def test_run_end_of_an_unknown_run_leaves_the_lock_alone():
    """A run_end for a run never seen records its outcome and does not touch the lock."""
    state, _ = feed([(0.0, ev("run_start", "A")), (1.0, ev("run_end", "ghost"))])
    assert (state.editor_locked, state.active_run_id) == (True, "A")
    assert status(state, "ghost") == "success"


def test_agent_paused_pauses_and_keeps_the_editor_locked():
    """AgentPaused → the run is paused; the editor stays locked."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, AgentPaused("r1", "agent", "confirmation"))])
    assert (status(state), state.editor_locked, state.active_run_id) == ("paused", True, "r1")


def test_agno_run_paused_pauses_and_keeps_the_editor_locked():
    """Agno's RunPaused (and TeamRunPaused) → paused; the editor stays locked."""
    for name in ("RunPaused", "TeamRunPaused"):
        state, _ = feed([(0.0, ev("run_start")), (1.0, AgnoEvent(name, "r1"))])
        assert (status(state), state.editor_locked) == ("paused", True)


def test_resume_start_runs_again_counts_the_resume_and_locks():
    """resume_start → running, resumes + 1, active, locked (twice: resumes 2)."""
    state, _ = feed(
        [
            (0.0, ev("run_start")),
            (1.0, AgentPaused("r1", "agent", "confirmation")),
            (2.0, ev("run_end")),
            (3.0, ev("resume_start")),
        ]
    )
    assert (status(state), state.runs["r1"].resumes) == ("running", 1)
    assert (state.active_run_id, state.editor_locked) == ("r1", True)
    assert state.runs["r1"].ended_at is None
    state, _ = feed(
        [(4.0, AgentPaused("r1", "agent", "user_input")), (5.0, ev("resume_start"))], state
    )
    assert (status(state), state.runs["r1"].resumes) == ("running", 2)


def test_resume_end_sets_the_outcome_unlocks_and_asks_for_its_hook():
    """resume_end → outcome from the nodes, editor unlocked, then the resume_end hook."""
    state, _ = feed(
        [
            (0.0, ev("run_start")),
            (1.0, AgentPaused("r1", "agent", "confirmation")),
            (2.0, ev("resume_start")),
            (3.0, ended("a", "killed")),
        ]
    )
    state, effects = feed([(4.0, ev("resume_end"))], state)
    assert (status(state), state.editor_locked) == ("killed", False)
    assert effects[-1] == Hook("resume_end", "r1")


def test_run_continued_runs_a_paused_run_again():
    """Agno RunContinued brings a paused run back to running and re-arms the watchdog."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, AgnoEvent("RunPaused", "r1"))])
    state, effects = feed([(2.0, AgnoEvent("RunContinued", "r1"))], state)
    assert (status(state), state.editor_locked) == ("running", True)
    assert StartTimer(("watchdog", "r1"), 120.0) in effects


def test_watchdog_stalls_a_quiet_running_run_and_unlocks():
    """No frame for 120 s: the running active run is stalled and the editor unlocks."""
    state, _ = feed([(0.0, ev("run_start"))])
    state, effects = feed([(120.0, watchdog())], state)
    assert (status(state), state.editor_locked) == ("stalled", False)
    assert Change("lifecycle", "editor", "r1", None, "unlocked") in effects


def test_watchdog_rearms_for_the_rest_of_the_quiet_time():
    """A frame at 119 s: the watchdog at 120 s re-arms for 119 s instead of stalling."""
    state, _ = feed([(0.0, ev("run_start")), (119.0, ev("start_node", node="n", order=0))])
    state, effects = feed([(120.0, watchdog())], state)
    assert status(state) == "running"
    assert len(effects) == 1
    assert isinstance(effects[0], StartTimer)
    assert effects[0].key == ("watchdog", "r1")
    assert abs(effects[0].delay - 119.0) < 1e-9
    state, _ = feed([(239.0, watchdog())], state)
    assert status(state) == "stalled"


def test_a_frame_revives_a_stalled_run_and_locks_again():
    """A frame of a stalled active run makes it running and locks the editor again."""
    state, _ = feed([(0.0, ev("run_start")), (120.0, watchdog())])
    state, effects = feed([(200.0, ev("start_node", node="n", order=3))], state)
    assert (status(state), state.editor_locked) == ("running", True)
    assert StartTimer(("watchdog", "r1"), 120.0) in effects


def test_stall_of_a_non_active_run_leaves_the_lock_alone():
    """A background run that stalls does not unlock the editor held by the active run."""
    state, _ = feed([(0.0, ev("run_start", "A")), (10.0, ev("run_start", "B"))])
    state, _ = feed([(120.0, watchdog("A"))], state)
    assert (status(state, "A"), state.editor_locked, state.active_run_id) == ("stalled", True, "B")


def test_a_paused_run_never_stalls():
    """The watchdog leaves a paused run alone and does not re-arm."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, AgentPaused("r1", "a", "confirmation"))])
    state, effects = feed([(120.0, watchdog())], state)
    assert (status(state), state.editor_locked, effects) == ("paused", True, [])


def test_evict_of_the_active_run_unlocks():
    """Evicting the active run drops it, unlocks the editor and cancels its watchdog."""
    state, _ = feed([(0.0, ev("run_start"))])
    state, effects = feed([(1.0, Evict("r1"))], state)
    assert (state.runs, state.active_run_id, state.editor_locked) == ({}, None, False)
    assert CancelTimer(("watchdog", "r1")) in effects
    assert Change("lifecycle", "editor", None, None, "unlocked") in effects


def test_evict_of_another_run_leaves_the_lock_alone():
    """Evicting a run that is not active keeps the active run's lock."""
    state, _ = feed([(0.0, ev("run_start", "A")), (1.0, ev("run_start", "B"))])
    state, _ = feed([(2.0, Evict("A"))], state)
    assert (set(state.runs), state.active_run_id, state.editor_locked) == ({"B"}, "B", True)


def test_run_seen_mid_way_is_adopted_as_running():
    """A start_node of an unknown run adopts it: running, active and locked if none is active."""
    state, effects = feed([(5.0, ev("start_node", "late", "n1", 4))])
    assert (status(state, "late"), state.active_run_id, state.editor_locked) == (
        "running",
        "late",
        True,
    )
    assert StartTimer(("watchdog", "late"), 120.0) in effects


def test_run_seen_mid_way_does_not_steal_the_active_run():
    """A run adopted while another is active is running but not active."""
    state, _ = feed([(0.0, ev("run_start", "A")), (1.0, ev("start_node", "B", "n1", 0))])
    assert (status(state, "B"), state.active_run_id) == ("running", "A")


def test_late_chat_frame_of_an_ended_run_changes_nothing():
    """A chat frame after the run ended neither revives nor re-locks it."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, ev("run_end"))])
    assert feed([(2.0, AgnoEvent("RunContent", "r1"))], state) == (state, [])


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30), st.booleans())
def test_an_unknown_frame_of_a_run_not_held_makes_no_run_lock_or_watchdog(
    name: str, run: str, someone_active: bool
) -> None:
    """Whatever its name and run, an event nobody understands creates no lifecycle state."""
    before, _ = feed([(0.0, ev("run_start", "A")), (1.0, ev("run_end", "A"))])
    if someone_active:
        before, _ = feed([(2.0, ev("run_start", "B"))], before)
    if run in before.runs:
        return
    assert feed([(3.0, Unknown(name, run, None))], before) == (before, [])


def test_an_unknown_frame_of_a_running_run_is_a_sign_of_life():
    """A frame nobody understands still shows that a held run is alive (the watchdog waits)."""
    state, _ = feed([(0.0, ev("run_start")), (100.0, Unknown("BrandNew", "r1"))])
    assert state.runs["r1"].last_seen == 100.0
    state, effects = feed([(120.0, watchdog())], state)
    assert status(state) == "running"
    assert StartTimer(("watchdog", "r1"), 100.0) in effects


def test_an_unknown_frame_of_an_ended_run_changes_nothing():
    """An unknown frame after run_end neither revives nor re-locks the run."""
    state, _ = feed([(0.0, ev("run_start")), (1.0, ev("run_end"))])
    assert feed([(2.0, Unknown("BrandNew", "r1"))], state) == (state, [])


def test_pipeline_unknown_frames_of_new_runs_leave_nothing_to_stall():
    """Unknown events with fresh run ids: no run, no lock, no timer, nothing stalled later."""
    live = Live()
    for i in range(20):
        live.at(float(i), json.dumps({"event": "BrandNew", "run_id": f"ghost-{i}"}))
    assert live.lc() == {"editor_locked": False, "active_run_id": None, "runs": {}}
    assert live.state.pending_timers["lifecycle"] == 0
    assert live.lc(1_000.0) == {"editor_locked": False, "active_run_id": None, "runs": {}}
    assert live.state.snapshot()["diagnostics"]["unknown"] == 20


def test_defect_18_late_run_start_after_run_end_does_not_relock():
    """Defect 18: a run_start delivered after its run's run_end leaves the editor unlocked."""
    state, _ = feed([(1.0, ev("run_end")), (1.0, ev("run_start"))])
    assert (status(state), state.editor_locked, state.active_run_id) == ("success", False, None)


# --- timed rules through the real pipeline ---------------------------------------------------


def test_pipeline_run_start_and_end_lock_and_unlock():
    """Through the pipeline: run_start locks, run_end unlocks with the outcome."""
    live = Live()
    live.at(1.0, frame("run_start"))
    assert live.lc()["editor_locked"] is True
    assert live.lc()["active_run_id"] == "r1"
    live.at(2.0, frame("end_node", node="n1", order=0, status="error"))
    live.at(3.0, frame("run_end"))
    assert live.lc() == {
        "editor_locked": False,
        "active_run_id": None,
        "runs": {"r1": {"status": "error", "started_at": 1.0, "ended_at": 3.0, "resumes": 0}},
    }


def test_defect_18_run_start_and_run_end_in_one_instant_unlock_in_marbles():
    """Marbles: run_start and run_end in the same instant leave the editor unlocked."""
    lookup = {"s": frame("run_start"), "e": frame("run_end")}
    h = run_marbles("--(se)---", lookup)
    #                012345678   ruler: one column = 100 ms; (se) both at 0.2 s
    state, clock = h.state, h.clock
    clock.run(until=1.0)
    section = state.section("lifecycle")
    assert (section["editor_locked"], section["runs"]["r1"]["status"]) == (False, "success")


def test_pipeline_run_start_after_its_run_end_leaves_the_editor_unlocked():
    """Defect 18 end to end: a reordered run_start arriving after run_end does not re-lock."""
    live = Live()
    live.at(1.0, frame("run_end"), frame("run_start"))
    assert live.status(1.0) == ("success", False)
    assert live.state.pending_timers["lifecycle"] == 0


def test_defect_3_hooks_run_after_the_unlock_and_a_hanging_hook_never_delays_it():
    """Defect 3: hooks see the editor already unlocked; a hook that hangs delays nothing."""
    release = threading.Event()
    seen: list[tuple[str, bool]] = []
    live: Live

    def record(name: str, run_id: str) -> None:
        seen.append((name, live.state.state("lifecycle").editor_locked))

    def hang(name: str, run_id: str) -> None:
        release.wait(10.0)

    live = Live(hooks={"run_start": [record], "run_end": [record, hang]})
    try:
        live.at(0.0, frame("run_start"))
        assert live.state.hooks.wait(5.0)
        live.at(1.0, frame("run_end"))
        assert live.lc()["editor_locked"] is False  # at once, while `hang` is still running
        release.set()
        assert live.state.hooks.wait(5.0)
        assert seen == [("run_start", True), ("run_end", False)]
    finally:
        release.set()
        live.disposable.dispose()


def test_pipeline_paused_run_stays_locked_and_resume_locks_again():
    """AgentPaused and RunPaused keep the lock; resume_start runs again; resume_end ends it."""
    live = Live()
    live.at(0.0, frame("run_start"))
    live.at(1.0, agno("RunPaused", 1), agent_paused())
    assert live.status(1.0) == ("paused", True)
    live.at(30.0, frame("resume_start"))
    section = live.lc()
    assert (section["runs"]["r1"]["status"], section["runs"]["r1"]["resumes"]) == ("running", 1)
    assert (section["active_run_id"], section["editor_locked"]) == ("r1", True)
    live.at(31.0, frame("end_node", node="n1", order=0, status="killed"))
    live.at(32.0, frame("resume_end"))
    assert live.status(32.0) == ("killed", False)


def test_pipeline_watchdog_stalls_after_120s_of_silence():
    """A running run with no frame for 120 s is stalled and unlocks; not one ms earlier."""
    live = Live()
    live.at(0.0, frame("run_start"))
    assert live.status(119.999) == ("running", True)
    assert live.status(120.0) == ("stalled", False)


def test_pipeline_frame_at_119s_postpones_the_stall():
    """A frame at 119 s keeps the run alive until 239 s."""
    live = Live()
    live.at(0.0, frame("run_start"))
    live.node(119.0)
    assert live.status(120.0) == ("running", True)
    assert live.status(238.999) == ("running", True)
    assert live.status(239.0) == ("stalled", False)


def test_watchdog_in_marbles_counts_from_the_last_frame():
    """Marbles (one column = 10 s): a frame at 120 s moves the stall from 130 s to 240 s."""
    lookup = {"s": frame("run_start"), "n": frame("start_node", node="n1", order=0)}
    h = run_marbles("-s----------n-------------", lookup, tick=10.0)
    #                01234567890123456789012345   ruler: one column = 10 s
    #                          1111111111222222   (tens digit of the column)
    state, clock = h.state, h.clock
    seen = {}
    for t in (10.0, 130.0, 239.999, 240.0):
        clock.run(until=t)
        section = state.section("lifecycle")
        seen[t] = (section["runs"]["r1"]["status"], section["editor_locked"])
    assert seen == {
        10.0: ("running", True),
        130.0: ("running", True),
        239.999: ("running", True),
        240.0: ("stalled", False),
    }


def test_pipeline_later_frame_revives_a_stalled_run():
    """A frame of a stalled active run revives it and locks again; it can stall again later."""
    live = Live()
    live.at(0.0, frame("run_start"))
    assert live.status(120.0) == ("stalled", False)
    live.at(300.0, agno("RunContent", 1))
    assert live.status(300.0) == ("running", True)
    assert live.status(419.999) == ("running", True)
    assert live.status(420.0) == ("stalled", False)


def test_pipeline_paused_run_never_stalls():
    """A paused run stays paused and locked however long it waits for its human."""
    live = Live()
    live.at(0.0, frame("run_start"))
    live.at(5.0, agent_paused())
    assert live.status(10_000.0) == ("paused", True)
    assert live.state.pending_timers["lifecycle"] == 0


def test_pipeline_clear_of_the_active_run_unlocks():
    """Clearing the active run removes it, unlocks and cancels its watchdog."""
    live = Live()
    live.at(0.0, frame("run_start"))
    assert live.state.pending_timers["lifecycle"] == 1
    live.state.clear("r1")
    assert live.lc() == {"editor_locked": False, "active_run_id": None, "runs": {}}
    assert live.state.pending_timers["lifecycle"] == 0


def test_pipeline_run_seen_mid_way_is_adopted_and_watched():
    """A run first seen at a start_node is adopted as running and still gets a watchdog."""
    live = Live()
    live.at(3.0, frame("start_node", "n1", 7, run="mid"))
    section = live.lc()
    assert (section["active_run_id"], section["editor_locked"]) == ("mid", True)
    assert section["runs"]["mid"]["status"] == "running"
    assert live.status(123.0, "mid") == ("stalled", False)


def test_the_watchdog_does_not_rearm_for_less_than_the_schedulers_microsecond() -> None:
    """A deadline missed by under 1 µs (float noise below the scheduler's grid) stalls the run
    instead of re-arming a zero-delay timer forever (it hung the state-machine fuzz test)."""
    state, _ = reduce_lifecycle(LifecycleState(), ev("run_start"), 0.1 + 0.2, CONFIG)
    due = 0.1 + 0.2 + CONFIG.stall_after
    state, effects = reduce_lifecycle(
        state, TimerFired(("watchdog", "r1"), None, "r1"), due - 4e-7, CONFIG
    )
    assert state.runs["r1"].status == "stalled"
    assert not [e for e in effects if isinstance(e, StartTimer)]
