"""AG-UI: the Agent-User Interaction protocol's events as flowrx's messages (``agui.md``).

pydantic-ai, LangGraph, Agno, CrewAI, Mastra and others stream an agent run to a user interface
as AG-UI events: one JSON object per SSE event, ``type`` naming it, camelCase keys. This module
reads them into flowrx's protocol-neutral messages, so that every concern works on AG-UI as it
does on the platform's stream:

* **Runs**: ``RUN_STARTED`` is ``run_start``; a ``RUN_STARTED`` on a thread whose latest run is
  paused is ``resume_start`` of that run (its later ``runId`` is an alias; the run keeps its
  first id). ``RUN_FINISHED`` ends the run (``resume_end`` after a resume) with the outcome it
  states: ``success``, ``paused`` (interrupts, client-side tools, or the producers' other pause
  signals) or ``killed`` (cancelled); ``RUN_ERROR`` ends the open run as ``error``; so does
  :class:`~flowrx.messages.EndOfStream` when the response ends with the run still open.
* **Nodes**: ``STEP_STARTED``/``STEP_FINISHED`` are nodes named by the step, each start a new
  badge (``order`` counts the run's starts from 0, across resumes). Text, reasoning or a tool
  call while no step is open runs on the node ``agent``. Steps and ``agent`` still open when the
  run ends end ``error``, ``unfinished`` (paused), ``killed`` or ``success`` with it.
* **Tools**: ``TOOL_CALL_START`` starts a call on the node named by the tool, keyed by
  ``toolCallId``; its glow ends at ``TOOL_CALL_RESULT`` (``TOOL_CALL_END`` only closes the
  arguments) or at the run's end. A result in a resumed leg finds the call of the earlier leg.
* **Chat**: :class:`~flowrx.messages.ChatPart` pieces keyed by ``messageId``: text and
  reasoning deltas, closes, tool calls on their ``parentMessageId`` (the call's arguments, whole,
  when ``TOOL_CALL_END`` arrives: parsed JSON, or the text as sent), results, a call cut off by
  the run's error, and ``MESSAGES_SNAPSHOT``'s final text of announced assistant messages.
  ``*_CHUNK`` events follow ``@ag-ui/client``: a chunk continues the open chunked message or
  call of its id; another id (or any other event) closes it; a first chunk without an id is a
  violation.
* **Interactions**: the interrupts of an ``interrupt`` outcome (kind ``pause`` when they name a
  tool call, else ``other``), the ``pendingToolCallIds`` of a success (``frontend_tool``), and,
  without an interrupt outcome, ``CUSTOM on_interrupt`` events (``other``) and tool calls still
  waiting for their result at ``RUN_FINISHED`` (``pause``) are :class:`~flowrx.messages.Pending`.
* **State**: ``STATE_SNAPSHOT``/``STATE_DELTA`` become :class:`~flowrx.messages.StateSnapshot`/
  :class:`~flowrx.messages.StateDelta` of the open run.
* ``RAW``, other ``CUSTOM`` and ``ACTIVITY_*`` events are messages no concern uses; an unknown
  ``type`` is counted in ``unknown`` (noticed once per name) and skipped.

**Violations** (what ``@ag-ui/client``'s verifier would reject) are applied as far as they can
be and counted in ``violations``, each kind noticed once: an event before ``RUN_STARTED`` or after
the run's terminal, a second start of an open message, call or step, content, end or arguments of
one that is not open, ``RUN_FINISHED`` while a step, message or call is open. None is fatal.

Every frame counts once: ``frames == messages + heartbeats + rejected + duplicates`` (AG-UI has
no heartbeats or dedupe; a frame that is not a JSON object with a string ``type`` is rejected).

The decoding state (the open run, its messages, calls and steps, each thread's latest run) is
the protocol's scan accumulator, frozen like every other state. Marble (one leg)::

    frames   RS--TS-tc-TE--XS-XA-XE-XR--RF|
    messages r---------------s---------e--n--n-E|    r run_start, s start_tool, e end_tool,
                                                   n end_node agent, E run_end (success)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.config import Config
from flowrx.messages import (
    MAX_DEPTH,
    Answer,
    Background,
    ChatPart,
    ClearRun,
    EndOfStream,
    Evict,
    ExecutionEvent,
    Foreground,
    Message,
    Pending,
    Reply,
    ResolveInteraction,
    StateDelta,
    StateSnapshot,
    Unknown,
    loads,
)
from flowrx.protocols.card import Counters, Notice, Protocol

__all__ = [
    "AGUI",
    "AGUI_EVENTS",
    "AguiState",
    "conversation",
    "is_agui_frame",
    "reduce_agui",
    "resume_entry",
    "resume_input",
    "run_input",
]

AGUI_EVENTS: Final = frozenset(
    {
        "RUN_STARTED",
        "RUN_FINISHED",
        "RUN_ERROR",
        "STEP_STARTED",
        "STEP_FINISHED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TEXT_MESSAGE_CHUNK",
        "REASONING_START",
        "REASONING_MESSAGE_START",
        "REASONING_MESSAGE_CONTENT",
        "REASONING_MESSAGE_END",
        "REASONING_MESSAGE_CHUNK",
        "REASONING_END",
        "REASONING_ENCRYPTED_VALUE",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "TOOL_CALL_CHUNK",
        "TOOL_CALL_RESULT",
        "STATE_SNAPSHOT",
        "STATE_DELTA",
        "MESSAGES_SNAPSHOT",
        "ACTIVITY_SNAPSHOT",
        "ACTIVITY_DELTA",
        "RAW",
        "CUSTOM",
        "SUBAGENT_STARTED",
        "SUBAGENT_FINISHED",
        "SUBAGENT_ERROR",
    }
)
"""Every event type of AG-UI 1.0."""

AGENT: Final = "agent"
"""The node a run's text, reasoning and tool calls run on while no step is open."""
_UNKNOWN_NAMES_MEMORY: Final = 256
_EVICTED_MEMORY: Final = 1024
_KIND: Final = {
    "TEXT_MESSAGE_START": "content",
    "TEXT_MESSAGE_CONTENT": "content",
    "TEXT_MESSAGE_END": "content",
    "TEXT_MESSAGE_CHUNK": "content",
    "REASONING_MESSAGE_START": "reasoning",
    "REASONING_MESSAGE_CONTENT": "reasoning",
    "REASONING_MESSAGE_END": "reasoning",
    "REASONING_MESSAGE_CHUNK": "reasoning",
}
_END_STATUS: Final = {"success": "success", "error": "error", "paused": "unfinished"}
_END_STATUS_KILLED: Final = "killed"


@attrs.frozen
class Said:
    """A chat message the run announced: its kind, node, speaker and whether it is open."""

    kind: str
    node: str
    speaker: str = "agent"
    name: str | None = None
    open: bool = True


@attrs.frozen
class Call:
    """A tool call without its result yet: where it belongs and its arguments so far."""

    name: str
    message_id: str
    node: str
    args: str = ""
    args_open: bool = True
    glowing: bool = True
    leg: int = 0


@attrs.frozen
class Run:
    """One flowrx run: every leg of a thread's run, resumes included."""

    run_id: str
    thread_id: str
    status: str = "open"
    """``open`` (a leg streams), ``paused`` (waits for the next run on its thread), ``ended``."""
    legs: int = 0
    order: int = 0
    steps: Mapping[str, int] = attrs.field(factory=dict)
    """Open steps (arrival order) and their badge order."""
    agent: int | None = None
    """The open ``agent`` node's badge order."""
    said: Mapping[str, Said] = attrs.field(factory=dict)
    calls: Mapping[str, Call] = attrs.field(factory=dict)
    chunk_message: str | None = None
    chunk_call: str | None = None
    signals: tuple[Pending, ...] = ()
    """Pause signals of this leg other than an interrupt outcome."""
    subagents: Mapping[str, str] = attrs.field(factory=dict)
    """Names of the sub-agents that spoke, by ``subagentRunId``."""


@attrs.frozen
class AguiState:
    """The decoder's state: counters, the runs held (arrival order), the open one, each
    thread's latest run, recently evicted runs, names noticed."""

    counters: Counters = attrs.field(factory=Counters)
    runs: Mapping[str, Run] = attrs.field(factory=dict)
    """The runs held but the open one (arrival order)."""
    open: Run | None = None
    """The run whose leg streams now: kept apart, so that an event copies no map of runs."""
    threads: Mapping[str, str] = attrs.field(factory=dict)
    evicted: Mapping[str, None] = attrs.field(factory=dict)
    noticed: frozenset[str] = frozenset()

    @property
    def current(self) -> str | None:
        """The open run's id, if a leg streams."""
        return None if self.open is None else self.open.run_id

    @property
    def held(self) -> int:
        """How many runs are held, the open one included."""
        return len(self.runs) + (self.open is not None)


Output = Message | Notice
Result = tuple[AguiState, tuple[Output, ...]]


def is_agui_frame(data: object) -> bool:
    """Whether a decoded frame is an AG-UI event (a JSON object whose ``type`` names one):
    how a recording's protocol is detected from its first frame."""
    return isinstance(data, Mapping) and data.get("type") in AGUI_EVENTS


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _bump(state: AguiState, **delta: int) -> AguiState:
    return evolve(state, counters=state.counters.plus(delta))


class _Decoder:
    """One frame's decoding: what it changes and what to forward, gathered while the frame is
    read and written into a new state once, at the end (:meth:`done`). A short-lived
    builder: the reducer, :func:`reduce_agui`, stays a function of its arguments."""

    def __init__(self, state: AguiState, **counts: int) -> None:
        self.state = state
        """The state before the frame, but for rare changes made at once (eviction, threads)."""
        self.open = state.open
        self.puts: dict[str, Run] = {}
        self.counts = counts
        self.noticed = state.noticed
        self.out: list[Output] = []

    def done(self) -> Result:
        """The new state and the outputs."""
        state = self.state
        runs = state.runs
        open_run = self.open
        if self.puts or (open_run is not None and open_run.run_id in runs):
            runs = dict(runs)
            if open_run is not None:
                runs.pop(open_run.run_id, None)
            runs.update(self.puts)
        counters = state.counters.plus(self.counts)
        new = AguiState(counters, runs, open_run, state.threads, state.evicted, self.noticed)
        return new, tuple(self.out)

    # --- bookkeeping ---------------------------------------------------------------------

    def violation(self, kind: str, detail: str, run_id: str | None = None) -> None:
        self.counts["violations"] = self.counts.get("violations", 0) + 1
        if kind not in self.noticed:
            self.noticed = self.noticed | {kind}
            self.out.append(Notice("violation", f"{kind}: {detail}"[:200], run_id))

    def put(self, run: Run) -> Run:
        """Keep a run's new version: the open run apart, the others among the held."""
        if run.status == "open":
            self.open = run
            self.puts.pop(run.run_id, None)
        else:
            if self.open is not None and self.open.run_id == run.run_id:
                self.open = None
            self.puts[run.run_id] = run
        return run

    def get(self, run_id: str) -> Run | None:
        if self.open is not None and self.open.run_id == run_id:
            return self.open
        run = self.puts.get(run_id)
        return run if run is not None else self.state.runs.get(run_id)

    def open_run(self) -> Run | None:
        return self.open

    def emit(self, msg: Message) -> None:
        self.out.append(msg)

    # --- nodes ------------------------------------------------------------------------------

    def node(self, run: Run) -> tuple[Run, str]:
        """The node the run's output goes to now: the innermost open step, else ``agent``
        (started if it is not running)."""
        if run.steps:
            return run, list(run.steps)[-1]
        if run.agent is None:
            self.emit(ExecutionEvent("start_node", run.run_id, AGENT, run.order, "running"))
            run = self.put(evolve(run, agent=run.order, order=run.order + 1))
        return run, AGENT

    def end_nodes(self, run: Run, outcome: str) -> Run:
        status = _END_STATUS.get(outcome, _END_STATUS_KILLED)
        for name, order in reversed(list(run.steps.items())):
            if outcome == "success":
                self.violation("run_finished_with_open_step", name, run.run_id)
            self.emit(ExecutionEvent("end_node", run.run_id, name, order, status))
        if run.agent is not None:
            self.emit(ExecutionEvent("end_node", run.run_id, AGENT, run.agent, status))
        return self.put(evolve(run, steps={}, agent=None))

    # --- chunks -----------------------------------------------------------------------------

    def close_chunks(self, run: Run) -> Run:
        """Any event other than a chunk of the same kind closes the open chunked message or
        call (``@ag-ui/client``'s rule)."""
        if run.chunk_message is not None:
            run = self.end_message(run, run.chunk_message)
            run = self.put(evolve(run, chunk_message=None))
        if run.chunk_call is not None:
            run = self.end_args(run, run.chunk_call)
            run = self.put(evolve(run, chunk_call=None))
        return run

    # --- messages ---------------------------------------------------------------------------

    def speaker(self, run: Run, data: Mapping[str, Any]) -> tuple[str, str | None]:
        sub = _str(data, "subagentRunId")
        if sub is not None:
            return "member", run.subagents.get(sub, sub)
        return "agent", _str(data, "name")

    def start_message(self, run: Run, message_id: str, kind: str, data: Mapping[str, Any]) -> Run:
        old = run.said.get(message_id)
        if old is not None and old.open:
            self.violation("message_started_twice", message_id, run.run_id)
            return run
        run, node = self.node(run)
        speaker, name = self.speaker(run, data)
        said = Said(kind, node, speaker, name)
        return self.put(evolve(run, said=assoc(run.said, message_id, said)))

    def text(self, run: Run, message_id: str, kind: str, data: Mapping[str, Any]) -> Run:
        said = run.said.get(message_id)
        if said is None or not said.open:
            self.violation("content_of_no_open_message", message_id, run.run_id)
            if said is None:
                run = self.start_message(run, message_id, kind, data)
                said = run.said[message_id]
        delta = data.get("delta")
        if isinstance(delta, str) and delta:
            self.emit(self.part(run, message_id, said, "text", text=delta))
        return run

    def part(self, run: Run, message_id: str, said: Said, op: str, **fields: Any) -> ChatPart:
        return ChatPart(
            run_id=run.run_id,
            message_id=message_id,
            op=op,
            node_id=said.node,
            kind=said.kind,
            speaker=said.speaker,
            name=said.name,
            **fields,
        )

    def end_message(self, run: Run, message_id: str) -> Run:
        said = run.said.get(message_id)
        if said is None or not said.open:
            self.violation("end_of_no_open_message", message_id, run.run_id)
            return run
        self.emit(self.part(run, message_id, said, "close"))
        return self.put(evolve(run, said=assoc(run.said, message_id, evolve(said, open=False))))

    # --- tool calls -------------------------------------------------------------------------

    def start_call(self, run: Run, data: Mapping[str, Any], call_id: str, name: str) -> Run:
        old = run.calls.get(call_id)
        if old is not None and old.args_open:
            self.violation("tool_call_started_twice", call_id, run.run_id)
            return run
        run, node = self.node(run)
        if old is not None:  # announced again (a resumed leg): it stays where it was
            message_id = old.message_id
        else:
            parent = _str(data, "parentMessageId")
            message_id = parent if parent is not None else self.latest_message(run, call_id)
        if message_id not in run.said:  # a parent never announced: made for the call
            speaker, speaker_name = self.speaker(run, data)
            said = Said("content", node, speaker, speaker_name, open=False)
            run = self.put(evolve(run, said=assoc(run.said, message_id, said)))
        said = run.said[message_id]
        self.emit(ExecutionEvent("start_tool", run.run_id, name, -1, "running"))
        self.emit(self.part(run, message_id, said, "tool", call_id=call_id, tool_name=name))
        if not said.open:  # its end came before its first call: the message is complete
            self.emit(self.part(run, message_id, said, "close"))
        call = Call(name, message_id, node, leg=run.legs)
        return self.put(evolve(run, calls=assoc(run.calls, call_id, call)))

    def latest_message(self, run: Run, call_id: str) -> str:
        for message_id, said in reversed(list(run.said.items())):
            if said.kind == "content":
                return message_id
        return f"call:{call_id}"

    def args(self, run: Run, call_id: str, delta: object) -> Run:
        call = run.calls.get(call_id)
        if call is None or not call.args_open:
            self.violation("args_of_no_open_tool_call", call_id, run.run_id)
            return run
        if isinstance(delta, str) and delta:
            call = evolve(call, args=call.args + delta)
            return self.put(evolve(run, calls=assoc(run.calls, call_id, call)))
        return run

    def end_args(self, run: Run, call_id: str) -> Run:
        call = run.calls.get(call_id)
        if call is None or not call.args_open:
            self.violation("end_of_no_open_tool_call", call_id, run.run_id)
            return run
        return self.close_args(run, call_id, call)

    def close_args(self, run: Run, call_id: str, call: Call) -> Run:
        said = run.said[call.message_id]
        self.emit(self.part(run, call.message_id, said, "args", call_id=call_id, value=_args(call)))
        call = evolve(call, args_open=False)
        return self.put(evolve(run, calls=assoc(run.calls, call_id, call)))

    def result(self, run: Run, data: Mapping[str, Any], call_id: str) -> Run:
        call = run.calls.get(call_id)
        if call is None:
            self.violation("result_of_no_tool_call", call_id, run.run_id)
            return run
        if call.args_open:
            run = self.close_args(run, call_id, call)
            call = run.calls[call_id]
        said = run.said[call.message_id]
        content = data.get("content")
        self.emit(self.part(run, call.message_id, said, "result", call_id=call_id, value=content))
        if call.glowing:
            self.emit(ExecutionEvent("end_tool", run.run_id, call.name, -1, "success"))
        return self.put(evolve(run, calls=dissoc(run.calls, call_id)))

    # --- run ends ---------------------------------------------------------------------------

    def finish(self, run: Run, outcome: str, pending: tuple[Pending, ...], cut: bool) -> None:
        """End the open leg: open chunks, calls, nodes; the pending interactions; the end."""
        run = self.close_chunks(run)
        calls = dict(run.calls)
        for call_id, call in run.calls.items():
            if call.args_open and not cut:
                self.violation("run_finished_with_open_tool_call", call_id, run.run_id)
            if call.args_open:
                call = evolve(call, args_open=False)
            if cut:
                said = run.said[call.message_id]
                self.emit(self.part(run, call.message_id, said, "error", call_id=call_id))
            if call.glowing:
                self.emit(ExecutionEvent("end_tool", run.run_id, call.name, -1, outcome))
                call = evolve(call, glowing=False)
            calls[call_id] = call
        if not cut:
            for message_id, said in run.said.items():
                if said.open:
                    self.violation("run_finished_with_open_message", message_id, run.run_id)
        run = self.put(evolve(run, calls=calls if outcome == "paused" else {}))
        run = self.end_nodes(run, outcome)
        self.out.extend(pending)
        event = "resume_end" if run.legs else "run_end"
        self.emit(ExecutionEvent(event, run.run_id, None, -1, "running", outcome=outcome))
        status = "paused" if outcome == "paused" else "ended"
        self.put(evolve(run, status=status, signals=(), chunk_message=None, chunk_call=None))


def _args(call: Call) -> Any:
    """A call's arguments: the JSON its deltas spell, else their text as sent."""
    if not call.args:
        return {}
    try:
        return loads(call.args, MAX_DEPTH)
    except ValueError:
        return call.args


def _pending_of(run: Run, outcome: Any, signals_allowed: bool) -> tuple[str, tuple[Pending, ...]]:
    """The leg's outcome (``success``, ``paused``, ``killed``) and what it leaves pending."""
    kind = outcome.get("type") if isinstance(outcome, Mapping) else None
    run_id = run.run_id
    if kind == "cancelled":
        return "killed", ()
    if kind == "interrupt":
        found: list[Pending] = []
        interrupts = outcome.get("interrupts")
        for n, item in enumerate(interrupts if isinstance(interrupts, list) else ()):
            if not isinstance(item, Mapping):
                continue
            item_id = _str(item, "id") or f"interrupt:{run_id}:{run.legs}:{n}"
            detail = {
                key: item[key]
                for key in ("reason", "message", "toolCallId", "responseSchema")
                if item.get(key) is not None
            }
            call_id = _str(item, "toolCallId")
            node = run.calls[call_id].name if call_id is not None and call_id in run.calls else None
            found.append(Pending(run_id, item_id, "pause" if call_id else "other", node, detail))
        return "paused", tuple(found)
    pending: list[Pending] = []
    ids = outcome.get("pendingToolCallIds") if isinstance(outcome, Mapping) else None
    for call_id in ids if isinstance(ids, list) else ():
        if isinstance(call_id, str):
            detail = _call_detail(run, call_id)
            pending.append(Pending(run_id, call_id, "frontend_tool", None, detail))
    if pending:
        return "paused", tuple(pending)
    if outcome is None and signals_allowed:
        pending.extend(run.signals)
        for call_id, call in run.calls.items():
            if call.leg == run.legs:
                detail = _call_detail(run, call_id)
                pending.append(Pending(run_id, call_id, "pause", call.name, detail))
        if pending:
            return "paused", tuple(pending)
    return "success", ()


def _call_detail(run: Run, call_id: str) -> dict[str, Any]:
    call = run.calls.get(call_id)
    if call is None:
        return {"toolCallId": call_id}
    return {"toolCallId": call_id, "name": call.name, "args": _args(call)}


def _start_run(d: _Decoder, data: Mapping[str, Any], config: Config) -> None:
    wire_id = _str(data, "runId")
    thread = _str(data, "threadId") or ""
    current = d.open_run()
    if current is not None:
        d.violation("run_started_while_open", current.run_id, current.run_id)
        d.finish(current, "error", (), cut=True)
    state = d.state
    latest_id = state.threads.get(thread)
    latest = d.get(latest_id) if latest_id is not None else None
    if latest is not None and latest.status == "paused":
        run = d.put(evolve(latest, status="open", legs=latest.legs + 1))
        d.emit(ExecutionEvent("resume_start", run.run_id, None, -1, "running"))
        return
    run_id = wire_id or f"{thread or 'run'}:{state.counters.frames}"
    held = len(state.runs) + sum(1 for held_id in d.puts if held_id not in state.runs)
    if d.get(run_id) is None and held >= config.max_runs and state.runs:
        oldest = next(iter(state.runs))
        evicted = assoc(state.evicted, oldest, None)
        if len(evicted) > _EVICTED_MEMORY:
            del evicted[next(iter(evicted))]
        d.puts.pop(oldest, None)
        d.state = evolve(state, runs=dissoc(state.runs, oldest), evicted=evicted)
        d.out.extend((Evict(oldest, "evicted"), Notice("evicted", "evicted", oldest)))
    d.put(Run(run_id, thread))  # the same id again on a thread that is not paused: a new run
    if d.state.threads.get(thread) != run_id:
        d.state = evolve(d.state, threads=assoc(d.state.threads, thread, run_id))
    d.emit(ExecutionEvent("run_start", run_id, None, -1, "running"))


def _in_run(d: _Decoder, kind: str, data: Mapping[str, Any], run: Run) -> None:
    """An event of the open run (everything but the run's own start and end)."""
    chunk = kind == "TEXT_MESSAGE_CHUNK" or kind == "REASONING_MESSAGE_CHUNK"
    if not chunk and run.chunk_message is not None:
        run = d.close_chunks(run)
    if kind != "TOOL_CALL_CHUNK" and run.chunk_call is not None:
        run = d.close_chunks(run)
    if kind in _KIND:
        message_id = _str(data, "messageId")
        if kind.endswith("_CHUNK"):
            _message_chunk(d, run, data, message_id, _KIND[kind])
        elif message_id is None:
            d.violation("message_event_without_id", kind, run.run_id)
        elif kind.endswith("_START"):
            d.start_message(run, message_id, _KIND[kind], data)
        elif kind.endswith("_CONTENT"):
            d.text(run, message_id, _KIND[kind], data)
        else:
            d.end_message(run, message_id)
        return
    if kind.startswith("TOOL_CALL_"):
        call_id = _str(data, "toolCallId")
        if kind == "TOOL_CALL_CHUNK":
            _call_chunk(d, run, data, call_id)
        elif call_id is None:
            d.violation("tool_event_without_id", kind, run.run_id)
        elif kind == "TOOL_CALL_START":
            d.start_call(run, data, call_id, _str(data, "toolCallName") or "tool")
        elif kind == "TOOL_CALL_ARGS":
            d.args(run, call_id, data.get("delta"))
        elif kind == "TOOL_CALL_END":
            d.end_args(run, call_id)
        else:
            d.result(run, data, call_id)
        return
    if kind == "STEP_STARTED" or kind == "STEP_FINISHED":
        name = _str(data, "stepName") or "step"
        if kind == "STEP_STARTED":
            if name in run.steps:
                d.violation("step_started_twice", name, run.run_id)
                return
            d.emit(ExecutionEvent("start_node", run.run_id, name, run.order, "running"))
            d.put(evolve(run, steps=assoc(run.steps, name, run.order), order=run.order + 1))
        elif name not in run.steps:
            d.violation("end_of_no_open_step", name, run.run_id)
        else:
            d.emit(ExecutionEvent("end_node", run.run_id, name, run.steps[name], "success"))
            d.put(evolve(run, steps=dissoc(run.steps, name)))
        return
    if kind == "STATE_SNAPSHOT":
        d.emit(StateSnapshot(run.run_id, data.get("snapshot")))
    elif kind == "STATE_DELTA":
        d.emit(StateDelta(run.run_id, data.get("delta")))
    elif kind == "MESSAGES_SNAPSHOT":
        _reconcile(d, run, data.get("messages"))
    elif kind == "CUSTOM" and data.get("name") == "on_interrupt":
        value = data.get("value")
        detail = dict(value) if isinstance(value, Mapping) else {"value": value}
        n = len(run.signals)
        signal_id = f"on_interrupt:{run.run_id}:{run.legs}:{n}"
        signal = Pending(run.run_id, signal_id, "other", None, detail)
        d.put(evolve(run, signals=(*run.signals, signal)))
    elif kind == "SUBAGENT_STARTED":
        sub = _str(data, "subagentRunId")
        if sub is not None:
            name = _str(data, "name") or sub
            d.put(evolve(run, subagents=assoc(run.subagents, sub, name)))
    else:
        d.emit(Unknown(kind, run.run_id))  # RAW, CUSTOM, ACTIVITY_*, ...: used by no concern


def _message_chunk(
    d: _Decoder, run: Run, data: Mapping[str, Any], message_id: str | None, kind: str
) -> None:
    open_id = run.chunk_message
    if message_id is None or message_id == open_id:
        if open_id is None:
            d.violation("first_chunk_without_id", f"{kind} chunk", run.run_id)
            return
        d.text(run, open_id, kind, data)
        return
    if open_id is not None:
        run = d.close_chunks(run)
    run = d.start_message(run, message_id, kind, data)
    run = d.put(evolve(run, chunk_message=message_id))
    d.text(run, message_id, kind, data)


def _call_chunk(d: _Decoder, run: Run, data: Mapping[str, Any], call_id: str | None) -> None:
    open_id = run.chunk_call
    if call_id is None or call_id == open_id:
        if open_id is None:
            d.violation("first_chunk_without_id", "tool call chunk", run.run_id)
            return
        d.args(run, open_id, data.get("delta"))
        return
    if open_id is not None:
        run = d.close_chunks(run)
    run = d.start_call(run, data, call_id, _str(data, "toolCallName") or "tool")
    run = d.put(evolve(run, chunk_call=call_id))
    d.args(run, call_id, data.get("delta"))


def _reconcile(d: _Decoder, run: Run, messages: object) -> None:
    """``MESSAGES_SNAPSHOT``: the final text of the assistant messages the stream announced."""
    for item in messages if isinstance(messages, list) else ():
        if not isinstance(item, Mapping) or item.get("role") != "assistant":
            continue
        message_id = _str(item, "id")
        said = run.said.get(message_id) if message_id is not None else None
        content = item.get("content")
        if said is None or message_id is None or not isinstance(content, str) or not content:
            continue
        d.emit(d.part(run, message_id, said, "final", text=content))


def reduce_agui(state: AguiState, item: object, now: float, config: Config = Config()) -> Result:
    """Account for one input (an AG-UI event frame, a source's end, or a host control) and
    say what to forward. Pure: ``state`` is never changed."""
    if isinstance(item, ClearRun | Background | Foreground | ResolveInteraction):
        return _control(state, item)
    if isinstance(item, EndOfStream):
        d = _Decoder(state)
        run = d.open_run()
        if run is not None:
            d.out.append(Notice("run_error", f"{item.reason} with the run open", run.run_id))
            d.finish(run, "error", (), cut=True)
        return d.done()
    data = _decode(item)
    if isinstance(data, str):  # the reason it cannot be used
        return _bump(state, frames=1, rejected=1), (Notice("rejected", data),)
    kind: str = data["type"]
    if kind not in AGUI_EVENTS:
        d = _Decoder(state, frames=1, messages=1, unknown=1)
        d.emit(Unknown(kind[:80], state.current))
        if kind not in d.noticed and len(d.noticed) < _UNKNOWN_NAMES_MEMORY:
            d.noticed = d.noticed | {kind}
            d.out.append(Notice("unknown_event", kind[:80], state.current))
        return d.done()
    d = _Decoder(state, frames=1, messages=1)
    if kind == "RUN_STARTED":
        _start_run(d, data, config)
        return d.done()
    run = d.open_run()
    if run is None:
        d.violation("event_outside_a_run", kind)
        return d.done()
    if kind == "RUN_FINISHED":
        outcome, pending = _pending_of(run, data.get("outcome"), True)
        d.finish(run, outcome, pending, cut=False)
    elif kind == "RUN_ERROR":
        message = data.get("message")
        code = data.get("code")
        text = message if isinstance(message, str) else "run error"
        d.out.append(Notice("run_error", f"{code}: {text}" if code else text, run.run_id))
        d.finish(run, "error", (), cut=True)
    else:
        _in_run(d, kind, data, run)
    return d.done()


def _decode(item: object) -> Mapping[str, Any] | str:
    """The event as a mapping with a string ``type``, or why the frame cannot be used."""
    if isinstance(item, Mapping):
        data: Any = item
    elif isinstance(item, str | bytes | bytearray):
        try:
            data = loads(bytes(item) if isinstance(item, bytearray) else item, MAX_DEPTH)
        except (ValueError, UnicodeDecodeError) as exc:
            return f"not JSON: {str(exc)[:80]}"
    else:
        return f"a {type(item).__name__} is not a frame"
    if not isinstance(data, Mapping):
        return f"not an object: a JSON {type(data).__name__}"
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        return "no event type"
    return data


def _control(state: AguiState, msg: Any) -> Result:
    if isinstance(msg, ClearRun):
        if msg.run_id not in state.runs and msg.run_id != state.current:
            return state, (Notice("control", "clear of an unknown run", msg.run_id),)
        evicted = assoc(state.evicted, msg.run_id, None)
        new = evolve(
            state,
            runs=dissoc(state.runs, msg.run_id),
            evicted=evicted,
            open=None if state.current == msg.run_id else state.open,
        )
        return new, (Evict(msg.run_id, "cleared"), Notice("evicted", "cleared", msg.run_id))
    if isinstance(msg, Background | Foreground) and (
        msg.run_id not in state.runs and msg.run_id != state.current
    ):
        return state, (Notice("control", f"{msg.event} of an unknown run", msg.run_id),)
    return state, (msg,)


# --- talking back: the run inputs a client sends ---------------------------------------------


def run_input(
    thread_id: str,
    run_id: str,
    messages: str | Sequence[Mapping[str, Any]] = (),
    *,
    state: Any = None,
    tools: Sequence[Mapping[str, Any]] = (),
    context: Sequence[Mapping[str, Any]] = (),
    forwarded_props: Any = None,
    resume: Sequence[Mapping[str, Any]] | None = None,
    parent_run_id: str | None = None,
    protocol_version: str | None = "1.0",
) -> dict[str, Any]:
    """A ``RunAgentInput`` as the wire spells it (camelCase keys), ready for :func:`agui_run`.

    ``messages`` are AG-UI messages as given; a string is one user message (id
    ``<run_id>:user``). ``state`` defaults to ``{}``, ``forwarded_props`` to ``{}``. ``resume``
    (answers to the interrupts a previous run of the thread ended with, see
    :func:`resume_entry`) is sent only when given. ``protocolVersion`` declares the AG-UI
    version flowrx reads (1.0; producers send its outcomes, such as ``cancelled``, only to
    clients that declare it); None leaves it out.
    """
    if isinstance(messages, str):
        listed: list[dict[str, Any]] = [
            {"id": f"{run_id}:user", "role": "user", "content": messages}
        ]
    else:
        listed = [dict(message) for message in messages]
    doc: dict[str, Any] = {
        "threadId": thread_id,
        "runId": run_id,
        "state": {} if state is None else state,
        "messages": listed,
        "tools": [dict(tool) for tool in tools],
        "context": [dict(item) for item in context],
        "forwardedProps": {} if forwarded_props is None else forwarded_props,
    }
    if protocol_version is not None:
        doc["protocolVersion"] = protocol_version
    if parent_run_id is not None:
        doc["parentRunId"] = parent_run_id
    if resume is not None:
        doc["resume"] = [dict(entry) for entry in resume]
    return doc


def resume_entry(
    interrupt_id: str, payload: Any = None, *, status: str = "resolved"
) -> dict[str, Any]:
    """One answer to an interrupt (``RUN_FINISHED.outcome.interrupts[].id``) for
    :func:`run_input`'s ``resume``: ``resolved`` with the ``payload`` its ``responseSchema``
    asks for (pydantic-ai's approvals: ``{"approved": True}``), or ``cancelled``."""
    if status not in ("resolved", "cancelled"):
        raise ValueError(f"a resume entry's status is resolved or cancelled, not {status!r}")
    entry: dict[str, Any] = {"interruptId": interrupt_id, "status": status}
    if payload is not None:
        entry["payload"] = payload
    return entry


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _message_id(message: Any) -> str:
    who = getattr(message, "who", None)
    if isinstance(who, tuple) and len(who) == 2 and who[0] == "id":
        return str(who[1])
    return f"flowrx-{getattr(message, 'index', 0)}"


def conversation(
    messages: Sequence[Any], answered: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The assistant's side of a run as AG-UI messages, from the chat concern's records: each
    content message with its text and tool calls, then a ``tool`` message for each call with a
    result (or with an answer in ``answered``, by call id). Reasoning and HTML are left out."""
    answered = answered or {}
    out: list[dict[str, Any]] = []
    for message in messages:
        if getattr(message, "kind", None) != "content":
            continue
        entry: dict[str, Any] = {"id": _message_id(message), "role": "assistant"}
        text = getattr(message, "text", "")
        if text:
            entry["content"] = text
        calls = [call for call in getattr(message, "tools", ()) if call.id is not None]
        if calls:
            entry["toolCalls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {
                        "name": call.name or "tool",
                        "arguments": _as_text({} if call.args is None else call.args),
                    },
                }
                for call in calls
            ]
        if text or calls:
            out.append(entry)
        for call in calls:
            if call.id in answered:
                content = _as_text(answered[call.id])
            elif call.result is not None:
                content = _as_text(call.result)
            else:
                continue
            out.append(
                {
                    "id": f"{call.id}-result",
                    "role": "tool",
                    "toolCallId": call.id,
                    "content": content,
                }
            )
    return out


def _by_tool_message(answer: Answer) -> bool:
    """A client-side tool, or a pause signalled by a call left without its result, is answered
    with the call's result; an interrupt of an ``interrupt`` outcome with a resume entry."""
    return answer.kind == "frontend_tool" or (
        answer.kind == "pause" and "reason" not in answer.detail
    )


def resume_input(
    thread_id: str,
    before: Sequence[Mapping[str, Any]],
    reply: Reply,
    **options: Any,
) -> dict[str, Any]:
    """The run that continues a paused run on its thread: the messages the host sent first
    (``before``), the conversation so far (:func:`conversation`), and the answers: tool
    messages for client-side tools and paused calls, ``resume`` entries for interrupts.
    ``options`` are :func:`run_input`'s (run_id, fresh by default; state, tools, ...)."""
    by_call = {
        str(answer.detail.get("toolCallId", answer.interaction_id)): answer.payload
        for answer in reply.answers
        if _by_tool_message(answer)
    }
    resume = [
        resume_entry(a.interaction_id, a.payload, status=a.status)
        for a in reply.answers
        if not _by_tool_message(a)
    ]
    messages = [*before, *conversation(reply.messages, by_call)]
    run_id = options.pop("run_id", None) or f"run-{uuid.uuid4().hex[:12]}"
    return run_input(thread_id, run_id, messages, resume=resume or None, **options)


AGUI: Protocol[AguiState] = Protocol(
    name="agui",
    initial=AguiState(),
    reduce=reduce_agui,
    counters=lambda state: state.counters.as_json(),
    rejected=lambda state: _bump(state, frames=1, rejected=1),
    talks_back=True,
)
"""AG-UI 1.0 (``agui.md``): pydantic-ai, LangGraph, Agno, CrewAI, Mastra, ..."""
