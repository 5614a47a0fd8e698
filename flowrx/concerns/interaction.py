"""Interaction concern: what a run waits for from a person, per run and flow (behaviour §6).

Rules, as a pure reducer:

* ``interaction_event`` with ``interaction_type == "oauth_authorization_required"`` → a pending
  ``oauth`` item, detail ``{service_name, auth_url, redirect_uri, state}`` (a missing key is
  ``None``). The same prompt again (same run, same ``state``) updates the item in place. Any
  other interaction type → a pending ``other`` item, detail ``{**data, "interaction_type": …}``.
* ``AgentPaused`` and Agno ``RunPaused``/``TeamRunPaused`` → a pending ``pause`` item, detail
  ``{pause_type, message, tools: [{tool_name, tool_args}], schema (user_input only)}``.
  ``pause_type`` is ``confirmation``, ``user_input``, ``external_tool`` or ``unknown`` (another
  value of ``AgentPaused.pause_type`` is shown as ``unknown``). For ``RunPaused`` it comes from
  the flags of the tools still waiting (``requires_confirmation`` not yet ``confirmed``,
  ``requires_user_input`` not yet ``answered``, ``external_execution_required`` without a
  ``result``): Agno sends every tool execution of the run, so only those are listed (all of
  them when none is flagged); the ``user_input`` schema is their ``user_input_schema`` lists
  joined.
* One pause, two frames: the platform relays Agno's ``RunPaused`` (without a node) and sends
  its own ``AgentPaused``. A pause of the same run on the same node, or where either has no
  node, is one pending pause: ``AgentPaused``'s details win whichever arrives first, the node
  is filled in once known, and the id stays. A frame pairs first with a pause of the same node,
  else with one that lacks its kind of frame, else with the first candidate (a repeat); two
  nodes paused at once in one run stay two pauses.
* :class:`~flowrx.messages.Pending` (a protocol that names its interactions, AG-UI) → a pending
  item with the id, kind, node and detail it gives; the same id again updates it in place. A
  run end whose outcome is ``paused`` keeps the run's items (it waits for its resume).
* Resolution: ``resume_start`` or Agno ``RunContinued``/``TeamRunContinued`` of a run resolves
  every pending item of **that** run (``resolved`` += n); the host's
  :class:`~flowrx.messages.ResolveInteraction` resolves one item by id (an unknown id, or a
  ``run_id`` that is not the item's, is ignored and counted nowhere). ``run_end``/
  ``resume_end`` drop the run's pending items (not counted as resolved), and a pause or prompt
  of that run arriving after it, before a resume, is late and ignored. :class:`Evict` drops
  the run and everything kept about it.
* Scoping (defect 23): every item belongs to its run. An ``interaction_event`` (or any of these
  frames carrying a ``flow_id``) whose ``flow_id`` differs from the flow's is ignored and
  counted in ``foreign``: the flow is the graph's ``flow_id`` when known, else the ``flow_id``
  first seen on that run's execution frames.
* Every change emits ``Change("interaction", "pending" | "resolved" | "dropped", run_id,
  node_id, item_id)``.

Ids are deterministic and unique among pending items: ``pause:<run_id>:<node_id or ->:<n>``,
``oauth:<run_id>:<state>`` (``oauth:<run_id>:<n>`` without a state), ``other:<run_id>:<node_id
or ->:<n>``, where ``n`` counts the items issued for the run. They are data: quotes,
backslashes or markup in run or node ids are kept as they are.

Timeline of a confirmation pause::

    RunPaused     p-------------      (no node_id; details from the tools' flags)
    AgentPaused   --a-----------      (same pause: its node and details replace RunPaused's)
    resume_start  ---------r----
    pending       ppp======|          one item, resolved at r (resolved = 1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import Change, Concern, Effect, Input
from flowrx.graph import FlowGraph
from flowrx.messages import (
    AgentPaused,
    AgnoEvent,
    Evict,
    ExecutionEvent,
    InteractionEvent,
    Message,
    Pending,
    ResolveInteraction,
)

__all__ = [
    "Interaction",
    "InteractionState",
    "interaction_concern",
    "interaction_section",
    "reduce_interaction",
]

NAME: Final = "interaction"
OAUTH: Final = "oauth_authorization_required"
PAUSE_TYPES: Final = ("confirmation", "user_input", "external_tool", "unknown")
_OAUTH_KEYS: Final = ("service_name", "auth_url", "redirect_uri", "state")
_PAUSED: Final = frozenset({"RunPaused", "TeamRunPaused"})
_CONTINUED: Final = frozenset({"RunContinued", "TeamRunContinued"})
_DROPS: Final = frozenset({"run_end", "resume_end"})
_RUN_EVENTS: Final = frozenset({"resume_start", *_DROPS})
_FROM_PLATFORM: Final = "AgentPaused"
_FROM_AGNO: Final = "RunPaused"


@attrs.frozen
class Interaction:
    """One pending item: a pause, an OAuth prompt or another interaction of one run.

    ``sources`` says which pause frames (``AgentPaused``, ``RunPaused``) it was built from.
    """

    id: str
    run_id: str
    node_id: str | None
    kind: str
    detail: Mapping[str, Any]
    sources: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        """The item as the snapshot shows it (a fresh copy; state is never shared)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "node_id": self.node_id,
            "kind": self.kind,
            "detail": _thaw(self.detail),
        }


@attrs.frozen
class InteractionState:
    """Pending items (arrival order), the resolved count, and what is kept per run."""

    pending: Mapping[str, Interaction] = attrs.field(factory=dict)
    resolved: int = 0
    foreign: int = 0
    """Interaction frames ignored because they belong to another flow."""
    late: int = 0
    """Pauses and prompts ignored because their run had ended (not resumed)."""
    flows: Mapping[str, str] = attrs.field(factory=dict)
    """The flow id first seen on each run's execution frames (used without a graph flow id)."""
    issued: Mapping[str, int] = attrs.field(factory=dict)
    """Items issued per run (the ``n`` of the ids); kept until the run is evicted."""
    ended: frozenset[str] = frozenset()
    """Runs whose ``run_end``/``resume_end`` came and no resume since."""


Step = tuple[InteractionState, tuple[Effect, ...]]


def _thaw(value: Any) -> Any:
    """A plain JSON-ready copy: mappings to dicts, sequences (not strings) to lists."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _change(what: str, item: Interaction) -> Change:
    return Change(NAME, what, item.run_id, item.node_id, item.id)


# --- details ---------------------------------------------------------------------------------


def _entries(value: object) -> list[Mapping[str, Any]]:
    """The mappings of a list (anything else in it, or a non-list, gives nothing)."""
    if not isinstance(value, list | tuple):
        return []
    return [entry for entry in value if isinstance(entry, Mapping)]


def _tool(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"tool_name": entry.get("tool_name"), "tool_args": entry.get("tool_args")}


def _waits_for(tool: Mapping[str, Any]) -> str | None:
    """What an Agno tool execution still waits for, from its flags (None: nothing)."""
    if tool.get("requires_confirmation") and tool.get("confirmed") is None:
        return "confirmation"
    if tool.get("requires_user_input") and not tool.get("answered"):
        return "user_input"
    if tool.get("external_execution_required") and tool.get("result") is None:
        return "external_tool"
    return None


def _schema_of(tools: Sequence[Mapping[str, Any]]) -> list[Any]:
    schema: list[Any] = []
    for tool in tools:
        fields = tool.get("user_input_schema")
        if isinstance(fields, list | tuple):
            schema.extend(fields)
    return schema


def _platform_pause(msg: AgentPaused) -> dict[str, Any]:
    pause_type = msg.pause_type if msg.pause_type in PAUSE_TYPES else "unknown"
    tools = _entries(msg.pause_data.get("tools"))
    detail: dict[str, Any] = {
        "pause_type": pause_type,
        "message": msg.pause_message,
        "tools": [_tool(t) for t in tools],
    }
    if pause_type == "user_input":
        schema = msg.pause_data.get("schema")
        detail["schema"] = list(schema) if isinstance(schema, list | tuple) else _schema_of(tools)
    return detail


def _agno_pause(msg: AgnoEvent) -> dict[str, Any]:
    tools = list(msg.tools)
    waiting = [(need, t) for t in tools if (need := _waits_for(t)) is not None]
    needs = {need for need, _ in waiting}
    pause_type = next((t for t in PAUSE_TYPES if t in needs), "unknown")
    shown = [t for _, t in waiting] or tools
    content = msg.content
    detail: dict[str, Any] = {
        "pause_type": pause_type,
        "message": content if isinstance(content, str) else None,
        "tools": [_tool(t) for t in shown],
    }
    if pause_type == "user_input":
        detail["schema"] = _schema_of([t for need, t in waiting if need == "user_input"])
    return detail


# --- state updates ---------------------------------------------------------------------------


def _new_id(state: InteractionState, run_id: str, prefix: str) -> tuple[InteractionState, str]:
    """The next id ``<prefix>:<n>`` of the run, unique among the pending items."""
    n = state.issued.get(run_id, 0) + 1
    while f"{prefix}:{n}" in state.pending:
        n += 1
    return evolve(state, issued=assoc(state.issued, run_id, n)), f"{prefix}:{n}"


def _where(run_id: str, node_id: str | None) -> str:
    """``<run_id>:<node_id>`` for an id, ``-`` standing for no node."""
    return f"{run_id}:{'-' if node_id is None else node_id}"


def _add(state: InteractionState, item: Interaction) -> Step:
    state = evolve(state, pending=assoc(state.pending, item.id, item))
    return state, (_change("pending", item),)


def _update(state: InteractionState, old: Interaction, new: Interaction) -> Step:
    """Replace an item in place (its position stays); a visible difference emits a change."""
    state = evolve(state, pending=assoc(state.pending, old.id, new))
    same = old.node_id == new.node_id and old.detail == new.detail
    return state, () if same else (_change("pending", new),)


def _remove(state: InteractionState, items: Sequence[Interaction], what: str) -> Step:
    if not items:
        return state, ()
    pending = dict(state.pending)
    for item in items:
        del pending[item.id]
    resolved = state.resolved + (len(items) if what == "resolved" else 0)
    state = evolve(state, pending=pending, resolved=resolved)
    return state, tuple(_change(what, item) for item in items)


def _of_run(state: InteractionState, run_id: str) -> list[Interaction]:
    return [item for item in state.pending.values() if item.run_id == run_id]


def _pause(
    state: InteractionState, run_id: str, node_id: str | None, source: str, detail: dict[str, Any]
) -> Step:
    candidates = [
        item
        for item in state.pending.values()
        if item.run_id == run_id
        and item.kind == "pause"
        and (item.node_id is None or node_id is None or item.node_id == node_id)
    ]
    target = (
        next((i for i in candidates if node_id is not None and i.node_id == node_id), None)
        or next((i for i in candidates if source not in i.sources), None)
        or (candidates[0] if candidates else None)
    )
    if target is None:
        state, item_id = _new_id(state, run_id, f"pause:{_where(run_id, node_id)}")
        return _add(
            state, Interaction(item_id, run_id, node_id, "pause", detail, frozenset({source}))
        )
    platform_wins = source == _FROM_AGNO and _FROM_PLATFORM in target.sources
    merged = evolve(
        target,
        node_id=target.node_id if target.node_id is not None else node_id,
        detail=target.detail if platform_wins else detail,
        sources=target.sources | {source},
    )
    return _update(state, target, merged)


def _interaction(state: InteractionState, msg: InteractionEvent) -> Step:
    run_id, node_id = msg.run_id, msg.node_id
    if msg.interaction_type != OAUTH:
        detail = {**msg.data, "interaction_type": msg.interaction_type}
        state, item_id = _new_id(state, run_id, f"other:{_where(run_id, node_id)}")
        return _add(state, Interaction(item_id, run_id, node_id, "other", detail))
    detail = {key: msg.data.get(key) for key in _OAUTH_KEYS}
    token = detail["state"]
    if isinstance(token, str) and token:
        item_id = f"oauth:{run_id}:{token}"
        old = state.pending.get(item_id)
        if old is None:
            return _add(state, Interaction(item_id, run_id, node_id, "oauth", detail))
        if old.run_id == run_id and old.kind == "oauth" and old.detail.get("state") == token:
            # the same prompt again: its latest details, same id and position
            node = node_id if node_id is not None else old.node_id
            return _update(state, old, evolve(old, node_id=node, detail=detail))
    state, item_id = _new_id(state, run_id, f"oauth:{run_id}")
    return _add(state, Interaction(item_id, run_id, node_id, "oauth", detail))


def _flow_of(msg: InteractionEvent | AgentPaused | AgnoEvent) -> str | None:
    return msg.flow_id


def _arrives(
    state: InteractionState,
    msg: InteractionEvent | AgentPaused | AgnoEvent,
    flow_id: str | None,
) -> Step:
    """A prompt or pause: check its flow and run, then add or merge it."""
    run_id = msg.run_id
    theirs = _flow_of(msg)
    ours = flow_id if flow_id is not None else state.flows.get(run_id)
    if theirs is not None and ours is not None and theirs != ours:
        return evolve(state, foreign=state.foreign + 1), ()
    if run_id in state.ended:
        return evolve(state, late=state.late + 1), ()
    if isinstance(msg, InteractionEvent):
        return _interaction(state, msg)
    if isinstance(msg, AgentPaused):
        return _pause(state, run_id, msg.node_id, _FROM_PLATFORM, _platform_pause(msg))
    return _pause(state, run_id, msg.node_id, _FROM_AGNO, _agno_pause(msg))


def _pending(state: InteractionState, msg: Pending) -> Step:
    """An interaction its protocol names (AG-UI): kept by its own id; the same id again
    updates the item in place."""
    if msg.run_id in state.ended:
        return evolve(state, late=state.late + 1), ()
    item = Interaction(msg.interaction_id, msg.run_id, msg.node_id, msg.kind, msg.detail)
    old = state.pending.get(item.id)
    if old is None:
        return _add(state, item)
    if old.run_id != item.run_id:  # another run's id: both stay, the newcomer apart
        state, item_id = _new_id(state, msg.run_id, f"{msg.kind}:{msg.run_id}")
        return _add(state, evolve(item, id=item_id))
    return _update(state, old, item)


def _execution(state: InteractionState, msg: ExecutionEvent, flow_id: str | None) -> Step:
    run_id = msg.run_id
    if flow_id is None and msg.flow_id is not None and run_id not in state.flows:
        state = evolve(state, flows=assoc(state.flows, run_id, msg.flow_id))
    if msg.event == "resume_start":
        if run_id in state.ended:
            state = evolve(state, ended=state.ended - {run_id})
        return _remove(state, _of_run(state, run_id), "resolved")
    if msg.event in _DROPS:
        if msg.outcome == "paused":
            return state, ()  # the run waits for a person: its items stay until its resume
        if run_id not in state.ended:
            state = evolve(state, ended=state.ended | {run_id})
        return _remove(state, _of_run(state, run_id), "dropped")
    return state, ()


def reduce_interaction(
    state: InteractionState, msg: Input, now: float, flow_id: str | None = None
) -> Step:
    """Apply one message to the pending interactions; ``flow_id`` is the graph's, if known.

    ``now`` is unused (the concern has no timers); it keeps the reducer signature of every
    concern.
    """
    if isinstance(msg, ExecutionEvent):
        return _execution(state, msg, flow_id)
    if isinstance(msg, InteractionEvent | AgentPaused):
        return _arrives(state, msg, flow_id)
    if isinstance(msg, Pending):
        return _pending(state, msg)
    if isinstance(msg, AgnoEvent):
        if msg.event in _PAUSED:
            return _arrives(state, msg, flow_id)
        if msg.event in _CONTINUED:
            return _remove(state, _of_run(state, msg.run_id), "resolved")
        return state, ()
    if isinstance(msg, ResolveInteraction):
        item = state.pending.get(msg.interaction_id)
        if item is None or (msg.run_id is not None and msg.run_id != item.run_id):
            return state, ()
        return _remove(state, (item,), "resolved")
    if isinstance(msg, Evict):
        run_id = msg.run_id
        state, effects = _remove(state, _of_run(state, run_id), "dropped")
        state = evolve(
            state,
            flows=dissoc(state.flows, run_id),
            issued=dissoc(state.issued, run_id),
            ended=state.ended - {run_id},
        )
        return state, effects
    return state, ()


def interaction_section(state: InteractionState) -> dict[str, Any]:
    """The snapshot's ``interaction`` section: pending items in arrival order, resolved count."""
    return {
        "pending": [item.as_json() for item in state.pending.values()],
        "resolved": state.resolved,
    }


def _accepts(learn_flows: bool) -> Callable[[Message], bool]:
    """Which messages the concern takes; execution frames of any kind only to learn flows."""

    def accepts(msg: Message) -> bool:
        if isinstance(msg, ExecutionEvent):
            return msg.event in _RUN_EVENTS or (learn_flows and msg.flow_id is not None)
        if isinstance(msg, AgnoEvent):
            return msg.event in _PAUSED or msg.event in _CONTINUED
        return isinstance(
            msg, InteractionEvent | AgentPaused | Pending | ResolveInteraction | Evict
        )

    return accepts


def interaction_concern(graph: FlowGraph | None = None) -> Concern[InteractionState]:
    """The interaction concern's card; ``graph`` gives the flow id that frames must match."""
    flow_id = graph.flow_id if graph is not None else None
    return Concern(
        name=NAME,
        initial=InteractionState(),
        reduce=lambda s, m, now: reduce_interaction(s, m, now, flow_id),
        accepts=_accepts(flow_id is None),
        section=interaction_section,
    )
