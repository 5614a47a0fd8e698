"""Helpers for users' own tests: marble streams of frames, flowrx in virtual time, assertions.

A marble string here is read **one character per tick** (``tick`` seconds, default 0.1 s):

* ``-`` advances time by one tick; ``|`` completes the stream;
* any other character is a value, looked up in ``lookup`` (a frame: text or mapping);
* ``(ab)`` emits ``a`` and ``b`` at the same instant (the group's first column); the group
  still occupies its width, so columns stay aligned with other diagrams;
* spaces are not allowed inside diagrams (they would silently shift time in RxPY).

This avoids RxPY's marble pitfalls for flowrx's timings: in ``reactivex.testing.marbles`` a run
of letters (``start``) is *one* value that occupies as many timespans as it has characters,
numbers are cast (``1`` is the int 1, so a lookup keyed ``"1"`` misses), ``hot()`` skips a
value in the first column, spaces do not advance time, and ``exp`` keeps float ticks that rarely
equal ``0.1 * 5`` exactly. Here every value is one character, lookups are by character, times
are ``round(column * tick, 9)``, and expectations are read from the state at a time, so a
0.5 s window is five ticks of 0.1 s and a 2 s window twenty.

Example: the 500 ms end window in five lines::

    from flowrx.testing import exec_frame, run_marbles
    t = run_marbles("s-e", {"s": exec_frame("start_node", "n1", 0),
                            "e": exec_frame("end_node", "n1", 0, "success")})
    assert t.glow("n1", at=0.2 + 0.499) == ["executing"]
    assert t.glow("n1", at=0.2 + 0.5) == ["executed-success"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import reactivex
from reactivex import Observable, abc
from reactivex.subject import Subject

from flowrx.concerns.effects import CancelTimer, Change, Concern, Effect, Reduce, StartTimer
from flowrx.config import Config
from flowrx.graph import FlowGraph
from flowrx.operators.clock import VirtualClock
from flowrx.pipeline import connect
from flowrx.protocols.card import Protocol
from flowrx.sinks.state import FlowState
from flowrx.streams.replay import RecordedFrame, read_recording, replay

__all__ = [
    "Driver",
    "Harness",
    "agno_event",
    "agno_frame",
    "agui_event",
    "end_node",
    "end_tool",
    "exec_frame",
    "fold",
    "glow_changes",
    "marble_frames",
    "parse_marbles",
    "recording_frames",
    "run_end",
    "run_frames",
    "run_marbles",
    "run_start",
    "start_node",
    "start_tool",
    "timer_requests",
]

DEFAULT_RUN = "run-1"
S = TypeVar("S")


def exec_frame(
    event: str,
    node: str | None = None,
    order: int = -1,
    status: str = "running",
    *,
    run: str = DEFAULT_RUN,
    flow: str | None = None,
) -> str:
    """One execution frame as the platform sends it (``run_start``, ``start_node``, ...)."""
    body: dict[str, Any] = {
        "flow_id": flow,
        "run_id": run,
        "node_id": node,
        "event": event,
        "order": order,
        "status": status,
    }
    return json.dumps(body)


def run_start(*, run: str = DEFAULT_RUN, flow: str | None = None) -> str:
    """A ``run_start`` frame: a run event, so no node and order -1."""
    return exec_frame("run_start", run=run, flow=flow)


def run_end(*, run: str = DEFAULT_RUN, flow: str | None = None) -> str:
    """A ``run_end`` frame (the platform always sends it with status ``running``)."""
    return exec_frame("run_end", run=run, flow=flow)


def start_node(
    node: str, order: int = 0, *, run: str = DEFAULT_RUN, flow: str | None = None
) -> str:
    """A ``start_node`` frame: ``node``'s execution number ``order`` begins."""
    return exec_frame("start_node", node, order, run=run, flow=flow)


def end_node(
    node: str,
    order: int = 0,
    status: str = "success",
    *,
    run: str = DEFAULT_RUN,
    flow: str | None = None,
) -> str:
    """An ``end_node`` frame: ``node``'s execution number ``order`` ended with ``status``."""
    return exec_frame("end_node", node, order, status, run=run, flow=flow)


def start_tool(node: str, *, run: str = DEFAULT_RUN, flow: str | None = None) -> str:
    """A ``start_tool`` frame: a tool call on ``node`` begins (tool frames carry order -1)."""
    return exec_frame("start_tool", node, run=run, flow=flow)


def end_tool(node: str, *, run: str = DEFAULT_RUN, flow: str | None = None) -> str:
    """An ``end_tool`` frame: a tool call on ``node`` ended (tool frames carry order -1)."""
    return exec_frame("end_tool", node, run=run, flow=flow)


def agno_frame(event: str, *, run: str = DEFAULT_RUN, **fields: Any) -> str:
    """One Agno chat frame (``RunContent``, ``ToolCallStarted``, ...) with the given fields."""
    body: dict[str, Any] = {
        "event": event,
        "run_id": run,
        "node_id": None,
        "agent_role": "single",
        "is_member_agent": False,
    }
    body.update(fields)
    return json.dumps(body)


def agno_event(event: str, **fields: Any) -> str:
    """One of Agno's own events as its ``to_dict()`` gives it: ``event`` and the fields as
    named (``agno_event("StepStarted", run_id="r1", step_name="a", step_id="s1")``; ``None``
    fields are left out, as ``to_dict()`` drops them). For marbles with ``protocol="agno"``
    (``agno_frame`` is the platform's relay of an Agno chat event, a different wire format)."""
    body: dict[str, Any] = {"event": event}
    body.update({key: value for key, value in fields.items() if value is not None})
    return json.dumps(body)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def agui_event(kind: str, **fields: Any) -> str:
    """One AG-UI event as its producers send it: ``type`` and the fields in camelCase
    (``agui_event("TEXT_MESSAGE_CONTENT", message_id="m1", delta="Hi")``; ``None`` fields are
    left out, as producers omit optional ones). For marbles with ``protocol="agui"``."""
    body: dict[str, Any] = {"type": kind}
    body.update({_camel(key): value for key, value in fields.items() if value is not None})
    return json.dumps(body)


def parse_marbles(
    marbles: str, lookup: Mapping[str, object], *, tick: float = 0.1, start: float = 0.0
) -> tuple[list[RecordedFrame], float | None]:
    """Read a diagram into timed frames, and the completion time (None: never completes).

    Raises ``ValueError`` naming the column of anything it cannot read.
    """
    frames: list[RecordedFrame] = []
    completed: float | None = None
    column = 0
    i = 0
    while i < len(marbles):
        ch = marbles[i]
        at = round(start + column * tick, 9)
        if ch == " ":
            raise ValueError(f"column {i}: spaces are not allowed (they would shift time)")
        if completed is not None:
            raise ValueError(f"column {i}: {ch!r} after the stream completed")
        if ch == "-":
            column += 1
        elif ch == "|":
            completed = at
            column += 1
        elif ch == "(":
            end = marbles.find(")", i)
            if end < 0:
                raise ValueError(f"column {i}: group '(' is never closed")
            for key in marbles[i + 1 : end]:
                frames.append(RecordedFrame(at, _value(key, lookup, i)))
            column += end - i + 1
            i = end
        else:
            frames.append(RecordedFrame(at, _value(ch, lookup, i)))
            column += 1
        i += 1
    return frames, completed


def _value(key: str, lookup: Mapping[str, object], column: int) -> Any:
    if key not in lookup:
        raise ValueError(f"column {column}: {key!r} is not in the lookup ({sorted(lookup)})")
    value = lookup[key]
    if isinstance(value, Mapping):
        return json.dumps(value)
    return value


def marble_frames(
    marbles: str,
    lookup: Mapping[str, object],
    scheduler: abc.SchedulerBase,
    *,
    tick: float = 0.1,
    hot: bool = False,
) -> Observable[Any]:
    """Frames from a diagram, on ``scheduler``: cold (times from subscription) or hot (times
    from the scheduler's zero)."""
    frames, completed = parse_marbles(marbles, lookup, tick=tick)
    if hot:
        offset = float(scheduler.to_seconds(scheduler.now))
        frames = [attrs.evolve(f, t=max(0.0, f.t - offset)) for f in frames]
    stream = replay(frames, scheduler)
    if completed is None:
        return reactivex.concat(stream, reactivex.never())
    return stream


def recording_frames(path: str | os.PathLike[str], scheduler: abc.SchedulerBase) -> Observable[Any]:
    """The frames of a recording file at their recorded times, on ``scheduler``."""
    return replay(read_recording(path).frames, scheduler)


@attrs.define
class Harness:
    """flowrx (or chosen concerns) running in virtual time, with every change recorded."""

    clock: VirtualClock
    state: FlowState
    changes: list[tuple[float, Change]] = attrs.field(factory=list)

    def at(self, t: float) -> dict[str, Any]:
        """The snapshot at time ``t`` (runs the clock forward to ``t``; never backwards)."""
        if t < self.clock.seconds:
            raise ValueError(f"time {t} is before the clock ({self.clock.seconds}): use a new run")
        self.clock.run(until=t)
        return self.state.snapshot()

    def finish(self) -> dict[str, Any]:
        """Let every pending timer fire; the final snapshot."""
        self.clock.run()
        return self.state.snapshot()

    def glow(self, node_id: str, at: float | None = None) -> list[str]:
        """The classes a view shows on ``node_id`` (at ``at``, or now)."""
        snap = self.at(at) if at is not None else self.state.snapshot()
        return list(snap["surface"].get(node_id, []))

    def section(self, name: str, at: float | None = None) -> Any:
        """One snapshot section (at ``at``, or now)."""
        snap = self.at(at) if at is not None else self.state.snapshot()
        return snap[name]

    def effects(
        self, concern: str | None = None, what: str | None = None
    ) -> list[tuple[float, Change]]:
        """The recorded changes so far, filtered by concern and kind."""
        return [
            (t, c)
            for t, c in self.changes
            if (concern is None or c.concern == concern) and (what is None or c.what == what)
        ]


def fold(
    reduce: Reduce[S],
    steps: Iterable[tuple[float, Any]],
    state: S,
) -> tuple[S, list[Effect]]:
    """Run a pure reducer over ``(now, message)`` pairs, without Rx; the last state and every
    effect in order (for reducer tests, the way h11's state machine is tested)."""
    effects: list[Effect] = []
    for now, msg in steps:
        state, out = reduce(state, msg, now)
        effects.extend(out)
    return state, effects


def glow_changes(effects: Iterable[Any]) -> list[tuple[str | None, str | None, Any]]:
    """The glow changes among ``effects``, as ``(run, node, classes)``."""
    return [
        (e.run_id, e.node_id, e.value)
        for e in effects
        if isinstance(e, Change) and e.what == "glow"
    ]


def timer_requests(effects: Iterable[Any]) -> list[StartTimer | CancelTimer]:
    """The timer requests among ``effects``."""
    return [e for e in effects if isinstance(e, StartTimer | CancelTimer)]


class Driver:
    """flowrx fed by hand, for step-by-step tests: push frames at virtual times, read the state.

    ``at(t, *frames)`` runs the clock to ``t`` (every timer due by then fires) and then pushes
    the frames (text, or mappings sent as their JSON). Keyword arguments go to
    :func:`flowrx.connect` (``graph``, ``config``, ``concerns``, ``faults``, ``hooks``,
    ``sinks``).
    """

    def __init__(self, **connect_kwargs: Any) -> None:
        self.clock = VirtualClock()
        self.frames: Subject[Any] = Subject()
        self.state, self.disposable = connect(self.frames, scheduler=self.clock, **connect_kwargs)

    def at(self, t: float, *frames: object) -> None:
        """Advance to ``t`` (running due timers), then push ``frames``."""
        self.clock.run(until=t)
        for frame in frames:
            self.frames.on_next(json.dumps(frame) if isinstance(frame, Mapping) else frame)

    def snapshot(self, t: float | None = None) -> dict[str, Any]:
        """The snapshot (after running the clock to ``t``, when given)."""
        if t is not None:
            self.clock.run(until=t)
        return self.state.snapshot()


def run_frames(
    frames: Sequence[RecordedFrame] | Iterable[RecordedFrame],
    *,
    graph: FlowGraph | None = None,
    config: Config | None = None,
    concerns: Sequence[Concern[Any]] | None = None,
    faults: Mapping[str, float] | None = None,
    protocol: str | Protocol[Any] = "platform",
) -> Harness:
    """Run flowrx over timed frames in virtual time; nothing runs until you ask for a time.
    ``protocol`` names the frames' wire format (``"platform"``, ``"agui"``) or is its card."""
    clock = VirtualClock()
    changes: list[tuple[float, Change]] = []
    state, _ = connect(
        replay(list(frames), clock),
        scheduler=clock,
        graph=graph,
        config=config,
        concerns=concerns,
        faults=faults,
        protocol=protocol,
        sinks=[lambda c: changes.append((clock.seconds, c))],
    )
    return Harness(clock, state, changes)


def run_marbles(
    marbles: str,
    lookup: Mapping[str, object],
    *,
    tick: float = 0.1,
    graph: FlowGraph | None = None,
    config: Config | None = None,
    concerns: Sequence[Concern[Any]] | None = None,
    faults: Mapping[str, float] | None = None,
    protocol: str | Protocol[Any] = "platform",
) -> Harness:
    """Run flowrx over a marble diagram of frames (one character per ``tick``)."""
    frames, _ = parse_marbles(marbles, lookup, tick=tick)
    return run_frames(
        frames, graph=graph, config=config, concerns=concerns, faults=faults, protocol=protocol
    )
