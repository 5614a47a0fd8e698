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
from typing import IO

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


def test_watch_with_a_bad_token_exits_2_with_one_line() -> None:
    """A 403 at the handshake is a user mistake: one line, exit 2, no traceback."""
    server, url = _serve("--runs", "1", "--token", "right")
    try:
        done = subprocess.run(
            [*FLOWRX, "watch", url.replace("token=right", "token=wrong"), "--plain"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        _stop(server)
    assert done.returncode == 2
    assert "HTTP 403" in done.stderr
    assert "Traceback" not in done.stderr


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


def test_ctrl_c_ends_demo_cleanly_and_writes_the_snapshot(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) stops the live loop: exit 0, no traceback, the snapshot written."""
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
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert json.loads(snap.read_text())["schema"] == "flowrx/snapshot/1"


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
