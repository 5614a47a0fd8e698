"""Agno: workflows, agents and teams straight from Agno and AgentOS, as flowrx's messages.

Agno (``agno.md``) streams its own events: a workflow's runs, steps and containers (loops,
parallel branches, conditions, routers, step groups, nested workflows), the agents and teams
its steps run, and human-in-the-loop pauses; in process (each event's ``to_dict()``) and from
AgentOS over SSE and a WebSocket. This module reads them into flowrx's protocol-neutral
messages, so that every concern works on Agno as it does on the platform's stream:

* **One run per root workflow run**: ``WorkflowStarted`` at ``nested_depth`` 0 is
  ``run_start``; agent and team events belong to their ``workflow_run_id``, a nested workflow's
  own events to the run whose step hosts it (its start and end make no run). A bare agent or
  team stream is a run of its own (its ``run_id``; members join their team's run by
  ``parent_run_id``) with one node, the agent or team. The first of ``WorkflowCompleted``,
  ``WorkflowError``, ``WorkflowCancelled`` (``RunCompleted``/``RunError``/``RunCancelled`` of
  a bare run) ends it with the outcome of its nodes (``error`` > ``killed`` > ``success``;
  ``WorkflowError`` is ``error``, ``WorkflowCancelled`` ``killed``); a second terminal is a
  duplicate.
* **Node ids** are ``<root workflow_id>:<step-name path>`` (``/`` between names, ``%`` and
  ``/`` in a name escaped as ``%25`` and ``%2F``), found by following ``parent_step_id``
  through the run's map of step instances (``step_id -> node id``, filled at every
  ``…Started``). ``step_id`` is only the join key inside a run (AgentOS mints new ones per run,
  containers per execution): the ids are stable across runs, copies and loop iterations, and
  equal to those :func:`workflow_flow` derives from the workflow's definition.
* **Nodes**: ``StepStarted`` and every container's ``…ExecutionStarted`` start a node (a new
  badge each time, ``order`` counting the run's starts in arrival order across legs); their
  ``…Completed`` end it (``error`` when ``step_response.success`` is false); ``StepError`` ends
  it ``error`` at once. The first start of a node in a run is preceded by
  :class:`~flowrx.messages.NodeAnnounced` (its group: the enclosing container's node, its handle
  and type), from which the group and store concerns learn the flow when no graph is given.
  Agno sends nothing for a step that raises, so ends are **inferred** (``error``): when the
  enclosing container completes (or a loop's iteration), when a later sibling starts under
  anything but a ``Parallel``, and at the run's terminal (``killed`` for a cancel); such an
  ``end_node`` says why in ``inferred`` (the step's error from its container's
  ``step_results`` where they name it), which the store keeps on the badge. Starts and ends
  carry ``notes`` for the badge: ``step_index`` (a position in the definition, not an
  order), the ``iteration`` of the loop the step runs in, a condition's ``condition_result``
  and ``branch``, a router's ``selected_steps``.
* **Pauses**: ``StepPaused`` (``confirmation``/``user_input``), ``StepExecutorPaused`` and an
  agent's or team's ``RunPaused`` (``confirmation``/``user_input``/``external_tool`` from the
  tools waiting, its ``requirements`` kept for the continue; a team member's ``RunPaused``
  makes no pause of its own: the team's ``TeamRunPaused`` follows), ``RouterPaused``
  (``route_selection``), ``StepOutputReview`` (``output_review``), ``WorkflowPaused``
  (``error_decision`` after a ``StepError``; otherwise it adds its ``step_requirements``,
  verbatim, for the host to continue with): the leg ends ``paused`` with one
  :class:`~flowrx.messages.Pending` item on the paused step's node; later pause events of the
  leg update that item. A source's :class:`~flowrx.messages.EndOfStream` with a run still
  open pauses it the same way (the in-process iterator just stops at a pause). Any other
  event of a paused run (``StepContinued``, ``StepExecutorContinued``, ``RunContinued``, a
  router's start, ...) begins its next leg: ``resume_start`` of the same run, which resolves
  the item. Open steps survive the pause.
* **Tools**: ``ToolCall*`` and ``TeamToolCall*`` glow on the step's node (``start_tool``, a
  team's ``delegate_task_to_member`` ``start_tool_or_member``), keyed by ``tool_call_id``.
* **Chat**: :class:`~flowrx.messages.ChatPart` pieces, each speaker's messages keyed by its
  own ``run_id``: ``RunContent``/``TeamRunContent`` text and reasoning, closes, a
  ``RunCompleted``'s final text, tool calls with arguments, results and errors. Speakers: the
  team's leader, its members (``parent_run_id``), or a single agent, by name.
* **Dedupe**: on AgentOS's resumable paths ``(run, event_index)`` is a frame's identity (a
  reconnect to a finished run replays everything); elsewhere only a second terminal and a
  second start of an open step instance are duplicates.
* AgentOS's transport frames (``connected``, ``authenticated``, ``pong``, ``replay``,
  ``subscribed``, ...) are counted as heartbeats and routed nowhere; ``WorkflowRunOutput`` (the
  SSE pause trailer) is a snapshot, counted and not routed. An event name Agno does not define
  is counted in ``unknown`` (noticed once per name). ``violations`` counts what should not
  happen (an end of a step never started, a parent step never seen).

Every frame counts once: ``frames == messages + heartbeats + rejected + duplicates``. Frames are
decoded mappings, JSON text, SSE-formatted text (``event: X\\ndata: {...}``) or objects with
``to_dict()``. The decoding state (the runs, their instance maps, open steps and calls, the
dedupe memory) is the protocol's scan accumulator, frozen like every other state. Marble::

    frames   W-S-C-S--P|           W WorkflowStarted, S StepStarted, C StepCompleted,
    messages r-as-e-as-Q|          P StepPaused: r run_start, a node_announced, s start_node,
                                   e end_node, Q pending + run_end (paused)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.config import Config
from flowrx.graph import FlowGraph, graph_from_mapping
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
    NodeAnnounced,
    Pending,
    ResolveInteraction,
    Unknown,
    loads,
)
from flowrx.protocols.card import Counters, Notice, Protocol

__all__ = [
    "AGNO",
    "CONTROL_EVENTS",
    "EXECUTOR_EVENTS",
    "PAUSE_EVENTS",
    "WORKFLOW_EVENTS",
    "AgnoState",
    "continue_requirements",
    "continue_run_requirements",
    "escape_name",
    "frame_data",
    "is_agno_frame",
    "node_id_of",
    "reduce_agno",
    "transcript_frames",
    "workflow_flow",
    "workflow_graph",
]

_CONTAINERS: Final = ("Loop", "Parallel", "Condition", "Router", "Steps")
_CONTAINER_STARTS: Final = {f"{c}ExecutionStarted": c for c in _CONTAINERS}
_CONTAINER_ENDS: Final = {f"{c}ExecutionCompleted": c for c in _CONTAINERS}
_TERMINALS: Final = {
    "WorkflowCompleted": None,
    "WorkflowError": "error",
    "WorkflowCancelled": "killed",
}
PAUSE_EVENTS: Final = frozenset(
    {"StepPaused", "StepExecutorPaused", "RouterPaused", "StepOutputReview", "WorkflowPaused"}
)
"""A workflow's pause events: each names the workflow's run and pauses it."""

WORKFLOW_EVENTS: Final = frozenset(
    {
        "WorkflowStarted",
        "WorkflowCompleted",
        "WorkflowPaused",
        "WorkflowCancelled",
        "WorkflowError",
        "WorkflowAgentStarted",
        "WorkflowAgentCompleted",
        "StepStarted",
        "StepCompleted",
        "StepProgress",
        "StepPaused",
        "StepContinued",
        "StepExecutorPaused",
        "StepExecutorContinued",
        "StepOutputReview",
        "StepError",
        "LoopIterationStarted",
        "LoopIterationCompleted",
        "ConditionPaused",
        "RouterPaused",
        "StepOutput",
        "CustomEvent",
        *_CONTAINER_STARTS,
        *_CONTAINER_ENDS,
    }
)
"""Every event of Agno 3.1.10's ``WorkflowRunEvent`` (wire names)."""

_AGENT_EVENTS: Final = (
    "RunStarted",
    "RunContent",
    "RunContentCompleted",
    "RunIntermediateContent",
    "RunCompleted",
    "RunError",
    "RunCancelled",
    "RunPaused",
    "RunContinued",
    "PreHookStarted",
    "PreHookCompleted",
    "PostHookStarted",
    "PostHookCompleted",
    "ToolCallStarted",
    "ToolCallCompleted",
    "ToolCallError",
    "ReasoningStarted",
    "ReasoningStep",
    "ReasoningContentDelta",
    "ReasoningCompleted",
    "MemoryUpdateStarted",
    "MemoryUpdateCompleted",
    "SessionSummaryStarted",
    "SessionSummaryCompleted",
    "ParserModelResponseStarted",
    "ParserModelResponseCompleted",
    "OutputModelResponseStarted",
    "OutputModelResponseCompleted",
    "ModelRequestStarted",
    "ModelRequestCompleted",
    "CompressionStarted",
    "CompressionCompleted",
    "CompactionStarted",
    "CompactionCompleted",
    "FollowupsStarted",
    "FollowupsCompleted",
)
EXECUTOR_EVENTS: Final = frozenset(
    {
        *_AGENT_EVENTS,
        *("Team" + name for name in _AGENT_EVENTS),
        "TeamTaskIterationStarted",
        "TeamTaskIterationCompleted",
        "TeamTaskStateUpdated",
        "TeamTaskCreated",
        "TeamTaskUpdated",
    }
)
"""Every event of Agno 3.1.10's agent ``RunEvent`` and ``TeamRunEvent`` (wire names)."""

CONTROL_EVENTS: Final = frozenset(
    {
        "connected",
        "authenticated",
        "auth_required",
        "auth_error",
        "pong",
        "replay",
        "catch_up",
        "subscribed",
        "queued",
        "error",
    }
)
"""AgentOS's transport frames (WebSocket control, SSE resume headers): counted, not routed."""

_SNAPSHOTS: Final = frozenset({"WorkflowRunOutput"})
_RELAY_KEYS: Final = (
    "node_id",
    "sequence_id",
    "microtime",
    "message_id",
    "agent_role",
    "is_member_agent",
)
"""Keys the platform adds when it relays an Agno agent event (never in Agno's own dicts)."""
_DELEGATE: Final = "delegate_task_to_member"
_UNKNOWN_NAMES_MEMORY: Final = 256
_EVICTED_MEMORY: Final = 1024
_GAPS_MEMORY: Final = 4096
"""At most this many skipped ``event_index`` values are remembered per run."""


# --- names and node ids ----------------------------------------------------------------------


def escape_name(name: str) -> str:
    """A step name as one part of a node id's path: ``%`` and ``/`` escaped (``%25``, ``%2F``)."""
    return name.replace("%", "%25").replace("/", "%2F")


def node_id_of(workflow_id: str, *names: str) -> str:
    """The node id of the step reached by ``names`` (outermost first) in workflow
    ``workflow_id``: ``<workflow_id>:<name>/<name>/...``.

    >>> node_id_of("wf", "urgent?", "a/b")
    'wf:urgent?/a%2Fb'
    """
    return f"{workflow_id}:" + "/".join(escape_name(name) for name in names)


# --- frames ------------------------------------------------------------------------------------


def _sse(text: str) -> Mapping[str, Any] | str:
    """One SSE-formatted event (``event:`` and ``data:`` lines) as its data, the ``event`` line
    filling in a data that lacks one; or why it cannot be used."""
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value.strip()
        elif field == "data":
            lines.append(value)
    if not lines:
        return "an SSE event without data"
    try:
        data = loads("\n".join(lines), MAX_DEPTH)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not JSON: {str(exc)[:80]}"
    if isinstance(data, Mapping) and name and "event" not in data:
        data = {**data, "event": name}
    return data if isinstance(data, Mapping) else f"not an object: a JSON {type(data).__name__}"


def frame_data(item: object) -> Mapping[str, Any] | str:
    """A frame's event as a mapping with a string ``event``, or why it cannot be used: a
    decoded mapping, an object with ``to_dict()`` (an Agno event in process), JSON text (or
    bytes), or an SSE-formatted text (AgentOS's live WebSocket frames, an SSE body's event)."""
    data: Any
    if isinstance(item, Mapping):
        data = item
    elif isinstance(item, str | bytes | bytearray):
        text = item if isinstance(item, str) else bytes(item)
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                return "binary frame is not UTF-8"
        stripped = text.lstrip()
        if stripped.startswith(("event:", "data:", "id:")):
            data = _sse(stripped)
            if isinstance(data, str):
                return data
        else:
            try:
                data = loads(text, MAX_DEPTH)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                return f"not JSON: {str(exc)[:80]}"
    elif callable(getattr(item, "to_dict", None)):
        try:
            data = item.to_dict()  # type: ignore[attr-defined]
        except Exception as exc:  # a host's object: its failure is this frame's reason
            return f"to_dict() failed: {type(exc).__name__}"
    else:
        return f"a {type(item).__name__} is not a frame"
    if not isinstance(data, Mapping):
        return f"not an object: a JSON {type(data).__name__}"
    event = data.get("event")
    if not isinstance(event, str) or not event:
        return "no event name"
    return data


def is_agno_frame(data: object) -> bool:
    """Whether a decoded frame is Agno's own (how a recording's protocol is detected from its
    first frame): a workflow event, or an agent or team event without the keys the platform
    adds when it relays one (``node_id``, ``sequence_id``, ...), or AgentOS's WebSocket
    greeting or resume header."""
    if not isinstance(data, Mapping):
        return False
    event = data.get("event")
    if not isinstance(event, str):
        return False
    if event in WORKFLOW_EVENTS or event in EXECUTOR_EVENTS:
        return not any(key in data for key in _RELAY_KEYS) and "order" not in data
    if event == "connected":
        return "requires_auth" in data
    return event in ("replay", "catch_up") and "total_events" in data


def transcript_frames(text: str) -> list[tuple[float, str]]:
    """The server's frames of an AgentOS capture, as ``(t, frame text)``: a WebSocket
    transcript (``<<< t=…`` server frames, ``>>>`` client frames left out, ``#`` comment lines
    skipped) or an SSE body (each event, every one at ``t = 0``). Pure: the caller reads the
    file; the frames replay as a recording's (:class:`~flowrx.streams.replay.RecordedFrame`)."""
    lines = text.splitlines()
    if not any(line.startswith(("<<< ", ">>> ")) for line in lines):
        blocks = [b.strip("\n") for b in text.replace("\r\n", "\n").split("\n\n")]
        return [(0.0, block) for block in blocks if block.strip()]
    frames: list[tuple[float, str]] = []
    current: list[str] | None = None
    at = 0.0

    def flush() -> None:
        if current is not None:
            body = "\n".join(current).strip("\n")
            if body.strip():
                frames.append((at, body))

    for line in lines:
        if line.startswith(("<<< ", ">>> ")):
            flush()
            current = [] if line.startswith("<<<") else None
            _, _, stamp = line.partition("t=")
            try:
                at = float(stamp.strip())
            except ValueError:
                at = frames[-1][0] if frames else 0.0
        elif line.startswith("#"):
            flush()
            current = None
        elif current is not None:
            current.append(line)
    flush()
    return frames


# --- the graph derived from a definition -------------------------------------------------------


def _children(step: Mapping[str, Any]) -> list[tuple[Sequence[Any], str | None]]:
    """A definition entry's child lists, each with the Condition branch it is (or None)."""
    kind = step.get("type")
    out: list[tuple[Sequence[Any], str | None]] = []
    nested = step.get("workflow")
    if isinstance(nested, Mapping) and isinstance(nested.get("steps"), list):
        out.append((nested["steps"], None))
    if kind == "Router" and isinstance(step.get("choices"), list):
        out.append((step["choices"], None))
    elif isinstance(step.get("steps"), list):
        out.append((step["steps"], "if" if kind == "Condition" else None))
    if isinstance(step.get("else_steps"), list):
        out.append((step["else_steps"], "else"))
    return out


def _executor(step: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """A step's category and the variables naming its executor (agent, team, function)."""
    variables: list[dict[str, Any]] = []
    category = "step"
    agent = step.get("agent")
    team = step.get("team")
    agent_id = agent.get("id") if isinstance(agent, Mapping) else step.get("agent_id")
    team_id = team.get("id") if isinstance(team, Mapping) else step.get("team_id")
    if isinstance(agent_id, str):
        category = "agno_agent"
        variables.append({"handle": "agent_id", "value": agent_id})
    if isinstance(team_id, str):
        category = "agno_team"
        variables.append({"handle": "team_id", "value": team_id})
    for key in ("executor_ref", "workflow_id"):
        if isinstance(step.get(key), str):
            variables.append({"handle": key, "value": step[key]})
    return category, variables


def workflow_flow(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The flow graph (a ``flow/1`` document) of an Agno workflow definition: AgentOS's
    ``GET /workflows/{id}`` or in-process ``Workflow.to_dict()``.

    Every step, at any depth (``steps``, a Router's ``choices``, a Condition's ``else_steps``,
    a nested workflow's steps), is a node with the stream's id rule (:func:`node_id_of`),
    ``handle`` its name, type (``path`` ``agno.workflow.<type>``) its Agno type, ``group`` the
    enclosing container. Containers (Loop, Parallel, Condition, Router, Steps, a nested
    workflow) are ``group`` nodes; others ``agno_agent``, ``agno_team`` or ``step``, with their
    executor in ``variables``; a Condition's children say their ``branch`` (``if``/``else``).
    ``ValueError`` for a definition without an id or a step list.
    """
    workflow_id = definition.get("id")
    if not isinstance(workflow_id, str) or not workflow_id:
        workflow_id = definition.get("workflow_id")
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ValueError("an Agno workflow definition needs its id ('id' or 'workflow_id')")
    steps = definition.get("steps")
    if not isinstance(steps, list):
        raise ValueError(f"workflow {workflow_id!r}: 'steps' must be a list of steps")
    nodes: list[dict[str, Any]] = []
    seen: set[str] = set()

    def walk(
        entries: Sequence[Any], parent: str | None, path: tuple[str, ...], branch: str | None
    ) -> None:
        for index, step in enumerate(entries):
            if not isinstance(step, Mapping):
                continue
            name = step.get("name")
            name = name if isinstance(name, str) and name else f"step-{index}"
            kind = step.get("type") if isinstance(step.get("type"), str) else "Step"
            if isinstance(step.get("workflow"), Mapping) or isinstance(
                step.get("workflow_id"), str
            ):
                kind = (
                    "Workflow"  # AgentOS says so; Workflow.to_dict() says Step, with the workflow
                )
            node_id = node_id_of(workflow_id, *path, name)
            children = _children(step)
            category, variables = _executor(step)
            if kind in _CONTAINERS or kind == "Workflow" or children:
                category = "group"
            node: dict[str, Any] = {
                "id": node_id,
                "handle": name,
                "path": f"agno.workflow.{kind}",
                "category": category,
                "agno_type": kind,
            }
            if parent is not None:
                node["group"] = parent
            if branch is not None:
                node["branch"] = branch
            if variables:
                node["variables"] = variables
            if node_id not in seen:  # a Router's choice may repeat a name: the first stays
                seen.add(node_id)
                nodes.append(node)
            for child_steps, child_branch in children:
                walk(child_steps, node_id, (*path, name), child_branch)

    walk(steps, None, (), None)
    return {"flowrx": "flow/1", "flow_id": workflow_id, "nodes": nodes}


def workflow_graph(definition: Mapping[str, Any]) -> FlowGraph:
    """:func:`workflow_flow` read as a :class:`~flowrx.graph.FlowGraph` (for ``connect``)."""
    return graph_from_mapping(workflow_flow(definition), source="agno workflow")


# --- the decoder's state ------------------------------------------------------------------------


@attrs.frozen
class Open:
    """An open step instance: its node, badge order, enclosing instance, family, name, and
    the iteration of the loop it runs in (a loop's own: the one it runs now)."""

    node: str
    order: int
    parent: str | None
    family: str
    name: str
    iteration: int | None = None


@attrs.frozen
class Speaker:
    """An agent or team run that speaks in a flowrx run: its role, name and node."""

    role: str
    name: str
    node: str | None


@attrs.frozen
class Call:
    """A tool call without its result yet: its node, message, speaker and kind of glow."""

    node: str | None
    message: str
    message_node: str | None
    speaker: str
    member: bool


@attrs.frozen
class Run:
    """One flowrx run: a root workflow run (every leg of it), or a bare agent or team run."""

    run_id: str
    root: str
    """The node ids' prefix: the root workflow's id (a bare run: the agent's or team's)."""
    kind: str = "workflow"
    status: str = "open"
    """``open`` (a leg streams), ``paused`` (waits for its next leg), ``ended``."""
    legs: int = 0
    order: int = 0
    nodes: Mapping[str, str] = attrs.field(factory=dict)
    """Every step instance seen: ``step_id -> node id`` (kept across legs)."""
    open: Mapping[str, Open] = attrs.field(factory=dict)
    """Open step instances by key (their ``step_id``), in arrival order."""
    announced: frozenset[str] = frozenset()
    speakers: Mapping[str, Speaker] = attrs.field(factory=dict)
    said: Mapping[tuple[str, str], tuple[str, str | None]] = attrs.field(factory=dict)
    """Open messages: ``(speaker run, kind) -> (message id, node)``."""
    latest: Mapping[str, tuple[str, str | None]] = attrs.field(factory=dict)
    """Each speaker's latest content message (for its final text)."""
    calls: Mapping[str, Call] = attrs.field(factory=dict)
    made: int = 0
    failed: bool = False
    killed: bool = False
    pause: Pending | None = None
    """This leg's pending item, once paused."""
    error: Mapping[str, Any] | None = None
    """This leg's last ``StepError`` (a pause after it asks for an error decision)."""
    high: int = -1
    """The highest ``event_index`` seen."""
    gaps: frozenset[int] = frozenset()
    """``event_index`` values below ``high`` not seen yet."""
    aliases: tuple[str, ...] = ()
    """Other run ids whose events belong to this run (nested workflows, team members)."""


@attrs.frozen
class AgnoState:
    """The decoder's state: counters, the runs held (arrival order; the latest one apart),
    run-id aliases, recently evicted runs, names noticed."""

    counters: Counters = attrs.field(factory=Counters)
    runs: Mapping[str, Run] = attrs.field(factory=dict)
    hot: Run | None = None
    """The run of the latest event: kept apart, so that an event copies no map of runs."""
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    evicted: Mapping[str, None] = attrs.field(factory=dict)
    noticed: frozenset[str] = frozenset()

    def run(self, run_id: str) -> Run | None:
        """The run held under ``run_id``."""
        hot = self.hot
        if hot is not None and hot.run_id == run_id:
            return hot
        return self.runs.get(run_id)

    @property
    def held(self) -> int:
        """How many runs are held."""
        hot = self.hot
        return len(self.runs) + (hot is not None and hot.run_id not in self.runs)

    def all_runs(self) -> list[Run]:
        """Every run held, in arrival order (the hot one where it belongs)."""
        hot = self.hot
        runs = [
            hot if hot is not None and r.run_id == hot.run_id else r for r in self.runs.values()
        ]
        if hot is not None and hot.run_id not in self.runs:
            runs.append(hot)
        return runs


Output = Message | Notice
Result = tuple[AgnoState, tuple[Output, ...]]


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bump(state: AgnoState, **delta: int) -> AgnoState:
    return evolve(state, counters=state.counters.plus(delta))


def _family_type(event: str) -> str:
    return "Step" if event == "StepStarted" else _CONTAINER_STARTS[event]


# --- the decoder --------------------------------------------------------------------------------


class _Decoder:
    """One frame's decoding: what it changes and what to forward, gathered while the frame is
    read and written into a new state once, at the end (:meth:`done`). A short-lived
    builder: the reducer, :func:`reduce_agno`, stays a function of its arguments."""

    def __init__(self, state: AgnoState, **counts: int) -> None:
        self.state = state
        self.run: Run | None = None
        self.counts = counts
        self.noticed = state.noticed
        self.aliases: dict[str, str] | None = None
        self.out: list[Output] = []

    def done(self) -> Result:
        state = self.state
        runs = state.runs
        hot = state.hot
        run = self.run
        if run is not None:
            if hot is not None and hot.run_id != run.run_id:
                runs = dict(runs)
                runs[hot.run_id] = hot
                runs.pop(run.run_id, None)
            elif run.run_id in runs:
                runs = dissoc(runs, run.run_id)
            hot = run
        counters = state.counters.plus(self.counts)
        aliases = state.aliases if self.aliases is None else self.aliases
        new = AgnoState(counters, runs, hot, aliases, state.evicted, self.noticed)
        return new, tuple(self.out)

    def count(self, **delta: int) -> None:
        for key, value in delta.items():
            self.counts[key] = self.counts.get(key, 0) + value

    def violation(self, kind: str, detail: str, run_id: str | None = None) -> None:
        self.count(violations=1)
        if kind not in self.noticed and len(self.noticed) < _UNKNOWN_NAMES_MEMORY:
            self.noticed = self.noticed | {kind}
            self.out.append(Notice("violation", f"{kind}: {detail}"[:200], run_id))

    def emit(self, msg: Output) -> None:
        self.out.append(msg)

    def alias(self, other: str, run: Run) -> Run:
        """Events of run id ``other`` belong to ``run`` from now on."""
        if other == run.run_id or self.state.aliases.get(other) == run.run_id:
            return run
        if self.aliases is None:
            self.aliases = dict(self.state.aliases)
        self.aliases[other] = run.run_id
        return evolve(run, aliases=(*run.aliases, other))

    # --- nodes --------------------------------------------------------------------------------

    def announce(self, run: Run, node: str, group: str | None, name: str, kind: str) -> Run:
        if node in run.announced:
            return run
        category = "group" if kind in _CONTAINERS else "step"
        self.emit(NodeAnnounced(run.run_id, node, group, name, kind, category))
        return evolve(run, announced=run.announced | {node})

    def start(
        self,
        run: Run,
        key: str,
        node: str,
        parent: str | None,
        group: str | None,
        family: str,
        name: str,
        notes: Mapping[str, Any] | None = None,
    ) -> Run:
        notes = notes or {}
        run = self.announce(run, node, group, name, family)
        self.emit(ExecutionEvent("start_node", run.run_id, node, run.order, "running", notes=notes))
        iteration = notes.get("iteration")
        opened = Open(node, run.order, parent, family, name, iteration)
        return evolve(run, open=assoc(run.open, key, opened), order=run.order + 1)

    def descendants(self, run: Run, key: str) -> list[str]:
        """The open instances inside instance ``key``, innermost (latest) first."""
        inside: set[str] = {key}
        found: list[str] = []
        for other, opened in run.open.items():  # arrival order: a parent before its children
            if opened.parent in inside and other != key:
                inside.add(other)
                found.append(other)
        return found[::-1]

    def end(self, run: Run, key: str, status: str, *, inferred: str | None = None) -> Run:
        """End instance ``key`` (its open descendants first, inferred ``error``)."""
        for inner in self.descendants(run, key):
            run = self.end_one(run, inner, "error", inferred="its container ended before it")
        return self.end_one(run, key, status, inferred=inferred)

    def end_one(
        self,
        run: Run,
        key: str,
        status: str,
        *,
        inferred: str | None,
        notes: Mapping[str, Any] | None = None,
    ) -> Run:
        opened = run.open.get(key)
        if opened is None:
            return run
        if inferred is not None:
            inferred = inferred[:200]
            self.emit(
                Notice("inferred_end", f"{opened.node} {status}: {inferred}"[:200], run.run_id)
            )
        end = ExecutionEvent(
            "end_node",
            run.run_id,
            opened.node,
            opened.order,
            status,
            inferred=inferred,
            notes=notes or {},
        )
        self.emit(end)
        return evolve(
            run,
            open=dissoc(run.open, key),
            failed=run.failed or status == "error",
            killed=run.killed or status == "killed",
        )

    # --- chat ---------------------------------------------------------------------------------

    def part(
        self,
        run: Run,
        speaker: Speaker,
        message: tuple[str, str | None],
        op: str,
        kind: str = "content",
        **fields: Any,
    ) -> None:
        self.emit(
            ChatPart(
                run.run_id,
                message[0],
                op,
                node_id=message[1],
                kind=kind,
                speaker=speaker.role,
                name=speaker.name,
                **fields,
            )
        )

    def message(
        self, run: Run, who: str, kind: str, node: str | None
    ) -> tuple[Run, tuple[str, str | None]]:
        """The speaker's open message of that kind, made if there is none."""
        held = run.said.get((who, kind))
        if held is not None:
            return run, held
        made = (f"{who}:{run.made}", node)
        run = evolve(run, said=assoc(run.said, (who, kind), made), made=run.made + 1)
        if kind == "content":
            run = evolve(run, latest=assoc(run.latest, who, made))
        return run, made

    def text(
        self, run: Run, who: str, speaker: Speaker, kind: str, text: str, node: str | None
    ) -> Run:
        run, message = self.message(run, who, kind, node)
        self.part(run, speaker, message, "text", kind, text=text)
        return run

    def close(self, run: Run, who: str, kinds: Iterable[str] = ("content", "reasoning")) -> Run:
        for kind in kinds:
            held = run.said.get((who, kind))
            if held is not None:
                speaker = run.speakers.get(who) or Speaker("agent", who, held[1])
                self.part(run, speaker, held, "close", kind)
                run = evolve(run, said=dissoc(run.said, (who, kind)))
        return run

    # --- run ends -----------------------------------------------------------------------------

    def finish(
        self, run: Run, stated: str | None, open_status: str, errors: Mapping[str, str]
    ) -> Run:
        """The run's terminal: open steps, calls and messages end; then ``run_end``."""
        for key in reversed(list(run.open)):
            if key in run.open:
                why = errors.get(run.open[key].name, "the run ended before it")
                run = self.end(run, key, open_status, inferred=why)
        for call in run.calls.values():
            if call.node is not None:
                event = "end_tool_or_member" if call.member else "end_tool"
                self.emit(ExecutionEvent(event, run.run_id, call.node, -1, open_status))
        run = evolve(run, calls={})
        for who, kind in list(run.said):
            run = self.close(run, who, (kind,))
        outcome = stated or ("error" if run.failed else "killed" if run.killed else "success")
        event = "resume_end" if run.legs else "run_end"
        self.emit(ExecutionEvent(event, run.run_id, None, -1, "running", outcome=outcome))
        return evolve(run, status="ended", pause=None, error=None)

    def pause(self, run: Run, kind: str | None, node: str | None, detail: Mapping[str, Any]) -> Run:
        """A pause: the leg's pending item (made, or updated by a later pause event of the
        leg) and, the first time, the leg's end (``paused``)."""
        old = run.pause
        if old is not None:
            merged = Pending(
                run.run_id,
                old.interaction_id,
                old.kind if old.kind != "pause" or kind is None else kind,
                old.node_id or node,
                {**old.detail, **detail},
            )
            self.emit(merged)
            return evolve(run, pause=merged)
        item = Pending(run.run_id, f"pause:{run.run_id}:{run.legs}", kind or "pause", node, detail)
        self.emit(item)
        if run.status == "paused":  # paused by the end of its stream: the item comes after
            return evolve(run, pause=item)
        event = "resume_end" if run.legs else "run_end"
        self.emit(ExecutionEvent(event, run.run_id, None, -1, "running", outcome="paused"))
        return evolve(run, status="paused", pause=item)


# --- the reducer ----------------------------------------------------------------------------------


def reduce_agno(state: AgnoState, item: object, now: float, config: Config = Config()) -> Result:
    """Account for one input (an Agno event frame, a source's end, or a host control) and say
    what to forward. Pure: ``state`` is never changed."""
    if isinstance(item, ClearRun | Background | Foreground | ResolveInteraction):
        return _control(state, item)
    if isinstance(item, EndOfStream):
        return _end_of_stream(state, item)
    data = frame_data(item)
    if isinstance(data, str):
        return _bump(state, frames=1, rejected=1), (Notice("rejected", data),)
    event: str = data["event"]
    if event in CONTROL_EVENTS:
        notes: tuple[Output, ...] = ()
        if event in ("error", "auth_error", "auth_required"):
            said = data.get("error") or data.get("message") or event
            notes = (Notice("transport", f"{event}: {said}"[:200]),)
        return _bump(state, frames=1, heartbeats=1), notes
    if event in _SNAPSHOTS:
        return _bump(state, frames=1, messages=1), ()
    workflow = event in WORKFLOW_EVENTS
    if not workflow and event not in EXECUTOR_EVENTS:
        d = _Decoder(state, frames=1, messages=1, unknown=1)
        d.emit(Unknown(event[:80], _root_id(state, data, False)))
        if event not in d.noticed and len(d.noticed) < _UNKNOWN_NAMES_MEMORY:
            d.noticed = d.noticed | {event}
            d.emit(Notice("unknown_event", event[:80]))
        return d.done()
    root = _root_id(state, data, workflow)
    if root is None:
        reason = f"{event}: no run_id"
        return _bump(state, frames=1, rejected=1), (Notice("rejected", reason),)
    if root in state.evicted:
        note = Notice("late", f"{event} of evicted run", root)
        return _bump(state, frames=1, messages=1, late=1), (note,)
    run = state.run(root)
    index = _int(data, "event_index")
    if run is not None and index is not None and index <= run.high and index not in run.gaps:
        note = Notice("duplicate", f"{event} #{index}", root)
        return _bump(state, frames=1, duplicates=1), (note,)
    d = _Decoder(state, frames=1, messages=1)
    if run is None:
        run = _new_run(d, data, event, root, workflow, config)
    elif event == "WorkflowStarted" and not _int(data, "nested_depth"):
        d.counts = {"frames": 1, "duplicates": 1}  # the same run started again: nothing new
        d.emit(Notice("duplicate", "second WorkflowStarted", root))
        return d.done()
    elif run.status == "ended":
        if _is_terminal(run, data, event, workflow):
            d.counts = {"frames": 1, "duplicates": 1}
            d.emit(Notice("duplicate", f"second {event}", root))
        else:
            d.counts = {"frames": 1, "messages": 1, "late": 1}
            d.emit(Notice("late", f"{event} after the run's end", root))
        return d.done()
    elif run.status == "paused" and event not in PAUSE_EVENTS and not _pause_of_executor(event):
        run = evolve(run, status="open", legs=run.legs + 1, pause=None, error=None)
        d.emit(ExecutionEvent("resume_start", run.run_id, None, -1, "running"))
    if index is not None:
        run = _seen_index(run, index)
    event_of = _workflow_event if workflow else _executor_event
    d.run = event_of(d, run, event, data)
    return d.done()


def _pause_of_executor(event: str) -> bool:
    return event == "RunPaused" or event == "TeamRunPaused"


def _seen_index(run: Run, index: int) -> Run:
    if index <= run.high:
        return evolve(run, gaps=run.gaps - {index})
    gaps = run.gaps
    if index > run.high + 1 and len(gaps) < _GAPS_MEMORY:
        room = _GAPS_MEMORY - len(gaps)
        gaps = gaps | frozenset(range(max(run.high + 1, index - room), index))
    return evolve(run, high=index, gaps=gaps)


def _is_terminal(run: Run, data: Mapping[str, Any], event: str, workflow: bool) -> bool:
    if workflow:
        return event in _TERMINALS and not _int(data, "nested_depth")
    base = event[4:] if event.startswith("Team") else event
    return (
        base in ("RunCompleted", "RunError", "RunCancelled") and _str(data, "run_id") == run.run_id
    )


def _root_id(state: AgnoState, data: Mapping[str, Any], workflow: bool) -> str | None:
    """The flowrx run an event belongs to (its root workflow run, or its bare agent/team run)."""
    aliases = state.aliases
    run_id = _str(data, "run_id")
    if workflow:
        if run_id is None:
            return None
        if not _int(data, "nested_depth"):
            return run_id
        if run_id in aliases:
            return aliases[run_id]
        parent = _str(data, "parent_step_id")
        if parent is not None:
            for held in reversed(state.all_runs()):
                if parent in held.nodes and held.status != "ended":
                    return held.run_id
        return run_id
    workflow_run = _str(data, "workflow_run_id")
    if workflow_run is not None:
        return aliases.get(workflow_run, workflow_run)
    parent_run = _str(data, "parent_run_id")
    if parent_run is not None:
        if parent_run in aliases:
            return aliases[parent_run]
        if state.run(parent_run) is not None:
            return parent_run
    if run_id is None:
        return None
    return aliases.get(run_id, run_id)


def _new_run(
    d: _Decoder, data: Mapping[str, Any], event: str, root: str, workflow: bool, config: Config
) -> Run:
    state = d.state
    if state.held >= config.max_runs:
        oldest = next(iter(state.runs), None)
        if oldest is None and state.hot is not None:
            oldest = state.hot.run_id
        if oldest is not None:
            d.state = _evicted(state, oldest)
            if d.aliases is not None:
                d.aliases = dict(d.state.aliases)
            d.emit(Evict(oldest, "evicted"))
            d.emit(Notice("evicted", "evicted", oldest))
    if workflow or _str(data, "workflow_run_id") is not None:  # (joined: an agent's event)
        flow = _str(data, "workflow_id")
        run = Run(root, flow or root)
    else:
        team = event.startswith("Team")
        own = _str(data, "team_id" if team else "agent_id") or ("team" if team else "agent")
        run = Run(root, own, kind="team" if team else "agent")
        flow = None
    if event not in ("WorkflowStarted", "RunStarted", "TeamRunStarted"):
        d.emit(Notice("joined", f"the run's first event is {event}", root))
    d.emit(ExecutionEvent("run_start", root, None, -1, "running", flow_id=flow))
    if run.kind != "workflow":  # a bare agent or team run: one node, the agent or team
        kind = "Team" if run.kind == "team" else "Agent"
        run = evolve(run, announced=frozenset({run.root}))
        d.emit(NodeAnnounced(root, run.root, None, run.root, kind, "agno_" + run.kind))
        d.emit(ExecutionEvent("start_node", root, run.root, 0, "running"))
        run = evolve(run, open={root: Open(run.root, 0, None, kind, run.root)}, order=1)
    return run


def _evicted(state: AgnoState, run_id: str) -> AgnoState:
    gone = state.run(run_id)
    aliases = state.aliases
    if gone is not None and gone.aliases:
        aliases = {k: v for k, v in aliases.items() if v != run_id}
    evicted = assoc(state.evicted, run_id, None)
    if len(evicted) > _EVICTED_MEMORY:
        del evicted[next(iter(evicted))]
    hot = None if state.hot is not None and state.hot.run_id == run_id else state.hot
    return evolve(state, runs=dissoc(state.runs, run_id), hot=hot, aliases=aliases, evicted=evicted)


# --- workflow events -----------------------------------------------------------------------


def _place(
    d: _Decoder, run: Run, data: Mapping[str, Any]
) -> tuple[str, str | None, str | None, str]:
    """Where a step event's step sits: ``(node id, enclosing group node, enclosing instance
    key, name)``, by its ``parent_step_id`` through the run's instance map."""
    name = _str(data, "step_name") or _str(data, "step_id") or "step"
    parent = _str(data, "parent_step_id")
    if parent is not None:
        group = run.nodes.get(parent)
        if group is not None:
            return f"{group}/{escape_name(name)}", group, parent, name
        d.violation("unknown_parent_step", f"{name} in {parent}", run.run_id)
    return node_id_of(run.root, name), None, parent, name


def _workflow_event(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    depth = _int(data, "nested_depth") or 0
    if event == "WorkflowStarted":  # a nested workflow's start: its run joins this one
        inner = _str(data, "run_id")
        if not depth or inner is None:
            return run
        run = d.alias(inner, run)
        host = _str(data, "parent_step_id")  # the step that runs it: a Workflow, a group
        opened = run.open.get(host) if host is not None else None
        if opened is None or opened.family == "Workflow":
            return run
        group = run.nodes.get(opened.parent) if opened.parent is not None else None
        d.emit(NodeAnnounced(run.run_id, opened.node, group, opened.name, "Workflow", "group"))
        assert host is not None
        return evolve(run, open=assoc(run.open, host, evolve(opened, family="Workflow")))
    if event in _TERMINALS:
        if depth:
            return run  # a nested workflow's end: its step ends the group
        return _terminal(d, run, event, data)
    if event == "StepStarted" or event in _CONTAINER_STARTS:
        return _start_step(d, run, event, data)
    if event == "StepCompleted" or event in _CONTAINER_ENDS:
        return _complete_step(d, run, event, data)
    if event == "StepError":
        key = _find(run, data)
        detail = {"step_name": _str(data, "step_name"), "error": data.get("error")}
        run = evolve(run, error=detail)
        if key is None:
            d.violation("error_of_no_open_step", str(detail["step_name"]), run.run_id)
            return run
        return d.end(run, key, "error")
    if event == "LoopIterationStarted":
        key = _str(data, "step_id")
        opened = run.open.get(key) if key is not None else None
        iteration = _int(data, "iteration")
        if opened is None or key is None or iteration is None:
            return run
        return evolve(run, open=assoc(run.open, key, evolve(opened, iteration=iteration)))
    if event == "LoopIterationCompleted":
        key = _str(data, "step_id")
        if key is not None and key in run.open:
            for inner in d.descendants(run, key):
                run = d.end_one(run, inner, "error", inferred="its loop iteration ended")
        return run
    if event in PAUSE_EVENTS:
        return _workflow_pause(d, run, event, data)
    return run  # StepOutput, StepProgress, Continued, LoopIterationStarted, agentic, custom


def _find(run: Run, data: Mapping[str, Any]) -> str | None:
    """The open instance an end names: by ``step_id``, else (Agno's sync path leaves it out
    on nested steps) the latest open one of that name in that parent."""
    key = _str(data, "step_id")
    if key is not None and key in run.open:
        return key
    name = _str(data, "step_name")
    parent = _str(data, "parent_step_id")
    for other, opened in reversed(list(run.open.items())):
        if opened.name == name and opened.parent == parent:
            return other
    return None


def _start_step(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    family = _family_type(event)
    key = _str(data, "step_id") or f"#{run.order}"
    if key in run.open:  # a second start of an open instance: a repeat
        d.counts = {"frames": 1, "duplicates": 1}
        d.emit(Notice("duplicate", f"second {event} of {run.open[key].node}", run.run_id))
        return run
    node, group, parent, name = _place(d, run, data)
    enclosing = run.open.get(parent) if parent is not None else None
    if enclosing is None or enclosing.family != "Parallel":  # one child at a time
        for other in [k for k, o in run.open.items() if o.parent == parent]:
            if other in run.open:
                run = d.end(run, other, "error", inferred=f"{name} started after it")
    run = evolve(run, nodes=assoc(run.nodes, key, node)) if run.nodes.get(key) != node else run
    iteration = enclosing.iteration if enclosing is not None else None
    return d.start(run, key, node, parent, group, family, name, _notes(data, iteration))


def _complete_step(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    key = _find(run, data)
    if key is None:
        step_id = _str(data, "step_id")
        if step_id is not None and step_id in run.nodes:
            d.count(late=1)
            d.emit(Notice("late", f"{event} of an ended step", run.run_id))
        else:
            d.violation("end_of_no_open_step", _str(data, "step_name") or event, run.run_id)
        return run
    status = "success"
    response = data.get("step_response")
    if isinstance(response, Mapping) and response.get("success") is False:
        status = "error"
    errors = _errors(data.get("step_results"))
    for inner in d.descendants(run, key):
        why = errors.get(run.open[inner].name, "its container ended before it")
        run = d.end_one(run, inner, "error", inferred=why)
    return d.end_one(run, key, status, inferred=None, notes=_notes(data, None))


_NOTED = ("step_index", "condition_result", "branch", "selected_steps")
"""What a step's start or end says of the execution that a badge keeps as a note."""


def _notes(data: Mapping[str, Any], iteration: int | None) -> Mapping[str, Any]:
    """The notes a start or an end carries: Agno's ``step_index`` (a position in the
    definition, no order: it repeats), the iteration of the loop the step runs in, a
    condition's ``condition_result`` and ``branch``, a router's ``selected_steps``."""
    notes = {k: _plain(data[k]) for k in _NOTED if data.get(k) is not None}
    if iteration is not None:
        notes["iteration"] = iteration
    return notes


def _plain(value: object) -> object:
    """A note as JSON has it: in process Agno's ``to_dict()`` keeps tuples (``step_index``
    ``(1, 0)``) that AgentOS sends as lists; a note is the same either way."""
    return [_plain(v) for v in value] if isinstance(value, tuple | list) else value


def _errors(results: object) -> dict[str, str]:
    """Failed steps' errors by step name, at any depth of a ``step_results`` list."""
    found: dict[str, str] = {}
    stack = [results]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            name = item.get("step_name")
            if item.get("success") is False and isinstance(name, str):
                found.setdefault(name, str(item.get("error") or "failed"))
            stack.append(item.get("steps"))
    return found


def _terminal(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    stated = _TERMINALS[event]
    if event == "WorkflowError":
        error = data.get("error")
        d.emit(Notice("run_error", str(error or "workflow error")[:200], run.run_id))
    open_status = "killed" if stated == "killed" else "error"
    return d.finish(run, stated, open_status, _errors(data.get("step_results")))


def _tool_kind(tool: Mapping[str, Any]) -> str | None:
    if tool.get("requires_confirmation") and tool.get("confirmed") is None:
        return "confirmation"
    if (tool.get("requires_user_input") or tool.get("user_input_schema")) and not tool.get(
        "answered"
    ):
        return "user_input"
    if tool.get("external_execution_required") and tool.get("result") is None:
        return "external_tool"
    return None


def _tools(entries: object) -> list[Mapping[str, Any]]:
    return [e for e in entries if isinstance(e, Mapping)] if isinstance(entries, list) else []


def _tools_pause(tools: list[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """The kind of a pause on tool calls and the calls that wait (all, when none is flagged)."""
    waiting = [t for t in tools if _tool_kind(t) is not None] or tools
    kind = next((k for t in waiting if (k := _tool_kind(t)) is not None), None)
    listed = [
        {
            "tool_call_id": t.get("tool_call_id"),
            "tool_name": t.get("tool_name"),
            "tool_args": t.get("tool_args"),
            **(
                {"user_input_schema": t["user_input_schema"]}
                if t.get("user_input_schema") is not None
                else {}
            ),
        }
        for t in waiting
    ]
    return kind, listed


def _waiting_tools(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The tool calls an agent's or team's ``RunPaused`` waits on: its requirements' (a team's
    ``tools`` list only the leader's delegation), else its ``tools``."""
    held = [
        r["tool_execution"]
        for r in _tools(data.get("requirements"))
        if isinstance(r.get("tool_execution"), Mapping)
    ]
    return held or _tools(data.get("tools"))


def _requirement_kind(requirement: Mapping[str, Any]) -> str | None:
    if requirement.get("requires_route_selection"):
        return "route_selection"
    if requirement.get("requires_output_review"):
        return "output_review"
    if requirement.get("requires_user_input"):
        return "user_input"
    if requirement.get("requires_confirmation"):
        return "confirmation"
    executor = _tools(requirement.get("executor_requirements"))
    tools = [e["tool_execution"] for e in executor if isinstance(e.get("tool_execution"), Mapping)]
    return _tools_pause(tools)[0] if tools else None


_IDENTITY: Final = frozenset(
    {
        "created_at",
        "event",
        "workflow_id",
        "workflow_name",
        "session_id",
        "run_id",
        "parent_step_id",
        "nested_depth",
        "event_index",
    }
)


def _workflow_pause(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    step_id = _str(data, "step_id")
    node = run.nodes.get(step_id) if step_id is not None else None
    kind: str | None
    detail: dict[str, Any] = {}
    if event == "WorkflowPaused":
        requirements = _tools(data.get("step_requirements"))
        detail = {
            "step_requirements": data.get("step_requirements"),
            "pause_kind": data.get("pause_kind"),
            "paused_step_name": data.get("paused_step_name"),
        }
        if run.error is not None and run.pause is None:
            kind = "error_decision"
            detail.update(run.error)
        else:
            kind = next((k for r in requirements if (k := _requirement_kind(r))), None)
        first = requirements[0] if requirements else {}
        first_id = _str(first, "step_id")
        node = run.nodes.get(first_id) if first_id is not None else None
        if node is None and _str(data, "paused_step_name") is not None:
            node = node_id_of(run.root, data["paused_step_name"])
        return d.pause(run, kind, node, detail)
    if node is None:
        node = _place(d, run, data)[0]
    detail = {
        "step_name": _str(data, "step_name"),
        "step_id": step_id,
        "step_index": data.get("step_index"),
    }
    if event == "StepPaused":
        user_input = bool(data.get("requires_user_input"))
        kind = "user_input" if user_input else "confirmation"
        message = data.get("user_input_message") if user_input else data.get("confirmation_message")
        detail["message"] = message
        if data.get("user_input_schema") is not None:
            detail["schema"] = data.get("user_input_schema")
    elif event == "StepExecutorPaused":
        requirements = _tools(data.get("executor_requirements"))
        tools = [
            r["tool_execution"]
            for r in requirements
            if isinstance(r.get("tool_execution"), Mapping)
        ]
        kind, listed = _tools_pause(tools)
        detail.update(
            {
                key: data.get(key)
                for key in ("executor_id", "executor_name", "executor_run_id", "executor_type")
            }
        )
        detail["tools"] = listed
        detail["executor_requirements"] = data.get("executor_requirements")
    elif event == "RouterPaused":
        kind = "route_selection"
        detail.update(
            {
                "message": data.get("user_input_message"),
                "available_choices": data.get("available_choices"),
                "allow_multiple_selections": data.get("allow_multiple_selections"),
            }
        )
    else:  # StepOutputReview
        kind = "output_review"
        detail.update({k: v for k, v in data.items() if k not in _IDENTITY and k not in detail})
    return d.pause(run, kind, node, detail)


# --- agent and team events -----------------------------------------------------------------


def _executor_event(d: _Decoder, run: Run, event: str, data: Mapping[str, Any]) -> Run:
    team = event.startswith("Team")
    base = event[4:] if team else event
    who = _str(data, "run_id") or run.run_id
    if run.kind != "workflow" and who != run.run_id and who not in run.aliases:
        run = d.alias(who, run)
    node = _executor_node(run, data)
    speaker = run.speakers.get(who)
    if speaker is None:
        parent = _str(data, "parent_run_id")
        role = "leader" if team else "member" if parent is not None else "agent"
        name = (
            _str(data, "team_name" if team else "agent_name")
            or _str(data, "team_id" if team else "agent_id")
            or role
        )
        speaker = Speaker(role, name, node)
        run = evolve(run, speakers=assoc(run.speakers, who, speaker))
    node = node if node is not None else speaker.node
    if base == "RunContent":
        content = data.get("content")
        if isinstance(content, str) and content:
            run = d.text(run, who, speaker, "content", content, node)
        reasoning = data.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            run = d.text(run, who, speaker, "reasoning", reasoning, node)
    elif base == "ReasoningContentDelta":
        reasoning = data.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            run = d.text(run, who, speaker, "reasoning", reasoning, node)
    elif base == "ReasoningCompleted":
        run = d.close(run, who, ("reasoning",))
    elif base == "RunContentCompleted":
        run = d.close(run, who)
    elif base == "RunCompleted" or base == "RunError" or base == "RunCancelled":
        run = _executor_end(d, run, who, speaker, base, data, node)
    elif base == "RunPaused" and speaker.role != "member":  # a member's: its team's follows
        kind, listed = _tools_pause(_waiting_tools(data))
        detail = {
            "tools": listed,
            "executor_name": speaker.name,
            "executor_run_id": who,
            "requirements": data.get("requirements"),
        }
        run = d.pause(run, kind, node, detail)
    elif base == "ToolCallStarted":
        run = _tool_start(d, run, who, speaker, data, node)
    elif base == "ToolCallCompleted" or base == "ToolCallError":
        run = _tool_end(d, run, who, speaker, base, data, node)
    return run


def _executor_node(run: Run, data: Mapping[str, Any]) -> str | None:
    """The node an agent or team event runs on: its step's (by ``step_id``), else its step's
    name at the top level (no ``parent_step_id`` on these events), or a bare run's node."""
    if run.kind != "workflow":
        return run.root
    step_id = _str(data, "step_id")
    if step_id is not None and step_id in run.nodes:
        return run.nodes[step_id]
    name = _str(data, "step_name")
    return node_id_of(run.root, name) if name is not None else None


def _executor_end(
    d: _Decoder,
    run: Run,
    who: str,
    speaker: Speaker,
    base: str,
    data: Mapping[str, Any],
    node: str | None,
) -> Run:
    content = data.get("content")
    if base == "RunCompleted" and isinstance(content, str) and content:
        latest = run.latest.get(who)
        if latest is not None:
            d.part(run, speaker, latest, "final", text=content)
        else:
            run = d.text(run, who, speaker, "content", content, node)
    for call_id, call in list(run.calls.items()):
        if call.speaker == who and base != "RunCompleted":
            run = _close_call(d, run, call_id, call, "error" if base == "RunError" else "killed")
    run = d.close(run, who)
    if base == "RunError":
        d.emit(
            Notice(
                "run_error", f"{speaker.name}: {data.get('content') or 'error'}"[:200], run.run_id
            )
        )
    if run.kind != "workflow" and who == run.run_id:  # the bare run's own end
        status = {"RunCompleted": "success", "RunError": "error"}.get(base, "killed")
        run = d.end(run, run.run_id, status)
        stated = None if base == "RunCompleted" else status
        run = d.finish(run, stated, "error" if stated is None else stated, {})
    return run


def _tool_start(
    d: _Decoder, run: Run, who: str, speaker: Speaker, data: Mapping[str, Any], node: str | None
) -> Run:
    tool = data.get("tool")
    tool = tool if isinstance(tool, Mapping) else {}
    name = _str(tool, "tool_name") or "tool"
    call_id = _str(tool, "tool_call_id") or f"{who}:{name}:{run.made}"
    if call_id in run.calls:  # announced again: it stays where it was
        return run
    run, message = d.message(run, who, "content", node)
    member = name == _DELEGATE
    if node is not None:
        event = "start_tool_or_member" if member else "start_tool"
        d.emit(ExecutionEvent(event, run.run_id, node, -1, "running"))
    d.part(run, speaker, message, "tool", call_id=call_id, tool_name=name)
    args = tool.get("tool_args")
    d.part(run, speaker, message, "args", call_id=call_id, value={} if args is None else args)
    call = Call(node, message[0], message[1], who, member)
    return evolve(run, calls=assoc(run.calls, call_id, call))


def _tool_end(
    d: _Decoder,
    run: Run,
    who: str,
    speaker: Speaker,
    base: str,
    data: Mapping[str, Any],
    node: str | None,
) -> Run:
    tool = data.get("tool")
    tool = tool if isinstance(tool, Mapping) else {}
    call_id = _str(tool, "tool_call_id")
    if call_id is None or call_id not in run.calls:
        run = _tool_start(d, run, who, speaker, data, node)
        call_id = call_id or next(reversed(list(run.calls)), None)
        if call_id is None or call_id not in run.calls:
            return run
    call = run.calls[call_id]
    message = (call.message, call.message_node)
    failed = base == "ToolCallError" or tool.get("tool_call_error") is True
    if failed:
        said = data.get("error") if isinstance(data.get("error"), str) else tool.get("result")
        d.part(run, speaker, message, "error", call_id=call_id, value=said)
    else:
        d.part(run, speaker, message, "result", call_id=call_id, value=tool.get("result"))
    return _close_call(d, run, call_id, call, "error" if failed else "success", chat=False)


def _close_call(
    d: _Decoder, run: Run, call_id: str, call: Call, status: str, chat: bool = True
) -> Run:
    if chat and status != "success":
        speaker = run.speakers.get(call.speaker) or Speaker("agent", call.speaker, call.node)
        d.part(run, speaker, (call.message, call.message_node), "error", call_id=call_id)
    if call.node is not None:
        event = "end_tool_or_member" if call.member else "end_tool"
        d.emit(ExecutionEvent(event, run.run_id, call.node, -1, status))
    return evolve(run, calls=dissoc(run.calls, call_id))


# --- a source's end and the host's controls -----------------------------------------------------


def _end_of_stream(state: AgnoState, item: EndOfStream) -> Result:
    """The response or iterator is over: every run with a leg still open pauses (Agno's
    in-process iterator just stops at a pause; ``on_error="pause"`` ends a leg after its
    ``StepError``), asking for an error decision after a ``StepError``."""
    out: list[Output] = []
    for held in state.all_runs():
        if held.status != "open":
            continue
        d = _Decoder(state)
        d.emit(Notice("paused", f"{item.reason} with the run open", held.run_id))
        if held.error is not None:
            run = d.pause(held, "error_decision", None, dict(held.error))
        else:
            event = "resume_end" if held.legs else "run_end"
            d.emit(ExecutionEvent(event, held.run_id, None, -1, "running", outcome="paused"))
            run = evolve(held, status="paused")
        d.run = run
        state, more = d.done()
        out.extend(more)
    return state, tuple(out)


def _control(state: AgnoState, msg: Any) -> Result:
    held = state.run(msg.run_id) if isinstance(msg, ClearRun | Background | Foreground) else None
    if isinstance(msg, ClearRun):
        if held is None:
            return state, (Notice("control", "clear of an unknown run", msg.run_id),)
        new = _evicted(state, msg.run_id)
        return new, (Evict(msg.run_id, "cleared"), Notice("evicted", "cleared", msg.run_id))
    if isinstance(msg, Background | Foreground) and held is None:
        return state, (Notice("control", f"{msg.event} of an unknown run", msg.run_id),)
    return state, (msg,)


# --- answers going back: AgentOS's continue ------------------------------------------------------


def _decision(answer: Answer) -> bool | None:
    """A yes or no in an answer's payload: a bool, or ``approved``/``confirmed`` in a mapping;
    a cancelled answer is a no."""
    if answer.status == "cancelled":
        return False
    payload = answer.payload
    if isinstance(payload, bool):
        return payload
    if isinstance(payload, Mapping):
        for key in ("approved", "confirmed"):
            if isinstance(payload.get(key), bool):
                return bool(payload[key])
    return None


def _choices(answer: Answer, requirement: Mapping[str, Any]) -> list[str]:
    payload = answer.payload
    if isinstance(payload, Mapping):
        payload = payload.get("selected", payload.get("choices"))
    chosen = [payload] if isinstance(payload, str) else payload
    if not isinstance(chosen, list) or not chosen or not all(isinstance(c, str) for c in chosen):
        raise ValueError("a route selection is answered with a choice's name (or a list of them)")
    offered = requirement.get("available_choices")
    unknown = [c for c in chosen if isinstance(offered, list) and c not in offered]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not one of the routes offered: {offered}")
    if len(chosen) > 1 and not requirement.get("allow_multiple_selections"):
        raise ValueError("this router takes one route")
    return list(chosen)


def _needs(what: str, answer: Answer) -> ValueError:
    article = "an" if what in ("output review", "external tool") else "a"
    return ValueError(
        f"{article} {what} is answered with {_ANSWER_SHAPES[what]}, not {answer.payload!r}"
    )


_ANSWER_SHAPES: Final = {
    "confirmation": "true or false (or {'approved': bool})",
    "user input": "a mapping of field names to values",
    "output review": "true or false (or {'approved': bool})",
    "external tool": "the tool's result (text, or {'result': ...})",
}


def _result(answer: Answer) -> str:
    """An external tool's result in an answer: text as it is, ``{"result": ...}``'s value, or
    any other JSON value as its JSON text (Agno keeps a tool's result as text)."""
    payload = answer.payload
    if answer.status == "cancelled" or payload is None:
        raise _needs("external tool", answer)
    if isinstance(payload, Mapping) and "result" in payload:
        payload = payload["result"]
    if isinstance(payload, str):
        return payload
    try:
        return json.dumps(payload, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise _needs("external tool", answer) from None


def _answer_tool(tool: dict[str, Any], answer: Answer) -> None:
    """Fill in what one of Agno's tool executions (a ``ToolExecution`` dict) waits for, as
    ``RunRequirement.confirm``/``reject``, ``provide_user_input`` and
    ``set_external_execution_result`` do: ``confirmed``; the ``user_input_schema`` values
    (every field must have one) and ``answered``; ``result``."""
    kind = _tool_kind(tool)
    if kind == "confirmation":
        decision = _decision(answer)
        if decision is None:
            raise _needs("confirmation", answer)
        tool["confirmed"] = decision
    elif kind == "user_input":
        if answer.status == "cancelled" or not isinstance(answer.payload, Mapping):
            raise _needs("user input", answer)
        fields = [f for f in _tools(tool.get("user_input_schema")) if isinstance(f, dict)]
        for field in fields:
            if field.get("name") in answer.payload:
                field["value"] = answer.payload[field["name"]]
        missing = [str(f.get("name")) for f in fields if f.get("value") is None]
        if missing:
            raise ValueError(
                f"{tool.get('tool_name') or 'the tool'} needs a value for {', '.join(missing)}"
            )
        tool["answered"] = True
    elif kind == "external_tool":
        tool["result"] = _result(answer)


def _answer_requirement(requirement: dict[str, Any], answer: Answer) -> None:
    """An Agno ``RunRequirement`` dict (an agent's, a team's, a workflow step executor's) with
    its tool answered, the answer also where the requirement itself keeps it."""
    tool = requirement.get("tool_execution")
    if not isinstance(tool, dict):
        return
    _answer_tool(tool, answer)
    if tool.get("confirmed") is not None and tool.get("requires_confirmation"):
        requirement["confirmation"] = tool["confirmed"]
    if tool.get("external_execution_required") and tool.get("result") is not None:
        requirement["external_execution_result"] = tool["result"]
    if tool.get("answered") and tool.get("user_input_schema") is not None:
        requirement["user_input_schema"] = copy.deepcopy(tool["user_input_schema"])


def _answered(requirement: dict[str, Any], answer: Answer) -> dict[str, Any]:
    """One of AgentOS's step requirements with ``answer`` filled in (as Agno's
    ``StepRequirement.confirm``/``reject``/``select``/``set_user_input`` fill them; an agent's
    tools waiting in a step as :func:`_answer_requirement` does)."""
    decision = _decision(answer)
    executor = requirement.get("executor_requirements")
    if requirement.get("requires_route_selection"):
        requirement["selected_choices"] = _choices(answer, requirement)
    elif isinstance(executor, list) and executor:
        for waiting in executor:
            if isinstance(waiting, dict):
                _answer_requirement(waiting, answer)
    elif requirement.get("requires_confirmation"):
        if decision is None:
            raise _needs("confirmation", answer)
        requirement["confirmed"] = decision
    elif requirement.get("requires_user_input"):
        if not isinstance(answer.payload, Mapping):
            raise _needs("user input", answer)
        requirement["user_input"] = {**(requirement.get("user_input") or {}), **answer.payload}
    elif requirement.get("requires_output_review"):
        if decision is None:
            raise _needs("output review", answer)
        requirement["confirmed"] = decision
    return requirement


def continue_requirements(
    answers: Sequence[Answer], requirements: Sequence[Any] | None = None
) -> list[dict[str, Any]]:
    """The ``step_requirements`` that continue a paused AgentOS workflow run
    (``POST /workflows/{id}/runs/{run_id}/continue``), with the answers filled in.

    The requirements are ``requirements`` (AgentOS's latest ``WorkflowPaused`` of the run,
    as a source saw it), else each answered item's own (the decoder keeps a
    ``WorkflowPaused``'s verbatim in the item's detail). Each requirement takes the answer
    whose item names its step, else the first answer. Payloads: a confirmation (a step's or
    an agent's tools') or an output review takes ``true``/``false`` or ``{"approved": bool}``;
    a route selection a choice's name or a list of them; a user input a mapping of field
    values; a cancelled answer is a no. :class:`ValueError` with one line when there are no
    requirements (a pause seen without AgentOS's ``WorkflowPaused``: in process, continue with
    Agno's own ``continue_run``) or an answer has the wrong shape."""
    if not answers:
        raise ValueError("no answers to continue with")
    if requirements is None:
        pairs: list[tuple[Any, Answer]] = []
        for answer in answers:
            detail = answer.detail if isinstance(answer.detail, Mapping) else {}
            own = detail.get("step_requirements")
            if not isinstance(own, list) or not own:
                raise ValueError(
                    f"the {answer.kind} item holds no step requirements (AgentOS's "
                    "WorkflowPaused carries them)"
                )
            pairs.extend((requirement, answer) for requirement in own)
    else:
        if not requirements:
            raise ValueError("AgentOS gave no step requirements to answer")
        by_step = {
            answer.detail.get("step_name"): answer
            for answer in answers
            if isinstance(answer.detail, Mapping)
        }
        pairs = [
            (
                r,
                by_step.get(r.get("step_name"), answers[0])
                if isinstance(r, Mapping)
                else answers[0],
            )
            for r in requirements
        ]
    return [
        _answered(copy.deepcopy(dict(requirement)), answer)
        for requirement, answer in pairs
        if isinstance(requirement, Mapping)
    ]


def continue_run_requirements(
    answers: Sequence[Answer], requirements: Sequence[Any]
) -> list[dict[str, Any]]:
    """The requirements that continue a paused AgentOS agent or team run
    (``POST /agents/{id}/runs/{run_id}/continue`` takes their ``tool_execution`` dicts as
    ``tools``, ``/teams/...`` takes them as ``requirements``), with the answers filled in.

    ``requirements`` are the ``requirements`` of the run's ``RunPaused`` (``TeamRunPaused``):
    Agno's ``RunRequirement`` dicts, each around the tool call that waits (a team's name the
    member). Each takes the answer whose item lists its tool call, else the first answer, and
    the answer fills what its tool waits for: a confirmation ``true``/``false`` or
    ``{"approved": bool}`` (a cancelled answer is a no); a user input a mapping of the tool's
    ``user_input_schema`` field names to values (every field must end with a value); an
    external tool's run its result (text, or ``{"result": ...}``, any other JSON value sent as
    its JSON text). :class:`ValueError` with one line when there is nothing to answer or an
    answer has the wrong shape. The given requirements are not changed."""
    if not answers:
        raise ValueError("no answers to continue with")
    held = [r for r in requirements if isinstance(r, Mapping)]
    if not held:
        raise ValueError("AgentOS gave no requirements to answer (the run's RunPaused has them)")
    by_call: dict[Any, Answer] = {}
    for answer in answers:
        tools = answer.detail.get("tools") if isinstance(answer.detail, Mapping) else None
        for listed in _tools(tools):
            by_call.setdefault(listed.get("tool_call_id"), answer)
    answered = []
    for requirement in held:
        copied = copy.deepcopy(dict(requirement))
        waiting = copied.get("tool_execution")
        call = waiting.get("tool_call_id") if isinstance(waiting, Mapping) else None
        _answer_requirement(copied, by_call.get(call, answers[0]))
        answered.append(copied)
    return answered


AGNO: Protocol[AgnoState] = Protocol(
    name="agno",
    initial=AgnoState(),
    reduce=reduce_agno,
    counters=lambda state: state.counters.as_json(),
    rejected=lambda state: _bump(state, frames=1, rejected=1),
    talks_back=True,
)
"""Agno's own events (``agno.md``): workflows, agents and teams, in process or from AgentOS.
It talks back: ``FlowState.resolve`` gathers a paused run's answers into one ``Reply``, from
which :func:`continue_requirements` (a workflow) or :func:`continue_run_requirements` (an
agent or team) builds AgentOS's continue (in process: ``continue_run``)."""
