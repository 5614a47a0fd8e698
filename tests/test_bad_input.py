"""Bad input of every kind (issue 14, section 2): a counted rejection or one clear line.

Each class is tested as a class, not by its one example: recording lines of every bad kind at
every position, any JSON string (lone surrogates included) through every text output, values
JSON cannot encode, frames nobody understands, odd tokens at the stand-in server, and
sender-chosen names that must not grow anything without bound.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, flowrx_logs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger
from reactivex.subject import Subject

from flowrx import VirtualClock, connect, dump_snapshot
from flowrx.cli import main
from flowrx.graph import FlowGraph
from flowrx.sinks.html_view import render_html
from flowrx.streams.replay import (
    MAX_T,
    NotARecording,
    RecordedFrame,
    Recording,
    RecordingError,
    read_recording,
    replay,
)
from flowrx.streams.serve import PlatformServer

GOOD = (EXAMPLES / "groups-tools-error.jsonl").read_bytes().splitlines()
"""A real recording's lines: the header, then 23 frames."""


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """flowrx's log lines at warning and above, as they are formatted."""
    with flowrx_logs("WARNING", keep=lambda m: str(m)[:-1]) as seen:
        yield seen


def _snapshot_of(recording: Recording) -> dict[str, Any]:
    """The final snapshot of a recording replayed in virtual time."""
    clock = VirtualClock()
    state, _ = connect(replay(recording.frames, clock), scheduler=clock)
    clock.run()
    return dict(state.snapshot())


# --- recordings: a bad line is skipped and counted, the good lines play ----------------------

BAD_LINES: dict[str, bytes] = {
    "nested 100,000 deep, open": b"[" * 100_000,
    "nested 5,000 deep, closed": b"[" * 5_000 + b"]" * 5_000,
    "object nested 100,000 deep": b'{"t": 1.0, "data": "pong", "x": ' + b'{"a": ' * 100_000,
    "truncated (a recorder killed)": GOOD[5][: len(GOOD[5]) // 2],
    "truncated after the data": GOOD[5][:-1],
    "t of 1e15": b'{"t": 1e15, "data": "pong"}',
    "t beyond MAX_T": b'{"t": %r, "data": "pong"}' % (MAX_T * 1.000001),
    "t Infinity": b'{"t": Infinity, "data": "pong"}',
    "t -Infinity": b'{"t": -Infinity, "data": "pong"}',
    "t NaN": b'{"t": NaN, "data": "pong"}',
    "t 1e400 (infinite as a float)": b'{"t": 1e400, "data": "pong"}',
    "t an integer of 400 digits": b'{"t": 1' + b"0" * 400 + b', "data": "pong"}',
    "t an integer of 5,000 digits": b'{"t": 1' + b"0" * 5_000 + b', "data": "pong"}',
    "t negative": b'{"t": -0.5, "data": "pong"}',
    "t a string": b'{"t": "1.0", "data": "pong"}',
    "t a boolean": b'{"t": true, "data": "pong"}',
    "t null": b'{"t": null, "data": "pong"}',
    "not UTF-8": b'{"t": 1.0, "data": "caf\xe9"}',
    "invalid UTF-8 sequence": b"\xc3\x28\xff\xfe",
    "NUL bytes": b"\x00\x00\x00",
    "plain text": b"this is not json",
    "a JSON array": b'[{"t": 1.0, "data": "pong"}]',
    "a JSON string": b'"pong"',
    "a JSON number": b"42",
    "a second header": b'{"flowrx": "recording/1"}',
    "a foreign header": b'{"flowrx": "flow/1", "nodes": []}',
    "data not text": b'{"t": 1.0, "data": 5}',
    "data with a lone surrogate": b'{"t": 1.0, "data": "\\ud83d"}',
    "b64 not base64": b'{"t": 1.0, "b64": "***"}',
    "b64 not a string": b'{"t": 1.0, "b64": 5}',
}


@pytest.mark.parametrize("where", ["middle", "last"])
@pytest.mark.parametrize("bad", list(BAD_LINES), ids=list(BAD_LINES))
def test_a_bad_recording_line_is_skipped_counted_and_named_in_one_warning(
    tmp_path: Path, warnings: list[str], bad: str, where: str
) -> None:
    """Any bad line, in the middle or last: the good frames are all read, one warning names it."""
    lines = list(GOOD)
    at = 10 if where == "middle" else len(lines)
    lines.insert(at, BAD_LINES[bad])
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"\n" if where == "middle" else b""))
    recording = read_recording(path)
    clean = read_recording(EXAMPLES / "groups-tools-error.jsonl")
    assert recording.frames == clean.frames
    assert recording.header == clean.header
    assert (recording.skipped, len(recording.problems)) == (1, 1)
    assert recording.problems[0].startswith(f"line {at + 1}: ")
    assert len(warnings) == 1
    assert f"line {at + 1}: " in warnings[0]
    assert "\n" not in warnings[0]


def test_every_bad_kind_at_once_still_plays_the_good_lines_to_the_same_state(
    tmp_path: Path, warnings: list[str]
) -> None:
    """All the bad kinds between the good lines: the same final state, one warning for all."""
    lines = [GOOD[0]]
    for good, bad in zip(GOOD[1:], BAD_LINES.values(), strict=False):
        lines += [good, bad]
    lines += GOOD[len(lines) // 2 + 1 :]
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join(lines))
    recording = read_recording(path)
    clean = read_recording(EXAMPLES / "groups-tools-error.jsonl")
    assert recording.frames == clean.frames
    skipped = min(len(GOOD) - 1, len(BAD_LINES))
    assert recording.skipped == skipped
    assert len(warnings) == 1
    assert f"skipped {skipped} bad line(s)" in warnings[0]
    assert _snapshot_of(recording) == _snapshot_of(clean)


NOT_RECORDINGS: dict[str, bytes] = {
    "empty": b"",
    "blank lines only": b"\n \n\t\n\r\n",
    "binary": bytes(range(256)) * 8,
    "plain text": b"hello\nworld\n",
    "a JSON array": b"[1, 2, 3]\n",
    "a flow graph, one document over many lines": (
        EXAMPLES / "groups-tools-error.flow.json"
    ).read_bytes(),
    "a flow graph on one line": json.dumps(
        json.loads((EXAMPLES / "groups-tools-error.flow.json").read_text())
    ).encode(),
    "only bad lines": b"\n".join(v for k, v in BAD_LINES.items() if k != "a second header"),
    "UTF-16": (EXAMPLES / "groups-tools-error.jsonl").read_text().encode("utf-16"),
}


@pytest.mark.parametrize("kind", list(NOT_RECORDINGS), ids=list(NOT_RECORDINGS))
def test_a_file_without_one_usable_line_is_not_a_recording(tmp_path: Path, kind: str) -> None:
    """No usable line at all: NotARecording, a RecordingError whose message is one line."""
    path = tmp_path / "file.jsonl"
    path.write_bytes(NOT_RECORDINGS[kind])
    with pytest.raises(NotARecording) as caught:
        read_recording(path)
    assert isinstance(caught.value, RecordingError)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a recording")
    assert "\n" not in message


def test_a_header_alone_is_a_recording_with_no_frames(tmp_path: Path) -> None:
    """A recorder that saw no frame leaves a valid, empty recording (not a user mistake)."""
    path = tmp_path / "rec.jsonl"
    path.write_bytes(GOOD[0] + b"\n")
    recording = read_recording(path)
    assert (recording.frames, recording.skipped) == ((), 0)
    assert recording.header is not None


@pytest.mark.parametrize("kind", ["empty", "binary", "only bad lines"])
def test_the_cli_says_not_a_recording_in_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """`flowrx replay` of a file with no usable line: one line on stderr, exit code 2."""
    path = tmp_path / "file.jsonl"
    path.write_bytes(NOT_RECORDINGS[kind])
    assert main(["replay", str(path), "--instant", "--snapshot"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("flowrx: error: ")
    assert "not a recording" in lines[0]


def test_the_cli_replays_the_good_lines_with_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`flowrx replay` of a file with bad lines: exit 0, the clean state, one warning line."""
    lines = [
        *GOOD[:10],
        BAD_LINES["t Infinity"],
        *GOOD[10:],
        BAD_LINES["truncated (a recorder killed)"],
    ]
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"\n".join(lines))
    assert main(["replay", str(path), "--instant", "--snapshot"]) == 0
    captured = capsys.readouterr()
    assert (
        main(["replay", str(EXAMPLES / "groups-tools-error.jsonl"), "--instant", "--snapshot"]) == 0
    )
    assert json.loads(captured.out) == json.loads(capsys.readouterr().out)
    lines_err = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines_err) == 1, captured.err
    assert "line 11: " in lines_err[0]
    assert f"line {len(lines)}: " in lines_err[0]


_noise = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" "))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD)), _noise), max_size=12))
def test_any_bytes_between_the_lines_never_break_reading(
    tmp_path_factory: pytest.TempPathFactory, inserts: list[tuple[int, bytes]]
) -> None:
    """Arbitrary bytes as lines anywhere: each line is counted once, the real frames all kept."""
    lines: list[bytes] = list(GOOD)
    for at, noise in sorted(inserts, reverse=True):
        lines.insert(at, noise)
    path = tmp_path_factory.mktemp("rec") / "rec.jsonl"
    path.write_bytes(b"\n".join(lines))
    recording = read_recording(path)
    blank = sum(1 for line in lines if not line.strip())
    headers = 1 if recording.header is not None else 0
    assert len(recording.frames) + recording.skipped + blank + headers == len(lines)
    frames = iter(recording.frames)
    real = read_recording(EXAMPLES / "groups-tools-error.jsonl").frames
    assert all(any(f == g for g in frames) for f in real)  # a subsequence: all, in order


def test_a_frame_text_with_line_separators_inside_stays_one_frame(tmp_path: Path) -> None:
    """Only \\n ends a line: U+2028, U+0085, form feeds inside a frame's text are its text."""
    content = "a\u2028b\u2029c\x85d\x0ce\x1cf\x0bg\x1dh\x1ei"
    odd = json.dumps({"event": "RunContent", "run_id": "r", "content": content}, ensure_ascii=False)
    path = tmp_path / "rec.jsonl"
    lines = [GOOD[0].decode(), json.dumps({"t": 0.5, "data": odd}, ensure_ascii=False), odd]
    path.write_text("\n".join(lines), encoding="utf-8")
    recording = read_recording(path)
    assert [f.data for f in recording.frames] == [odd, odd]
    assert recording.skipped == 0


@pytest.mark.parametrize("t", [float("inf"), float("-inf"), float("nan"), -1.0, MAX_T * 2, 1e15])
def test_a_recorded_frame_cannot_hold_a_time_no_clock_can_reach(t: float) -> None:
    """RecordedFrame refuses non-finite, negative and absurd times whoever makes it."""
    with pytest.raises(ValueError, match="t must be seconds"):
        RecordedFrame(t, "pong")


def test_the_latest_time_a_frame_may_have_replays_without_overflow() -> None:
    """A frame at MAX_T plays at MAX_T in virtual time: no OverflowError on the way."""
    clock = VirtualClock()
    got: list[tuple[float, object]] = []
    replay([RecordedFrame(0.0, "a"), RecordedFrame(MAX_T, "b")], clock).subscribe(
        lambda f: got.append((clock.seconds, f))
    )
    clock.run()
    assert got == [(0.0, "a"), (MAX_T, "b")]


@pytest.mark.parametrize("speed", [0.0, -1.0, float("nan"), float("inf"), 1e-9])
def test_a_speed_no_scheduler_can_honour_is_refused_up_front(speed: float) -> None:
    """Replay refuses a speed that is not a positive number or would overflow the clock."""
    with pytest.raises(ValueError, match="speed"):
        replay([RecordedFrame(MAX_T, "b")], VirtualClock(), speed=speed)


# --- any JSON string, through every text output ----------------------------------------------

SURROGATES = ["\ud83d", "\ude00", "\ud800", "\udbff", "\udc00", "\udfff"]
TERMINAL_TRICKS = [
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b[31m",
    "\r",
    "\n",
    "\x00",
    "\u2028",
    "\u202e",
]
_any_char = st.one_of(
    st.characters(exclude_categories=()),  # any code point, surrogates included
    st.sampled_from(SURROGATES),
)
_any_text = st.lists(
    st.one_of(_any_char, st.sampled_from(TERMINAL_TRICKS)), min_size=1, max_size=8
).map("".join)


def _joined(value: Any) -> Any:
    """``value`` with surrogate halves that stand side by side in a string joined (as UTF-16
    reads them): what a JSON reader gets back from their escapes."""
    if isinstance(value, str):
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    if isinstance(value, dict):
        return {_joined(k): _joined(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_joined(v) for v in value]
    return value


def _wire(frame: dict[str, Any]) -> str:
    """A frame as the platform sends it: JSON text (surrogates as their escapes)."""
    return json.dumps(frame)


def _frames_with(run: str, node: str, chunks: list[str], name: str, other: str) -> list[str]:
    """Every frame family, with sender-chosen strings in every string field that is shown."""
    agno = {"run_id": run, "node_id": node, "agent_id": node, "agent_name": name}
    return [
        _wire(
            {"event": "run_start", "run_id": run, "node_id": None, "order": -1, "status": "running"}
        ),
        _wire(
            {"event": "start_node", "run_id": run, "node_id": node, "order": 0, "status": "running"}
        ),
        *(
            _wire(
                {**agno, "event": "RunContent", "content": c, "sequence_id": i, "microtime": i / 10}
            )
            for i, c in enumerate(chunks, 1)
        ),
        _wire(
            {
                **agno,
                "event": "ToolCallStarted",
                "sequence_id": 50,
                "microtime": 5.0,
                "tool": {"tool_call_id": other, "tool_name": name, "tool_args": {other: chunks}},
            }
        ),
        _wire(
            {"event": "ChatHTML", "run_id": run, "node_id": node, "html_content": f"<b>{other}</b>"}
        ),
        _wire(
            {
                "event": "AgentPaused",
                "run_id": run,
                "node_id": node,
                "pause_type": "confirmation",
                "pause_message": other,
                "pause_data": {"tools": [{"tool_name": name, "tool_args": {"q": other}}]},
            }
        ),
        _wire(
            {
                "type": "interaction_event",
                "run_id": run,
                "node_id": node,
                "interaction_type": name,
                "data": {other: name},
            }
        ),
        _wire({"event": other, "run_id": run, "node_id": node}),  # unknown, or some known name
        _wire({"event": "end_node", "run_id": run, "node_id": node, "order": 0, "status": "weird"}),
        _wire({"event": "start_node", "run_id": run, "node_id": node, "order": 0, "status": other}),
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    run=_any_text,
    node=_any_text,
    chunks=st.lists(_any_text, min_size=1, max_size=4),
    name=_any_text,
    other=_any_text,
)
def test_any_json_string_in_a_frame_passes_through_the_snapshot_the_log_and_the_html(
    tmp_path_factory: pytest.TempPathFactory,
    run: str,
    node: str,
    chunks: list[str],
    name: str,
    other: str,
) -> None:
    """Any code points in ids, chat, tools, pauses: strict snapshot, printable log, HTML."""
    # the snapshot is UTF-8 JSON that reads back to the state (halves that meet joined)

    lines: list[Any] = []
    logger.enable("flowrx")
    sink = logger.add(lines.append, level="DEBUG", format="{message}", catch=False)
    path = tmp_path_factory.mktemp("out") / "log.txt"
    file_sink = logger.add(path, level="DEBUG", encoding="utf-8", catch=False)
    try:
        clock = VirtualClock()
        state, _ = connect(
            replay(
                [
                    RecordedFrame(i / 100, f)
                    for i, f in enumerate(_frames_with(run, node, chunks, name, other))
                ],
                clock,
            ),
            scheduler=clock,
        )
        clock.run()
    finally:
        logger.remove(sink)
        logger.remove(file_sink)
        logger.disable("flowrx")
    doc = state.snapshot()
    assert sum(doc["diagnostics"]["failed"].values()) == 0
    text = dump_snapshot(doc)
    text.encode("utf-8")  # strict: no lone surrogate left
    assert json.loads(text) == _joined(json.loads(json.dumps(doc)))
    out = tmp_path_factory.mktemp("out") / "snap.json"
    out.write_text(text, encoding="utf-8")
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(text)
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    stdout.write(text)
    stdout.flush()
    render_html(doc, FlowGraph.empty()).encode("utf-8")
    for message in lines:
        line = str(message).rstrip("\n")
        assert line.isprintable(), line
        assert all(
            v is None or not isinstance(v, str) or v.isprintable()
            for v in message.record["extra"].values()
        )
    path.read_text(encoding="utf-8")


_odd_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(_any_char, max_size=6)
    | st.binary(max_size=6)
    | st.sets(st.integers(), max_size=3)
    | st.builds(object),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(
            st.one_of(
                st.text(_any_char, max_size=4),
                st.integers(),
                st.none(),
                st.floats(),
                st.tuples(st.integers()),
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(_odd_value)
def test_dump_snapshot_writes_strict_json_whatever_a_document_holds(value: Any) -> None:
    """NaN, infinities, wide ints, non-string keys, bytes, sets, objects: strict JSON out."""
    doc = {"schema": "flowrx/snapshot/1", "chat": {"r": [{"tools": [{"args": value}]}]}}
    text = dump_snapshot(doc)
    text.encode("utf-8")
    json.loads(text, parse_constant=_no_constants)


def _no_constants(name: str) -> None:
    """A strict reader: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def test_dump_snapshot_cuts_cycles_extreme_nesting_and_endless_integers() -> None:
    """What only a host's own objects can hold is written as a note, never an exception."""
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    deep: list[Any] = []
    for _ in range(5_000):
        deep = [deep]
    doc = {"cycle": cycle, "deep": deep, "long": 10**5000, 1: "one", "1": "string one"}
    back = json.loads(dump_snapshot(doc), parse_constant=_no_constants)
    assert back["cycle"] == {"self": "<cycle>"}
    assert back["long"] == "<integer of 16610 bits>"
    assert (back["1"], back["1 (int)"]) == ("string one", "one")


def test_an_emoji_split_between_two_chat_chunks_is_written_whole() -> None:
    """UTF-16 halves in two chunks: the snapshot carries the emoji, the halves alone escaped."""
    clock = VirtualClock()
    agno = {"event": "RunContent", "run_id": "r", "node_id": "n", "agent_id": "n"}
    frames = [
        RecordedFrame(
            0.0, _wire({**agno, "content": "hi \ud83d", "sequence_id": 1, "microtime": 1.0})
        ),
        RecordedFrame(
            0.1, _wire({**agno, "content": "\ude00!", "sequence_id": 2, "microtime": 2.0})
        ),
        RecordedFrame(0.2, _wire({**agno, "run_id": "\ud83d", "sequence_id": 3, "microtime": 3.0})),
    ]
    state, _ = connect(replay(frames, clock), scheduler=clock)
    clock.run()
    text = dump_snapshot(state.snapshot())
    assert '"text": "hi 😀!"' in text
    assert '"\\ud83d": {' in text  # the run id that is a lone half, as its escape
    assert "\ud83d" in json.loads(text)["lifecycle"]["runs"]
    assert json.loads(text)["chat"]["r"][0]["text"] == "hi 😀!"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_odd_value, _odd_value)
def test_values_json_cannot_encode_in_a_hosts_frames_never_break_the_snapshot(
    content: Any, args: Any
) -> None:
    """Frames a host decoded itself, holding anything: counted or shown, and dumped strictly."""
    clock = VirtualClock()
    agno = {"run_id": "r", "node_id": "n", "agent_id": "n"}
    frames: list[Any] = [
        {**agno, "event": "RunContent", "content": content, "sequence_id": 1, "microtime": 1.0},
        {
            **agno,
            "event": "ToolCallStarted",
            "sequence_id": 2,
            "microtime": 2.0,
            "tool": {"tool_call_id": "c", "tool_name": "t", "tool_args": args, "result": content},
        },
        {"type": "interaction_event", "run_id": "r", "interaction_type": "x", "data": {"v": args}},
        {
            "event": "AgentPaused",
            "run_id": "r",
            "pause_type": "confirmation",
            "pause_data": {"v": content},
        },
    ]

    subject: Subject[Any] = Subject()
    state, _ = connect(subject, scheduler=clock)
    for frame in frames:
        subject.on_next(frame)
    clock.run(until=1.0)
    doc = state.snapshot()
    diagnostics = doc["diagnostics"]
    assert sum(diagnostics["failed"].values()) == 0
    assert diagnostics["frames"] == diagnostics["messages"] + diagnostics["rejected"] == 4
    json.loads(dump_snapshot(doc), parse_constant=_no_constants)


def test_a_log_line_shows_wire_control_characters_escaped(warnings: list[str]) -> None:
    """An event name that would retitle the terminal, a run id that would clear it: escaped."""
    clock = VirtualClock()
    frame = _wire({"event": "\x1b]0;pwned\x07\u202e", "run_id": "\x1b[2J\ud83d\n"})
    connect(replay([RecordedFrame(0.0, frame)], clock), scheduler=clock)
    clock.run()
    assert warnings == ["intake unknown_event: \\x1b]0;pwned\\x07\\u202e (run=\\x1b[2J\\ud83d\\n)"]


# --- odd tokens at the stand-in server: a refusal, never a 500 --------------------------------

TOKEN = "s3cret-Tökén"
TOKEN_Q = "s3cret-T%C3%B6k%C3%A9n"


async def _handshake(port: int, target: bytes, headers: bytes = b"") -> bytes:
    """Send a raw WebSocket handshake; return the status line (empty if the server hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n" + headers + b"\r\n"
    )
    await writer.drain()
    status = await reader.readline()
    writer.close()
    return status


def _statuses(requests: list[tuple[bytes, bytes]]) -> tuple[list[bytes], int]:
    """The status line of each raw handshake against a real PlatformServer on port 0, and how
    many handshakes it counted as refused."""

    async def body() -> tuple[list[bytes], int]:
        server = PlatformServer([], flow_id="f", token=TOKEN, wait_for_client=False)
        await server.start()
        try:
            return [await _handshake(server.port, t, h) for t, h in requests], server.refused
        finally:
            await server.close()

    return asyncio.run(asyncio.wait_for(body(), 120))


ODD_QUERIES = {
    "percent-encoded non-ASCII": b"token=%C3%A9",
    "the token's own characters, not encoded as UTF-8": b"token=s3cret-T%F6k%E9n",
    "truncated UTF-8": b"token=s3cret-T%C3",
    "invalid percent escapes": b"token=%ZZ%",
    "a lone percent": b"token=%",
    "encoded lone surrogate": b"token=%ED%A0%BD",
    "NUL": b"token=%00",
    "very long": b"token=" + b"A" * 6_000,
    "empty": b"token=",
    "no value": b"token",
    "no token": b"x=1",
    "nothing": b"",
    "the right token twice": b"token=" + TOKEN_Q.encode() + b"&token=" + TOKEN_Q.encode(),
    "right then wrong": b"token=" + TOKEN_Q.encode() + b"&token=nope",
    "wrong then right": b"token=nope&token=" + TOKEN_Q.encode(),
    "the right token with a tail": b"token=" + TOKEN_Q.encode() + b"%00",
    "a prefix of the right token": b"token=s3cret",
}


def test_odd_tokens_in_the_query_are_refused_with_403() -> None:
    """Every odd query token (non-ASCII, bad escapes, long, empty, several): 403, and counted."""
    targets = [(b"/ws/v1/execution/f?" + q, b"") for q in ODD_QUERIES.values()]
    statuses, refused = _statuses(targets)
    assert statuses == [b"HTTP/1.1 403 Forbidden\r\n"] * len(ODD_QUERIES)
    assert refused == len(ODD_QUERIES)


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer t\xe9\r\n",
        b"Authorization: Bearer \xff\xfe\r\n",
        b"Authorization: Bearer \r\n",
        b"Authorization: Bearer " + b"A" * 6_000 + b"\r\n",
        b"Authorization: Bearer s3cret-T\xc3\xb6k\xc3\xa9n\r\nAuthorization: Bearer x\r\n",
        b"Authorization: Basic czNjcmV0\r\n",
    ],
    ids=["latin-1", "not text", "empty", "long", "two headers", "not bearer"],
)
def test_odd_bearer_headers_are_refused_with_403(header: bytes) -> None:
    """An odd Authorization header is refused, as the query's odd tokens are."""
    statuses, _ = _statuses([(b"/ws/v1/execution/f", header)])
    assert statuses == [b"HTTP/1.1 403 Forbidden\r\n"]


def test_the_right_token_in_the_query_or_a_header_is_let_in() -> None:
    """The token (non-ASCII here), percent-encoded in the query or as the header's UTF-8."""
    statuses, refused = _statuses(
        [
            (b"/ws/v1/execution/f?token=" + TOKEN_Q.encode(), b""),
            (b"/ws/v1/execution/f?x=1&token=" + TOKEN_Q.encode() + b"#frag", b""),
            (b"/ws/v1/execution/f", b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"),
        ]
    )
    assert statuses == [b"HTTP/1.1 101 Switching Protocols\r\n"] * 3
    assert refused == 0


@pytest.mark.parametrize(
    "target",
    [b"//[::1", b"//[::1/ws/v1/execution/f?token=x", b"/ws/v1/execution/%66?token=x", b"*"],
    ids=["bad IPv6 authority", "bad authority before the path", "encoded path", "asterisk"],
)
def test_odd_paths_are_not_found_never_a_server_error(target: bytes) -> None:
    """A request target the server does not serve is a 404, whatever it looks like."""
    statuses, _ = _statuses([(target, b"")])
    assert statuses == [b"HTTP/1.1 404 Not Found\r\n"]


@pytest.mark.parametrize(
    "target",
    [
        b"/ws/v1/execution/f?token=\xc3\xa9",
        b"/ws/v1/execution/\xff?token=x",
        b"/ws?t=" + b"A" * 9_000,
    ],
    ids=["raw UTF-8 byte", "raw invalid byte", "request line too long"],
)
def test_a_request_line_the_http_parser_refuses_gets_no_server_error(target: bytes) -> None:
    """Raw non-ASCII bytes or an overlong request line: refused or dropped, never a 5xx."""
    statuses, _ = _statuses([(target, b"")])
    assert statuses[0] == b"" or statuses[0].startswith(b"HTTP/1.1 4"), statuses


# --- sender-chosen names never grow anything without bound -----------------------------------


def test_thirty_thousand_unknown_event_names_grow_nothing_in_the_pipeline() -> None:
    """30,000 unique unknown names hold no more memory than 1,000 did (within 2 MB)."""
    # of a held run, of new runs, of no run; one entry per name anywhere is about 10 MB (the
    # router's per-kind plan cache this caught held 35 MB at 100,000 names)
    clock = VirtualClock()

    subject: Subject[str] = Subject()
    state, subscription = connect(subject, scheduler=clock)
    subject.on_next(
        _wire(
            {
                "event": "run_start",
                "run_id": "held",
                "node_id": None,
                "order": -1,
                "status": "running",
            }
        )
    )

    def frame(i: int) -> str:
        kind = i % 3
        if kind == 0:
            return _wire({"event": f"BrandNew{i}", "run_id": "held", "node_id": "n"})
        if kind == 1:
            return _wire({"event": f"Teleported{i}", "run_id": f"ghost-{i}"})
        return _wire({"type": f"banner{i}"})

    def send(first: int, last: int) -> int:
        for i in range(first, last):
            if i % 100 == 0:
                clock.run(until=i / 1000)  # a frame a millisecond: the watchdog keeps re-arming
            subject.on_next(frame(i))
        clock.run(until=last / 1000)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        after_1k = send(0, 1_000)
        after_30k = send(1_000, 30_000)
    finally:
        tracemalloc.stop()
    subscription.dispose()
    assert state.counters["unknown"] == 30_000
    assert state.section("lifecycle")["runs"].keys() == {"held"}
    assert after_30k - after_1k < 2_000_000, f"grew {(after_30k - after_1k) / 1e6:.1f} MB"
