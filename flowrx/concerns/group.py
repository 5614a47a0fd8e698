"""Group concern: group nodes derive their state from their descendants (behaviour §7).

Membership comes from the flow graph; groups nest to any depth and a group's descendants are
all nodes whose chain of enclosing groups reaches it (nested group nodes included: their own
start and end count for their ancestors). Per run, a group is:

* ``executing`` while any descendant is executing or inside its 500 ms end window;
* then ``executed-<worst>`` over the descendants that ended in this run
  (``error`` > ``killed`` > ``unfinished`` > ``success`` > ``provided`` > anything else);
* back to ``executing`` when a descendant starts again.

State is kept as per-node phases plus per-group aggregates updated along the node's ancestor
chain, so an event costs O(depth), and a group's member count is never a snapshot of the
members started so far (the original's groups completed early and then stuck). Only members
count: a node outside a group never colours it. A protocol that learns the flow while it runs
(Agno without a workflow definition) announces each node's enclosing group with
:class:`~flowrx.messages.NodeAnnounced`: the run keeps that membership for the nodes the graph
does not know, so a learned group derives its state exactly as a graph's does. ``run_end``
waits for pending windows (plus ``clear_margin``) and then clears the run's group glow; each
group's final record stays.
Descendants still running at ``run_end`` were cut short and count as ``unfinished``.
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
from flowrx.graph import FlowGraph
from flowrx.messages import Background, Evict, ExecutionEvent, Foreground, Message, NodeAnnounced

__all__ = [
    "GroupAgg",
    "GroupRun",
    "GroupState",
    "Member",
    "group_concern",
    "group_section",
    "reduce_group",
]

NAME = "group"
_RANK = {"error": 5, "killed": 4, "unfinished": 3, "success": 2, "provided": 1}
_EVENTS = frozenset({"start_node", "end_node", "run_end", "resume_end", "resume_start"})


@attrs.frozen
class Member:
    """A descendant's phase in a run: ``running``, ``window`` (ended, inside its 500 ms) or
    ``ended``; its last end status; when its window closes."""

    phase: str
    status: str | None = None
    due: float = 0.0


@attrs.frozen
class GroupAgg:
    """A group's aggregates in one run: active descendants, distinct started and ended, and
    how many descendants last ended with each status."""

    active: int = 0
    started: int = 0
    ended: int = 0
    statuses: Mapping[str, int] = attrs.field(factory=dict)

    @property
    def status(self) -> str | None:
        """``executing``, the worst final status, or None when nothing started."""
        if self.active:
            return "executing"
        live = [s for s, n in self.statuses.items() if n > 0]
        if not live:
            return None
        return max(live, key=lambda s: (_RANK.get(s, 0), s))


@attrs.frozen
class GroupRun:
    """One run: its descendants' phases, its groups' aggregates, glow cleared or not.

    ``dark`` holds the groups whose glow run_end cleared and that no descendant has changed
    since the run resumed: they stay dark (as their members do) until one does.
    """

    members: Mapping[str, Member] = attrs.field(factory=dict)
    groups: Mapping[str, GroupAgg] = attrs.field(factory=dict)
    cleared: bool = False
    clearing: bool = False
    background: bool = False
    dark: frozenset[str] = frozenset()
    parents: Mapping[str, str] = attrs.field(factory=dict)
    """Enclosing groups announced by the protocol (:class:`NodeAnnounced`), by member."""


@attrs.frozen
class GroupState:
    """Group state of every run held."""

    runs: Mapping[str, GroupRun] = attrs.field(factory=dict)


Step = tuple[GroupState, tuple[Effect, ...]]


def _ancestors(run: GroupRun, graph: FlowGraph, node_id: str | None) -> tuple[str, ...]:
    """The node's enclosing groups, innermost first: the graph's for a node it knows, else
    the chain the protocol announced in this run (stopping before a repeat)."""
    if node_id is None:
        return ()
    if not run.parents or graph.node(node_id) is not None:
        return graph.ancestors(node_id)
    chain: list[str] = []
    current = run.parents.get(node_id)
    while current is not None and current != node_id and current not in chain:
        chain.append(current)
        current = run.parents.get(current)
    return tuple(chain) if chain else graph.ancestors(node_id)


def _final(status: str | None) -> bool:
    """A status that counts as an end (``unfinished`` marks a node cut short, not ended)."""
    return status is not None and status != "unfinished"


def _classes(agg: GroupAgg | None) -> tuple[str, ...]:
    status = agg.status if agg is not None else None
    if status is None:
        return ()
    return ("executing",) if status == "executing" else (f"executed-{status}",)


def _transition(
    run: GroupRun, run_id: str, node_id: str, new: Member | None, ancestors: tuple[str, ...]
) -> tuple[GroupRun, tuple[Effect, ...]]:
    """Move one descendant to its new phase and update every ancestor's aggregates."""
    old = run.members.get(node_id)
    groups = dict(run.groups)
    effects: list[Effect] = []
    was_active = old is not None and old.phase != "ended"
    had_ended = old is not None and _final(old.status)
    now_ended = new is not None and _final(new.status)
    is_active = new is not None and new.phase != "ended"
    for group in ancestors:
        agg = groups.get(group) or GroupAgg()
        before = _classes(agg)
        statuses = dict(agg.statuses)
        if old is not None and old.status is not None:
            statuses[old.status] = statuses.get(old.status, 0) - 1
        if new is not None and new.status is not None:
            statuses[new.status] = statuses.get(new.status, 0) + 1
        agg = GroupAgg(
            active=agg.active + int(is_active) - int(was_active),
            started=agg.started + int(old is None and new is not None),
            ended=agg.ended + int(now_ended and not had_ended),
            statuses={s: n for s, n in statuses.items() if n > 0},
        )
        groups[group] = agg
        after = _classes(agg)
        if (after != before or group in run.dark) and not run.background and not run.cleared:
            effects.append(Change(NAME, "glow", run_id, group, after))
    members = assoc(run.members, node_id, new) if new is not None else dissoc(run.members, node_id)
    dark = run.dark.difference(ancestors) if run.dark else run.dark
    return evolve(run, members=members, groups=groups, dark=dark), tuple(effects)


def _clear_glow(run_id: str, run: GroupRun) -> tuple[GroupRun, tuple[Effect, ...]]:
    effects: tuple[Effect, ...] = ()
    if not run.background:
        effects = tuple(
            Change(NAME, "glow", run_id, g, ())
            for g, agg in run.groups.items()
            if _classes(agg) and g not in run.dark
        )
    return evolve(run, cleared=True, clearing=False, dark=frozenset()), effects


def _run_end(
    run_id: str, run: GroupRun, now: float, config: Config, graph: FlowGraph
) -> tuple[GroupRun, tuple[Effect, ...]]:
    effects: list[Effect] = []
    pending = [m.due for m in run.members.values() if m.phase == "window"]
    for node_id, member in list(run.members.items()):
        if member.phase == "running":  # cut short by a pause or a crash: unfinished
            run, more = _transition(
                run, run_id, node_id, Member("ended", "unfinished"), _ancestors(run, graph, node_id)
            )
            effects.extend(more)
    if not pending:
        run, more = _clear_glow(run_id, run)
        return run, (*effects, *more)
    delay = min(max(pending) + config.clear_margin - now, config.end_window + config.clear_margin)
    effects.append(StartTimer(("gclear", run_id), max(delay, 0.0)))
    return evolve(run, clearing=True), tuple(effects)


def _execution(
    state: GroupState, msg: ExecutionEvent, now: float, config: Config, graph: FlowGraph
) -> Step:
    run_id = msg.run_id
    run = state.runs.get(run_id) or GroupRun()
    event = msg.event
    if event == "resume_start":
        effects: tuple[Effect, ...] = (CancelTimer(("gclear", run_id)),) if run.clearing else ()
        # a glow run_end already cleared stays dark until a descendant changes the group
        dark = frozenset(g for g, agg in run.groups.items() if _classes(agg))
        run = evolve(run, cleared=False, clearing=False, dark=dark if run.cleared else run.dark)
        return GroupState(runs=assoc(state.runs, run_id, run)), effects
    if event in ("run_end", "resume_end"):
        run, effects = _run_end(run_id, run, now, config, graph)
        return GroupState(runs=assoc(state.runs, run_id, run)), effects
    node_id = msg.node_id
    ancestors = _ancestors(run, graph, node_id)
    if node_id is None or not ancestors:
        return state, ()  # not a member of any group: never colours one
    old = run.members.get(node_id)
    timer = ("gwin", run_id, node_id)
    if event == "start_node":
        cancel: tuple[Effect, ...] = (CancelTimer(timer),) if old and old.phase == "window" else ()
        status = old.status if old is not None else None
        run, effects = _transition(run, run_id, node_id, Member("running", status), ancestors)
        return GroupState(runs=assoc(state.runs, run_id, run)), cancel + effects
    status = msg.status or "success"
    if old is not None and old.phase == "window":  # a repeated end keeps the original deadline
        run, effects = _transition(
            run, run_id, node_id, Member("window", status, old.due), ancestors
        )
        return GroupState(runs=assoc(state.runs, run_id, run)), effects
    member = Member("window", status, now + config.end_window)
    run, effects = _transition(run, run_id, node_id, member, ancestors)
    start = StartTimer(timer, config.end_window)
    return GroupState(runs=assoc(state.runs, run_id, run)), (start, *effects)


def reduce_group(
    state: GroupState,
    msg: Input,
    now: float,
    config: Config = Config(),
    graph: FlowGraph | None = None,
) -> Step:
    """Apply one message (or fired timer) to the groups' derived state."""
    graph = graph or FlowGraph.empty()
    if isinstance(msg, ExecutionEvent):
        return _execution(state, msg, now, config, graph)
    if isinstance(msg, TimerFired):
        key: Any = msg.key
        run = state.runs.get(key[1])
        if run is None:
            return state, ()
        if key[0] == "gclear":
            if not run.clearing:
                return state, ()
            run, effects = _clear_glow(key[1], run)
            return GroupState(runs=assoc(state.runs, key[1], run)), effects
        member = run.members.get(key[2])
        if member is None or member.phase != "window":
            return state, ()
        run, effects = _transition(
            run, key[1], key[2], Member("ended", member.status), _ancestors(run, graph, key[2])
        )
        return GroupState(runs=assoc(state.runs, key[1], run)), effects
    if isinstance(msg, NodeAnnounced):
        if msg.group is None or msg.group == msg.node_id:
            return state, ()
        run = state.runs.get(msg.run_id) or GroupRun()
        if run.parents.get(msg.node_id) == msg.group:
            return state, ()
        run = evolve(run, parents=assoc(run.parents, msg.node_id, msg.group))
        return GroupState(runs=assoc(state.runs, msg.run_id, run)), ()
    if isinstance(msg, Evict):
        run = state.runs.get(msg.run_id)
        if run is None:
            return state, ()
        cancels: list[Effect] = [CancelTimer(("gclear", msg.run_id))]
        cancels += [
            CancelTimer(("gwin", msg.run_id, n))
            for n, m in run.members.items()
            if m.phase == "window"
        ]
        _, gone = _clear_glow(msg.run_id, run)
        return GroupState(runs=dissoc(state.runs, msg.run_id)), (*cancels, *gone)
    if isinstance(msg, Background | Foreground):
        run = state.runs.get(msg.run_id)
        if run is None:
            if isinstance(msg, Foreground):
                return state, ()
            run = GroupRun()  # sent to the background before its first group event
        run = evolve(run, background=isinstance(msg, Background))
        glow: tuple[Effect, ...] = ()
        if not run.cleared:
            glow = tuple(
                Change(
                    NAME,
                    "glow",
                    msg.run_id,
                    g,
                    () if run.background or g in run.dark else _classes(agg),
                )
                for g, agg in run.groups.items()
            )
        return GroupState(runs=assoc(state.runs, msg.run_id, run)), glow
    return state, ()


def group_section(state: GroupState) -> dict[str, dict[str, dict[str, Any]]]:
    """The snapshot's ``group`` section: per run, per group, status and started/ended."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for run_id, run in sorted(state.runs.items()):
        groups = {
            g: {"status": agg.status, "started": agg.started, "ended": agg.ended}
            for g, agg in sorted(run.groups.items())
            if agg.started
        }
        if groups:
            out[run_id] = groups
    return out


def group_surface(state: GroupState) -> dict[str, list[str]]:
    """Classes per group node over foreground runs whose group glow is not cleared."""
    out: dict[str, set[str]] = {}
    for run in state.runs.values():
        if run.background or run.cleared:
            continue
        for group, agg in run.groups.items():
            if group in run.dark:
                continue
            out.setdefault(group, set()).update(_classes(agg))
    return {g: sorted(c) for g, c in sorted(out.items()) if c}


def _accepts(msg: Message) -> bool:
    if isinstance(msg, ExecutionEvent):
        return msg.event in _EVENTS
    return isinstance(msg, NodeAnnounced | Evict | Background | Foreground)


def group_concern(config: Config = Config(), graph: FlowGraph | None = None) -> Concern[GroupState]:
    """The group concern's card for the pipeline."""
    graph = graph or FlowGraph.empty()
    return Concern(
        name=NAME,
        initial=GroupState(),
        reduce=lambda s, m, now: reduce_group(s, m, now, config, graph),
        accepts=_accepts,
        section=group_section,
        surface=group_surface,
        surface_over=("visual",),
    )
