"""Live terminal view: one :class:`FlowState` drawn with ``rich``, redrawn on demand.

What it shows (all read from :meth:`FlowState.snapshot` and :attr:`FlowState.graph`, so the
view sees exactly what the ``flowrx/snapshot/1`` document says and never reaches into a
concern's state):

* **Nodes**: the flow's nodes as a tree following group nesting, each with its handle (or id),
  its type, a badge per run held in the store (``#<order+1>`` and the status) and its glow
  classes from the surface in colour. Nodes the graph lacks but the snapshot names (store or
  surface) are listed at the end under *unknown*.
* **Runs**: every run with its status, times and resumes; the active run and the editor lock.
* **Chat**: the last messages of the transcript (speaker, kind, text cut short, tool calls).
* **Interactions**: pending pauses and prompts with a summary of their detail, and how many
  were resolved.
* **Health**: the connection status, frames per second, intake counters and failures per
  concern, with failures and degraded concerns in red.

Why a separate sink: the terminal is one host among others (a Jupyter sink, a web editor), so
this module only *reads* the state handle. Everything shown comes from untrusted frames or
files (ids, handles, chat text), so every string goes through :class:`rich.text.Text` with
control characters replaced, never through rich markup; chat HTML items arrive already
sanitised and are shown as plain text.

The view does not subscribe to anything and starts no thread: :class:`rich.live.Live` runs with
``auto_refresh=False`` and the host (the CLI, about ten times a second on its asyncio loop)
calls :meth:`TerminalView.refresh`. Only this module (and a future Jupyter sink) imports rich.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from loguru import logger
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from flowrx.graph import FlowGraph
from flowrx.sinks.state import FlowState
from flowrx.streams.websocket import ConnectionStatus

__all__ = ["CHAT_MESSAGES", "TerminalView", "render_snapshot"]

CHAT_MESSAGES: Final = 8
"""How many of the latest chat messages the view shows."""

_TEXT_LIMIT: Final = 160
_ID_LIMIT: Final = 80
_DETAIL_LIMIT: Final = 120

#: Glow classes in colour; any other class is shown in the default style.
_GLOW_STYLES: Final[Mapping[str, str]] = {
    "executing": "bold yellow",
    "executing-tool": "bold magenta",
    "executed-success": "green",
    "executed-error": "bold red",
    "executed-killed": "bright_black strike",
    "executed-provided": "cyan",
}

#: Store, group and run statuses in colour.
_STATUS_STYLES: Final[Mapping[str, str]] = {
    "executing": "yellow",
    "running": "yellow",
    "paused": "blue",
    "stalled": "bold red",
    "unfinished": "bright_black",
    "success": "green",
    "error": "red",
    "killed": "bright_black strike",
    "provided": "cyan",
}

_CONNECTION_STYLES: Final[Mapping[str, str]] = {
    "open": "green",
    "connecting": "yellow",
    "reconnecting": "yellow",
    "closed": "bright_black",
    "failed": "bold red",
}

_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean(value: object, limit: int | None = None) -> str:
    """``value`` as one line of plain text safe for a terminal, cut to ``limit`` characters.

    Line breaks and tabs become spaces; other control characters (escape sequences) and
    bidirectional overrides become U+FFFD, so untrusted text cannot move the cursor or reorder
    what is shown.
    """
    text = value if isinstance(value, str) else "" if value is None else str(value)
    out: list[str] = []
    for char in text:
        if char in "\r\n\t":
            out.append(" ")
        elif char in _BIDI or unicodedata.category(char) == "Cc":
            out.append("\ufffd")
        else:
            out.append(char)
    line = "".join(out)
    if limit is not None and len(line) > limit:
        line = line[: max(0, limit - 1)] + "…"
    return line


def _text(value: object, style: str = "", limit: int | None = None) -> Text:
    """Untrusted ``value`` as a :class:`Text` (never parsed as markup).

    The style is a span, not the Text's base style, so that text appended later keeps its own.
    """
    out = Text()
    out.append(_clean(value, limit), style=style or None)
    return out


def _json_short(value: object, limit: int) -> str:
    """A compact one-line JSON rendering of a decoded value, for args and details."""
    if isinstance(value, str):
        return _clean(value, limit)
    try:
        shown = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    return _clean(shown, limit)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


# --- sections ---------------------------------------------------------------------------------


def _run_order(doc: Mapping[str, Any]) -> list[str]:
    """Run ids in the order they started (lifecycle), then any others the store or chat holds."""
    runs = _mapping(_mapping(doc.get("lifecycle")).get("runs"))

    def started(item: tuple[int, str]) -> tuple[float, int]:
        at = _mapping(runs.get(item[1])).get("started_at")
        number = at if isinstance(at, int | float) and not isinstance(at, bool) else float("inf")
        return (float(number), item[0])

    order = [run for _, run in sorted(enumerate(map(str, runs)), key=started)]
    for section in ("store", "chat", "group"):
        for run in _mapping(doc.get(section)):
            if run not in order:
                order.append(str(run))
    return order


def _badges(doc: Mapping[str, Any], runs: Sequence[str]) -> dict[str, Text]:
    """Every node's store badges, ``#<order+1> status`` per entry (``R<n>#…`` when the store
    holds several runs), computed in one pass over the store."""
    store = _mapping(doc.get("store"))
    held = [run for run in runs if run in store]
    several = len(held) > 1
    out: dict[str, Text] = {}
    for run in held:
        for entry in _sequence(store.get(run)):
            entry = _mapping(entry)
            node_id = entry.get("node_id")
            if not isinstance(node_id, str):
                continue
            order = entry.get("order")
            status = _clean(entry.get("status"), 20)
            style = _STATUS_STYLES.get(status, "")
            label = f"#{order + 1}" if isinstance(order, int) else "#?"
            if several:
                label = f"R{runs.index(run) + 1}{label}"
            badge = out.setdefault(node_id, Text())
            badge.append(" ")
            badge.append(label, style=f"bold {style}".strip())
            badge.append(f" {status}", style=style or None)
    return out


def _glows(classes: Iterable[object]) -> Text:
    out = Text()
    for name in classes:
        shown = _clean(name, 40)
        out.append(" ")
        out.append(shown, style=_GLOW_STYLES.get(shown, ""))
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


def _node_label(
    node_id: str,
    graph: FlowGraph,
    doc: Mapping[str, Any],
    badges: Mapping[str, Text],
    info: Mapping[str, tuple[object, object]],
    missing_group: bool = False,
) -> Text:
    node = graph.node(node_id)
    handle: object = node.handle if node is not None else info.get(node_id, (None, None))[0]
    kind: object = node.type if node is not None else info.get(node_id, (None, None))[1]
    if kind is None and (graph.is_group(node_id) or missing_group):
        kind = "group"
    label = _text(handle or node_id, "bold", _ID_LIMIT)
    if kind:
        label.append(" ")
        label.append(_clean(kind, 40), style="dim")
    if missing_group:
        label.append(" (not in the graph)", style="dim italic")
    label.append_text(badges.get(node_id, Text()))
    label.append_text(_glows(_sequence(_mapping(doc.get("surface")).get(node_id))))
    return label


def _nodes(doc: Mapping[str, Any], graph: FlowGraph, runs: Sequence[str]) -> Tree:
    """The node tree: groups hold their members; unknown nodes at the end."""
    info = _store_info(doc)
    badges = _badges(doc, runs)
    known = list(graph.nodes)
    children: dict[str | None, list[str]] = {}
    missing: list[str] = []  # enclosing groups the graph names but lacks
    for node_id in known:
        parent = graph.node(node_id)
        group = parent.group if parent is not None else None
        if group is not None and group not in graph.nodes and group not in missing:
            missing.append(group)
            children.setdefault(None, []).append(group)
        children.setdefault(group, []).append(node_id)

    root = Tree(Text("nodes", style="bold"), guide_style="bright_black")
    placed: set[str] = set()

    def place(top: str, under: Tree) -> None:
        stack: list[tuple[str, Tree]] = [(top, under)]
        while stack:
            node_id, parent = stack.pop()
            if node_id in placed:
                continue
            placed.add(node_id)
            branch = parent.add(
                _node_label(node_id, graph, doc, badges, info, missing_group=node_id in missing)
            )
            stack.extend((child, branch) for child in reversed(children.get(node_id, [])))

    for node_id in children.get(None, []):
        place(node_id, root)
    for node_id in known:  # members of a group cycle: no path from the top reaches them
        if node_id not in placed:
            place(node_id, root)

    seen = list(info)
    seen.extend(str(n) for n in _mapping(doc.get("surface")) if n not in info)
    unknown = [n for n in seen if n not in placed]
    if unknown:
        other = root.add(Text("unknown", style="bold bright_black"))
        for node_id in unknown:
            other.add(_node_label(node_id, graph, doc, badges, info))
    if not known and not unknown:
        root.add(Text("no nodes yet", style="dim"))
    return root


def _runs(doc: Mapping[str, Any], runs: Sequence[str]) -> RenderableType:
    """One entry per run (``R<n>``, status, start → end, resumes, then its id), then the active
    run and the editor lock. Lines, not a table, so that 36-character run ids fit a narrow
    column."""
    lifecycle = _mapping(doc.get("lifecycle"))
    records = _mapping(lifecycle.get("runs"))
    active = lifecycle.get("active_run_id")
    locked = bool(lifecycle.get("editor_locked"))
    lines: list[RenderableType] = []
    for index, run in enumerate(runs):
        record = _mapping(records.get(run))
        status = _clean(record.get("status") or "-", 20)
        line = _text(f"R{index + 1}", "bold" if run == active else "dim")
        line.append(" ")
        line.append(status, style=_STATUS_STYLES.get(status) or None)
        times = f"  {_seconds(record.get('started_at'))} → {_seconds(record.get('ended_at'))}"
        line.append(times, style="dim")
        resumes = record.get("resumes")
        if resumes:
            line.append(f"  resumes {_clean(resumes, 6)}", style="dim")
        if run == active:
            line.append("  active", style="bold")
        lines.append(line)
        ident = _text("   " + _clean(run, _ID_LIMIT), "" if run == active else "dim")
        ident.overflow = "fold"
        lines.append(ident)
    if not runs:
        lines.append(_text("no runs yet", "dim"))
    footer = _text("active ", "dim")
    if active in runs:
        footer.append(f"R{runs.index(active) + 1}", style="bold")
    elif active:
        footer.append_text(_text(active, "bold", _ID_LIMIT))
    else:
        footer.append("none", style="dim")
    footer.append("  editor ", style="dim")
    footer.append("locked" if locked else "unlocked", style="yellow" if locked else "green")
    lines.append(footer)
    return Group(*lines)


def _seconds(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}s"
    return "-"


def _chat(doc: Mapping[str, Any], runs: Sequence[str], graph: FlowGraph) -> RenderableType:
    chat = _mapping(doc.get("chat"))
    messages = [m for run in runs for m in _sequence(chat.get(run)) if isinstance(m, Mapping)]
    if not messages:
        return Text("no messages", style="dim")
    lines: list[RenderableType] = []
    hidden = len(messages) - CHAT_MESSAGES
    if hidden > 0:
        lines.append(Text(f"… {hidden} earlier", style="dim"))
    for message in messages[-CHAT_MESSAGES:]:
        name = message.get("name") or graph.display_name(_str_or_none(message.get("node_id")))
        line = _text(name, "bold", 40)
        line.append(f" {_clean(message.get('speaker'), 12)}", style="dim")
        kind = _clean(message.get("kind"), 12)
        line.append(f" {kind}", style="italic dim" if kind == "reasoning" else "dim")
        line.append(": ")
        line.append(_clean(message.get("text"), _TEXT_LIMIT))
        if message.get("closed") is False:
            line.append(" ▍", style="yellow")
        lines.append(line)
        for tool in _sequence(message.get("tools")):
            tool = _mapping(tool)
            call = _text("  ↳ ", "dim")
            call.append(_clean(tool.get("name"), 40), style="magenta")
            call.append(f"({_json_short(tool.get('args', {}), 60)})", style="dim")
            result = tool.get("result")
            if result is not None:
                call.append(" → ")
                call.append(_json_short(result, 100), style="red" if tool.get("error") else "")
            elif tool.get("error"):
                call.append(" → error", style="red")
            lines.append(call)
    return Group(*lines)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _detail(kind: str, detail: Mapping[str, Any]) -> str:
    """A one-line summary of an interaction's detail."""
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
        parts.append(f"{key}={_clean(value, 60)}")
    tools = [
        _clean(_mapping(t).get("tool_name"), 30)
        for t in _sequence(detail.get("tools"))
        if _mapping(t).get("tool_name")
    ]
    if tools:
        parts.append("tools=" + ",".join(tools))
    return _clean(" ".join(parts), _DETAIL_LIMIT)


def _interactions(doc: Mapping[str, Any]) -> RenderableType:
    section = _mapping(doc.get("interaction"))
    pending = [p for p in _sequence(section.get("pending")) if isinstance(p, Mapping)]
    lines: list[RenderableType] = []
    for item in pending:
        kind = _clean(item.get("kind"), 12)
        line = _text(kind, "bold blue")
        line.append(" ")
        line.append(_clean(item.get("id"), _ID_LIMIT), style="dim")
        summary = _detail(kind, _mapping(item.get("detail")))
        if summary:
            line.append(" ")
            line.append(summary)
        lines.append(line)
    if not pending:
        lines.append(Text("none pending", style="dim"))
    resolved = section.get("resolved", 0)
    lines.append(Text(f"resolved {_clean(resolved, 10)}", style="dim"))
    return Group(*lines)


_COUNTERS: Final = ("frames", "messages", "rejected", "duplicates", "late")


def _health(
    doc: Mapping[str, Any], connection: ConnectionStatus | None, fps: float
) -> RenderableType:
    diagnostics = _mapping(doc.get("diagnostics"))
    first = Text()
    if connection is not None:
        state = _clean(connection.state, 20)
        first.append("connection ", style="dim")
        first.append(state, style=_CONNECTION_STYLES.get(state, "bold"))
        if connection.attempt:
            first.append(f" (attempt {connection.attempt})", style="dim")
        if connection.reason:
            first.append(": ")
            first.append(_clean(connection.reason, 120))
        first.append("  ")
    first.append("fps ", style="dim")
    first.append(f"{fps:.1f}", style="bold")
    for key in _COUNTERS:
        first.append(f"  {key} ", style="dim")
        value = diagnostics.get(key, 0)
        bad = key != "frames" and key != "messages" and bool(value)
        first.append(_clean(value, 12), style="yellow" if bad else "")

    failed = _mapping(diagnostics.get("failed"))
    health = _mapping(diagnostics.get("health"))
    second = _text("failed", "dim")
    degraded: list[str] = []
    for concern in dict.fromkeys([*failed, *health]):
        count = failed.get(concern, 0)
        is_degraded = health.get(concern) == "degraded"
        if is_degraded:
            degraded.append(_clean(concern, 20))
        second.append(f" {_clean(concern, 20)} ", style="dim")
        second.append(_clean(count, 12), style="bold red" if count or is_degraded else "")
    second.append("  health ", style="dim")
    if degraded:
        second.append("degraded: " + ", ".join(degraded), style="bold red")
    else:
        second.append("ok", style="green")
    return Group(first, second)


def render_snapshot(
    doc: Mapping[str, Any],
    graph: FlowGraph,
    *,
    title: str = "flowrx",
    connection: ConnectionStatus | None = None,
    fps: float = 0.0,
) -> RenderableType:
    """Draw a ``flowrx/snapshot/1`` document (and the flow's graph) as one rich renderable.

    Pure: the same inputs give the same drawing. It fits terminals 100 to 160 columns wide
    (narrower ones wrap). Every string from ``doc`` or ``graph`` is shown literally.
    """
    runs = _run_order(doc)
    heading = _text(title, "bold", 60)
    if graph.flow_id:
        heading.append("  flow ", style="dim")
        heading.append(_clean(graph.flow_id, 40))
    clock = doc.get("clock")
    heading.append(f"  t {_seconds(clock)}", style="dim")

    top = Table.grid(expand=True, padding=(0, 1))
    top.add_column(ratio=1)
    top.add_column(width=46)  # fits a run id (36) with its indent and the panel's borders
    top.add_row(
        Panel(_nodes(doc, graph, runs), title=Text("Nodes"), title_align="left"),
        Group(
            Panel(_runs(doc, runs), title=Text("Runs"), title_align="left"),
            Panel(_interactions(doc), title=Text("Interactions"), title_align="left"),
        ),
    )
    return Panel(
        Group(
            top,
            Panel(_chat(doc, runs, graph), title=Text("Chat"), title_align="left"),
            Panel(_health(doc, connection, fps), title=Text("Health"), title_align="left"),
        ),
        title=heading,
        title_align="left",
        border_style="blue",
    )


class TerminalView:
    """A live ``rich`` view of one :class:`FlowState`, redrawn when the host calls
    :meth:`refresh` (no thread, no subscription)."""

    def __init__(
        self, state: FlowState, *, title: str = "flowrx", console: Console | None = None
    ) -> None:
        self.state = state
        self.title = title
        self.console = console if console is not None else Console()
        self._live: Live | None = None

    def render(
        self, connection: ConnectionStatus | None = None, fps: float = 0.0
    ) -> RenderableType:
        """The view of the state now, with the connection status and frame rate given."""
        return render_snapshot(
            self.state.snapshot(),
            self.state.graph,
            title=self.title,
            connection=connection,
            fps=fps,
        )

    @property
    def live(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._live is not None

    def start(self) -> None:
        """Show the view on the console (a :class:`rich.live.Live` without its refresh thread);
        a second call does nothing."""
        if self._live is not None:
            return
        live = Live(
            self._safe_render(None, 0.0),
            console=self.console,
            auto_refresh=False,
            transient=False,
        )
        live.start(refresh=True)
        self._live = live

    def refresh(self, connection: ConnectionStatus | None = None, fps: float = 0.0) -> None:
        """Redraw the live view from the state now (nothing before :meth:`start`)."""
        if self._live is None:
            return
        self._live.update(self._safe_render(connection, fps), refresh=True)

    def stop(self) -> None:
        """Leave the last drawing on screen and give the console back; safe to call twice."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def __enter__(self) -> TerminalView:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _safe_render(self, connection: ConnectionStatus | None, fps: float) -> RenderableType:
        """Render, or on a bug in the view a red line instead (logged): the view must not take
        the host's loop down with it."""
        try:
            return self.render(connection, fps)
        except Exception as exc:
            logger.opt(exception=exc).error("terminal view failed to render: {error!r}", error=exc)
            return Text(f"view failed to render: {exc!r}", style="bold red")
