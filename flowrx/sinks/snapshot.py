"""The snapshot writer: ``flowrx/snapshot/1`` exactly as ``snapshot.md`` specifies.

The document names the protocol the pipeline reads (``protocol``: its card's name) and holds
one section per concern card of the pipeline (with the default concerns, every section of
``snapshot/1``, empty when its concern has nothing to say). Keys are sorted when serialised
(:func:`dump_snapshot`).

:meth:`FlowState.snapshot` returns a :class:`Snapshot`: the document itself (a ``dict``, equal to
and serialised exactly like the plain one) that Jupyter shows as the HTML view.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from flowrx._text import json_text

if TYPE_CHECKING:
    from flowrx.graph import FlowGraph
    from flowrx.sinks.state import FlowState

__all__ = ["SCHEMA", "Snapshot", "build_snapshot", "dump_snapshot", "surface"]

SCHEMA = "flowrx/snapshot/1"
_DUMP_DEPTH: Final = 300
"""How deep :func:`dump_snapshot` writes a host's own nested values (frames are cut at 256)."""


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
    """The snapshot document of ``state`` now: the protocol read, one section per concern
    card, the surface, and the diagnostics (the protocol's counters, every card's counters,
    failures and health)."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "protocol": state.protocol.name,
        "clock": round(state.now, 6),
    }
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


def _key(key: object) -> str:
    """A mapping key as JSON names it (``json.dumps``'s own names for numbers, bools, null;
    other keys their plain JSON, or their ``repr``)."""
    if isinstance(key, str):
        return str(key)
    if key is None or isinstance(key, bool | float):
        return json.dumps(key)
    plain = _plain(key, 1, set())
    return plain if isinstance(plain, str) else json.dumps(plain)


def _text_of(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a host object whose repr fails is still named
        return f"<{type(value).__name__}>"


def _plain(value: Any, room: int, path: set[int]) -> Any:
    """``value`` as plain JSON data, whatever it is: non-finite floats become ``null`` (as
    JavaScript's ``JSON.stringify`` writes them), integers too long for text a note of their
    size, non-string keys their JSON names (a clash gets the key's type appended), sets sorted
    lists, bytes text, other objects their ``repr``; nesting beyond ``room`` levels and cycles
    are cut with a note."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        try:
            str(value)
        except ValueError:  # more digits than Python turns into text
            return f"<integer of {value.bit_length()} bits>"
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if room <= 0:
        return f"<nested deeper than {_DUMP_DEPTH} levels>"
    if id(value) in path:
        return "<cycle>"
    path.add(id(value))
    try:
        if isinstance(value, Mapping):
            out = {
                key: _plain(item, room - 1, path) for key, item in value.items() if type(key) is str
            }
            for key, item in value.items():  # then the others: a string key keeps its own name
                if type(key) is not str:
                    name = _key(key)
                    if name in out:
                        name = f"{name} ({type(key).__name__})"
                    out[name] = _plain(item, room - 1, path)
            return out
        if isinstance(value, list | tuple):
            return [_plain(item, room - 1, path) for item in value]
        if isinstance(value, set | frozenset):
            return sorted((_plain(item, room - 1, path) for item in value), key=_text_of)
        return _text_of(value)
    finally:
        path.discard(id(value))


def dump_snapshot(doc: Mapping[str, Any]) -> str:
    """Serialise a snapshot: sorted keys, two-space indent, ids exactly as they came.

    The text is always valid JSON that UTF-8 can carry, whatever a frame held: a lone UTF-16
    surrogate is written as its ``\\udxxx`` escape (surrogate halves joined in one string,
    such as an emoji split between two chat chunks, are written as the character); a value
    JSON cannot encode (NaN or an infinity, an integer too long for text, a non-string key, an
    object of a host's own, nesting deeper than 300 levels) is written as its nearest JSON
    (see ``_plain``) instead of breaking the dump.
    """
    try:
        text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        plain = _plain(doc, _DUMP_DEPTH, set())
        text = json.dumps(plain, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return json_text(text)
