"""Intake: every frame parsed, deduplicated per run, accounted for exactly once (behaviour §0).

:func:`reduce_intake` is a pure state machine over one input at a time (a raw frame or a host
control message). It returns the new state and what to forward: typed messages for the
concerns, :class:`~flowrx.messages.Evict` when a run leaves, and :class:`Notice` records for
the log. Counters hold the identity ``frames == messages + heartbeats + rejected + duplicates``
(``unknown`` and ``late`` are messages that are counted besides).

Dedup memory is **per run** and leaves with the run; it is never wiped globally:

* ``start_node``/``end_node``/``run_start``/``run_end``: same ``(event, node_id, order,
  status)`` seen for that run since its last resume;
* chat frames: same ``(sequence_id, microtime)`` since the last resume (a chunk without
  ``sequence_id`` cannot be told from a repeat and is kept);
* anything else (tool, resume, pause, interaction frames): byte-identical to a frame of that
  run accepted within ``dedupe_window`` (two calls of one tool look alike, so no longer).

Runs are registered on their first frame; when one more than ``max_runs`` appears, the oldest
is evicted from every concern. Frames of an evicted run, and node or tool frames of an ended
(not resumed) run, are ``late``: counted and not forwarded.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping
from typing import Any

import attrs

from flowrx.messages import (
    KNOWN_STATUSES,
    AgnoEvent,
    Background,
    ChatHTML,
    ClearRun,
    Control,
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
from flowrx.operators._maps import assoc, dissoc, evolve
from flowrx.operators.effects import Config

__all__ = ["Counters", "IntakeState", "Notice", "RunIntake", "reduce_intake"]

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


@attrs.frozen
class Counters:
    """What intake has seen, in the terms of ``snapshot/1``'s diagnostics."""

    frames: int = 0
    messages: int = 0
    heartbeats: int = 0
    rejected: int = 0
    duplicates: int = 0
    unknown: int = 0
    late: int = 0
    unknown_status: int = 0

    def as_json(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return attrs.asdict(self)


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


@attrs.frozen
class IntakeState:
    """Counters, per-run dedup memory (arrival order), recently evicted runs."""

    counters: Counters = Counters()
    runs: Mapping[str, RunIntake] = attrs.field(factory=dict)
    evicted: Mapping[str, None] = attrs.field(factory=dict)
    """Recently evicted runs, oldest first (a bounded, ordered set)."""
    unknown_names: frozenset[str] = frozenset()


@attrs.frozen
class Notice:
    """Something the log should say about a frame: ``rejected``, ``duplicate``, ``late``,
    ``unknown_event`` (once per name) or ``evicted``."""

    kind: str
    detail: str
    run_id: str | None = None


Output = Message | Notice
Result = tuple[IntakeState, tuple[Output, ...]]


def _text(frame: object) -> str:
    if isinstance(frame, str):
        return frame
    if isinstance(frame, bytes | bytearray):
        return bytes(frame).decode("utf-8", "replace")
    try:
        return json.dumps(frame, sort_keys=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        return repr(frame)


def _count(state: IntakeState, **delta: int) -> IntakeState:
    """The state with counters bumped (the rare paths; the common path builds them once)."""
    c = state.counters
    counters = Counters(
        c.frames + delta.get("frames", 0),
        c.messages + delta.get("messages", 0),
        c.heartbeats + delta.get("heartbeats", 0),
        c.rejected + delta.get("rejected", 0),
        c.duplicates + delta.get("duplicates", 0),
        c.unknown + delta.get("unknown", 0),
        c.late + delta.get("late", 0),
        c.unknown_status + delta.get("unknown_status", 0),
    )
    return IntakeState(counters, state.runs, state.evicted, state.unknown_names)


def _dedupe_key(msg: Message) -> Hashable | None:
    """The per-run identity of a message, or None when only byte identity can tell."""
    if isinstance(msg, ExecutionEvent) and msg.event in _KEYED:
        return (msg.event, msg.node_id, msg.order, msg.status)
    if isinstance(msg, AgnoEvent | ChatHTML):
        if msg.sequence_id is None:
            return ("chat-unkeyed",)
        return ("chat", msg.sequence_id, msg.microtime)
    return None


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
    before = state.counters
    state = _count(state, frames=1)
    parsed = parse(item)
    if isinstance(parsed, Heartbeat):
        return _count(state, heartbeats=1), ()
    if isinstance(parsed, Rejected):
        return _count(state, rejected=1), (Notice("rejected", parsed.reason),)
    run_id = parsed.run_id
    if run_id is None:  # only Unknown frames may lack a run: no dedup memory to consult
        return _unknown(_count(state, messages=1), parsed)
    if run_id in state.evicted:
        return _count(state, messages=1, late=1), (
            Notice("late", f"{parsed.event} of evicted run", run_id),
        )
    out: list[Output] = []
    run = state.runs.get(run_id)
    if run is None:
        if len(state.runs) >= config.max_runs:
            state, evicted = _evict(state, next(iter(state.runs)), "evicted")
            out.extend(evicted)
        run = RunIntake()
    # duplicates
    key = _dedupe_key(parsed)
    keys = run.keys
    fresh = run.fresh
    recent = run.recent
    if key is None:
        text = _text(item)
        recent = tuple(r for r in recent if now - r[0] < config.dedupe_window)
        if any(r[1] == text for r in recent):
            return _count(state, duplicates=1), (Notice("duplicate", parsed.event, run_id),)
        recent = (*recent, (now, text))
    elif key != ("chat-unkeyed",):
        if run.seen(key):
            return _count(state, duplicates=1), (Notice("duplicate", parsed.event, run_id),)
        fresh = fresh | {key}
        if len(fresh) >= _FRESH:
            keys, fresh = keys | fresh, frozenset()
    # late node and tool frames of an ended run
    ended = run.ended
    if isinstance(parsed, ExecutionEvent):
        if ended and parsed.event in _NODE_OR_TOOL:
            return _count(state, messages=1, late=1), (Notice("late", parsed.event, run_id),)
        if parsed.event in ("run_end", "resume_end"):
            ended = True
        elif parsed.event == "resume_start":
            ended = False
            keys = fresh = frozenset()
    odd = int(
        isinstance(parsed, ExecutionEvent)
        and parsed.event == "end_node"
        and parsed.status not in KNOWN_STATUSES
    )
    c = before  # the common path: one Counters, one RunIntake, one IntakeState
    counters = Counters(
        c.frames + 1,
        c.messages + 1,
        c.heartbeats,
        c.rejected,
        c.duplicates,
        c.unknown,
        c.late,
        c.unknown_status + odd,
    )
    runs = assoc(state.runs, run_id, RunIntake(keys, recent, ended, fresh))
    state = IntakeState(counters, runs, state.evicted, state.unknown_names)
    if isinstance(parsed, Unknown):
        state, notes = _unknown(state, parsed)
        return state, (*out, *notes)
    out.append(parsed)
    return state, tuple(out)


def _unknown(state: IntakeState, msg: Any) -> Result:
    """Count an unknown event, note its name once, and forward it (it is a message)."""
    state = _count(state, unknown=1)
    out: list[Output] = [msg]
    name = msg.event
    if name not in state.unknown_names and len(state.unknown_names) < _UNKNOWN_NAMES_MEMORY:
        state = evolve(state, unknown_names=state.unknown_names | {name})
        out.append(Notice("unknown_event", name[:80], msg.run_id))
    return state, tuple(out)
