"""The flow graph: which nodes a flow has, what they are called, and which groups enclose them.

Execution events name nodes only by id. To show them the way the editor does (a node's name or
handle, its type, the group it sits in) the pipeline needs the flow's graph. This module reads
it once, checks it, and precomputes everything asked per event (a node's enclosing groups, a
group's members at any depth) into plain lookups, so the hot path never walks the graph.

Accepted input (a JSON file for :func:`load_graph`, a decoded mapping for
:func:`graph_from_mapping`):

* **flowrx flow/1**: ``{"flowrx": "flow/1", "flow_id": ..., "nodes": [...]}``. When the
  ``flowrx`` key is present it must be ``"flow/1"``.
* **A PolySynergy node-setup version's content**: ``{"nodes": [...], "connections": [...],
  "groups": {...}}``; ``flow_id`` is then ``None`` (``connections`` and the editor's ``groups``
  state are ignored).
* **A PolySynergy node-setup version**: ``{"id": ..., "version_number": ..., "content":
  {"nodes": [...]}}``; ``flow_id`` is the version's ``id``, which is the id the node runner
  puts in its events.
* **Wrapped versions**: a mapping whose ``flow_version``, ``node_setup_version`` or
  ``published_version`` key holds one of the above; and a mapping whose ``node_setup`` key holds
  a node setup (``{"id": ..., "versions": [...], "published_version": ...}``) or one of the
  above. Of a node setup the ``published_version`` is used, else its only version; a node setup
  with several versions and none published is refused, since which one runs is unknown.

A top-level ``flow_id`` always wins over a version's ``id``.

Each node is a mapping with ``id`` (a non-empty string; required) and optional ``handle``,
``path``, ``category`` (string or null), ``variables`` (a list of ``{"handle": ..., "value":
...}``, or null) and ``group``. Group membership comes in two forms, which may be mixed:

* ``"group": "<id of the enclosing group>"`` on the member (flow/1);
* ``"group": {"nodes": ["<member id>", ...], ...}`` on the group (PolySynergy); other keys of
  that object (``isOpen``, ``isHidden``) are ignored.

An empty string in either form means no membership. Other keys of a node are ignored.

A node is a group when its ``category`` or its PolySynergy ``type`` is ``"group"``, or when it
has a member list (even an empty one) or members. Any id named as an enclosing group counts
as a group too, even when the graph lacks it. A node's type is the last dotted part of its
``path`` (``None`` without a path, so a group usually has type ``None``).

Bad graphs are loaded, not refused; what is wrong lands in :attr:`FlowGraph.problems`, one
line each: a repeated node id (the first node wins), a node listed in two groups (the first
listing in document order wins), a node listed as its own member (ignored) and group cycles
(kept as data, but every walk stops before a repeat). Membership naming an id the graph lacks
is kept: events may name nodes the graph does not know. Refused with :class:`GraphError` are
only files that cannot be used at all: unreadable, not JSON, no node list, a node without a
string id, a field of the wrong JSON type.

Ids are data: quotes, backslashes or markup in an id are stored and looked up untouched. Every
lookup of an unknown id answers ``None``, ``()``, ``frozenset()`` or ``False``; none raises.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

import attrs

__all__ = ["FlowGraph", "GraphError", "Node", "graph_from_mapping", "load_graph"]

_FORMAT: Final = "flow/1"
_GROUP: Final = "group"
_VERSION_KEYS: Final = ("flow_version", "node_setup_version", "published_version")
_MAX_WRAPPING: Final = 6


class GraphError(ValueError):
    """A graph file that cannot be used; the message is one line naming the file and the problem."""


def _read_only(value: Mapping[str, object]) -> Mapping[str, object]:
    """Copy ``value`` into a read-only mapping."""
    return MappingProxyType(dict(value))


@attrs.frozen
class Node:
    """One node of the flow, as far as the live view needs it."""

    id: str
    handle: str | None = None
    path: str | None = None
    category: str | None = None
    #: Id of the enclosing group node, resolved from either membership form.
    group: str | None = None
    #: Variable handle -> value, read-only.
    variables: Mapping[str, object] = attrs.field(factory=dict, converter=_read_only, hash=False)

    @property
    def type(self) -> str | None:
        """The node's class name: the last dotted part of ``path``, or ``None`` without one."""
        if not self.path:
            return None
        return self.path.rpartition(".")[2] or None

    @property
    def name(self) -> str | None:
        """The ``name`` variable when it is a string with more than whitespace, else ``None``."""
        value = self.variables.get("name")
        if isinstance(value, str) and value.strip():
            return value
        return None


@attrs.frozen
class FlowGraph:
    """A flow's nodes and group structure, with enclosing groups and members precomputed.

    Build one with :func:`graph_from_mapping`, :func:`load_graph`, :meth:`build` or
    :meth:`empty`; the private fields are derived lookups and not meant to be passed by hand.
    """

    flow_id: str | None
    nodes: Mapping[str, Node] = attrs.field(hash=False)
    problems: tuple[str, ...] = ()
    _parents: Mapping[str, str] = attrs.field(factory=dict, hash=False, repr=False)
    _ancestors: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, eq=False, repr=False)
    _descendants: Mapping[str, frozenset[str]] = attrs.field(factory=dict, eq=False, repr=False)
    _groups: frozenset[str] = attrs.field(default=frozenset(), eq=False, repr=False)

    @classmethod
    def empty(cls) -> FlowGraph:
        """A graph without nodes: every lookup answers as for an unknown id."""
        return cls(flow_id=None, nodes=MappingProxyType({}))

    @classmethod
    def build(
        cls,
        nodes: Iterable[Node],
        *,
        flow_id: str | None = None,
        problems: Iterable[str] = (),
    ) -> FlowGraph:
        """Build a graph from nodes whose ``group`` fields name their enclosing groups.

        A node is a group when its category is ``"group"`` or some node names it as its group.
        A repeated id keeps the first node; a node naming itself as its group is not a member.
        Both are reported in ``problems``, after the given ones, as are group cycles.
        """
        found = list(problems)
        by_id: dict[str, Node] = {}
        parents: dict[str, str] = {}
        declared: set[str] = set()
        for node in nodes:
            if node.id in by_id:
                found.append(f"duplicate node id {_q(node.id)}: keeping the first")
                continue
            if node.group == node.id:
                found.append(f"node {_q(node.id)} is listed as a member of itself; ignored")
            if node.group == node.id or node.group == "":
                node = attrs.evolve(node, group=None)
            by_id[node.id] = node
            if node.category == _GROUP:
                declared.add(node.id)
            if node.group:
                parents[node.id] = node.group
        return cls._create(flow_id, by_id, parents, declared, found)

    @classmethod
    def _create(
        cls,
        flow_id: str | None,
        nodes: dict[str, Node],
        parents: dict[str, str],
        declared: set[str],
        problems: list[str],
    ) -> FlowGraph:
        """Precompute ancestors, descendants and groups; report cycles into ``problems``."""
        on_cycle = _cycles(parents, problems)
        ancestors = _ancestors(parents, on_cycle)
        descendants: dict[str, set[str]] = {}
        for member, chain in ancestors.items():
            for group in chain:
                descendants.setdefault(group, set()).add(member)
        return cls(
            flow_id=flow_id,
            nodes=MappingProxyType(nodes),
            problems=tuple(problems),
            parents=MappingProxyType(parents),
            ancestors=ancestors,
            descendants={group: frozenset(members) for group, members in descendants.items()},
            groups=frozenset(declared) | frozenset(parents.values()),
        )

    def node(self, node_id: str | None) -> Node | None:
        """The node with this id, or ``None``."""
        if not isinstance(node_id, str):
            return None
        return self.nodes.get(node_id)

    def handle(self, node_id: str | None) -> str | None:
        """The node's handle, or ``None``."""
        node = self.node(node_id)
        return None if node is None else node.handle

    def type(self, node_id: str | None) -> str | None:
        """The node's type (last dotted part of its path), or ``None``."""
        node = self.node(node_id)
        return None if node is None else node.type

    def is_group(self, node_id: str | None) -> bool:
        """Whether the id is a group: declared as one, or named as some node's group."""
        return isinstance(node_id, str) and node_id in self._groups

    @property
    def groups(self) -> frozenset[str]:
        """Ids of all groups, including ids named as a group that the graph lacks."""
        return self._groups

    def ancestors(self, node_id: str | None) -> tuple[str, ...]:
        """The enclosing groups, innermost first; ``()`` for unknown or ungrouped ids.

        In a group cycle the chain stops before it would repeat an id or reach ``node_id``.
        """
        if not isinstance(node_id, str):
            return ()
        return self._ancestors.get(node_id, ())

    def descendants(self, group_id: str | None) -> frozenset[str]:
        """Every id whose chain of enclosing groups reaches the group; never the group itself."""
        if not isinstance(group_id, str):
            return frozenset()
        return self._descendants.get(group_id, frozenset())

    def display_name(self, node_id: str | None, member_index: int | None = None) -> str:
        """What to call a node in the view.

        Its ``name`` variable, else its handle, else ``"Member N"`` (``member_index + 1``) when a
        member index is given, else the id itself, else ``"unknown"``.
        """
        node = self.node(node_id)
        if node is not None:
            if node.name is not None:
                return node.name
            if node.handle:
                return node.handle
        if (
            isinstance(member_index, int)
            and not isinstance(member_index, bool)
            and member_index >= 0
        ):
            return f"Member {member_index + 1}"
        if isinstance(node_id, str) and node_id:
            return node_id
        return "unknown"


def _q(text: str) -> str:
    """Quote an id for a one-line message: JSON escaping keeps quotes and newlines visible."""
    return json.dumps(text, ensure_ascii=False)


def _cycles(parents: Mapping[str, str], problems: list[str]) -> frozenset[str]:
    """Report each membership cycle once and return the ids on cycles.

    Every id has at most one parent, so each walk up either ends or enters exactly one cycle.
    A cycle is reported starting at its member that comes first in ``parents``.
    """
    order = {member: index for index, member in enumerate(parents)}
    done: set[str] = set()
    on_cycle: set[str] = set()
    for start in parents:
        path: list[str] = []
        where: dict[str, int] = {}
        current: str | None = start
        while current is not None and current not in done and current not in where:
            where[current] = len(path)
            path.append(current)
            current = parents.get(current)
        if current is not None and current in where:
            cycle = path[where[current] :]
            first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
            cycle = cycle[first:] + cycle[:first]
            on_cycle.update(cycle)
            chain = " -> ".join(_q(member) for member in [*cycle, cycle[0]])
            problems.append(f"group cycle {chain}: enclosing groups stop before repeating")
        done.update(path)
    return frozenset(on_cycle)


def _ancestors(parents: Mapping[str, str], on_cycle: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Every id's enclosing groups, innermost first, computed once per id.

    An id on a cycle gets the rest of its cycle; any other id gets its parent followed by the
    parent's chain, which cannot contain the id itself.
    """
    chains: dict[str, tuple[str, ...]] = {}
    for member in on_cycle:
        chain: list[str] = []
        around = parents[member]
        while around != member:
            chain.append(around)
            around = parents[around]
        chains[member] = tuple(chain)
    for start in parents:
        pending: list[str] = []
        current = start
        while current not in chains and current in parents:
            pending.append(current)
            current = parents[current]
        for member in reversed(pending):
            parent = parents[member]
            chains[member] = (parent, *chains.get(parent, ()))
    return chains


def _json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _shown(value: object) -> str:
    """A short rendering of a decoded value for messages."""
    if isinstance(value, str):
        return _q(value if len(value) <= 40 else value[:40] + "...")
    return _json_type(value)


def _one_line(text: str) -> str:
    """Escape line breaks so a message stays on one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


@attrs.frozen
class _Entry:
    """A checked node entry before membership is resolved."""

    node: Node
    group: str | None
    members: tuple[str, ...]
    declared: bool


class _Reader:
    """Turns a decoded graph mapping into a :class:`FlowGraph`, or raises :class:`GraphError`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, reason: str) -> GraphError:
        """A :class:`GraphError` naming the source."""
        return GraphError(_one_line(f"{self.source}: {reason}"))

    def optional_str(self, value: object, where: str) -> str | None:
        """``value`` when it is a string or null, else fail."""
        if value is None or isinstance(value, str):
            return value
        raise self.fail(f"{where} must be a string or null, not {_json_type(value)}")

    def locate(self, data: object) -> tuple[object, str | None, str]:
        """Find the node list: (nodes value, flow id, location of the list for messages)."""
        if not isinstance(data, Mapping):
            raise self.fail(f"expected a JSON object at the top level, not {_json_type(data)}")
        if "flowrx" in data and data["flowrx"] != _FORMAT:
            raise self.fail(f"unsupported format {_shown(data['flowrx'])}; expected {_FORMAT!r}")
        flow_id = self.optional_str(data.get("flow_id"), "flow_id")
        current: Mapping[object, object] = data
        where = ""
        version_id: str | None = None
        for _ in range(_MAX_WRAPPING):
            if "nodes" in current:
                return current["nodes"], flow_id if flow_id is not None else version_id, where
            if "id" in current and ("content" in current or "version_number" in current):
                version_id = self.optional_str(current["id"], f"{where}id")
            step = self.unwrap(current, where)
            if step is None:
                break
            key, current = step
            where = f"{where}{key}."
        inside = f" in {where[:-1]}" if where else ""
        raise self.fail(f"no node list: expected a 'nodes' array{inside}")

    def unwrap(
        self, current: Mapping[object, object], where: str
    ) -> tuple[str, Mapping[object, object]] | None:
        """The next mapping inward that may hold the node list, with its key; or ``None``."""
        for key in ("content", *_VERSION_KEYS, "node_setup"):
            inner = current.get(key)
            if inner is None:
                continue
            if not isinstance(inner, Mapping):
                raise self.fail(f"{where}{key} must be an object, not {_json_type(inner)}")
            return key, inner
        versions = current.get("versions")
        if versions is None:
            return None
        if not isinstance(versions, list | tuple):
            raise self.fail(f"{where}versions must be an array, not {_json_type(versions)}")
        if len(versions) != 1:
            raise self.fail(
                f"{where}versions has {len(versions)} versions and none is published; "
                "export the version to watch"
            )
        only = versions[0]
        if not isinstance(only, Mapping):
            raise self.fail(f"{where}versions[0] must be an object, not {_json_type(only)}")
        return "versions[0]", only

    def read(self, data: object) -> FlowGraph:
        """The graph of ``data``."""
        raw_nodes, flow_id, where = self.locate(data)
        if not isinstance(raw_nodes, list | tuple):
            raise self.fail(f"{where}nodes must be an array, not {_json_type(raw_nodes)}")
        problems: list[str] = []
        entries: list[_Entry] = []
        seen: set[str] = set()
        for index, raw in enumerate(raw_nodes):
            entry = self.entry(raw, f"{where}nodes[{index}]")
            if entry.node.id in seen:
                problems.append(f"duplicate node id {_q(entry.node.id)}: keeping the first")
                continue
            seen.add(entry.node.id)
            entries.append(entry)

        parents: dict[str, str] = {}
        declared: set[str] = set()
        selfish: set[str] = set()
        refused: set[tuple[str, str]] = set()

        def claim(member: str, group: str) -> None:
            if member == group:
                if member not in selfish:
                    selfish.add(member)
                    problems.append(f"node {_q(member)} is listed as a member of itself; ignored")
                return
            kept = parents.setdefault(member, group)
            if kept != group and (member, group) not in refused:
                refused.add((member, group))
                problems.append(
                    f"node {_q(member)} is listed in groups {_q(kept)} and {_q(group)}: "
                    f"keeping {_q(kept)}"
                )

        for entry in entries:
            node_id = entry.node.id
            if entry.group:
                claim(node_id, entry.group)
            for member in entry.members:
                claim(member, node_id)
            if entry.declared:
                declared.add(node_id)

        nodes = {
            entry.node.id: attrs.evolve(entry.node, group=parents.get(entry.node.id))
            for entry in entries
        }
        return FlowGraph._create(flow_id, nodes, parents, declared, problems)

    def entry(self, raw: object, at: str) -> _Entry:
        """One checked node entry; ``at`` locates it for messages."""
        if not isinstance(raw, Mapping):
            raise self.fail(f"{at} must be an object, not {_json_type(raw)}")
        node_id = raw.get("id")
        if not isinstance(node_id, str) or not node_id:
            if node_id is None:
                shown = "missing"
            elif node_id == "":
                shown = "empty"
            else:
                shown = f"a {_json_type(node_id)}"
            raise self.fail(f"{at} has no id: 'id' must be a non-empty string, is {shown}")
        group, members, listed = self.membership(raw.get("group"), at)
        category = self.optional_str(raw.get("category"), f"{at}.category")
        node = Node(
            id=node_id,
            handle=self.optional_str(raw.get("handle"), f"{at}.handle"),
            path=self.optional_str(raw.get("path"), f"{at}.path"),
            category=category,
            variables=self.variables(raw.get("variables"), at),
        )
        declared = listed or category == _GROUP or raw.get("type") == _GROUP
        return _Entry(node=node, group=group, members=members, declared=declared)

    def membership(self, value: object, at: str) -> tuple[str | None, tuple[str, ...], bool]:
        """A node's ``group`` field as (enclosing group id, member ids, has a member list)."""
        if value is None or isinstance(value, str):
            return value or None, (), False
        if not isinstance(value, Mapping):
            raise self.fail(
                f"{at}.group must be a string, an object or null, not {_json_type(value)}"
            )
        members = value.get("nodes")
        if members is None:
            return None, (), False
        if not isinstance(members, list | tuple):
            raise self.fail(f"{at}.group.nodes must be an array, not {_json_type(members)}")
        for index, member in enumerate(members):
            if not isinstance(member, str):
                raise self.fail(
                    f"{at}.group.nodes[{index}] must be a string, not {_json_type(member)}"
                )
        return None, tuple(member for member in members if member), True

    def variables(self, value: object, at: str) -> dict[str, object]:
        """A node's ``variables`` list as handle -> value; the first of a repeated handle wins."""
        if value is None:
            return {}
        if not isinstance(value, list | tuple):
            raise self.fail(f"{at}.variables must be an array, not {_json_type(value)}")
        result: dict[str, object] = {}
        for index, entry in enumerate(value):
            if not isinstance(entry, Mapping):
                raise self.fail(
                    f"{at}.variables[{index}] must be an object, not {_json_type(entry)}"
                )
            handle = entry.get("handle")
            if not isinstance(handle, str):
                raise self.fail(
                    f"{at}.variables[{index}].handle must be a string, not {_json_type(handle)}"
                )
            result.setdefault(handle, entry.get("value"))
        return result


def graph_from_mapping(data: object, *, source: str = "<graph>") -> FlowGraph:
    """The graph described by a decoded flow/1 document or PolySynergy node-setup export.

    Raises :class:`GraphError` (one line, starting with ``source``) for a non-object, a missing
    or non-array node list, a node without a non-empty string id, or a field of the wrong type.
    Problems that still leave a usable graph are reported in :attr:`FlowGraph.problems`.
    """
    return _Reader(source).read(data)


def load_graph(path: str | os.PathLike[str]) -> FlowGraph:
    """Read the graph in the JSON file at ``path``; see the module docstring for the shapes.

    Raises :class:`GraphError`, one line naming the file, when the file is missing or
    unreadable, is not JSON, or does not describe a usable graph.
    """
    source = os.fspath(path)
    reader = _Reader(source)
    try:
        with open(source, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise reader.fail("no such file") from None
    except IsADirectoryError:
        raise reader.fail("is a directory, not a file") from None
    except OSError as exc:
        raise reader.fail(f"cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise reader.fail("not JSON: the file is empty")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise reader.fail(f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError:
        raise reader.fail("not JSON: the file is not UTF-8 text") from None
    except RecursionError:
        raise reader.fail("not JSON that can be read: nested too deeply") from None
    except ValueError as exc:
        raise reader.fail(f"not JSON that can be read: {exc}") from None
    return reader.read(data)
