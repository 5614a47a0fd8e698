"""The command line: replay, snapshots, --at, --fault, and one-line errors for user mistakes."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import flowrx
from flowrx.cli import build_parser, main

RUN1 = "0e000000-0000-4000-8000-000000000001"


def _args(examples: Path, *extra: str) -> list[str]:
    return [
        "replay",
        str(examples / "groups-tools-error.jsonl"),
        "--graph",
        str(examples / "groups-tools-error.flow.json"),
        *extra,
    ]


def test_replay_instant_snapshot_prints_a_valid_snapshot(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command prints snapshot/1 with 23 frames and the error outcome."""
    assert main(_args(examples, "--instant", "--snapshot")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "flowrx/snapshot/1"
    assert doc["diagnostics"]["frames"] == 23
    assert doc["lifecycle"]["runs"][RUN1]["status"] == "error"
    assert doc["lifecycle"]["editor_locked"] is False
    assert doc["surface"] == {}


def test_at_prints_the_state_at_that_moment(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--at 0.07 shows the first node executing; --at 0.57 its status."""
    node = "a0000000-0000-4000-8000-000000000001"
    assert main(_args(examples, "--at", "0.07")) == 0
    assert json.loads(capsys.readouterr().out)["visual"][node] == ["executing"]
    assert main(_args(examples, "--at", "0.57")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["visual"][node] == ["executed-success"]
    assert doc["clock"] == pytest.approx(0.57)


def test_fault_visual_keeps_store_and_lifecycle_identical(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fault visual: store and lifecycle sections equal the clean run's; failures counted."""
    assert main(["--log-level", "CRITICAL", *_args(examples, "--instant", "--snapshot")]) == 0
    clean = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "--log-level",
                "CRITICAL",
                *_args(examples, "--instant", "--snapshot", "--fault", "visual"),
            ]
        )
        == 0
    )
    faulty = json.loads(capsys.readouterr().out)
    assert faulty["store"] == clean["store"]
    assert faulty["lifecycle"] == clean["lifecycle"]
    assert faulty["diagnostics"]["failed"]["visual"] > 0
    assert faulty["diagnostics"]["health"]["visual"] == "degraded"


def test_snapshot_path_writes_a_file(
    examples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--snapshot PATH writes the document there and prints nothing on stdout."""
    target = tmp_path / "snap.json"
    assert main(_args(examples, "--instant", "--snapshot", str(target))) == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["diagnostics"]["frames"] == 23


def test_replay_without_snapshot_prints_one_line_per_change(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plain log names concern, change, run and node, with the recording time."""
    assert main(_args(examples, "--instant")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("lifecycle" in line and "'error'" in line for line in lines)
    assert any("executed-error" in line for line in lines)
    assert any("#9 error boom" in line for line in lines)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["replay", "missing.jsonl", "--instant"], "no such file"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--graph", "{ex}/nope.json"], "nope.json"),
        (
            ["replay", "{ex}/groups-tools-error.jsonl", "--graph", "{ex}/groups-tools-error.jsonl"],
            "not JSON",
        ),
        (["replay", "{ex}/groups-tools-error.flow.json", "--instant"], "flow.json"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--fault", "bogus"], "no concern"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--fault", "visual:2"], "0..1"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--speed", "0"], "positive"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--speed", "2", "--instant"], "not allowed"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--speed", "2", "--at", "1"], "--at"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--at", "-1"], "negative"),
        (["frobnicate"], "invalid choice"),
        (["replay"], "required"),
        (["--log-level", "LOUD", "replay", "x"], "invalid choice"),
        (["replay", "{ex}/groups-tools-error.jsonl", "--log-level", "LOUD"], "invalid choice"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    examples: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    """Bad arguments, missing or bad files: exit code 2 and one line on stderr, no traceback."""
    argv = [a.replace("{ex}", str(examples)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("flowrx: error: ")
    assert fragment in lines[0]
    assert "Traceback" not in captured.err


def test_console_script_runs_the_readme_command(examples: Path) -> None:
    """The installed `flowrx` entry point works as the README says (a real process)."""
    done = subprocess.run(
        [sys.executable, "-m", "flowrx.cli", *_args(examples, "--instant", "--snapshot")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["diagnostics"]["frames"] == 23


def test_console_script_reports_a_missing_file_without_traceback(tmp_path: Path) -> None:
    """A real process with a missing file: exit 2, one line, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "flowrx.cli", "replay", str(tmp_path / "none.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


def test_speed_replays_in_real_time_and_ends_when_windows_close(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--speed plays on asyncio; it ends by itself once the last display window closed."""
    assert main(["replay", str(examples / "agent-chat.jsonl"), "--speed", "50", "--snapshot"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["visual"] == {}
    assert doc["lifecycle"]["runs"]["0e000000-0000-4000-8000-000000000003"]["status"] == "success"
    assert doc["diagnostics"]["frames"] == 25


def test_main_leaves_the_sigpipe_handler_as_it_was(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host calling main() (printing to sys.stdout) keeps its own SIGPIPE handler."""

    def mine(signum: int, frame: object) -> None:
        """A host's handler."""

    before = signal.signal(signal.SIGPIPE, mine)
    try:
        assert main(_args(examples, "--instant", "--snapshot")) == 0
        assert signal.getsignal(signal.SIGPIPE) is mine
    finally:
        signal.signal(signal.SIGPIPE, before)
    assert json.loads(capsys.readouterr().out)["diagnostics"]["frames"] == 23


def test_the_console_script_ends_quietly_when_its_reader_goes_away(tmp_path: Path) -> None:
    """`flowrx replay … | head -1`: the entry point gives SIGPIPE its default, no traceback."""
    from flowrx.streams.simulate import simulate

    recording = tmp_path / "long.jsonl"
    recording.write_text(
        "".join(json.dumps({"t": f.t, "data": f.data}) + "\n" for f in simulate(20))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowrx.cli", "replay", str(recording), "--instant"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(60) == -signal.SIGPIPE
    assert err == ""


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`flowrx --version` prints the version and exits 0."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"flowrx {flowrx.__version__}\n"


def test_a_bare_flowrx_prints_what_it_can_do_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No arguments: the usage, every command with a summary, and examples, on stderr; exit 2."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: flowrx")
    for command in ("demo", "watch", "record", "serve", "replay"):
        assert f"    {command} " in err
    assert "examples:" in err


def test_every_option_of_every_command_is_explained() -> None:
    """--help of each command has a description and a help text for every option."""
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        assert command.description, name
        for action in command._actions:
            if action.help != argparse.SUPPRESS:
                assert action.help, (name, action.dest)


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_level_works_before_or_after_the_command(
    examples: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """--log-level is taken before the command name and after it, with the same effect."""
    common = _args(examples, "--instant", "--snapshot", "--fault", "visual")
    for level, quiet in (("CRITICAL", True), ("ERROR", False)):
        flag = ["--log-level", level]
        argv = [*flag, *common] if where == "before" else [*common, *flag]
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert ("visual failed" not in err) is quiet


def test_fault_logs_one_line_per_failure_and_one_traceback_per_concern(
    examples: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--fault: every injected failure is one log line; one traceback per concern and error
    type at the default level, every traceback at DEBUG."""
    snap = tmp_path / "snap.json"
    faults = ["--fault", "visual", "--fault", "store"]
    for level in ("WARNING", "DEBUG"):
        argv = [*_args(examples, "--instant", "--snapshot", str(snap), *faults)]
        assert main([*argv, "--log-level", level]) == 0
        err = capsys.readouterr().err
        failed = json.loads(snap.read_text())["diagnostics"]["failed"]
        lines = [line for line in err.splitlines() if " failed on " in line]
        assert len(lines) == failed["visual"] + failed["store"]
        tracebacks = err.count("Traceback (most recent call last)")
        assert tracebacks == (2 if level == "WARNING" else len(lines))


def test_a_real_failure_keeps_its_traceback_among_injected_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After many injected failures of a concern, a different error there shows its traceback."""
    from loguru import logger

    from flowrx.cli import _add_log_sink
    from flowrx.messages import parse
    from flowrx.operators.concern import Failure, InjectedFault
    from flowrx.sinks.log import log_failure

    message = parse('{"event": "start_node", "run_id": "r", "node_id": "n", "order": 0}')

    def failure(concern: str, error: Exception) -> Failure:
        try:
            raise error
        except Exception as exc:
            return Failure(concern, message, exc, "")

    handler = _add_log_sink("WARNING")
    logger.enable("flowrx")
    try:
        for n in range(3):
            log_failure(failure("visual", InjectedFault(f"injected {n}")))
        log_failure(failure("visual", KeyError("real")))
        log_failure(failure("chat", InjectedFault("injected")))
    finally:
        logger.remove(handler)
        logger.disable("flowrx")
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if " failed on " in line]) == 5
    assert err.count("Traceback (most recent call last)") == 3
    assert "KeyError: 'real'" in err


def test_plain_chat_lines_show_the_text_each_change_added(
    examples: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A streamed message prints its first text, then each added piece, not the prefix again;
    the parts add up to the message; an HTML item is printed as its text."""
    assert main(["replay", str(examples / "agent-chat.jsonl"), "--instant"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if " chat " in line]
    streamed = [line for line in lines if " #0 " in line]
    assert streamed[0].endswith(": ''")
    added = [line.split(" +", 1)[1] for line in streamed if " +" in line]
    assert added == ["'The tool '", "'said hello. '", "'Done.'"]
    assert streamed[-1].endswith("content closed tools=1")
    [html] = [line for line in lines if " html " in line]
    assert "<" not in html
    assert html.endswith(": 'agent finished'")
