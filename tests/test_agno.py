"""Agno as an input: the real captures replay cleanly, and every rule of ``agno.md`` holds.

The captures in ``examples/agno`` were recorded from agno 3.1.10 with a scripted offline model:
in-process recordings (``*.jsonl``, each frame an event's ``to_dict()``) and AgentOS's raw SSE
bodies and WebSocket transcripts (``agentos-*.txt``), read by ``transcript_frames``. The rules
the captures do not exercise (silent failures outside a Parallel, errors, cancels, nested
workflows, error decisions, event-index gaps) are written as marbles of Agno events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, cli

from flowrx import read_recording
from flowrx.config import Config
from flowrx.graph import graph_from_mapping
from flowrx.messages import ClearRun, EndOfStream, ExecutionEvent, NodeAnnounced, Pending
from flowrx.protocols import detect_protocol
from flowrx.protocols.agno import (
    AGNO,
    AgnoState,
    escape_name,
    frame_data,
    is_agno_frame,
    node_id_of,
    reduce_agno,
    transcript_frames,
    workflow_flow,
    workflow_graph,
)
from flowrx.streams.replay import RecordedFrame
from flowrx.testing import Driver, Harness, agno_event, run_frames, run_marbles

AGNO_DIR = EXAMPLES / "agno"
RECORDINGS = sorted(AGNO_DIR.glob("*.jsonl"))
TRANSCRIPTS = sorted(AGNO_DIR.glob("agentos-*.txt"))


def _frames(*paths: Path) -> list[RecordedFrame]:
    """The frames of captures played one after the other (a transcript's times shifted after
    the previous capture's last frame)."""
    out: list[RecordedFrame] = []
    for path in paths:
        base = out[-1].t + 1.0 if out else 0.0
        if path.suffix == ".jsonl":
            timed = [(f.t, f.data) for f in read_recording(path).frames]
        else:
            timed = transcript_frames(path.read_text(encoding="utf-8"))
        out.extend(RecordedFrame(base + t, data) for t, data in timed)
    return out


def _replay(*names: str, **options: Any) -> Harness:
    return run_frames(_frames(*(AGNO_DIR / name for name in names)), protocol="agno", **options)


def _legs(path: Path) -> dict[str, float]:
    """The time of each leg's first frame, by the leg's name."""
    starts: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "leg" in entry:
            starts.setdefault(entry["leg"], entry["t"])
    return starts


def _badges(snap: dict[str, Any], run_id: str | None = None) -> list[tuple[str, str]]:
    (runs,) = [snap["store"]] if run_id is None else [{run_id: snap["store"][run_id]}]
    (records,) = runs.values()
    return [(r["node_id"], r["status"]) for r in records]


def _settled(snap: dict[str, Any]) -> None:
    """Nothing glows, the editor is unlocked, no run runs and nothing is pending."""
    assert snap["surface"] == {}
    assert snap["visual"] == {}
    assert snap["tool"] == {}
    life = snap["lifecycle"]
    assert life["editor_locked"] is False
    assert life["active_run_id"] is None
    assert all(run["status"] in ("success", "error", "killed") for run in life["runs"].values())
    assert snap["interaction"]["pending"] == []


def _clean(snap: dict[str, Any]) -> dict[str, Any]:
    diag = snap["diagnostics"]
    assert diag["rejected"] == 0
    assert diag["violations"] == 0
    assert diag["unknown"] == 0
    assert not any(diag["failed"].values())
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["duplicates"]
    return diag


# --- the in-process recordings --------------------------------------------------------------


def test_the_captures_are_in_the_repository() -> None:
    """Recordings, AgentOS transcripts and definitions ship with the repository."""
    assert [p.name for p in RECORDINGS] == [
        "a-sequential.jsonl",
        "c-condition-router.jsonl",
        "d-pause-continue.jsonl",
        "e-team.jsonl",
        "f1-no-stream-events.jsonl",
    ]
    assert len(TRANSCRIPTS) == 9
    assert (AGNO_DIR / "agentos-definition-wf-loop-parallel.json").is_file()


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
def test_every_recording_replays_without_rejection_violation_or_failure_and_settles(
    path: Path,
) -> None:
    """A real stream: nothing rejected, unknown or violated, no concern failure, every frame
    a message; at the end no glow, the editor unlocked, every run ended, nothing pending."""
    snap = run_frames(read_recording(path).frames, protocol="agno").finish()
    diag = _clean(snap)
    assert diag["frames"] == diag["messages"]
    _settled(snap)


@pytest.mark.parametrize("path", RECORDINGS + TRANSCRIPTS, ids=lambda p: p.name)
def test_the_protocol_is_detected_from_the_first_frame_without_a_header(path: Path) -> None:
    """An Agno event (JSON, or SSE-formatted as AgentOS's live WebSocket frames), or AgentOS's
    greeting, as the first frame means ``agno``; the recordings' headers say so too."""
    first = _frames(path)[0].data
    assert detect_protocol(None, first) == "agno"
    if path.suffix == ".jsonl":
        assert read_recording(path).header == {**read_recording(path).header, "protocol": "agno"}


def test_the_platforms_recordings_and_ag_ui_captures_are_never_taken_for_agno() -> None:
    """The platform relays Agno agent events with its own keys: none of its frames (nor any
    AG-UI event) reads as Agno's own."""
    for path in EXAMPLES.glob("*.jsonl"):
        for frame in read_recording(path).frames:
            data = json.loads(frame.data)
            assert not is_agno_frame(data), (path.name, data.get("event"))
        first = read_recording(path).frames[0].data
        assert detect_protocol(None, first) == "platform"
    for path in (EXAMPLES / "agui").glob("*/*.jsonl"):
        assert detect_protocol(None, read_recording(path).frames[0].data) == "agui"
    relayed = {"event": "RunContent", "run_id": "r", "node_id": None, "content": "x"}
    assert not is_agno_frame(relayed)
    assert is_agno_frame({"event": "RunContent", "run_id": "r", "content": "x"})
    assert detect_protocol(None, "not json") == "platform"


def test_a_sequential_workflow_shows_badges_in_arrival_order_and_the_agents_chat() -> None:
    """a-sequential: three steps as three badges (ids from step names), the agent's text,
    reasoning and tool call on the weather step, whose node glows for the tool."""
    h = _replay("a-sequential.jsonl")
    snap = h.finish()
    assert _badges(snap) == [
        ("wf-sequential:prepare", "success"),
        ("wf-sequential:weather", "success"),
        ("wf-sequential:summarize", "success"),
    ]
    (records,) = snap["store"].values()
    assert [(r["order"], r["handle"], r["type"]) for r in records] == [
        (0, "prepare", "Step"),
        (1, "weather", "Step"),
        (2, "summarize", "Step"),
    ]
    (messages,) = snap["chat"].values()
    content, reasoning = messages
    assert (content["speaker"], content["name"], content["node_id"]) == (
        "agent",
        "Weather Agent",
        "wf-sequential:weather",
    )
    assert content["text"] == "The weather in Paris is sunny."
    assert content["tools"][0]["name"] == "get_weather"
    assert content["tools"][0]["args"] == {"city": "Paris"}
    assert reasoning["kind"] == "reasoning"
    glows = [c.node_id for _, c in h.effects("tool", "glow") if c.value]
    assert glows == ["wf-sequential:weather"]
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "success"


def test_containers_are_groups_whose_status_their_members_decide() -> None:
    """c-condition-router: Condition, Steps and Router are group nodes, nested to any depth;
    nested steps are matched although the sync path leaves their ends without a step_id."""
    snap = _replay("c-condition-router.jsonl").finish()
    assert [node for node, _ in _badges(snap)] == [
        "wf-cond-router:classify",
        "wf-cond-router:urgent?",
        "wf-cond-router:urgent?/urgent-pipeline",
        "wf-cond-router:urgent?/urgent-pipeline/triage",
        "wf-cond-router:urgent?/urgent-pipeline/escalate",
        "wf-cond-router:attachment?",
        "wf-cond-router:attachment?/archive",
        "wf-cond-router:route",
        "wf-cond-router:route/billing",
    ]
    assert all(status == "success" for _, status in _badges(snap))
    (groups,) = snap["group"].values()
    assert groups == {
        "wf-cond-router:attachment?": {"status": "success", "started": 1, "ended": 1},
        "wf-cond-router:route": {"status": "success", "started": 1, "ended": 1},
        "wf-cond-router:urgent?": {"status": "success", "started": 3, "ended": 3},
        "wf-cond-router:urgent?/urgent-pipeline": {"status": "success", "started": 2, "ended": 2},
    }
    (messages,) = snap["chat"].values()
    assert [m["node_id"] for m in messages] == ["wf-cond-router:route/billing"]


def test_the_derived_graph_has_the_learned_ids_and_gives_the_same_snapshot() -> None:
    """The graph derived from the in-process definition is the sample's derived flow, holds
    every node the stream names, and replaying with it changes no section."""
    definition = json.loads((AGNO_DIR / "inprocess-definition-c-condition-router.json").read_text())
    flow = workflow_flow(definition)
    sample = json.loads((AGNO_DIR / "derived-flow-c-condition-router.flow.json").read_text())
    assert [(n["id"], n.get("group"), n["category"], n.get("branch")) for n in flow["nodes"]] == [
        (n["id"], n.get("group"), n["category"], n.get("branch")) for n in sample["nodes"]
    ]
    graph = workflow_graph(definition)
    learned = _replay("c-condition-router.jsonl").finish()
    derived = _replay("c-condition-router.jsonl", graph=graph).finish()
    assert {node for node, _ in _badges(learned)} <= set(graph.nodes)
    for section in ("store", "group", "chat", "lifecycle", "interaction", "surface"):
        assert derived[section] == learned[section], section
    assert graph.ancestors("wf-cond-router:urgent?/urgent-pipeline/triage") == (
        "wf-cond-router:urgent?/urgent-pipeline",
        "wf-cond-router:urgent?",
    )


def test_pauses_are_pending_between_legs_and_each_continue_is_the_same_run() -> None:
    """d-pause-continue: a step confirmation, an agent's tool confirmation and a route
    selection each pause their run (editor unlocked, one pending item on the paused step's
    node); each continue leg resumes the same run and resolves it."""
    path = AGNO_DIR / "d-pause-continue.jsonl"
    legs = _legs(path)
    h = _replay(path.name)
    expected = {
        "d1": ("confirmation", "wf-confirm:delete"),
        "d2": ("confirmation", "wf-executor-pause:mail"),
        "d3": ("route_selection", "wf-router-pause:lane"),
    }
    for name, (kind, node) in expected.items():
        snap = h.at(legs[f"{name}-continue"] - 0.0001)
        assert snap["lifecycle"]["editor_locked"] is False
        (item,) = snap["interaction"]["pending"]
        assert (item["kind"], item["node_id"]) == (kind, node)
        assert snap["lifecycle"]["runs"][item["run_id"]]["status"] == "paused"
    end = h.finish()
    runs = end["lifecycle"]["runs"]
    assert len(runs) == 3
    assert {(r["status"], r["resumes"]) for r in runs.values()} == {("success", 1)}
    assert end["interaction"] == {"pending": [], "resolved": 3}


def test_a_step_confirmation_says_what_it_asks_and_an_executor_pause_names_its_tools() -> None:
    """The pending items carry the question (message, tools with their arguments, choices)."""
    path = AGNO_DIR / "d-pause-continue.jsonl"
    legs = _legs(path)
    h = _replay(path.name)
    (confirm,) = h.at(legs["d1-continue"] - 0.0001)["interaction"]["pending"]
    assert confirm["detail"]["message"] == "Delete 3 records?"
    (executor,) = h.at(legs["d2-continue"] - 0.0001)["interaction"]["pending"]
    assert executor["detail"]["tools"] == [
        {
            "tool_call_id": "call_send_email_0",
            "tool_name": "send_email",
            "tool_args": {"to": "ops@example.com", "body": "done"},
        }
    ]
    assert executor["detail"]["executor_requirements"][0]["tool_execution"]["tool_name"] == (
        "send_email"
    )
    (route,) = h.at(legs["d3-continue"] - 0.0001)["interaction"]["pending"]
    assert route["detail"]["available_choices"] == ["fast", "slow"]
    assert route["detail"]["allow_multiple_selections"] is False
    end = h.finish()
    mail = [m for msgs in end["chat"].values() for m in msgs]
    assert [t["result"] for m in mail for t in m["tools"]] == ["sent to ops@example.com"]


def test_a_team_step_shows_its_leader_and_members_and_the_delegations_as_tool_calls() -> None:
    """e-team: the leader's message holds the two delegations; members speak under their own
    names on the team's node; delegations glow as start_tool_or_member."""
    h = _replay("e-team.jsonl")
    snap = h.finish()
    (messages,) = snap["chat"].values()
    assert [(m["speaker"], m["name"], m["node_id"]) for m in messages] == [
        ("leader", "Content Team", "wf-team:team"),
        ("member", "Researcher", "wf-team:team"),
        ("member", "Writer", "wf-team:team"),
    ]
    leader = messages[0]
    assert [t["name"] for t in leader["tools"]] == ["delegate_task_to_member"] * 2
    assert leader["tools"][0]["args"] == {"member_id": "researcher", "task": "research agno"}
    assert leader["text"] == "Final: research and draft combined."
    assert messages[1]["tools"][0]["name"] == "search"


def test_without_step_events_the_run_and_its_chat_still_show() -> None:
    """f1 (``stream_events=False``): no step events, so no badges; the run and the agent's
    text, on the step named by its events, closed at the run's end."""
    snap = _replay("f1-no-stream-events.jsonl").finish()
    assert snap["store"] == {}
    (messages,) = snap["chat"].values()
    assert {m["node_id"] for m in messages} == {"wf-sequential:weather"}
    assert all(m["closed"] for m in messages)


# --- AgentOS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("agentos-sse-agent.txt",),
        ("agentos-sse-team.txt",),
        ("agentos-sse-workflow-sequential.txt",),
        ("agentos-sse-workflow-background.txt", "agentos-sse-resume-after35.txt"),
        ("agentos-sse-workflow-paused.txt", "agentos-sse-workflow-continue.txt"),
        ("agentos-ws-workflow.txt",),
        ("agentos-ws-reconnect-and-hitl.txt",),
    ],
    ids=lambda names: "+".join(n.removeprefix("agentos-").removesuffix(".txt") for n in names),
)
def test_every_agentos_capture_replays_cleanly_and_settles(names: tuple[str, ...]) -> None:
    """AgentOS's SSE bodies and WebSocket transcripts (a resume after the run it resumes, a
    continue after its pause): nothing rejected, unknown or violated, and settled."""
    snap = _replay(*names).finish()
    _clean(snap)
    _settled(snap)


def test_a_silently_failing_parallel_branch_ends_error_and_so_do_its_groups() -> None:
    """AgentOS background run: ``flaky`` starts and is never heard of again; the Parallel's
    completion ends it ``error`` in each loop iteration (a new badge each time); the groups
    derive ``error``, the run's outcome is ``error`` although Agno says Completed."""
    h = _replay("agentos-sse-workflow-background.txt")
    snap = h.finish()
    prefix = "wf-loop-parallel:refine-loop"
    assert _badges(snap) == [
        (prefix, "success"),
        (f"{prefix}/fan-out", "success"),
        (f"{prefix}/fan-out/research", "success"),
        (f"{prefix}/fan-out/flaky", "error"),
        (f"{prefix}/fan-out", "success"),
        (f"{prefix}/fan-out/research", "success"),
        (f"{prefix}/fan-out/flaky", "error"),
    ]
    (groups,) = snap["group"].values()
    assert groups[prefix]["status"] == "error"
    assert groups[f"{prefix}/fan-out"] == {"status": "error", "started": 2, "ended": 2}
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "error"


def test_an_inferred_end_says_why_on_its_badge_and_an_end_agno_sent_does_not() -> None:
    """``flaky``'s ends are flowrx's inference, each with the error the Parallel's results
    name; every end the stream stated has no ``inferred`` key (the platform's records as
    ``snapshot/1`` first said)."""
    snap = _replay("agentos-sse-workflow-background.txt").finish()
    (records,) = snap["store"].values()
    inferred = {r["id"]: r["inferred"] for r in records if "inferred" in r}
    flaky = "wf-loop-parallel:refine-loop/fan-out/flaky"
    assert inferred == {
        f"{flaky}-3": "flaky step exploded (call 2)",
        f"{flaky}-6": "flaky step exploded (call 4)",
    }


def test_badges_keep_step_index_loop_iteration_branch_and_route_as_notes() -> None:
    """A badge keeps what Agno says of the execution: ``step_index`` (a position, not an
    order), the iteration of the loop it ran in, a condition's result and branch, a router's
    selected steps; a node re-run by a loop has one badge per iteration."""
    snap = _replay("agentos-sse-workflow-background.txt").finish()
    (records,) = snap["store"].values()
    research = [r["notes"] for r in records if r["node_id"].endswith("/research")]
    assert research == [
        {"step_index": [0, 0], "iteration": 1},
        {"step_index": [0, 0], "iteration": 2},
    ]
    assert records[0]["notes"] == {"step_index": 0}  # the loop itself
    snap = _replay("c-condition-router.jsonl").finish()
    (records,) = snap["store"].values()
    notes = {r["handle"]: r["notes"] for r in records}
    assert notes["urgent?"] == {"step_index": 1, "condition_result": True, "branch": "if"}
    assert notes["attachment?"] == {"step_index": 2, "condition_result": False, "branch": "else"}
    assert notes["route"] == {"step_index": 3, "selected_steps": ["billing"]}


def test_views_mark_an_inferred_status_as_a_guess_and_say_why() -> None:
    """The terminal view shows ``error?`` for an inferred end, the HTML view too, with the
    reason in the badge's title; a stated ``error`` has no mark."""
    import io

    from rich.console import Console

    from flowrx.sinks.html_view import render_html
    from flowrx.sinks.terminal import render_snapshot

    snap = _replay("agentos-sse-workflow-background.txt").finish()
    graph = graph_from_mapping({"nodes": [], "edges": []})
    page = render_html(snap, graph)
    assert "inferred: flaky step exploded (call 2)" in page
    assert page.count("error?<") == 2
    console = Console(width=160, record=True, color_system=None, file=io.StringIO())
    console.print(render_snapshot(snap, graph))
    text = console.export_text()
    assert text.count("error?") == 2
    assert "success?" not in text


def test_views_show_a_groups_status_as_its_members_decide_beside_its_own_badge() -> None:
    """The loop and the Parallel completed (their badges say ``success``) while ``flaky``
    failed: both views show ``group error`` on them, and nothing of the kind on a step."""
    import io

    from rich.console import Console

    from flowrx.sinks.html_view import render_html
    from flowrx.sinks.terminal import render_snapshot

    snap = _replay("agentos-sse-workflow-background.txt").finish()
    graph = graph_from_mapping({"nodes": [], "edges": []})
    console = Console(width=160, record=True, color_system=None, file=io.StringIO())
    console.print(render_snapshot(snap, graph))
    lines = console.export_text().splitlines()
    assert next(line for line in lines if "refine-loop Loop" in line).count("group error") == 1
    assert next(line for line in lines if "fan-out Parallel" in line).count("group error") == 1
    assert not any("group" in line for line in lines if "research Step" in line)
    page = render_html(snap, graph)
    assert page.count('class="fx-group fx-st-error"') == 2


def test_without_a_definition_the_views_nest_the_groups_the_stream_announced() -> None:
    """No graph given: ``FlowState.view_graph`` is the flow the stream announced (the loop
    holds the Parallel, which holds its two branches), so the terminal view draws a tree and
    the HTML view nested lists; the snapshot document is the same as with no such graph."""
    import io

    from rich.console import Console

    from flowrx.sinks.html_view import render_html
    from flowrx.sinks.terminal import render_snapshot

    h = _replay("agentos-sse-workflow-background.txt")
    snap = h.finish()
    graph = h.state.view_graph
    prefix = "wf-loop-parallel:refine-loop"
    assert graph.ancestors(f"{prefix}/fan-out/flaky") == (f"{prefix}/fan-out", prefix)
    assert graph.type(prefix) == "Loop"
    assert graph.handle(f"{prefix}/fan-out/research") == "research"
    console = Console(width=160, record=True, color_system=None, file=io.StringIO())
    console.print(render_snapshot(snap, graph))
    lines = console.export_text().splitlines()
    assert any("└── flaky Step" in line or "├── flaky Step" in line for line in lines)
    flat = render_html(snap, graph_from_mapping({"nodes": []})).count("<ul")
    assert h.state._repr_html_().count("<ul") == flat + 2  # inside the loop, the Parallel
    assert dict(h.state.snapshot()) == dict(snap)


def test_a_resume_after_the_run_replays_only_duplicates() -> None:
    """SSE ``/resume`` with ``last_event_index=35`` after the whole run: its frames carry the
    original event indexes, so every one is a duplicate and nothing changes."""
    alone = _replay("agentos-sse-workflow-background.txt").finish()
    both = _replay("agentos-sse-workflow-background.txt", "agentos-sse-resume-after35.txt")
    snap = both.finish()
    assert snap["diagnostics"]["duplicates"] == 6
    assert snap["diagnostics"]["heartbeats"] == 1
    for section in ("store", "group", "chat", "interaction"):
        assert snap[section] == alone[section], section
    assert list(snap["lifecycle"]["runs"]) == list(alone["lifecycle"]["runs"])


def test_a_background_body_cut_after_event_35_and_its_resume_make_the_whole_run() -> None:
    """The background capture cut where ``agentos-sse-resume-after35`` picks up (its frames up
    to ``event_index`` 35), then that resume: the same sections as the whole body, the
    ``replay`` header a heartbeat, nothing duplicated and nothing missing."""
    whole = _replay("agentos-sse-workflow-background.txt").finish()
    timed = transcript_frames(
        (AGNO_DIR / "agentos-sse-workflow-background.txt").read_text(encoding="utf-8")
    )
    cut = [(t, f) for t, f in timed if json.loads(f.split("data: ", 1)[1])["event_index"] <= 35]
    assert len(cut) == 36
    resumed = transcript_frames(
        (AGNO_DIR / "agentos-sse-resume-after35.txt").read_text(encoding="utf-8")
    )
    frames = [RecordedFrame(t, f) for t, f in cut]
    frames += [RecordedFrame(frames[-1].t + 1.0 + t, f) for t, f in resumed]
    snap = run_frames(frames, protocol="agno").finish()
    diag = _clean(snap)
    assert (diag["heartbeats"], diag["duplicates"]) == (1, 0)
    assert diag["messages"] == whole["diagnostics"]["messages"]
    for section in ("store", "group", "chat", "interaction"):
        assert snap[section] == whole[section], section
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("error", 0)  # one unbroken run: no pause


def test_a_websocket_reconnect_to_a_finished_run_is_all_duplicates() -> None:
    """WS ``reconnect`` to a finished run replays everything (flat JSON): all duplicates."""
    snap = _replay("agentos-ws-workflow.txt").finish()
    diag = snap["diagnostics"]
    assert diag["duplicates"] == diag["messages"] == 47
    assert diag["heartbeats"] == 7
    assert len(snap["lifecycle"]["runs"]) == 1


def test_a_websocket_reconnect_mid_run_continues_the_same_run_and_its_message() -> None:
    """The client drops after 8 frames and reconnects; the tail continues the run, and the
    agent's streamed text is one message. The HITL run over WS pauses and continues."""
    snap = _replay("agentos-ws-reconnect-and-hitl.txt").finish()
    runs = snap["lifecycle"]["runs"]
    assert sorted((r["status"], r["resumes"]) for r in runs.values()) == [
        ("success", 0),
        ("success", 1),
    ]
    slow = [m for msgs in snap["chat"].values() for m in msgs]
    assert len(slow) == 1
    assert slow[0]["text"].split() == [f"word{n}" for n in range(12)]
    assert snap["interaction"]["resolved"] == 1


def test_agentos_pause_keeps_the_step_requirements_for_the_continue() -> None:
    """SSE pause: StepPaused then WorkflowPaused (one pending item, its requirements kept
    verbatim) and the WorkflowRunOutput trailer; the continue body resumes the same run."""
    h = _replay("agentos-sse-workflow-paused.txt", "agentos-sse-workflow-continue.txt")
    between = h.at(0.5)
    (item,) = between["interaction"]["pending"]
    assert (item["kind"], item["node_id"]) == ("confirmation", "wf-confirm:delete")
    (requirement,) = item["detail"]["step_requirements"]
    assert requirement["requires_confirmation"] is True
    assert requirement["step_name"] == "delete"
    end = h.finish()
    (run,) = end["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert [node for node, _ in _badges(end)] == [
        "wf-confirm:gather",
        "wf-confirm:delete",
        "wf-confirm:report",
    ]


@pytest.mark.parametrize(
    ("in_process", "agentos"),
    [
        ("a-sequential.jsonl", "agentos-sse-workflow-sequential.txt"),
        ("e-team.jsonl", "agentos-ws-workflow.txt"),
    ],
)
def test_the_same_workflow_in_process_and_on_agentos_gives_the_same_sections(
    in_process: str, agentos: str
) -> None:
    """Node ids are stable across runs and transports: the same badges, groups and chat up to
    the run ids (AgentOS mints new step ids per run; the ids do not depend on them)."""
    one = _replay(in_process).finish()
    other = _replay(agentos).finish()
    for section in ("store", "group", "chat"):
        assert list(one[section].values()) == list(other[section].values()), section
    assert [r["status"] for r in one["lifecycle"]["runs"].values()] == [
        r["status"] for r in other["lifecycle"]["runs"].values()
    ]


def test_the_definition_served_by_agentos_derives_the_ids_the_stream_names() -> None:
    """``GET /workflows/{id}`` serves no step ids: its graph still has every node of the
    background run, with the same groups."""
    definition = json.loads((AGNO_DIR / "agentos-definition-wf-loop-parallel.json").read_text())
    graph = workflow_graph(definition)
    learned = _replay("agentos-sse-workflow-background.txt").finish()
    derived = _replay("agentos-sse-workflow-background.txt", graph=graph).finish()
    assert {node for node, _ in _badges(learned)} == set(graph.nodes)
    assert derived["group"] == learned["group"]
    assert graph.node("wf-loop-parallel:refine-loop/fan-out/research") is not None
    assert graph.node("wf-loop-parallel:refine-loop/fan-out/research").category == "agno_agent"
    sequential = json.loads((AGNO_DIR / "agentos-definition-wf-sequential.json").read_text())
    sse = _replay("agentos-sse-workflow-sequential.txt").finish()
    assert [n for n, _ in _badges(sse)] == list(workflow_graph(sequential).nodes)


def test_bare_agent_and_team_streams_are_runs_with_one_node() -> None:
    """``POST /agents/{id}/runs`` and ``/teams/{id}/runs``: the agent or team is the run's
    node; a team's members join the team's run."""
    agent = _replay("agentos-sse-agent.txt").finish()
    assert _badges(agent) == [("weather-agent", "success")]
    team = _replay("agentos-sse-team.txt").finish()
    assert _badges(team) == [("content-team", "success")]
    (messages,) = team["chat"].values()
    assert [m["speaker"] for m in messages] == ["leader", "member", "member"]
    assert len(team["lifecycle"]["runs"]) == 1


# --- marbles: the rules the captures do not exercise ------------------------------------------

RUN = "r1"


def _ev(event: str, **fields: Any) -> str:
    return agno_event(event, workflow_id="wf", workflow_name="W", run_id=RUN, **fields)


def _step(
    event: str, name: str, step_id: str | None, parent: str | None = None, **more: Any
) -> str:
    return _ev(event, step_name=name, step_id=step_id, parent_step_id=parent, **more)


BASE = {
    "W": _ev("WorkflowStarted", nested_depth=0),
    "C": _ev("WorkflowCompleted", nested_depth=0),
    "a": _step("StepStarted", "a", "s-a"),
    "A": _step("StepCompleted", "a", "s-a"),
    "b": _step("StepStarted", "b", "s-b"),
    "B": _step("StepCompleted", "b", "s-b"),
}


def _marbles(diagram: str, **extra: str) -> Harness:
    return run_marbles(diagram, {**BASE, **extra}, protocol="agno")


def test_a_later_sibling_ends_a_silently_failed_step_in_error() -> None:
    """g1: ``a`` raised (no end): ``b``'s start ends it ``error``; the run says ``error``."""
    snap = _marbles("W-a--b-B-C|").finish()
    assert _badges(snap) == [("wf:a", "error"), ("wf:b", "success")]
    assert snap["lifecycle"]["runs"][RUN]["status"] == "error"


def test_the_terminal_ends_open_steps_with_the_error_of_the_step_results() -> None:
    """The last step raised: WorkflowCompleted ends it ``error`` (inferred, noticed)."""
    done = _ev(
        "WorkflowCompleted",
        nested_depth=0,
        step_results=[{"step_name": "a", "success": False, "error": "boom"}],
    )
    h = _marbles("W-a--X|", X=done)
    snap = h.finish()
    assert _badges(snap) == [("wf:a", "error")]
    assert snap["lifecycle"]["runs"][RUN]["status"] == "error"
    state = h.state.intake
    assert state.counters.violations == 0


def test_a_step_error_ends_the_node_at_once_and_workflow_error_ends_the_run() -> None:
    """g3 (``on_error="fail"``): StepError ends ``a`` in error; WorkflowError ends the run."""
    error = _step("StepError", "a", "s-a", error="boom")
    fail = _ev("WorkflowError", nested_depth=0, error="boom")
    h = _marbles("W-a-e-------F|", e=error, F=fail)
    assert h.at(0.45)["store"][RUN][0]["status"] == "error"
    snap = h.finish()
    assert snap["lifecycle"]["runs"][RUN]["status"] == "error"
    _settled(snap)


def test_a_cancel_kills_open_steps_and_its_second_terminal_is_a_duplicate() -> None:
    """AgentOS cancel: WorkflowCancelled then WorkflowCompleted: ``killed``, one end."""
    cancel = _ev("WorkflowCancelled", nested_depth=0, reason="user")
    h = _marbles("W-a-X-C|", X=cancel)
    snap = h.finish()
    assert _badges(snap) == [("wf:a", "killed")]
    assert snap["lifecycle"]["runs"][RUN]["status"] == "killed"
    assert snap["diagnostics"]["duplicates"] == 1
    ends = [e for e in h.effects("lifecycle", "run") if e[1].value in ("killed", "success")]
    assert len(ends) == 1


def test_a_bare_agents_cancel_then_completion_ends_it_killed_once() -> None:
    """An agent run's RunCancelled then RunCompleted: the run and its node end ``killed``."""

    def agent(event: str, **more: Any) -> str:
        return agno_event(event, run_id="ag1", agent_id="helper", agent_name="Helper", **more)

    frames = {
        "s": agent("RunStarted"),
        "c": agent("RunContent", content="Hel"),
        "x": agent("RunCancelled"),
        "d": agent("RunCompleted", content="Hel"),
    }
    snap = run_marbles("s-c-x-d|", frames, protocol="agno").finish()
    assert _badges(snap) == [("helper", "killed")]
    assert snap["lifecycle"]["runs"]["ag1"]["status"] == "killed"
    assert snap["diagnostics"]["duplicates"] == 1
    (message,) = snap["chat"]["ag1"]
    assert (message["text"], message["closed"]) == ("Hel", True)


def test_a_loop_iterations_end_closes_its_silently_failed_children() -> None:
    """A Step directly in a Loop raised: the iteration's end ends it ``error``, so the next
    iteration's start of the same step instance is a new badge, not a repeat."""
    loop = "s-loop"
    frames = {
        "L": _step("LoopExecutionStarted", "loop", loop),
        "i": _step("LoopIterationStarted", "loop", loop, iteration=1),
        "x": _step("StepStarted", "x", "s-x", loop),
        "I": _step("LoopIterationCompleted", "loop", loop, iteration=1),
        "X": _step("StepCompleted", "x", "s-x", loop),
        "E": _step("LoopExecutionCompleted", "loop", loop),
    }
    snap = _marbles("W-L-i-x-I-i-x-X-I-E-C|", **frames).finish()
    assert _badges(snap) == [
        ("wf:loop", "success"),
        ("wf:loop/x", "error"),
        ("wf:loop/x", "success"),
    ]
    # a group shows its members' latest ends (behaviour §7): x's second iteration succeeded
    assert snap["group"][RUN]["wf:loop"] == {"status": "success", "started": 1, "ended": 1}
    assert snap["lifecycle"]["runs"][RUN]["status"] == "error"


def test_a_second_start_of_an_open_step_is_a_duplicate() -> None:
    """Without event indexes, a repeated start of an open instance is structural dedupe."""
    snap = _marbles("W-a-a-A-C|").finish()
    assert _badges(snap) == [("wf:a", "success")]
    assert snap["diagnostics"]["duplicates"] == 1


def test_event_indexes_drop_repeats_and_take_a_late_gap_filler() -> None:
    """``(run, event_index)`` identifies a frame: a repeat is a duplicate (also across a
    reconnect), and a frame filling a gap left earlier is taken."""
    frames = {
        "W": _ev("WorkflowStarted", nested_depth=0, event_index=0),
        "a": _step("StepStarted", "a", "s-a", event_index=1),
        "A": _step("StepCompleted", "a", "s-a", event_index=3),
        "x": _step("StepOutput", "a", None, event_index=2),
        "C": _ev("WorkflowCompleted", nested_depth=0, event_index=4),
    }
    snap = run_marbles("W-a-A-a-x-W-C-C|", frames, protocol="agno").finish()
    diag = snap["diagnostics"]
    assert (diag["duplicates"], diag["messages"]) == (3, 5)
    assert _badges(snap) == [("wf:a", "success")]


def test_a_nested_workflow_is_a_group_of_its_inner_steps_in_the_same_run() -> None:
    """``Step(workflow=…)``: the inner workflow's start and end make no run; its steps (their
    own run id, ``nested_depth`` 1) are members of the outer step's node."""

    def inner(event: str, **more: Any) -> str:
        return agno_event(event, workflow_id="inner", run_id="r-in", nested_depth=1, **more)

    frames = {
        "o": _step("StepStarted", "outer", "s-o"),
        "w": inner("WorkflowStarted", parent_step_id="s-o"),
        "i": inner("StepStarted", step_name="in", step_id="s-i", parent_step_id="s-o"),
        "I": inner("StepCompleted", step_name="in", step_id="s-i", parent_step_id="s-o"),
        "c": inner("WorkflowCompleted", parent_step_id="s-o"),
        "O": _step("StepCompleted", "outer", "s-o"),
    }
    snap = _marbles("W-o-w-i-I-c-O-C|", **frames).finish()
    assert list(snap["lifecycle"]["runs"]) == [RUN]
    assert _badges(snap) == [("wf:outer", "success"), ("wf:outer/in", "success")]
    assert snap["group"][RUN] == {"wf:outer": {"status": "success", "started": 1, "ended": 1}}
    _clean(snap)


def test_user_input_output_review_and_external_tools_are_their_own_kinds() -> None:
    """StepPaused for input (with its schema), StepOutputReview, and an executor pause on a
    tool to run outside: each its pending kind, on its step's node."""
    schema = [{"name": "email", "field_type": "str"}]
    cases = {
        "user_input": _step(
            "StepPaused",
            "ask",
            "s-q",
            requires_user_input=True,
            user_input_message="Who?",
            user_input_schema=schema,
        ),
        "output_review": _step("StepOutputReview", "a", "s-a", step_output={"content": "x"}),
        "external_tool": _step(
            "StepExecutorPaused",
            "a",
            "s-a",
            executor_requirements=[
                {
                    "tool_execution": {
                        "tool_call_id": "t1",
                        "tool_name": "run_sql",
                        "tool_args": {"q": 1},
                        "external_execution_required": True,
                    }
                }
            ],
        ),
    }
    for kind, frame in cases.items():
        snap = _marbles("W-a-P|", P=frame).finish()
        (item,) = snap["interaction"]["pending"]
        assert item["kind"] == kind
        assert snap["lifecycle"]["runs"][RUN]["status"] == "paused"
    (item,) = _marbles("W-P|", P=cases["user_input"]).finish()["interaction"]["pending"]
    assert (item["node_id"], item["detail"]["schema"]) == ("wf:ask", schema)


def test_a_step_error_then_a_pause_asks_for_an_error_decision() -> None:
    """``on_error="pause"``: StepError and then WorkflowPaused (AgentOS) or the iterator's
    end (in process) pause the run with an ``error_decision`` item; a continue resolves it."""
    error = _step("StepError", "a", "s-a", error="boom")
    paused = _ev("WorkflowPaused", nested_depth=0, status="PAUSED", step_requirements=[])
    snap = _marbles("W-a-e-P|", e=error, P=paused).finish()
    (item,) = snap["interaction"]["pending"]
    assert (item["kind"], item["detail"]["error"]) == ("error_decision", "boom")

    driver = Driver(protocol="agno")
    driver.at(0.0, BASE["W"], BASE["a"], error)
    driver.at(0.1, EndOfStream("the iterator ended"))
    snap = driver.snapshot(1.0)
    (item,) = snap["interaction"]["pending"]
    assert item["kind"] == "error_decision"
    assert snap["lifecycle"]["runs"][RUN]["status"] == "paused"
    driver.at(2.0, _step("StepContinued", "a", "s-a"), BASE["a"], BASE["A"], BASE["C"])
    snap = driver.snapshot(5.0)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    assert snap["lifecycle"]["runs"][RUN]["resumes"] == 1


def test_the_end_of_a_stream_with_the_run_open_pauses_it_with_its_steps_open() -> None:
    """The in-process iterator stops at a pause: the run is paused; its open step survives and
    ends in the next leg."""
    state, out = AgnoState(), []
    for frame in (BASE["W"], BASE["a"], EndOfStream("the iterator ended"), BASE["A"]):
        state, more = reduce_agno(state, frame, 0.0)
        out.extend(more)
    events = [(m.event, m.outcome) for m in out if isinstance(m, ExecutionEvent)]
    assert events[-3:] == [("run_end", "paused"), ("resume_start", None), ("end_node", None)]
    ends = [m for m in out if isinstance(m, ExecutionEvent) and m.event == "end_node"]
    assert (ends[0].node_id, ends[0].order, ends[0].status) == ("wf:a", 0, "success")


def test_each_node_is_announced_once_per_run_with_its_group() -> None:
    """NodeAnnounced precedes a node's first start in the run (not a repeat's)."""
    state, out = AgnoState(), []
    frames = [
        BASE["W"],
        _step("ParallelExecutionStarted", "p", "s-p"),
        _step("StepStarted", "x", "s-x", "s-p"),
        _step("StepCompleted", "x", "s-x", "s-p"),
        _step("StepStarted", "x", "s-x", "s-p"),
    ]
    for frame in frames:
        state, more = reduce_agno(state, frame, 0.0)
        out.extend(more)
    announced = [m for m in out if isinstance(m, NodeAnnounced)]
    assert [(m.node_id, m.group, m.handle, m.type, m.category) for m in announced] == [
        ("wf:p", None, "p", "Parallel", "group"),
        ("wf:p/x", "wf:p", "x", "Step", "step"),
    ]
    starts = [m.order for m in out if isinstance(m, ExecutionEvent) and m.event == "start_node"]
    assert starts == [0, 1, 2]


def test_parallel_branches_run_together_without_inferred_ends() -> None:
    """Under a Parallel, a second branch's start leaves the first open."""
    frames = {
        "p": _step("ParallelExecutionStarted", "p", "s-p"),
        "x": _step("StepStarted", "x", "s-x", "s-p"),
        "y": _step("StepStarted", "y", "s-y", "s-p"),
        "X": _step("StepCompleted", "x", "s-x", "s-p"),
        "Y": _step("StepCompleted", "y", "s-y", "s-p"),
        "P": _step("ParallelExecutionCompleted", "p", "s-p"),
    }
    snap = _marbles("W-p-x-y-Y-X-P-C|", **frames).finish()
    assert _badges(snap) == [("wf:p", "success"), ("wf:p/x", "success"), ("wf:p/y", "success")]
    assert snap["lifecycle"]["runs"][RUN]["status"] == "success"


def test_a_failed_step_response_ends_the_node_in_error() -> None:
    """StepCompleted with ``step_response.success == false`` ends the node ``error``."""
    failed = _step("StepCompleted", "a", "s-a", step_response={"success": False, "error": "x"})
    snap = _marbles("W-a-F-C|", F=failed).finish()
    assert _badges(snap) == [("wf:a", "error")]


def test_transport_frames_unknown_events_and_bad_frames_are_each_counted_once() -> None:
    """AgentOS control frames are heartbeats, an event name Agno lacks is unknown (noticed
    once), a frame that is not an event is rejected: every frame is accounted for."""
    frames = {
        "k": agno_event("connected", requires_auth=True),
        "p": agno_event("pong"),
        "u": _ev("BrandNewEvent"),
        "j": "not json",
        "n": json.dumps({"run_id": RUN}),
        "r": agno_event("StepStarted", step_name="x"),
    }
    snap = _marbles("k-W-p-u-u-j-n-r-a-A-C|", **frames).finish()
    diag = snap["diagnostics"]
    assert (diag["heartbeats"], diag["unknown"], diag["rejected"]) == (2, 2, 3)
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["rejected"]
    assert _badges(snap) == [("wf:a", "success")]


def test_frames_come_as_mappings_sse_text_bytes_or_objects_with_to_dict() -> None:
    """The four inputs carry the same dicts; an SSE event without ``event`` in its data (the
    pause trailer) takes the ``event:`` line's name."""
    data = {"event": "StepStarted", "run_id": RUN, "step_name": "a"}

    class Event:
        def to_dict(self) -> dict[str, Any]:
            return data

    assert frame_data(data) == data
    assert frame_data(json.dumps(data).encode()) == data
    assert frame_data(Event()) == data
    assert frame_data(f"event: StepStarted\ndata: {json.dumps(data)}\n\n") == data
    trailer = frame_data('event: WorkflowRunOutput\ndata: {"status": "PAUSED"}\n\n')
    assert trailer == {"status": "PAUSED", "event": "WorkflowRunOutput"}
    assert frame_data("[1]") == "not an object: a JSON list"
    assert frame_data(3) == "a int is not a frame"


def test_runs_beyond_max_runs_evict_the_oldest_and_its_late_frames_are_counted() -> None:
    """One run more than ``max_runs`` evicts the oldest from every concern; a frame of it
    afterwards is late; ClearRun evicts at once."""

    def run(n: int, event: str) -> str:
        return agno_event(event, workflow_id="wf", run_id=f"r{n}", nested_depth=0)

    frames = {
        "1": run(1, "WorkflowStarted"),
        "2": run(2, "WorkflowStarted"),
        "x": run(1, "WorkflowCompleted"),
    }
    h = run_marbles("1-2-x|", frames, protocol="agno", config=Config(max_runs=1))
    snap = h.finish()
    assert list(snap["lifecycle"]["runs"]) == ["r2"]
    assert snap["diagnostics"]["late"] == 1
    state, out = reduce_agno(h.state.intake, ClearRun("r2"), 9.0)
    assert state.held == 0
    assert [type(m).__name__ for m in out] == ["Evict", "Notice"]


def test_node_ids_escape_slashes_so_a_path_is_never_ambiguous() -> None:
    """A ``/`` in a step name is escaped; ``%`` too, so escaping is reversible."""
    assert escape_name("a/b%c") == "a%2Fb%25c"
    assert node_id_of("wf", "x/y", "z") == "wf:x%2Fy/z"
    snap = _marbles("W-s-C|", s=_step("StepStarted", "in/out", "s-1")).finish()
    assert _badges(snap)[0][0] == "wf:in%2Fout"


def test_a_definition_without_an_id_or_steps_is_a_clear_error() -> None:
    """workflow_flow refuses what is not a workflow definition, naming what is missing."""
    with pytest.raises(ValueError, match="needs its id"):
        workflow_flow({"steps": []})
    with pytest.raises(ValueError, match="'steps' must be a list"):
        workflow_flow({"id": "wf"})


def test_a_nested_workflows_definition_makes_its_steps_members_of_its_step() -> None:
    """AgentOS serves ``Step(workflow=…)`` as type Workflow with its steps: a group node; a
    Router's ``choices`` (in-process) are its members; a Condition's branches are marked."""
    definition = {
        "id": "outer",
        "steps": [
            {"name": "sub", "type": "Workflow", "steps": [{"name": "in", "type": "Step"}]},
            {"name": "pick", "type": "Router", "choices": [{"name": "x", "type": "Step"}]},
            {
                "name": "if",
                "type": "Condition",
                "steps": [{"name": "t", "type": "Step", "team_id": "tm"}],
                "else_steps": [{"name": "f", "type": "Step", "agent_id": "ag"}],
            },
        ],
    }
    flow = workflow_flow(definition)
    assert [(n["id"], n.get("group"), n["category"], n.get("branch")) for n in flow["nodes"]] == [
        ("outer:sub", None, "group", None),
        ("outer:sub/in", "outer:sub", "step", None),
        ("outer:pick", None, "group", None),
        ("outer:pick/x", "outer:pick", "step", None),
        ("outer:if", None, "group", None),
        ("outer:if/t", "outer:if", "agno_team", "if"),
        ("outer:if/f", "outer:if", "agno_agent", "else"),
    ]
    graph = graph_from_mapping(flow)
    assert graph.is_group("outer:sub")
    assert graph.type("outer:pick") == "Router"


def test_the_card_counts_a_frame_its_reducer_failed_on_as_rejected() -> None:
    """The card's ``rejected`` accounts for a frame without touching anything else."""
    state = AGNO.rejected(AGNO.initial)
    assert AGNO.counters(state)["rejected"] == AGNO.counters(state)["frames"] == 1
    assert AGNO.name == "agno"


def test_pending_items_of_one_leg_merge_into_one() -> None:
    """An agent's RunPaused and the step's StepExecutorPaused are one pause: one item, whose
    details the later frame completes, the run paused once."""
    state, out = AgnoState(), []
    tool = {
        "tool_call_id": "t1",
        "tool_name": "send",
        "tool_args": {},
        "requires_confirmation": True,
    }
    frames = [
        BASE["W"],
        BASE["a"],
        agno_event(
            "RunPaused",
            run_id="ag",
            workflow_run_id=RUN,
            workflow_id="wf",
            step_id="s-a",
            step_name="a",
            agent_id="m",
            tools=[tool],
        ),
        _step(
            "StepExecutorPaused",
            "a",
            "s-a",
            executor_name="M",
            executor_requirements=[{"tool_execution": tool}],
        ),
    ]
    for frame in frames:
        state, more = reduce_agno(state, frame, 0.0)
        out.extend(more)
    items = [m for m in out if isinstance(m, Pending)]
    assert len({m.interaction_id for m in items}) == 1
    assert items[-1].kind == "confirmation"
    assert items[-1].node_id == "wf:a"
    assert items[-1].detail["executor_name"] == "M"
    ends = [m for m in out if isinstance(m, ExecutionEvent) and m.event == "run_end"]
    assert [m.outcome for m in ends] == ["paused"]


def test_a_team_member_pausing_pauses_its_bare_team_run_once_at_the_team_pause() -> None:
    """A bare team run whose member's tool waits for a confirmation: the member's
    ``RunPaused``, the leader's delegation ending and ``TeamRunPaused`` are one pause (no
    leg starts in between): one item, its kind from the team's requirements (its ``tools``
    name only the delegation), the requirements kept verbatim for the continue."""
    waiting = {"tool_call_id": "c1", "tool_name": "send", "requires_confirmation": True}
    requirements = [{"id": "q1", "member_agent_id": "m", "tool_execution": waiting}]
    delegation = {"tool_call_id": "d1", "tool_name": "delegate_task_to_member", "tool_args": {}}
    frames = [
        agno_event("TeamRunStarted", run_id="t1", team_id="team", team_name="Team"),
        agno_event("TeamToolCallStarted", run_id="t1", team_id="team", tool=delegation),
        agno_event("RunStarted", run_id="m1", parent_run_id="t1", agent_id="m", agent_name="M"),
        agno_event("RunPaused", run_id="m1", parent_run_id="t1", agent_id="m", tools=[waiting]),
        agno_event("TeamToolCallCompleted", run_id="t1", team_id="team", tool=delegation),
        agno_event(
            "TeamRunPaused",
            run_id="t1",
            team_id="team",
            tools=[delegation],
            requirements=requirements,
        ),
    ]
    state, out = AgnoState(), []
    for frame in frames:
        state, more = reduce_agno(state, frame, 0.0)
        out.extend(more)
    (item,) = {m.interaction_id: m for m in out if isinstance(m, Pending)}.values()
    assert (item.kind, item.node_id) == ("confirmation", "team")
    assert item.detail["requirements"] == requirements
    assert [t["tool_name"] for t in item.detail["tools"]] == ["send"]
    events = [m.event for m in out if isinstance(m, ExecutionEvent) and m.node_id is None]
    assert events == ["run_start", "run_end"]


# --- the command line -----------------------------------------------------------------------


def test_replay_reads_an_agno_recording_by_its_header_and_a_capture_by_its_frames() -> None:
    """``flowrx replay FILE --instant --snapshot``: a recording's header says ``agno``; an
    AgentOS SSE body or WebSocket transcript is read as the recording of its server frames."""
    code, out, _ = cli("replay", str(AGNO_DIR / "e-team.jsonl"), "--instant", "--snapshot")
    assert code == 0
    assert json.loads(out)["store"] == _replay("e-team.jsonl").finish()["store"]
    for name in ("agentos-sse-workflow-sequential.txt", "agentos-ws-workflow.txt"):
        code, out, _ = cli("replay", str(AGNO_DIR / name), "--instant", "--snapshot")
        assert code == 0
        snap = json.loads(out)
        assert snap["diagnostics"]["rejected"] == 0
        assert snap["chat"] == _replay(name).finish()["chat"]


def test_replay_takes_an_agno_workflow_definition_as_the_graph() -> None:
    """``--graph`` with ``GET /workflows/{id}``'s answer: the derived graph names the nodes,
    the groups are the same as learned ones."""
    code, out, _ = cli(
        "replay",
        str(AGNO_DIR / "agentos-sse-workflow-background.txt"),
        "--instant",
        "--snapshot",
        "--graph",
        str(AGNO_DIR / "agentos-definition-wf-loop-parallel.json"),
    )
    assert code == 0
    snap = json.loads(out)
    learned = _replay("agentos-sse-workflow-background.txt").finish()
    assert snap["group"] == learned["group"]
    (records,) = snap["store"].values()
    assert [r["handle"] for r in records][:4] == ["refine-loop", "fan-out", "research", "flaky"]


def test_a_definition_with_a_bad_step_list_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A JSON file that is neither a graph nor a workflow definition: exit 2, one line."""
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"steps": [], "name": "no id"}))
    code, _, err = cli(
        "replay", str(AGNO_DIR / "a-sequential.jsonl"), "--instant", "--graph", str(path)
    )
    assert code == 2
    assert err.count("\n") == 1
    assert "needs its id" in err


def test_hostile_field_types_never_break_the_decoder_and_every_frame_is_counted() -> None:
    """Real events with fields of the wrong JSON type (ids as numbers, lists for objects,
    huge or negative indexes) and sources ending anywhere: the reducer never raises and the
    accounting identity holds."""
    import random

    frames: list[dict[str, Any]] = []
    for path in RECORDINGS + TRANSCRIPTS:
        for frame in _frames(path):
            data = frame_data(frame.data)
            if not isinstance(data, str):
                frames.append(dict(data))
    keys = ["parent_step_id", "event_index", "nested_depth", "tool", "step_results", "tools",
            "executor_requirements", "step_requirements", "step_response", "workflow_run_id",
            "parent_run_id", "step_id", "step_name", "run_id", "content"]  # fmt: skip
    weird: list[Any] = [None, 1, -5, 2**70, "", "x", [], {}, [1, "a"], {"a": 1}, True, 1.5]
    rng = random.Random(7)
    for _ in range(150):
        state = AgnoState()
        for data in rng.sample(frames, 40):
            for _ in range(rng.randint(0, 3)):
                data[rng.choice(keys)] = rng.choice(weird)
            if rng.random() < 0.05:
                state, _ = reduce_agno(state, EndOfStream("cut"), 0.0)
            state, _ = reduce_agno(state, data, 0.0)
        c = state.counters
        assert c.frames == c.messages + c.heartbeats + c.rejected + c.duplicates == 40
