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
* **Messages named by id** (:class:`~flowrx.messages.ChatPart`, AG-UI): keyed by the protocol's
  message id; made on the first text or tool call (a message with neither is never shown);
  text appends, ``close`` closes, tool calls are attached, given arguments and results or marked
  failed by call id, and ``final`` replaces a different streamed text (``final_text_differs``).
  A run end whose outcome the protocol states leaves such messages as they are (one still open
  shows ``closed: false``).
* :class:`~flowrx.messages.Evict` drops the run's chat.

Every message change emits ``Change("chat", "message", run_id, node_id, MessageSummary)`` so
live views redraw; eviction emits ``Change("chat", "cleared", run_id)``.

**Representation.** Chat is the busiest concern (nearly every Agno frame is a chunk), so the
reducer is shaped for the common case, a chunk appended in order to its speaker's open message,
while the state stays persistent: nothing reachable from an earlier state is ever changed (a
caller may hold on to any old state), and a new state shares all it can with the old one.

* A message's chunks are kept in blocks rather than in one tuple that every chunk would copy
  whole: full blocks of ``_BLOCK`` pieces ``(text, order)`` and a partial last block (fewer than
  ``_BLOCK`` pieces). An append copies the partial block, and once per ``_BLOCK`` chunks the
  short tuple of full blocks. :class:`Chunk` records are made only when
  :attr:`ChatMessage.chunks` is read. The layout depends only on the chunks, so messages with
  equal chunks are still equal, and the nesting stays two deep (no recursion in ``==``,
  ``repr`` or pickling, however long the message).
* A reordered chunk is placed by walking back from the newest piece: the places of the pieces
  that have one increase along the message, so the walk stops at the first older piece and
  meets any duplicate on the way. Only the block it lands in and the ones after it are rebuilt,
  and the streamed text is split at the insertion point rather than joined again.
* ``streamed`` stays a plain string, extended per chunk: every ``Change`` carries the message's
  text anyway, and an append is one copy of the string, not one object per chunk.
* :class:`ChatMessage`, :class:`ChatRun` and :class:`ChatState` are frozen attrs classes, like
  every reducer's records; a changed copy is made by :func:`~flowrx._records.evolve`.
* The speaker's name (a graph lookup) is worked out only when a message is opened. The usual
  chunk takes a short way (:func:`_append`) that builds the new message, run and state and the
  one ``Change`` directly; anything else (a chunk of no open message, a reordered chunk, a
  chunk of content and reasoning) takes the general way. An event that changes nothing, not
  even where its sender streams from, returns the state it was given.

Two members streaming in parallel (``a``/``b`` = chunks, ``C`` = their content completed)::

    member 1   a-a---a--C
    member 2   -b--b-b----C
    messages   [member 1: "aaa", closed] [member 2: "bbb", closed]
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator, Mapping, Sequence
from itertools import chain, starmap
from typing import Any, Final, NamedTuple

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import Change, Concern, Effect, Input
from flowrx.graph import FlowGraph
from flowrx.html import sanitise_html
from flowrx.messages import AgnoEvent, ChatHTML, ChatPart, Evict, ExecutionEvent, Message

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
_BLOCK: Final = 32
"""Pieces per full block of a message's chunks (see the module docstring)."""
_LEADER: Final = ("leader",)
_AGENT: Final = ("agent",)

Order = tuple[int, int]
"""``(phase, sequence_id)``: the phase counts the run's resumes (sequence ids restart)."""
Key = tuple[str | None, Hashable, str]
"""A message key within a run: ``(node_id, speaker identity, kind)``."""
Piece = tuple[str, Order | None]
"""A stored chunk: its text and its place (what :class:`Chunk` holds, without the record)."""
Block = tuple[Piece, ...]


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


_NO_CALL: Final = ToolCall(None, None)
"""What a tool call is before its first event: the fields an event leaves out keep these."""


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

    The chunks are stored as ``_full`` (blocks of exactly ``_BLOCK`` pieces) and ``_tail`` (the
    last, partial block, fewer than ``_BLOCK`` pieces), so that an append does not copy every
    chunk before it; :attr:`chunks` reads them as :class:`Chunk` records, in order.
    """

    index: int
    node_id: str | None
    speaker: str
    who: Hashable
    name: str
    kind: str
    _full: tuple[Block, ...] = attrs.field(default=(), alias="_full")
    _tail: Block = attrs.field(default=(), alias="_tail")
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

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """The streamed chunks in order (made on each read: the message stores plain pieces)."""
        return tuple(starmap(Chunk, chain(chain.from_iterable(self._full), self._tail)))

    def has(self, order: Order) -> bool:
        """Whether a chunk with this place is already in the message."""
        return _place(self, order) is None

    def summary(self) -> MessageSummary:
        """The small value a :class:`Change` carries."""
        final = self.final
        text = self.streamed if final is None else final
        return MessageSummary(
            self.index, self.speaker, self.name, self.kind, self.closed, text, len(self.tools)
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


class _Speaker(NamedTuple):
    """Who sent an event: role for the view, identity for the key, resolved node; the event
    and graph name it (:func:`_name`) when a message is opened."""

    role: str
    who: Hashable
    node_id: str | None
    msg: AgnoEvent
    graph: FlowGraph | None


Step = tuple[ChatState, tuple[Effect, ...]]


# --- speakers and nodes ---------------------------------------------------------------------


def _named(value: str | None) -> str | None:
    """A name or text worth showing: not missing and not blank."""
    return value if value is not None and value.strip() else None


def _speaker(run: ChatRun, msg: AgnoEvent) -> tuple[ChatRun, str | None, Hashable, str]:
    """Resolve the event's node (recording where its sender streams from) and who sent it:
    the run, the node, the sender's identity in message keys and its role."""
    member = msg.is_member_agent or msg.agent_role == "member"
    index = msg.member_index
    # the names under which the sender may have streamed from a node before
    ids: list[Hashable] = []
    if member and index is not None:
        ids.append(("member", msg.parent_team_id, index))
    if msg.team_id:
        ids.append(("team", msg.team_id))
    if msg.agent_id:
        ids.append(("agent", msg.agent_id))
    node_id = msg.node_id
    nodes = run.nodes
    if node_id is None:
        for i in ids:
            node_id = nodes.get(i)
            if node_id is not None:
                break
    else:
        for i in ids:
            if nodes.get(i) != node_id:
                updated = dict(nodes)
                for j in ids:  # known ones keep their place and value
                    updated[j] = node_id
                run = evolve(run, nodes=updated)
                break
    if member:
        who = ids[0] if index is not None else ("member", msg.parent_team_id, msg.agent_id)
        role = "member"
    elif msg.agent_role == "leader" or msg.event.startswith("Team"):
        role, who = "leader", _LEADER
    else:
        role, who = "agent", _AGENT
    return run, node_id, who, role


def _name(speaker: _Speaker) -> str:
    """What a new message of the speaker is called: the graph's name for a member, the event's
    ``agent_name``/``team_name`` (else the graph's) for the agent and the leader."""
    graph = speaker.graph or FlowGraph.empty()
    msg = speaker.msg
    if speaker.role == "member":
        return graph.display_name(speaker.node_id, msg.member_index)
    given = msg.team_name if speaker.role == "leader" else msg.agent_name
    return _named(given) or graph.display_name(speaker.node_id)


# --- chunk blocks ---------------------------------------------------------------------------


def _backwards(message: ChatMessage) -> Iterator[Piece]:
    """The message's pieces, newest first."""
    yield from reversed(message._tail)
    for block in reversed(message._full):
        yield from reversed(block)


def _place(message: ChatMessage, order: Order) -> tuple[int, int] | None:
    """Where a chunk of this place goes, counted from the end: how many pieces follow it and
    how long their text is; ``None`` when the message has a chunk of this place already.

    The places of the pieces that have one increase along the message (an append is newer than
    ``last``, an insert goes before the first newer piece), so the walk back stops at the first
    older piece: nothing before it can be a duplicate or come after the new chunk.
    """
    cut = after = seen = seen_text = 0
    for text, at in _backwards(message):
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


def _blocks(done: tuple[Block, ...], pieces: list[Piece]) -> tuple[tuple[Block, ...], Block]:
    """Full blocks ``done`` followed by ``pieces`` cut into blocks, and the partial tail."""
    whole = len(pieces) - len(pieces) % _BLOCK
    cut = (tuple(pieces[i : i + _BLOCK]) for i in range(0, whole, _BLOCK))
    return (*done, *cut), tuple(pieces[whole:])


# --- messages -------------------------------------------------------------------------------


def _put(run: ChatRun, message: ChatMessage) -> ChatRun:
    """The run with the message (new or changed) under its index."""
    return evolve(run, messages=assoc(run.messages, message.index, message))


def _opened(run: ChatRun, message: ChatMessage) -> ChatRun:
    """The run with ``message`` (made at ``run.next_index``) as its key's open and latest one."""
    index = message.index
    key = message.key
    return ChatRun(
        assoc(run.messages, index, message),
        assoc(run.open, key, index),
        assoc(run.latest, key, index),
        run.nodes,
        run.phase,
        index + 1,
    )


def _new(run: ChatRun, speaker: _Speaker, kind: str) -> tuple[ChatRun, ChatMessage]:
    """Open a new message of the speaker's kind; it becomes the key's open and latest one."""
    index = run.next_index
    message = ChatMessage(index, speaker.node_id, speaker.role, speaker.who, _name(speaker), kind)
    return _opened(run, message), message


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


def _appended(message: ChatMessage, text: str, order: Order | None) -> ChatMessage:
    """The message with the chunk appended, for a chunk that comes after every chunk with a
    place (the caller checked)."""
    changes: dict[str, Any] = {"streamed": message.streamed + text}
    tail = message._tail
    if len(tail) < _BLOCK - 1:
        changes["_tail"] = (*tail, (text, order))
    else:
        changes["_full"] = (*message._full, (*tail, (text, order)))
        changes["_tail"] = ()
    if order is not None:
        changes["last"] = order
    return evolve(message, **changes)


def _add_chunk(message: ChatMessage, text: str, order: Order | None) -> ChatMessage | None:
    """The message with the chunk in its place, or ``None`` when the chunk is a duplicate."""
    last = message.last
    if order is None or last is None or order > last:
        return _appended(message, text, order)
    place = _place(message, order)
    if place is None:
        return None
    behind, after = place
    full, tail = message._full, message._tail
    at = len(full) * _BLOCK + len(tail) - behind  # the new chunk's position
    first = at // _BLOCK  # the block it lands in: the ones before it stay as they are
    pieces = [*chain.from_iterable(full[first:]), *tail]
    pieces.insert(at - first * _BLOCK, (text, order))
    full, tail = _blocks(full[:first], pieces)
    streamed = message.streamed
    split = len(streamed) - after
    streamed = streamed[:split] + text + streamed[split:]
    return evolve(message, _full=full, _tail=tail, streamed=streamed)


def _chunk(
    run: ChatRun, speaker: _Speaker, kind: str, text: str, order: Order | None
) -> tuple[ChatRun, int | None]:
    """Add streamed text to the speaker's message of that kind; the changed index, if any."""
    index = run.open.get((speaker.node_id, speaker.who, kind))
    if index is None:
        target, message = _target(run, speaker, kind, order)
    else:
        target, message = run, run.messages[index]
    updated = _add_chunk(message, text, order)
    if updated is None:
        return run, None
    return _put(target, updated), updated.index


def _close(run: ChatRun, key: Key, order: Order | None) -> tuple[ChatRun, int | None]:
    """Close the key's open message; the closed index, if one was open."""
    index = run.open.get(key)
    if index is None:
        return run, None
    messages = dict(run.messages)
    messages[index] = evolve(messages[index], closed=True, closed_at=order)
    return evolve(run, messages=messages, open=dissoc(run.open, key)), index


def _text_of(content: Any) -> str | None:
    """Streamed content as text: strings as they are, structured output as JSON."""
    if content is None or isinstance(content, str):
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
    if message.final is None and (message._tail or message._full):
        state = evolve(state, final_text_differs=state.final_text_differs + 1)
    return state, _put(run, evolve(message, final=final)), [*changed, latest]


def _duration(tool: Mapping[str, Any]) -> float | None:
    metrics = tool.get("metrics")
    if not isinstance(metrics, (dict, Mapping)):  # dict first: no ABC check for the usual case
        return None
    value = metrics.get("duration")
    if isinstance(value, bool) or not isinstance(value, (float, int)):
        return None
    return float(value)


def _tool(run: ChatRun, speaker: _Speaker, msg: AgnoEvent, base: str) -> tuple[ChatRun, int | None]:
    """Attach or update a tool call on the speaker's content message."""
    tool = msg.tool if isinstance(msg.tool, (dict, Mapping)) else {}
    raw_id = tool.get("tool_call_id")
    call_id = raw_id if isinstance(raw_id, str) else None
    key = (speaker.node_id, speaker.who, "content")
    message: ChatMessage | None = None
    position: int | None = None
    if call_id is not None:
        for index in (run.open.get(key), run.latest.get(key)):
            if index is None:
                continue
            ids = [t.id for t in run.messages[index].tools]
            if call_id in ids:
                message = run.messages[index]
                position = ids.index(call_id)
                break
    if message is None:
        run, message = _current(run, speaker, "content")
        if call_id is not None:
            ids = [t.id for t in message.tools]
            position = ids.index(call_id) if call_id in ids else None
    old = message.tools[position] if position is not None else _NO_CALL
    name = tool.get("tool_name")
    args = tool.get("tool_args")
    result = tool.get("result")
    flagged = tool.get("tool_call_error")
    error = old.error if flagged is None else bool(flagged)
    if base == "ToolCallError":
        error = True
        if result is None:
            result = _named(msg.error)
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
        member = call.args.get("member_id") if isinstance(call.args, (dict, Mapping)) else None
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
    if isinstance(content, (dict, Mapping)):
        fields = {name: content.get(name) for name in _STEP_FIELDS}
        step = ReasoningStep(**fields, order=order)
    else:
        step = ReasoningStep(reasoning=content, order=order)
    run, message = _target(run, speaker, "reasoning", order)
    if order is not None and any(s.order == order for s in message.steps):
        return run, None
    message = evolve(message, steps=(*message.steps, step))
    return _put(run, message), message.index


def _agno(state: ChatState, msg: AgnoEvent, graph: FlowGraph | None) -> Step:
    """An Agno event: the usual chunk the short way (:func:`_append`), the rest by event."""
    run_id = msg.run_id
    held = state.runs.get(run_id)
    run, node_id, who, role = _speaker(held or ChatRun(), msg)
    event = msg.event
    base = event[4:] if event.startswith("Team") else event  # TeamRunContent → RunContent
    order = None if msg.sequence_id is None else (run.phase, msg.sequence_id)
    if base == "RunContent":  # most events: one chunk of content or of reasoning
        text = _text_of(msg.content)
        reasoning = msg.reasoning_content
        if not text or not reasoning:
            kind, text = ("content", text) if text else ("reasoning", reasoning)
            if not text:
                return _store(state, held, run_id, run, [])
            step = _append(state, run_id, run, (node_id, who, kind), text, order)
            if step is not None:
                return step
    speaker = _Speaker(role, who, node_id, msg, graph)
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
    return _store(state, held, run_id, run, changed)


def _store(
    state: ChatState, held: ChatRun | None, run_id: str, run: ChatRun, changed: list[int | None]
) -> Step:
    """The state with the run (unless it is still the one held) and the changes."""
    if run is held:
        return state, ()  # nothing new: not even where the sender streams from
    runs = dict(state.runs)
    runs[run_id] = run
    return ChatState(runs, state.final_text_differs), _changes(run_id, run, changed)


def _append(
    state: ChatState,
    run_id: str,
    run: ChatRun,
    key: Key,
    text: str,
    order: Order | None,
) -> Step | None:
    """The usual chunk, appended in order to its speaker's open message, in one go
    (:func:`_chunk`, the new state and :func:`_changes` for that case); ``None`` for any other
    case (no open message, a reordered chunk), which takes the general way."""
    messages = run.messages
    index = run.open.get(key)
    if index is None:
        return None
    message = messages[index]
    last = message.last
    if order is not None and last is not None and not order > last:
        return None
    updated = _appended(message, text, order)
    runs = assoc(state.runs, run_id, _put(run, updated))
    change = Change(NAME, "message", run_id, updated.node_id, updated.summary())
    return ChatState(runs, state.final_text_differs), (change,)


def _changes(run_id: str, run: ChatRun, indexes: Sequence[int | None]) -> tuple[Effect, ...]:
    """One ``Change`` per changed message (each once, in first-change order)."""
    if len(indexes) == 1:  # the usual case: one chunk, one message
        (index,) = indexes
        if index is None:
            return ()
        message = run.messages[index]
        return (Change(NAME, "message", run_id, message.node_id, message.summary()),)
    out: list[Effect] = []
    for index in dict.fromkeys(indexes):
        if index is not None:
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
    if msg.is_member_agent or msg.agent_role == "member":
        speaker, name = "member", graph.display_name(node_id, msg.member_index)
    elif msg.agent_role == "leader":
        speaker, name = "leader", _named(msg.team_name) or graph.display_name(node_id)
    else:
        speaker, name = "agent", _named(msg.agent_name) or graph.display_name(node_id)
    text = sanitise_html(msg.html)
    index = run.next_index
    message = ChatMessage(
        index=index,
        node_id=node_id,
        speaker=speaker,
        who=("html", index),
        name=name,
        kind="html",
        _tail=((text, order),),
        streamed=text,
        closed=True,
        last=order,
        raw_html=msg.html,
    )
    run = evolve(_put(run, message), next_index=index + 1)
    state = evolve(state, runs=assoc(state.runs, run_id, run))
    return state, _changes(run_id, run, [index])


def _part(state: ChatState, msg: ChatPart) -> Step:
    """A piece of a message its protocol names by id (AG-UI): the message is keyed by that id,
    made on its first text or tool call, closed by its own close only."""
    run_id = msg.run_id
    held = state.runs.get(run_id)
    run = held or ChatRun()
    key: Key = (msg.node_id, ("id", msg.message_id), msg.kind)
    index = run.latest.get(key)
    op = msg.op
    if index is None:
        if op == "close" or op == "final" or (op == "text" and not msg.text):
            return state, ()  # nothing to show: a message is made by its text or a tool call
        index = run.next_index
        name = msg.name if msg.name is not None else msg.speaker
        run = _opened(run, ChatMessage(index, msg.node_id, msg.speaker, key[1], name, msg.kind))
    message = run.messages[index]
    if op == "text":
        message = _appended(message, msg.text, None)
    elif op == "close":
        if message.closed:
            return state, ()
        run, _ = _close(run, key, None)
        return _store(state, held, run_id, run, [index])
    elif op == "final":
        if message.text == msg.text:
            return state, ()
        if message.final is None and message.streamed:
            state = evolve(state, final_text_differs=state.final_text_differs + 1)
        message = evolve(message, final=msg.text)
    else:
        message = _call_part(message, msg)
    return _store(state, held, run_id, _put(run, message), [index])


def _call_part(message: ChatMessage, msg: ChatPart) -> ChatMessage:
    """A tool call's piece (``tool``, ``args``, ``result``, ``error``) on its message."""
    ids = [t.id for t in message.tools]
    position = ids.index(msg.call_id) if msg.call_id in ids else None
    old = message.tools[position] if position is not None else ToolCall(msg.call_id, None)
    op = msg.op
    if op == "tool":
        call = evolve(old, name=msg.tool_name if msg.tool_name is not None else old.name)
    elif op == "args":
        call = evolve(old, args=msg.value)
    elif op == "result":
        call = evolve(old, result=msg.value)
    else:  # "error": cut off or failed
        result = old.result if msg.value is None else msg.value
        call = evolve(old, error=True, result=result)
    if position is None:
        return evolve(message, tools=(*message.tools, call))
    tools = (*message.tools[:position], call, *message.tools[position + 1 :])
    return evolve(message, tools=tools)


def _execution(state: ChatState, msg: ExecutionEvent) -> Step:
    run_id = msg.run_id
    run = state.runs.get(run_id)
    if run is None:
        return state, ()
    if msg.event == "resume_start":
        run = evolve(run, phase=run.phase + 1)
        return evolve(state, runs=assoc(state.runs, run_id, run)), ()
    if msg.event not in _RUN_CLOSES or not run.open or msg.outcome is not None:
        return state, ()  # a protocol that states its ends closes its messages itself
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
        return _agno(state, msg, graph)
    if isinstance(msg, ChatHTML):
        return _html(state, msg, graph or FlowGraph.empty())
    if isinstance(msg, ChatPart):
        return _part(state, msg)
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
    return isinstance(msg, AgnoEvent | ChatHTML | ChatPart | Evict)


def chat_concern(graph: FlowGraph | None = None) -> Concern[ChatState]:
    """The chat concern's card for the pipeline."""
    flow = graph or FlowGraph.empty()
    return Concern(
        name=NAME,
        initial=ChatState(),
        reduce=lambda s, m, now: (
            _agno(s, m, flow) if isinstance(m, AgnoEvent) else reduce_chat(s, m, now, flow)
        ),
        accepts=_accepts,
        section=chat_section,
        counters=lambda s: {"final_text_differs": s.final_text_differs},
    )
