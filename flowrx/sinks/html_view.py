"""HTML view: one ``flowrx/snapshot/1`` document drawn as a self-contained HTML fragment.

It shows what the terminal view shows (:mod:`flowrx.sinks.terminal`), for hosts that render
HTML (Jupyter's ``_repr_html_``, the :mod:`flowrx.sinks.jupyter` live widget, a web page):

* **Nodes**: the flow's nodes as nested lists following group nesting. Each node's row carries
  the classes a view shows on it, exactly the editor's names from ``doc["surface"]``
  (``executing``, ``executing-tool``, ``executed-<status>``), plus its handle (or id), its type
  and a badge per run held in the store (``#<order+1>`` and the status). Nodes the graph lacks
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

Pure and standard library only (no ipywidgets, no rich): the same inputs give the same HTML.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final

from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html

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


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _str(value: object, limit: int | None = None) -> str:
    """``value`` as text (cut to ``limit`` characters), not yet escaped."""
    text = value if isinstance(value, str) else "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def _e(value: object, limit: int | None = None) -> str:
    """``value`` as escaped HTML text (quotes too, so it is safe in attributes)."""
    return escape(_str(value, limit), quote=True)


def _span(text: object, cls: str = "", limit: int | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<span{attr}>{_e(text, limit)}</span>"


def _status_class(status: str) -> str:
    return f"fx-st-{status}" if _CLASS_NAME.fullmatch(status) else ""


def _json_short(value: object, limit: int) -> str:
    """A compact one-line JSON rendering of a decoded value (not escaped)."""
    if isinstance(value, str):
        return _str(value, limit)
    try:
        shown = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        shown = repr(value)
    return _str(shown, limit)


def _seconds(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f}s"
    return "-"


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
            if str(run) not in order:
                order.append(str(run))
    return order


def _badges(doc: Mapping[str, Any], runs: Sequence[str]) -> dict[str, list[str]]:
    """Every node's store badges as HTML, ``#<order+1> status`` per entry (``R<n>#…`` when the
    store holds several runs)."""
    store = _mapping(doc.get("store"))
    held = [run for run in runs if run in store]
    several = len(held) > 1
    out: dict[str, list[str]] = {}
    for run in held:
        for entry in _sequence(store.get(run)):
            entry = _mapping(entry)
            node_id = entry.get("node_id")
            if not isinstance(node_id, str):
                continue
            order = entry.get("order")
            status = _str(entry.get("status"), 20)
            label = f"#{order + 1}" if isinstance(order, int) else "#?"
            if several:
                label = f"R{runs.index(run) + 1}{label}"
            cls = " ".join(c for c in ("fx-badge", _status_class(status)) if c)
            out.setdefault(node_id, []).append(
                f'<span class="{cls}" title="run {_e(run)}">{_e(label)} {_e(status)}</span>'
            )
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


def _glow_classes(classes: Iterable[object]) -> list[str]:
    """The surface's classes that are plain CSS identifiers (only those go on an element)."""
    return [c for c in classes if isinstance(c, str) and _CLASS_NAME.fullmatch(c)]


class _Nodes:
    """Draws node rows: one ``<div class="fx-node <glow classes>" data-node-id="…">`` each."""

    def __init__(self, doc: Mapping[str, Any], graph: FlowGraph, runs: Sequence[str]) -> None:
        self.doc = doc
        self.graph = graph
        self.surface = _mapping(doc.get("surface"))
        self.info = _store_info(doc)
        self.badges = _badges(doc, runs)

    def row(self, node_id: str, missing_group: bool = False) -> str:
        node = self.graph.node(node_id)
        handle: object = (
            node.handle if node is not None else self.info.get(node_id, (None, None))[0]
        )
        kind: object = node.type if node is not None else self.info.get(node_id, (None, None))[1]
        if kind is None and (self.graph.is_group(node_id) or missing_group):
            kind = "group"
        classes = _sequence(self.surface.get(node_id))
        css = " ".join(["fx-node", *_glow_classes(classes)])
        start = f'<div class="{css}" data-node-id="{_e(node_id)}" title="{_e(node_id)}">'
        parts = [f"{start}<b>{_e(handle or node_id, _ID_LIMIT)}</b>"]
        if kind:
            parts.append(_span(kind, "fx-type", 60))
        if missing_group:
            parts.append(_span("(not in the graph)", "fx-dim"))
        parts.extend(self.badges.get(node_id, ()))
        for name in classes:
            shown = _e(name, 40)
            parts.append(f'<span class="fx-glow" data-glow="{shown}">{shown}</span>')
        return " ".join(parts) + "</div>"

    def tree(self) -> str:
        graph = self.graph
        known = list(graph.nodes)
        children: dict[str | None, list[str]] = {}
        missing: list[str] = []  # enclosing groups the graph names but lacks
        for node_id in known:
            node = graph.node(node_id)
            group = node.group if node is not None else None
            if group is not None and group not in graph.nodes and group not in missing:
                missing.append(group)
                children.setdefault(None, []).append(group)
            children.setdefault(group, []).append(node_id)

        placed: set[str] = set()

        def place(top: str) -> str:
            # an explicit stack, not recursion: deep nesting cannot hit the recursion limit,
            # and a node is placed once, so a group cycle ends
            out: list[str] = []
            stack: list[tuple[bool, str]] = [(True, top)]
            while stack:
                is_node, item = stack.pop()
                if not is_node:
                    out.append(item)
                    continue
                if item in placed:
                    continue
                placed.add(item)
                out.append(f"<li>{self.row(item, missing_group=item in missing)}")
                kids = [c for c in children.get(item, []) if c not in placed]
                if kids:
                    out.append("<ul>")
                    stack.append((False, "</ul></li>"))
                    stack.extend((True, kid) for kid in reversed(kids))
                else:
                    out.append("</li>")
            return "".join(out)

        items: list[str] = []
        for node_id in children.get(None, []):
            if node_id not in placed:
                items.append(place(node_id))
        for node_id in known:  # members of a group cycle: no path from the top reaches them
            if node_id not in placed:
                items.append(place(node_id))

        seen = list(self.info)
        seen.extend(str(n) for n in self.surface if n not in self.info)
        unknown = [n for n in seen if n not in placed]
        if unknown and known:
            rows = "".join(f"<li>{self.row(n)}</li>" for n in unknown)
            items.append(f'<li><span class="fx-dim">unknown</span><ul>{rows}</ul></li>')
        elif unknown:  # no graph: every node the snapshot names, flat
            items.extend(f"<li>{self.row(n)}</li>" for n in unknown)
        if not items:
            items.append('<li class="fx-dim">no nodes yet</li>')
        return f'<ul class="fx-tree">{"".join(items)}</ul>'


def _runs(doc: Mapping[str, Any], runs: Sequence[str]) -> str:
    lifecycle = _mapping(doc.get("lifecycle"))
    records = _mapping(lifecycle.get("runs"))
    active = lifecycle.get("active_run_id")
    locked = bool(lifecycle.get("editor_locked"))
    items: list[str] = []
    for index, run in enumerate(runs):
        record = _mapping(records.get(run))
        status = _str(record.get("status") or "-", 20)
        is_active = run == active
        parts = [_span(f"R{index + 1}", "fx-active" if is_active else "fx-dim"), " "]
        parts.append(_span(status, _status_class(status)))
        times = f"{_seconds(record.get('started_at'))} → {_seconds(record.get('ended_at'))}"
        parts.append(" " + _span(times, "fx-dim"))
        resumes = record.get("resumes")
        if resumes:
            parts.append(" " + _span(f"resumes {_str(resumes, 6)}", "fx-dim"))
        if is_active:
            parts.append(" " + _span("active", "fx-active"))
        parts.append(f'<br><code class="fx-dim">{_e(run, _ID_LIMIT)}</code>')
        cls = "fx-run fx-active" if is_active else "fx-run"
        items.append(f'<li class="{cls}" data-run-id="{_e(run)}">{"".join(parts)}</li>')
    if not runs:
        items.append('<li class="fx-dim">no runs yet</li>')
    if active in runs:
        shown = _span(f"R{runs.index(str(active)) + 1}", "fx-active")
    elif active:
        shown = _span(active, "fx-active", _ID_LIMIT)
    else:
        shown = _span("none", "fx-dim")
    editor = (
        _span("locked", "fx-locked fx-editor")
        if locked
        else _span("unlocked", "fx-unlocked fx-editor")
    )
    footer = f"<div>{_span('active', 'fx-dim')} {shown} {_span('editor', 'fx-dim')} {editor}</div>"
    return f'<ul class="fx-runs">{"".join(items)}</ul>{footer}'


def _chat(doc: Mapping[str, Any], runs: Sequence[str], graph: FlowGraph) -> str:
    chat = _mapping(doc.get("chat"))
    messages = [m for run in runs for m in _sequence(chat.get(run)) if isinstance(m, Mapping)]
    if not messages:
        return '<div class="fx-dim">no messages</div>'
    out: list[str] = []
    hidden = len(messages) - CHAT_MESSAGES
    if hidden > 0:
        out.append(f'<div class="fx-dim">… {hidden} earlier</div>')
    for message in messages[-CHAT_MESSAGES:]:
        node_id = message.get("node_id")
        name = message.get("name") or graph.display_name(
            node_id if isinstance(node_id, str) else None
        )
        kind = _str(message.get("kind"), 12)
        head = f"<b>{_e(name, 60)}</b> " + _span(
            f"{_str(message.get('speaker'), 12)} {kind}", "fx-dim"
        )
        text = message.get("text")
        if kind == "html":
            body = f'<div class="fx-html">{sanitise_html(_str(text))}</div>'
        else:
            cls = "fx-text fx-reasoning" if kind == "reasoning" else "fx-text"
            body = ": " + _span(text, cls, _TEXT_LIMIT)
        if message.get("closed") is False:
            body += ' <span class="fx-streaming" title="streaming">▍</span>'
        tools: list[str] = []
        for tool in _sequence(message.get("tools")):
            tool = _mapping(tool)
            call = "↳ " + _span(_str(tool.get("name"), 60), "fx-tool-name")
            call += _e(f"({_json_short(tool.get('args', {}), 120)})")
            result = tool.get("result")
            bad = bool(tool.get("error"))
            if result is not None:
                call += " → " + _span(_json_short(result, 200), "fx-bad" if bad else "")
            elif bad:
                call += " → " + _span("error", "fx-bad")
            tools.append(f'<div class="fx-tool">{call}</div>')
        out.append(f'<div class="fx-msg">{head}{body}{"".join(tools)}</div>')
    return "".join(out)


def _detail(kind: str, detail: Mapping[str, Any]) -> str:
    """A one-line summary of an interaction's detail (not escaped)."""
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
        parts.append(f"{key}={_str(value, 80)}")
    tools = [
        _str(_mapping(t).get("tool_name"), 40)
        for t in _sequence(detail.get("tools"))
        if _mapping(t).get("tool_name")
    ]
    if tools:
        parts.append("tools=" + ",".join(tools))
    return _str(" ".join(parts), _DETAIL_LIMIT)


def _interactions(doc: Mapping[str, Any]) -> str:
    section = _mapping(doc.get("interaction"))
    pending = [p for p in _sequence(section.get("pending")) if isinstance(p, Mapping)]
    items: list[str] = []
    for item in pending:
        kind = _str(item.get("kind"), 12)
        line = f'<b>{_e(kind)}</b> <code class="fx-dim">{_e(item.get("id"), _ID_LIMIT)}</code>'
        summary = _detail(kind, _mapping(item.get("detail")))
        if summary:
            line += " " + _e(summary)
        items.append(f'<li class="fx-pending">{line}</li>')
    if not pending:
        items.append('<li class="fx-dim">none pending</li>')
    resolved = _span(f"resolved {_str(section.get('resolved', 0), 10)}", "fx-dim")
    return f"<ul>{''.join(items)}</ul><div>{resolved}</div>"


_HEALTHY: Final = frozenset({"frames", "messages", "heartbeats"})
_CONNECTION_CLASSES: Final[Mapping[str, str]] = {
    "open": "fx-ok",
    "connecting": "fx-warn",
    "reconnecting": "fx-warn",
    "closed": "fx-dim",
    "failed": "fx-bad",
}


def _health(doc: Mapping[str, Any]) -> str:
    diagnostics = _mapping(doc.get("diagnostics"))
    lines: list[str] = []
    connection = _mapping(diagnostics.get("connection"))
    if connection:
        state = _str(connection.get("state"), 20)
        line = _span("connection", "fx-dim") + " "
        line += _span(state, _CONNECTION_CLASSES.get(state, "fx-active"))
        if connection.get("attempt"):
            line += " " + _span(f"(attempt {_str(connection.get('attempt'), 6)})", "fx-dim")
        if connection.get("reason"):
            line += ": " + _e(connection.get("reason"), 200)
        lines.append(f"<div>{line}</div>")
    counters: list[str] = []
    for key, value in diagnostics.items():
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        cls = "fx-warn" if value and key not in _HEALTHY else ""
        counters.append(f"{_span(key, 'fx-dim')} {_span(value, cls)}")
    lines.append(f'<div class="fx-counters">{" · ".join(counters)}</div>')

    failed = _mapping(diagnostics.get("failed"))
    health = _mapping(diagnostics.get("health"))
    degraded: list[str] = []
    cells: list[str] = []
    for concern in dict.fromkeys([*failed, *health]):
        count = failed.get(concern, 0)
        is_degraded = health.get(concern) == "degraded"
        if is_degraded:
            degraded.append(_str(concern, 20))
        cls = "fx-bad" if count or is_degraded else ""
        cells.append(
            f'<span data-concern="{_e(concern)}">{_span(concern, "fx-dim", 20)} '
            f"{_span(count, cls, 12)}</span>"
        )
    verdict = (
        _span("degraded: " + ", ".join(degraded), "degraded") if degraded else _span("ok", "fx-ok")
    )
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
    runs = _run_order(doc)
    heading = f"{_e(title, 80)}"
    if graph.flow_id:
        heading += " " + _span(f"flow {_str(graph.flow_id, 60)}", "fx-dim")
    heading += " " + _span(f"t {_seconds(doc.get('clock'))}", "fx-dim")
    nodes = _Nodes(doc, graph, runs).tree()
    return (
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
        f'<section class="fx-health"><h4>Health</h4>{_health(doc)}</section>'
        "</div>"
    )
