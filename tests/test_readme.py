"""The README's examples run as written: its python blocks, its replay commands, its paths.

Every ``python`` block of the README is run by one of the tests below (a new block fails
:func:`test_every_python_block_of_the_readme_is_one_the_tests_run` until it is given a test).
The live example runs as a user would run it, as ``__main__`` with a URL on its command line,
against the stand-in server (:class:`flowrx.streams.serve.PlatformServer`) on 127.0.0.1 port
0, in a thread of this process, playing a real recording.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT, LoopThread

from flowrx import load_graph, read_recording
from flowrx.streams.serve import PlatformServer

README = ROOT / "README.md"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
PATIENCE = 60.0  # a hang guard, never a measurement


def blocks(lang: str) -> list[tuple[int, str]]:
    """The README's fenced blocks in ``lang``: (line number, code)."""
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 2, textwrap.dedent(m["body"]))
        for m in FENCE.finditer(text)
        if m["lang"] == lang
    ]


def python_block(marker: str) -> tuple[int, str]:
    """The one python block that contains ``marker``."""
    found = [(line, code) for line, code in blocks("python") if marker in code]
    assert len(found) == 1, f"{len(found)} python blocks contain {marker!r}"
    return found[0]


def run_block(line: int, code: str, name: str = "readme") -> dict[str, Any]:
    """Execute a README block in a fresh namespace; return the namespace."""
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(code, f"{README}:{line}", "exec"), namespace)
    return namespace


MARKERS = {
    "clock.run(until=0.05)": "the replay example",
    "track(scheduler=clock)": "the composition example",
    "WebSocketSource(": "the live example",
    "run_marbles(": "the marble test example",
    "agui_conversation(": "the AG-UI example",
    "agentos_conversation(": "the AgentOS example",
}


def test_every_python_block_of_the_readme_is_one_the_tests_run() -> None:
    """Each python block is the replay, composition, live, marble, AG-UI or AgentOS example,
    each once."""
    kinds = [
        [label for marker, label in MARKERS.items() if marker in code]
        for _, code in blocks("python")
    ]
    assert sorted(k for found in kinds for k in found) == sorted(MARKERS.values())
    assert all(len(found) == 1 for found in kinds)


def test_the_replay_example_runs_as_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The recording is mid-run at 0.05 s (editor locked); then every change prints, to success."""
    monkeypatch.chdir(ROOT)
    run_block(*python_block("clock.run(until=0.05)"))
    lines = capsys.readouterr().out.splitlines()
    assert "'editor_locked': True" in lines[0]
    assert "'status': 'running'" in lines[0]
    changes = lines[1:]
    assert changes
    assert all(line.startswith("Change(") for line in changes)
    assert any("what='run'" in line and "value='success'" in line for line in changes)


def test_the_composition_example_prints_the_badges_and_the_editor_lock(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """track's badges in one list once settled; the lifecycle states lock, then free the editor."""
    monkeypatch.chdir(ROOT)
    run_block(*python_block("track(scheduler=clock)"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[(")
    assert "(0, 'executing')" in lines[0]
    assert lines[0].endswith("(8, 'error')]")  # the failing node's badge is the last change
    assert lines[1:] == ["editor locked", "editor free"]


def test_the_marble_test_example_passes() -> None:
    """The README's example test defines one test function, and it passes."""
    namespace = run_block(*python_block("run_marbles("))
    tests = [fn for name, fn in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()


class ServedRecording(LoopThread):
    """``flowrx serve``'s server on 127.0.0.1 port 0, on its own loop in a thread, playing a
    recording once the first client connects (as ``flowrx serve --recording FILE`` does)."""

    def __init__(self, recording: Path, flow_id: str) -> None:
        self.frames = read_recording(recording).frames
        self.flow_id = flow_id
        self.url = ""
        self.sent = 0
        super().__init__(self._serve, PATIENCE)

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        server = PlatformServer(self.frames, flow_id=self.flow_id)
        self.url = await server.start()
        play = asyncio.ensure_future(server.play())
        ready()
        await stop.wait()
        play.cancel()
        self.sent = server.sent
        await server.close()


def test_the_live_example_follows_a_served_recording_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as a script against the stand-in server: JSON changes, the hook, the two files."""
    graph_file = ROOT / "examples" / "agent-chat.flow.json"
    graph = load_graph(graph_file)
    monkeypatch.chdir(tmp_path)
    with ServedRecording(ROOT / "examples" / "agent-chat.jsonl", graph.flow_id or "f") as server:
        monkeypatch.setattr(sys, "argv", ["follow.py", server.url, str(graph_file)])
        run_block(*python_block("WebSocketSource("), name="__main__")
    out, err = capsys.readouterr()
    assert server.sent == len(read_recording(ROOT / "examples" / "agent-chat.jsonl").frames)
    changes = [json.loads(line) for line in out.splitlines()]
    assert {"concern", "what", "run_id", "node_id", "value"} == set(changes[0])
    run_changes = [c["value"] for c in changes if (c["concern"], c["what"]) == ("lifecycle", "run")]
    assert run_changes == ["running", "success"]
    (run_id,) = {c["run_id"] for c in changes}
    badges = [c["value"] for c in changes if c["what"] == "badge"]
    assert badges
    assert all({"node_id", "order", "status"} <= set(b) for b in badges)
    assert any(c["what"] == "glow" and c["value"] == ["executing"] for c in changes)
    assert err.splitlines() == [f"run_end: fetch the results of run {run_id}"]
    snapshot = json.loads((tmp_path / "snapshot.json").read_text(encoding="utf-8"))
    assert snapshot["schema"] == "flowrx/snapshot/1"
    assert snapshot["lifecycle"]["runs"][run_id]["status"] == "success"
    assert snapshot["diagnostics"]["connection"]["state"] == "open"
    assert snapshot["diagnostics"]["frames"] == server.sent
    page = (tmp_path / "flow.html").read_text(encoding="utf-8")
    assert page.startswith('<div class="flowrx-view">')
    assert "harness agent" in page  # the chat, with the agent's name from the frames


def test_the_agui_example_approves_a_real_pydantic_ai_agent_and_prints_its_chat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as a script against a real pydantic-ai AG-UI endpoint on loopback: the approval
    interrupts the run, the example approves it, the same run resumes once and succeeds."""
    from agui_server import AguiServer

    with AguiServer(patience=PATIENCE) as server:
        monkeypatch.setattr(sys, "argv", ["ask.py", server.endpoint("approval")])
        run_block(*python_block("agui_conversation("), name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "run-1 success resumes: 1"
    assert any("delete_file" in line for line in out[1:])


def test_the_agentos_example_answers_a_real_agents_question_in_the_background(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as a script against a real AgentOS on loopback (``tests/agentos_server.py``): the
    archive agent, in the background, asks for a reason; the example gives one, the same run
    continues once and succeeds, its tool having run with that reason."""
    from agentos_server import TOKEN, AgentOSServer

    with AgentOSServer(patience=PATIENCE) as server:
        monkeypatch.setattr(sys, "argv", ["tidy.py", server.url, TOKEN])
        run_block(*python_block("agentos_conversation("), name="__main__")
    printed = capsys.readouterr().out.splitlines()
    out = printed[next(i for i, line in enumerate(printed) if " resumes: " in line) :]
    assert out[0].endswith(" success resumes: 1")  # (Agno's own log lines come before)
    assert out[1:] == ["  Archive Agent 'Archived.' ['archived 3 records: cleanup']"]


def replay_commands() -> list[str]:
    """The README's ``flowrx replay examples/...`` command lines (not the usage line)."""
    return [
        line
        for _, code in blocks("sh")
        for line in code.splitlines()
        if line.startswith("flowrx replay examples/")
    ]


def run_cli(line: str) -> subprocess.CompletedProcess[str]:
    """Run a README command line with this checkout's flowrx."""
    argv = shlex.split(line)
    assert argv[0] == "flowrx"
    return subprocess.run(
        [sys.executable, "-m", "flowrx.cli", *argv[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )


@pytest.mark.parametrize("line", replay_commands())
def test_every_replay_command_of_the_readme_runs_on_the_shipped_examples(line: str) -> None:
    """Each README replay command exits 0 and prints a snapshot of the example's run."""
    done = run_cli(line)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["schema"] == "flowrx/snapshot/1"


def test_the_at_example_shows_the_first_node_before_and_after_its_window() -> None:
    """At 0.07 s the `play` node still glows executing; at 0.57 s it shows executed-success."""
    graph = load_graph(ROOT / "examples" / "groups-tools-error.flow.json")
    (play,) = [node_id for node_id in graph.nodes if graph.handle(node_id) == "play"]
    at = {line.rsplit(" ", 1)[-1]: line for line in replay_commands() if "--at" in line}
    assert sorted(at) == ["0.07", "0.57"]
    glow = {t: json.loads(run_cli(line).stdout)["surface"][play] for t, line in at.items()}
    assert glow == {"0.07": ["executing"], "0.57": ["executed-success"]}


def test_every_path_the_readme_names_under_examples_exists() -> None:
    """A reader can run what the README shows: each examples/ file it names ships."""
    named = set(re.findall(r"examples/[\w.-]+\.\w+", README.read_text(encoding="utf-8")))
    assert named
    assert {name for name in named if not (ROOT / name).is_file()} == set()
