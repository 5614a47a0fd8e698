"""Typed messages for every frame family of the execution-event stream.

The platform's WebSocket carries three frame families with no common tag (execution frames of
the node runner, Agno chat events relayed by agent and team nodes, and platform frames such as
``ChatHTML``, ``AgentPaused`` and ``interaction_event``), plus the text heartbeat ``pong``.
:func:`parse` turns one frame into exactly one of:

* a typed message (:class:`ExecutionEvent`, :class:`AgnoEvent`, :class:`ChatHTML`,
  :class:`AgentPaused`, :class:`InteractionEvent`, or :class:`Unknown` for a well-formed frame
  whose event name nobody handles);
* a :class:`Heartbeat`;
* a :class:`Rejected` with a one-line reason.

It never raises: bad input is data (a frame nested deeper than :data:`MAX_DEPTH` levels is rejected,
so nothing downstream can meet Python's recursion limit). Nothing of the frame is lost: every
message keeps the decoded mapping in ``raw``. The host talks to the pipeline through *control
messages* (:class:`Background`, :class:`Foreground`, :class:`ResolveInteraction`, :class:`ClearRun`)
that travel through the same stream, and intake announces a run's departure with :class:`Evict`.

Ids are data, never code: an id with quotes, backslashes or markup is stored as is.

Frames are decoded by :func:`loads`: orjson (three times faster than the standard library on
these frames, and decoding was the largest single cost per frame), with the standard library's
reading wherever the two could differ, so the result is always exactly ``json.loads``'s.

The messages are frozen attrs classes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson

__all__ = [
    "AGNO_EVENTS",
    "EXECUTION_EVENTS",
    "KNOWN_STATUSES",
    "MAX_DEPTH",
    "AgentPaused",
    "AgnoEvent",
    "Answer",
    "Background",
    "ChatHTML",
    "ChatPart",
    "ClearRun",
    "Control",
    "EndOfStream",
    "Evict",
    "ExecutionEvent",
    "Foreground",
    "Heartbeat",
    "InteractionEvent",
    "Message",
    "NodeAnnounced",
    "Parsed",
    "Pending",
    "Rejected",
    "Reply",
    "ResolveInteraction",
    "StateDelta",
    "StateSnapshot",
    "Unknown",
    "loads",
    "parse",
]

#: Events of the node runner (execution frames).
EXECUTION_EVENTS: Final = frozenset(
    {
        "run_start",
        "run_end",
        "resume_start",
        "resume_end",
        "start_node",
        "end_node",
        "start_tool",
        "end_tool",
        "start_tool_or_member",
        "end_tool_or_member",
    }
)
_RUN_EVENTS: Final = frozenset({"run_start", "run_end", "resume_start", "resume_end"})

_AGNO_BASE: Final = [
    "RunStarted",
    "RunContent",
    "RunContentCompleted",
    "RunIntermediateContent",
    "RunCompleted",
    "RunError",
    "RunCancelled",
    "RunPaused",
    "RunContinued",
    "ToolCallStarted",
    "ToolCallCompleted",
    "ToolCallError",
    "ReasoningStarted",
    "ReasoningStep",
    "ReasoningContentDelta",
    "ReasoningCompleted",
    "MemoryUpdateStarted",
    "MemoryUpdateCompleted",
    "PreHookStarted",
    "PreHookCompleted",
    "PostHookStarted",
    "PostHookCompleted",
    "SessionSummaryStarted",
    "SessionSummaryCompleted",
    "ModelRequestStarted",
    "ModelRequestCompleted",
    "ParserModelResponseStarted",
    "ParserModelResponseCompleted",
    "OutputModelResponseStarted",
    "OutputModelResponseCompleted",
    "CustomEvent",
]

#: Agno run events (agent names and their ``Team`` variants), plus the reasoning-content names
#: the platform's front-end listens for although Agno never emits them.
AGNO_EVENTS: Final = frozenset(
    [
        *_AGNO_BASE,
        *("Team" + name for name in _AGNO_BASE),
        "ReasoningContent",
        "RunReasoningContent",
        "TeamRunReasoningContent",
    ]
)

#: The end_node statuses the platform sends; others that are well formed are shown and counted.
KNOWN_STATUSES: Final = frozenset({"success", "error", "killed", "provided"})
_STATUS_RE: Final = re.compile(r"[a-z_-]{1,32}")


@attrs.frozen
class Heartbeat:
    """The platform's text heartbeat (``pong``): accounted for, never a message."""

    text: str


@attrs.frozen
class Rejected:
    """A frame that cannot be used, with a one-line reason; counted, never raised."""

    reason: str
    frame: object = attrs.field(repr=False, eq=False)


@attrs.frozen
class ExecutionEvent:
    """A node-runner frame: run, resume, node and tool starts and ends.

    ``order`` is the server's execution order (``None`` when an older backend omits it);
    ``status`` is ``None`` only where the frame omitted it on a start.
    """

    event: str
    run_id: str
    node_id: str | None
    order: int | None
    status: str | None
    flow_id: str | None = None
    outcome: str | None = None
    """On a run or resume end: the run's outcome as its protocol states it (``success``,
    ``error``, ``killed`` or ``paused``: the run waits for a person and its stream is over).
    ``None`` (the platform, which never sends one): derived from the run's nodes."""
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)
    inferred: str | None = None
    """On an ``end_node``: why flowrx ended the node itself, when its protocol said nothing of
    its end (Agno's silent failures); ``None`` for an end the stream sent."""
    notes: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    """On a node's start or end: what its protocol says of this execution beyond the status
    (Agno's ``step_index``, a loop's ``iteration``, a condition's ``branch``, a router's
    ``selected_steps``), kept on the node's badge record; empty for the platform."""

    @property
    def is_run_event(self) -> bool:
        """True for run/resume starts and ends (they carry no node)."""
        return self.event in _RUN_EVENTS


@attrs.frozen
class AgnoEvent:
    """An Agno agent or team run event relayed by an agent or team node.

    ``run_id`` is the flow's run id (the relay overwrites Agno's own). ``node_id`` is ``None``
    on the frames the relay sends without one (``RunContentCompleted``, ``RunPaused``, team
    tool-call events); the chat concern resolves those from earlier frames of the same speaker.
    """

    event: str
    run_id: str
    node_id: str | None = None
    sequence_id: int | None = None
    microtime: float | None = None
    agent_id: str | None = None
    team_id: str | None = None
    agent_role: str | None = None
    is_member_agent: bool = False
    parent_team_id: str | None = None
    member_index: int | None = None
    content: Any = None
    reasoning_content: str | None = None
    tool: Mapping[str, Any] | None = None
    agent_name: str | None = None
    """The agent's display name, when the frame gives one as a string."""
    team_name: str | None = None
    """The team's display name, when the frame gives one as a string."""
    error: str | None = None
    """A failed tool call's error text (``ToolCallError``), when given as a string."""
    tools: tuple[Mapping[str, Any], ...] = ()
    """The tool entries a pause waits on (``RunPaused``): the objects of its ``tools`` list."""
    flow_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class ChatHTML:
    """An HTML chat item produced by a flow. ``html`` is untrusted and must be sanitised."""

    run_id: str
    node_id: str | None
    html: str
    sequence_id: int | None = None
    microtime: float | None = None
    agent_role: str | None = None
    is_member_agent: bool = False
    member_index: int | None = None
    agent_name: str | None = None
    team_name: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    event: str = "ChatHTML"


@attrs.frozen
class AgentPaused:
    """The platform's pause frame: a run waits for a human (confirmation, input, ...)."""

    run_id: str
    node_id: str | None
    pause_type: str
    pause_message: str | None = None
    pause_data: Mapping[str, Any] = attrs.field(factory=dict)
    flow_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    event: str = "AgentPaused"


@attrs.frozen
class InteractionEvent:
    """An ``interaction_event`` frame (recognised by ``type``; it has no ``event`` key)."""

    run_id: str
    node_id: str | None
    flow_id: str | None
    interaction_type: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    event: str = "interaction_event"


@attrs.frozen
class Unknown:
    """A well-formed frame with an event name nobody handles: kept, counted, logged once."""

    event: str
    run_id: str | None
    node_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


# --- the protocol-neutral vocabulary: what any agent protocol says, in flowrx's terms ---------


@attrs.frozen
class ChatPart:
    """A piece of one chat message that its protocol names by id (AG-UI's ``messageId``).

    ``op`` says what the piece does to message ``message_id`` of run ``run_id``:

    * ``text``: append ``text`` (the message is made on its first text or tool call, so one
      that never gets either is never shown);
    * ``close``: the message is complete;
    * ``tool``: a tool call ``call_id`` named ``tool_name`` is attached to the message;
    * ``args``: the call's whole arguments are ``value`` (decoded JSON, or the text as sent);
    * ``result``: the call's result is ``value``;
    * ``error``: the call failed (``value``: what was said about it, if anything);
    * ``final``: ``text`` is the producer's final text of the message: it replaces a
      different streamed text (counted in ``final_text_differs``).

    ``kind`` is ``content`` or ``reasoning``; ``speaker`` ``agent``, ``leader`` (a team's
    leader) or ``member``; ``name`` the speaker's display name when the protocol gives one.
    """

    run_id: str
    message_id: str
    op: str
    node_id: str | None = None
    kind: str = "content"
    speaker: str = "agent"
    name: str | None = None
    text: str = ""
    call_id: str | None = None
    tool_name: str | None = None
    value: Any = None
    event: str = "chat_part"


@attrs.frozen
class Pending:
    """An interaction a run now waits for, as its protocol names it: ``kind`` (``pause``,
    ``frontend_tool``, ``other``, ...) and the details a person needs to answer it."""

    run_id: str
    interaction_id: str
    kind: str
    node_id: str | None = None
    detail: Mapping[str, Any] = attrs.field(factory=dict)
    event: str = "pending"


@attrs.frozen
class NodeAnnounced:
    """A node of a run's flow as its protocol names it while the run goes (Agno: a workflow
    step or container), for a pipeline that has no graph of the flow: its enclosing group node
    (``None`` at the top level; a node some other node names as its group is a group), and its
    handle and type. Sent once per node and run, before the node's first ``start_node``
    (and again if the protocol learns more of it later: Agno's step that turns out to run a
    nested workflow becomes a ``Workflow``); the group concern learns the membership from it
    and the store the handle and type (also for the node's records so far), wherever the flow
    graph given to the pipeline does not know the node."""

    run_id: str
    node_id: str
    group: str | None = None
    handle: str | None = None
    type: str | None = None
    category: str | None = None
    event: str = "node_announced"


@attrs.frozen
class StateSnapshot:
    """The run's whole shared agent state now (AG-UI ``STATE_SNAPSHOT``): it replaces what
    was there."""

    run_id: str
    snapshot: Any
    event: str = "state_snapshot"


@attrs.frozen
class StateDelta:
    """RFC 6902 operations on the run's shared agent state (AG-UI ``STATE_DELTA``)."""

    run_id: str
    delta: Any
    event: str = "state_delta"


@attrs.frozen
class EndOfStream:
    """A source: the response carrying the stream is over (an HTTP body ended, a socket
    closed). A protocol whose runs must end in the stream ends the one left open as error."""

    reason: str = "the stream ended"
    run_id: str | None = None
    event: str = "end_of_stream"


@attrs.frozen
class Answer:
    """The host's answer to one pending interaction (``FlowState.resolve``): ``payload`` as the
    person gave it, ``status`` ``resolved`` or ``cancelled``; ``kind`` and ``detail`` are the
    item's, so a protocol can tell how to send it back."""

    interaction_id: str
    kind: str
    detail: Mapping[str, Any]
    payload: Any = None
    status: str = "resolved"


@attrs.frozen
class Reply:
    """Every pending interaction of a paused run answered: what a protocol that talks back
    sends to continue the run. ``messages`` is the run's chat so far (the chat concern's
    message records, in order), from which the conversation is rebuilt."""

    run_id: str
    answers: tuple[Answer, ...]
    messages: tuple[Any, ...] = ()


# --- control messages: the host talks to the pipeline through the stream ---------------------


@attrs.frozen
class Background:
    """Host: send a run to the background (stores update, glow does not)."""

    run_id: str
    event: str = "background"


@attrs.frozen
class Foreground:
    """Host: bring a run back; its glow is restored from the tracked state."""

    run_id: str
    event: str = "foreground"


@attrs.frozen
class ResolveInteraction:
    """Host: resolve a pending interaction by its id."""

    interaction_id: str
    run_id: str | None = None
    event: str = "resolve"


@attrs.frozen
class ClearRun:
    """Host: drop a run from every concern now (as eviction does)."""

    run_id: str
    event: str = "clear"


@attrs.frozen
class Evict:
    """A run leaves every concern: evicted beyond the run limit, or cleared by the host.

    Emitted by intake, never parsed from a frame. Every concern drops the run's state and
    cancels its timers when it sees this.
    """

    run_id: str
    reason: str = "evicted"
    event: str = "evict"


Control = Background | Foreground | ResolveInteraction | ClearRun
Message = (
    ExecutionEvent
    | ChatPart
    | Pending
    | NodeAnnounced
    | StateSnapshot
    | StateDelta
    | EndOfStream
    | AgnoEvent
    | ChatHTML
    | AgentPaused
    | InteractionEvent
    | Unknown
    | Background
    | Foreground
    | ResolveInteraction
    | ClearRun
    | Evict
)
Parsed = ExecutionEvent | AgnoEvent | ChatHTML | AgentPaused | InteractionEvent | Unknown


class _Bad(Exception):
    """A field is missing or has the wrong type (internal to parse)."""


def _str(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise _Bad(f"{key} missing")
        return None
    if not isinstance(value, str):
        raise _Bad(f"{key} is {type(value).__name__}, not a string")
    if required and not value:
        raise _Bad(f"{key} is empty")
    return value


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Bad(f"{key} is {type(value).__name__}, not an integer")
    return value


def _float(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key} is {type(value).__name__}, not a number")
    return float(value)


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Bad(f"{key} is {type(value).__name__}, not an object")
    return value


def _text(data: Mapping[str, Any], key: str) -> str | None:
    """A descriptive field that never rejects its frame: the value when it is a string."""
    value = data.get(key)
    return value if isinstance(value, str) else None


def _objects(value: object) -> tuple[Mapping[str, Any], ...]:
    """The objects of a list field (anything else in it, or a field that is no list: none)."""
    if not isinstance(value, list | tuple):
        return ()
    return tuple(entry for entry in value if isinstance(entry, Mapping))


_STATUS_OK: Final = frozenset({*KNOWN_STATUSES, "running", "pending"})
"""Statuses the fast paths take without the pattern check (all match ``_STATUS_RE``)."""


def _execution(event: str, data: Mapping[str, Any]) -> ExecutionEvent:
    """An execution frame. The fast path takes only what the checked path would accept
    unchanged (exact ``str``/``int`` types, a common status); anything else is checked."""
    get = data.get
    run_id = get("run_id")
    node_id = get("node_id")
    order = get("order")
    status = get("status")
    flow_id = get("flow_id")
    if (
        type(run_id) is str
        and run_id
        and ((type(node_id) is str and node_id) or (event in _RUN_EVENTS and node_id is None))
        and (order is None or type(order) is int)
        and (
            (type(status) is str and status in _STATUS_OK)
            or (status is None and event != "end_node")
        )
        and (flow_id is None or type(flow_id) is str)
    ):
        run_event = event in _RUN_EVENTS
        return ExecutionEvent(
            event=event,
            run_id=run_id,
            node_id=None if run_event else node_id,
            order=None if run_event else order,
            status=status,
            flow_id=flow_id,
            raw=data,
        )
    return _execution_checked(event, data)


def _execution_checked(event: str, data: Mapping[str, Any]) -> ExecutionEvent:
    run_id = _str(data, "run_id", required=True)
    assert run_id is not None
    node_id = _str(data, "node_id", required=event not in _RUN_EVENTS)
    order = _int(data, "order")
    status = _str(data, "status")
    if status is not None and not _STATUS_RE.fullmatch(status):
        raise _Bad(f"bad status {status[:40]!r}")
    if event == "end_node" and status is None:
        raise _Bad("end_node without status")
    return ExecutionEvent(
        event=event,
        run_id=run_id,
        node_id=None if event in _RUN_EVENTS else node_id,
        order=None if event in _RUN_EVENTS else order,
        status=status,
        flow_id=_str(data, "flow_id"),
        raw=data,
    )


def _agno(event: str, data: Mapping[str, Any]) -> AgnoEvent:
    """An Agno event. The fast path takes only what the checked path would accept unchanged
    (exact ``str``/``int``/``float``/``dict`` types); anything else is checked."""
    get = data.get
    run_id = get("run_id")
    node_id = get("node_id")
    sequence_id = get("sequence_id")
    microtime = get("microtime")
    agent_id = get("agent_id")
    team_id = get("team_id")
    agent_role = get("agent_role")
    parent_team_id = get("parent_team_id")
    member_index = get("member_index")
    reasoning = get("reasoning_content")
    tool = get("tool")
    if (
        type(run_id) is str
        and run_id
        and (node_id is None or type(node_id) is str)
        and (sequence_id is None or type(sequence_id) is int)
        and (microtime is None or type(microtime) is float)
        and (agent_id is None or type(agent_id) is str)
        and (team_id is None or type(team_id) is str)
        and (agent_role is None or type(agent_role) is str)
        and (parent_team_id is None or type(parent_team_id) is str)
        and (member_index is None or type(member_index) is int)
        and (reasoning is None or type(reasoning) is str)
        and (tool is None or type(tool) is dict)
    ):
        return AgnoEvent(
            event=event,
            run_id=run_id,
            node_id=node_id,
            sequence_id=sequence_id,
            microtime=microtime,
            agent_id=agent_id,
            team_id=team_id,
            agent_role=agent_role,
            is_member_agent=get("is_member_agent") is True,
            parent_team_id=parent_team_id,
            member_index=member_index,
            content=get("content"),
            reasoning_content=reasoning,
            tool=tool,
            agent_name=_text(data, "agent_name"),
            team_name=_text(data, "team_name"),
            error=_text(data, "error"),
            tools=_objects(get("tools")),
            flow_id=_text(data, "flow_id"),
            raw=data,
        )
    return _agno_checked(event, data)


def _agno_checked(event: str, data: Mapping[str, Any]) -> AgnoEvent:
    run_id = _str(data, "run_id", required=True)
    assert run_id is not None
    reasoning = data.get("reasoning_content")
    if reasoning is not None and not isinstance(reasoning, str):
        raise _Bad(f"reasoning_content is {type(reasoning).__name__}, not a string")
    member = data.get("is_member_agent")
    return AgnoEvent(
        event=event,
        run_id=run_id,
        node_id=_str(data, "node_id"),
        sequence_id=_int(data, "sequence_id"),
        microtime=_float(data, "microtime"),
        agent_id=_str(data, "agent_id"),
        team_id=_str(data, "team_id"),
        agent_role=_str(data, "agent_role"),
        is_member_agent=member is True,
        parent_team_id=_str(data, "parent_team_id"),
        member_index=_int(data, "member_index"),
        content=data.get("content"),
        reasoning_content=reasoning,
        tool=_mapping(data, "tool"),
        agent_name=_text(data, "agent_name"),
        team_name=_text(data, "team_name"),
        error=_text(data, "error"),
        tools=_objects(data.get("tools")),
        flow_id=_text(data, "flow_id"),
        raw=data,
    )


def _chat_html(data: Mapping[str, Any]) -> ChatHTML:
    run_id = _str(data, "run_id", required=True)
    html = data.get("html_content")
    if not isinstance(html, str):
        raise _Bad("html_content missing or not a string")
    assert run_id is not None
    return ChatHTML(
        run_id=run_id,
        node_id=_str(data, "node_id"),
        html=html,
        sequence_id=_int(data, "sequence_id"),
        microtime=_float(data, "microtime"),
        agent_role=_text(data, "agent_role"),
        is_member_agent=data.get("is_member_agent") is True,
        member_index=index if isinstance(index := data.get("member_index"), int) else None,
        agent_name=_text(data, "agent_name"),
        team_name=_text(data, "team_name"),
        raw=data,
    )


def _agent_paused(data: Mapping[str, Any]) -> AgentPaused:
    run_id = _str(data, "run_id", required=True)
    assert run_id is not None
    return AgentPaused(
        run_id=run_id,
        node_id=_str(data, "node_id"),
        pause_type=_str(data, "pause_type") or "unknown",
        pause_message=_str(data, "pause_message"),
        pause_data=_mapping(data, "pause_data") or {},
        flow_id=_text(data, "flow_id"),
        raw=data,
    )


def _interaction(data: Mapping[str, Any]) -> InteractionEvent:
    run_id = _str(data, "run_id", required=True)
    kind = _str(data, "interaction_type", required=True)
    assert run_id is not None
    assert kind is not None
    return InteractionEvent(
        run_id=run_id,
        node_id=_str(data, "node_id"),
        flow_id=_str(data, "flow_id"),
        interaction_type=kind,
        data=_mapping(data, "data") or {},
        raw=data,
    )


def _from_mapping(data: Mapping[str, Any]) -> Parsed | Rejected:
    event = data.get("event")
    try:
        if event is None:
            kind = data.get("type")
            if kind == "interaction_event":
                return _interaction(data)
            if kind is None:
                return Rejected("no event or type", data)
            if not isinstance(kind, str):
                return Rejected(f"type is {type(kind).__name__}, not a string", data)
            if not kind:
                return Rejected("type is empty", data)
            # a platform frame of a type nobody handles: well formed, so unknown (kept)
            return Unknown(
                event=kind, run_id=_str(data, "run_id"), node_id=_str(data, "node_id"), raw=data
            )
        if not isinstance(event, str):
            return Rejected(f"event is {type(event).__name__}, not a string", data)
        if not event:
            return Rejected("event is empty", data)
        if event in EXECUTION_EVENTS:
            return _execution(event, data)
        if event in AGNO_EVENTS:
            return _agno(event, data)
        if event == "ChatHTML":
            return _chat_html(data)
        if event == "AgentPaused":
            return _agent_paused(data)
        return Unknown(
            event=event, run_id=_str(data, "run_id"), node_id=_str(data, "node_id"), raw=data
        )
    except _Bad as bad:
        return Rejected(f"{data.get('type') if event is None else event}: {bad}", data)


_WIDE: Final = 2.0**63
"""orjson reads an integer beyond 64 bits as a float; a float this large may be one."""
MAX_DEPTH: Final = 256
"""Frames nested deeper than this (arrays and objects) are rejected by :func:`parse`: no real
frame comes near it, and everything downstream (reducers, snapshots, views) stays far from
Python's recursion limit."""
_UNLIMITED: Final = 1 << 30


class _TooDeep(ValueError):
    """A decoded value nests deeper than it may (raised by :func:`loads` with ``max_depth``)."""


def _widened(value: Any, room: int) -> bool:
    """Whether a decoded value holds a float at least ``_WIDE`` in size, at any depth; raises
    :class:`_TooDeep` where containers nest more than ``room`` levels."""
    kind = type(value)
    if kind is dict:
        items = value.values()
    elif kind is list:
        items = value
    else:
        return kind is float and not -_WIDE < value < _WIDE
    if room <= 0:
        raise _TooDeep
    room -= 1
    for item in items:
        kind = type(item)
        if kind is float:
            if not -_WIDE < item < _WIDE:
                return True
        elif (kind is dict or kind is list) and _widened(item, room):
            return True
    return False


def _too_deep(value: Any, room: int) -> bool:
    """Whether containers in ``value`` nest more than ``room`` levels (without recursion)."""
    stack = [(value, room)]
    while stack:
        item, left = stack.pop()
        kind = type(item)
        if kind is dict:
            items = item.values()
        elif kind is list:
            items = item
        else:
            continue
        if left <= 0:
            return True
        stack.extend((child, left - 1) for child in items if type(child) in (dict, list))
    return False


_LONG_INT: Final = 4096
"""Integers of more bits than this are checked for being writable as text at all."""


class _NotJSON(ValueError):
    """A host's decoded frame that no JSON text decodes to (internal to parse)."""


def _height(value: Any, room: int, path: set[int], heights: dict[int, int]) -> int:
    """How deep containers nest in a host's decoded ``value`` (1 for a flat list or mapping);
    raises :class:`_TooDeep` beyond ``room`` levels and :class:`_NotJSON` for a cycle, a key
    that is not a string or an integer too long to write. Recursion is bounded by ``room``;
    shared parts are measured once."""
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise _NotJSON(f"a key is {type(key).__name__}, not a string")
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        if isinstance(value, int) and value.bit_length() > _LONG_INT:
            try:
                str(value)
            except ValueError:  # more digits than JSON text (and Python's str) may hold
                raise _NotJSON("an integer has too many digits") from None
        return 0
    ident = id(value)
    known = heights.get(ident)
    if known is not None:
        if known > room:
            raise _TooDeep
        return known
    if ident in path:
        raise _NotJSON("it holds itself (a cycle)")
    if room <= 0:
        raise _TooDeep
    path.add(ident)
    height = 0
    for item in items:
        below = _height(item, room - 1, path, heights)
        if below > height:
            height = below
    path.discard(ident)
    heights[ident] = height + 1
    return height + 1


def loads(text: str | bytes, max_depth: int | None = None) -> Any:
    """Decode JSON exactly as :func:`json.loads` does, faster.

    orjson decodes; the standard library decodes again when orjson refuses the text (``NaN``,
    ``Infinity``, a lone surrogate, nesting deeper than 1024: the standard library's answer,
    value or error, is the one given) or when a float of 2**63 or more came out (orjson reads a
    wider integer as a float, which would change an ``order`` or a tool argument's type).

    With ``max_depth``, a value whose arrays and objects nest deeper than that raises
    ``ValueError`` (:func:`parse` reads frames with :data:`MAX_DEPTH`).
    """
    room = _UNLIMITED if max_depth is None else max_depth
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = json.loads(text)
        if max_depth is not None and _too_deep(data, room):
            raise _TooDeep(f"nested deeper than {max_depth} levels") from None
        return data
    try:
        widened = _widened(data, room)
    except _TooDeep:
        raise _TooDeep(f"nested deeper than {max_depth} levels") from None
    if widened:
        return json.loads(text)  # nested as orjson read it: already checked
    return data


def parse(frame: object) -> Parsed | Heartbeat | Rejected:
    """Turn one frame (text, bytes or an already decoded mapping) into a message.

    Never raises: anything unusable comes back as :class:`Rejected` with a reason. A frame
    nested deeper than :data:`MAX_DEPTH` is rejected, and so is a decoded mapping that no JSON
    text could have given (a key that is not a string, a mapping or list holding itself, an
    integer with more digits than Python writes).

    >>> parse('pong')
    Heartbeat(text='pong')
    >>> parse('[1]').reason
    'not an object: list'
    """
    if type(frame) is not str and isinstance(frame, bytes | bytearray | memoryview):
        try:
            frame = bytes(frame).decode("utf-8")
        except UnicodeDecodeError:
            return Rejected("binary frame is not UTF-8", frame)
    if isinstance(frame, str):
        if frame.strip() == "pong":
            return Heartbeat(frame)
        try:
            data = loads(frame, MAX_DEPTH)
        except RecursionError:  # the standard library's reading of nesting beyond orjson's
            return Rejected(f"nested deeper than {MAX_DEPTH} levels", frame)
        except _TooDeep as exc:
            return Rejected(str(exc), frame)
        except ValueError as exc:
            return Rejected(f"not JSON: {str(exc)[:80]}", frame)
    else:
        data = frame
        if type(data) is dict or isinstance(data, Mapping):  # decoded by the host: JSON-shaped?
            try:
                _height(data, MAX_DEPTH, set(), {})
            except (_TooDeep, RecursionError):
                return Rejected(f"nested deeper than {MAX_DEPTH} levels", frame)
            except _NotJSON as exc:
                return Rejected(f"not JSON data: {exc}", frame)
    if type(data) is not dict and not isinstance(data, Mapping):  # dict: no ABC check
        return Rejected(f"not an object: {type(data).__name__}", frame)
    return _from_mapping(data)
