"""Memory (behaviour §9): state leaves with its run; N runs hold what 100 runs hold.

The simulator's runs of the demo flow (groups, tools, agent chat, pauses, failures) stream
through the full pipeline in virtual time, 100 runs at a time: one chunk of frames is
generated before tracing starts and each further chunk is that chunk with fresh run ids, so
the frames themselves never weigh on the figures and no run id repeats. ``tracemalloc`` runs
from the first frame on; after run 100 and after run N (each time once every timer of the
chunk has fired, after ``gc.collect()``) the traced memory is read.

N is 300 in the normal suite, to keep the whole suite within its time budget: traced, the
replay runs at about 20 runs/s on the 2-core machine (600 runs: 33-37 s; 1,000 runs: 55 s).
Measured alone: 2.54 MiB after 100 runs, 2.60 MiB after 600, 2.64 MiB after 1,000.
``FLOWRX_MEMORY_RUNS`` sets another multiple of 100; the 10,000-run figure is the benchmark's
(``benchmarks/``).

The test is sized by its count of runs; its only time limit is the hang guard, set wide
(600 s, against some 20 s of CPU) so that a machine with both cores busy slows it without
failing it.
"""

from __future__ import annotations

import gc
import json
import os
import tracemalloc

import attrs
import pytest
from reactivex.subject import Subject

from flowrx import VirtualClock, connect, replay
from flowrx.config import Config
from flowrx.graph import FlowGraph
from flowrx.pipeline import default_concerns
from flowrx.sinks.state import FlowState
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import demo_flow, simulate

CONCERNS = tuple(card.name for card in default_concerns(FlowGraph.empty(), Config()))

CHUNK = 100
RUNS = int(os.environ.get("FLOWRX_MEMORY_RUNS", "300"))
MAX_RUNS = 50
MIB = 2**20


def runs_held(state: FlowState) -> dict[str, int]:
    """How many runs each concern (and intake) holds."""
    held = {"intake": len(state.intake.runs)}
    for name in CONCERNS:
        value = state.state(name)
        if name == "interaction":  # per-run maps rather than a ``runs`` map
            runs = {*value.flows, *value.issued, *value.ended}
            runs |= {item.run_id for item in value.pending.values()}
            held[name] = len(runs)
        else:
            held[name] = len(value.runs)
    return held


@attrs.frozen
class Base:
    """One chunk of simulated runs, and which run each frame belongs to (made before tracing)."""

    frames: list[RecordedFrame]
    owner: list[str]
    run_ids: list[str]

    @classmethod
    def make(cls) -> Base:
        frames = simulate(CHUNK, seed=0)
        owner = [json.loads(f.data)["run_id"] for f in frames]
        return cls(frames, owner, list(dict.fromkeys(owner)))

    def chunk(self, k: int) -> tuple[list[RecordedFrame], list[str]]:
        """The runs again with run ids of chunk ``k`` (no id repeats across chunks)."""
        fresh = {old: f"{k:08x}{old[8:]}" for old in self.run_ids}
        frames = [
            RecordedFrame(f.t, str(f.data).replace(run, fresh[run]))
            for f, run in zip(self.frames, self.owner, strict=True)
        ]
        return frames, [fresh[old] for old in self.run_ids]


@pytest.mark.timeout(600)
def test_n_runs_hold_the_memory_of_100_runs_at_most_50_runs_and_no_timers() -> None:
    """After N runs: 50 runs held everywhere, no timer left, traced memory within 5 MiB of 100."""
    assert RUNS >= 2 * CHUNK
    assert RUNS % CHUNK == 0
    base = Base.make()  # generated before tracing: it never counts
    tracemalloc.start()
    try:
        traced, state, last_ids = replay_in_chunks(base)
    finally:
        tracemalloc.stop()
    print(
        f"traced memory after {CHUNK} runs: {traced[CHUNK] / MIB:.2f} MiB; "
        f"after {RUNS} runs: {traced[RUNS] / MIB:.2f} MiB"
    )
    assert traced[RUNS] - traced[CHUNK] < 5 * MIB, traced
    snap = state.snapshot()
    assert sorted(snap["lifecycle"]["runs"]) == sorted(last_ids)  # the newest 50, no other
    assert set(snap["store"]) == set(last_ids)
    assert runs_held(state)["intake"] == MAX_RUNS
    assert snap["diagnostics"]["frames"] == snap["diagnostics"]["messages"]
    assert state.failed == dict.fromkeys(CONCERNS, 0)


def replay_in_chunks(base: Base) -> tuple[dict[int, int], FlowState, list[str]]:
    """Stream RUNS runs through one pipeline; check bounds after each chunk; the traced
    memory after run 100 and after run RUNS, the state, and the last 50 run ids."""
    clock = VirtualClock()
    source: Subject[str | bytes] = Subject()
    state, subscription = connect(source, scheduler=clock, graph=demo_flow())
    traced: dict[int, int] = {}
    last_ids: list[str] = []
    for k in range(RUNS // CHUNK):
        frames, run_ids = base.chunk(k)
        feed = replay(frames, clock).subscribe(source.on_next)
        clock.run()  # the chunk's frames, and every timer they started
        feed.dispose()
        del frames, feed
        done = (k + 1) * CHUNK
        last_ids = (last_ids + run_ids)[-MAX_RUNS:]
        assert sum(state.pending_timers.values()) == 0, (done, state.pending_timers)
        assert all(n <= MAX_RUNS for n in runs_held(state).values()), (done, runs_held(state))
        if done in (CHUNK, RUNS):
            gc.collect()
            traced[done] = tracemalloc.get_traced_memory()[0]
    subscription.dispose()
    return traced, state, last_ids
