"""flowrx's benchmark: throughput one frame at a time and in bursts, latency over a loopback
WebSocket, and memory over many runs. A script, not a test: it measures and prints, it asserts
nothing (CI only checks that its comparisons hold: ``tests/test_benchmarks.py``).

    python benchmarks/bench.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench.py --quick    # smaller counts
    python benchmarks/bench.py --json     # the same figures as one JSON object

Throughput: the same recorded frames (a mix built with the simulator: runs with nested groups,
tools, agent and team chat, pauses, failures) through flowrx's full pipeline (parse, intake,
eight concerns, state store; timers on a virtual clock advanced to each frame's time):

* ``flowrx_fps``: one frame at a time, as a live stream at ease delivers them;
* ``burst_fps``: at saturation, as a reader that fell behind delivers them: batches of
  ``BURST`` frames, each frame stamped with the time its batch is handled. Before timing, the
  same stamped frames are also fed one at a time and both must end in the same state (every
  section and counter): a batch changes the cost, never the outcome;
* ``reducers_fps``: ``benchmarks/reducers_only.py``, flowrx's own parse, intake and eight
  reducers in a plain loop (no Rx, no guard, no sinks; checked to end in the pipeline's exact
  state every 101 frames and at the end): what the design's typed messages and immutable state
  cost before any wiring; flowrx minus it is what the wiring costs.

Median of 5, interleaved, same process.

Latency: a server process sends simulator frames at 5,000 frames/s over a loopback WebSocket,
each stamped with its send time and paced by a spin-wait (an asyncio sleep alone wakes at
epoll's 1 ms resolution and would send bursts of five); the client runs the full pipeline and
records, when the pipeline has applied a frame in every concern and its sinks, the time since
it was sent. Once its pipeline is wired the client hands the collector to
``flowrx.runtime.periodic_collection``, as ``flowrx watch`` does and as the README advises live
hosts (flowrx makes no reference cycles; the collector's automatic passes stall the loop for
0.5 to 7 ms every few hundred frames, which alone decides the p99). ``p99_ms_default_gc`` is
the same measurement with Python's default collector. The sender runs without its collector
(its pauses would be counted against flowrx), and ``p99_ms_floor`` is the same measurement
with no pipeline at all: what the machine, asyncio and websockets cost on their own.

Memory: ``tracemalloc`` after 100 runs and after 10,000 runs through the full pipeline.

AG-UI: ``agui_fps`` and ``agui_us_per_event`` (``agui_burst_*`` for each leg as one burst) are
flowrx's AG-UI path on a mix built from the real captures in ``examples/agui``, as
``benchmarks/agui.py`` measures it (which also times the official TypeScript client beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agui import EVENTS, QUICK_EVENTS, flowrx_figures
from reactivex.subject import Subject
from reducers_only import ReducersOnly

from flowrx import VirtualClock, connect
from flowrx.messages import loads
from flowrx.runtime import periodic_collection
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import demo_flow, simulate


def _flowrx_pass(frames: list[RecordedFrame]) -> float:
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    state, subscription = connect(inbox, scheduler=clock, graph=demo_flow())
    on_next, run = inbox.on_next, clock.run
    start = time.perf_counter()
    for frame in frames:
        run(until=frame.t)
        on_next(frame.data)
    run()
    elapsed = time.perf_counter() - start
    assert state.counters["frames"] == len(frames)
    subscription.dispose()
    return elapsed


def _reducers_pass(frames: list[RecordedFrame]) -> float:
    floor = ReducersOnly(demo_flow())
    handle = floor.handle
    start = time.perf_counter()
    for frame in frames:
        handle(frame.data, frame.t)
    floor.advance(float("inf"))
    elapsed = time.perf_counter() - start
    assert floor.intake.counters.frames == len(frames)
    return elapsed


def _flowrx_sections(state: Any) -> dict[str, Any]:
    """Every concern's section and the diagnostics counters of flowrx's state now."""
    sections = {name: state.section(name) for name in state.concerns}
    diagnostics = state.snapshot()["diagnostics"]
    sections["counters"] = {  # the counts, not the per-concern failures and health
        key: value for key, value in diagnostics.items() if key not in ("failed", "health")
    }
    return sections


BURST = 64
"""Frames a burst carries (a reader that fell behind hands over what queued up)."""


def _same_outcome(frames: list[RecordedFrame], graph: Any = None, every: int = 101) -> str | None:
    """Whether the reducers-only loop is in flowrx's state after every ``every`` frames and at
    the end (every concern's section); what differs first, or None."""
    graph = graph or demo_flow()
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    state, subscription = connect(inbox, scheduler=clock, graph=graph)
    floor = ReducersOnly(graph)

    def differs(where: str) -> str | None:
        ours = _flowrx_sections(state)
        for name, section in floor.sections().items():
            if ours[name] != section:
                return f"the reducers-only loop's {name} differs from flowrx's {where}"
        return None

    try:
        for i, frame in enumerate(frames, 1):
            clock.run(until=frame.t)
            inbox.on_next(frame.data)
            floor.handle(frame.data, frame.t)
            if i % every == 0 and (found := differs(f"after frame {i}")):
                return found
        clock.run()
        floor.advance(float("inf"))
        return differs("at the end")
    finally:
        subscription.dispose()


def bursts(frames: list[RecordedFrame], size: int = BURST) -> list[tuple[float, list[Any]]]:
    """The frames in batches of ``size``, each stamped with the time of its last frame."""
    return [
        (frames[min(i + size, len(frames)) - 1].t, [f.data for f in frames[i : i + size]])
        for i in range(0, len(frames), size)
    ]


def _burst_pass(
    batches: list[tuple[float, list[Any]]],
    *,
    one_by_one: bool = False,
    changes: dict[str, list[Any]] | None = None,
) -> Any:
    """flowrx over the batches (or their frames one by one, at the batch's time); the elapsed
    time and the state. ``changes`` collects each concern's changes with their times."""
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    sinks = []
    if changes is not None:
        sinks.append(lambda c: changes.setdefault(c.concern, []).append((clock.seconds, c)))
    state, subscription = connect(inbox, scheduler=clock, graph=demo_flow(), sinks=sinks)
    on_next, run = inbox.on_next, clock.run
    start = time.perf_counter()
    for t, batch in batches:
        run(until=t)
        if one_by_one:
            for data in batch:
                on_next(data)
        else:
            on_next(batch)
    run()
    elapsed = time.perf_counter() - start
    subscription.dispose()
    return elapsed, state


def _bursts_agree(batches: list[tuple[float, list[Any]]]) -> str | None:
    """Whether the batches make every concern's changes (in order, at their times) and end in
    the state that their frames make and reach one by one; what differs first, or None."""
    ours_changes: dict[str, list[Any]] = {}
    theirs_changes: dict[str, list[Any]] = {}
    _, batched = _burst_pass(batches, changes=ours_changes)
    _, single = _burst_pass(batches, one_by_one=True, changes=theirs_changes)
    ours, theirs = _flowrx_sections(batched), _flowrx_sections(single)
    for name in theirs:
        if ours[name] != theirs[name]:
            return f"bursts' {name} differs from the same frames one by one"
        if ours_changes.get(name) != theirs_changes.get(name):
            return f"bursts' {name} changes differ from the same frames one by one"
    return None


def throughput(runs: int, repeats: int = 5) -> dict[str, float]:
    """Frames per second of flowrx one frame at a time, in bursts, and of its reducers alone
    (median of ``repeats`` each, interleaved)."""
    frames = simulate(runs, seed=42)
    batches = bursts(frames)
    for found in (_same_outcome(frames), _bursts_agree(batches)):
        if found is not None:
            raise SystemExit(f"not comparable: {found}")
    times: dict[str, list[float]] = {"flowrx": [], "burst": [], "reducers": []}
    for _ in range(repeats):
        for name, run in (
            ("flowrx", lambda: _flowrx_pass(frames)),
            ("burst", lambda: _burst_pass(batches)[0]),
            ("reducers", lambda: _reducers_pass(frames)),
        ):
            gc.collect()
            times[name].append(run())
    f, b, r = (statistics.median(times[k]) for k in ("flowrx", "burst", "reducers"))
    n = len(frames)
    return {
        "frames": n,
        "burst_size": BURST,
        "flowrx_fps": n / f,
        "flowrx_us_per_frame": f / n * 1e6,
        "burst_fps": n / b,
        "burst_us_per_frame": b / n * 1e6,
        "reducers_fps": n / r,
        "reducers_us_per_frame": r / n * 1e6,
    }


def memory(small: int, large: int) -> dict[str, float]:
    """Traced memory after ``small`` and after ``large`` runs through the full pipeline."""
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    state, subscription = connect(inbox, scheduler=clock, graph=demo_flow())
    tracemalloc.start()
    at: dict[int, float] = {}
    offset = 0.0
    done = 0
    batch = 100
    while done < large:
        frames = simulate(batch, seed=done)
        for frame in frames:
            clock.run(until=offset + frame.t)
            inbox.on_next(frame.data)
        offset += frames[-1].t + 5.0
        clock.run(until=offset)
        done += batch
        if done in (small, large):
            gc.collect()
            at[done] = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    held = len(state.state("lifecycle").runs)
    timers = sum(state.pending_timers.values())
    subscription.dispose()
    return {
        f"mem_{small}_mib": at[small],
        f"mem_{large}_mib": at[large],
        "runs_held": held,
        "timers_left": timers,
    }


def _sender(port_queue: Any, count: int, rate: float) -> None:
    """Server process: send ``count`` stamped frames at ``rate`` per second to one client."""
    from websockets.asyncio.server import serve

    frames = [f.data for f in simulate(max(1, count // 120 + 1), seed=7)][:count]
    # the sender stands in for the platform: its own collector pauses would be counted as
    # flowrx's latency (the stamp is taken before the send), so it runs without them
    gc.collect()
    gc.freeze()
    gc.disable()

    async def handler(ws: Any) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, text in enumerate(frames):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0.002:  # asyncio's sleep wakes at epoll's 1 ms resolution: coarse part
                await asyncio.sleep(delay - 0.002)
            while loop.time() < due:  # fine part: spin, so frames leave one every 1/rate s
                pass
            body = json.loads(text) if isinstance(text, str) else {}
            body["_sent"] = time.time()
            await ws.send(json.dumps(body))
        await ws.close()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.sleep(count / rate + 30)

    asyncio.run(main())


def latency(
    count: int, rate: float = 5000.0, live_gc: bool = True, pipeline: bool = True
) -> dict[str, float]:
    """p50/p99 milliseconds from send to the pipeline having applied the frame.

    ``live_gc`` runs the client with :func:`flowrx.runtime.periodic_collection`, as
    ``flowrx watch`` does; without it, Python's default collector settings.

    ``pipeline=False`` measures the floor: the same sender, socket and client with no
    pipeline (what the machine, asyncio and websockets cost before flowrx does anything).
    """
    from reactivex.disposable import Disposable
    from reactivex.scheduler.eventloop import AsyncIOScheduler

    from flowrx.streams.websocket import WebSocketOptions, WebSocketSource

    ctx = multiprocessing.get_context("spawn")
    ports: Any = ctx.Queue()
    proc = ctx.Process(target=_sender, args=(ports, count, rate), daemon=True)
    proc.start()
    port = ports.get(timeout=30)
    samples: list[float] = []

    async def client() -> None:
        loop = asyncio.get_running_loop()
        # as `flowrx watch` reads: a backlog that queued up behind the pipeline comes as one burst
        source = WebSocketSource(f"ws://127.0.0.1:{port}/", WebSocketOptions(burst=256))
        subscription: Any = Disposable()
        if pipeline:
            _state, subscription = connect(
                source.frames, scheduler=AsyncIOScheduler(loop), graph=demo_flow()
            )

        def after_pipeline(item: Any) -> None:  # subscribed after connect: runs last
            now = time.time()
            for text in item if isinstance(item, list) else (item,):
                try:
                    sent = loads(text)["_sent"]
                except (ValueError, KeyError, TypeError):
                    continue
                samples.append((now - sent) * 1000)

        source.frames.subscribe(after_pipeline)
        undo = periodic_collection(loop) if live_gc else None
        source.start()
        deadline = loop.time() + count / rate + 20
        while len(samples) < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
        await source.close()
        subscription.dispose()
        if undo is not None:
            undo()

    asyncio.run(client())
    proc.terminate()
    proc.join(5)
    samples.sort()
    return {
        "latency_frames": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p99_ms": samples[int(len(samples) * 0.99) - 1],
        "rate": rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    runs, large, latency_frames = (200, 1_000, 5_000) if args.quick else (1_000, 10_000, 25_000)
    result: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    # latency first: its client process then holds what a live host holds (imports, one
    # pipeline), not the garbage and fragmentation of the throughput passes
    result.update(latency(latency_frames))
    default_gc = latency(latency_frames, live_gc=False)
    result["p50_ms_default_gc"] = default_gc["p50_ms"]
    result["p99_ms_default_gc"] = default_gc["p99_ms"]
    floor = latency(latency_frames, pipeline=False)
    result["p50_ms_floor"] = floor["p50_ms"]
    result["p99_ms_floor"] = floor["p99_ms"]
    result.update(throughput(runs))
    mem = memory(100, large)
    result["mem_100_mib"] = mem["mem_100_mib"]
    result["mem_10000_mib"] = mem[f"mem_{large}_mib"]
    result["mem_runs"] = large
    result["runs_held"] = mem["runs_held"]
    result["timers_left"] = mem["timers_left"]
    result.update(flowrx_figures(QUICK_EVENTS if args.quick else EVENTS))
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    floor_text = f"{result['p50_ms_floor']:.3f} / {result['p99_ms_floor']:.3f}"
    rows = [
        ("frames (throughput mix)", f"{result['frames']:,}"),
        ("flowrx frames/s, one at a time", f"{result['flowrx_fps']:,.0f}"),
        ("flowrx µs per frame, one at a time", f"{result['flowrx_us_per_frame']:.1f}"),
        (f"flowrx frames/s, bursts of {result['burst_size']}", f"{result['burst_fps']:,.0f}"),
        ("flowrx µs per frame, bursts", f"{result['burst_us_per_frame']:.1f}"),
        ("reducers only (no Rx) frames/s", f"{result['reducers_fps']:,.0f}"),
        ("reducers only µs per frame", f"{result['reducers_us_per_frame']:.1f}"),
        (f"latency p50 at {result['rate']:,.0f} frames/s (ms)", f"{result['p50_ms']:.3f}"),
        (f"latency p99 at {result['rate']:,.0f} frames/s (ms)", f"{result['p99_ms']:.3f}"),
        ("latency p99, default collector (ms)", f"{result['p99_ms_default_gc']:.3f}"),
        ("latency p50 / p99 floor, no pipeline (ms)", f"{floor_text}"),
        ("memory after 100 runs (MiB)", f"{result['mem_100_mib']:.2f}"),
        (f"memory after {large:,} runs (MiB)", f"{result['mem_10000_mib']:.2f}"),
        ("runs held at the end", str(result["runs_held"])),
        ("timers left (held runs only)", str(result["timers_left"])),
        ("AG-UI events (mix of examples/agui)", f"{result['agui_events']:,}"),
        ("AG-UI frames/s, one at a time", f"{result['agui_fps']:,.0f}"),
        ("AG-UI µs per frame, one at a time", f"{result['agui_us_per_event']:.1f}"),
        ("AG-UI frames/s, each leg as one burst", f"{result['agui_burst_fps']:,.0f}"),
        ("AG-UI µs per frame, bursts", f"{result['agui_burst_us_per_event']:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value:>12}")


if __name__ == "__main__":
    main()
