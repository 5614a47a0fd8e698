"""The live terminal view: what it draws from a replayed state, and that it is safe to run."""

from __future__ import annotations

import functools
import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

import flowrx
from flowrx.graph import graph_from_mapping
from flowrx.sinks.state import FlowState
from flowrx.sinks.terminal import TerminalView, render_snapshot
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import DEMO_NODE_IDS, demo_flow, simulate
from flowrx.streams.websocket import ConnectionStatus

RUN = "0e000000-0000-4000-8000-000000000001"


def _replayed(
    examples: Path, until: float | None, faults: dict[str, float] | None = None
) -> FlowState:
    clock = flowrx.VirtualClock()
    recording = flowrx.read_recording(examples / "groups-tools-error.jsonl")
    graph = flowrx.load_graph(examples / "groups-tools-error.flow.json")
    state, _ = flowrx.connect(
        flowrx.replay(recording.frames, clock), scheduler=clock, graph=graph, faults=faults
    )
    clock.run(until=until)
    return state


def _text(renderable: Any, width: int = 140, height: int = 200) -> str:
    console = Console(
        record=True, width=width, height=height, color_system=None, file=io.StringIO()
    )
    console.print(renderable)
    return console.export_text()


def _line_of(text: str, word: str) -> str:
    return next(line for line in text.splitlines() if f" {word} " in line)


def test_the_node_tree_nests_group_members_under_their_group(examples: Path) -> None:
    """in_group is drawn one level below my_group, and top-level nodes are siblings of it."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    group, member = _line_of(text, "my_group"), _line_of(text, "in_group")
    assert member.index("in_group") > group.index("my_group")
    assert _line_of(text, "play").index("play") == group.index("my_group")
    lines = text.splitlines()
    assert lines.index(member) == lines.index(group) + 1
    assert "never VariableString" in text  # a node that never ran is still listed


def test_running_nodes_show_their_badges_and_executing_glow(examples: Path) -> None:
    """At 0.1 s every started node has its #order badge and its glow, in words."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    assert "play Play #1 success ● running" in text
    assert "#6 running ● running" in _line_of(text, "agentish")
    assert "● running tool" in _line_of(text, "hello_tool")
    for badge in ("#1", "#2", "#3", "#4", "#5", "#6"):
        assert badge in text


def test_the_runs_section_shows_the_run_its_status_and_the_editor_lock(examples: Path) -> None:
    """The running run is listed with its status, marked active, and the editor is locked."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    assert "R1 running" in text
    assert RUN in text
    assert "editor locked" in text


def test_the_health_line_shows_the_connection_and_frames_per_second(examples: Path) -> None:
    """A given connection status (with its reason) and the fps figure appear in the view."""
    view = TerminalView(_replayed(examples, 0.1))
    text = _text(view.render(ConnectionStatus("open"), fps=12.5))
    assert "connection open" in text
    assert "fps 12.5" in text
    assert "frames 14" in text
    assert "health ok" in text
    failing = _text(view.render(ConnectionStatus("failed", 3, "HTTP 403"), fps=0.0))
    assert "connection failed (attempt 3): HTTP 403" in failing


def test_without_a_connection_status_no_connection_is_shown(examples: Path) -> None:
    """Replay has no connection: the health line then starts with the frame rate."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    assert "connection" not in text
    assert "fps 0.0" in text


def test_after_the_run_glows_are_cleared_but_badges_and_the_error_remain(examples: Path) -> None:
    """Once every timer fired no glow is shown, the badges stay, the run is error."""
    text = _text(TerminalView(_replayed(examples, None)).render())
    assert "●" not in text
    assert "running" not in text
    assert "#9 error" in _line_of(text, "boom")
    assert "#7 provided" in _line_of(text, "hello_tool")
    assert "R1 error" in text
    assert "editor unlocked" in text


def test_ids_and_names_with_rich_markup_are_shown_literally(examples: Path) -> None:
    """Markup in an id, a handle or the title is printed as written and breaks nothing."""
    node = "[bold]x[/bold]"
    frames = [
        json.dumps({"event": "run_start", "run_id": "r[/]", "node_id": None, "order": -1}),
        json.dumps(
            {"event": "start_node", "run_id": "r[/]", "node_id": node, "order": 0},
        ),
        json.dumps({"event": "start_node", "run_id": "r[/]", "node_id": "[/]", "order": 1}),
    ]
    graph = graph_from_mapping({"nodes": [{"id": node}, {"id": "h", "handle": "[red]h[/]"}]})
    clock = flowrx.VirtualClock()
    state, _ = flowrx.connect(
        flowrx.replay([RecordedFrame(0.0, f) for f in frames], clock),
        scheduler=clock,
        graph=graph,
    )
    clock.run(until=0.01)
    view = TerminalView(state, title="[blink]t[/]")
    text = _text(view.render(ConnectionStatus("reconnecting", 1, "[/] closed"), fps=1.0))
    assert "[bold]x[/bold] #1 running" in text
    assert "[red]h[/]" in text
    assert "[blink]t[/]" in text
    assert "[/] #2 running" in text
    assert "r[/]" in text
    assert "[/] closed" in text


def test_control_characters_in_untrusted_text_never_reach_the_terminal() -> None:
    """An escape sequence in an id or chat text is replaced, not printed raw."""
    doc: dict[str, Any] = {
        "store": {"r": [{"node_id": "n\x1b[2J", "order": 0, "status": "error"}]},
        "chat": {
            "r": [{"node_id": "n", "name": "a\x1b]0;x\x07", "kind": "content", "text": "t\x1b"}]
        },
    }
    text = _text(render_snapshot(doc, flowrx.FlowGraph.empty()))
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "n\ufffd[2J #1 error" in text


def test_a_failing_concern_shows_its_failure_count_and_degraded(examples: Path) -> None:
    """With the visual reducer failing on every event, its count and degraded health show."""
    state = _replayed(examples, 0.1, faults={"visual": 1.0})
    text = _text(TerminalView(state).render())
    failed = state.failed["visual"]
    assert failed > 0
    assert f"visual {failed} " in text
    assert "degraded: visual" in text
    assert "store 0 " in text


def test_chat_messages_tools_and_pending_interactions_are_summarised() -> None:
    """The last chat messages with speaker, kind, text and tool calls, and pending items, show."""
    messages = [
        {
            "node_id": "n",
            "speaker": "agent",
            "name": f"Agent {i}",
            "kind": "content",
            "text": f"message {i}",
            "closed": True,
            "tools": [],
        }
        for i in range(10)
    ]
    messages[-1]["tools"] = [{"name": "search", "args": {"q": "rx"}, "result": "found", "error": 0}]
    messages.append(
        {"node_id": "n", "speaker": "member", "name": None, "kind": "html", "text": "<b>x</b>"}
    )
    doc: dict[str, Any] = {
        "chat": {"r": messages},
        "interaction": {
            "pending": [
                {
                    "id": "pause:r:n:1",
                    "run_id": "r",
                    "node_id": "n",
                    "kind": "pause",
                    "detail": {"pause_type": "confirmation", "message": "Sure?", "tools": []},
                }
            ],
            "resolved": 2,
        },
    }
    graph = graph_from_mapping({"nodes": [{"id": "n", "handle": "writer"}]})
    text = _text(render_snapshot(doc, graph))
    assert "Agent 0" not in text
    assert "3 earlier" in text
    assert "Agent 9 agent content: message 9" in text
    assert 'search({"q":"rx"}) → found' in text
    assert "writer member html: x" in text
    assert "waiting pause pause_type=confirmation message=Sure?  pause:r:n:1" in text
    assert "resolved 2" in text


def test_an_empty_state_renders_placeholders() -> None:
    """A snapshot with nothing in it still draws every section."""
    text = _text(render_snapshot({}, flowrx.FlowGraph.empty()), width=100)
    for placeholder in ("no nodes yet", "no runs yet", "no messages", "resolved 0"):
        assert placeholder in text


@pytest.mark.parametrize("width", [100, 160])
def test_the_view_fits_the_terminal_width(examples: Path, width: int) -> None:
    """At 100 and 160 columns no line is wider than the console."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render(ConnectionStatus("open")), width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert RUN in text


def test_start_refresh_and_stop_draw_live_and_leave_no_thread(examples: Path) -> None:
    """The live view draws on start and refresh, stops cleanly twice, and starts no thread."""
    threads = threading.active_count()
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    view = TerminalView(_replayed(examples, 0.1), console=console)
    view.refresh()  # before start: nothing happens
    assert out.getvalue() == ""
    view.start()
    view.start()
    assert view.live
    assert threading.active_count() == threads
    view.refresh(ConnectionStatus("open"), fps=10.0)
    view.stop()
    view.stop()
    assert not view.live
    assert threading.active_count() == threads
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "fps 10.0" in drawn
    assert "in_group" in drawn


# --- fitting the terminal ---------------------------------------------------------------------


@functools.cache
def _simulated(runs: int, until: float | None, seed: int = 0) -> FlowState:
    """The simulator's frames through the pipeline up to ``until`` (None: to the end)."""
    clock = flowrx.VirtualClock()
    state, _ = flowrx.connect(
        flowrx.replay(simulate(runs, seed=seed), clock), scheduler=clock, graph=demo_flow()
    )
    clock.run(until=until)
    return state


def _second_run_start() -> float:
    return [f.t for f in simulate(3) if '"run_start"' in f.data][1]


def _scene(name: str, examples: Path) -> FlowState:
    """Realistic states: replayed recordings and the simulator at telling moments."""
    if name == "recording, mid-run":
        return _replayed(examples, 0.1)
    if name == "recording, ended":
        return _replayed(examples, None)
    if name == "first run":
        return _simulated(3, 1.0)
    if name == "paused, waiting for you":
        return _simulated(3, 5.5)
    if name == "second run starts":
        return _simulated(3, _second_run_start() + 2.0)
    return _simulated(52, None)  # fifty runs held, the most the pipeline keeps


def _screen(state: FlowState, width: int, height: int) -> str:
    console = Console(
        record=True, width=width, height=height, color_system=None, file=io.StringIO()
    )
    view = TerminalView(state, console=console, title="flowrx demo")
    console.print(view.render(ConnectionStatus("open"), fps=12.5))
    return console.export_text()


SCENES = [
    "recording, mid-run",
    "recording, ended",
    "first run",
    "paused, waiting for you",
    "second run starts",
    "fifty runs",
]


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 45)])
def test_the_view_fits_its_terminal_and_keeps_health_and_runs_in_sight(
    examples: Path, scene: str, width: int, height: int
) -> None:
    """At 80x24 and 120x45 no line is wider than the terminal, the drawing is no taller, and
    the health lines, the active run and the editor lock are always on screen."""
    state = _scene(scene, examples)
    text = _screen(state, width, height)
    lines = text.splitlines()
    assert len(lines) <= height
    assert max(len(line) for line in lines) <= width
    assert "connection open" in text
    assert "fps 12.5" in text
    assert "health ok" in text
    assert "editor " in text
    runs = list(state.snapshot()["lifecycle"]["runs"])
    active = state.snapshot()["lifecycle"]["active_run_id"]
    if active is not None:
        assert f"R{runs.index(active) + 1} " in text
    if len(runs) <= 3:
        for number in range(1, len(runs) + 1):
            assert f"R{number} " in text
    else:
        assert f"R{len(runs)} " in text  # the latest run
        assert "earlier runs" in text


def test_at_120x45_nothing_is_cut_off_when_a_second_run_starts() -> None:
    """Two runs at 120x45: every node with its badges and glow, both run ids, whole lines."""
    state = _simulated(3, _second_run_start() + 2.0)
    text = _screen(state, 120, 45)
    assert len(text.splitlines()) <= 45  # a live view shows no more
    assert "health ok" in text.splitlines()[-2]
    for handle in DEMO_NODE_IDS:
        line = _line_of(text, handle)
        assert "…" not in line, line
    for run in state.snapshot()["lifecycle"]["runs"]:
        assert run in text
    assert "more nodes" not in text
    assert "earlier runs" not in text
    assert "R1#1 success R2#1" in _line_of(text, "play")


def test_the_glow_reads_as_words_not_css_class_names(examples: Path) -> None:
    """running, running tool, done, failed: never executing, executed-… or executing-tool."""
    texts = [_text(TerminalView(_replayed(examples, t)).render()) for t in (0.1, 0.57, 0.6)]
    joined = "\n".join(texts)
    for word in ("● running", "● running tool", "● done"):
        assert word in joined
    for css in ("executing", "executed-", "executing-tool"):
        assert css not in joined
    assert "● failed" in _text(TerminalView(_simulated(3, 13.5)).render())


def test_an_open_runs_end_reads_running(examples: Path) -> None:
    """While a run is open its end is shown as running, never as a dash."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    assert "0.00s → running" in text
    assert "→ -" not in text


def test_html_chat_is_shown_as_its_text() -> None:
    """A ChatHTML item shows what a browser would show: no tags, entities decoded."""
    doc: dict[str, Any] = {
        "chat": {
            "r": [
                {
                    "node_id": "n",
                    "speaker": "agent",
                    "name": "report",
                    "kind": "html",
                    "text": "<h3>Weekly</h3><p>a &amp; b<br>c</p><script>x()</script>",
                }
            ]
        }
    }
    text = _text(render_snapshot(doc, flowrx.FlowGraph.empty(), height=24), width=80, height=24)
    assert "report agent html: Weekly a & b c" in text
    assert "<" not in text


def test_a_streaming_message_shows_its_newest_text_on_one_line() -> None:
    """A long message still streaming shows its end (what just arrived), cut at the front."""
    long = "first words " + "filler " * 80 + "the newest words"
    doc: dict[str, Any] = {
        "chat": {"r": [{"node_id": "n", "name": "a", "kind": "content", "text": long}]}
    }
    doc["chat"]["r"][0]["closed"] = False
    text = _text(render_snapshot(doc, flowrx.FlowGraph.empty(), height=24), width=80, height=24)
    [line] = [line for line in text.splitlines() if "a  content" in line or " content: " in line]
    assert "the newest words ▍" in line
    assert "first words" not in line
    assert ": …" in line


@settings(max_examples=60, deadline=None)
@given(width=st.integers(20, 220), height=st.integers(1, 70), scene=st.sampled_from(SCENES[2:]))
def test_the_view_never_draws_outside_any_terminal(width: int, height: int, scene: str) -> None:
    """Whatever the terminal's size, no line is wider and the drawing is no taller."""
    state = _scene(scene, EXAMPLES)
    lines = _screen(state, width, height).splitlines()
    assert len(lines) <= height
    assert all(len(line) <= width for line in lines)


def test_a_runs_shared_state_shows_as_json_and_cut_short_says_how_much_it_left_out() -> None:
    """AG-UI's state shows under State, run id then indented JSON; given too few lines it
    keeps the first and says how many it left out; without state there is no State panel."""
    doc: dict[str, Any] = {
        "state": {"run-1": {"items": [f"item {i}" for i in range(30)], "count": 30}},
        "lifecycle": {"runs": {"run-1": {"status": "success"}}},
    }
    text = _text(render_snapshot(doc, flowrx.FlowGraph.empty()))
    assert "─ State " in text
    assert '"count": 30,' in text
    assert '"item 29"' in text
    short = _text(render_snapshot(doc, flowrx.FlowGraph.empty(), height=24))
    assert "─ State " in short
    assert "more lines of state" in short
    assert len(short.splitlines()) <= 24
    del doc["state"]
    assert "State" not in _text(render_snapshot(doc, flowrx.FlowGraph.empty()))
