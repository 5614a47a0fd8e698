"""Visual concern: which node glows, per run (behaviour §1).

Rules, as a pure reducer:

* ``start_node`` → the node shows ``executing`` and loses any ``executed-*`` class; a pending
  end transition of that node in that run is cancelled (the original let the stale one fire).
* ``end_node(status)`` → ``end_window`` (500 ms) after it arrives, ``executing`` gives way to
  ``executed-<status>``. A repeated ``end_node`` keeps the original deadline.
* ``run_end``/``resume_end`` → that run's classes are cleared; if a transition is still pending
  the clear waits for it plus ``clear_margin`` (at most 600 ms after the end).
* Background runs keep their tracked state but emit no glow; foregrounding re-emits it.
* :class:`~flowrx.messages.Evict` drops the run and cancels its timers.

Timeline (``-`` = 100 ms)::

    start_node  s---------e-----|         (e = end_node success)
    glow        executing------- executed-success
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import (
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

__all__ = ["Pending", "VisualRun", "VisualState", "reduce_visual", "visual_concern"]

NAME = "visual"
_EVENTS = frozenset(
    {"run_start", "run_end", "resume_start", "resume_end", "start_node", "end_node"}
)


@attrs.frozen
class Pending:
    """An end transition waiting for its window: the status to show and when."""

    status: str
    due: float


@attrs.frozen
class VisualRun:
    """One run's glow: a class per node, the pending transitions, and whether it is cleared."""

    nodes: Mapping[str, str] = attrs.field(factory=dict)
    pending: Mapping[str, Pending] = attrs.field(factory=dict)
    clearing: bool = False
    background: bool = False


@attrs.frozen
class VisualState:
    """Glow of every run the concern holds."""

    runs: Mapping[str, VisualRun] = attrs.field(factory=dict)


def _glow(run_id: str, run: VisualRun, node_id: str) -> tuple[Effect, ...]:
    if run.background:
        return ()
    cls = run.nodes.get(node_id)
    return (Change(NAME, "glow", run_id, node_id, (cls,) if cls else ()),)


def _put(state: VisualState, run_id: str, run: VisualRun) -> VisualState:
    return VisualState(runs=assoc(state.runs, run_id, run))


def _clear(
    state: VisualState, run_id: str, run: VisualRun
) -> tuple[VisualState, tuple[Effect, ...]]:
    effects: list[Effect] = [CancelTimer(("end", run_id, n)) for n in run.pending]
    if not run.background:
        effects.extend(Change(NAME, "glow", run_id, n, ()) for n in run.nodes)
    return VisualState(runs=dissoc(state.runs, run_id)), tuple(effects)


def _execution(
    state: VisualState, msg: ExecutionEvent, now: float, config: Config
) -> tuple[VisualState, tuple[Effect, ...]]:
    run_id = msg.run_id
    run = state.runs.get(run_id) or VisualRun()
    event = msg.event
    if event in ("run_start", "resume_start"):
        effects: tuple[Effect, ...] = ()
        if run.clearing:
            effects = (CancelTimer(("clear", run_id)),)
        return _put(state, run_id, evolve(run, clearing=False)), effects
    if event in ("run_end", "resume_end"):
        if not run.pending:
            return _clear(state, run_id, run)
        last_due = max(p.due for p in run.pending.values())
        delay = min(last_due + config.clear_margin - now, config.end_window + config.clear_margin)
        run = evolve(run, clearing=True)
        return _put(state, run_id, run), (StartTimer(("clear", run_id), max(delay, 0.0)),)
    node_id = msg.node_id
    if node_id is None:  # parse guarantees a node on node events; defensive for hand-made ones
        return state, ()
    if event == "start_node":
        effects = (CancelTimer(("end", run_id, node_id)),) if node_id in run.pending else ()
        run = evolve(
            run, nodes=assoc(run.nodes, node_id, "executing"), pending=dissoc(run.pending, node_id)
        )
        return _put(state, run_id, run), effects + _glow(run_id, run, node_id)
    # end_node
    status = msg.status or "success"
    previous = run.pending.get(node_id)
    if previous is not None:  # a repeated end keeps the original deadline
        run = evolve(run, pending=assoc(run.pending, node_id, Pending(status, previous.due)))
        return _put(state, run_id, run), ()
    was = run.nodes.get(node_id)
    run = evolve(
        run,
        nodes=assoc(run.nodes, node_id, "executing"),
        pending=assoc(run.pending, node_id, Pending(status, now + config.end_window)),
    )
    timer = StartTimer(("end", run_id, node_id), config.end_window)
    glow = () if was == "executing" else _glow(run_id, run, node_id)  # no change to redraw
    return _put(state, run_id, run), (timer, *glow)


def _timer(
    state: VisualState, msg: TimerFired, now: float
) -> tuple[VisualState, tuple[Effect, ...]]:
    key: Any = msg.key
    run = state.runs.get(key[1])
    if run is None:
        return state, ()
    run_id = key[1]
    if key[0] == "clear":
        return _clear(state, run_id, run)
    node_id = key[2]
    pending = run.pending.get(node_id)
    if pending is None:  # cancelled or superseded: state is the authority, not the timer
        return state, ()
    run = evolve(
        run,
        nodes=assoc(run.nodes, node_id, f"executed-{pending.status}"),
        pending=dissoc(run.pending, node_id),
    )
    return _put(state, run_id, run), _glow(run_id, run, node_id)


def reduce_visual(
    state: VisualState, msg: Input, now: float, config: Config = Config()
) -> tuple[VisualState, tuple[Effect, ...]]:
    """Apply one message (or fired timer) to the glow state; return the new state and effects."""
    if isinstance(msg, ExecutionEvent):
        return _execution(state, msg, now, config)
    if isinstance(msg, TimerFired):
        return _timer(state, msg, now)
    if isinstance(msg, Evict):
        run = state.runs.get(msg.run_id)
        if run is None:
            return state, ()
        new, effects = _clear(state, msg.run_id, run)
        return new, (*effects, CancelTimer(("clear", msg.run_id)))
    if isinstance(msg, Background | Foreground):
        run = state.runs.get(msg.run_id)
        if run is None:
            return state, ()
        run = evolve(run, background=isinstance(msg, Background))
        glow = tuple(
            Change(NAME, "glow", msg.run_id, n, () if run.background else (c,))
            for n, c in run.nodes.items()
        )
        return _put(state, msg.run_id, run), glow
    return state, ()


def visual_section(state: VisualState) -> dict[str, list[str]]:
    """The snapshot's ``visual`` section: classes per node over foreground runs."""
    out: dict[str, set[str]] = {}
    for run in state.runs.values():
        if run.background:
            continue
        for node_id, cls in run.nodes.items():
            out.setdefault(node_id, set()).add(cls)
    return {node: sorted(classes) for node, classes in sorted(out.items())}


def _accepts(msg: Message) -> bool:
    if isinstance(msg, ExecutionEvent):
        return msg.event in _EVENTS
    return isinstance(msg, Evict | Background | Foreground)


def visual_concern(config: Config = Config()) -> Concern[VisualState]:
    """The visual concern's card for the pipeline."""
    return Concern(
        name=NAME,
        initial=VisualState(),
        reduce=lambda s, m, now: reduce_visual(s, m, now, config),
        accepts=_accepts,
        section=visual_section,
        surface=visual_section,
    )
