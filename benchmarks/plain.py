"""The honest floor: one plain handler with dicts, in-place updates and if/elif dispatch, no Rx.

It does the state updates flowrx does, rule for rule (what the platform's 1,100-line handler
did, minus its bugs), and ``bench.py`` checks that it ends in flowrx's exact state (every
concern's snapshot section and the diagnostics counters, at checkpoints through the mix)
before it compares their speed:

* intake: heartbeats, unknown events (a run is registered only by a frame it understands),
  per-run dedupe (node and run frames by ``(event, node, order, status)``,
  chat frames by ``(sequence_id, microtime)``, the rest byte-identical within the window),
  late frames of evicted or ended runs, eviction of the oldest run beyond 50, the counters;
* visual: node glow with the 500 ms end window (a repeated end keeps its deadline), the
  run_end clear after the last window;
* store: badges keyed by the server's order, final statuses, ``unfinished`` at run end;
* lifecycle: run records, outcome from the nodes, the editor lock and active run, pauses,
  resumes, and the 120 s stall watchdog;
* tool: overlapping calls per node, each glowing ``max(end, start + 2 s)``, orphan ends counted;
* chat: messages per ``(node, speaker, kind)``, the speaker's node remembered for frames without
  one, chunks ordered by ``sequence_id`` (a reordered chunk inserted, a repeated one dropped),
  closing events, final content, tool calls, delegations, reasoning steps, sanitised HTML
  (with flowrx's own :func:`flowrx.html.sanitise_html`: unsanitised HTML would be one of the
  bugs) and names from the graph;
* interaction: pending pauses (one pause from the two frames that announce it), OAuth and other
  prompts, resolution on resume, drops at run end, scoping to the flow;
* group: descendants' phases and per-group aggregates along the ancestor chain.

What it leaves out is what flowrx adds beyond the state: typed, validated messages (plain
checks only what it reads), isolation, change records, sinks, snapshots. Timers are a heap
driven by the frames' times (virtual time), the way flowrx's virtual clock drives its timers.
It decodes frames with the same :func:`flowrx.messages.loads` as flowrx, so the ratio compares
the designs, not the JSON decoders. A measuring device for ``bench.py``, not a product.
"""

from __future__ import annotations

import heapq
import json
import re
from typing import Any

from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html
from flowrx.messages import AGNO_EVENTS, EXECUTION_EVENTS, KNOWN_STATUSES, MAX_DEPTH, loads

__all__ = ["PlainHandler"]

_RANK = {"error": 5, "killed": 4, "unfinished": 3, "success": 2, "provided": 1}
_ENDED = ("success", "error", "killed")
_KEYED = ("start_node", "end_node", "run_start", "run_end")
_RUN_EVENTS = frozenset({"run_start", "run_end", "resume_start", "resume_end"})
_NODE_OR_TOOL = EXECUTION_EVENTS - _RUN_EVENTS
_PAUSE_TYPES = ("confirmation", "user_input", "external_tool", "unknown")
_OAUTH_KEYS = ("service_name", "auth_url", "redirect_uri", "state")
_STEP_FIELDS = ("title", "action", "result", "reasoning", "next_action", "confidence")
_EPS = 1e-6
_EVICTED_MEMORY = 1024
_RECENT = 256
_STATUS = re.compile(r"[a-z_-]{1,32}")
_STATUS_OK = frozenset({*KNOWN_STATUSES, "running", "pending"})
_KNOWN = EXECUTION_EVENTS | AGNO_EVENTS | {"ChatHTML", "AgentPaused", "interaction_event"}


def _new_run() -> dict[str, Any]:
    return {
        # intake
        "keys": set(),
        "recent": [],
        "ended": False,
        # visual
        "glow": {},
        "vpend": {},
        "clearing": False,
        # store
        "badges": {},
        # lifecycle
        "life": None,
        # tool
        "calls": {},
        # chat
        "chat": None,
        # interaction
        "issued": 0,
        "ix_ended": False,
        # group
        "members": {},
        "groups": {},
        "g_cleared": False,
        "g_clearing": False,
        "dark": set(),
    }


def _new_chat() -> dict[str, Any]:
    """A run's chat: messages by index, open and latest message per key, the node each
    speaker streams from, the resume phase, the next index."""
    return {"messages": {}, "open": {}, "latest": {}, "nodes": {}, "phase": 0, "next": 0}


def _group_status(agg: dict[str, Any]) -> str | None:
    if agg["active"]:
        return "executing"
    statuses = agg["statuses"]
    if not statuses:
        return None
    worst: str = max(statuses, key=lambda s: (_RANK.get(s, 0), s))
    return worst


def _text_of(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)


def _raw_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _place(pieces: list[tuple[str, Any]], order: tuple[int, int]) -> tuple[int, int] | None:
    """How many pieces (and how much text) follow a chunk of this place; None: already there."""
    cut = after = seen = seen_text = 0
    for text, at in reversed(pieces):
        seen += 1
        seen_text += len(text)
        if at is None:
            continue
        if at == order:
            return None
        if at < order:
            break
        cut, after = seen, seen_text
    return cut, after


class PlainHandler:
    """All seven concerns' state updates in one mutable object."""

    def __init__(self, graph: FlowGraph, max_runs: int = 50) -> None:
        self.graph = graph
        self.flow_id = graph.flow_id
        self.max_runs = max_runs
        self.runs: dict[str, dict[str, Any]] = {}
        self.evicted: dict[str, None] = {}
        self.timers: list[tuple[float, int, tuple[Any, ...]]] = []
        self.live: dict[tuple[Any, ...], int] = {}
        self.seq = 0
        self.active: str | None = None
        self.locked = False
        self.pending: dict[str, dict[str, Any]] = {}
        self.resolved = 0
        self.counts = dict.fromkeys(
            ("frames", "messages", "heartbeats", "rejected", "duplicates", "unknown", "late"), 0
        )
        self.counts["unknown_status"] = 0
        self.orphan_tool_end = 0
        self.final_text_differs = 0
        self.foreign = 0
        self.ix_late = 0
        self.changes = 0

    # --- timers ------------------------------------------------------------------------------

    def _start(self, key: tuple[Any, ...], delay: float, now: float) -> None:
        self.seq += 1
        self.live[key] = self.seq
        heapq.heappush(self.timers, (now + max(delay, 0.0), self.seq, key))

    def advance(self, now: float) -> None:
        """Fire every timer due by ``now``."""
        timers, live = self.timers, self.live
        while timers and timers[0][0] <= now:
            due, seq, key = heapq.heappop(timers)
            if live.get(key) != seq:
                continue
            del live[key]
            run = self.runs[key[1]]
            kind = key[0]
            if kind == "end":
                self._visual_window(run, key[2])
            elif kind == "clear":
                self._visual_clear(key[1], run)
            elif kind == "tool":
                self._settle(key[1], run, key[2], run["calls"][key[2]], due)
            elif kind == "gwin":
                member = run["members"].get(key[2])
                if member is not None and member[0] == "window":
                    self._transition(run, key[2], ("ended", member[1], 0.0))
            elif kind == "gclear":
                if run["g_clearing"]:
                    self._group_clear(run)
            else:  # watchdog
                self._watchdog(key[1], run, due)

    # --- the handler ----------------------------------------------------------------------------

    def handle(self, text: str, now: float) -> None:
        """Apply one frame received at ``now``."""
        self.advance(now)
        counts = self.counts
        counts["frames"] += 1
        if text.strip() == "pong":
            counts["heartbeats"] += 1
            return
        try:
            frame = loads(text, MAX_DEPTH)
        except (ValueError, RecursionError):
            counts["rejected"] += 1
            return
        if not isinstance(frame, dict):
            counts["rejected"] += 1
            return
        event = frame.get("event")
        if event is None and frame.get("type") == "interaction_event":
            event = "interaction_event"
        run_id = frame.get("run_id")
        if not isinstance(event, str) or not isinstance(run_id, str) or not run_id:
            counts["rejected"] += 1
            return
        node: Any = frame.get("node_id")
        if not _valid(event, frame, node):
            counts["rejected"] += 1
            return
        # intake: late, eviction, duplicates
        if run_id in self.evicted:
            counts["messages"] += 1
            counts["late"] += 1
            return
        run = self.runs.get(run_id)
        if run is None:
            if event not in _KNOWN:  # not understood: no run registered, none evicted
                counts["messages"] += 1
                counts["unknown"] += 1
                return
            if len(self.runs) >= self.max_runs:
                self._evict(next(iter(self.runs)))
            run = self.runs[run_id] = _new_run()
        sequence_id = frame.get("sequence_id")
        recent = None
        if event in _KEYED:
            if event in _RUN_EVENTS:  # a run frame's node and order are not its own
                key: Any = (event, None, None, frame.get("status"))
            else:
                key = (event, node, frame.get("order"), frame.get("status"))
            if key in run["keys"]:
                counts["duplicates"] += 1
                return
        elif event in AGNO_EVENTS or event == "ChatHTML":
            key = None if sequence_id is None else (sequence_id, frame.get("microtime"))
            if key is not None and key in run["keys"]:
                counts["duplicates"] += 1
                return
        else:
            key = None
            recent = [r for r in run["recent"] if now - r[0] < 0.1]
            for r in recent:
                if r[1] == text:
                    counts["duplicates"] += 1
                    return
            recent.append((now, text))
            del recent[:-_RECENT]
        if run["ended"] and event in _NODE_OR_TOOL:
            counts["messages"] += 1
            counts["late"] += 1
            return
        if key is not None:
            run["keys"].add(key)
        elif recent is not None:
            run["recent"] = recent
        counts["messages"] += 1
        if event in ("run_end", "resume_end"):
            run["ended"] = True
        elif event == "resume_start":
            run["ended"] = False
            run["keys"] = set()
        elif event == "end_node" and frame["status"] not in KNOWN_STATUSES:
            counts["unknown_status"] += 1

        # the concerns
        if self.flow_id is None and event in EXECUTION_EVENTS and "flow" not in run:
            flow = frame.get("flow_id")  # the run's flow, learnt for scoping its prompts
            if isinstance(flow, str):
                run["flow"] = flow
        if event in AGNO_EVENTS:
            self._chat(run_id, run, event, frame, node, sequence_id)
            if event in ("RunPaused", "TeamRunPaused"):
                self._pause(run_id, run, now)
                self._arrives(run_id, run, frame, node, "RunPaused", event)
            elif event in ("RunContinued", "TeamRunContinued"):
                self._seen(run_id, run, now)
                life = run["life"]
                if life["status"] == "paused":
                    life["status"] = "running"
                    self._start(("watchdog", run_id), 120.0, now)
                    self.changes += 1
                self._drop_items(run_id, "resolved")
            else:
                self._seen_unless_ended(run_id, run, now)
        elif event == "start_node":
            self._seen(run_id, run, now)
            glow, vpend = run["glow"], run["vpend"]
            if node in vpend:
                self.live.pop(("end", run_id, node), None)
                del vpend[node]
            glow[node] = "executing"
            self.changes += 1
            order = frame.get("order")
            badges = run["badges"]
            if order is None:
                order = len(badges)
            badge = badges.get((node, order))
            if badge is not None:
                badge["status"] = "executing"
            else:
                graph = self.graph
                badges[(node, order)] = {
                    "id": f"{node}-{order}",
                    "node_id": node,
                    "order": order,
                    "status": "executing",
                    "handle": graph.handle(node),
                    "type": graph.type(node),
                }
            self.changes += 1
            self._group_node(run_id, run, node, None, now)
        elif event == "end_node":
            self._seen(run_id, run, now)
            status = frame["status"] or "success"
            if status == "error":
                run["life"]["has_error"] = True
            elif status == "killed":
                run["life"]["has_killed"] = True
            vpend = run["vpend"]
            previous = vpend.get(node)
            if previous is not None:
                vpend[node] = (status, previous[1])
            else:
                was = run["glow"].get(node)
                run["glow"][node] = "executing"
                vpend[node] = (status, now + 0.5)
                self._start(("end", run_id, node), 0.5, now)
                if was != "executing":
                    self.changes += 1
            badges = run["badges"]
            order = frame.get("order")
            badge = badges.get((node, order)) if order is not None else self._latest(run, node)
            if badge is None:
                graph = self.graph
                order = order if order is not None else len(badges)
                badge = badges[(node, order)] = {
                    "id": f"{node}-{order}",
                    "node_id": node,
                    "order": order,
                    "status": status,
                    "handle": graph.handle(node),
                    "type": graph.type(node),
                }
            badge["status"] = status
            self.changes += 1
            self._group_node(run_id, run, node, status, now)
        elif event in ("start_tool", "start_tool_or_member"):
            self._seen(run_id, run, now)
            calls = run["calls"].get(node, [])
            self._settle(run_id, run, node, [*calls, [now, None]], now)
        elif event in ("end_tool", "end_tool_or_member"):
            self._seen(run_id, run, now)
            calls = run["calls"].get(node, [])
            for call in calls:
                if call[1] is None:
                    call[1] = now
                    self._settle(run_id, run, node, calls, now)
                    break
            else:
                self.orphan_tool_end += 1
        elif event in ("run_end", "resume_end"):
            self._run_end(run_id, run, now)
        elif event in ("run_start", "resume_start"):
            self._run_start(run_id, run, now, event == "resume_start")
        elif event == "ChatHTML":
            self._seen_unless_ended(run_id, run, now)
            self._html(run, frame, node, sequence_id)
        elif event == "AgentPaused":
            self._pause(run_id, run, now)
            self._arrives(run_id, run, frame, node, "AgentPaused", event)
        elif event == "interaction_event":
            self._seen_unless_ended(run_id, run, now)
            self._arrives(run_id, run, frame, node, "interaction", event)
        else:  # an event nobody handles: counted, kept, a sign of life for a run already known
            counts["unknown"] += 1
            if run["life"] is not None:
                self._seen_unless_ended(run_id, run, now)

    # --- eviction ------------------------------------------------------------------------------

    def _evict(self, run_id: str) -> None:
        self.evicted[run_id] = None
        if len(self.evicted) > _EVICTED_MEMORY:
            del self.evicted[next(iter(self.evicted))]
        run = self.runs.pop(run_id)
        live = self.live
        for key in (("clear", run_id), ("gclear", run_id), ("watchdog", run_id)):
            live.pop(key, None)
        for node in run["vpend"]:
            live.pop(("end", run_id, node), None)
        for node in run["calls"]:
            live.pop(("tool", run_id, node), None)
        for node, member in run["members"].items():
            if member[0] == "window":
                live.pop(("gwin", run_id, node), None)
        if self.active == run_id:
            self.active = None
            self.locked = False
        self._drop_items(run_id, "dropped")
        self.changes += 1

    # --- lifecycle -------------------------------------------------------------------------------

    def _set_status(self, life: dict[str, Any], status: str) -> None:
        if life["status"] != status:
            life["status"] = status
            self.changes += 1

    def _run_start(self, run_id: str, run: dict[str, Any], now: float, resume: bool) -> None:
        # lifecycle
        life = run["life"]
        if not resume and life is not None and life["status"] in _ENDED:
            pass  # a run_start after its run_end: late, it must not re-lock
        else:
            if resume and life is not None:
                life.update(status="running", ended_at=None, last_seen=now)
                life["resumes"] += 1
            else:
                run["life"] = {
                    "status": "running",
                    "started_at": now,
                    "ended_at": None,
                    "resumes": 1 if resume else 0,
                    "last_seen": now,
                    "has_error": False,
                    "has_killed": False,
                }
            self.active = run_id
            self.locked = True
            self._start(("watchdog", run_id), 120.0, now)
            self.changes += 2
        # visual
        if run["clearing"]:
            self.live.pop(("clear", run_id), None)
            run["clearing"] = False
        if not resume:
            return
        # chat: a new phase of sequence ids
        if run["chat"] is not None:
            run["chat"]["phase"] += 1
        # interaction: the run's pending items are resolved
        run["ix_ended"] = False
        self._drop_items(run_id, "resolved")
        # group: a glow run_end cleared stays dark until a descendant changes it
        if run["g_clearing"]:
            self.live.pop(("gclear", run_id), None)
        if run["g_cleared"]:
            run["dark"] = {g for g, agg in run["groups"].items() if _group_status(agg)}
        run["g_cleared"] = run["g_clearing"] = False

    def _seen(self, run_id: str, run: dict[str, Any], now: float) -> None:
        life = run["life"]
        if life is None:
            run["life"] = {
                "status": "running",
                "started_at": now,
                "ended_at": None,
                "resumes": 0,
                "last_seen": now,
                "has_error": False,
                "has_killed": False,
            }
            if self.active is None:
                self.active = run_id
                self.locked = True
            self._start(("watchdog", run_id), 120.0, now)
            self.changes += 1
        elif life["status"] == "stalled":
            life["status"] = "running"
            life["last_seen"] = now
            if self.active == run_id:
                self.locked = True
            self._start(("watchdog", run_id), 120.0, now)
            self.changes += 1
        elif life["status"] != "running" or now - life["last_seen"] >= 1.0:
            life["last_seen"] = now

    def _seen_unless_ended(self, run_id: str, run: dict[str, Any], now: float) -> None:
        life = run["life"]
        if life is None or life["status"] not in _ENDED:
            self._seen(run_id, run, now)

    def _pause(self, run_id: str, run: dict[str, Any], now: float) -> None:
        self._seen(run_id, run, now)
        life = run["life"]
        if life["status"] not in _ENDED:
            self._set_status(life, "paused")

    def _watchdog(self, run_id: str, run: dict[str, Any], now: float) -> None:
        life = run["life"]
        if life is None or life["status"] != "running":
            return
        quiet_until = life["last_seen"] + 120.0
        if now + _EPS < quiet_until:
            self._start(("watchdog", run_id), quiet_until - now, now)
            return
        life["status"] = "stalled"
        if self.active == run_id:
            self.locked = False
        self.changes += 1

    def _run_end(self, run_id: str, run: dict[str, Any], now: float) -> None:
        # lifecycle
        life = run["life"]
        if life is None:
            life = run["life"] = {
                "status": "running",
                "started_at": None,
                "ended_at": None,
                "resumes": 0,
                "last_seen": now,
                "has_error": False,
                "has_killed": False,
            }
        outcome = "error" if life["has_error"] else "killed" if life["has_killed"] else "success"
        self._set_status(life, outcome)
        life["ended_at"] = life["last_seen"] = now
        if self.active == run_id:
            self.active = None
            self.locked = False
        self.live.pop(("watchdog", run_id), None)
        # visual
        vpend = run["vpend"]
        if not vpend:
            self._visual_clear(run_id, run)
        else:
            last_due = max(p[1] for p in vpend.values())
            delay = min(last_due + 0.1 - now, 0.5 + 0.1)
            run["clearing"] = True
            self._start(("clear", run_id), delay, now)
        # store
        for badge in run["badges"].values():
            if badge["status"] == "executing":
                badge["status"] = "unfinished"
                self.changes += 1
        # tool
        for node, calls in list(run["calls"].items()):
            for call in calls:
                if call[1] is None:
                    call[1] = now
            self._settle(run_id, run, node, calls, now)
        # chat
        chat = run["chat"]
        if chat is not None and chat["open"]:
            for index in chat["open"].values():
                chat["messages"][index]["closed"] = True
                self.changes += 1
            chat["open"] = {}
        # interaction
        run["ix_ended"] = True
        self._drop_items(run_id, "dropped")
        # group
        pending = [m[2] for m in run["members"].values() if m[0] == "window"]
        for node, member in list(run["members"].items()):
            if member[0] == "running":
                self._transition(run, node, ("ended", "unfinished", 0.0))
        if not pending:
            self._group_clear(run)
        else:
            delay = min(max(pending) + 0.1 - now, 0.5 + 0.1)
            self._start(("gclear", run_id), delay, now)
            run["g_clearing"] = True

    # --- visual ----------------------------------------------------------------------------------

    def _visual_window(self, run: dict[str, Any], node: str) -> None:
        pending = run["vpend"].pop(node, None)
        if pending is not None:
            run["glow"][node] = f"executed-{pending[0]}"
            self.changes += 1

    def _visual_clear(self, run_id: str, run: dict[str, Any]) -> None:
        for node in run["vpend"]:
            self.live.pop(("end", run_id, node), None)
        self.changes += len(run["glow"])
        run["glow"] = {}
        run["vpend"] = {}
        run["clearing"] = False

    # --- store -----------------------------------------------------------------------------------

    @staticmethod
    def _latest(run: dict[str, Any], node: str) -> dict[str, Any] | None:
        found = [b for b in run["badges"].values() if b["node_id"] == node]
        executing = [b for b in found if b["status"] == "executing"]
        return max(executing or found, key=lambda b: b["order"]) if found else None

    # --- tool ------------------------------------------------------------------------------------

    def _settle(
        self, run_id: str, run: dict[str, Any], node: str, calls: list[list[Any]], now: float
    ) -> None:
        was_on = node in run["calls"]
        kept = []
        until: float | None = float("-inf")
        for call in calls:
            if call[1] is None:
                kept.append(call)
                until = None
                continue
            glow = max(call[1], call[0] + 2.0)
            if glow > now + _EPS:
                kept.append(call)
                if until is not None and glow > until:
                    until = glow
        key = ("tool", run_id, node)
        if until is not None and until <= now + _EPS:
            run["calls"].pop(node, None)
            self.live.pop(key, None)
            if was_on:
                self.changes += 1
        else:
            run["calls"][node] = kept
            if until is None:
                self.live.pop(key, None)
            else:
                self._start(key, until - now, now)
            if not was_on:
                self.changes += 1

    # --- group -----------------------------------------------------------------------------------

    def _group_node(
        self, run_id: str, run: dict[str, Any], node: str, status: str | None, now: float
    ) -> None:
        if not self.graph.ancestors(node):
            return
        old = run["members"].get(node)
        key = ("gwin", run_id, node)
        if status is None:  # start_node
            if old is not None and old[0] == "window":
                self.live.pop(key, None)
            self._transition(run, node, ("running", old[1] if old else None, 0.0))
        elif old is not None and old[0] == "window":  # a repeated end keeps its deadline
            self._transition(run, node, ("window", status, old[2]))
        else:
            self._transition(run, node, ("window", status, now + 0.5))
            self._start(key, 0.5, now)

    def _transition(self, run: dict[str, Any], node: str, new: tuple[Any, ...]) -> None:
        members, groups = run["members"], run["groups"]
        old = members.get(node)
        was_active = old is not None and old[0] != "ended"
        had_ended = old is not None and old[1] is not None and old[1] != "unfinished"
        now_ended = new[1] is not None and new[1] != "unfinished"
        is_active = new[0] != "ended"
        for group in self.graph.ancestors(node):
            agg = groups.get(group)
            if agg is None:
                agg = groups[group] = {"active": 0, "started": 0, "ended": 0, "statuses": {}}
            before = _group_status(agg)
            statuses = agg["statuses"]
            if old is not None and old[1] is not None:
                left = statuses[old[1]] - 1
                if left:
                    statuses[old[1]] = left
                else:
                    del statuses[old[1]]
            if new[1] is not None:
                statuses[new[1]] = statuses.get(new[1], 0) + 1
            agg["active"] += int(is_active) - int(was_active)
            agg["started"] += int(old is None)
            agg["ended"] += int(now_ended and not had_ended)
            if (_group_status(agg) != before or group in run["dark"]) and not run["g_cleared"]:
                self.changes += 1
        members[node] = new
        if run["dark"]:
            run["dark"].difference_update(self.graph.ancestors(node))

    def _group_clear(self, run: dict[str, Any]) -> None:
        self.changes += sum(
            1 for g, agg in run["groups"].items() if _group_status(agg) and g not in run["dark"]
        )
        run["g_cleared"] = True
        run["g_clearing"] = False
        run["dark"] = set()

    # --- interaction -----------------------------------------------------------------------------

    def _drop_items(self, run_id: str, what: str) -> None:
        gone = [i for i, item in self.pending.items() if item["run_id"] == run_id]
        for item_id in gone:
            del self.pending[item_id]
            self.changes += 1
        if what == "resolved":
            self.resolved += len(gone)

    def _new_id(self, run: dict[str, Any], prefix: str) -> str:
        n = run["issued"] + 1
        while f"{prefix}:{n}" in self.pending:
            n += 1
        run["issued"] = n
        return f"{prefix}:{n}"

    def _arrives(
        self,
        run_id: str,
        run: dict[str, Any],
        frame: dict[str, Any],
        node: Any,
        source: str,
        event: str,
    ) -> None:
        theirs = frame.get("flow_id")
        theirs = theirs if isinstance(theirs, str) else None
        ours = self.flow_id if self.flow_id is not None else run.get("flow")
        if theirs is not None and ours is not None and theirs != ours:
            self.foreign += 1
            return
        if run["ix_ended"]:
            self.ix_late += 1
            return
        node = node if isinstance(node, str) else None
        where = f"{run_id}:{'-' if node is None else node}"
        if source == "interaction":
            kind = frame.get("interaction_type")
            given = frame.get("data")
            data: dict[str, Any] = given if isinstance(given, dict) else {}
            if kind != "oauth_authorization_required":
                item_id = self._new_id(run, f"other:{where}")
                detail = {**data, "interaction_type": kind}
                self._add(item_id, run_id, node, "other", detail, set())
                return
            detail = {k: data.get(k) for k in _OAUTH_KEYS}
            token = detail["state"]
            if isinstance(token, str) and token:
                item_id = f"oauth:{run_id}:{token}"
                old = self.pending.get(item_id)
                if old is None:
                    self._add(item_id, run_id, node, "oauth", detail, set())
                    return
                if old["run_id"] == run_id and old["kind"] == "oauth":
                    if node is not None:
                        old["node_id"] = node
                    old["detail"] = detail
                    self.changes += 1
                    return
            item_id = self._new_id(run, f"oauth:{run_id}")
            self._add(item_id, run_id, node, "oauth", detail, set())
            return
        detail = _platform_pause(frame) if source == "AgentPaused" else _agno_pause(frame)
        candidates = [
            item
            for item in self.pending.values()
            if item["run_id"] == run_id
            and item["kind"] == "pause"
            and (item["node_id"] is None or node is None or item["node_id"] == node)
        ]
        target = (
            next((i for i in candidates if node is not None and i["node_id"] == node), None)
            or next((i for i in candidates if source not in i["sources"]), None)
            or (candidates[0] if candidates else None)
        )
        if target is None:
            item_id = self._new_id(run, f"pause:{where}")
            self._add(item_id, run_id, node, "pause", detail, {source})
            return
        if not (source == "RunPaused" and "AgentPaused" in target["sources"]):
            target["detail"] = detail
        if target["node_id"] is None:
            target["node_id"] = node
        target["sources"].add(source)
        self.changes += 1

    def _add(
        self,
        item_id: str,
        run_id: str,
        node: str | None,
        kind: str,
        detail: dict[str, Any],
        sources: set[str],
    ) -> None:
        self.pending[item_id] = {
            "id": item_id,
            "run_id": run_id,
            "node_id": node,
            "kind": kind,
            "detail": detail,
            "sources": sources,
        }
        self.changes += 1

    # --- chat ------------------------------------------------------------------------------------

    def _chat(
        self,
        run_id: str,
        run: dict[str, Any],
        event: str,
        frame: dict[str, Any],
        node: Any,
        sequence_id: Any,
    ) -> None:
        chat = run["chat"]
        if chat is None:
            chat = run["chat"] = _new_chat()
        # the speaker, and the node it streams from
        role_field = frame.get("agent_role")
        member = frame.get("is_member_agent") is True or role_field == "member"
        index = frame.get("member_index")
        ids: list[Any] = []
        if member and index is not None:
            ids.append(("member", frame.get("parent_team_id"), index))
        if frame.get("team_id"):
            ids.append(("team", frame["team_id"]))
        if frame.get("agent_id"):
            ids.append(("agent", frame["agent_id"]))
        nodes = chat["nodes"]
        if node is None:
            for i in ids:
                node = nodes.get(i)
                if node is not None:
                    break
        else:
            for i in ids:
                nodes[i] = node
        if member:
            who: Any = (
                ids[0]
                if index is not None
                else ("member", frame.get("parent_team_id"), frame.get("agent_id"))
            )
            role = "member"
        elif role_field == "leader" or event.startswith("Team"):
            role, who = "leader", ("leader",)
        else:
            role, who = "agent", ("agent",)
        base = event[4:] if event.startswith("Team") else event
        order = None if sequence_id is None else (chat["phase"], sequence_id)
        speaker = (role, who, node, frame)
        if base == "RunContent":
            text = _text_of(frame.get("content"))
            if text:
                self._chunk(chat, speaker, "content", text, order)
            reasoning = frame.get("reasoning_content")
            if reasoning:
                self._chunk(chat, speaker, "reasoning", reasoning, order)
        elif base in ("ReasoningContent", "RunReasoningContent"):
            text = _text_of(frame.get("content"))
            if text:
                self._chunk(chat, speaker, "reasoning", text, order)
        elif base == "ReasoningContentDelta":
            reasoning = frame.get("reasoning_content")
            if reasoning:
                self._chunk(chat, speaker, "reasoning", reasoning, order)
        elif base == "ReasoningStep":
            content = frame.get("content")
            if content is not None:
                if isinstance(content, dict):
                    step: dict[str, Any] = {name: content.get(name) for name in _STEP_FIELDS}
                else:
                    step = dict.fromkeys(_STEP_FIELDS)
                    step["reasoning"] = content
                message = self._target(chat, speaker, "reasoning", order)
                if order is None or all(s["order"] != order for s in message["steps"]):
                    step["order"] = order
                    message["steps"].append(step)
                    self.changes += 1
        elif base == "ReasoningCompleted":
            self._close(chat, (node, who, "reasoning"), order)
        elif base in ("ToolCallStarted", "ToolCallCompleted", "ToolCallError"):
            self._tool_call(chat, speaker, frame, base, event)
        elif base in ("RunContentCompleted", "RunError", "RunCancelled"):
            self._close(chat, (node, who, "content"), order)
            self._close(chat, (node, who, "reasoning"), order)
        elif base == "RunCompleted":
            self._close(chat, (node, who, "content"), order)
            self._close(chat, (node, who, "reasoning"), order)
            final = frame.get("content")
            if isinstance(final, str) and final:
                latest = chat["latest"].get((node, who, "content"))
                if latest is None:
                    message = self._new(chat, speaker, "content")
                    message["final"] = final
                    message["closed"] = True
                    message["closed_at"] = order
                    del chat["open"][(node, who, "content")]
                    self.changes += 1
                else:
                    message = chat["messages"][latest]
                    text = message["final"] if message["final"] is not None else message["streamed"]
                    if text != final:
                        if message["final"] is None and message["pieces"]:
                            self.final_text_differs += 1
                        message["final"] = final
                        self.changes += 1

    def _new(self, chat: dict[str, Any], speaker: tuple[Any, ...], kind: str) -> dict[str, Any]:
        role, who, node, frame = speaker
        graph = self.graph
        if role == "member":
            name = graph.display_name(node, frame.get("member_index"))
        else:
            field = "team_name" if role == "leader" else "agent_name"
            name = _raw_str(frame, field) or graph.display_name(node)
        index = chat["next"]
        chat["next"] = index + 1
        message = {
            "index": index,
            "node_id": node,
            "speaker": role,
            "who": who,
            "name": name,
            "kind": kind,
            "pieces": [],
            "streamed": "",
            "final": None,
            "closed": False,
            "closed_at": None,
            "last": None,
            "tools": [],
            "delegations": [],
            "steps": [],
        }
        chat["messages"][index] = message
        key = (node, who, kind)
        chat["open"][key] = index
        chat["latest"][key] = index
        return message

    def _target(
        self, chat: dict[str, Any], speaker: tuple[Any, ...], kind: str, order: Any
    ) -> dict[str, Any]:
        key = (speaker[2], speaker[1], kind)
        index = chat["open"].get(key)
        if index is not None:
            return chat["messages"][index]  # type: ignore[no-any-return]
        if order is not None and key in chat["latest"]:
            for message in chat["messages"].values():
                if (message["node_id"], message["who"], message["kind"]) != key:
                    continue
                closed_at = message["closed_at"]
                if (closed_at is not None and order < closed_at) or _place(
                    message["pieces"], order
                ) is None:
                    return message  # type: ignore[no-any-return]
        return self._new(chat, speaker, kind)

    def _chunk(
        self, chat: dict[str, Any], speaker: tuple[Any, ...], kind: str, text: str, order: Any
    ) -> None:
        message = self._target(chat, speaker, kind, order)
        last = message["last"]
        if order is None or last is None or order > last:
            message["pieces"].append((text, order))
            message["streamed"] += text
            if order is not None:
                message["last"] = order
        else:
            place = _place(message["pieces"], order)
            if place is None:
                return  # a repeated chunk
            behind, after = place
            pieces = message["pieces"]
            pieces.insert(len(pieces) - behind, (text, order))
            streamed = message["streamed"]
            split = len(streamed) - after
            message["streamed"] = streamed[:split] + text + streamed[split:]
        self.changes += 1

    def _close(self, chat: dict[str, Any], key: tuple[Any, ...], order: Any) -> None:
        index = chat["open"].pop(key, None)
        if index is not None:
            message = chat["messages"][index]
            message["closed"] = True
            message["closed_at"] = order
            self.changes += 1

    def _tool_call(
        self,
        chat: dict[str, Any],
        speaker: tuple[Any, ...],
        frame: dict[str, Any],
        base: str,
        event: str,
    ) -> None:
        tool = frame.get("tool")
        tool = tool if isinstance(tool, dict) else {}
        raw_id = tool.get("tool_call_id")
        call_id = raw_id if isinstance(raw_id, str) else None
        key = (speaker[2], speaker[1], "content")
        message: dict[str, Any] | None = None
        old: dict[str, Any] | None = None
        if call_id is not None:
            for index in (chat["open"].get(key), chat["latest"].get(key)):
                if index is None:
                    continue
                for call in chat["messages"][index]["tools"]:
                    if call["id"] == call_id:
                        message, old = chat["messages"][index], call
                        break
                if message is not None:
                    break
        if message is None:
            index = chat["open"].get(key)
            if index is not None:
                message = chat["messages"][index]
            else:
                message = self._new(chat, speaker, "content")
            if call_id is not None:
                old = next((c for c in message["tools"] if c["id"] == call_id), None)
        name = tool.get("tool_name")
        args = tool.get("tool_args")
        result = tool.get("result")
        flagged = tool.get("tool_call_error")
        error = (old["error"] if old else False) if flagged is None else bool(flagged)
        if base == "ToolCallError":
            error = True
            if result is None:
                result = _raw_str(frame, "error")
        metrics = tool.get("metrics")
        duration = metrics.get("duration") if isinstance(metrics, dict) else None
        if isinstance(duration, bool) or not isinstance(duration, float | int):
            duration = None
        call = {
            "id": call_id,
            "name": name if isinstance(name, str) else (old["name"] if old else None),
            "args": args if args is not None else (old["args"] if old else None),
            "result": result if result is not None else (old["result"] if old else None),
            "error": error,
            "duration": float(duration)
            if duration is not None
            else (old["duration"] if old else None),
        }
        if old is None:
            message["tools"].append(call)
        else:
            old.update(call)
        if event == "TeamToolCallCompleted" and call["name"] == "delegate_task_to_member":
            child = tool.get("child_run_id")
            member = call["args"].get("member_id") if isinstance(call["args"], dict) else None
            message["delegations"] = [
                d for d in message["delegations"] if call_id is None or d[0] != call_id
            ]
            message["delegations"].append(
                (call_id, child if isinstance(child, str) else None, member, args)
            )
        self.changes += 1

    def _html(
        self, run: dict[str, Any], frame: dict[str, Any], node: Any, sequence_id: Any
    ) -> None:
        chat = run["chat"]
        if chat is None:
            chat = run["chat"] = _new_chat()
        html = frame["html_content"]
        order = None if sequence_id is None else (chat["phase"], sequence_id)
        if order is not None and any(
            m["kind"] == "html" and m["node_id"] == node and m["last"] == order
            for m in chat["messages"].values()
        ):
            return  # the same item again
        graph = self.graph
        index_value = frame.get("member_index")
        index_value = index_value if isinstance(index_value, int) else None
        if frame.get("is_member_agent") is True or frame.get("agent_role") == "member":
            speaker, name = "member", graph.display_name(node, index_value)
        elif frame.get("agent_role") == "leader":
            speaker, name = "leader", _raw_str(frame, "team_name") or graph.display_name(node)
        else:
            speaker, name = "agent", _raw_str(frame, "agent_name") or graph.display_name(node)
        text = sanitise_html(html)
        index = chat["next"]
        chat["next"] = index + 1
        chat["messages"][index] = {
            "index": index,
            "node_id": node,
            "speaker": speaker,
            "who": ("html", index),
            "name": name,
            "kind": "html",
            "pieces": [(text, order)],
            "streamed": text,
            "final": None,
            "closed": True,
            "closed_at": None,
            "last": order,
            "tools": [],
            "delegations": [],
            "steps": [],
            "raw_html": html,
        }
        self.changes += 1

    # --- what bench.py compares ------------------------------------------------------------------

    def sections(self) -> dict[str, Any]:
        """Each concern's ``snapshot/1`` section and the diagnostics counters, as flowrx's."""
        visual: dict[str, set[str]] = {}
        tool: set[str] = set()
        store: dict[str, Any] = {}
        groups: dict[str, Any] = {}
        lifecycle_runs: dict[str, Any] = {}
        chat: dict[str, Any] = {}
        for run_id, run in self.runs.items():
            for node, cls in run["glow"].items():
                visual.setdefault(node, set()).add(cls)
            tool.update(run["calls"])
            if run["badges"]:
                store[run_id] = [
                    {k: b[k] for k in ("id", "node_id", "order", "status", "handle", "type")}
                    for b in sorted(
                        run["badges"].values(), key=lambda b: (b["order"], b["node_id"])
                    )
                ]
            shown = {
                g: {"status": _group_status(agg), "started": agg["started"], "ended": agg["ended"]}
                for g, agg in sorted(run["groups"].items())
                if agg["started"]
            }
            if shown:
                groups[run_id] = shown
            life = run["life"]
            if life is not None:
                lifecycle_runs[run_id] = {
                    k: life[k] for k in ("status", "started_at", "ended_at", "resumes")
                }
            if run["chat"] is not None and run["chat"]["messages"]:
                chat[run_id] = [_message_json(m) for m in run["chat"]["messages"].values()]
        return {
            "visual": {node: sorted(c) for node, c in sorted(visual.items())},
            "store": store,
            "lifecycle": {
                "editor_locked": self.locked,
                "active_run_id": self.active,
                "runs": dict(sorted(lifecycle_runs.items())),
            },
            "tool": {node: ["executing-tool"] for node in sorted(tool)},
            "chat": chat,
            "interaction": {
                "pending": [
                    {k: item[k] for k in ("id", "run_id", "node_id", "kind", "detail")}
                    for item in self.pending.values()
                ],
                "resolved": self.resolved,
            },
            "group": groups,
            "counters": {
                **self.counts,
                "orphan_tool_end": self.orphan_tool_end,
                "final_text_differs": self.final_text_differs,
            },
        }


def _valid(event: str, frame: dict[str, Any], node: Any) -> bool:
    """The types of the fields this handler reads, checked as flowrx's parse checks them
    (``type(x) is int`` keeps booleans out)."""
    get = frame.get
    if event in EXECUTION_EVENTS:
        order, status, flow = get("order"), get("status"), get("flow_id")
        return (
            (
                (node is None or type(node) is str)
                if event in _RUN_EVENTS
                else (type(node) is str and node != "")
            )
            and (order is None or type(order) is int)
            and (flow is None or type(flow) is str)
            and (
                (status is None and event != "end_node")
                or (
                    type(status) is str
                    and (status in _STATUS_OK or _STATUS.fullmatch(status) is not None)
                )
            )
        )
    if event in AGNO_EVENTS:
        agent, team, role, parent = (
            get("agent_id"),
            get("team_id"),
            get("agent_role"),
            get("parent_team_id"),
        )
        sequence, member, microtime = get("sequence_id"), get("member_index"), get("microtime")
        reasoning, tool = get("reasoning_content"), get("tool")
        return (
            (node is None or type(node) is str)
            and (agent is None or type(agent) is str)
            and (team is None or type(team) is str)
            and (role is None or type(role) is str)
            and (parent is None or type(parent) is str)
            and (reasoning is None or type(reasoning) is str)
            and (sequence is None or type(sequence) is int)
            and (member is None or type(member) is int)
            and (tool is None or type(tool) is dict)
            and (microtime is None or type(microtime) is float or type(microtime) is int)
        )
    if event == "ChatHTML":
        sequence = get("sequence_id")
        return (
            type(get("html_content")) is str
            and (node is None or type(node) is str)
            and (sequence is None or type(sequence) is int)
        )
    if event == "AgentPaused":
        kind, message, data = get("pause_type"), get("pause_message"), get("pause_data")
        return (
            (node is None or type(node) is str)
            and (kind is None or type(kind) is str)
            and (message is None or type(message) is str)
            and (data is None or type(data) is dict)
        )
    if event == "interaction_event":
        kind, flow, data = get("interaction_type"), get("flow_id"), get("data")
        return (
            type(kind) is str
            and kind != ""
            and (node is None or type(node) is str)
            and (flow is None or type(flow) is str)
            and (data is None or type(data) is dict)
        )
    return True


def _message_json(message: dict[str, Any]) -> dict[str, Any]:
    final = message["final"]
    return {
        "node_id": message["node_id"],
        "speaker": message["speaker"],
        "name": message["name"],
        "kind": message["kind"],
        "text": message["streamed"] if final is None else final,
        "closed": message["closed"],
        "tools": [
            {
                "name": t["name"],
                "args": {} if t["args"] is None else t["args"],
                "result": t["result"],
                "error": t["error"],
            }
            for t in message["tools"]
        ],
    }


def _entries(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [entry for entry in value if isinstance(entry, dict)]


def _tool(entry: dict[str, Any]) -> dict[str, Any]:
    """A waiting tool as a pause shows it."""
    return {"tool_name": entry.get("tool_name"), "tool_args": entry.get("tool_args")}


def _waits_for(tool: dict[str, Any]) -> str | None:
    if tool.get("requires_confirmation") and tool.get("confirmed") is None:
        return "confirmation"
    if tool.get("requires_user_input") and not tool.get("answered"):
        return "user_input"
    if tool.get("external_execution_required") and tool.get("result") is None:
        return "external_tool"
    return None


def _schema_of(tools: list[dict[str, Any]]) -> list[Any]:
    schema: list[Any] = []
    for tool in tools:
        fields = tool.get("user_input_schema")
        if isinstance(fields, list):
            schema.extend(fields)
    return schema


def _platform_pause(frame: dict[str, Any]) -> dict[str, Any]:
    pause_type = frame.get("pause_type")
    pause_type = pause_type if pause_type in _PAUSE_TYPES else "unknown"
    given = frame.get("pause_data")
    data: dict[str, Any] = given if isinstance(given, dict) else {}
    tools = _entries(data.get("tools"))
    message = frame.get("pause_message")
    detail: dict[str, Any] = {
        "pause_type": pause_type,
        "message": message if isinstance(message, str) else None,
        "tools": [_tool(t) for t in tools],
    }
    if pause_type == "user_input":
        schema = data.get("schema")
        detail["schema"] = list(schema) if isinstance(schema, list) else _schema_of(tools)
    return detail


def _agno_pause(frame: dict[str, Any]) -> dict[str, Any]:
    tools = _entries(frame.get("tools"))
    waiting = [(need, t) for t in tools if (need := _waits_for(t)) is not None]
    needs = {need for need, _ in waiting}
    pause_type = next((t for t in _PAUSE_TYPES if t in needs), "unknown")
    shown = [t for _, t in waiting] or tools
    content = frame.get("content")
    detail: dict[str, Any] = {
        "pause_type": pause_type,
        "message": content if isinstance(content, str) else None,
        "tools": [_tool(t) for t in shown],
    }
    if pause_type == "user_input":
        detail["schema"] = _schema_of([t for need, t in waiting if need == "user_input"])
    return detail
