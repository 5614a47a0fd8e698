"""The benchmark's comparators do what flowrx does: they end in flowrx's state, checked."""

from __future__ import annotations

import json
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


# --- AG-UI: benchmarks/agui.py ----------------------------------------------------------------


@pytest.fixture(scope="module")
def agui() -> Any:
    """``benchmarks/agui.py`` as a module."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import agui as module
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


@pytest.fixture(scope="module")
def agui_mix(agui: Any) -> list[Any]:
    """Every capture twice, each copy on its own threads and runs."""
    legs: list[Any] = agui.build_mix(2)
    return legs


def test_the_agui_passes_one_by_one_and_in_bursts_end_in_the_same_clean_state(
    agui: Any, agui_mix: list[Any]
) -> None:
    """The captures, twice: one by one every event counts with no rejection or violation, and
    each leg as one burst makes the changes and snapshot the same events make one by one."""
    assert agui.check_flowrx(agui_mix) is None
    state = agui.flowrx_pass(agui_mix, bursts=True).state
    snap = state.snapshot()
    assert snap["diagnostics"]["frames"] == agui.mix_events(agui_mix)
    assert len(snap["lifecycle"]["runs"]) == 44  # 22 captures twice; resumes join their run
    assert all(run["status"] in ("success", "error") for run in snap["lifecycle"]["runs"].values())


def test_a_burst_pass_that_loses_an_event_is_caught(
    agui: Any, agui_mix: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bursts that drop each leg's last event differ from the same events one by one, and the
    check says so instead of timing them."""
    real = agui.flowrx_pass

    def lossy(legs: list[Any], **options: Any) -> Any:
        if options.get("bursts"):
            legs = [agui.Leg(leg.thread, leg.run_id, leg.frames[:-1]) for leg in legs]
        return real(legs, **options)

    monkeypatch.setattr(agui, "flowrx_pass", lossy)
    found = agui.check_flowrx(agui_mix)
    assert found is not None
    assert found.startswith("bursts: ")


def test_a_mix_with_a_protocol_violation_is_not_compared(agui: Any, agui_mix: list[Any]) -> None:
    """A leg whose RUN_STARTED is lost makes violations in flowrx: the check refuses the mix."""
    broken = [*agui_mix[:3], agui.Leg("x", "y", agui_mix[3].frames[1:]), *agui_mix[4:]]
    found = agui.check_flowrx(broken)
    assert found is not None
    assert "violations" in found


def test_the_mix_file_is_one_run_per_leg_of_event_objects_as_bench_mjs_reads_it(
    agui: Any, agui_mix: list[Any], examples: Path, tmp_path: Path
) -> None:
    """The node script's input: an array of runs, one per leg of each capture (the ``leg``
    numbers of the files), each opening with a RUN_STARTED on its copy's own thread, the
    events as the captures sent them but for the copy's ``~N`` on threadId and runId."""
    path = tmp_path / "mix.json"
    agui.write_mix(agui_mix, path)
    runs = json.loads(path.read_text(encoding="utf-8"))
    captures = sorted((examples / "agui").glob("*/*.jsonl"))
    originals = []  # (thread, run id or None, leg number, event) of each capture, in order
    for capture in captures:
        lines = [json.loads(line) for line in capture.read_text(encoding="utf-8").splitlines()]
        originals.append([(line["leg"], json.loads(line["data"])) for line in lines[1:]])
    legs_per_copy = sum(len({leg for leg, _ in events}) for events in originals)
    assert len(runs) == len(agui_mix) == 2 * legs_per_copy
    assert (
        sum(len(run) for run in runs)
        == agui.mix_events(agui_mix)
        == 2 * sum(len(events) for events in originals)
    )
    sent = iter(runs)
    for copy in range(2):
        threads = set()
        for events in originals:
            for leg in sorted({leg for leg, _ in events}):
                run = next(sent)
                assert isinstance(run, list)
                assert all(isinstance(event, dict) for event in run)
                first = run[0]
                assert first["type"] == "RUN_STARTED"
                assert isinstance(first["threadId"], str)
                assert first["threadId"].endswith(f"~{copy}")
                threads.add(first["threadId"])
                expected = [event for n, event in events if n == leg]
                for got, original in zip(run, expected, strict=True):
                    renamed = {
                        key: f"{value}~{copy}" if key in ("threadId", "runId") else value
                        for key, value in original.items()
                    }
                    assert got == renamed
        assert len(threads) == len(captures)  # one thread per capture and copy


def test_the_client_comparison_refuses_failures_chatter_and_other_texts(
    agui: Any, agui_mix: list[Any]
) -> None:
    """A node report with a failed run or unexpected console output, or agents holding other
    assistant texts than flowrx's chat, make the side-by-side not comparable."""
    n, legs = agui.mix_events(agui_mix), len(agui_mix)
    clean = {
        "events": n,
        "runs": legs,
        "failed_runs": 0,
        "first_failure": None,
        "warning_kinds": {agui.PATCH_WARNING: 2},
    }
    assert agui.ts_problem(clean, n, legs) is None
    assert "runs failed" in agui.ts_problem({**clean, "failed_runs": 1}, n, legs)
    chatty = {**clean, "warning_kinds": {"warn: something else": 1}}
    assert "something else" in agui.ts_problem(chatty, n, legs)
    assert "not" in agui.ts_problem(clean, n + 1, legs)

    state = agui.flowrx_pass(agui_mix).state
    chat = state.snapshot()["chat"]
    final = {}
    for leg in agui_mix:
        texts = [m["text"] for m in chat.get(leg.run_id, []) if m["kind"] == "content"]
        messages = [{"role": "assistant", "content": text} for text in texts if text]
        final.setdefault(leg.thread, {"messages": messages, "state": {}})
    assert agui.same_texts(state, agui_mix, final) is None
    thread = agui_mix[0].thread
    final[thread]["messages"][-1]["content"] += "!"
    found = agui.same_texts(state, agui_mix, final)
    assert found is not None
    assert found.startswith(f"run {agui_mix[0].run_id}")


def test_bench_reports_agui_frames_per_second_on_the_captures(agui: Any) -> None:
    """``bench.py --json`` gets ``agui_fps``/``agui_us_per_event`` from agui.py: one copy of
    the captures, counted (no figure is judged)."""
    figures = agui.flowrx_figures(events=1, repeats=1)
    assert figures["agui_events"] == agui.mix_events(agui.build_mix(1))
    for key in ("agui_fps", "agui_us_per_event", "agui_burst_fps", "agui_burst_us_per_event"):
        assert figures[key] > 0
