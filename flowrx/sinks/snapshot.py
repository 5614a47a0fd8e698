"""The snapshot writer: ``flowrx/snapshot/1`` exactly as ``snapshot.md`` specifies.

All sections are always present; a concern that is not part of the pipeline contributes its
empty section. Keys are sorted when serialised (:func:`dump_snapshot`).

:meth:`FlowState.snapshot` returns a :class:`Snapshot`: the document itself (a ``dict``, equal to
and serialised exactly like the plain one) that Jupyter shows as the HTML view.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowrx.graph import FlowGraph
    from flowrx.sinks.state import FlowState

__all__ = ["SCHEMA", "Snapshot", "build_snapshot", "dump_snapshot", "surface"]

SCHEMA = "flowrx/snapshot/1"


class Snapshot(dict[str, Any]):
    """A snapshot document: a plain ``dict`` (same keys, equality and JSON) that also knows the
    flow's graph, so Jupyter can show it as the HTML view (``_repr_html_``).

    ``graph`` is an attribute, not a key: ``json.dumps`` and :func:`dump_snapshot` see exactly
    the document. Without a graph the view lists the nodes the snapshot names, flat.
    """

    __slots__ = ("graph",)

    def __init__(self, *args: Any, graph: FlowGraph | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graph = graph

    def __copy__(self) -> Snapshot:
        return Snapshot(self, graph=self.graph)

    def __deepcopy__(self, memo: dict[int, Any]) -> Snapshot:
        return Snapshot(copy.deepcopy(dict(self), memo), graph=self.graph)  # graph is frozen

    def __reduce__(self) -> tuple[Any, ...]:
        return (Snapshot, (dict(self),))  # pickles like the plain document (without the graph)

    def _repr_html_(self) -> str:
        from flowrx.graph import FlowGraph
        from flowrx.sinks.html_view import render_html

        return render_html(self, self.graph if self.graph is not None else FlowGraph.empty())


def surface(state: FlowState) -> dict[str, list[str]]:
    """Classes a view would show now: every concern's surface, in card order, where a concern
    whose card says ``surface_over`` replaces those concerns' classes on the nodes it covers
    (the group concern's derived status on a group node, instead of the node's own glow)."""
    layers = [(card, state.surface_of(card.name)) for card in state.cards]
    covered: dict[str, set[str]] = {}  # concern -> nodes another concern's surface replaces
    for card, layer in layers:
        for name in card.surface_over:
            covered.setdefault(name, set()).update(layer)
    out: dict[str, set[str]] = {}
    for card, layer in layers:
        hidden = covered.get(card.name, set())
        for node, classes in layer.items():
            if node not in hidden:
                out.setdefault(node, set()).update(classes)
    return {node: sorted(c) for node, c in sorted(out.items()) if c}


def build_snapshot(state: FlowState) -> dict[str, Any]:
    """The snapshot document of ``state`` now: one section per concern card, the surface, and
    the diagnostics (intake's counters, every card's counters, failures and health)."""
    doc: dict[str, Any] = {"schema": SCHEMA, "clock": round(state.now, 6)}
    for card in state.cards:
        doc[card.name] = state.section(card.name)
    doc["surface"] = surface(state)
    diagnostics: dict[str, Any] = dict(state.counters)
    diagnostics["failed"] = state.failed
    diagnostics["health"] = state.health
    connection = state.connection
    if connection is not None:  # only for live sources (an addition to snapshot/1's keys)
        diagnostics["connection"] = {
            "state": connection.state,
            "reason": connection.reason,
            "attempt": connection.attempt,
        }
    doc["diagnostics"] = diagnostics
    return doc


def dump_snapshot(doc: dict[str, Any]) -> str:
    """Serialise a snapshot: sorted keys, two-space indent, ids exactly as they came."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False)
