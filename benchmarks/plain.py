"""The honest floor: one plain function with dicts and if/elif dispatch, no Rx.

It does the state updates flowrx does (what the platform's 1,100-line handler did, minus its
bugs): parse, per-run dedupe, node glow with the 500 ms end window and the run_end clear,
badges with the server's order and final statuses, run outcome and editor lock, tool glow with
its 2 s minimum, group status from descendants, chat text per speaker, chat HTML sanitised
(with flowrx's own :func:`flowrx.html.sanitise_html`: unsanitised HTML would be one of the
bugs), pending pauses and prompts, and eviction beyond 50 runs. Timers are a heap driven by the
frames' times (virtual time), the way flowrx's virtual clock drives its timers. It has no
isolation, no snapshot, no sinks: it is the floor flowrx's per-frame cost is compared with, not
a product. It decodes frames with the same :func:`flowrx.messages.loads` as flowrx, so the
ratio compares the designs, not the JSON decoders.
"""

from __future__ import annotations

import heapq
from typing import Any

from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html
from flowrx.messages import loads

__all__ = ["PlainHandler"]

_RANK = {"error": 5, "killed": 4, "unfinished": 3, "success": 2, "provided": 1}


class PlainHandler:
    """All seven concerns' state updates in one mutable object."""

    def __init__(self, graph: FlowGraph, max_runs: int = 50) -> None:
        self.graph = graph
        self.max_runs = max_runs
        self.runs: dict[str, dict[str, Any]] = {}
        self.timers: list[tuple[float, int, str, str, str]] = []
        self.seq = 0
        self.active: str | None = None
        self.locked = False
        self.counts = {"frames": 0, "rejected": 0, "duplicates": 0, "heartbeats": 0}
        self.changes = 0

    def _run(self, run_id: str) -> dict[str, Any]:
        run = self.runs.get(run_id)
        if run is None:
            if len(self.runs) >= self.max_runs:
                del self.runs[next(iter(self.runs))]
            run = {
                "keys": set(),
                "glow": {},
                "pending": {},
                "badges": {},
                "status": "running",
                "error": False,
                "killed": False,
                "tools": {},
                "groups": {},
                "members": {},
                "chat": {},
                "pending_ix": [],
                "ended": False,
            }
            self.runs[run_id] = run
        return run

    def _timer(self, due: float, kind: str, run_id: str, node: str) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (due, self.seq, kind, run_id, node))

    def advance(self, now: float) -> None:
        """Fire every timer due by ``now``."""
        timers = self.timers
        while timers and timers[0][0] <= now:
            due, _, kind, run_id, node = heapq.heappop(timers)
            run = self.runs.get(run_id)
            if run is None:
                continue
            if kind == "end":
                status = run["pending"].pop(node, None)
                if status is not None:
                    run["glow"][node] = "executed-" + status
                    self.changes += 1
                    for group in self.graph.ancestors(node):
                        self._group(run, group)
                    if run["ended"] and not run["pending"]:
                        self._timer(due + 0.1, "clear", run_id, "")
            elif kind == "clear":
                run["glow"].clear()
                run["groups"].clear()
                self.changes += 1
            elif kind == "tool":
                calls = run["tools"].get(node)
                closed = calls is not None and all(c[1] is not None for c in calls)
                if closed and max(max(e, s + 2.0) for s, e in calls) <= due:
                    del run["tools"][node]
                    self.changes += 1

    def _group(self, run: dict[str, Any], group: str) -> None:
        members = run["members"]
        active = False
        worst = None
        for node in self.graph.descendants(group):
            phase = members.get(node)
            if phase is None:
                continue
            if phase[0] != "ended":
                active = True
                break
            if phase[1] and (worst is None or _RANK.get(phase[1], 0) > _RANK.get(worst, 0)):
                worst = phase[1]
        run["groups"][group] = "executing" if active else f"executed-{worst}"

    def handle(self, text: str, now: float) -> None:
        """Apply one frame received at ``now``."""
        self.advance(now)
        self.counts["frames"] += 1
        if text == "pong":
            self.counts["heartbeats"] += 1
            return
        try:
            frame = loads(text)
        except ValueError:
            self.counts["rejected"] += 1
            return
        if not isinstance(frame, dict):
            self.counts["rejected"] += 1
            return
        event = frame.get("event")
        run_id = frame.get("run_id")
        if not isinstance(run_id, str):
            self.counts["rejected"] += 1
            return
        run = self._run(run_id)
        node = frame.get("node_id")
        if event in ("start_node", "end_node", "run_start", "run_end"):
            key = (event, node, frame.get("order"), frame.get("status"))
            if key in run["keys"]:
                self.counts["duplicates"] += 1
                return
            run["keys"].add(key)
        elif "sequence_id" in frame and frame.get("sequence_id") is not None:
            key = ("chat", frame["sequence_id"], frame.get("microtime"))
            if key in run["keys"]:
                self.counts["duplicates"] += 1
                return
            run["keys"].add(key)
        if event == "run_start":
            run["status"] = "running"
            self.active = run_id
            self.locked = True
        elif event == "start_node":
            run["glow"][node] = "executing"
            run["pending"].pop(node, None)
            order = frame.get("order")
            graph = self.graph
            run["badges"][(node, order)] = {
                "node_id": node,
                "order": order,
                "status": "executing",
                "handle": graph.handle(node),
                "type": graph.type(node),
            }
            ancestors = graph.ancestors(node)
            if ancestors:
                run["members"][node] = ("running", None)
                for group in ancestors:
                    self._group(run, group)
            self.changes += 2
        elif event == "end_node":
            status = frame.get("status") or "success"
            run["pending"][node] = status
            self._timer(now + 0.5, "end", run_id, node)
            badge = run["badges"].get((node, frame.get("order")))
            if badge is not None:
                badge["status"] = status
            if status == "error":
                run["error"] = True
            elif status == "killed":
                run["killed"] = True
            if node in run["members"]:
                run["members"][node] = ("window", status)
            self.changes += 2
        elif event in ("run_end", "resume_end"):
            run["ended"] = True
            run["status"] = "error" if run["error"] else "killed" if run["killed"] else "success"
            for badge in run["badges"].values():
                if badge["status"] == "executing":
                    badge["status"] = "unfinished"
            for calls in run["tools"].values():
                for i, (s, e) in enumerate(calls):
                    if e is None:
                        calls[i] = (s, now)
            for tool in run["tools"]:
                self._timer(now + 2.0, "tool", run_id, tool)
            run["pending_ix"].clear()
            if self.active == run_id:
                self.active = None
                self.locked = False
            if not run["pending"]:
                self._timer(now, "clear", run_id, "")
            self.changes += 2
        elif event in ("start_tool", "start_tool_or_member"):
            run["tools"].setdefault(node, []).append((now, None))
            self.changes += 1
        elif event in ("end_tool", "end_tool_or_member"):
            calls = run["tools"].get(node)
            if calls:
                for i, (s, e) in enumerate(calls):
                    if e is None:
                        calls[i] = (s, now)
                        self._timer(max(now, s + 2.0), "tool", run_id, node)
                        break
        elif event == "resume_start":
            run["status"] = "running"
            run["ended"] = False
            run["keys"] = set()
            self.active = run_id
            self.locked = True
            run["pending_ix"].clear()
        elif event in ("AgentPaused", "RunPaused", "TeamRunPaused"):
            run["status"] = "paused"
            run["pending_ix"].append(frame.get("pause_type") or "pause")
        elif event == "interaction_event" or frame.get("type") == "interaction_event":
            run["pending_ix"].append(frame.get("interaction_type"))
        elif event == "ChatHTML":
            html = frame.get("html_content")
            if isinstance(html, str):  # untrusted: sanitised as flowrx does (an XSS otherwise)
                run["chat"][(node, "html", self.seq)] = sanitise_html(html)
            self.changes += 1
        elif isinstance(event, str) and event.endswith("Content"):
            member = frame.get("member_index")
            content = frame.get("content")
            key = (node, member, "content")
            if isinstance(content, str):
                run["chat"][key] = run["chat"].get(key, "") + content
                self.changes += 1
            reasoning = frame.get("reasoning_content")
            if reasoning:
                rkey = (node, member, "reasoning")
                run["chat"][rkey] = run["chat"].get(rkey, "") + reasoning
                self.changes += 1
