"""flowrx's AG-UI path beside the official TypeScript client, on a mix of the real captures.
A script, not a test: it measures and prints; it asserts only that the passes are comparable
(``tests/test_benchmarks.py`` checks that without timing anything).

    python benchmarks/agui.py            # about 20,000 events (a few minutes on 2 cores)
    python benchmarks/agui.py --quick    # about 2,000 events
    python benchmarks/agui.py --json     # the same figures as one JSON object

The mix: every capture in ``examples/agui`` (pydantic-ai's and Agno's), in name order, repeated
as many times as the event count asks, each copy with its own ``threadId`` and ``runId``
(``~N`` appended) so that flowrx holds many runs and evicts the oldest, as a live client does
over time. Each capture plays at its recorded times, one second after the previous one ends.
A leg is what one ``RUN_STARTED`` opens (a resume is a leg of its own on the same thread).

Side by side, median of 5, interleaved (after one warm-up pass of each), as wall time and as
the CPU time the process used (which other work on a shared machine disturbs less):

* ``flowrx``: the full AG-UI path, one event at a time: ``connect(Subject,
  scheduler=VirtualClock(), protocol="agui")``, the clock advanced to each event's time before
  its text is pushed (as ``bench.py``'s platform pass does): decode, the AG-UI reducer, intake,
  seven concerns with their timers, the state store;
* ``flowrx_burst``: the same with each leg's events pushed as one list at the time of its last
  event (a backlog, as the WebSocket and SSE sources hand it on). Before timing, the bursts
  are checked to make every concern's changes and end in the snapshot that the same events
  make one by one at the same times; and the one-by-one pass must end with every event
  counted, no rejection, violation, unknown event or concern failure;
* ``ts``: ``@ag-ui/client`` 1.0.0's ``AbstractAgent.runAgent()`` on Node, one call per leg
  (``benchmarks/agui_ts/bench.mjs``, which says what it runs), from the event objects; and
  ``ts_text``: the same from each event's JSON text (what flowrx starts from). It needs
  ``npm ci --prefix benchmarks/agui_ts`` once; without node or that install it is reported as
  missing. Each of its passes is a fresh ``node`` process: one warm-up pass, then one timed.
  Before timing, a first run must read every event and run, with no failed run (the client's
  verifier aborts a run on a protocol violation) and no console output but
  :data:`PATCH_WARNING`, its agents ending with the assistant texts (in order) that flowrx's
  chat holds for each run it still holds.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reactivex.subject import Subject

from flowrx import Change, FlowState, VirtualClock, connect, read_recording
from flowrx.streams.replay import RecordedFrame

__all__ = [
    "CAPTURES",
    "EVENTS",
    "PATCH_WARNING",
    "QUICK_EVENTS",
    "Leg",
    "Pass",
    "build_mix",
    "check_flowrx",
    "copies_for",
    "flowrx_figures",
    "flowrx_pass",
    "main",
    "mix_events",
    "node_command",
    "same_texts",
    "throughput",
    "ts_pass",
    "ts_problem",
    "write_mix",
]

HERE = Path(__file__).resolve().parent
CAPTURES = HERE.parent / "examples" / "agui"
"""The real captures the mix is built from (every ``*/*.jsonl``)."""
TS_DIR = HERE / "agui_ts"
EVENTS = 20_000
QUICK_EVENTS = 2_000
GAP = 1.0
"""Seconds between the end of one capture and the start of the next in the mix."""
_RENAMED = ("threadId", "runId")


@dataclass(frozen=True)
class Leg:
    """One leg of a run as the mix plays it: its thread, its run id (as ``RUN_STARTED`` names
    them) and its frames (exact text, at their time in the mix)."""

    thread: str
    run_id: str
    frames: tuple[RecordedFrame, ...]


def _legs(frames: Iterable[RecordedFrame]) -> list[list[RecordedFrame]]:
    """The frames split where each ``RUN_STARTED`` opens a leg."""
    legs: list[list[RecordedFrame]] = []
    for frame in frames:
        if json.loads(frame.data)["type"] == "RUN_STARTED" or not legs:
            legs.append([])
        legs[-1].append(frame)
    return legs


def _renamed(text: str | bytes, copy: int) -> str:
    """The event's text, its ``threadId``/``runId`` (when it names them) suffixed ``~copy``;
    any other event as it was sent."""
    event = json.loads(text)
    if not any(key in event for key in _RENAMED):
        return text if isinstance(text, str) else text.decode("utf-8")
    for key in _RENAMED:
        if isinstance(event.get(key), str):
            event[key] = f"{event[key]}~{copy}"
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def build_mix(copies: int, folder: Path = CAPTURES, gap: float = GAP) -> list[Leg]:
    """Every capture under ``folder`` (name order), ``copies`` times, each copy with its own
    thread and run ids, one capture ``gap`` seconds after the previous one's last event."""
    paths = sorted(folder.glob("*/*.jsonl"))
    if not paths:
        raise SystemExit(f"no AG-UI capture under {folder}")
    captures = [(path, read_recording(path).frames) for path in paths]
    mix: list[Leg] = []
    offset = 0.0
    for copy in range(copies):
        for path, frames in captures:
            for leg in _legs(frames):
                moved = tuple(RecordedFrame(offset + f.t, _renamed(f.data, copy)) for f in leg)
                start = json.loads(moved[0].data)
                if start["type"] != "RUN_STARTED" or not isinstance(start.get("threadId"), str):
                    raise SystemExit(f"{path}: a leg opens with {start['type']}, not a RUN_STARTED")
                mix.append(Leg(start["threadId"], str(start.get("runId")), moved))
            offset += frames[-1].t + gap
    return mix


def mix_events(legs: Sequence[Leg]) -> int:
    """How many events the mix holds."""
    return sum(len(leg.frames) for leg in legs)


def copies_for(events: int, folder: Path = CAPTURES) -> int:
    """How many copies of the captures make at least ``events`` events (at least one)."""
    one = mix_events(build_mix(1, folder))
    return max(1, math.ceil(events / one))


def write_mix(legs: Sequence[Leg], path: Path) -> None:
    """The mix as ``bench.mjs`` reads it: an array of runs (one per leg), each an array of the
    leg's event objects, in mix order."""
    runs = [[json.loads(frame.data) for frame in leg.frames] for leg in legs]
    path.write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")


# --- flowrx -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pass:
    """One pass over the mix: its wall and CPU seconds, and the state it ended in."""

    wall: float
    cpu: float
    state: FlowState


def flowrx_pass(
    legs: Sequence[Leg],
    *,
    bursts: bool = False,
    at_leg_end: bool = False,
    changes: dict[str, list[tuple[float, Change]]] | None = None,
) -> Pass:
    """flowrx's AG-UI path over the mix, every timer run at the end. One event at a time at its
    own time, or (``bursts``) each leg as one list at the time of its last event, or
    (``at_leg_end``) one at a time but all at that time (the bursts' stamps). ``changes``
    collects each concern's changes with their times."""
    clock = VirtualClock()
    inbox: Subject[Any] = Subject()
    sinks: list[Callable[[Change], None]] = []
    if changes is not None:
        sinks.append(lambda c: changes.setdefault(c.concern, []).append((clock.seconds, c)))
    state, subscription = connect(inbox, scheduler=clock, protocol="agui", sinks=sinks)
    on_next, run = inbox.on_next, clock.run
    if bursts or at_leg_end:
        batches = [(leg.frames[-1].t, [f.data for f in leg.frames]) for leg in legs]
        cpu, start = time.process_time(), time.perf_counter()
        for t, batch in batches:
            run(until=t)
            if bursts:
                on_next(batch)
            else:
                for data in batch:
                    on_next(data)
        run()
    else:
        frames = [f for leg in legs for f in leg.frames]
        cpu, start = time.process_time(), time.perf_counter()
        for frame in frames:
            run(until=frame.t)
            on_next(frame.data)
        run()
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    subscription.dispose()
    return Pass(elapsed, used, state)


def _clean(state: FlowState, events: int) -> str | None:
    """What makes a pass's end state not a clean read of the captures, or None."""
    diagnostics = state.snapshot()["diagnostics"]
    if diagnostics["frames"] != events or diagnostics["messages"] != events:
        return f"{diagnostics['frames']} frames counted, {events} sent"
    for key in ("rejected", "violations", "unknown"):
        if diagnostics[key]:
            return f"{diagnostics[key]} {key} on the real captures"
    failed = {name: n for name, n in diagnostics["failed"].items() if n}
    if failed:
        return f"concern failures on the real captures: {failed}"
    if not state.settled(ignore=()):
        return "timers still pending at the end"
    return None


def check_flowrx(legs: Sequence[Leg]) -> str | None:
    """Whether flowrx's passes are comparable: one by one, the mix ends clean (every event
    counted, nothing rejected, no violation, unknown event or concern failure); the bursts make
    every concern's changes (in order, at their times) and end in the snapshot that the same
    events make one by one at the bursts' times. What is wrong first, or None."""
    events = mix_events(legs)
    single = flowrx_pass(legs).state
    found = _clean(single, events)
    if found is not None:
        return f"one by one: {found}"
    ours: dict[str, list[tuple[float, Change]]] = {}
    theirs: dict[str, list[tuple[float, Change]]] = {}
    burst = flowrx_pass(legs, bursts=True, changes=ours).state
    stamped = flowrx_pass(legs, at_leg_end=True, changes=theirs).state
    found = _clean(burst, events)
    if found is not None:
        return f"bursts: {found}"
    burst_snap, stamped_snap = burst.snapshot(), stamped.snapshot()
    for name in stamped_snap:
        if burst_snap[name] != stamped_snap[name]:
            return f"bursts' {name} differs from the same events one by one"
    for name in stamped.concerns:
        if ours.get(name) != theirs.get(name):
            return f"bursts' {name} changes differ from the same events one by one"
    return None


# --- the TypeScript client --------------------------------------------------------------------


def node_command() -> list[str] | str:
    """The command that runs ``bench.mjs`` (its arguments to follow), or why it cannot run."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed (Node 20 or later runs it)"
    if not (TS_DIR / "node_modules" / "@ag-ui" / "client").is_dir():
        return f"@ag-ui/client is not installed: npm ci --prefix {os.path.relpath(TS_DIR)}"
    return [node, str(TS_DIR / "bench.mjs")]


def ts_pass(mix: Path, passes: int = 1, out: Path | None = None) -> dict[str, Any]:
    """One run of ``bench.mjs`` on the mix file (a warm-up pass, then ``passes`` timed): its
    JSON report. Raises ``RuntimeError`` when it cannot run or fails."""
    command = node_command()
    if isinstance(command, str):
        raise RuntimeError(command)
    args = [*command, str(mix), "--passes", str(passes)]
    if out is not None:
        args += ["--out", str(out)]
    env = {**os.environ, "NODE_ENV": "production"}
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.mjs exited {done.returncode}: {done.stderr.strip()[:500]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _assistant_texts(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        m["content"]
        for m in messages
        if m.get("role") == "assistant" and isinstance(m.get("content"), str) and m["content"]
    ]


def same_texts(state: FlowState, legs: Sequence[Leg], final: Mapping[str, Any]) -> str | None:
    """Whether the TypeScript agents hold, for each run flowrx still holds, the assistant texts
    (in order) that flowrx's chat holds for it; what differs first, or None."""
    chat = state.snapshot()["chat"]
    thread_of = {leg.run_id: leg.thread for leg in legs}
    if not chat:
        return "flowrx holds no chat"
    for run_id, messages in chat.items():
        ours = [m["text"] for m in messages if m["kind"] == "content" and m["text"]]
        theirs = _assistant_texts(final[thread_of[run_id]]["messages"])
        if ours != theirs:
            return f"run {run_id}: flowrx's chat has {ours!r}, the client's agent {theirs!r}"
    return None


# --- the benchmark ----------------------------------------------------------------------------

PATCH_WARNING = "warn: Failed to apply state patch:"
"""The one thing the client says on the mix: pydantic-ai's ``state`` capture opens with a
``STATE_DELTA`` adding to ``/items``, which its producer made from the state it was posted
(the app's, not in the capture); an agent starting from ``{}`` cannot apply it and warns (its
next ``STATE_SNAPSHOT`` sets the state). Any other console output makes the mix not
comparable."""


def ts_problem(report: Mapping[str, Any], events: int, legs: int) -> str | None:
    """What makes a ``bench.mjs`` report not a clean run of the whole mix, or None."""
    if report["events"] != events or report["runs"] != legs:
        return f"read {report['events']} events in {report['runs']} runs, not {events} in {legs}"
    if report["failed_runs"]:
        return f"{report['failed_runs']} runs failed: {report['first_failure']}"
    other = {kind: n for kind, n in report["warning_kinds"].items() if kind != PATCH_WARNING}
    if other:
        return f"it said {other}"
    return None


def throughput(events: int = EVENTS, repeats: int = 5, ts: bool = True) -> dict[str, Any]:
    """µs per event (wall and CPU) of flowrx one by one and in bursts, and of the TypeScript
    client (when ``ts`` and it can run), on a mix of about ``events`` events: median of
    ``repeats``, interleaved."""
    legs = build_mix(copies_for(events))
    n = mix_events(legs)
    found = check_flowrx(legs)
    if found is not None:
        raise SystemExit(f"not comparable: {found}")
    result: dict[str, Any] = {
        "agui_events": n,
        "agui_legs": len(legs),
        "agui_threads": len({leg.thread for leg in legs}),
    }

    def timed(**options: Any) -> Callable[[], tuple[float, float]]:
        def one() -> tuple[float, float]:
            done = flowrx_pass(legs, **options)
            return done.wall, done.cpu

        return one

    passes: dict[str, Callable[[], tuple[float, float]]] = {
        "flowrx": timed(),
        "flowrx_burst": timed(bursts=True),
    }
    text: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="flowrx-agui-") as tmp:
        mix = Path(tmp) / "mix.json"
        command = node_command() if ts else "not asked for (--no-ts)"
        if isinstance(command, str):
            result["ts_missing"] = command
        else:
            write_mix(legs, mix)
            final = Path(tmp) / "final.json"
            try:
                first = ts_pass(mix, passes=1, out=final)  # the check: untimed
            except RuntimeError as exc:
                raise SystemExit(f"the TypeScript client: {exc}") from None
            problem = ts_problem(first, n, len(legs))
            if problem is None:
                state = flowrx_pass(legs).state
                problem = same_texts(state, legs, json.loads(final.read_text("utf-8")))
            if problem is not None:
                raise SystemExit(f"not comparable: the TypeScript client: {problem}")
            result.update(
                ts_client=first["client"],
                ts_node=first["node"],
                ts_messages=first["messages"],
                ts_messages_by_role=first["messages_by_role"],
                ts_state_changes_per_pass=first["state_changes_per_pass"],
                ts_patch_warnings_per_pass=first["warning_kinds"].get(PATCH_WARNING, 0)
                / first["passes_run"],
            )

            def one_ts() -> tuple[float, float]:  # a fresh process: it warms up itself
                report = ts_pass(mix)
                text.append(
                    (
                        report["us_per_event_text"] * n / 1e6,
                        report["cpu_us_per_event_text"] * n / 1e6,
                    )
                )
                return report["us_per_event"] * n / 1e6, report["cpu_us_per_event"] * n / 1e6

            passes["ts"] = one_ts
        for name, one in passes.items():  # warm-up (the node process warms up on its own)
            if name != "ts":
                gc.collect()
                one()
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in passes}
        for _ in range(repeats):
            for name, one in passes.items():
                gc.collect()
                times[name].append(one())
    if text:
        times["ts_text"] = text
    for name, seconds in times.items():
        wall = statistics.median(w for w, _ in seconds)
        cpu = statistics.median(c for _, c in seconds)
        result[f"{name}_us_per_event"] = wall / n * 1e6
        result[f"{name}_events_per_s"] = n / wall
        result[f"{name}_cpu_us_per_event"] = cpu / n * 1e6
        result[f"{name}_passes_us"] = [round(w / n * 1e6, 2) for w, _ in seconds]
    return result


def flowrx_figures(events: int = EVENTS, repeats: int = 5) -> dict[str, Any]:
    """flowrx's AG-UI figures alone, as ``bench.py`` reports them: events (frames) per second
    and µs per event one at a time (``agui_fps``, ``agui_us_per_event``) and in bursts."""
    found = throughput(events, repeats, ts=False)
    return {
        "agui_events": found["agui_events"],
        "agui_fps": found["flowrx_events_per_s"],
        "agui_us_per_event": found["flowrx_us_per_event"],
        "agui_burst_fps": found["flowrx_burst_events_per_s"],
        "agui_burst_us_per_event": found["flowrx_burst_us_per_event"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"about {QUICK_EVENTS:,} events")
    parser.add_argument("--events", type=int, help=f"about this many events (default {EVENTS:,})")
    parser.add_argument("--no-ts", action="store_true", help="flowrx alone (no node)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    events = args.events or (QUICK_EVENTS if args.quick else EVENTS)
    if events < 1:
        parser.error("--events must be at least 1")
    result: dict[str, Any] = {"quick": args.quick, "cpus": os.cpu_count()}
    result.update(throughput(events, ts=not args.no_ts))
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return
    print(
        f"AG-UI mix: {result['agui_events']:,} events in {result['agui_legs']:,} legs on "
        f"{result['agui_threads']:,} threads (examples/agui, repeated); median of 5"
    )
    rows = [
        ("flowrx, one event at a time", "flowrx"),
        ("flowrx, each leg as one burst", "flowrx_burst"),
        ("@ag-ui/client runAgent, event objects", "ts"),
        ("@ag-ui/client runAgent, from JSON text", "ts_text"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{'':<{width}}  {'µs/event':>9}  {'events/s':>9}  {'CPU µs/event':>12}")
    for label, key in rows:
        if f"{key}_us_per_event" not in result:
            print(f"{label:<{width}}  missing: {result.get('ts_missing')}")
            continue
        us, cpu = result[f"{key}_us_per_event"], result[f"{key}_cpu_us_per_event"]
        print(f"{label:<{width}}  {us:>9.1f}  {1e6 / us:>9,.0f}  {cpu:>12.1f}")


if __name__ == "__main__":
    main()
