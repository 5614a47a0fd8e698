"""Tool concern: ``executing-tool`` glow on tool nodes while an agent uses them (behaviour §4).

* ``start_tool``/``start_tool_or_member`` on a node → it shows ``executing-tool``.
* Each call's glow lasts until ``max(end arrival, start arrival + tool_window)`` (2 s). Calls on
  one node overlap: the glow stays while any call is open or inside its window (a second call
  during the first's window is never ignored).
* An ``end_tool`` with no open call is counted (``orphan_tool_end``), not an error.
* ``run_end``/``resume_end`` ends the run's open calls at that moment; their glow then lasts
  out its window and the run's tool glow is gone. Eviction cancels everything.

Timeline of a 50 ms call (``-`` = 100 ms)::

    start_tool  s-------------------
    end_tool    e-------------------
    glow        ####################|     2 s from the start
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import (
    TIME_RESOLUTION,
    CancelTimer,
    Change,
    Concern,
    Effect,
    Input,
    StartTimer,
    TimerFired,
)
from flowrx.config import Config
from flowrx.messages import Background, Evict, ExecutionEvent, Foreground, Message

__all__ = ["Call", "ToolRun", "ToolState", "reduce_tool", "tool_concern", "tool_section"]

NAME = "tool"
CLASS = "executing-tool"
_STARTS = frozenset({"start_tool", "start_tool_or_member"})
_ENDS = frozenset({"end_tool", "end_tool_or_member"})
_RUN_ENDS = frozenset({"run_end", "resume_end"})
_EPSILON = TIME_RESOLUTION


@attrs.frozen
class Call:
    """One tool call: when it started and, once known, when it ended."""

    started: float
    ended: float | None = None

    def glow_until(self, window: float) -> float | None:
        """When this call's glow may go out (None while it is open)."""
        if self.ended is None:
            return None
        return max(self.ended, self.started + window)


@attrs.frozen
class ToolRun:
    """One run's glowing tool nodes and their calls (oldest first).

    A run is held while a node glows, and while it is in the background even with no node
    lit, so that its next call stays hidden too.
    """

    nodes: Mapping[str, tuple[Call, ...]] = attrs.field(factory=dict)
    background: bool = False


@attrs.frozen
class ToolState:
    """Tool glow of every run held, and the count of tool ends without a call."""

    runs: Mapping[str, ToolRun] = attrs.field(factory=dict)
    orphan_tool_end: int = 0


Step = tuple[ToolState, tuple[Effect, ...]]


def _until(calls: tuple[Call, ...], window: float) -> float | None:
    """When the node's glow may go out (``-inf`` without calls), or None while any is open."""
    ends = [c.glow_until(window) for c in calls]
    if any(e is None for e in ends):
        return None
    return max((e for e in ends if e is not None), default=float("-inf"))


def _settle(
    state: ToolState,
    run_id: str,
    run: ToolRun,
    node_id: str,
    calls: tuple[Call, ...],
    now: float,
    config: Config,
) -> Step:
    """Store a node's calls; put the glow out or ask for the timer that will."""
    was_on = node_id in run.nodes
    # calls whose window has passed no longer glow: drop them, so a node lit without a break
    # by many calls keeps only those that still matter
    calls = tuple(
        c for c in calls if (u := c.glow_until(config.tool_window)) is None or u > now + _EPSILON
    )
    until = _until(calls, config.tool_window)
    key = ("tool", run_id, node_id)
    if until is not None and until <= now + _EPSILON:
        run = evolve(run, nodes=dissoc(run.nodes, node_id))
        effects: tuple[Effect, ...] = (CancelTimer(key),)
        if was_on and not run.background:
            effects += (Change(NAME, "glow", run_id, node_id, ()),)
    else:
        run = evolve(run, nodes=assoc(run.nodes, node_id, calls))
        effects = (CancelTimer(key),) if until is None else (StartTimer(key, until - now),)
        if not was_on and not run.background:
            effects += (Change(NAME, "glow", run_id, node_id, (CLASS,)),)
    return evolve(state, runs=_put(state.runs, run_id, run)), effects


def _put(runs: Mapping[str, ToolRun], run_id: str, run: ToolRun) -> Mapping[str, ToolRun]:
    """Store a run, or drop it when nothing of it needs remembering."""
    if not run.nodes and not run.background:
        return dissoc(runs, run_id)
    return assoc(runs, run_id, run)


def _execution(state: ToolState, msg: ExecutionEvent, now: float, config: Config) -> Step:
    run_id = msg.run_id
    run = state.runs.get(run_id) or ToolRun()
    if msg.event in _RUN_ENDS:
        effects: list[Effect] = []
        for tool_node, calls in run.nodes.items():
            closed = tuple(c if c.ended is not None else Call(c.started, now) for c in calls)
            state, more = _settle(state, run_id, run, tool_node, closed, now, config)
            run = state.runs.get(run_id) or ToolRun(background=run.background)
            effects.extend(more)
        return state, tuple(effects)
    node_id = msg.node_id
    if node_id is None:
        return state, ()
    calls = run.nodes.get(node_id, ())
    if msg.event in _STARTS:
        return _settle(state, run_id, run, node_id, (*calls, Call(now)), now, config)
    # an end: the oldest open call of that node
    for i, call in enumerate(calls):
        if call.ended is None:
            closed = (*calls[:i], Call(call.started, now), *calls[i + 1 :])
            return _settle(state, run_id, run, node_id, closed, now, config)
    return evolve(state, orphan_tool_end=state.orphan_tool_end + 1), ()


def reduce_tool(state: ToolState, msg: Input, now: float, config: Config = Config()) -> Step:
    """Apply one message (or fired timer) to the tool glow."""
    if isinstance(msg, ExecutionEvent):
        return _execution(state, msg, now, config)
    if isinstance(msg, TimerFired):
        key: Any = msg.key
        run = state.runs.get(key[1])
        if run is None or key[2] not in run.nodes:
            return state, ()
        calls = run.nodes[key[2]]
        # drop the calls whose window has passed; keep what still glows
        return _settle(state, key[1], run, key[2], calls, now, config)
    if isinstance(msg, Evict):
        run = state.runs.get(msg.run_id)
        if run is None:
            return state, ()
        effects: list[Effect] = []
        for node_id in run.nodes:
            effects.append(CancelTimer(("tool", msg.run_id, node_id)))
            if not run.background:
                effects.append(Change(NAME, "glow", msg.run_id, node_id, ()))
        return evolve(state, runs=dissoc(state.runs, msg.run_id)), tuple(effects)
    if isinstance(msg, Background | Foreground):
        # a run sent to the background before its first call is remembered as such
        run = state.runs.get(msg.run_id) or ToolRun()
        run = evolve(run, background=isinstance(msg, Background))
        value: tuple[str, ...] = () if run.background else (CLASS,)
        glow = tuple(Change(NAME, "glow", msg.run_id, n, value) for n in run.nodes)
        return evolve(state, runs=_put(state.runs, msg.run_id, run)), glow
    return state, ()


def tool_section(state: ToolState) -> dict[str, list[str]]:
    """The snapshot's ``tool`` section: ``executing-tool`` per glowing node (foreground runs)."""
    nodes = {n for run in state.runs.values() if not run.background for n in run.nodes}
    return {node: [CLASS] for node in sorted(nodes)}


def _accepts(msg: Message) -> bool:
    if isinstance(msg, ExecutionEvent):
        return msg.event in _STARTS or msg.event in _ENDS or msg.event in _RUN_ENDS
    return isinstance(msg, Evict | Background | Foreground)


def tool_concern(config: Config = Config()) -> Concern[ToolState]:
    """The tool concern's card for the pipeline."""
    return Concern(
        name=NAME,
        initial=ToolState(),
        reduce=lambda s, m, now: reduce_tool(s, m, now, config),
        accepts=_accepts,
        section=tool_section,
        counters=lambda s: {"orphan_tool_end": s.orphan_tool_end},
        surface=tool_section,
    )
