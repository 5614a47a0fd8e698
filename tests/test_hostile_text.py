"""Text from the wire on a terminal: plain lines, status lines, the log and the rich view.

Run ids, node ids, handles, agent names, chat text, event names and close reasons are chosen
by whoever sends the frames. Whatever they hold (escape sequences that retitle or clear a
terminal, C1 controls, carriage returns, bidirectional overrides, lone UTF-16 surrogates that
any JSON string may carry), every line flowrx prints is one line a terminal shows as text and a
strict UTF-8 stream can write.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
import unicodedata
from collections.abc import Iterator
from typing import Any

from helpers import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger
from rich.console import Console
from websockets.asyncio.server import ServerConnection, serve

import flowrx
from flowrx.cli import _add_log_sink, _printer, main
from flowrx.graph import graph_from_mapping
from flowrx.sinks.terminal import TerminalView, render_snapshot
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.websocket import ConnectionStatus

RECORDING = flowrx.read_recording(EXAMPLES / "agent-chat.jsonl")

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: Any text, with the characters that matter here drawn often.
hostile = st.lists(
    st.one_of(
        st.text(
            st.one_of(
                st.characters(),
                st.characters(codec=None, categories=["Cc", "Cs", "Cf", "Zl", "Zp"]),
                st.sampled_from("\x1b\x07\x9b\x9d\r\n\u202e\ud83d"),
            ),
            max_size=12,
        ),
        st.sampled_from(["\x1b]0;owned\x07", "\x1b[2J", "\x1bc", "[bold]x[/]"]),
    ),
    max_size=4,
).map("".join)


def unsafe(char: str) -> bool:
    """A character no line printed from wire text may hold (the test's own definition)."""
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def assert_terminal_safe(output: str) -> None:
    """Every line is free of unsafe characters, and the whole encodes as strict UTF-8."""
    output.encode("utf-8")  # raises on a lone surrogate
    for line in output.split("\n"):
        bad = [c for c in line if unsafe(c)]
        assert not bad, (line, bad)


def _rewrite(value: Any, ids: dict[str, str], text: str) -> Any:
    """A decoded frame with every id replaced by a hostile one and chat text by ``text``."""
    if isinstance(value, dict):
        out = {k: _rewrite(v, ids, text) for k, v in value.items()}
        for key in ("content", "agent_name", "tool_name"):
            if isinstance(out.get(key), str):
                out[key] = text
        return out
    if isinstance(value, list):
        return [_rewrite(v, ids, text) for v in value]
    if isinstance(value, str) and value in ids:
        return ids[value]
    return value


def hostile_frames(run_id: str, node_id: str, text: str, event: str) -> list[RecordedFrame]:
    """The agent-chat recording with hostile ids and text, plus a frame of an unknown event."""
    decoded = [json.loads(f.data) for f in RECORDING.frames]
    real_run = decoded[0]["run_id"]
    nodes = sorted({d["node_id"] for d in decoded if isinstance(d.get("node_id"), str)})
    ids = {real_run: run_id, **{n: f"{node_id}{i}" for i, n in enumerate(nodes)}}
    frames = [
        RecordedFrame(f.t, json.dumps(_rewrite(d, ids, text)))
        for f, d in zip(RECORDING.frames, decoded, strict=True)
    ]
    unknown = {"event": event, "run_id": run_id, "node_id": node_id}
    frames.insert(3, RecordedFrame(frames[2].t, json.dumps(unknown)))
    return frames


def _state(frames: list[RecordedFrame], graph: flowrx.FlowGraph, sinks: list[Any]) -> Any:
    clock = flowrx.VirtualClock()
    state, subscription = flowrx.connect(
        flowrx.replay(frames, clock), scheduler=clock, graph=graph, sinks=sinks
    )
    clock.run(until=0.07)  # mid-run: glows, badges and open chat are on show
    return state, clock, subscription


@settings(max_examples=60, deadline=None)
@given(run_id=hostile, node_id=hostile, text=hostile, event=hostile, handle=hostile)
def test_plain_change_lines_escape_whatever_the_wire_sends(
    run_id: str, node_id: str, text: str, event: str, handle: str
) -> None:
    """--plain prints one safe line per change whatever ids, handles and text hold."""
    frames = hostile_frames(run_id, node_id, text, event)
    graph = graph_from_mapping({"nodes": [{"id": f"{node_id}0", "handle": handle}]})
    out = io.StringIO()
    changes: list[object] = []
    _, clock, subscription = _state(frames, graph, [changes.append, _printer(out, lambda: 0)])
    clock.run()
    subscription.dispose()
    assert_terminal_safe(out.getvalue())
    assert out.getvalue().count("\n") == len(changes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_id=hostile, node_id=hostile, text=hostile, event=hostile, handle=hostile, title=hostile)
def test_the_rich_view_draws_whatever_the_wire_sends_safely(
    run_id: str, node_id: str, text: str, event: str, handle: str, title: str
) -> None:
    """The live view of hostile frames is plain text on an 80x24 console with strict UTF-8."""
    frames = hostile_frames(run_id, node_id, text, event)
    graph = graph_from_mapping({"nodes": [{"id": f"{node_id}0", "handle": handle}]})
    state, _, subscription = _state(frames, graph, [])
    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")
    for file in (io.StringIO(), strict):
        console = Console(width=80, height=24, file=file, record=True, color_system=None)
        view = TerminalView(state, title=title, console=console)
        console.print(view.render(ConnectionStatus("reconnecting", 2, text), fps=1.0))
        assert "view failed to render" not in console.export_text(clear=False)
        assert_terminal_safe(console.export_text())
    strict.flush()
    subscription.dispose()


@settings(max_examples=60, deadline=None)
@given(run_id=hostile, node_id=hostile, handle=hostile, text=hostile, reason=hostile, kind=hostile)
def test_a_snapshot_document_of_hostile_strings_draws_safely(
    run_id: str, node_id: str, handle: str, text: str, reason: str, kind: str
) -> None:
    """Every section of the view, drawn from a document of hostile strings, stays safe."""
    doc: dict[str, Any] = {
        "clock": 1.0,
        "lifecycle": {
            "runs": {run_id: {"status": kind, "started_at": 0.0, "resumes": reason}},
            "active_run_id": run_id,
            "editor_locked": True,
        },
        "store": {run_id: [{"node_id": node_id, "order": 0, "status": kind, "handle": handle}]},
        "surface": {node_id: [kind, "executing"]},
        "chat": {
            run_id: [
                {
                    "node_id": f"n{node_id}",
                    "speaker": kind,
                    "name": handle,
                    "kind": kind,
                    "text": text,
                },
                {"node_id": node_id, "name": None, "kind": "html", "text": f"<b>{text}</b>"},
                {"node_id": node_id, "tools": [{"name": text, "args": {text: reason}}]},
            ]
        },
        "interaction": {
            "pending": [{"id": reason, "kind": kind, "detail": {text: reason}}],
            "resolved": text,
        },
        "diagnostics": {"failed": {text: 1}, "health": {text: "degraded"}},
    }
    graph = graph_from_mapping(
        {"flow_id": reason, "nodes": [{"id": f"n{node_id}", "handle": handle}]}
    )
    for width, height in ((80, 24), (120, 45)):
        console = Console(width=width, height=height, file=io.StringIO(), record=True)
        console.print(
            render_snapshot(
                doc, graph, title=text, connection=ConnectionStatus("failed", 1, reason)
            )
        )
        assert_terminal_safe(console.export_text())


@settings(max_examples=60, deadline=None)
@given(message=hostile, concern=hostile)
def test_log_lines_escape_wire_text_in_messages_and_tracebacks(message: str, concern: str) -> None:
    """The CLI's log sink writes hostile messages and exception texts as escaped lines."""
    err = io.StringIO()
    handler = _add_log_sink("DEBUG")
    logger.enable("flowrx")
    try:
        with contextlib.redirect_stderr(err):
            log = logger.bind(concern=concern, event="x", run=message, node=None)
            log.warning("intake unknown_event: {detail}", detail=message)
            try:
                raise KeyError(message)
            except KeyError as exc:
                log.opt(exception=exc).error("chat failed on {e}: {error!r}", e=message, error=exc)
    finally:
        logger.remove(handler)
        logger.disable("flowrx")
    assert_terminal_safe(err.getvalue())
    assert err.getvalue().count("WARNING") >= 1


@contextlib.contextmanager
def closing_server(reason: str) -> Iterator[str]:
    """A real websockets server (127.0.0.1, port 0, own thread) that accepts, then closes with
    ``reason``; yields its URL."""
    ready: list[str] = []
    started = threading.Event()
    stop: list[asyncio.Event] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.close(4000, reason)

    async def main_loop() -> None:
        stop.append(asyncio.Event())
        async with serve(handler, "127.0.0.1", 0) as server:
            ready.append(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/x")
            started.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main_loop(),))
    thread.start()
    try:
        assert started.wait(30)
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(30)
        loop.close()


def test_a_hostile_close_reason_is_escaped_in_status_lines() -> None:
    """A server's close reason with escape sequences is printed escaped in --plain status."""
    reason = "\x1b]0;owned\x07\x1b[2J\u202egnp.exe"
    out = io.StringIO()
    with closing_server(reason) as url:
        main(["watch", url, "--plain", "--seconds", "1.5"], out=out)
    assert_terminal_safe(out.getvalue())
    assert "\\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe" in out.getvalue()
