"""Live terminal view: one :class:`FlowState` drawn with ``rich``, redrawn on demand.

What it shows (all read from :meth:`FlowState.snapshot` and :attr:`FlowState.graph`, so the
view sees exactly what the ``flowrx/snapshot/1`` document says and never reaches into a
concern's state):

* **Nodes**: the flow's nodes as a tree following group nesting, each with its handle (or id),
  its type, its badges (``#<order+1>`` and the status, ``?`` after a status flowrx inferred) of
  the latest two runs the store holds, a group's status as its members decide it (``group
  error``, beside its own badge), and its glow in words a person reads (``running``,
  ``running tool``, ``done``, ``failed``, ``killed``, ``provided``) in colour. Nodes the graph
  lacks but the snapshot names (store or surface) are listed at the end under *unknown*.
* **Runs**: every run with its status, start → end (``running`` while it is open), resumes and
  id; the active run and the editor lock; then the pending pauses and prompts with a summary
  of their detail, and how many were resolved.
* **Chat**: the last messages of the transcript (who, kind, text; a streaming message shows
  its newest text; HTML items as their text) and their tool calls.
* **State**: each run's shared agent state (AG-UI's ``state``) as indented JSON, only when a
  run has one (the platform's stream never does).
* **Health**: the connection status, frames per second, intake counters and failures per
  concern, with failures and degraded concerns in red.

**It fits the terminal it is in.** Every row is one line, cut with ``…`` rather than wrapped.
Given a height (the live view uses its console's), the sections share it: the heading and the
health panel always show, the runs keep at least the active run and the editor lock, and the
node tree and the chat give way (the tree keeps its glowing nodes first, the chat its newest
lines, each saying how many rows it left out). From 100 columns the nodes and the runs sit
side by side; narrower, they stack. A node row too wide drops its type, then all but its
latest badge, before it is cut.

Why a separate sink: the terminal is one host among others (a Jupyter sink, a web editor), so
this module only *reads* the state handle. Everything shown comes from untrusted frames or
files (ids, handles, chat text), so every string goes through :class:`rich.text.Text` with
control characters, bidirectional marks and lone surrogates replaced
(:func:`flowrx.sinks._view.terminal_text`), never through rich markup.

What each section holds is read from the document by :mod:`flowrx.sinks._view`, which the HTML
view (:mod:`flowrx.sinks.html_view`) shares; this module only draws those rows with rich, cut
to its own limits.

The view does not subscribe to anything and starts no thread: :class:`rich.live.Live` runs with
``auto_refresh=False`` and the host (the CLI, about ten times a second on its asyncio loop)
calls :meth:`TerminalView.refresh`. Only this module (and a future Jupyter sink) imports rich.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
from loguru import logger
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from flowrx.graph import FlowGraph
from flowrx.sinks import _view
from flowrx.sinks._view import Badge, NodeRow, html_text, json_short, seconds, terminal_text
from flowrx.sinks.state import FlowState
from flowrx.streams.websocket import ConnectionStatus

__all__ = ["CHAT_MESSAGES", "GLOW_WORDS", "TerminalView", "render_snapshot"]

CHAT_MESSAGES: Final = 8
"""How many of the latest chat messages the view shows (fewer when the height is short)."""

_ID_LIMIT: Final = 80
_DETAIL_LIMIT: Final = 120
_WIDE: Final = 100
"""From this many columns the nodes and the runs sit side by side."""
_RUNS_WIDTH: Final = 46
"""The runs column when side by side: a run's line, or its id (36) indented, fits."""
_BADGES: Final = 2
"""Badges shown per node: those of the latest runs the store holds."""

GLOW_WORDS: Final[Mapping[str, str]] = {
    "executing": "running",
    "executing-tool": "running tool",
    "executed-success": "done",
    "executed-error": "failed",
    "executed-killed": "killed",
    "executed-provided": "provided",
}
"""The glow classes of the surface (CSS class names of the editor) as words; any other class
is shown as it is."""

#: Glow words in colour.
_GLOW_STYLES: Final[Mapping[str, str]] = {
    "running": "bold yellow",
    "running tool": "bold magenta",
    "done": "green",
    "failed": "bold red",
    "killed": "bright_black strike",
    "provided": "cyan",
}

#: Store statuses as words (the store says ``executing`` for a node that runs).
_STATUS_WORDS: Final[Mapping[str, str]] = {"executing": "running"}

#: Store, group and run statuses in colour.
_STATUS_STYLES: Final[Mapping[str, str]] = {
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


def _line(*parts: tuple[object, str] | Text) -> Text:
    """One line of the view: never wrapped, cut with ``…`` at the width it is drawn in. Parts
    are (untrusted value, style) pairs, cleaned here, or :class:`Text` already made safe."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        else:
            value, style = part
            out.append(_clean(value), style=style or None)
    return out


def _first_fitting(width: int, *candidates: Text) -> Text:
    """The first candidate that fits ``width`` cells, else the last (cut when drawn)."""
    for candidate in candidates:
        if candidate.cell_len <= width:
            return candidate
    return candidates[-1]


def _tail(text: str, cells: int) -> str:
    """The end of ``text`` that fits ``cells`` cells."""
    out: list[str] = []
    used = 0
    for char in reversed(text):
        used += cell_len(char)
        if used > cells:
            break
        out.append(char)
    return "".join(reversed(out))


# --- nodes ------------------------------------------------------------------------------------


def _status_word(status: object) -> str:
    word = _clean(status, 20)
    return _STATUS_WORDS.get(word, word)


def _badges(badges: Iterable[Badge]) -> Text:
    """Store badges, `` #<order+1> status`` each, in the status's colour."""
    out = Text()
    for badge in badges:
        status = _status_word(badge.status)
        style = _STATUS_STYLES.get(status, "")
        out.append(" ")
        out.append(badge.label, style=f"bold {style}".strip())
        guess = "?" if badge.inferred is not None else ""  # ended by flowrx, not the stream
        out.append(f" {status}{guess}", style=style or None)
    return out


def _glows(classes: Iterable[object]) -> Text:
    """A node's glow as words (`` ● running, running tool``), each in its colour."""
    out = Text()
    for index, name in enumerate(classes):
        shown = _clean(name, 40)
        word = GLOW_WORDS.get(shown, shown)
        out.append(" ● " if index == 0 else ", ", style=_GLOW_STYLES.get(word, "") or None)
        out.append(word, style=_GLOW_STYLES.get(word, "") or None)
    return out


def _node_line(row: NodeRow, prefix: str, width: int) -> Text:
    """A node's line, giving way when too wide: its type goes, then all but its latest badge;
    then it is cut."""
    candidates: list[Text] = []
    for with_type, badges in ((True, _BADGES), (False, _BADGES), (False, 1)):
        line = _line((prefix, "bright_black"), (_clean(row.label, _ID_LIMIT), "bold"))
        if with_type and row.type:
            line.append(" " + _clean(row.type, 40), style="dim")
        if row.missing_group:
            line.append(" (not in the graph)", style="dim italic")
        line.append_text(_badges(row.badges[-badges:] if badges else ()))
        if row.group_status is not None:  # as its members decide, beside its own badge
            status = _status_word(row.group_status)
            line.append(f" group {status}", style=_STATUS_STYLES.get(status) or None)
        line.append_text(_glows(row.classes))
        candidates.append(line)
    return _first_fitting(width, *candidates)


def _prefixes(depths: Sequence[int]) -> list[str]:
    """Tree guides (``├── ``, ``│   ``, ``└── ``) for rows in pre-order at these depths; a row
    at depth 0 has none. Linear in the rows (times the depth)."""
    last = [True] * len(depths)
    later: list[bool] = []  # per depth: a later row at that depth comes before a shallower one
    for index in range(len(depths) - 1, -1, -1):
        depth = depths[index]
        del later[depth + 1 :]
        later.extend([False] * (depth + 1 - len(later)))
        last[index] = not later[depth]
        later[depth] = True
    out: list[str] = []
    more: list[bool] = []  # per depth: the current ancestor there has siblings still to come
    for depth, is_last in zip(depths, last, strict=True):
        if depth == 0:
            out.append("")
        else:
            guides = "".join(
                "│   " if level < len(more) and more[level] else "    " for level in range(1, depth)
            )
            out.append(guides + ("└── " if is_last else "├── "))
        del more[depth:]
        more.extend([False] * (depth - len(more)))
        more.append(not is_last)
    return out


@attrs.frozen
class _Rows:
    """Rows of a section and how to draw them in a number of lines (``None``: all of them)."""

    need: int
    draw: Any  # Callable[[int | None], list[Text]]


def _nodes(doc: Mapping[str, Any], graph: FlowGraph, runs: list[str], width: int) -> _Rows:
    """The node tree: groups hold their members; unknown nodes at the end. Cut short, it keeps
    the glowing nodes first, then those with badges, in tree order, and says how many it left
    out."""
    nodes = _view.node_rows(doc, graph, runs)
    rows: list[tuple[NodeRow | None, int]] = [(row, row.depth) for row in nodes.tree]
    if nodes.unknown:
        nested = bool(nodes.tree)
        if nested:
            rows.append((None, 0))  # the "unknown" heading
        rows.extend((row, 1 if nested else 0) for row in nodes.unknown)

    def score(row: NodeRow | None) -> int:
        if row is None:
            return 2
        words = [GLOW_WORDS.get(_clean(name), "") for name in row.classes]
        if any(word.startswith("running") for word in words):
            return 3  # what runs now
        return 2 if row.classes else 1 if row.badges else 0

    def draw(budget: int | None) -> list[Text]:
        if not rows:
            return [_line(("no nodes yet", "dim"))]
        shown = list(range(len(rows)))
        if budget is not None and len(rows) > budget:
            keep = max(0, budget - 1)
            best = sorted(shown, key=lambda i: (-score(rows[i][0]), i))[:keep]
            shown = sorted(best)
        prefixes = _prefixes([rows[i][1] for i in shown])
        lines: list[Text] = []
        for index, prefix in zip(shown, prefixes, strict=True):
            row = rows[index][0]
            if row is None:
                lines.append(_line((prefix, "bright_black"), ("unknown", "bold bright_black")))
            else:
                lines.append(_node_line(row, prefix, width))
        if len(shown) < len(rows):
            lines.append(_line((f"… {len(rows) - len(shown)} more nodes", "dim")))
        return lines

    return _Rows(max(1, len(rows)), draw)


# --- runs and interactions --------------------------------------------------------------------


def _ended(row: _view.RunRow) -> str:
    """A run's end: its time, or ``running`` (``paused``) while it is open."""
    if row.ended != "-":
        return row.ended
    if row.status in ("success", "error", "killed", "unfinished"):
        return "-"
    return "paused" if row.status == "paused" else "running"


def _run_line(row: _view.RunRow, with_id: bool) -> Text:
    status = _status_word(row.status)
    line = _line((f"R{row.number}", "bold" if row.active else "dim"), (" ", ""))
    line.append(status, style=_STATUS_STYLES.get(status) or None)
    line.append(f"  {row.started} → ", style="dim")
    end = _ended(row)
    line.append(end, style=_STATUS_STYLES.get(end, "dim"))
    if row.resumes:
        line.append(f"  resumes {_clean(row.resumes, 6)}", style="dim")
    if row.active:
        line.append("  active", style="bold")
    if with_id:
        line.append("  " + _clean(row.run_id, _ID_LIMIT), style="" if row.active else "dim")
    return line


def _runs(doc: Mapping[str, Any], runs: list[str], width: int) -> _Rows:
    """One line per run (``R<n>``, status, start → end, resumes, id; the id on a line of its own
    when the line would not hold it and there is room), then the active run, the editor lock
    and how many interactions were resolved. Cut short, it keeps that last line and the latest
    runs (the active one always), and says how many runs it left out."""
    view = _view.run_rows(doc, runs)
    footer = _line(("active ", "dim"))
    if view.active_number is not None:
        footer.append(f"R{view.active_number}", style="bold")
    elif view.active_id:
        footer.append(_clean(view.active_id, _ID_LIMIT), style="bold")
    else:
        footer.append("none", style="dim")
    locked = view.editor_locked
    footer.append("  editor ", style="dim")
    footer.append("locked" if locked else "unlocked", style="yellow" if locked else "green")
    resolved = _view.interaction_rows(doc).resolved
    footer.append(f"  resolved {_clean(resolved, 10)}", style="dim")
    rows = view.rows
    inline = all(_run_line(row, True).cell_len <= width for row in rows)
    per_run = 1 if inline else 2

    def draw(budget: int | None) -> list[Text]:
        if not rows:
            return [_line(("no runs yet", "dim")), footer][-(budget or 2) :]
        if budget is None or len(rows) * per_run + 1 <= budget:
            lines: list[Text] = []
            for row in rows:
                lines.append(_run_line(row, inline))
                if not inline:
                    ident = "   " + _clean(row.run_id, _ID_LIMIT)
                    lines.append(_line((ident, "" if row.active else "dim")))
            return [*lines, footer]
        # compact: one line per run, the latest ones (and the active one), ids cut
        space = max(1, budget - 1)
        chosen = list(range(len(rows)))
        if len(rows) > space:
            chosen = chosen[len(rows) - max(1, space - 1) :]
            active = [i for i, row in enumerate(rows) if row.active]
            if active and active[0] not in chosen:
                chosen = sorted([active[0], *chosen[1:]])
        lines = [_run_line(rows[i], True) for i in chosen]
        if len(chosen) < len(rows) and space > 1:
            lines.insert(0, _line((f"… {len(rows) - len(chosen)} earlier runs", "dim")))
        return [*lines, footer][-budget:]

    return _Rows((len(rows) * per_run if rows else 1) + 1, draw)


def _waiting(doc: Mapping[str, Any], width: int) -> _Rows:
    """The pending pauses and prompts (what a person is to act on): kind and a summary of the
    detail, then the id (inline, or on a line of its own). Cut short: one line each, then
    ``… N more waiting``."""
    section = _view.interaction_rows(doc)
    short: list[Text] = []
    full: list[Text] = []
    for item in section.pending:
        line = _line(("waiting ", "bold blue"), (_clean(item.kind, 12), "bold blue"))
        summary = _view.detail_summary(
            item.kind, item.detail, _DETAIL_LIMIT, value_limit=60, name_limit=30
        )
        if summary:
            line.append(" " + _clean(summary))
        short.append(line)
        with_id = line.copy()
        with_id.append("  " + _clean(item.id, _ID_LIMIT), style="dim")
        if with_id.cell_len <= width:
            full.append(with_id)
        else:
            full.extend([line, _line(("   " + _clean(item.id, _ID_LIMIT), "dim"))])

    def draw(budget: int | None) -> list[Text]:
        if budget is None or len(full) <= budget:
            return full
        if len(short) <= budget:
            return short
        more = _line((f"… {len(short) - budget + 1} more waiting", "bold blue"))
        return [*short[: budget - 1], more]

    return _Rows(len(full), draw)


# --- state ------------------------------------------------------------------------------------


def _state(doc: Mapping[str, Any], runs: list[str], width: int) -> _Rows:
    """Each run's shared agent state (AG-UI's ``state``): its run id, then the document as
    indented JSON, each line cut to the width. Nothing (no panel) when no run has state, as on
    the platform's stream. Cut short, it keeps the first lines of each run's document in turn
    and says how many it left out."""
    section = doc.get("state")
    if not isinstance(section, Mapping) or not section:
        return _Rows(0, lambda budget: [])
    order = [r for r in runs if r in section] + sorted(r for r in section if r not in runs)
    blocks: list[list[Text]] = []
    for run_id in order:
        body = json.dumps(section[run_id], ensure_ascii=False, sort_keys=True, indent=1)
        lines = [_line((_clean(run_id, _ID_LIMIT), "dim"))]
        lines.extend(_line((_clean(row, width), "")) for row in body.splitlines())
        blocks.append(lines)
    every = [line for block in blocks for line in block]

    def draw(budget: int | None) -> list[Text]:
        if budget is None or len(every) <= budget:
            return every
        shown: list[Text] = []
        for block in blocks:  # each run's id and as much of its document as fits
            room = budget - 1 - len(shown)
            if room <= 0:
                break
            shown.extend(block[:room])
        return [*shown, _line((f"… {len(every) - len(shown)} more lines of state", "dim"))]

    return _Rows(len(every), draw)


# --- chat -------------------------------------------------------------------------------------


def _chat(doc: Mapping[str, Any], runs: list[str], graph: FlowGraph, width: int) -> _Rows:
    """The last messages, a line each (a streaming one shows its newest text), and a line per
    tool call. Cut short, it keeps the newest lines and says how many it left out."""
    chat = _view.recent_chat(doc, graph, CHAT_MESSAGES, runs)
    lines: list[Text] = []
    for message in chat.messages:
        line = _line((_clean(message.name, 40), "bold"))
        line.append(f" {_clean(message.speaker, 12)}", style="dim")
        kind = _clean(message.kind, 12)
        line.append(f" {kind}", style="italic dim" if kind == "reasoning" else "dim")
        line.append(": ")
        body = html_text(message.text) if message.kind == "html" else message.text
        room = max(1, width - line.cell_len - (2 if message.streaming else 0))
        if message.streaming and len(body) > room:  # the newest text is what changes
            line.append("…" + _tail(_clean(body[-4 * room :]), room - 1))
        else:
            line.append(_clean(body, 4 * room))
        if message.streaming:
            line.append(" ▍", style="yellow")
        lines.append(line)
        for tool in message.tools:
            call = _line(("  ↳ ", "dim"), (_clean(tool.name, 40), "magenta"))
            call.append(f"({_clean(json_short(tool.args, 60))})", style="dim")
            if tool.result is not None:
                call.append(" → ")
                call.append(_clean(json_short(tool.result, 100)), style="red" if tool.error else "")
            elif tool.error:
                call.append(" → error", style="red")
            lines.append(call)

    def draw(budget: int | None) -> list[Text]:
        if not lines:
            return [_line(("no messages", "dim"))]
        hidden, shown = chat.hidden, lines
        if budget is not None and len(lines) + (1 if hidden else 0) > budget:
            shown = lines[len(lines) - max(0, budget - 1) :] if budget > 1 else []
            note = _line((f"… {len(lines) - len(shown)} earlier lines", "dim"))
            if hidden:
                note.append(f" and {hidden} earlier messages", style="dim")
            return [note, *shown]
        if hidden:
            return [_line((f"… {hidden} earlier", "dim")), *shown]
        return list(shown)

    return _Rows(len(lines) + (1 if chat.hidden else 0) if lines else 1, draw)


# --- health -----------------------------------------------------------------------------------


def _health(
    doc: Mapping[str, Any], connection: ConnectionStatus | None, fps: float, width: int
) -> list[Text]:
    """The connection, the frame rate and counters, the failures per concern: on one or two
    lines when they fit, else on two or three (failures then only for concerns that failed)."""
    health = _view.health_view(doc, _COUNTERS)
    link: Text | None = None
    if connection is not None:
        status = _view.connection_row(connection.state, connection.attempt, connection.reason)
        state = _clean(status.state, 20)
        link = _line(("connection ", "dim"), (state, _CONNECTION_STYLES.get(state, "bold")))
        if status.attempt:
            link.append(f" (attempt {_clean(status.attempt, 12)})", style="dim")
        if status.reason:
            link.append(": " + _clean(status.reason, 200))
    counters = _line(("fps ", "dim"), (f"{fps:.1f}", "bold"))
    for counter in health.counters:
        counters.append(f"  {counter.key} ", style="dim")
        counters.append(_clean(counter.value, 12), style="yellow" if counter.warn else "")

    def failures(every: bool) -> Text:
        out = _line(("failed", "dim"))
        concerns = [c for c in health.concerns if every or c.bad]
        for concern in concerns:
            out.append(f" {_clean(concern.name, 20)} ", style="dim")
            out.append(_clean(concern.count, 12), style="bold red" if concern.bad else "")
        if not concerns:
            out.append(" none", style="dim")
        out.append("  health ", style="dim")
        if health.degraded:
            names = ", ".join(_clean(name, 20) for name in health.degraded)
            out.append("degraded: " + names, style="bold red")
        else:
            out.append("ok", style="green")
        return out

    failed = _first_fitting(width, failures(True), failures(False))
    if link is None:
        return [counters, failed]
    joined = link.copy()
    joined.append("  ")
    joined.append_text(counters)
    if joined.cell_len <= width:
        return [joined, failed]
    return [link, counters, failed]


# --- the screen -------------------------------------------------------------------------------


def _panel(title: str, lines: list[Text], height: int | None = None) -> Panel:
    return Panel(
        Group(*lines),
        title=Text(title),
        title_align="left",
        height=None if height is None else height + 2,
        padding=(0, 1),
    )


def _share(
    avail: int, sections: list[tuple[str, int, int]], order: list[tuple[str, int | None]]
) -> dict[str, int]:
    """Lines per section (each costs two more for its panel): every section its minimum, those
    that do not fit left out from the end; then more by ``order`` (a section and how far, None:
    all it needs), while lines are left."""
    shown = [section for section in sections if section[2] > 0]
    while shown and sum(low + 2 for _, low, _ in shown) > avail:
        shown.pop()
    if not shown:
        return {}
    got = {name: low for name, low, _ in shown}
    need = {name: want for name, _, want in shown}
    left = avail - sum(low + 2 for _, low, _ in shown)
    for name, upto in order:
        if name not in got or left <= 0:
            continue
        target = need[name] if upto is None else min(need[name], upto)
        more = max(0, min(left, target - got[name]))
        got[name] += more
        left -= more
    return got


@attrs.frozen
class _Screen:
    """The whole view of one document, laid out for the width (and height) it is drawn in."""

    doc: Mapping[str, Any]
    graph: FlowGraph
    title: str
    connection: ConnectionStatus | None
    fps: float
    height: int | Literal["console"] | None

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = self.height
        if height == "console":
            height = options.height or options.size.height
        yield from self.lines(options.max_width, height)

    def lines(self, width: int, height: int | None) -> Iterator[RenderableType]:
        """The renderables, top to bottom: no line wider than ``width``, at most ``height``
        lines in all (when given)."""
        doc, graph = self.doc, self.graph
        runs = _view.run_order(doc)
        heading = _line((self.title, "bold"))
        if graph.flow_id:
            heading.append("  flow ", style="dim")
            heading.append(_clean(graph.flow_id, 40))
        heading.append(f"  t {seconds(doc.get('clock'))}", style="dim")
        health = _health(doc, self.connection, self.fps, max(1, width - 4))
        if height is not None and height < len(health) + 6:  # too short for panels
            yield from [heading, *health][:height]
            return
        yield heading
        avail = None if height is None else height - 1 - (len(health) + 2)
        if width >= _WIDE:
            yield from self._wide(doc, graph, runs, width, avail)
        else:
            yield from self._narrow(doc, graph, runs, width, avail)
        yield _panel("Health", health)

    def _wide(
        self,
        doc: Mapping[str, Any],
        graph: FlowGraph,
        runs: list[str],
        width: int,
        avail: int | None,
    ) -> Iterator[RenderableType]:
        left = width - _RUNS_WIDTH - 1
        nodes = _nodes(doc, graph, runs, left - 4)
        run_rows = _runs(doc, runs, _RUNS_WIDTH - 4)
        waiting = _waiting(doc, width - 4)
        chat = _chat(doc, runs, graph, width - 4)
        state = _state(doc, runs, width - 4)
        row_need = max(nodes.need, run_rows.need)
        if avail is None:
            row, wait, talk, kept = row_need, waiting.need, chat.need, state.need
        else:
            got = _share(
                avail,
                [
                    ("row", min(row_need, 3), row_need),
                    ("wait", min(waiting.need, 1), waiting.need),
                    ("chat", min(chat.need, 1), chat.need),
                    ("state", min(state.need, 2), state.need),
                ],
                # the pending items and a few chat lines, the row its nodes (the runs compact),
                # a few lines of state, the chat the rest, then the state
                [
                    ("wait", None),
                    ("chat", 3),
                    ("row", max(nodes.need, 8)),
                    ("state", 6),
                    ("chat", None),
                    ("row", None),
                    ("state", None),
                ],
            )
            row, wait, talk = got.get("row", 0), got.get("wait", 0), got.get("chat", 0)
            kept = got.get("state", 0)
        if row:
            top = Table.grid(expand=True, padding=(0, 1))
            top.add_column(ratio=1)
            top.add_column(width=_RUNS_WIDTH)
            top.add_row(
                _panel("Nodes", nodes.draw(row), row), _panel("Runs", run_rows.draw(row), row)
            )
            yield top
        if wait:
            yield _panel("Waiting for you", waiting.draw(wait), wait)
        if talk:
            yield _panel("Chat", chat.draw(talk), talk)
        if kept:
            yield _panel("State", state.draw(kept), kept)

    def _narrow(
        self,
        doc: Mapping[str, Any],
        graph: FlowGraph,
        runs: list[str],
        width: int,
        avail: int | None,
    ) -> Iterator[RenderableType]:
        inner = max(1, width - 4)
        sections = {
            "Runs": _runs(doc, runs, inner),
            "Waiting for you": _waiting(doc, inner),
            "Nodes": _nodes(doc, graph, runs, inner),
            "Chat": _chat(doc, runs, graph, inner),
            "State": _state(doc, runs, inner),
        }
        if avail is None:
            got = {name: rows.need for name, rows in sections.items()}
        else:
            need = {name: rows.need for name, rows in sections.items()}
            got = _share(
                avail,
                [
                    ("Runs", min(need["Runs"], 2), need["Runs"]),
                    ("Waiting for you", min(need["Waiting for you"], 1), need["Waiting for you"]),
                    ("Nodes", min(need["Nodes"], 3), need["Nodes"]),
                    ("Chat", min(need["Chat"], 3), need["Chat"]),
                    ("State", min(need["State"], 2), need["State"]),
                ],
                [
                    ("Waiting for you", 3),
                    ("Runs", 4),
                    ("Nodes", 8),
                    ("Chat", 6),
                    ("State", 6),
                    ("Runs", 8),
                    ("Nodes", None),
                    ("Chat", None),
                    ("Runs", None),
                    ("State", None),
                ],
            )
        for name, rows in sections.items():
            if got.get(name):
                yield _panel(name, rows.draw(got[name]), got[name])


def render_snapshot(
    doc: Mapping[str, Any],
    graph: FlowGraph,
    *,
    title: str = "flowrx",
    connection: ConnectionStatus | None = None,
    fps: float = 0.0,
    height: int | Literal["console"] | None = None,
) -> RenderableType:
    """Draw a ``flowrx/snapshot/1`` document (and the flow's graph) as one rich renderable.

    It takes the width of wherever it is drawn; ``height`` bounds its lines: ``None`` draws
    every row, a number at most that many lines, ``"console"`` the height of the console it is
    drawn on (what the live view uses). Pure: the same inputs and size give the same drawing.
    Every string from ``doc`` or ``graph`` is shown literally, made safe for a terminal.
    """
    return _Screen(doc, graph, title, connection, fps, height)


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
        """The view of the state now, with the connection status and frame rate given; it fits
        the console it is drawn on (width and height)."""
        return render_snapshot(
            self.state.snapshot(),
            self.state.view_graph,
            title=self.title,
            connection=connection,
            fps=fps,
            height="console",
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
