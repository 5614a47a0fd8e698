"""HTML view: one ``flowrx/snapshot/1`` document drawn as a self-contained HTML fragment.

It shows what the terminal view shows (:mod:`flowrx.sinks.terminal`), for hosts that render
HTML (Jupyter's ``_repr_html_``, the :mod:`flowrx.sinks.jupyter` live widget, a web page):

* **Nodes**: the flow's nodes as nested lists following group nesting. Each node's row carries
  the classes a view shows on it, exactly the editor's names from ``doc["surface"]``
  (``executing``, ``executing-tool``, ``executed-<status>``), plus its handle (or id), its type
  and a badge per run held in the store (``#<order+1>`` and the status; ``?`` after a status
  flowrx inferred, the reason in the badge's title), and for a group node the status its
  members decide (``group error``: it may differ from its own badge). Nodes the graph lacks
  but the snapshot names are listed at the end under *unknown* (or flat, without a graph).
* **Runs**: every run with its status, times and resumes; the active run and the editor lock.
* **Chat**: the latest messages (speaker, kind, text, tool calls).
* **Interactions**: pending pauses and prompts with a summary of their detail; resolved count.
* **Health**: the connection (live sources), intake counters, failures per concern, with
  failures and degraded concerns in red.

Everything in a snapshot comes from untrusted frames or files, so every string, id and name
goes through :func:`html.escape`; a class name is put on an element only if it is a plain CSS
identifier. Chat ``html`` items were sanitised by the chat concern already and are passed
through :func:`flowrx.html.sanitise_html` again before being inserted as markup (defence in
depth: a snapshot may have been read from a file). The ``<style>`` block is scoped under
``.flowrx-view``, so the view never restyles the page around it.

What each section holds is read from the document by :mod:`flowrx.sinks._view`, which the
terminal view shares; this module only draws those rows as HTML, cut to its own limits.

Pure, no ipywidgets and no rich: the same inputs give the same HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any, Final

from flowrx._text import replaced
from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html
from flowrx.sinks import _view
from flowrx.sinks._view import Badge, NodeRow, cut, json_short, seconds

__all__ = ["CHAT_MESSAGES", "ROOT_CLASS", "STYLE", "render_html"]

ROOT_CLASS: Final = "flowrx-view"
"""The class of the view's root element; every style rule is scoped under it."""

CHAT_MESSAGES: Final = 12
"""How many of the latest chat messages the view shows."""

_TEXT_LIMIT: Final = 4000
_ID_LIMIT: Final = 120
_DETAIL_LIMIT: Final = 200
_CLASS_NAME: Final = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*")

STYLE: Final = """
.flowrx-view { font-family: ui-sans-serif, system-ui, sans-serif; font-size: 13px;
  line-height: 1.45; color: inherit; border: 1px solid #4a6fa5; border-radius: 6px;
  padding: 6px 10px; max-width: 1100px; }
.flowrx-view .fx-head { font-weight: bold; margin-bottom: 4px; }
.flowrx-view .fx-dim { opacity: 0.65; font-weight: normal; }
.flowrx-view .fx-grid { display: flex; flex-wrap: wrap; gap: 8px; }
.flowrx-view section { border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 4px;
  padding: 4px 8px; margin: 4px 0; flex: 1 1 320px; min-width: 0; }
.flowrx-view h4 { margin: 0 0 2px 0; font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; opacity: 0.75; }
.flowrx-view ul { list-style: none; margin: 0; padding-left: 1.1em; }
.flowrx-view ul.fx-tree { padding-left: 0; }
.flowrx-view .fx-node { display: inline-block; padding: 0 4px; margin: 3px 0;
  border-radius: 3px; outline-offset: 1px; }
.flowrx-view .fx-type { opacity: 0.6; }
.flowrx-view .fx-badge { font-family: ui-monospace, monospace; font-size: 11px;
  padding: 0 3px; border-radius: 3px;
  background: rgba(128, 128, 128, 0.15); }
.flowrx-view .fx-group { font-family: ui-monospace, monospace; font-size: 11px;
  padding: 0 3px; border-radius: 3px; border: 1px dashed rgba(128, 128, 128, 0.6); }
.flowrx-view .fx-glow { font-family: ui-monospace, monospace; font-size: 11px; }
.flowrx-view .executing { outline: 2px solid #f5a623; background: rgba(245, 166, 35, 0.15);
  animation: flowrx-view-pulse 1.2s ease-in-out infinite; }
.flowrx-view .executing-tool { box-shadow: 0 0 0 5px rgba(155, 89, 255, 0.7); }
.flowrx-view .executed-success { outline: 2px solid #2e9e44;
  background: rgba(46, 158, 68, 0.12); }
.flowrx-view .executed-error { outline: 2px solid #d93b3b; background: rgba(217, 59, 59, 0.14); }
.flowrx-view .executed-killed { outline: 2px solid #8a8a8a; background: rgba(138, 138, 138, 0.14);
  text-decoration: line-through; }
.flowrx-view .executed-provided { outline: 2px solid #17b3c9;
  background: rgba(23, 179, 201, 0.12); }
.flowrx-view [data-glow="executing"] { color: #d48806; }
.flowrx-view [data-glow="executing-tool"] { color: #9b59ff; }
.flowrx-view [data-glow="executed-success"], .flowrx-view .fx-st-success { color: #2e9e44; }
.flowrx-view [data-glow="executed-error"], .flowrx-view .fx-st-error { color: #d93b3b; }
.flowrx-view [data-glow="executed-killed"], .flowrx-view .fx-st-killed { color: #8a8a8a; }
.flowrx-view [data-glow="executed-provided"], .flowrx-view .fx-st-provided { color: #17b3c9; }
.flowrx-view .fx-st-executing, .flowrx-view .fx-st-running { color: #d48806; }
.flowrx-view .fx-st-paused { color: #3d7bd9; }
.flowrx-view .fx-st-stalled { color: #d93b3b; font-weight: bold; }
.flowrx-view .fx-st-unfinished { opacity: 0.6; }
.flowrx-view .fx-active { font-weight: bold; }
.flowrx-view .fx-locked { color: #d48806; }
.flowrx-view .fx-unlocked { color: #2e9e44; }
.flowrx-view .fx-bad, .flowrx-view .degraded { color: #d93b3b; font-weight: bold; }
.flowrx-view .fx-warn { color: #d48806; }
.flowrx-view .fx-ok { color: #2e9e44; }
.flowrx-view .fx-msg { margin: 2px 0; }
.flowrx-view .fx-text { white-space: pre-wrap; }
.flowrx-view .fx-reasoning { font-style: italic; opacity: 0.8; }
.flowrx-view .fx-html { display: block; margin: 2px 0 2px 1em; padding: 2px 6px;
  border-left: 3px solid rgba(128, 128, 128, 0.4); }
.flowrx-view .fx-tool { margin-left: 1.5em; font-family: ui-monospace, monospace;
  font-size: 11px; }
.flowrx-view .fx-tool-name { color: #9b59ff; }
.flowrx-view .fx-streaming { color: #d48806; }
.flowrx-view code { font-size: 11px; }
@keyframes flowrx-view-pulse { 0%, 100% { outline-color: #f5a623; }
  50% { outline-color: rgba(245, 166, 35, 0.35); } }
"""
"""The view's style sheet: every rule is scoped under :data:`ROOT_CLASS`."""


# --- helpers ----------------------------------------------------------------------------------


def _e(value: object, limit: int | None = None) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return escape(cut(value, limit), quote=True)


def _span(text: object, cls: str = "", limit: int | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<span{attr}>{_e(text, limit)}</span>"


def _status_class(status: str) -> str:
    return f"fx-st-{status}" if _CLASS_NAME.fullmatch(status) else ""


def _glow_classes(classes: Iterable[object]) -> list[str]:
    """The surface's classes that are plain CSS identifiers (only those go on an element)."""
    return [c for c in classes if isinstance(c, str) and _CLASS_NAME.fullmatch(c)]


# --- sections ---------------------------------------------------------------------------------


def _badge(badge: Badge) -> str:
    status = cut(badge.status, 20)
    cls = " ".join(c for c in ("fx-badge", _status_class(status)) if c)
    title = f"run {badge.run_id}"
    if badge.inferred is not None:  # ended by flowrx, not by the stream: a guess, and why
        title += f"; inferred: {cut(badge.inferred, 200)}"
        status += "?"
    return f'<span class="{cls}" title="{_e(title)}">{_e(badge.label)} {_e(status)}</span>'


def _node_row(row: NodeRow) -> str:
    """One node row: ``<div class="fx-node <glow classes>" data-node-id="…">``."""
    css = " ".join(["fx-node", *_glow_classes(row.classes)])
    start = f'<div class="{css}" data-node-id="{_e(row.node_id)}" title="{_e(row.node_id)}">'
    parts = [f"{start}<b>{_e(row.label, _ID_LIMIT)}</b>"]
    if row.type:
        parts.append(_span(row.type, "fx-type", 60))
    if row.missing_group:
        parts.append(_span("(not in the graph)", "fx-dim"))
    parts.extend(_badge(badge) for badge in row.badges)
    if row.group_status is not None:
        status = cut(row.group_status, 20)
        cls = " ".join(c for c in ("fx-group", _status_class(status)) if c)
        parts.append(f'<span class="{cls}" title="as its members decide">group {_e(status)}</span>')
    for name in row.classes:
        shown = _e(name, 40)
        parts.append(f'<span class="fx-glow" data-glow="{shown}">{shown}</span>')
    return " ".join(parts) + "</div>"


def _nodes(doc: Mapping[str, Any], graph: FlowGraph, runs: list[str]) -> str:
    """The node tree as nested lists; unknown nodes at the end (flat without a graph)."""
    nodes = _view.node_rows(doc, graph, runs)
    items: list[str] = []
    tree = nodes.tree
    for index, row in enumerate(tree):
        depth = tree[index + 1].depth if index + 1 < len(tree) else 0
        items.append(f"<li>{_node_row(row)}")
        if depth > row.depth:  # the next row is the first member of this one
            items.append("<ul>")
        else:
            items.append("</li>" + "</ul></li>" * (row.depth - depth))
    if nodes.unknown and tree:
        rows = "".join(f"<li>{_node_row(row)}</li>" for row in nodes.unknown)
        items.append(f'<li><span class="fx-dim">unknown</span><ul>{rows}</ul></li>')
    elif nodes.unknown:  # no graph: every node the snapshot names, flat
        items.extend(f"<li>{_node_row(row)}</li>" for row in nodes.unknown)
    if not items:
        items.append('<li class="fx-dim">no nodes yet</li>')
    return f'<ul class="fx-tree">{"".join(items)}</ul>'


def _runs(doc: Mapping[str, Any], runs: list[str]) -> str:
    view = _view.run_rows(doc, runs)
    items: list[str] = []
    for row in view.rows:
        status = cut(row.status, 20)
        parts = [_span(f"R{row.number}", "fx-active" if row.active else "fx-dim"), " "]
        parts.append(_span(status, _status_class(status)))
        parts.append(" " + _span(f"{row.started} → {row.ended}", "fx-dim"))
        if row.resumes:
            parts.append(" " + _span(f"resumes {cut(row.resumes, 6)}", "fx-dim"))
        if row.active:
            parts.append(" " + _span("active", "fx-active"))
        parts.append(f'<br><code class="fx-dim">{_e(row.run_id, _ID_LIMIT)}</code>')
        cls = "fx-run fx-active" if row.active else "fx-run"
        items.append(f'<li class="{cls}" data-run-id="{_e(row.run_id)}">{"".join(parts)}</li>')
    if not view.rows:
        items.append('<li class="fx-dim">no runs yet</li>')
    if view.active_number is not None:
        shown = _span(f"R{view.active_number}", "fx-active")
    elif view.active_id:
        shown = _span(view.active_id, "fx-active", _ID_LIMIT)
    else:
        shown = _span("none", "fx-dim")
    editor = (
        _span("locked", "fx-locked fx-editor")
        if view.editor_locked
        else _span("unlocked", "fx-unlocked fx-editor")
    )
    footer = f"<div>{_span('active', 'fx-dim')} {shown} {_span('editor', 'fx-dim')} {editor}</div>"
    return f'<ul class="fx-runs">{"".join(items)}</ul>{footer}'


def _chat(doc: Mapping[str, Any], runs: list[str], graph: FlowGraph) -> str:
    chat = _view.recent_chat(doc, graph, CHAT_MESSAGES, runs)
    if not chat.messages and not chat.hidden:
        return '<div class="fx-dim">no messages</div>'
    out: list[str] = []
    if chat.hidden > 0:
        out.append(f'<div class="fx-dim">… {chat.hidden} earlier</div>')
    for message in chat.messages:
        kind = cut(message.kind, 12)
        head = f"<b>{_e(message.name, 60)}</b> " + _span(
            f"{cut(message.speaker, 12)} {kind}", "fx-dim"
        )
        if kind == "html":
            body = f'<div class="fx-html">{sanitise_html(message.text)}</div>'
        else:
            cls = "fx-text fx-reasoning" if kind == "reasoning" else "fx-text"
            body = ": " + _span(message.text, cls, _TEXT_LIMIT)
        if message.streaming:
            body += ' <span class="fx-streaming" title="streaming">▍</span>'
        tools: list[str] = []
        for tool in message.tools:
            call = "↳ " + _span(cut(tool.name, 60), "fx-tool-name")
            call += _e(f"({json_short(tool.args, 120)})")
            if tool.result is not None:
                call += " → " + _span(json_short(tool.result, 200), "fx-bad" if tool.error else "")
            elif tool.error:
                call += " → " + _span("error", "fx-bad")
            tools.append(f'<div class="fx-tool">{call}</div>')
        out.append(f'<div class="fx-msg">{head}{body}{"".join(tools)}</div>')
    return "".join(out)


def _interactions(doc: Mapping[str, Any]) -> str:
    section = _view.interaction_rows(doc)
    items: list[str] = []
    for item in section.pending:
        line = f'<b>{_e(item.kind, 12)}</b> <code class="fx-dim">{_e(item.id, _ID_LIMIT)}</code>'
        summary = _view.detail_summary(
            item.kind, item.detail, _DETAIL_LIMIT, value_limit=80, name_limit=40
        )
        if summary:
            line += " " + _e(summary)
        items.append(f'<li class="fx-pending">{line}</li>')
    if not section.pending:
        items.append('<li class="fx-dim">none pending</li>')
    resolved = _span(f"resolved {cut(section.resolved, 10)}", "fx-dim")
    return f"<ul>{''.join(items)}</ul><div>{resolved}</div>"


_STATE_LIMIT: Final = 4000
"""Characters of one run's shared state shown (the snapshot has it whole)."""


def _state(doc: Mapping[str, Any], runs: list[str]) -> str:
    """The shared agent state per run (AG-UI's ``state``), as indented JSON; empty when no
    run has any (the platform's stream never does)."""
    section = doc.get("state")
    if not isinstance(section, Mapping) or not section:
        return ""
    order = [r for r in runs if r in section] + sorted(r for r in section if r not in runs)
    blocks = []
    for run_id in order:
        text = json.dumps(section[run_id], ensure_ascii=False, sort_keys=True, indent=1)
        blocks.append(
            f"<div>{_span(cut(run_id, _ID_LIMIT), 'fx-dim')}"
            f"<pre>{_e(text, _STATE_LIMIT)}</pre></div>"
        )
    return f'<section class="fx-state"><h4>State</h4>{"".join(blocks)}</section>'


_CONNECTION_CLASSES: Final[Mapping[str, str]] = {
    "open": "fx-ok",
    "connecting": "fx-warn",
    "reconnecting": "fx-warn",
    "closed": "fx-dim",
    "failed": "fx-bad",
}


def _health(doc: Mapping[str, Any]) -> str:
    health = _view.health_view(doc)
    lines: list[str] = []
    connection = health.connection
    if connection is not None:
        state = cut(connection.state, 20)
        line = _span("connection", "fx-dim") + " "
        line += _span(state, _CONNECTION_CLASSES.get(state, "fx-active"))
        if connection.attempt:
            line += " " + _span(f"(attempt {cut(connection.attempt, 6)})", "fx-dim")
        if connection.reason:
            line += ": " + _e(connection.reason, 200)
        lines.append(f"<div>{line}</div>")
    counters = [
        f"{_span(c.key, 'fx-dim')} {_span(c.value, 'fx-warn' if c.warn else '')}"
        for c in health.counters
    ]
    lines.append(f'<div class="fx-counters">{" · ".join(counters)}</div>')

    cells = [
        f'<span data-concern="{_e(c.name)}">{_span(c.name, "fx-dim", 20)} '
        f"{_span(c.count, 'fx-bad' if c.bad else '', 12)}</span>"
        for c in health.concerns
    ]
    degraded = ", ".join(cut(name, 20) for name in health.degraded)
    verdict = _span("degraded: " + degraded, "degraded") if degraded else _span("ok", "fx-ok")
    lines.append(
        f'<div class="fx-failed">{_span("failed", "fx-dim")} {" ".join(cells)} '
        f"{_span('health', 'fx-dim')} {verdict}</div>"
    )
    return "".join(lines)


def render_html(doc: Mapping[str, Any], graph: FlowGraph, *, title: str = "flowrx") -> str:
    """Draw a ``flowrx/snapshot/1`` document (and the flow's graph) as one HTML fragment.

    Pure: the same inputs give the same HTML. The fragment is one ``<div class="flowrx-view">``
    holding its own scoped ``<style>``; every string from ``doc`` or ``graph`` is escaped, and
    chat HTML items are sanitised again before they are inserted.
    """
    runs = _view.run_order(doc)
    heading = f"{_e(title, 80)}"
    if graph.flow_id:
        heading += " " + _span(f"flow {cut(graph.flow_id, 60)}", "fx-dim")
    heading += " " + _span(f"t {seconds(doc.get('clock'))}", "fx-dim")
    nodes = _nodes(doc, graph, runs)
    return replaced(  # a lone surrogate in a frame's text: U+FFFD, as a browser shows it
        f'<div class="{ROOT_CLASS}">'
        f"<style>{STYLE}</style>"
        f'<div class="fx-head">{heading}</div>'
        '<div class="fx-grid">'
        f'<section class="fx-nodes"><h4>Nodes</h4>{nodes}</section>'
        '<div style="flex: 0 1 380px; min-width: 0;">'
        f'<section class="fx-runs-section"><h4>Runs</h4>{_runs(doc, runs)}</section>'
        f'<section class="fx-interactions"><h4>Interactions</h4>{_interactions(doc)}</section>'
        "</div></div>"
        f'<section class="fx-chat"><h4>Chat</h4>{_chat(doc, runs, graph)}</section>'
        f"{_state(doc, runs)}"
        f'<section class="fx-health"><h4>Health</h4>{_health(doc)}</section>'
        "</div>"
    )
