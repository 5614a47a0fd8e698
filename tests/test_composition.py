"""Composition both ways: the pipeline as one operator in a host's pipe, and each concern's
states as an observable a host subscribes to."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
import reactivex
from reactivex import operators as ops
from reactivex.subject import Subject

from flowrx import VirtualClock, connect, replay
from flowrx.concerns.effects import Change
from flowrx.pipeline import track
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import demo_flow, simulate
from flowrx.testing import exec_frame, marble_frames, run_marbles

FRAMES = {
    "r": exec_frame("run_start"),
    "s": exec_frame("start_node", "n1", 0),
    "e": exec_frame("end_node", "n1", 0, "success"),
    "x": exec_frame("run_end", status="success"),
}
MARBLES = "rs-e-x|"
#          0123456   one tick = 0.1 s


def test_track_is_the_whole_pipeline_as_one_operator_in_a_hosts_pipe() -> None:
    """``frames.pipe(track(...), filter, to_list)``: the same glow changes as the harness sees,
    and the stream completes once every display window has shown."""
    clock = VirtualClock()
    got: list[list[Any]] = []
    done: list[float] = []
    marble_frames(MARBLES, FRAMES, clock).pipe(
        track(scheduler=clock),
        ops.filter(lambda c: c.what == "glow"),
        ops.map(lambda c: (round(clock.seconds, 6), c.node_id, c.value)),
        ops.to_list(),
    ).subscribe(got.append, on_completed=lambda: done.append(clock.seconds))
    clock.run()
    harness = run_marbles(MARBLES, FRAMES)
    harness.finish()
    want = [(round(t, 6), c.node_id, c.value) for t, c in harness.effects("visual", "glow")]
    assert got == [want]
    assert want[-1][2] == ()  # the run_end clear came before completion
    assert len(done) == 1
    assert done[0] >= want[-1][0]


def test_each_subscription_of_track_is_a_pipeline_of_its_own() -> None:
    """Two subscribers of one tracked stream see the same changes from separate pipelines."""
    clock = VirtualClock()
    tracked = marble_frames(MARBLES, FRAMES, clock).pipe(track(scheduler=clock))
    first: list[Change] = []
    second: list[Change] = []
    tracked.subscribe(first.append)
    disposable = tracked.subscribe(second.append)
    clock.run(until=0.35)
    disposable.dispose()  # the second pipeline is torn down; the first goes on
    clock.run()
    assert second == first[: len(second)]
    assert len(first) > len(second)


def test_track_passes_on_an_error_of_the_frames() -> None:
    """A failing input reaches the host's subscriber as the error it was."""
    clock = VirtualClock()
    errors: list[Exception] = []
    failing = reactivex.concat(reactivex.just(FRAMES["r"]), reactivex.throw(OSError("gone")))
    failing.pipe(track(scheduler=clock)).subscribe(on_error=errors.append)
    clock.run()
    assert [str(e) for e in errors] == ["gone"]


def test_a_failing_input_ends_the_stream_and_the_state_stays() -> None:
    """connect keeps what the frames gave and lets its timers fire when the input errors."""
    clock = VirtualClock()
    frames: Subject[str] = Subject()
    state, _ = connect(frames, scheduler=clock)
    frames.on_next(FRAMES["s"])
    frames.on_next(FRAMES["e"])
    frames.on_error(OSError("socket gone"))
    assert state.snapshot()["visual"] == {"n1": ["executing"]}
    clock.run(until=1.0)
    assert state.snapshot()["visual"] == {"n1": ["executed-success"]}
    assert state.health["visual"] == "ok"


def test_states_of_a_concern_is_an_observable_of_its_new_states() -> None:
    """``state.states("lifecycle")`` emits each new lifecycle state, composable with operators."""
    clock = VirtualClock()
    frames: Subject[str] = Subject()
    state, _ = connect(frames, scheduler=clock)
    locks: list[bool] = []
    state.states("lifecycle").pipe(
        ops.map(lambda s: state.section("lifecycle")["editor_locked"]),
        ops.distinct_until_changed(),
    ).subscribe(locks.append)
    for key in "rsex":
        frames.on_next(FRAMES[key])
    clock.run()
    assert locks == [True, False]
    with pytest.raises(ValueError, match="no such concern: 'nope'"):
        state.states("nope")


def _instants(frames: list[RecordedFrame], grid: float) -> list[RecordedFrame]:
    """The frames with their times rounded down to ``grid``: many frames share an instant."""
    return [attrs.evolve(f, t=round(f.t // grid * grid, 6)) for f in frames]


@pytest.mark.parametrize("grid", [0.05, 0.5])
def test_replaying_the_frames_of_one_instant_as_a_burst_changes_nothing_but_the_cost(
    grid: float,
) -> None:
    """``replay(bursts=True)``: the same snapshots at every moment and the same changes per
    concern as frame by frame (noise included)."""
    frames = _instants(
        simulate(12, seed=4, bad_frames=0.05, duplicates=0.05, heartbeats=True), grid
    )
    outcomes = []
    for bursts in (False, True):
        clock = VirtualClock()
        changes: dict[str, list[tuple[float, Change]]] = {}
        state, _ = connect(
            replay(frames, clock, bursts=bursts),
            scheduler=clock,
            graph=demo_flow(),
            sinks=[
                lambda c, log=changes, at=clock: log.setdefault(c.concern, []).append(
                    (at.seconds, c)
                )
            ],
        )
        moments = []
        for t in (1.0, 3.0, 7.5):
            clock.run(until=t)
            moments.append(state.snapshot())
        clock.run()
        outcomes.append((moments, state.snapshot(), changes))
    assert outcomes[0] == outcomes[1]
    assert sum(len(v) for v in outcomes[0][2].values()) > 100
