"""Intake: every frame parsed, deduplicated per run, accounted for exactly once (behaviour §0).

:func:`reduce_intake` is a pure state machine over one input at a time (a raw frame or a host
control message). It returns the new state and what to forward: typed messages for the
concerns, :class:`~flowrx.messages.Evict` when a run leaves, and :class:`Notice` records for
the log. Counters hold the identity ``frames == messages + heartbeats + rejected + duplicates``
(``unknown`` and ``late`` are messages that are counted besides). ``violations`` (messages
that break their protocol's rules; the platform states none, so it stays 0) is kept so that
every protocol reports the same counters.

Dedup memory is **per run** and leaves with the run; it is never wiped globally:

* ``start_node``/``end_node``/``run_start``/``run_end``: same ``(event, node_id, order,
  status)`` seen for that run since its last resume;
* chat frames: same ``(sequence_id, microtime)`` since the last resume (a chunk without
  ``sequence_id`` cannot be told from a repeat and is kept);
* anything else (tool, resume, pause, interaction frames): byte-identical to one of the last
  256 frames of that run accepted within ``dedupe_window`` (two calls of one tool look alike,
  so no longer).

Runs are registered on their first frame that flowrx understands; when one more than
``max_runs`` appears, the oldest is evicted from every concern. An
:class:`~flowrx.messages.Unknown` frame (an event name nobody handles, such as one a newer Agno
adds) of a run intake does not hold registers nothing and evicts nothing: it is counted,
noticed once per name (at most 256 names are remembered) and forwarded, and no concern makes
state of it; of a held run it is deduplicated like any other frame. Frames of an evicted run,
and node or tool frames of an ended (not resumed) run, are ``late``: counted and not forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any, Final

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.config import Config
from flowrx.messages import (
    KNOWN_STATUSES,
    AgnoEvent,
    Background,
    ChatHTML,
    ClearRun,
    Control,
    EndOfStream,
    Evict,
    ExecutionEvent,
    Foreground,
    Heartbeat,
    Message,
    Rejected,
    ResolveInteraction,
    Unknown,
    parse,
)
from flowrx.protocols.card import Counters, Notice, Protocol

__all__ = ["PLATFORM", "Counters", "IntakeState", "RunIntake", "reduce_intake"]

_KEYED = frozenset({"start_node", "end_node", "run_start", "run_end"})
_NODE_OR_TOOL = frozenset(
    {
        "start_node",
        "end_node",
        "start_tool",
        "end_tool",
        "start_tool_or_member",
        "end_tool_or_member",
    }
)
_EVICTED_MEMORY = 1024
_FRESH = 64
_UNKNOWN_NAMES_MEMORY = 256
_RECENT = 256
"""At most this many byte-compared frames are remembered per run within ``dedupe_window``: a
burst (or a plain JSON Lines file, all at ``t = 0``) costs linear time, not quadratic."""
_EMPTY: frozenset[Hashable] = frozenset()
_BYTES: Final = ("bytes",)
"""Dedup key marker: only byte identity within ``dedupe_window`` can tell a repeat."""


@attrs.frozen
class RunIntake:
    """One run's dedup memory and whether it has ended.

    The keys seen are split in two frozensets: ``fresh`` (at most ``_FRESH`` keys, copied on
    each new key) and ``keys`` (the rest, rebuilt once per ``_FRESH`` keys), so remembering a
    key costs O(_FRESH) copying instead of O(keys of the run).
    """

    keys: frozenset[Hashable] = frozenset()
    recent: tuple[tuple[float, str], ...] = ()
    ended: bool = False
    fresh: frozenset[Hashable] = frozenset()

    def seen(self, key: Hashable) -> bool:
        """Whether ``key`` is remembered for this run."""
        return key in self.fresh or key in self.keys


_NEW_RUN: Final = RunIntake()


@attrs.frozen
class IntakeState:
    """Counters, per-run dedup memory (arrival order), recently evicted runs."""

    counters: Counters = attrs.field(factory=Counters)
    runs: Mapping[str, RunIntake] = attrs.field(factory=dict)
    evicted: Mapping[str, None] = attrs.field(factory=dict)
    """Recently evicted runs, oldest first (a bounded, ordered set)."""
    unknown_names: frozenset[str] = frozenset()


Output = Message | Notice
Result = tuple[IntakeState, tuple[Output, ...]]


def _text(frame: object) -> str:
    if isinstance(frame, str):
        return frame
    if isinstance(frame, bytes | bytearray):
        return bytes(frame).decode("utf-8", "replace")
    try:
        return json.dumps(frame, sort_keys=True, default=repr)
    except Exception:  # a host's object that neither JSON nor its repr can write
        try:
            return repr(frame)
        except Exception:  # unique to this object: it is never taken for another's repeat
            return f"<{type(frame).__name__} at {id(frame):#x}>"


def _count(state: IntakeState, **delta: int) -> IntakeState:
    """The state with counters bumped (the rare paths; the common path builds them once)."""
    return IntakeState(state.counters.plus(delta), state.runs, state.evicted, state.unknown_names)


def _evict(state: IntakeState, run_id: str, reason: str) -> Result:
    evicted = assoc(state.evicted, run_id, None)
    if len(evicted) > _EVICTED_MEMORY:
        del evicted[next(iter(evicted))]
    new = evolve(state, runs=dissoc(state.runs, run_id), evicted=evicted)
    return new, (Evict(run_id, reason), Notice("evicted", reason, run_id))


def _control(state: IntakeState, msg: Control) -> Result:
    if isinstance(msg, ClearRun):
        if msg.run_id not in state.runs:
            return state, (Notice("control", "clear of an unknown run", msg.run_id),)
        return _evict(state, msg.run_id, "cleared")
    if isinstance(msg, Background | Foreground) and msg.run_id not in state.runs:
        # a run intake does not hold would leave state no eviction ever removes
        return state, (Notice("control", f"{msg.event} of an unknown run", msg.run_id),)
    return state, (msg,)


def reduce_intake(
    state: IntakeState, item: object, now: float, config: Config = Config()
) -> Result:
    """Account for one input (frame or control) and say what to forward."""
    if isinstance(item, ClearRun | Background | Foreground | ResolveInteraction):
        return _control(state, item)
    if isinstance(item, EndOfStream):
        return state, ()  # the platform's runs end by their frames, never by the socket's end
    msg: Any = parse(item)  # dispatched on its exact type below (cheaper than isinstance)
    kind = type(msg)
    if kind is Heartbeat:
        return _count(state, frames=1, heartbeats=1), ()
    if kind is Rejected:
        return _count(state, frames=1, rejected=1), (Notice("rejected", msg.reason),)
    run_id = msg.run_id
    if run_id is None:  # only Unknown frames may lack a run: no dedup memory to consult
        return _unknown(_count(state, frames=1, messages=1), msg)
    if run_id in state.evicted:
        return _count(state, frames=1, messages=1, late=1), (
            Notice("late", f"{msg.event} of evicted run", run_id),
        )
    out: list[Output] = []
    run = state.runs.get(run_id)
    if run is None:
        if kind is Unknown:  # not understood: it registers no run, so it can evict none
            return _unknown(_count(state, frames=1, messages=1), msg)
        if len(state.runs) >= config.max_runs:
            state, evicted = _evict(state, next(iter(state.runs)), "evicted")
            out.extend(evicted)
        run = _NEW_RUN
    event: str = msg.event
    execution = kind is ExecutionEvent
    # duplicates
    keys = run.keys
    fresh = run.fresh
    recent = run.recent
    if execution and event in _KEYED:
        key: Hashable = (event, msg.node_id, msg.order, msg.status)
    elif kind is AgnoEvent or kind is ChatHTML:
        sequence_id = msg.sequence_id
        key = None if sequence_id is None else (sequence_id, msg.microtime)
    else:
        key = _BYTES
    if key is _BYTES:
        text = _text(item)
        window = config.dedupe_window
        recent = tuple(r for r in recent if now - r[0] < window)
        for r in recent:
            if r[1] == text:
                return _count(state, frames=1, duplicates=1), (Notice("duplicate", event, run_id),)
        recent = (*recent[1 - _RECENT :], (now, text))  # within the window, the latest few
    elif key is not None:
        if key in fresh or key in keys:
            return _count(state, frames=1, duplicates=1), (Notice("duplicate", event, run_id),)
        if len(fresh) >= _FRESH - 1:
            keys, fresh = keys.union(fresh, (key,)), _EMPTY
        else:
            fresh = fresh.union((key,))
    # late node and tool frames of an ended run
    ended = run.ended
    odd = 0
    if execution:
        if ended and event in _NODE_OR_TOOL:
            return _count(state, frames=1, messages=1, late=1), (Notice("late", event, run_id),)
        if event == "run_end" or event == "resume_end":
            ended = True
        elif event == "resume_start":
            ended = False
            keys = fresh = _EMPTY
        elif event == "end_node" and msg.status not in KNOWN_STATUSES:
            odd = 1
    c = state.counters  # the common path: one Counters, one RunIntake, one IntakeState
    counters = Counters(
        c.frames + 1,
        c.messages + 1,
        c.heartbeats,
        c.rejected,
        c.duplicates,
        c.unknown,
        c.late,
        c.unknown_status + odd,
        c.violations,
    )
    runs = dict(state.runs)
    runs[run_id] = RunIntake(keys, recent, ended, fresh)
    state = IntakeState(counters, runs, state.evicted, state.unknown_names)
    if kind is Unknown:
        state, notes = _unknown(state, msg)
        return state, (*out, *notes)
    if out:
        out.append(msg)
        return state, tuple(out)
    return state, (msg,)


def _unknown(state: IntakeState, msg: Any) -> Result:
    """Count an unknown event, note its name once, and forward it (it is a message)."""
    state = _count(state, unknown=1)
    out: list[Output] = [msg]
    name = msg.event
    if name not in state.unknown_names and len(state.unknown_names) < _UNKNOWN_NAMES_MEMORY:
        state = evolve(state, unknown_names=state.unknown_names | {name})
        out.append(Notice("unknown_event", name[:80], msg.run_id))
    return state, tuple(out)


PLATFORM: Protocol[IntakeState] = Protocol(
    name="platform",
    initial=IntakeState(),
    reduce=reduce_intake,
    counters=lambda state: state.counters.as_json(),
    rejected=lambda state: _count(state, frames=1, rejected=1),
)
"""The flow editor's own execution stream (``wire-protocol.md``)."""
