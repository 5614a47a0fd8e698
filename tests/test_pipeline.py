"""The whole pipeline on the real recordings, in virtual time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import flowrx_logs

from flowrx import VirtualClock, connect, load_graph, read_recording, replay
from flowrx.sinks.state import FlowState
from flowrx.testing import Driver, exec_frame

GROUPS = "groups-tools-error"
AGENT = "agent-chat"
RUN1 = "0e000000-0000-4000-8000-000000000001"
N = "a0000000-0000-4000-8000-0000000000"
SECTIONS = ("visual", "store", "lifecycle", "tool", "chat", "interaction", "group", "state")
"""Every concern's section (the state concern's stays empty: no platform frame feeds it)."""


def _replay(
    examples: Path, name: str, until: float | None = None, **kw: Any
) -> tuple[FlowState, VirtualClock]:
    clock = VirtualClock()
    recording = read_recording(examples / f"{name}.jsonl")
    graph = load_graph(examples / f"{name}.flow.json")
    state, _ = connect(replay(recording.frames, clock), scheduler=clock, graph=graph, **kw)
    clock.run(until=until)
    return state, clock


def test_groups_recording_ends_with_badges_outcome_error_and_no_glow(examples: Path) -> None:
    """The groups/tools/error sample: 23 frames, every badge, outcome error, unlocked, dark."""
    state, _ = _replay(examples, GROUPS)
    snap = state.snapshot()
    assert snap["schema"] == "flowrx/snapshot/1"
    diag = snap["diagnostics"]
    assert diag["frames"] == 23
    assert (
        diag["frames"]
        == diag["messages"] + diag["heartbeats"] + diag["rejected"] + diag["duplicates"]
    )
    records = snap["store"][RUN1]
    assert [r["order"] for r in records] == list(range(9))
    statuses = [r["status"] for r in records]
    assert statuses.count("error") == 1
    assert statuses.count("provided") == 1
    assert "executing" not in statuses
    assert snap["lifecycle"]["runs"][RUN1]["status"] == "error"
    assert snap["lifecycle"]["editor_locked"] is False
    assert snap["lifecycle"]["active_run_id"] is None
    assert snap["surface"] == {}
    assert snap["visual"] == {}


def test_node_is_executing_just_after_its_end_and_shows_status_half_a_second_later(
    examples: Path,
) -> None:
    """--at semantics: right after end_node the node still glows, 0.5 s later its status."""
    node = N + "01"  # ends success at t=0.066517
    state, _ = _replay(examples, GROUPS, until=0.07)
    assert state.snapshot()["visual"][node] == ["executing"]
    state, _ = _replay(examples, GROUPS, until=0.57)
    assert state.snapshot()["visual"][node] == ["executed-success"]


def test_last_node_status_stays_visible_until_the_run_end_clear(examples: Path) -> None:
    """run_end waits for the pending transition of the failing node, plus 100 ms."""
    boom = N + "08"  # end_node error at 0.118331, run_end at 0.123934
    state, _ = _replay(examples, GROUPS, until=0.70)
    assert state.snapshot()["visual"][boom] == ["executed-error"]
    state, clock = _replay(examples, GROUPS, until=0.72)
    assert state.snapshot()["visual"] == {}
    assert clock.seconds == pytest.approx(0.72)


def test_agent_chat_recording_replays_to_success_with_six_badges(examples: Path) -> None:
    """The agent sample: run success, all records final, counters hold the identity."""
    state, _ = _replay(examples, AGENT)
    snap = state.snapshot()
    run = "0e000000-0000-4000-8000-000000000003"
    assert snap["lifecycle"]["runs"][run]["status"] == "success"
    assert [r["status"] for r in snap["store"][run]] == [
        "success",
        "provided",
        "provided",
        "success",
        "provided",
        "success",
    ]
    diag = snap["diagnostics"]
    assert (
        diag["frames"]
        == diag["messages"] + diag["heartbeats"] + diag["rejected"] + diag["duplicates"]
    )
    assert diag["rejected"] == 0


@pytest.mark.parametrize(
    "concern", ["visual", "store", "lifecycle", "tool", "chat", "interaction", "group"]
)
def test_a_failing_concern_leaves_the_other_sections_identical(
    examples: Path, concern: str
) -> None:
    """Isolation: with a fault on every event of one concern, the others equal a clean run."""
    name = AGENT if concern in ("chat", "interaction") else GROUPS
    clean, _ = _replay(examples, name)
    faulty, _ = _replay(examples, name, faults={concern: 1.0})
    a, b = clean.snapshot(), faulty.snapshot()
    for section in SECTIONS:
        if section != concern:
            assert a[section] == b[section], section
    failed = b["diagnostics"]["failed"]
    assert failed[concern] > 0
    assert all(n == 0 for name, n in failed.items() if name != concern)
    expected = "degraded" if failed[concern] >= faulty.config.degraded_after else "ok"
    assert b["diagnostics"]["health"][concern] == expected


def test_a_partial_fault_loses_only_the_injected_events(examples: Path) -> None:
    """With a fault on a fraction of store events, only those records are missing or stale."""
    clean, _ = _replay(examples, GROUPS)
    faulty, _ = _replay(examples, GROUPS, faults={"store": 0.25})
    failed = faulty.failed["store"]
    assert 0 < failed < faulty.counters["messages"]  # a quarter of the store's share
    assert faulty.snapshot()["store"] != clean.snapshot()["store"]
    assert faulty.snapshot()["lifecycle"] == clean.snapshot()["lifecycle"]
    assert faulty.health["store"] == "ok"


def test_snapshot_is_json_with_sorted_keys_and_every_section(examples: Path) -> None:
    """Every section of snapshot/1 is present, even for concerns with nothing to say."""
    state, _ = _replay(examples, AGENT)
    text = json.dumps(state.snapshot(), sort_keys=True)
    doc = json.loads(text)
    for key in (
        "schema",
        "protocol",
        "clock",
        "surface",
        "visual",
        "tool",
        "group",
        "store",
        "lifecycle",
        "chat",
        "interaction",
        "state",
        "diagnostics",
    ):
        assert key in doc
    assert doc["protocol"] == "platform"
    assert doc["state"] == {}
    assert set(doc["diagnostics"]["failed"]) == {
        "visual",
        "store",
        "lifecycle",
        "tool",
        "chat",
        "interaction",
        "group",
        "state",
    }
    assert set(doc["diagnostics"]["health"]) == set(doc["diagnostics"]["failed"])
    assert doc["diagnostics"]["violations"] == doc["diagnostics"]["patch_failed"] == 0


def test_disposing_the_pipeline_cancels_every_timer(examples: Path) -> None:
    """Teardown leaves no timer behind: nothing fires after dispose."""
    clock = VirtualClock()
    recording = read_recording(examples / f"{GROUPS}.jsonl")
    state, subscription = connect(replay(recording.frames, clock), scheduler=clock)
    clock.run(until=0.11)
    assert sum(state.pending_timers.values()) > 0
    subscription.dispose()
    assert sum(state.pending_timers.values()) == 0
    before = state.snapshot()
    clock.run()
    after = state.snapshot()
    assert before["visual"] == after["visual"]


def test_defect_4_a_frame_whose_intake_failed_is_not_marked_seen() -> None:
    """If intake fails on a frame, its redelivery is applied, not dropped as a duplicate."""
    from flowrx.protocols.platform import PLATFORM

    calls = {"n": 0}

    def flaky(*args: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("intake bug")
        return PLATFORM.reduce(*args, **kw)

    driver = Driver(protocol=attrs.evolve(PLATFORM, reduce=flaky))
    state, frames = driver.state, driver.frames
    start = exec_frame("start_node", "n1", 0, run="r")
    frames.on_next(exec_frame("run_start", run="r"))
    frames.on_next(start)  # fails inside intake
    frames.on_next(start)  # redelivered: must be applied
    assert state.snapshot()["store"]["r"][0]["status"] == "executing"
    diag = state.snapshot()["diagnostics"]
    assert diag["duplicates"] == 0
    assert diag["rejected"] == 1
    assert diag["frames"] == diag["messages"] + diag["rejected"]


def test_defect_5_ids_with_quotes_backslashes_and_markup_work_end_to_end() -> None:
    """Ids are data: stored, shown and looked up exactly as they came."""
    run = 'run "1" \\ <b>'
    node = "n'\"<script>alert(1)</script>\\"
    driver = Driver()
    state, frames, clock = driver.state, driver.frames, driver.clock
    for f in (
        exec_frame("run_start", run=run),
        exec_frame("start_node", node, 0, run=run),
        exec_frame("end_node", node, 0, "success", run=run),
        exec_frame("start_node", "plain", 1, run=run),
    ):
        frames.on_next(f)
    clock.run(until=0.6)
    snap = state.snapshot()
    assert snap["visual"][node] == ["executed-success"]
    assert snap["visual"]["plain"] == ["executing"]
    assert [r["id"] for r in snap["store"][run]] == [f"{node}-0", "plain-1"]
    assert json.loads(json.dumps(snap))["store"][run][0]["node_id"] == node


def test_defect_17_no_concern_holds_more_runs_than_the_limit() -> None:
    """Per-run state leaves with the run in every concern: 30 runs, limit 3, 3 held."""
    from flowrx import Config

    driver = Driver(config=Config(max_runs=3))
    state, frames, clock = driver.state, driver.frames, driver.clock
    for i in range(30):
        run = f"run-{i}"
        frames.on_next(exec_frame("run_start", run=run))
        frames.on_next(exec_frame("start_node", "n1", 0, run=run))
        frames.on_next(exec_frame("start_tool", "t1", run=run))
        if i % 2:
            frames.on_next(exec_frame("end_node", "n1", 0, "success", run=run))
            frames.on_next(exec_frame("run_end", run=run))
        clock.run(until=clock.seconds + 0.01)
    for name in state.concerns:
        runs = getattr(state.state(name), "runs", {})
        assert len(runs) <= 3, name
    assert len(state.intake.runs) <= 3
    snap = state.snapshot()
    assert sorted(snap["store"]) == ["run-27", "run-28", "run-29"]
    assert sorted(snap["lifecycle"]["runs"]) == ["run-27", "run-28", "run-29"]
    clock.run()
    assert sum(state.pending_timers.values()) <= 3  # the watchdogs of the runs still open


def test_an_evicted_run_leaves_no_timer_behind() -> None:
    """Evicting a run mid-window cancels its end, clear, tool and watchdog timers."""
    from flowrx import Config

    driver = Driver(config=Config(max_runs=1))
    state, frames, clock = driver.state, driver.frames, driver.clock
    frames.on_next(exec_frame("run_start", run="a"))
    frames.on_next(exec_frame("start_node", "n1", 0, run="a"))
    frames.on_next(exec_frame("end_node", "n1", 0, "success", run="a"))
    frames.on_next(exec_frame("start_tool", "t1", run="a"))
    frames.on_next(exec_frame("end_tool", "t1", run="a"))
    assert state.pending_timers["visual"] == 1
    assert state.pending_timers["tool"] == 1
    frames.on_next(exec_frame("run_start", run="b"))  # evicts run a
    timers = state.pending_timers
    assert timers["visual"] == 0
    assert timers["tool"] == 0
    assert timers["lifecycle"] == 1  # run b's watchdog only
    clock.run(until=5.0)
    assert state.snapshot()["visual"] == {}


def test_a_cyclic_graph_is_reported_once_and_the_pipeline_runs() -> None:
    """Graph problems (a cycle) are logged once as warnings; events on its nodes still apply."""

    from flowrx.graph import graph_from_mapping

    graph = graph_from_mapping(
        {
            "nodes": [
                {"id": "A", "category": "group", "group": "B"},
                {"id": "B", "category": "group", "group": "A"},
                {"id": "m", "group": "A"},
            ]
        }
    )
    with flowrx_logs("WARNING", keep=lambda m: m.record["message"]) as seen:
        driver = Driver(graph=graph)
        state, frames, clock = driver.state, driver.frames, driver.clock
        frames.on_next(exec_frame("start_node", "m", 0, run="r"))
        clock.run(until=1.0)
    assert len([m for m in seen if "cycle" in m]) == len(graph.problems) == 1
    assert state.snapshot()["group"]["r"]["A"]["status"] == "executing"
