"""Chat concern: streamed agent and team output assembled into messages (behaviour §5).

Rules, as a pure reducer over frozen state (no Rx here; the pipeline feeds it):

* **Messages** are keyed by ``(run_id, node_id, speaker, kind)``. The speaker is a team member
  (``is_member_agent``: keyed on ``parent_team_id`` and ``member_index``), the team leader
  (``agent_role == "leader"`` or a ``Team…`` event) or the single agent; the kind is
  ``content``, ``reasoning`` or ``html``. A chunk appends to the *open* message of its key, so
  parallel members and interleaved kinds never split each other's messages. Messages are
  listed in the order their first chunk (or tool call) arrived.
* **Null node ids**: the relay sends ``RunContentCompleted``, ``RunPaused`` and the team
  tool-call events without ``node_id``. They belong to the node that the same agent
  (``agent_id``), team (``team_id``) or member (``parent_team_id``, ``member_index``) of the same
  run streamed from before; the concern keeps that map per run.
* **Order and duplicates**: within a message, chunks are ordered by ``sequence_id`` when they
  have one, else by arrival. A chunk whose ``sequence_id`` is already in the message is a
  duplicate and dropped. A chunk *without* ``sequence_id`` that arrives twice is kept twice: it
  cannot be told from a legitimate repeat of the same text (an agent may well stream ``"ha"``
  twice), so dropping it could lose text; intake keeps such chunks for the same reason.
  ``sequence_id`` restarts after a resume, so ``resume_start`` begins a new *phase*: ordering
  and duplicate checks use ``(phase, sequence_id)``, and a restarted id never collides with a
  chunk from before the pause.
* **Reasoning**: a non-empty ``RunContent.reasoning_content`` (a reasoning model's thinking),
  ``ReasoningContentDelta.reasoning_content`` and the ``ReasoningContent`` /
  ``RunReasoningContent`` / ``TeamRunReasoningContent`` events (text in ``content``) feed the
  speaker's ``reasoning`` message. ``ReasoningStep`` objects (``{title, action, result,
  reasoning, next_action, confidence}``) are kept as structured :class:`ReasoningStep` records
  on that message; they add no text. An empty ``reasoning_content`` (Agno sends ``""`` on every
  chunk of a plain model) adds nothing.
* **Closing**: the speaker's ``RunContentCompleted``, ``RunCompleted``, ``RunError`` or
  ``RunCancelled`` (``Team…`` for the leader) closes its open content and reasoning messages;
  ``ReasoningCompleted`` closes its reasoning message; ``run_end``/``resume_end`` close every
  message of the run. A chunk after a close opens a new message, except a late chunk whose
  ``sequence_id`` is older than the closing event's: delivery reordered it, and it is put into
  the message it belongs to.
* **Final content**: when ``RunCompleted.content`` (a non-empty string) differs from the text
  streamed into the speaker's latest content message, the final content wins and the message
  is counted once in ``final_text_differs`` (a message that streamed no text, only tool calls,
  takes the final content without being counted). Without any content message, a closed one is
  made from the final content. Non-string final content (structured output) is left alone.
* **Tool calls**: ``ToolCallStarted``/``Completed``/``Error`` attach a :class:`ToolCall` (id,
  name, args, result, error, duration) to the speaker's open content message, matched by
  ``tool_call_id``; with no open message one is opened, so that text streamed after the tool
  call lands in the same message as the call. A leader's ``TeamToolCallCompleted`` of
  ``delegate_task_to_member`` also records a :class:`Delegation` with its ``child_run_id``.
* **Names**: a member is called by its graph node (``name`` variable, else handle, else
  ``Member <member_index+1>``); the agent and the leader by the event's ``agent_name`` /
  ``team_name``, else by their graph node.
* **Other Agno events** (``RunStarted``, ``RunIntermediateContent``, ``RunPaused``, hooks,
  memory, model requests, ...) add nothing to a message; they only teach the concern which node
  their sender streams from. Pauses belong to the interaction concern.
* **HTML**: a ``ChatHTML`` frame becomes a closed ``html`` item whose text is the sanitised HTML
  (:func:`flowrx.html.sanitise_html`); the raw HTML stays in :attr:`ChatMessage.raw_html` for
  the host and never reaches the snapshot.
* :class:`~flowrx.messages.Evict` drops the run's chat.

Every message change emits ``Change("chat", "message", run_id, node_id, MessageSummary)`` so
live views redraw; eviction emits ``Change("chat", "cleared", run_id)``.

Two members streaming in parallel (``a``/``b`` = chunks, ``C`` = their content completed)::

    member 1   a-a---a--C
    member 2   -b--b-b----C
    messages   [member 1: "aaa", closed] [member 2: "bbb", closed]
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Final

import attrs

from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html
from flowrx.messages import AgnoEvent, ChatHTML, Evict, ExecutionEvent, Message
from flowrx.operators._maps import assoc, dissoc, evolve
from flowrx.operators.effects import Change, Concern, Effect, Input

__all__ = [
    "ChatMessage",
    "ChatRun",
    "ChatState",
    "Chunk",
    "Delegation",
    "MessageSummary",
    "ReasoningStep",
    "ToolCall",
    "chat_concern",
    "chat_section",
    "reduce_chat",
]

NAME: Final = "chat"
_RUN_CLOSES: Final = frozenset({"run_end", "resume_end"})
_EXECUTION: Final = frozenset({*_RUN_CLOSES, "resume_start"})
_SPEAKER_CLOSES: Final = frozenset({"RunContentCompleted", "RunError", "RunCancelled"})
_REASONING_TEXT: Final = frozenset({"ReasoningContent", "RunReasoningContent"})
_TOOL_EVENTS: Final = frozenset({"ToolCallStarted", "ToolCallCompleted", "ToolCallError"})
_DELEGATE: Final = "delegate_task_to_member"
_STEP_FIELDS: Final = ("title", "action", "result", "reasoning", "next_action", "confidence")
_PREVIEW: Final = 40

Order = tuple[int, int]
"""``(phase, sequence_id)``: the phase counts the run's resumes (sequence ids restart)."""
Key = tuple[str | None, Hashable, str]
"""A message key within a run: ``(node_id, speaker identity, kind)``."""


@attrs.frozen
class Chunk:
    """One streamed piece of text and its place (``None`` when it came without sequence id)."""

    text: str
    order: Order | None = None


@attrs.frozen
class ToolCall:
    """A tool call attached to a message; updated in place as its events arrive."""

    id: str | None
    name: str | None
    args: Any = None
    result: Any = None
    error: bool = False
    duration: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The snapshot's tool entry: name, args, result, error."""
        args = dict(self.args) if isinstance(self.args, Mapping) else self.args
        return {
            "name": self.name,
            "args": {} if args is None else args,
            "result": self.result,
            "error": self.error,
        }


@attrs.frozen
class Delegation:
    """A team leader handing a task to a member (``delegate_task_to_member``)."""

    tool_call_id: str | None
    child_run_id: str | None
    member: Any = None
    """The member the leader named (``tool_args.member_id``), as sent."""
    args: Any = None


@attrs.frozen
class ReasoningStep:
    """One structured reasoning step of Agno's reasoning agent."""

    title: Any = None
    action: Any = None
    result: Any = None
    reasoning: Any = None
    next_action: Any = None
    confidence: Any = None
    order: Order | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class ChatMessage:
    """One chat message: a speaker's streamed content or reasoning at a node, or an HTML item.

    ``text`` is the final content when ``RunCompleted`` replaced the streamed text, else the
    streamed chunks joined in order. ``closed_at`` is the order of the closing event, if it had
    a sequence id (a late, reordered chunk older than it still belongs here).
    """

    index: int
    node_id: str | None
    speaker: str
    who: Hashable
    name: str
    kind: str
    chunks: tuple[Chunk, ...] = ()
    streamed: str = ""
    final: str | None = None
    closed: bool = False
    closed_at: Order | None = None
    last: Order | None = None
    tools: tuple[ToolCall, ...] = ()
    delegations: tuple[Delegation, ...] = ()
    steps: tuple[ReasoningStep, ...] = ()
    raw_html: str | None = attrs.field(default=None, repr=False)

    @property
    def key(self) -> Key:
        """The message's key within its run."""
        return (self.node_id, self.who, self.kind)

    @property
    def text(self) -> str:
        """What a view shows: the final content if one replaced the stream, else the stream."""
        return self.final if self.final is not None else self.streamed

    def has(self, order: Order) -> bool:
        """Whether a chunk with this place is already in the message."""
        return any(chunk.order == order for chunk in self.chunks)

    def summary(self) -> MessageSummary:
        """The small value a :class:`Change` carries."""
        return MessageSummary(
            self.index, self.speaker, self.name, self.kind, self.closed, self.text, len(self.tools)
        )

    def as_json(self) -> dict[str, Any]:
        """The snapshot's entry for this message (exactly the keys of ``snapshot/1``)."""
        return {
            "node_id": self.node_id,
            "speaker": self.speaker,
            "name": self.name,
            "kind": self.kind,
            "text": self.text,
            "closed": self.closed,
            "tools": [tool.as_json() for tool in self.tools],
        }


@attrs.frozen
class MessageSummary:
    """What changed about a message, for live views and the log."""

    index: int
    speaker: str
    name: str
    kind: str
    closed: bool
    text: str
    tools: int = 0

    def describe(self) -> str:
        """One short log fragment."""
        preview = self.text if len(self.text) <= _PREVIEW else self.text[:_PREVIEW] + "..."
        state = "closed" if self.closed else "open"
        return (
            f"#{self.index} {self.speaker} {self.name!r} {self.kind} {state} "
            f"{preview!r} tools={self.tools}"
        )


@attrs.frozen
class ChatRun:
    """One run's chat: messages by index (first-chunk order), open and latest message per key,
    the node each speaker streamed from, and the resume phase."""

    messages: Mapping[int, ChatMessage] = attrs.field(factory=dict)
    open: Mapping[Key, int] = attrs.field(factory=dict)
    latest: Mapping[Key, int] = attrs.field(factory=dict)
    nodes: Mapping[Hashable, str] = attrs.field(factory=dict)
    phase: int = 0
    next_index: int = 0


@attrs.frozen
class ChatState:
    """Chat of every run held, and how many final contents replaced a different stream."""

    runs: Mapping[str, ChatRun] = attrs.field(factory=dict)
    final_text_differs: int = 0


@attrs.frozen
class _Speaker:
    """Who sent an event: role for the view, identity for the key, resolved node, name."""

    role: str
    who: Hashable
    node_id: str | None
    name: str


Step = tuple[ChatState, tuple[Effect, ...]]


# --- speakers and nodes ---------------------------------------------------------------------


def _base(event: str) -> str:
    """The agent event name of a team event (``TeamRunContent`` → ``RunContent``)."""
    return event[4:] if event.startswith("Team") else event


def _is_member(msg: AgnoEvent) -> bool:
    return msg.is_member_agent or msg.agent_role == "member"


def _is_leader(msg: AgnoEvent) -> bool:
    return not _is_member(msg) and (msg.agent_role == "leader" or msg.event.startswith("Team"))


def _identities(msg: AgnoEvent) -> tuple[Hashable, ...]:
    """The names under which this event's sender may have streamed from a node before."""
    ids: list[Hashable] = []
    if _is_member(msg) and msg.member_index is not None:
        ids.append(("member", msg.parent_team_id, msg.member_index))
    if msg.team_id:
        ids.append(("team", msg.team_id))
    if msg.agent_id:
        ids.append(("agent", msg.agent_id))
    return tuple(ids)


def _raw_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _speaker(run: ChatRun, msg: AgnoEvent, graph: FlowGraph) -> tuple[ChatRun, _Speaker]:
    """Resolve the event's node (recording where its sender streams from) and its speaker."""
    ids = _identities(msg)
    node_id = msg.node_id
    if node_id is None:
        node_id = next((run.nodes[i] for i in ids if i in run.nodes), None)
    else:
        fresh = [i for i in ids if run.nodes.get(i) != node_id]
        if fresh:
            nodes = dict(run.nodes)
            nodes.update((i, node_id) for i in fresh)
            run = evolve(run, nodes=nodes)
    if _is_member(msg):
        index = msg.member_index
        who: Hashable = ("member", msg.parent_team_id, index if index is not None else msg.agent_id)
        return run, _Speaker("member", who, node_id, graph.display_name(node_id, index))
    if _is_leader(msg):
        name = _raw_str(msg.raw, "team_name") or graph.display_name(node_id)
        return run, _Speaker("leader", ("leader",), node_id, name)
    name = _raw_str(msg.raw, "agent_name") or graph.display_name(node_id)
    return run, _Speaker("agent", ("agent",), node_id, name)


# --- messages -------------------------------------------------------------------------------


def _put(run: ChatRun, message: ChatMessage) -> ChatRun:
    return evolve(run, messages=assoc(run.messages, message.index, message))


def _new(run: ChatRun, speaker: _Speaker, kind: str) -> tuple[ChatRun, ChatMessage]:
    """Open a new message of the speaker's kind; it becomes the key's open and latest one."""
    index = run.next_index
    message = ChatMessage(
        index=index,
        node_id=speaker.node_id,
        speaker=speaker.role,
        who=speaker.who,
        name=speaker.name,
        kind=kind,
    )
    key = message.key
    run = evolve(
        run,
        messages=assoc(run.messages, index, message),
        open=assoc(run.open, key, index),
        latest=assoc(run.latest, key, index),
        next_index=index + 1,
    )
    return run, message


def _current(run: ChatRun, speaker: _Speaker, kind: str) -> tuple[ChatRun, ChatMessage]:
    """The speaker's open message of that kind, opened if there is none."""
    index = run.open.get((speaker.node_id, speaker.who, kind))
    if index is not None:
        return run, run.messages[index]
    return _new(run, speaker, kind)


def _target(
    run: ChatRun, speaker: _Speaker, kind: str, order: Order | None
) -> tuple[ChatRun, ChatMessage]:
    """Where a chunk goes: the open message, or a closed one it belongs to, or a new one."""
    key = (speaker.node_id, speaker.who, kind)
    index = run.open.get(key)
    if index is not None:
        return run, run.messages[index]
    if order is not None and key in run.latest:
        # rare: a reordered or repeated chunk of a message that has since closed
        for message in run.messages.values():
            if message.key != key:
                continue
            if (message.closed_at is not None and order < message.closed_at) or message.has(order):
                return run, message
    return _new(run, speaker, kind)


def _add_chunk(message: ChatMessage, text: str, order: Order | None) -> ChatMessage | None:
    """The message with the chunk in its place, or ``None`` when the chunk is a duplicate."""
    if order is None or message.last is None or order > message.last:
        return evolve(
            message,
            chunks=(*message.chunks, Chunk(text, order)),
            streamed=message.streamed + text,
            last=order if order is not None else message.last,
        )
    if message.has(order):
        return None
    chunks = message.chunks
    at = next(
        (i for i, c in enumerate(chunks) if c.order is not None and c.order > order), len(chunks)
    )
    chunks = (*chunks[:at], Chunk(text, order), *chunks[at:])
    return evolve(message, chunks=chunks, streamed="".join(c.text for c in chunks))


def _chunk(
    run: ChatRun, speaker: _Speaker, kind: str, text: str, order: Order | None
) -> tuple[ChatRun, int | None]:
    """Add streamed text to the speaker's message of that kind; the changed index, if any."""
    before = run
    run, message = _target(run, speaker, kind, order)
    updated = _add_chunk(message, text, order)
    if updated is None:
        return before, None
    return _put(run, updated), updated.index


def _close(run: ChatRun, key: Key, order: Order | None) -> tuple[ChatRun, int | None]:
    """Close the key's open message; the closed index, if one was open."""
    index = run.open.get(key)
    if index is None:
        return run, None
    message = evolve(run.messages[index], closed=True, closed_at=order)
    run = evolve(run, open=dissoc(run.open, key))
    return _put(run, message), index


def _text_of(content: Any) -> str | None:
    """Streamed content as text: strings as they are, structured output as JSON."""
    if content is None:
        return None
    if isinstance(content, str):
        return content
    return json.dumps(content, ensure_ascii=False, sort_keys=True, default=str)


# --- event handlers -------------------------------------------------------------------------


def _completed(
    state: ChatState, run: ChatRun, speaker: _Speaker, msg: AgnoEvent, order: Order | None
) -> tuple[ChatState, ChatRun, list[int]]:
    """``RunCompleted``: close the speaker's messages; the final content wins over the stream."""
    changed: list[int] = []
    for kind in ("content", "reasoning"):
        run, index = _close(run, (speaker.node_id, speaker.who, kind), order)
        if index is not None:
            changed.append(index)
    final = msg.content
    if not isinstance(final, str) or not final:
        return state, run, changed
    latest = run.latest.get((speaker.node_id, speaker.who, "content"))
    if latest is None:
        run, message = _new(run, speaker, "content")
        message = evolve(message, final=final, closed=True, closed_at=order)
        run = evolve(run, open=dissoc(run.open, message.key))
        return state, _put(run, message), [*changed, message.index]
    message = run.messages[latest]
    if message.text == final:
        return state, run, changed
    if message.final is None and message.chunks:
        state = evolve(state, final_text_differs=state.final_text_differs + 1)
    return state, _put(run, evolve(message, final=final)), [*changed, latest]


def _duration(tool: Mapping[str, Any]) -> float | None:
    metrics = tool.get("metrics")
    if not isinstance(metrics, Mapping):
        return None
    value = metrics.get("duration")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _tool(run: ChatRun, speaker: _Speaker, msg: AgnoEvent, base: str) -> tuple[ChatRun, int | None]:
    """Attach or update a tool call on the speaker's content message."""
    tool = msg.tool if isinstance(msg.tool, Mapping) else {}
    raw_id = tool.get("tool_call_id")
    call_id = raw_id if isinstance(raw_id, str) else None
    key = (speaker.node_id, speaker.who, "content")
    message: ChatMessage | None = None
    if call_id is not None:
        for index in (run.open.get(key), run.latest.get(key)):
            if index is not None and any(t.id == call_id for t in run.messages[index].tools):
                message = run.messages[index]
                break
    if message is None:
        run, message = _current(run, speaker, "content")
    position = next(
        (i for i, t in enumerate(message.tools) if call_id is not None and t.id == call_id), None
    )
    old = message.tools[position] if position is not None else ToolCall(call_id, None)
    name = tool.get("tool_name")
    args = tool.get("tool_args")
    result = tool.get("result")
    flagged = tool.get("tool_call_error")
    error = old.error if flagged is None else bool(flagged)
    if base == "ToolCallError":
        error = True
        if result is None:
            result = _raw_str(msg.raw, "error")
    duration = _duration(tool)
    call = ToolCall(
        id=call_id,
        name=name if isinstance(name, str) else old.name,
        args=args if args is not None else old.args,
        result=result if result is not None else old.result,
        error=error,
        duration=duration if duration is not None else old.duration,
    )
    tools = (
        (*message.tools, call)
        if position is None
        else (*message.tools[:position], call, *message.tools[position + 1 :])
    )
    message = evolve(message, tools=tools)
    if msg.event == "TeamToolCallCompleted" and call.name == _DELEGATE:
        child = tool.get("child_run_id")
        member = call.args.get("member_id") if isinstance(call.args, Mapping) else None
        delegation = Delegation(call_id, child if isinstance(child, str) else None, member, args)
        kept = tuple(d for d in message.delegations if call_id is None or d.tool_call_id != call_id)
        message = evolve(message, delegations=(*kept, delegation))
    return _put(run, message), message.index


def _step(
    run: ChatRun, speaker: _Speaker, content: Any, order: Order | None
) -> tuple[ChatRun, int | None]:
    """Keep a structured reasoning step on the speaker's reasoning message."""
    if content is None:
        return run, None
    if isinstance(content, Mapping):
        fields = {name: content.get(name) for name in _STEP_FIELDS}
        step = ReasoningStep(**fields, order=order)
    else:
        step = ReasoningStep(reasoning=content, order=order)
    run, message = _target(run, speaker, "reasoning", order)
    if order is not None and any(s.order == order for s in message.steps):
        return run, None
    message = evolve(message, steps=(*message.steps, step))
    return _put(run, message), message.index


def _agno(state: ChatState, msg: AgnoEvent, graph: FlowGraph) -> Step:
    run_id = msg.run_id
    run, speaker = _speaker(state.runs.get(run_id) or ChatRun(), msg, graph)
    base = _base(msg.event)
    order = None if msg.sequence_id is None else (run.phase, msg.sequence_id)
    changed: list[int | None] = []
    if base == "RunContent":
        text = _text_of(msg.content)
        if text:
            run, index = _chunk(run, speaker, "content", text, order)
            changed.append(index)
        if msg.reasoning_content:
            run, index = _chunk(run, speaker, "reasoning", msg.reasoning_content, order)
            changed.append(index)
    elif base in _REASONING_TEXT:
        text = _text_of(msg.content)
        if text:
            run, index = _chunk(run, speaker, "reasoning", text, order)
            changed.append(index)
    elif base == "ReasoningContentDelta":
        if msg.reasoning_content:
            run, index = _chunk(run, speaker, "reasoning", msg.reasoning_content, order)
            changed.append(index)
    elif base == "ReasoningStep":
        run, index = _step(run, speaker, msg.content, order)
        changed.append(index)
    elif base == "ReasoningCompleted":
        run, index = _close(run, (speaker.node_id, speaker.who, "reasoning"), order)
        changed.append(index)
    elif base in _TOOL_EVENTS:
        run, index = _tool(run, speaker, msg, base)
        changed.append(index)
    elif base in _SPEAKER_CLOSES:
        for kind in ("content", "reasoning"):
            run, index = _close(run, (speaker.node_id, speaker.who, kind), order)
            changed.append(index)
    elif base == "RunCompleted":
        state, run, closed = _completed(state, run, speaker, msg, order)
        changed.extend(closed)
    state = evolve(state, runs=assoc(state.runs, run_id, run))
    return state, _changes(run_id, run, changed)


def _changes(run_id: str, run: ChatRun, indexes: Iterable[int | None]) -> tuple[Effect, ...]:
    """One ``Change`` per changed message (each once, in first-change order)."""
    out: list[Effect] = []
    for index in dict.fromkeys(i for i in indexes if i is not None):
        message = run.messages[index]
        out.append(Change(NAME, "message", run_id, message.node_id, message.summary()))
    return tuple(out)


def _html(state: ChatState, msg: ChatHTML, graph: FlowGraph) -> Step:
    """A ``ChatHTML`` frame: a closed, sanitised HTML item (raw kept)."""
    run_id = msg.run_id
    run = state.runs.get(run_id) or ChatRun()
    order = None if msg.sequence_id is None else (run.phase, msg.sequence_id)
    node_id = msg.node_id
    if order is not None and any(
        m.kind == "html" and m.node_id == node_id and m.last == order for m in run.messages.values()
    ):
        return state, ()  # the same item again
    raw = msg.raw
    member_index = raw.get("member_index")
    index_value = member_index if isinstance(member_index, int) else None
    if raw.get("is_member_agent") is True or raw.get("agent_role") == "member":
        speaker, name = "member", graph.display_name(node_id, index_value)
    elif raw.get("agent_role") == "leader":
        speaker, name = "leader", _raw_str(raw, "team_name") or graph.display_name(node_id)
    else:
        speaker, name = "agent", _raw_str(raw, "agent_name") or graph.display_name(node_id)
    text = sanitise_html(msg.html)
    index = run.next_index
    message = ChatMessage(
        index=index,
        node_id=node_id,
        speaker=speaker,
        who=("html", index),
        name=name,
        kind="html",
        chunks=(Chunk(text, order),),
        streamed=text,
        closed=True,
        last=order,
        raw_html=msg.html,
    )
    run = evolve(_put(run, message), next_index=index + 1)
    state = evolve(state, runs=assoc(state.runs, run_id, run))
    return state, _changes(run_id, run, (index,))


def _execution(state: ChatState, msg: ExecutionEvent) -> Step:
    run_id = msg.run_id
    run = state.runs.get(run_id)
    if run is None:
        return state, ()
    if msg.event == "resume_start":
        run = evolve(run, phase=run.phase + 1)
        return evolve(state, runs=assoc(state.runs, run_id, run)), ()
    if msg.event not in _RUN_CLOSES or not run.open:
        return state, ()
    indexes = list(run.open.values())
    messages = dict(run.messages)
    for index in indexes:
        messages[index] = evolve(messages[index], closed=True)
    run = evolve(run, messages=messages, open={})
    return evolve(state, runs=assoc(state.runs, run_id, run)), _changes(run_id, run, indexes)


def reduce_chat(state: ChatState, msg: Input, now: float, graph: FlowGraph | None = None) -> Step:
    """Apply one message to the chat state; return the new state and its changes.

    ``now`` is unused (chat has no timers) but kept for the reducer signature. ``graph`` names
    members and nodes; without one, members are ``Member <n>``.
    """
    if isinstance(msg, AgnoEvent):
        return _agno(state, msg, graph or FlowGraph.empty())
    if isinstance(msg, ChatHTML):
        return _html(state, msg, graph or FlowGraph.empty())
    if isinstance(msg, ExecutionEvent):
        return _execution(state, msg)
    if isinstance(msg, Evict):
        if msg.run_id not in state.runs:
            return state, ()
        state = evolve(state, runs=dissoc(state.runs, msg.run_id))
        return state, (Change(NAME, "cleared", msg.run_id),)
    return state, ()


def chat_section(state: ChatState) -> dict[str, list[dict[str, Any]]]:
    """The snapshot's ``chat`` section: per run, its messages in order of their first chunk."""
    return {
        run_id: [message.as_json() for message in run.messages.values()]
        for run_id, run in state.runs.items()
        if run.messages
    }


def _accepts(msg: Message) -> bool:
    if isinstance(msg, ExecutionEvent):
        return msg.event in _EXECUTION
    return isinstance(msg, AgnoEvent | ChatHTML | Evict)


def chat_concern(graph: FlowGraph | None = None) -> Concern[ChatState]:
    """The chat concern's card for the pipeline."""
    flow = graph or FlowGraph.empty()
    return Concern(
        name=NAME,
        initial=ChatState(),
        reduce=lambda s, m, now: reduce_chat(s, m, now, flow),
        accepts=_accepts,
        section=chat_section,
        counters=lambda s: {"final_text_differs": s.final_text_differs},
    )
