"""What the views show, read from one ``flowrx/snapshot/1`` document: the shared view model.

The terminal view (:mod:`flowrx.sinks.terminal`, rich) and the HTML view
(:mod:`flowrx.sinks.html_view`) draw the same document the same way; this module is the part
they share. It reads the document (and the flow's :class:`~flowrx.graph.FlowGraph`) into small
frozen records, one per row a view draws:

* :func:`run_order`: run ids in the order they started, then any others the snapshot names.
* :func:`node_rows`: the node tree following group nesting (rows in pre-order with their depth,
  enclosing groups the graph lacks marked ``missing_group``), each row with its handle, type,
  store badges per run and surface classes; then the *unknown* nodes the snapshot names but the
  graph lacks.
* :func:`run_rows`: every run with its status, times and resumes, the active run, the lock.
* :func:`recent_chat`: the last ``limit`` chat messages, with how many earlier ones are hidden.
* :func:`interaction_rows` and :func:`detail_summary`: pending interactions and a one-line
  summary of their detail.
* :func:`health_view`: the connection, intake counters and failures / health per concern.

The records hold *plain, uncut, unescaped* text (untrusted: it comes from frames or files).
Each view cuts it to its own limits with :func:`cut` (or :func:`json_short`) and makes it safe
for its medium: the terminal replaces control characters and never parses markup, the HTML view
escapes everything. Cutting and the terminal's character-for-character cleaning commute, so a
view may apply them in either order.

Pure, standard library and attrs only (no rich, no ipywidgets): the same inputs give the same
records, and the document is never changed.
"""

from __future__ import annotations

import html.parser
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from flowrx.graph import FlowGraph

__all__ = [
    "Badge",
    "ChatMessage",
    "ConcernRow",
    "ConnectionRow",
    "CounterRow",
    "HealthView",
    "Interactions",
    "NodeRow",
    "NodeRows",
    "PendingRow",
    "RecentChat",
    "RunRow",
    "RunRows",
    "ToolCall",
    "connection_row",
    "cut",
    "detail_summary",
    "escape_controls",
    "health_view",
    "html_text",
    "interaction_rows",
    "json_short",
    "node_rows",
    "recent_chat",
    "run_order",
    "run_rows",
    "seconds",
    "terminal_text",
    "text",
]

#: Counters that are expected to grow; any other non-zero counter is a warning.
_HEALTHY: Final = frozenset({"frames", "messages", "heartbeats"})


# --- text -------------------------------------------------------------------------------------

#: What a terminal must never receive from untrusted text: C0 and C1 controls (ESC, BEL, CSI,
#: OSC, ``\r``, DEL ...), which can retitle, clear or rewrite the screen; line and paragraph
#: separators; bidirectional marks, embeddings, overrides and isolates, which reorder what is
#: shown; and lone UTF-16 surrogates (valid in JSON, but no encoding can write them).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
)
_ESCAPES: Final[Mapping[str, str]] = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def escape_controls(value: object) -> str:
    """``value`` as :func:`text` with every character a terminal must not receive from untrusted
    text written as a visible escape (``\\x1b``, ``\\n``, ``\\u202e``, ``\\udc00``).

    For one-line output that a person may copy (plain change lines, status lines, log lines):
    the result is one line, cannot move the cursor or change the terminal, and encodes as
    strict UTF-8. Backslashes are kept as they are, so escaping twice changes nothing.
    """
    return _UNSAFE.sub(_escape, text(value))


def _replace(match: re.Match[str]) -> str:
    return " " if match.group() in "\r\n\t" else "\ufffd"


def terminal_text(value: object, limit: int | None = None) -> str:
    """``value`` as :func:`cut` to ``limit``, made one line of text safe for a terminal.

    Line breaks and tabs become spaces; the other characters :func:`escape_controls` escapes
    become U+FFFD (for a drawn view, where an escape would be noise).
    """
    return _UNSAFE.sub(_replace, cut(value, limit))


def text(value: object) -> str:
    """``value`` as text: a string as is, ``None`` as ``""``, anything else through ``str``."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def cut(value: object, limit: int | None = None) -> str:
    """``value`` as :func:`text`, cut to ``limit`` characters (the last one then ``…``)."""
    line = text(value)
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line


#: Tags whose text is not shown; tags that separate words.
_HIDDEN_TAGS: Final = frozenset({"script", "style", "template", "head", "title"})
_BREAK_TAGS: Final = frozenset(
    (  # noqa: SIM905 (a list of words reads better as words)
        "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 "
        "h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul"
    ).split()
)


class _TextOf(html.parser.HTMLParser):
    """Collects the text a browser would show of an HTML fragment (no markup, entities
    decoded, hidden elements left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag in _BREAK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BREAK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_text(value: object) -> str:
    """The text of an HTML fragment (a ``ChatHTML`` item) as one line: tags dropped, entities
    decoded, whitespace collapsed. For views that show text, not markup."""
    parser = _TextOf()
    parser.feed(text(value))
    parser.close()
    return " ".join("".join(parser.parts).split())


def json_short(value: object, limit: int) -> str:
    """A compact one-line JSON rendering of a decoded value (a string as is), cut to ``limit``."""
    if isinstance(value, str):
        return cut(value, limit)
    try:
        shown = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    return cut(shown, limit)


def seconds(value: object) -> str:
    """A time in seconds as ``1.23s``, or ``-`` when it is not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}s"
    return "-"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


# --- runs -------------------------------------------------------------------------------------


def run_order(doc: Mapping[str, Any]) -> list[str]:
    """Run ids in the order they started (lifecycle), then any others the store or chat holds."""
    runs = _mapping(_mapping(doc.get("lifecycle")).get("runs"))

    def started(item: tuple[int, str]) -> tuple[float, int]:
        at = _mapping(runs.get(item[1])).get("started_at")
        number = at if isinstance(at, int | float) and not isinstance(at, bool) else float("inf")
        return (float(number), item[0])

    order = [run for _, run in sorted(enumerate(map(str, runs)), key=started)]
    for section in ("store", "chat", "group"):
        for run in _mapping(doc.get(section)):
            if str(run) not in order:
                order.append(str(run))
    return order


@attrs.frozen
class RunRow:
    """One run: ``R<number>``, its id, status, start and end (as :func:`seconds`), resumes."""

    number: int
    run_id: str
    status: str
    started: str
    ended: str
    resumes: str | None
    active: bool


@attrs.frozen
class RunRows:
    """Every run in :func:`run_order`, the active run and the editor lock."""

    rows: tuple[RunRow, ...]
    #: ``R<n>`` of the active run when it is one of the rows.
    active_number: int | None
    #: The active run's id when there is one (shown when it is not one of the rows).
    active_id: str | None
    editor_locked: bool


def run_rows(doc: Mapping[str, Any], runs: Sequence[str] | None = None) -> RunRows:
    """The runs section of ``doc`` (``runs``: its :func:`run_order`, computed when omitted)."""
    order = run_order(doc) if runs is None else runs
    lifecycle = _mapping(doc.get("lifecycle"))
    records = _mapping(lifecycle.get("runs"))
    active = lifecycle.get("active_run_id")
    rows: list[RunRow] = []
    for index, run in enumerate(order):
        record = _mapping(records.get(run))
        resumes = record.get("resumes")
        rows.append(
            RunRow(
                number=index + 1,
                run_id=run,
                status=text(record.get("status") or "-"),
                started=seconds(record.get("started_at")),
                ended=seconds(record.get("ended_at")),
                resumes=text(resumes) if resumes else None,
                active=run == active,
            )
        )
    return RunRows(
        rows=tuple(rows),
        active_number=order.index(active) + 1 if active in order else None,
        active_id=text(active) if active else None,
        editor_locked=bool(lifecycle.get("editor_locked")),
    )


# --- nodes ------------------------------------------------------------------------------------


@attrs.frozen
class Badge:
    """One store entry of a node: ``label`` is ``#<order+1>`` (``R<n>#…`` when the store holds
    several runs), ``status`` the entry's status, ``inferred`` why flowrx ended the execution
    itself when its protocol said nothing (a view marks the status as a guess), else ``None``."""

    run_id: str
    label: str
    status: str
    inferred: str | None = None


@attrs.frozen
class NodeRow:
    """One node as a view shows it.

    ``label`` is its handle (from the graph, else the store), or its id; ``type`` its type, or
    ``"group"`` for a group without one. ``classes`` are the surface's classes for the node as
    the document holds them (untrusted, not necessarily strings). ``depth`` is the nesting level
    in the tree (0 at the top, and for unknown nodes). ``group_status`` is a group node's
    status as its members decide it (the group section, in the latest run that holds the
    group), which may differ from its own badge: an Agno loop completes ``success`` while a
    member failed.
    """

    depth: int
    node_id: str
    label: str
    type: str | None
    classes: tuple[object, ...]
    badges: tuple[Badge, ...]
    #: An enclosing group the graph names but lacks.
    missing_group: bool = False
    group_status: str | None = None


@attrs.frozen
class NodeRows:
    """The node tree in pre-order (a row's parent is the last row before it one level up),
    then the nodes the snapshot names (store or surface) that the tree does not hold."""

    tree: tuple[NodeRow, ...]
    unknown: tuple[NodeRow, ...]


def _badges(doc: Mapping[str, Any], runs: Sequence[str]) -> dict[str, list[Badge]]:
    """Every node's store badges, computed in one pass over the store."""
    store = _mapping(doc.get("store"))
    held = [run for run in runs if run in store]
    several = len(held) > 1
    out: dict[str, list[Badge]] = {}
    for run in held:
        for entry in _sequence(store.get(run)):
            entry = _mapping(entry)
            node_id = entry.get("node_id")
            if not isinstance(node_id, str):
                continue
            order = entry.get("order")
            label = f"#{order + 1}" if isinstance(order, int) else "#?"
            if several:
                label = f"R{runs.index(run) + 1}{label}"
            why = entry.get("inferred")
            inferred = text(why) if why is not None else None
            badge = Badge(run, label, text(entry.get("status")), inferred)
            out.setdefault(node_id, []).append(badge)
    return out


def _store_info(doc: Mapping[str, Any]) -> dict[str, tuple[object, object]]:
    """node_id -> (handle, type) as the store recorded them (for nodes the graph lacks)."""
    out: dict[str, tuple[object, object]] = {}
    for entries in _mapping(doc.get("store")).values():
        for entry in _sequence(entries):
            entry = _mapping(entry)
            node_id = entry.get("node_id")
            if isinstance(node_id, str) and node_id not in out:
                out[node_id] = (entry.get("handle"), entry.get("type"))
    return out


def _children(graph: FlowGraph) -> tuple[dict[str | None, list[str]], list[str]]:
    """Group id (``None`` for the top) -> members in graph order, and the enclosing groups the
    graph names but lacks (listed at the top, in order of first mention)."""
    children: dict[str | None, list[str]] = {}
    missing: list[str] = []
    for node_id in graph.nodes:
        node = graph.node(node_id)
        group = node.group if node is not None else None
        if group is not None and group not in graph.nodes and group not in missing:
            missing.append(group)
            children.setdefault(None, []).append(group)
        children.setdefault(group, []).append(node_id)
    return children, missing


def _walk(graph: FlowGraph, children: Mapping[str | None, list[str]]) -> list[tuple[str, int]]:
    """(node id, depth) in pre-order from the top, each node once.

    An explicit stack, not recursion: deep nesting cannot hit the recursion limit, and as a node
    is placed once a group cycle ends. Members of a group cycle (no path from the top reaches
    them) start trees of their own, in graph order.
    """
    placed: set[str] = set()
    out: list[tuple[str, int]] = []
    for top in [*children.get(None, []), *graph.nodes]:
        stack = [(top, 0)]
        while stack:
            node_id, depth = stack.pop()
            if node_id in placed:
                continue
            placed.add(node_id)
            out.append((node_id, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(node_id, [])))
    return out


def _group_statuses(doc: Mapping[str, Any], runs: Sequence[str]) -> dict[str, str]:
    """Every group node's derived status in the latest run (of ``runs``) that holds it."""
    section = _mapping(doc.get("group"))
    out: dict[str, str] = {}
    for run in runs:  # in start order: a later run's status replaces an earlier one's
        for group_id, record in _mapping(section.get(run)).items():
            status = _mapping(record).get("status")
            if status is not None:
                out[str(group_id)] = text(status)
    return out


def node_rows(
    doc: Mapping[str, Any], graph: FlowGraph, runs: Sequence[str] | None = None
) -> NodeRows:
    """The nodes section: the graph's nodes as a tree following group nesting, then unknown
    nodes (``runs``: the document's :func:`run_order`, computed when omitted)."""
    order = run_order(doc) if runs is None else runs
    surface = _mapping(doc.get("surface"))
    info = _store_info(doc)
    badges = _badges(doc, order)
    groups = _group_statuses(doc, order)
    children, missing = _children(graph)

    def row(node_id: str, depth: int, missing_group: bool = False) -> NodeRow:
        node = graph.node(node_id)
        handle: object = node.handle if node is not None else info.get(node_id, (None, None))[0]
        kind: object = node.type if node is not None else info.get(node_id, (None, None))[1]
        if kind is None and (graph.is_group(node_id) or missing_group):
            kind = "group"
        return NodeRow(
            depth=depth,
            node_id=node_id,
            label=text(handle or node_id),
            type=text(kind) if kind else None,
            classes=tuple(_sequence(surface.get(node_id))),
            badges=tuple(badges.get(node_id, ())),
            missing_group=missing_group,
            group_status=groups.get(node_id),
        )

    tree = [row(node_id, depth, node_id in missing) for node_id, depth in _walk(graph, children)]
    placed = {r.node_id for r in tree}
    seen = list(info)
    seen.extend(str(n) for n in surface if n not in info)
    unknown = [row(node_id, 0) for node_id in seen if node_id not in placed]
    return NodeRows(tuple(tree), tuple(unknown))


# --- chat -------------------------------------------------------------------------------------


@attrs.frozen
class ToolCall:
    """One tool call of a chat message; ``args`` and ``result`` as decoded (``result`` ``None``
    while there is none), for :func:`json_short`."""

    name: str
    args: object
    result: object
    error: bool


@attrs.frozen
class ChatMessage:
    """One chat message: who (its name, else the node's display name), speaker, kind, text,
    whether it is still streaming, and its tool calls."""

    name: str
    speaker: str
    kind: str
    text: str
    streaming: bool
    tools: tuple[ToolCall, ...]


@attrs.frozen
class RecentChat:
    """The last messages of the transcript (every run in order) and how many came before."""

    messages: tuple[ChatMessage, ...]
    hidden: int


def _message(message: Mapping[str, Any], graph: FlowGraph) -> ChatMessage:
    node_id = message.get("node_id")
    name = message.get("name") or graph.display_name(node_id if isinstance(node_id, str) else None)
    tools = [_mapping(tool) for tool in _sequence(message.get("tools"))]
    return ChatMessage(
        name=text(name),
        speaker=text(message.get("speaker")),
        kind=text(message.get("kind")),
        text=text(message.get("text")),
        streaming=message.get("closed") is False,
        tools=tuple(
            ToolCall(
                name=text(tool.get("name")),
                args=tool.get("args", {}),
                result=tool.get("result"),
                error=bool(tool.get("error")),
            )
            for tool in tools
        ),
    )


def recent_chat(
    doc: Mapping[str, Any], graph: FlowGraph, limit: int, runs: Sequence[str] | None = None
) -> RecentChat:
    """The last ``limit`` chat messages of ``doc`` over its runs in :func:`run_order`."""
    chat = _mapping(doc.get("chat"))
    order = run_order(doc) if runs is None else runs
    messages = [m for run in order for m in _sequence(chat.get(run)) if isinstance(m, Mapping)]
    shown = messages[len(messages) - limit :] if limit > 0 else []
    return RecentChat(
        messages=tuple(_message(m, graph) for m in shown),
        hidden=len(messages) - len(shown),
    )


# --- interactions -----------------------------------------------------------------------------


@attrs.frozen
class PendingRow:
    """One pending interaction: its kind, its id and its detail (for :func:`detail_summary`)."""

    kind: str
    id: str
    detail: Mapping[str, Any]


@attrs.frozen
class Interactions:
    """The pending interactions and how many were resolved (as text)."""

    pending: tuple[PendingRow, ...]
    resolved: str


def interaction_rows(doc: Mapping[str, Any]) -> Interactions:
    """The interactions section of ``doc``."""
    section = _mapping(doc.get("interaction"))
    pending = [p for p in _sequence(section.get("pending")) if isinstance(p, Mapping)]
    return Interactions(
        pending=tuple(
            PendingRow(text(p.get("kind")), text(p.get("id")), _mapping(p.get("detail")))
            for p in pending
        ),
        resolved=text(section.get("resolved", 0)),
    )


def detail_summary(
    kind: str, detail: Mapping[str, Any], limit: int, *, value_limit: int, name_limit: int
) -> str:
    """A one-line summary of an interaction's detail, cut to ``limit`` (not escaped).

    ``key=value`` for the keys that matter to the kind (every key for other kinds), each value
    cut to ``value_limit``, nested values left out; then ``tools=a,b`` with the names of the
    tools it is about, each cut to ``name_limit``.
    """
    parts: list[str] = []
    if kind == "oauth":
        keys: tuple[str, ...] = ("service_name", "auth_url")
    elif kind == "pause":
        keys = ("pause_type", "message")
    else:
        keys = tuple(str(k) for k in detail)
    for key in keys:
        value = detail.get(key)
        if value is None or isinstance(value, Mapping | list | tuple):
            continue
        parts.append(f"{key}={cut(value, value_limit)}")
    tools = [
        cut(_mapping(t).get("tool_name"), name_limit)
        for t in _sequence(detail.get("tools"))
        if _mapping(t).get("tool_name")
    ]
    if tools:
        parts.append("tools=" + ",".join(tools))
    return cut(" ".join(parts), limit)


# --- health -----------------------------------------------------------------------------------


@attrs.frozen
class ConnectionRow:
    """The connection: its state, the attempt and the reason (``None`` when there is none)."""

    state: str
    attempt: str | None
    reason: str | None


def connection_row(state: object, attempt: object = None, reason: object = None) -> ConnectionRow:
    """A :class:`ConnectionRow` from a state, an attempt number and a reason."""
    return ConnectionRow(
        state=text(state),
        attempt=text(attempt) if attempt else None,
        reason=text(reason) if reason else None,
    )


@attrs.frozen
class CounterRow:
    """One intake counter; ``warn`` when it is non-zero and not one that is expected to grow."""

    key: str
    value: str
    warn: bool


@attrs.frozen
class ConcernRow:
    """One concern's failure count; ``bad`` when it failed or is degraded."""

    name: str
    count: str
    bad: bool
    degraded: bool


@attrs.frozen
class HealthView:
    """The connection the document records (live sources), counters, and concerns."""

    connection: ConnectionRow | None
    counters: tuple[CounterRow, ...]
    concerns: tuple[ConcernRow, ...]
    #: Names of the degraded concerns.
    degraded: tuple[str, ...]


def health_view(doc: Mapping[str, Any], counters: Iterable[str] | None = None) -> HealthView:
    """The health section of ``doc``.

    ``counters`` names the counters to show, in order (a missing one as 0); ``None`` shows every
    integer the diagnostics hold, in their order.
    """
    diagnostics = _mapping(doc.get("diagnostics"))
    connection = _mapping(diagnostics.get("connection"))
    if counters is None:
        values = [
            (text(key), value)
            for key, value in diagnostics.items()
            if isinstance(value, int) and not isinstance(value, bool)
        ]
    else:
        values = [(key, diagnostics.get(key, 0)) for key in counters]

    failed = _mapping(diagnostics.get("failed"))
    health = _mapping(diagnostics.get("health"))
    concerns: list[ConcernRow] = []
    for concern in dict.fromkeys([*failed, *health]):
        count = failed.get(concern, 0)
        degraded = health.get(concern) == "degraded"
        concerns.append(ConcernRow(text(concern), text(count), bool(count) or degraded, degraded))
    return HealthView(
        connection=(
            connection_row(
                connection.get("state"), connection.get("attempt"), connection.get("reason")
            )
            if connection
            else None
        ),
        counters=tuple(
            CounterRow(key, text(value), bool(value) and key not in _HEALTHY)
            for key, value in values
        ),
        concerns=tuple(concerns),
        degraded=tuple(c.name for c in concerns if c.degraded),
    )
