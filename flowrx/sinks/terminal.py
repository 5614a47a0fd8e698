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

What each section holds is read from the document by :mod:`flowrx.sinks._view`, which the HTML
view (:mod:`flowrx.sinks.html_view`) shares; this module only draws those rows with rich, cut
to its own (narrower) limits.

The view does not subscribe to anything and starts no thread: :class:`rich.live.Live` runs with
``auto_refresh=False`` and the host (the CLI, about ten times a second on its asyncio loop)
calls :meth:`TerminalView.refresh`. Only this module (and a future Jupyter sink) imports rich.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from loguru import logger
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from flowrx.graph import FlowGraph
from flowrx.sinks import _view
from flowrx.sinks._view import Badge, NodeRow, json_short, seconds, terminal_text
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

#: The intake counters shown, in this order (a missing one as 0).
_COUNTERS: Final = ("frames", "messages", "rejected", "duplicates", "late")


def _clean(value: object, limit: int | None = None) -> str:
    """``value`` as one line of plain text safe for a terminal, cut to ``limit`` characters
    (:func:`flowrx.sinks._view.terminal_text`: controls, bidirectional marks and lone
    surrogates become U+FFFD, line breaks and tabs spaces)."""
    return terminal_text(value, limit)


def _text(value: object, style: str = "", limit: int | None = None) -> Text:
    """Untrusted ``value`` as a :class:`Text` (never parsed as markup).

    The style is a span, not the Text's base style, so that text appended later keeps its own.
    """
    out = Text()
    out.append(_clean(value, limit), style=style or None)
    return out


# --- sections ---------------------------------------------------------------------------------


def _badges(badges: Iterable[Badge]) -> Text:
    """A node's store badges, `` #<order+1> status`` each, in the status's colour."""
    out = Text()
    for badge in badges:
        status = _clean(badge.status, 20)
        style = _STATUS_STYLES.get(status, "")
        out.append(" ")
        out.append(badge.label, style=f"bold {style}".strip())
        out.append(f" {status}", style=style or None)
    return out


def _glows(classes: Iterable[object]) -> Text:
    out = Text()
    for name in classes:
        shown = _clean(name, 40)
        out.append(" ")
        out.append(shown, style=_GLOW_STYLES.get(shown, ""))
    return out


def _node_label(row: NodeRow) -> Text:
    label = _text(row.label, "bold", _ID_LIMIT)
    if row.type:
        label.append(" ")
        label.append(_clean(row.type, 40), style="dim")
    if row.missing_group:
        label.append(" (not in the graph)", style="dim italic")
    label.append_text(_badges(row.badges))
    label.append_text(_glows(row.classes))
    return label


def _nodes(doc: Mapping[str, Any], graph: FlowGraph, runs: list[str]) -> Tree:
    """The node tree: groups hold their members; unknown nodes at the end."""
    nodes = _view.node_rows(doc, graph, runs)
    root = Tree(Text("nodes", style="bold"), guide_style="bright_black")
    branches = [root]  # the branch each depth hangs from, along the current path
    for row in nodes.tree:
        del branches[row.depth + 1 :]
        branches.append(branches[row.depth].add(_node_label(row)))
    if nodes.unknown:
        other = root.add(Text("unknown", style="bold bright_black"))
        for row in nodes.unknown:
            other.add(_node_label(row))
    if not nodes.tree and not nodes.unknown:
        root.add(Text("no nodes yet", style="dim"))
    return root


def _runs(doc: Mapping[str, Any], runs: list[str]) -> RenderableType:
    """One entry per run (``R<n>``, status, start → end, resumes, then its id), then the active
    run and the editor lock. Lines, not a table, so that 36-character run ids fit a narrow
    column."""
    view = _view.run_rows(doc, runs)
    lines: list[RenderableType] = []
    for row in view.rows:
        status = _clean(row.status, 20)
        line = _text(f"R{row.number}", "bold" if row.active else "dim")
        line.append(" ")
        line.append(status, style=_STATUS_STYLES.get(status) or None)
        line.append(f"  {row.started} → {row.ended}", style="dim")
        if row.resumes:
            line.append(f"  resumes {_clean(row.resumes, 6)}", style="dim")
        if row.active:
            line.append("  active", style="bold")
        lines.append(line)
        ident = _text("   " + _clean(row.run_id, _ID_LIMIT), "" if row.active else "dim")
        ident.overflow = "fold"
        lines.append(ident)
    if not view.rows:
        lines.append(_text("no runs yet", "dim"))
    footer = _text("active ", "dim")
    if view.active_number is not None:
        footer.append(f"R{view.active_number}", style="bold")
    elif view.active_id:
        footer.append_text(_text(view.active_id, "bold", _ID_LIMIT))
    else:
        footer.append("none", style="dim")
    locked = view.editor_locked
    footer.append("  editor ", style="dim")
    footer.append("locked" if locked else "unlocked", style="yellow" if locked else "green")
    lines.append(footer)
    return Group(*lines)


def _chat(doc: Mapping[str, Any], runs: list[str], graph: FlowGraph) -> RenderableType:
    chat = _view.recent_chat(doc, graph, CHAT_MESSAGES, runs)
    if not chat.messages and not chat.hidden:
        return Text("no messages", style="dim")
    lines: list[RenderableType] = []
    if chat.hidden > 0:
        lines.append(Text(f"… {chat.hidden} earlier", style="dim"))
    for message in chat.messages:
        line = _text(message.name, "bold", 40)
        line.append(f" {_clean(message.speaker, 12)}", style="dim")
        kind = _clean(message.kind, 12)
        line.append(f" {kind}", style="italic dim" if kind == "reasoning" else "dim")
        line.append(": ")
        line.append(_clean(message.text, _TEXT_LIMIT))
        if message.streaming:
            line.append(" ▍", style="yellow")
        lines.append(line)
        for tool in message.tools:
            call = _text("  ↳ ", "dim")
            call.append(_clean(tool.name, 40), style="magenta")
            call.append(f"({_clean(json_short(tool.args, 60))})", style="dim")
            if tool.result is not None:
                call.append(" → ")
                call.append(_clean(json_short(tool.result, 100)), style="red" if tool.error else "")
            elif tool.error:
                call.append(" → error", style="red")
            lines.append(call)
    return Group(*lines)


def _interactions(doc: Mapping[str, Any]) -> RenderableType:
    section = _view.interaction_rows(doc)
    lines: list[RenderableType] = []
    for item in section.pending:
        line = _text(item.kind, "bold blue", 12)
        line.append(" ")
        line.append(_clean(item.id, _ID_LIMIT), style="dim")
        summary = _view.detail_summary(
            item.kind, item.detail, _DETAIL_LIMIT, value_limit=60, name_limit=30
        )
        if summary:
            line.append(" ")
            line.append(_clean(summary))
        lines.append(line)
    if not section.pending:
        lines.append(Text("none pending", style="dim"))
    lines.append(Text(f"resolved {_clean(section.resolved, 10)}", style="dim"))
    return Group(*lines)


def _health(
    doc: Mapping[str, Any], connection: ConnectionStatus | None, fps: float
) -> RenderableType:
    health = _view.health_view(doc, _COUNTERS)
    first = Text()
    if connection is not None:
        status = _view.connection_row(connection.state, connection.attempt, connection.reason)
        state = _clean(status.state, 20)
        first.append("connection ", style="dim")
        first.append(state, style=_CONNECTION_STYLES.get(state, "bold"))
        if status.attempt:
            first.append(f" (attempt {_clean(status.attempt)})", style="dim")
        if status.reason:
            first.append(": ")
            first.append(_clean(status.reason, 120))
        first.append("  ")
    first.append("fps ", style="dim")
    first.append(f"{fps:.1f}", style="bold")
    for counter in health.counters:
        first.append(f"  {counter.key} ", style="dim")
        first.append(_clean(counter.value, 12), style="yellow" if counter.warn else "")

    second = _text("failed", "dim")
    for concern in health.concerns:
        second.append(f" {_clean(concern.name, 20)} ", style="dim")
        second.append(_clean(concern.count, 12), style="bold red" if concern.bad else "")
    second.append("  health ", style="dim")
    if health.degraded:
        names = ", ".join(_clean(name, 20) for name in health.degraded)
        second.append("degraded: " + names, style="bold red")
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
    runs = _view.run_order(doc)
    heading = _text(title, "bold", 60)
    if graph.flow_id:
        heading.append("  flow ", style="dim")
        heading.append(_clean(graph.flow_id, 40))
    heading.append(f"  t {seconds(doc.get('clock'))}", style="dim")

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
