"""The live terminal view: what it draws from a replayed state, and that it is safe to run."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import flowrx
from flowrx.graph import graph_from_mapping
from flowrx.sinks.state import FlowState
from flowrx.sinks.terminal import TerminalView, render_snapshot
from flowrx.streams.replay import RecordedFrame
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


def _text(renderable: Any, width: int = 140) -> str:
    console = Console(record=True, width=width, color_system=None, file=io.StringIO())
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
    """At 0.1 s every started node has its #order badge and the executing glow."""
    text = _text(TerminalView(_replayed(examples, 0.1)).render())
    assert "play Play #1 success executing" in text
    assert "#6 executing executing" in _line_of(text, "agentish")
    assert "executing-tool" in _line_of(text, "hello_tool")
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
    """Once every timer fired no executed-… class is shown, the badges stay, the run is error."""
    text = _text(TerminalView(_replayed(examples, None)).render())
    assert "executed-" not in text
    assert "executing" not in text
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
    assert "[bold]x[/bold] #1 executing" in text
    assert "[red]h[/]" in text
    assert "[blink]t[/]" in text
    assert "[/] #2 executing" in text
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
    assert "writer member html: <b>x</b>" in text
    assert "pause pause:r:n:1" in text
    assert "pause_type=confirmation" in text
    assert "message=Sure?" in text
    assert "resolved 2" in text


def test_an_empty_state_renders_placeholders() -> None:
    """A snapshot with nothing in it still draws every section."""
    text = _text(render_snapshot({}, flowrx.FlowGraph.empty()), width=100)
    for placeholder in ("no nodes yet", "no runs yet", "no messages", "none pending"):
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
