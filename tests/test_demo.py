"""`flowrx demo` and the demo flow: frames made as they are played, and the graph shipped."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

import flowrx.streams.simulate as simulate_module
from flowrx import VirtualClock, load_graph
from flowrx.cli import main
from flowrx.streams.simulate import demo_graph, iter_simulate, simulate, simulate_stream

FLOWRX = [sys.executable, "-m", "flowrx.cli"]


def test_an_endless_simulation_gives_the_same_frames_as_a_finite_one() -> None:
    """iter_simulate(None) is endless; its start equals simulate's frames, noise and all."""
    options: dict[str, Any] = {"seed": 4, "bad_frames": 0.1, "duplicates": 0.1, "heartbeats": True}
    three = simulate(3, **options)
    taken = len(simulate(2, **options)) + 5  # into the third run
    assert list(islice(iter_simulate(None, **options), taken)) == three[:taken]


def test_the_demo_stream_makes_runs_only_as_they_fall_due(monkeypatch: pytest.MonkeyPatch) -> None:
    """Playing 1,000 runs makes one run before the first frame, and one ahead of the clock."""
    made: list[int] = []
    real_run = simulate_module._run

    def counting(*args: Any) -> Any:
        made.append(1)
        return real_run(*args)

    monkeypatch.setattr(simulate_module, "_run", counting)
    clock = VirtualClock()
    got: list[str | bytes] = []
    simulate_stream(clock, 1000, seed=0).subscribe(got.append)
    assert len(made) == 1  # the first frame is due: one run made, not a thousand
    clock.run(until=0.0)
    assert got
    clock.run(until=30.0)
    started = sum(1 for data in got if isinstance(data, str) and '"run_start"' in data)
    assert started >= 2
    assert len(made) <= started + 1


def test_an_endless_demo_stream_plays_simulated_frames_at_their_times() -> None:
    """simulate_stream(runs=None) plays forever: after 60 virtual seconds it has played exactly
    the frames simulate() has up to then, at their times."""
    clock = VirtualClock()
    got: list[tuple[float, str | bytes]] = []
    simulate_stream(clock, None, seed=1, speed=2.0).subscribe(
        lambda data: got.append((clock.seconds, data))
    )
    clock.run(until=60.0)
    frames = simulate(40, seed=1)
    expected = [f for f in frames if f.t / 2.0 <= 60.0]
    assert len(expected) < len(frames)  # 40 runs last longer than 120 s of simulated time
    assert [data for _, data in got] == [f.data for f in expected]
    assert [t for t, _ in got] == pytest.approx([f.t / 2.0 for f in expected], abs=1e-5)


def test_demo_without_runs_plays_until_stopped() -> None:
    """`flowrx demo --plain --seconds 1`: no run count, the lines come at once, exit 0."""
    out = io.StringIO()
    assert main(["demo", "--plain", "--seconds", "1", "--speed", "5"], out=out) == 0
    assert "lifecycle   run" in out.getvalue()


def test_the_shipped_demo_graph_is_the_simulators_graph(examples: Path) -> None:
    """examples/demo.flow.json is exactly the simulator's demo flow."""
    shipped = json.loads((examples / "demo.flow.json").read_text(encoding="utf-8"))
    assert shipped == demo_graph()
    graph = load_graph(examples / "demo.flow.json")
    assert graph.flow_id == simulate_module.DEMO_FLOW_ID
    assert graph.handle(simulate_module.DEMO_NODE_IDS["split_chunks"]) == "split_chunks"


def test_serve_writes_the_demo_graph_and_watch_shows_names_with_it(tmp_path: Path) -> None:
    """`serve --write-graph PATH` then `watch --graph PATH`: handles, not bare ids."""
    target = tmp_path / "flow.json"
    server = subprocess.Popen(
        [*FLOWRX, "serve", "--write-graph", str(target), "--runs", "1", "--speed", "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert json.loads(target.read_text(encoding="utf-8")) == demo_graph()
        done = subprocess.run(
            [*FLOWRX, "watch", url, "--graph", str(target), "--runs", "1", "--plain"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    assert done.returncode == 0, done.stderr
    assert "node=split_chunks" in done.stdout
    assert simulate_module.DEMO_NODE_IDS["split_chunks"] not in done.stdout


def test_write_graph_needs_the_simulator(
    capsys: pytest.CaptureFixture[str], examples: Path
) -> None:
    """--write-graph with --recording is a mistake (the recording's graph is not known)."""
    recording = str(examples / "agent-chat.jsonl")
    argv = ["serve", "--recording", recording, "--write-graph", "x.json"]
    assert main(argv, out=io.StringIO()) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "--write-graph" in line
