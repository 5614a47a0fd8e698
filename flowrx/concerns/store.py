"""Store concern: execution-order badges and node outcomes per run (behaviour §2).

* ``start_node`` → a record ``{id: "<node_id>-<order>", node_id, run_id, order, status:
  "executing", handle, type}``, handle and type from the flow graph (unknown node → ``None``).
* ``end_node`` → the same record gets its final status; nothing else of it changes but what
  the end adds: ``inferred`` (why flowrx ended it, when the protocol went silent: Agno) and
  ``notes`` (the protocol's annotations of the execution, the start's and the end's merged).
  The snapshot lists either key only when there is one, so the platform's records are as
  ``snapshot/1`` first said.
* ``order`` is the **server's** order (a badge shows ``order + 1``). An older backend that omits
  it gets the run's own arrival position instead, never a position across runs.
* ``run_end``/``resume_end`` → records still ``executing`` become ``unfinished``.
* A node the flow graph does not know takes the handle and type its protocol announced for it
  in the run (:class:`~flowrx.messages.NodeAnnounced`: Agno learns its steps from the stream);
  a later announcement of the node renames its records so far.
* Records persist after the run ends; :class:`~flowrx.messages.Evict` drops the run whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import Change, Concern, Effect, Input
from flowrx.graph import FlowGraph
from flowrx.messages import Evict, ExecutionEvent, Message, NodeAnnounced

__all__ = ["Badge", "StoreRun", "StoreState", "reduce_store", "store_concern", "store_section"]

NAME = "store"
_EVENTS = frozenset({"start_node", "end_node", "run_end", "resume_end"})


@attrs.frozen
class Badge:
    """One node execution of one run: the record a badge and an outcome are drawn from."""

    node_id: str
    run_id: str
    order: int
    status: str
    handle: str | None = None
    type: str | None = None
    inferred: str | None = None
    """Why flowrx ended this execution itself (its protocol said nothing of the end), or
    ``None``: a view shows an inferred status as a guess."""
    notes: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    """What the protocol said of this execution beyond its status (the start's and the end's
    notes merged): Agno's ``step_index``, loop ``iteration``, ``branch``, ``selected_steps``."""

    @property
    def id(self) -> str:
        """``<node_id>-<order>``, the record's id."""
        return f"{self.node_id}-{self.order}"

    @property
    def badge(self) -> int:
        """The number a badge shows: the server's order plus one."""
        return self.order + 1

    def describe(self) -> str:
        """A short line for logs: badge number, status, handle."""
        return f"#{self.badge} {self.status} {self.handle or '?'}"

    def as_json(self) -> dict[str, Any]:
        """The record as ``snapshot/1`` lists it."""
        record: dict[str, Any] = {
            "id": self.id,
            "node_id": self.node_id,
            "order": self.order,
            "status": self.status,
            "handle": self.handle,
            "type": self.type,
        }
        if self.inferred is not None:
            record["inferred"] = self.inferred
        if self.notes:
            record["notes"] = dict(self.notes)
        return record


@attrs.frozen
class StoreRun:
    """One run's records, keyed by ``(node_id, order)``, and the names its protocol announced
    for nodes (``node_id -> (handle, type)``)."""

    records: Mapping[tuple[str, int], Badge] = attrs.field(factory=dict)
    names: Mapping[str, tuple[str | None, str | None]] = attrs.field(factory=dict)


@attrs.frozen
class StoreState:
    """Records of every run the concern holds."""

    runs: Mapping[str, StoreRun] = attrs.field(factory=dict)


def _latest(run: StoreRun, node_id: str) -> Badge | None:
    found = [b for b in run.records.values() if b.node_id == node_id]
    if not found:
        return None
    executing = [b for b in found if b.status == "executing"]
    return max(executing or found, key=lambda b: b.order)


def _put(
    state: StoreState, run_id: str, run: StoreRun, badge: Badge
) -> tuple[StoreState, tuple[Effect, ...]]:
    run = StoreRun(assoc(run.records, (badge.node_id, badge.order), badge), run.names)
    return StoreState(runs=assoc(state.runs, run_id, run)), (
        Change(NAME, "badge", run_id, badge.node_id, badge),
    )


def _names(run: StoreRun, graph: FlowGraph | None, node_id: str) -> tuple[str | None, str | None]:
    """A node's handle and type: the graph's for a node it knows, else the announced ones."""
    graph = graph or FlowGraph.empty()
    if run.names and graph.node(node_id) is None:
        announced = run.names.get(node_id)
        if announced is not None:
            return announced
    return graph.handle(node_id), graph.type(node_id)


def reduce_store(
    state: StoreState, msg: Input, now: float, graph: FlowGraph | None = None
) -> tuple[StoreState, tuple[Effect, ...]]:
    """Apply one message to the badge records; return the new state and effects."""
    if isinstance(msg, Evict):
        return StoreState(runs=dissoc(state.runs, msg.run_id)), ()
    if isinstance(msg, NodeAnnounced):
        held = state.runs.get(msg.run_id) or StoreRun()
        names = assoc(held.names, msg.node_id, (msg.handle, msg.type))
        renamed = {  # learned after the node started (a nested workflow's step): its records too
            k: evolve(b, handle=msg.handle, type=msg.type)
            for k, b in held.records.items()
            if b.node_id == msg.node_id
            and (b.handle, b.type) != (msg.handle, msg.type)
            and (graph is None or graph.node(msg.node_id) is None)
        }
        records = {**held.records, **renamed} if renamed else held.records
        new_state = StoreState(runs=assoc(state.runs, msg.run_id, StoreRun(records, names)))
        changes = tuple(Change(NAME, "badge", msg.run_id, b.node_id, b) for b in renamed.values())
        return new_state, changes
    if not isinstance(msg, ExecutionEvent):
        return state, ()
    run_id = msg.run_id
    run = state.runs.get(run_id) or StoreRun()
    if msg.event in ("run_end", "resume_end"):
        cut = {
            k: evolve(b, status="unfinished")
            for k, b in run.records.items()
            if b.status == "executing"
        }
        if not cut:
            return state, ()
        new_run = StoreRun({**run.records, **cut}, run.names)
        changes = tuple(Change(NAME, "badge", run_id, b.node_id, b) for b in cut.values())
        return StoreState(runs=assoc(state.runs, run_id, new_run)), changes
    node_id = msg.node_id
    if node_id is None:
        return state, ()
    if msg.event == "start_node":
        order = msg.order if msg.order is not None else len(run.records)
        existing = run.records.get((node_id, order))
        if existing is not None:
            return _put(state, run_id, run, evolve(existing, status="executing"))
        handle, kind = _names(run, graph, node_id)
        badge = Badge(node_id, run_id, order, "executing", handle, kind, notes=msg.notes)
        return _put(state, run_id, run, badge)
    # end_node
    status = msg.status or "success"
    existing = (
        run.records.get((node_id, msg.order)) if msg.order is not None else _latest(run, node_id)
    )
    if existing is None:  # an end without its start: still a record, with what we know
        order = msg.order if msg.order is not None else len(run.records)
        handle, kind = _names(run, graph, node_id)
        existing = Badge(node_id, run_id, order, status, handle, kind)
    notes = {**existing.notes, **msg.notes} if msg.notes else existing.notes
    ended = evolve(existing, status=status, inferred=msg.inferred, notes=notes)
    return _put(state, run_id, run, ended)


def store_section(state: StoreState) -> dict[str, list[dict[str, Any]]]:
    """The snapshot's ``store`` section: each run's records sorted by order, then node id."""
    return {
        run_id: [
            b.as_json() for b in sorted(run.records.values(), key=lambda b: (b.order, b.node_id))
        ]
        for run_id, run in sorted(state.runs.items())
    }


def _accepts(msg: Message) -> bool:
    if isinstance(msg, ExecutionEvent):
        return msg.event in _EVENTS
    return isinstance(msg, Evict | NodeAnnounced)


def store_concern(graph: FlowGraph | None = None) -> Concern[StoreState]:
    """The store concern's card for the pipeline."""
    return Concern(
        name=NAME,
        initial=StoreState(),
        reduce=lambda s, m, now: reduce_store(s, m, now, graph),
        accepts=_accepts,
        section=store_section,
    )
