"""The benchmark's comparators do what flowrx does: they end in flowrx's state, checked."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from flowrx.graph import load_graph
from flowrx.streams.replay import read_recording
from flowrx.streams.simulate import demo_flow, simulate

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Any:
    """``benchmarks/bench.py`` as a module (the benchmarks are scripts, not a package)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import bench as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.mark.parametrize(
    "options",
    [
        {"seed": 42},
        {"seed": 1, "bad_frames": 0.05, "duplicates": 0.05, "heartbeats": True},
    ],
    ids=["clean", "bad-duplicated-heartbeats"],
)
def test_the_reducers_loop_reaches_flowrx_state_on_simulated_runs(
    bench: Any, options: dict[str, Any]
) -> None:
    """Sixty runs (eviction included): every section agrees at each checkpoint."""
    assert bench._same_outcome(simulate(60, **options), every=53) is None


@pytest.mark.parametrize("name", ["agent-chat", "groups-tools-error"])
def test_the_reducers_loop_reaches_flowrx_state_on_the_real_recordings(
    bench: Any, examples: Path, name: str
) -> None:
    """The platform's own recordings, with their graphs, checked after every frame."""
    frames = list(read_recording(examples / f"{name}.jsonl").frames)
    graph = load_graph(examples / f"{name}.flow.json")
    assert bench._same_outcome(frames, graph, every=1) is None


def test_a_reducers_loop_that_drifts_from_flowrx_is_caught(
    bench: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop that drops every visual timer is found out, and the check says where."""
    original = bench.ReducersOnly._feed

    def no_visual_timers(self: Any, i: int, msg: Any, now: float) -> None:
        original(self, i, msg, now)
        if self.cards[i].name == "visual":
            self._live = {k: v for k, v in self._live.items() if k[0] != i}

    monkeypatch.setattr(bench.ReducersOnly, "_feed", no_visual_timers)
    found = bench._same_outcome(simulate(5, seed=3), demo_flow(), every=7)
    assert found is not None
    assert found.startswith("the reducers-only loop's visual differs")


@pytest.mark.parametrize("size", [2, 64])
def test_bursts_end_in_the_state_their_frames_reach_one_by_one(bench: Any, size: int) -> None:
    """Frames handed over in batches (noise included) reach exactly the one-by-one state."""
    frames = simulate(30, seed=9, bad_frames=0.05, duplicates=0.05, heartbeats=True)
    assert bench._bursts_agree(bench.bursts(frames, size)) is None
