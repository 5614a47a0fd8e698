"""Tests for flowrx.streams.simulate: the demo flow and the frames of the simulated platform."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowrx import VirtualClock, connect
from flowrx.concerns.effects import Change
from flowrx.graph import FlowGraph
from flowrx.messages import Heartbeat, Rejected, Unknown, parse
from flowrx.sinks.state import FlowState
from flowrx.streams.replay import RecordedFrame, read_recording, replay
from flowrx.streams.simulate import (
    DEMO_FLOW_ID,
    DEMO_NODE_IDS,
    demo_flow,
    demo_graph,
    simulate,
    simulate_stream,
)

ENDED = {"success", "error", "killed"}
RELAY = ["node_id", "sequence_id", "microtime", "message_id", "agent_role", "is_member_agent"]


def _decoded(frames: list[RecordedFrame]) -> Iterator[dict[str, Any]]:
    for frame in frames:
        assert isinstance(frame.data, str)
        yield json.loads(frame.data)


def _pipeline(
    frames: list[RecordedFrame] | None = None, runs: int = 3
) -> tuple[FlowState, list[Change]]:
    """Play ``frames`` (or ``runs`` simulated runs) through the whole pipeline, to the end."""
    clock = VirtualClock()
    changes: list[Change] = []
    source = simulate_stream(clock, runs) if frames is None else replay(frames, clock)
    state, _ = connect(source, scheduler=clock, graph=demo_flow(), sinks=[changes.append])
    clock.run()
    return state, changes


def _runs(frames: list[RecordedFrame]) -> dict[str, list[dict[str, Any]]]:
    """Decoded frames by run id, in stream order."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for data in _decoded(frames):
        runs.setdefault(data["run_id"], []).append(data)
    return runs


# --- determinism and shape ---------------------------------------------------------------------


def test_the_same_seed_gives_the_same_frames_and_another_seed_others() -> None:
    """simulate is a pure function of its arguments: same seed, same list; other seed, other."""
    assert simulate(3, seed=7) == simulate(3, seed=7)
    assert simulate(3, seed=7, bad_frames=0.2, duplicates=0.2, heartbeats=True) == simulate(
        3, seed=7, bad_frames=0.2, duplicates=0.2, heartbeats=True
    )
    assert simulate(3, seed=7) != simulate(3, seed=8)


def test_time_starts_at_zero_and_never_goes_back() -> None:
    """t is seconds since the first frame and never decreases, noise included."""
    for frames in (simulate(3), simulate(4, seed=2, bad_frames=0.3, duplicates=0.3)):
        times = [f.t for f in frames]
        assert times[0] == 0.0
        assert times == sorted(times)


def test_zero_runs_give_no_frames_and_bad_arguments_are_refused() -> None:
    """runs=0 is empty; negative runs, fractions outside 0..1 and a non-positive pace raise."""
    assert simulate(0) == []
    for kwargs, message in (
        ({"runs": -1}, "runs"),
        ({"bad_frames": 1.5}, "bad_frames"),
        ({"duplicates": -0.1}, "duplicates"),
        ({"pace": 0.0}, "pace"),
    ):
        with pytest.raises(ValueError, match=message):
            simulate(**kwargs)


def test_every_frame_parses_to_a_known_message_when_there_is_no_noise() -> None:
    """Without bad frames every frame is a typed message of a known event, never rejected."""
    for frame in simulate(6, seed=1):
        message = parse(frame.data)
        assert not isinstance(message, Rejected | Heartbeat | Unknown), (message, frame.data)


def test_frames_are_written_as_the_platforms_python_json_writes_them() -> None:
    """Each frame is exactly json.dumps of its decoded value (separators, escapes, order)."""
    for frame in simulate(3, seed=4):
        assert isinstance(frame.data, str)
        assert json.dumps(json.loads(frame.data)) == frame.data


def test_frames_have_the_field_sets_and_order_of_the_real_recordings(examples: Path) -> None:
    """Every event kind seen in the real recordings comes with the same keys in the same order."""
    real: dict[str, list[str]] = {}
    tools: list[list[str]] = []
    for name in ("agent-chat", "groups-tools-error"):
        for frame in read_recording(examples / f"{name}.jsonl").frames:
            assert isinstance(frame.data, str)
            data = json.loads(frame.data)
            real.setdefault(data["event"], list(data))
            if isinstance(data.get("tool"), dict):
                tools.append(list(data["tool"]))
    seen: set[str] = set()
    for data in _decoded(simulate(3)):
        event = data.get("event", data.get("type"))
        if event in real and data.get("agent_role") != "member":
            assert list(data) == real[event], event
            seen.add(event)
        if isinstance(data.get("tool"), dict):
            assert list(data["tool"]) == tools[0]
    assert seen == set(real)


def test_chat_frames_carry_the_relay_fields_and_members_their_team() -> None:
    """Agno frames end with the relay's fields; members add parent_team_id and member_index."""
    team = DEMO_NODE_IDS["team"]
    members = {DEMO_NODE_IDS["researcher"]: 0, DEMO_NODE_IDS["writer"]: 1}
    roles: set[str] = set()
    for data in _decoded(simulate(3)):
        if "created_at" not in data:
            continue
        keys = list(data)
        roles.add(data["agent_role"])
        if data["agent_role"] == "member":
            assert keys[-8:] == [*RELAY, "parent_team_id", "member_index"]
            assert data["is_member_agent"] is True
            assert data["parent_team_id"] == team
            assert members[data["agent_id"]] == data["member_index"]
        else:
            assert keys[-6:] == RELAY
            assert data["is_member_agent"] is False
        if data["agent_role"] == "leader":
            assert data["team_id"] == team
            assert data["event"].startswith("Team")
        assert data["message_id"] == f"msg_{data['run_id']}_{data['sequence_id']}"
    assert roles == {"single", "leader", "member"}


def test_relay_sequence_counts_from_one_per_run_and_restarts_after_a_resume() -> None:
    """sequence_id is 1, 2, 3 ... over a run's chat frames, and again from 1 after resume_start."""
    resumed = 0
    for frames in _runs(simulate(3)).values():
        expected = 1
        for data in frames:
            if data.get("event") == "resume_start":
                expected = 1
                resumed += 1
            elif "sequence_id" in data:
                assert data["sequence_id"] == expected
                expected += 1
    assert resumed == 1


# --- the demo flow ------------------------------------------------------------------------------


def test_demo_graph_loads_with_nested_groups_team_members_and_a_branch_never_taken() -> None:
    """The demo flow is valid flow/1, every framed node is in it, and `escalate` never runs."""
    graph = demo_flow()
    assert isinstance(graph, FlowGraph)
    assert graph.flow_id == DEMO_FLOW_ID
    assert graph.problems == ()
    assert demo_graph() == demo_graph()
    node = graph.nodes
    assert node[DEMO_NODE_IDS["cleanup"]].group == DEMO_NODE_IDS["research"]
    assert node[DEMO_NODE_IDS["split_chunks"]].group == DEMO_NODE_IDS["cleanup"]
    assert node[DEMO_NODE_IDS["researcher"]].name == "Researcher"
    assert node[DEMO_NODE_IDS["writer"]].name == "Writer"
    assert node[DEMO_NODE_IDS["web_search"]].category == "agno_tools"
    framed = set()
    for data in _decoded(simulate(3)):
        assert data.get("flow_id", DEMO_FLOW_ID) == DEMO_FLOW_ID
        for key in ("node_id", "agent_id", "team_id", "parent_team_id"):
            if data.get(key) is not None:
                framed.add(data[key])
    assert framed <= set(graph.nodes)
    assert DEMO_NODE_IDS["escalate"] not in framed
    assert framed == set(graph.nodes) - {DEMO_NODE_IDS["escalate"]}


def test_runs_cycle_through_pause_error_and_kill_from_the_seed() -> None:
    """Three consecutive runs are a resumed pause, a failing node and a killed branch."""
    for seed in (0, 1, 2):
        kinds = []
        for frames in _runs(simulate(3, seed=seed)).values():
            events = {d.get("event") for d in frames}
            statuses = {d.get("status") for d in frames if d.get("event") == "end_node"}
            kinds.append(
                "paused"
                if {"AgentPaused", "RunPaused", "resume_start", "resume_end"} <= events
                else "error"
                if "error" in statuses
                else "killed"
                if "killed" in statuses
                else "?"
            )
        assert sorted(kinds) == ["error", "killed", "paused"]
        assert kinds[0] == ["paused", "error", "killed"][seed]


def test_a_resumed_node_keeps_its_order_and_later_nodes_reuse_orders() -> None:
    """After resume_start the paused node starts again with its order; orders are reused."""
    agent = DEMO_NODE_IDS["assistant"]
    frames = next(iter(_runs(simulate(1, seed=0)).values()))
    starts = [(d["node_id"], d["order"]) for d in frames if d.get("event") == "start_node"]
    agent_orders = [order for node, order in starts if node == agent]
    assert len(agent_orders) == 2
    assert agent_orders[0] == agent_orders[1]
    resume = next(i for i, d in enumerate(frames) if d.get("event") == "resume_start")
    before = {d["order"]: d["node_id"] for d in frames[:resume] if d.get("event") == "start_node"}
    after = [(d["node_id"], d["order"]) for d in frames[resume:] if d.get("event") == "start_node"]
    assert any(order in before and before[order] != node for node, order in after)
    assert frames[-1]["event"] == "resume_end"


def test_team_members_stream_interleaved_and_the_leader_delegates_to_each() -> None:
    """The two members' RunContent chunks interleave; each delegation names a child run."""
    researcher, writer = DEMO_NODE_IDS["researcher"], DEMO_NODE_IDS["writer"]
    for frames in _runs(simulate(3)).values():
        chunks = [
            d["node_id"]
            for d in frames
            if d.get("event") == "RunContent" and d["node_id"] in (researcher, writer)
        ]
        switches = sum(1 for a, b in itertools.pairwise(chunks) if a != b)
        assert switches >= 2, chunks
        started = {d["agent_id"] for d in frames if d.get("event") == "RunStarted"}
        delegations = [
            d["tool"]
            for d in frames
            if d.get("event") == "TeamToolCallCompleted"
            and d["tool"]["tool_name"] == "delegate_task_to_member"
        ]
        assert len(delegations) == 2
        assert all(t["child_run_id"] for t in delegations)
        assert {t["tool_args"]["member_id"] for t in delegations} == {researcher, writer}
        assert {researcher, writer} <= started
        glows = [d["node_id"] for d in frames if d.get("event") == "start_tool_or_member"]
        assert sorted(glows) == sorted([researcher, writer])


def test_reasoning_arrives_as_reasoning_content_and_as_structured_steps() -> None:
    """The assistant thinks in RunContent.reasoning_content; the leader in ReasoningStep objects."""
    frames = list(_decoded(simulate(1)))
    thinking = [d for d in frames if d.get("event") == "RunContent" and d["reasoning_content"]]
    assert thinking
    assert all(d["content"] is None for d in thinking)
    steps = [d["content"] for d in frames if d.get("event") == "TeamReasoningStep"]
    assert steps
    for step in steps:
        assert set(step) == {"title", "action", "result", "reasoning", "next_action", "confidence"}


def test_pause_frames_follow_the_wire_protocol() -> None:
    """RunPaused has no node and a tool needing confirmation; AgentPaused names node and tool."""
    frames = list(_decoded(simulate(1)))
    paused = next(d for d in frames if d.get("event") == "RunPaused")
    assert paused["node_id"] is None
    assert paused["tools"][0]["requires_confirmation"] is True
    agent_paused = next(d for d in frames if d.get("event") == "AgentPaused")
    assert list(agent_paused) == [
        "event",
        "run_id",
        "node_id",
        "pause_type",
        "pause_message",
        "pause_data",
    ]
    assert agent_paused["node_id"] == DEMO_NODE_IDS["assistant"]
    assert agent_paused["pause_type"] == "confirmation"
    assert agent_paused["pause_data"]["tools"][0]["tool_name"] == "save_file"


def test_pace_scales_every_duration() -> None:
    """pace=2 makes the same stream twice as slow."""
    normal, slow = simulate(3, seed=5), simulate(3, seed=5, pace=2.0)
    assert len(normal) == len(slow)
    for a, b in zip(normal, slow, strict=True):
        assert b.t == pytest.approx(2 * a.t, abs=1e-5)


def test_heartbeats_are_pong_about_every_thirty_seconds() -> None:
    """heartbeats=True adds the text frame pong every 29-31 s of stream time."""
    frames = simulate(15, heartbeats=True)
    pongs = [f.t for f in frames if f.data == "pong"]
    assert len(pongs) >= 2
    assert isinstance(parse("pong"), Heartbeat)
    assert 29 <= pongs[0] <= 31
    assert all(29 <= b - a <= 31 for a, b in itertools.pairwise(pongs))
    assert [f for f in frames if f.data != "pong"] == simulate(15)


# --- through the pipeline -----------------------------------------------------------------------


def test_three_runs_through_the_pipeline_show_every_concern_and_end_clean() -> None:
    """3 runs: tool and group glow, a pause resolved, an error outcome; then all ended, dark."""
    state, changes = _pipeline()
    snap = state.snapshot()
    runs = snap["lifecycle"]["runs"]
    assert len(runs) == 3
    assert {r["status"] for r in runs.values()} == ENDED
    assert snap["lifecycle"]["editor_locked"] is False
    assert snap["surface"] == {}
    for records in snap["store"].values():
        assert records
        assert all(r["status"] != "executing" for r in records)
    diag = snap["diagnostics"]
    assert diag["rejected"] == 0
    assert diag["duplicates"] == 0
    assert diag["unknown"] == 0
    assert diag["late"] == 0
    assert diag["frames"] == diag["messages"]
    assert all(count == 0 for count in diag["failed"].values())

    tool = [c for c in changes if c.concern == "tool" and c.what == "glow"]
    assert {c.node_id for c in tool if c.value} == {
        DEMO_NODE_IDS[h] for h in ("web_search", "file_tools", "researcher", "writer")
    }
    group = {v for c in changes if c.concern == "group" for v in c.value}
    assert {"executing", "executed-success", "executed-error"} <= group
    paused_run = next(r for r, rec in runs.items() if rec["resumes"] == 1)
    statuses = [
        c.value
        for c in changes
        if c.concern == "lifecycle" and c.what == "run" and c.run_id == paused_run
    ]
    assert statuses == ["running", "paused", "running", "success"]


def test_runs_show_their_glow_while_they_run() -> None:
    """Sampled mid-run in virtual time: a node executing, the editor locked, a run running."""
    clock = VirtualClock()
    state, _ = connect(simulate_stream(clock, 1), scheduler=clock, graph=demo_flow())
    clock.run(until=0.05)
    snap = state.snapshot()
    assert snap["lifecycle"]["editor_locked"] is True
    assert ["executing"] in snap["surface"].values()
    assert [r["status"] for r in snap["lifecycle"]["runs"].values()] == ["running"]


def test_bad_frames_and_duplicates_are_counted_and_change_no_state() -> None:
    """With noise every frame is still accounted for once, and the state equals the clean one."""
    noisy = simulate(3, seed=3, bad_frames=0.1, duplicates=0.1)
    clean = simulate(3, seed=3)
    repeats = sum(1 for a, b in itertools.pairwise(noisy) if a.data == b.data)
    state, _ = _pipeline(noisy)
    diag = state.snapshot()["diagnostics"]
    assert (
        diag["frames"]
        == diag["messages"] + diag["heartbeats"] + diag["rejected"] + diag["duplicates"]
    )
    assert diag["frames"] == len(noisy)
    assert diag["rejected"] > 0
    assert diag["duplicates"] == repeats > 0
    assert diag["messages"] == len(clean) + diag["unknown"]
    reference, _ = _pipeline(clean)
    want, got = reference.snapshot(), state.snapshot()
    for section in ("surface", "visual", "tool", "group", "store", "lifecycle"):
        assert got[section] == want[section], section


def test_every_kind_of_bad_frame_occurs_and_none_breaks_the_run() -> None:
    """Bad input covers not-JSON, arrays, no event, bad status, wrong types and unknown events."""
    reasons: list[str] = []
    unknown = 0
    for frame in simulate(6, seed=9, bad_frames=0.3):
        message = parse(frame.data)
        if isinstance(message, Rejected):
            reasons.append(message.reason)
        elif isinstance(message, Unknown):
            unknown += 1
    joined = " | ".join(reasons)
    for expected in (
        "not JSON",
        "not an object: list",
        "no event or type",
        "end_node: bad status",
        "start_node: order is str",
    ):
        assert expected in joined, joined
    assert unknown > 0
    state, _ = _pipeline(simulate(3, seed=9, bad_frames=0.3))
    runs = state.snapshot()["lifecycle"]["runs"]
    assert len(runs) == 3
    assert all(r["status"] in ENDED for r in runs.values())


def test_simulate_stream_plays_the_simulated_frames_on_the_scheduler() -> None:
    """simulate_stream emits exactly simulate's frames, at their times, in virtual time."""
    clock = VirtualClock()
    got: list[tuple[float, str | bytes]] = []
    simulate_stream(clock, 2, seed=1, speed=2.0).subscribe(
        lambda data: got.append((clock.seconds, data))
    )
    clock.run()
    frames = simulate(2, seed=1)
    assert [data for _, data in got] == [f.data for f in frames]
    assert [t for t, _ in got] == pytest.approx([f.t / 2 for f in frames], abs=1e-5)


def test_a_long_simulated_stream_replays_to_its_end() -> None:
    """Ten runs (over a thousand frames) play to completion in virtual time."""
    clock = VirtualClock()
    got: list[str | bytes] = []
    simulate_stream(clock, 10).subscribe(got.append)
    clock.run()
    assert len(got) == len(simulate(10))
