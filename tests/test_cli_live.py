"""The live commands as a person runs them: demo, serve, watch, record (real processes)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest

from flowrx.cli import main

FLOWRX = [sys.executable, "-m", "flowrx.cli"]


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `flowrx serve` and read the URL it prints first."""
    proc = subprocess.Popen(
        [*FLOWRX, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("ws://127.0.0.1:"), proc.stderr.read() if proc.stderr else url
    return proc, url


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_line(stream: IO[str], needle: str, limit: float = 20.0) -> list[str]:
    """Read lines until one contains ``needle`` (the child prints as it goes)."""
    lines: list[str] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen in {lines[-5:]}")


def test_demo_plain_ends_by_itself_and_shows_every_concern_at_work() -> None:
    """`flowrx demo --runs 3 --plain` (sped up): glows, badges, tool, group, chat, pause, error."""
    out = io.StringIO()
    assert main(["demo", "--runs", "3", "--plain", "--speed", "25"], out=out) == 0
    log = out.getvalue()
    assert "visual      glow" in log
    assert "store       badge" in log
    assert "executing-tool" in log
    assert "group       glow" in log
    assert "executed-error" in log
    assert "chat        message" in log
    assert "interaction resolved" in log
    assert "'paused'" in log
    assert "'error'" in log
    assert "'success'" in log


def test_demo_fault_shows_isolation_live(tmp_path: Path) -> None:
    """With --fault visual the other concerns' sections still come out whole."""
    snap = tmp_path / "snap.json"
    assert (
        main(
            [
                "--log-level",
                "CRITICAL",
                "demo",
                "--runs",
                "1",
                "--plain",
                "--speed",
                "25",
                "--fault",
                "visual",
                "--snapshot",
                str(snap),
            ],
            out=io.StringIO(),
        )
        == 0
    )
    doc = json.loads(snap.read_text())
    assert doc["diagnostics"]["failed"]["visual"] > 0
    assert doc["diagnostics"]["health"]["visual"] == "degraded"
    assert all(v == 0 for k, v in doc["diagnostics"]["failed"].items() if k != "visual")
    [run] = doc["lifecycle"]["runs"].values()
    assert run["status"] == "success"


def test_serve_then_watch_ends_by_itself_with_both_runs_ended(tmp_path: Path) -> None:
    """The issue's scenario: serve --runs 2, watch --runs 2 --plain --snapshot: both runs ended."""
    server, url = _serve("--runs", "2", "--speed", "10")
    snap = tmp_path / "snap.json"
    try:
        done = subprocess.run(
            [*FLOWRX, "watch", url, "--runs", "2", "--plain", "--snapshot", str(snap)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        _stop(server)
    assert done.returncode == 0, done.stderr
    doc = json.loads(snap.read_text())
    runs = doc["lifecycle"]["runs"]
    assert len(runs) == 2
    assert all(r["status"] in ("success", "error", "killed") for r in runs.values())
    assert doc["diagnostics"]["connection"]["state"] in ("open", "closed", "reconnecting")
    assert "connection open" in done.stdout


@pytest.mark.parametrize(
    ("fix", "fragment"),
    [
        (lambda url: url.replace("token=right", "token=wrong"), "HTTP 403"),
        (lambda url: url.replace("/execution/", "/execution/x"), "HTTP 404"),
    ],
)
@pytest.mark.parametrize("command", ["watch", "record"])
def test_a_refused_handshake_is_reported_once_with_exit_2(
    command: str, fix: Any, fragment: str, tmp_path: Path
) -> None:
    """A refused token (403) or a wrong flow id (404): one line on stderr, exit 2, no file."""
    server, url = _serve("--runs", "1", "--token", "right")
    target = tmp_path / "rec.jsonl"
    extra = ["--plain"] if command == "watch" else ["-o", str(target)]
    try:
        done = subprocess.run(
            [*FLOWRX, command, fix(url), *extra],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        _stop(server)
    assert done.returncode == 2
    [line] = [line for line in done.stderr.splitlines() if fragment in line]
    assert line.startswith("flowrx: error: connection failed: ")
    assert done.stderr.splitlines()[-1] == line
    assert "Traceback" not in done.stderr
    assert "right" not in done.stderr + done.stdout
    assert not target.exists()


@pytest.mark.parametrize("header", [False, True])
def test_the_readme_platform_example_sends_token_as_the_platform_reads_it(
    header: bool, tmp_path: Path
) -> None:
    """`watch URL --token T` (URL without ?token=) connects to a server reading ?token=;
    --token-in-header sends it as a Bearer header instead."""
    server, url = _serve("--runs", "1", "--speed", "10", "--token", "s3cret")
    bare = url.split("?")[0]
    extra = ["--token-in-header"] if header else []
    try:
        done = subprocess.run(
            [*FLOWRX, "watch", bare, "--token", "s3cret", *extra, "--runs", "1", "--plain"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        _stop(server)
    assert done.returncode == 0, done.stderr
    assert "connection open" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr


def test_killing_and_restarting_the_server_during_watch_reconnects_within_the_backoff(
    tmp_path: Path,
) -> None:
    """The server dies mid-run and comes back: watch reconnects and follows the new run."""
    port = str(_free_port())
    first, url = _serve("--port", port, "--token", "t", "--runs", "1", "--speed", "1")
    snap = tmp_path / "snap.json"
    watch = subprocess.Popen(
        [*FLOWRX, "watch", url, "--runs", "1", "--plain", "--snapshot", str(snap)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        _wait_line(watch.stdout, "lifecycle   run")  # the first run has started
        first.kill()
        first.wait(10)
        killed = time.monotonic()
        _wait_line(watch.stdout, "connection reconnecting")
        second, _ = _serve(
            "--port", port, "--token", "t", "--runs", "1", "--speed", "10", "--seed", "7"
        )
        restarted = time.monotonic()
        lines = _wait_line(watch.stdout, "connection open")
        reconnect = time.monotonic() - restarted
        down = restarted - killed
        watch.wait(60)
    finally:
        for proc in (watch,):
            if proc.poll() is None:
                proc.kill()
        _stop(first)
        if "second" in locals():
            _stop(second)
    assert watch.returncode == 0, watch.stderr.read() if watch.stderr else ""
    # backoff 0.5 s doubling, capped at 30 s, ±20 %: the wait in effect when the server came back
    # is at most 36 s, and at most 1.5 x the time it was down + 0.6 s (every earlier wait, at
    # least 80 % of its nominal, fell within that time). A busy machine makes the server slow
    # to restart and the wait longer; the bound grows with it. 5 s for the connect and handshake.
    wait_in_effect = min(30 * 1.2, 1.5 * down + 0.6)
    assert reconnect < wait_in_effect + 5.0, (down, lines)
    doc = json.loads(snap.read_text())
    statuses = sorted(r["status"] for r in doc["lifecycle"]["runs"].values())
    assert len(statuses) == 2
    assert "running" in statuses  # the run cut by the crash never got its run_end


def test_record_then_replay_gives_the_served_state(tmp_path: Path) -> None:
    """`flowrx record` writes recording/1 that replays to the same store as what was served."""
    server, url = _serve("--runs", "1", "--speed", "10")
    out = tmp_path / "rec.jsonl"
    try:
        done = subprocess.run(
            [*FLOWRX, "record", url, "-o", str(out), "--seconds", "3"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        _stop(server)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["flowrx"] == "recording/1"
    assert "token=%2A%2A%2A" in header["source"]
    assert len(lines) > 50
    snap = io.StringIO()
    assert main(["replay", str(out), "--instant", "--snapshot"], out=snap) == 0
    doc = json.loads(snap.getvalue())
    [run] = doc["lifecycle"]["runs"].values()
    assert run["status"] in ("success", "error", "killed")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["watch", "http://x"], "not a ws://"),
        (["watch", "ws://[::1"], "not a ws://"),
        (["record", "ws://h:99999/x?token=s3cret", "-o", "x.jsonl"], "token=%2A%2A%2A"),
        (["record", "ws://127.0.0.1:1/x"], "required"),
        (["serve", "--port", "70000"], "port"),
        (["serve", "--recording", "/nonexistent.jsonl"], "no such file"),
        (["demo", "--runs", "0"], "at least 1"),
        (["demo", "--bad-frames", "2"], "0..1"),
    ],
)
def test_live_command_mistakes_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    """Bad live arguments: exit 2, one line, no traceback."""
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert fragment in err[0]


def test_the_console_script_is_installed() -> None:
    """`flowrx --help` runs from the installed entry point."""
    done = subprocess.run(
        ["flowrx", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={**os.environ},
    )
    assert done.returncode == 0
    assert "demo" in done.stdout
    assert "watch" in done.stdout


def test_ctrl_c_ends_demo_with_130_one_line_and_writes_the_snapshot(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) stops the live loop: exit 130, one line, the snapshot still written."""
    snap = tmp_path / "snap.json"
    proc = subprocess.Popen(
        [*FLOWRX, "demo", "--plain", "--snapshot", str(snap)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    _wait_line(proc.stdout, "store       badge")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "flowrx: interrupted\n"
    assert json.loads(snap.read_text())["schema"] == "flowrx/snapshot/1"


@pytest.mark.parametrize("command", ["replay", "serve", "watch", "record"])
def test_ctrl_c_ends_every_command_the_same_way(
    command: str, tmp_path: Path, examples: Path
) -> None:
    """replay, serve, watch and record, interrupted: exit 130 and the one line."""
    server = None
    if command == "replay":
        argv, stream, needle = [str(examples / "agent-chat.jsonl"), "--speed", "0.01"], 1, "run"
    elif command == "serve":
        argv, stream, needle = ["--runs", "1"], 1, "ws://"
    else:
        server, url = _serve("--runs", "1", "--speed", "0.05")
        extra = ["--plain"] if command == "watch" else ["-o", str(tmp_path / "rec.jsonl")]
        argv, stream, needle = [url, *extra], 1 if command == "watch" else 2, "connection open"
    proc = subprocess.Popen(
        [*FLOWRX, command, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        pipe = proc.stdout if stream == 1 else proc.stderr
        assert pipe is not None
        _wait_line(pipe, needle)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if server is not None:
            _stop(server)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "flowrx: interrupted"
    assert "Traceback" not in err
    if command == "record":
        header = json.loads((tmp_path / "rec.jsonl").read_text().splitlines()[0])
        assert header["flowrx"] == "recording/1"


@pytest.mark.parametrize("command", ["watch", "record"])
def test_a_session_that_never_connected_exits_1_and_says_so(command: str, tmp_path: Path) -> None:
    """Nothing listens: retried with one status line per attempt, then exit 1 and one line;
    record leaves no file behind."""
    url = f"ws://127.0.0.1:{_free_port()}/ws/v1/execution/f"
    target = tmp_path / "rec.jsonl"
    extra = ["--plain"] if command == "watch" else ["-o", str(target)]
    done = subprocess.run(
        [*FLOWRX, command, url, *extra, "--seconds", "1.2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    status = done.stdout if command == "watch" else done.stderr
    retries = [line for line in status.splitlines() if "connection reconnecting" in line]
    attempts = [int(line.split("(attempt ")[1].split(")")[0]) for line in retries]
    assert attempts == list(range(1, len(retries) + 1))
    assert len(attempts) >= 1
    [error] = [line for line in done.stderr.splitlines() if line.startswith("flowrx:")]
    assert error.startswith(f"flowrx: never connected to {url} (ConnectionRefusedError")
    assert "Traceback" not in done.stderr
    assert not target.exists()


def test_ctrl_c_before_ever_connecting_says_so(tmp_path: Path) -> None:
    """Interrupted while nothing listens: exit 130, and the line says it never connected."""
    url = f"ws://127.0.0.1:{_free_port()}/x"
    proc = subprocess.Popen(
        [*FLOWRX, "watch", url, "--plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    _wait_line(proc.stdout, "connection reconnecting")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    [line] = err.splitlines()
    assert line.startswith(f"flowrx: interrupted; never connected to {url} (ConnectionRefused")


def test_demo_with_the_live_view_renders_and_ends(tmp_path: Path) -> None:
    """Without --plain the rich view runs (here into a pipe) and the demo still ends by itself."""
    snap = tmp_path / "snap.json"
    done = subprocess.run(
        [*FLOWRX, "demo", "--runs", "1", "--speed", "25", "--snapshot", str(snap)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "140"},
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "frames" in done.stdout  # the health line of the view
    [run] = json.loads(snap.read_text())["lifecycle"]["runs"].values()
    assert run["status"] in ("success", "error", "killed")


def test_record_on_a_full_disk_reports_one_line_and_stops_cleanly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Writing to /dev/full: one error line, exit 1, no traceback, not one line per frame."""
    server, url = _serve("--runs", "1", "--speed", "10")
    try:
        code = main(["record", url, "-o", "/dev/full", "--seconds", "30"], out=io.StringIO())
    finally:
        _stop(server)
    err = capsys.readouterr().err
    assert code == 1
    [line] = [line for line in err.splitlines() if "No space left" in line]
    assert line.startswith("flowrx: cannot write /dev/full: No space left on device")
    assert err.splitlines()[-1] == line
    assert "Traceback" not in err
    assert os.path.exists("/dev/full")


def test_a_session_that_never_connected_removes_only_an_empty_file_it_made(tmp_path: Path) -> None:
    """Never connected: the empty recording file goes, but a path to a device stays."""
    url = f"ws://127.0.0.1:{_free_port()}/x"
    device = tmp_path / "null"
    device.symlink_to(os.devnull)
    plain = tmp_path / "rec.jsonl"
    for target in (device, plain):
        code = main(
            ["watch", url, "--plain", "--seconds", "0.3", "--record", str(target)],
            out=io.StringIO(),
        )
        assert code == 1
    assert device.is_symlink()
    assert not plain.exists()


def test_token_goes_in_the_query_unless_the_header_is_asked_for() -> None:
    """`--token` alone sends ?token= (what the platform reads); --token-in-header a header."""
    from flowrx.cli import _options, build_parser

    parser = build_parser()
    plain = _options(parser.parse_args(["watch", "wss://h/ws/v1/execution/f", "--token", "t"]))
    assert plain.token == "t"
    assert plain.token_in_query is True
    header = parser.parse_args(
        ["record", "ws://h/x", "-o", "f", "--token", "t", "--token-in-header"]
    )
    assert _options(header).token_in_query is False
