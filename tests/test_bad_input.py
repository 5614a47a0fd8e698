"""Bad input of every kind (issue 14, section 2): a counted rejection or one clear line.

Each class is tested as a class, not by its one example: recording lines of every bad kind at
every position, any JSON string (lone surrogates included) through every text output, values
JSON cannot encode, frames nobody understands, odd tokens at the stand-in server, and
sender-chosen names that must not grow anything without bound.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loguru import logger

from flowrx import VirtualClock, connect
from flowrx.cli import main
from flowrx.streams.replay import (
    MAX_T,
    NotARecording,
    RecordedFrame,
    Recording,
    RecordingError,
    read_recording,
    replay,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GOOD = (EXAMPLES / "groups-tools-error.jsonl").read_bytes().splitlines()
"""A real recording's lines: the header, then 23 frames."""


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """flowrx's log lines at warning and above, as they are formatted."""
    seen: list[str] = []
    logger.enable("flowrx")
    sink = logger.add(lambda m: seen.append(str(m)), level="WARNING", format="{message}")
    try:
        yield seen
    finally:
        logger.remove(sink)
        logger.disable("flowrx")


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
    assert "\n" not in warnings[0].strip()


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
    """Arbitrary bytes as lines anywhere: every line is a frame, the header, blank or skipped,
    and the real frames are all there, in order."""
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
