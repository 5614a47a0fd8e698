"""The simulator: a built-in demo flow and the frames a real platform would send for it.

``flowrx demo``, ``flowrx serve``, the tests and the benchmarks need a live-looking stream
without a backend. :func:`simulate` writes one: frames of the platform's real wire format
(execution frames, Agno chat frames with every field and the relay's additions, ``ChatHTML``,
``AgentPaused`` and ``interaction_event``), with realistic timing, for the flow of
:func:`demo_graph`. It is deterministic for a seed, so a demo, a served stream and a test see
the same frames, and it is fast enough for the benchmarks (a thousand runs, some 130,000
frames, in under a second).

The demo flow (node handles; ``[...]`` is a group)::

    play → prompt → [research: fetch_page → [cleanup: strip_html → split_chunks]]
         → model (provided) → assistant (agent; tools web_search, file_tools)
                            ∥ drive_export (a parallel branch)
         → team "Editorial team" (members researcher "Researcher", writer "Writer")
         → chat_html → route → archive          (escalate: the branch never taken)

Runs cycle through three variants, starting at ``seed % 3``, so any three consecutive runs
show everything:

* **paused**: the assistant asks to confirm ``save_file``: Agno's ``RunPaused`` (no node) and
  the platform's ``AgentPaused``; a few seconds later ``resume_start``, the assistant starts
  again with its own ``order`` (the orders after it reuse those given out before the pause),
  and the run ends with ``resume_end``, outcome success;
* **error**: ``split_chunks`` (in the inner group) ends ``error``; both groups end ``error``
  and the run's outcome is error;
* **killed**: ``drive_export`` asks for Google Drive OAuth (``interaction_event``), nobody
  answers, and it ends ``killed``; the outcome is killed.

Every run has the nested groups, the assistant's reasoning (``RunContent`` with
``reasoning_content``), a ``web_search`` tool call (tool glow on the tool node, which then
gets its own ``provided`` start and end), streamed content, the team whose members stream
interleaved chunks and whose leader delegates with ``delegate_task_to_member``, and a
``ChatHTML`` item.

Options add what real streams also carry: ``bad_frames`` inserts bad input (text that is not
JSON, a JSON array, a frame without ``event``, a bad status, a wrongly typed field, an event
name nobody knows), ``duplicates`` repeats frames verbatim right after themselves, and
``heartbeats`` adds the text ``pong`` every ~30 s. These use their own random stream, so the
real frames of a seed are the same with and without them.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from json.encoder import encode_basestring_ascii as _q
from operator import itemgetter
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable

from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.streams.replay import RecordedFrame

__all__ = [
    "DEMO_FLOW_ID",
    "DEMO_NODE_IDS",
    "demo_flow",
    "demo_graph",
    "demo_graph_json",
    "iter_simulate",
    "play",
    "simulate",
    "simulate_stream",
]

# --- the demo flow ----------------------------------------------------------------------------

_AGENT_PATH: Final = "polysynergy_nodes_agno.agno_agent.agno_agent.AgnoAgent"

#: (handle, path, category, enclosing group's handle, ``name`` variable)
_NODES: Final[tuple[tuple[str, str | None, str, str | None, str | None], ...]] = (
    ("play", "polysynergy_nodes.play.play.Play", "flow", None, None),
    ("prompt", "polysynergy_nodes.play.prompt.Prompt", "flow", None, None),
    ("research", None, "group", None, None),
    ("fetch_page", "polysynergy_nodes.http.http_request.HttpRequest", "http", "research", None),
    ("cleanup", None, "group", "research", None),
    ("strip_html", "polysynergy_nodes.string.strip_html.StripHtml", "string", "cleanup", None),
    ("split_chunks", "polysynergy_nodes.string.split_text.SplitText", "string", "cleanup", None),
    ("model", "polysynergy_nodes_agno.agno_model.openai.OpenAIChat", "agno_model", None, None),
    ("assistant", _AGENT_PATH, "agno_agent", None, "Assistant"),
    (
        "web_search",
        "polysynergy_nodes_agno.agno_tools.duckduckgo.DuckDuckGoTools",
        "agno_tools",
        None,
        None,
    ),
    (
        "file_tools",
        "polysynergy_nodes_agno.agno_tools.file_tools.FileTools",
        "agno_tools",
        None,
        None,
    ),
    ("drive_export", "polysynergy_nodes.google.drive_upload.DriveUpload", "google", None, None),
    (
        "team",
        "polysynergy_nodes_agno.agno_team.agno_team.AgnoTeam",
        "agno_team",
        None,
        "Editorial team",
    ),
    ("researcher", _AGENT_PATH, "agno_agent", None, "Researcher"),
    ("writer", _AGENT_PATH, "agno_agent", None, "Writer"),
    (
        "chat_html",
        "polysynergy_nodes_agno.chat_content.chat_html.ChatHTML",
        "chat_content",
        None,
        None,
    ),
    ("route", "polysynergy_nodes.logic.if_else.IfElse", "logic", None, None),
    ("archive", "polysynergy_nodes.storage.s3_put_object.S3PutObject", "storage", None, None),
    ("escalate", "polysynergy_nodes.email.send_email.SendEmail", "email", None, None),
)


def _uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID drawn from ``rng`` (deterministic for its seed)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _demo_ids() -> tuple[str, Mapping[str, str]]:
    rng = random.Random("flowrx demo flow/1")
    flow_id = _uuid(rng)
    return flow_id, MappingProxyType({handle: _uuid(rng) for handle, *_ in _NODES})


_DEMO_IDS: Final = _demo_ids()
DEMO_FLOW_ID: Final = _DEMO_IDS[0]
"""The demo flow's version id (what its execution frames carry as ``flow_id``)."""
DEMO_NODE_IDS: Final = _DEMO_IDS[1]
"""The demo flow's node ids by handle (read-only)."""

_QID: Final[Mapping[str, str]] = MappingProxyType(
    {handle: _q(node_id) for handle, node_id in DEMO_NODE_IDS.items()}
)


def demo_graph() -> dict[str, Any]:
    """The demo flow as a fresh ``flowrx/flow/1`` mapping (see the module docstring)."""
    nodes: list[dict[str, Any]] = []
    for handle, path, category, group, name in _NODES:
        node: dict[str, Any] = {"id": DEMO_NODE_IDS[handle], "handle": handle}
        if path is not None:
            node["path"] = path
        node["category"] = category
        if group is not None:
            node["group"] = DEMO_NODE_IDS[group]
        if name is not None:
            node["variables"] = [{"handle": "name", "value": name}]
        nodes.append(node)
    return {"flowrx": "flow/1", "flow_id": DEMO_FLOW_ID, "nodes": nodes}


def demo_graph_json() -> str:
    """The demo flow as ``flowrx/flow/1`` JSON text, as shipped in ``examples/demo.flow.json``
    (``flowrx serve --write-graph`` writes it too)."""
    return json.dumps(demo_graph(), indent=2, ensure_ascii=False) + "\n"


def demo_flow() -> FlowGraph:
    """The demo flow's :class:`~flowrx.graph.FlowGraph`."""
    return graph_from_mapping(demo_graph(), source="<demo flow>")


# --- text the models "write" ------------------------------------------------------------------

_REASONING: Final = (
    "The user wants a short brief on the release notes.",
    "I should check what changed this week before answering.",
    "A web search for the release announcement will give me the facts.",
    "Then I can summarise the three most important changes.",
    "The summary should stay under a hundred words.",
)
_ANSWER: Final = (
    "This week's release makes pipelines restart faster after a crash.",
    "Group nodes now report their own status while their members run.",
    "Tool calls show up in the editor while the agent waits for them.",
    "Paused runs can be resumed from the chat without reloading the page.",
    "The websocket client reconnects with backoff instead of spinning.",
)
_RESEARCHER: Final = (
    "The announcement lists four fixes and two new node types.",
    "Most users asked for the faster restart, according to the forum.",
    "The changelog credits three outside contributors this time.",
    "One fix closes a memory leak in long-running flows.",
)
_WRITER: Final = (
    "Here is a draft headline: Faster restarts and clearer groups.",
    "The opening paragraph leads with what users notice first.",
    "I kept the tone friendly and the sentences short.",
    "A closing line points readers to the full changelog.",
)
_LEADER: Final = (
    "The team's brief is ready: restarts are faster and groups report their status.",
    "The researcher confirmed the facts and the writer shaped the headline.",
    "I suggest publishing it with the changelog link at the end.",
)
_TASKS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "researcher": "Collect the facts about this week's release",
        "writer": "Draft a short brief about this week's release",
    }
)
_STEPS: Final[tuple[Mapping[str, Any], ...]] = tuple(
    MappingProxyType(step)
    for step in (
        {
            "title": "Split the work",
            "action": "I will ask the researcher for facts and the writer for a draft",
            "result": "Both members get a focused task",
            "reasoning": "The two tasks are independent, so they can run at the same time",
            "next_action": "continue",
            "confidence": 0.9,
        },
        {
            "title": "Merge the answers",
            "action": "I will combine the facts with the draft",
            "result": "One short brief",
            "reasoning": "The draft needs the researcher's numbers",
            "next_action": "final_answer",
            "confidence": 0.85,
        },
    )
)

# --- frame shapes (field order as Agno's dataclasses and the relay produce them) -------------

_RAW: Final = "\x00"  # a slot for a JSON value in a compiled template
_IN: Final = "\x01"  # a slot inside a JSON string of a compiled template

_EXEC: Final = (
    '{"flow_id": ' + _q(DEMO_FLOW_ID) + ', "run_id": %s, "node_id": %s, "event": "%s", '
    '"order": %d, "status": "%s"}'
)

_CONTENT_FIELDS: Final = (
    ("content_type", "str"),
    ("reasoning_content", None),
    ("model_provider_data", None),
    ("citations", None),
    ("response_audio", None),
    ("image", None),
    ("references", None),
    ("additional_input", None),
    ("reasoning_steps", None),
    ("reasoning_messages", None),
)
_COMPLETED_FIELDS: Final = (
    ("content_type", "str"),
    ("reasoning_content", None),
    ("citations", None),
    ("model_provider_data", None),
    ("images", None),
    ("videos", None),
    ("audio", None),
    ("response_audio", None),
    ("references", None),
    ("additional_input", None),
    ("reasoning_steps", None),
    ("reasoning_messages", None),
)
_TAIL_FIELDS: Final = (("metadata", None), ("metrics", None), ("session_state", None))
_TOOL_FIELDS: Final = (("tool", None), ("images", None), ("videos", None), ("audio", None))

#: Fields after the base fields, per event (a re-declared base field keeps its place).
_EXTRA: Final[Mapping[str, tuple[tuple[str, Any], ...]]] = MappingProxyType(
    {
        "RunStarted": (("model", ""), ("model_provider", "")),
        "RunContent": (("workflow_agent", False), *_CONTENT_FIELDS),
        "RunContentCompleted": (),
        "RunCompleted": (*_COMPLETED_FIELDS, *_TAIL_FIELDS),
        "RunPaused": (("requirements", None),),
        "RunContinued": (),
        "ToolCallStarted": (("tool", None),),
        "ToolCallCompleted": _TOOL_FIELDS,
        "TeamRunStarted": (("model", ""), ("model_provider", "")),
        "TeamRunContent": _CONTENT_FIELDS,
        "TeamRunContentCompleted": (),
        "TeamRunCompleted": (*_COMPLETED_FIELDS, ("member_responses", ()), *_TAIL_FIELDS),
        "TeamToolCallStarted": (("tool", None),),
        "TeamToolCallCompleted": _TOOL_FIELDS,
        "TeamReasoningStarted": (),
        "TeamReasoningStep": (("content_type", "str"), ("reasoning_content", "")),
        "TeamReasoningCompleted": (("content_type", "str"),),
    }
)
_BASE_MIDDLE: Final = (
    "workflow_id",
    "workflow_run_id",
    "step_id",
    "step_name",
    "step_index",
)


def _compile(fields: Mapping[str, Any]) -> str:
    """``fields`` as JSON text, with every sentinel turned into a ``%s`` slot (in order)."""
    text = json.dumps(fields).replace("%", "%%")
    return text.replace('"\\u0000"', "%s").replace("\\u0001", "%s")


def _metrics(duration: float, tokens: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    inp, out = tokens
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": inp + out,
        "cost": None,
        "audio_input_tokens": 0,
        "audio_output_tokens": 0,
        "audio_total_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "timer": None,
        "time_to_first_token": None,
        "duration": duration,
        "provider_metrics": None,
        "additional_metrics": None,
    }


def _tool(
    call_id: str,
    name: str,
    args: Mapping[str, Any],
    created_at: int,
    *,
    result: str | None = None,
    duration: float | None = None,
    child_run_id: str | None = None,
    requires_confirmation: bool | None = None,
    confirmed: bool | None = None,
) -> dict[str, Any]:
    """An Agno ``ToolExecution`` as the relay serialises it (every field, nulls included)."""
    done = duration is not None
    return {
        "tool_call_id": call_id,
        "tool_name": name,
        "tool_args": dict(args),
        "tool_call_error": False if done else None,
        "result": result,
        "metrics": _metrics(duration) if duration is not None else None,
        "child_run_id": child_run_id,
        "stop_after_tool_call": False,
        "created_at": created_at,
        "requires_confirmation": requires_confirmation,
        "confirmed": confirmed,
        "confirmation_note": None,
        "requires_user_input": None,
        "user_input_schema": None,
        "answered": None,
        "external_execution_required": None,
    }


@attrs.frozen
class _Speaker:
    """An Agno agent or team as it appears in the chat frames of one run."""

    handle: str
    name: str
    role: str  # single | leader | member
    session_id: str
    agno_run_id: str
    model: str
    parent_run_id: str | None = None
    member_index: int | None = None

    @property
    def team(self) -> bool:
        return self.role == "leader"


_Event: TypeAlias = tuple[float, int, Any]  # (t, kind, payload)
_PLAIN: Final = 0  # payload: the frame's text
_CHAT: Final = 1  # payload: (template, args); the relay's sequence_id is filled in at the end
_RESUME: Final = 2  # a resume_start frame: the relay's counter starts again after it


def _words(sentences: tuple[str, ...]) -> list[str]:
    return " ".join(sentences).split(" ")


class _Run:
    """Builds one run's events; parallel branches append out of time order, sorted at the end."""

    def __init__(
        self, rng: random.Random, pace: float, run_id: str, epoch: float, templates: _Templates
    ) -> None:
        self.rng = rng
        self.templates = templates
        self.pace = pace
        self.run_id = run_id
        self.q_run = _q(run_id)
        self.epoch = epoch
        self.events: list[_Event] = []

    # timing
    def d(self, low: float, high: float) -> float:
        """A duration in ``[low, high)`` seconds, scaled by the pace."""
        return self.rng.uniform(low, high) * self.pace

    def gap(self) -> float:
        """The node runner's pause between one node's end and the next start."""
        return self.rng.uniform(0.0001, 0.002) * self.pace

    def created(self, t: float) -> int:
        return int(self.epoch + t)

    def new_id(self) -> str:
        return _uuid(self.rng)

    def call_id(self) -> str:
        """A model's tool-call id (OpenAI style)."""
        return f"call_{self.rng.getrandbits(96):024x}"

    # execution frames
    def exec(
        self,
        t: float,
        event: str,
        handle: str | None = None,
        order: int = -1,
        status: str = "running",
    ) -> None:
        node = _QID[handle] if handle is not None else "null"
        kind = _RESUME if event == "resume_start" else _PLAIN
        self.events.append((t, kind, _EXEC % (self.q_run, node, event, order, status)))

    def node(
        self, t: float, handle: str, order: int, runtime: float, status: str = "success"
    ) -> float:
        """A node's start and end; the time the next node starts."""
        self.exec(t, "start_node", handle, order)
        end = t + runtime
        self.exec(end, "end_node", handle, order, status)
        return end + self.gap()

    def platform(self, t: float, fields: Mapping[str, Any]) -> None:
        self.events.append((t, _PLAIN, json.dumps(fields)))

    # chat frames
    def _pre(self, who: _Speaker, values: tuple[Any, ...]) -> tuple[str, ...]:
        """The per-frame slot values of a chat template, after ``created_at``."""
        dumped = tuple(_q(v) if type(v) is str else json.dumps(v) for v in values)
        if who.parent_run_id is not None:
            return (self.q_run, _q(who.parent_run_id), _q(who.session_id), *dumped)
        return (self.q_run, _q(who.session_id), *dumped)

    def chat(
        self,
        t: float,
        who: _Speaker,
        event: str,
        values: Mapping[str, Any] | None = None,
        *,
        with_node: bool = True,
    ) -> None:
        """An Agno event of ``who`` as relayed (``with_node=False``: the relay sends no node)."""
        values = values or {}
        template, slots = self.templates.chat(who, event, tuple(values), with_node)
        pre = self._pre(who, tuple(values[key] for key in slots))
        self.events.append((t, _CHAT, (template, pre)))

    def html(self, t: float, handle: str, html: str) -> None:
        """A ``ChatHTML`` frame of the node ``handle``."""
        self.events.append((t, _CHAT, (self.templates.html(handle), (_q(html), self.q_run))))

    def stream(
        self, t: float, who: _Speaker, words: list[str], *, reasoning: bool = False
    ) -> float:
        """Streamed ``RunContent`` chunks of 1-3 words every 20-60 ms; the time after the last."""
        event = "TeamRunContent" if who.team else "RunContent"
        slot = "reasoning_content" if reasoning else "content"
        template, _ = self.templates.chat(who, event, (slot,), True, reasoning=reasoning)
        head = self._pre(who, ())
        random = self.rng.random
        pace = self.pace
        events = self.events
        i = 0
        while i < len(words):
            n = 1 + int(random() * 3)
            piece = " ".join(words[i : i + n])
            i += n
            if i < len(words):
                piece += " "
            t += (0.02 + random() * 0.04) * pace
            events.append((t, _CHAT, (template, (*head, _q(piece)))))
        return t

    def text(self, pool: tuple[str, ...], count: int) -> list[str]:
        """``count`` sentences of ``pool``, as words."""
        return _words(tuple(self.rng.sample(pool, count)))

    def finish(self) -> list[tuple[float, str]]:
        """The run's frames in time order, with the relay's per-run counter filled in."""
        self.events.sort(key=itemgetter(0))
        out: list[tuple[float, str]] = []
        seq = 0
        epoch = self.epoch
        run_id = self.run_id
        for t, kind, payload in self.events:
            if kind == _CHAT:
                seq += 1
                template, pre = payload
                micro = epoch + t
                out.append((t, template % (int(micro), *pre, seq, repr(micro), run_id, seq)))
            else:
                if kind == _RESUME:
                    seq = 0
                out.append((t, payload))
        return out


class _Templates:
    """Compiled chat-frame templates, shared by the runs of one :func:`simulate` call.

    A template is the frame's JSON text with ``%s`` slots, in order: ``created_at``, the run
    id, the parent run id (members only), the session id, the given values, then the relay's
    ``sequence_id``, ``microtime`` and ``message_id`` (run id and sequence). Compiling costs a
    ``json.dumps``; filling one in costs a ``%``.
    """

    def __init__(self) -> None:
        self._chat: dict[tuple[Any, ...], tuple[str, tuple[str, ...]]] = {}
        self._html: dict[str, str] = {}

    def chat(
        self,
        who: _Speaker,
        event: str,
        slots: tuple[str, ...],
        with_node: bool,
        *,
        reasoning: bool | None = None,
    ) -> tuple[str, tuple[str, ...]]:
        """The template of ``event`` by ``who`` with ``slots`` filled per frame, and the slots
        in the order the template wants their values.

        ``reasoning`` (streamed chunks only) fixes the other half of a chunk: a reasoning
        chunk has ``content`` null, a content chunk ``reasoning_content`` empty.
        """
        key = (who.handle, event, frozenset(slots), with_node, reasoning)
        found = self._chat.get(key)
        if found is None:
            fields = self._fields(who, event, slots, with_node, reasoning)
            ordered = tuple(name for name in fields if name in slots)
            found = self._chat[key] = (_compile(fields), ordered)
        return found

    def html(self, handle: str) -> str:
        """The template of a ``ChatHTML`` frame of ``handle`` (it has no ``created_at``)."""
        template = self._html.get(handle)
        if template is None:
            fields = {
                "event": "ChatHTML",
                "html_content": _RAW,
                "run_id": _RAW,
                "node_id": DEMO_NODE_IDS[handle],
                "sequence_id": _RAW,
                "microtime": _RAW,
                "message_id": f"msg_{_IN}_{_IN}",
                "agent_role": "single",
                "is_member_agent": False,
            }
            # "%.0s" takes the created_at that every chat template starts with, and prints nothing
            template = self._html[handle] = "%.0s" + _compile(fields)
        return template

    @staticmethod
    def _fields(
        who: _Speaker,
        event: str,
        slots: tuple[str, ...],
        with_node: bool,
        reasoning: bool | None,
    ) -> dict[str, Any]:
        node_id = DEMO_NODE_IDS[who.handle]
        fields: dict[str, Any] = {"created_at": _RAW, "event": event}
        if who.team:
            fields["team_id"] = node_id
            fields["team_name"] = who.name
        else:
            fields["agent_id"] = node_id
            fields["agent_name"] = who.name
        fields["run_id"] = _RAW
        fields["parent_run_id"] = None if who.parent_run_id is None else _RAW
        fields["session_id"] = _RAW
        for key in _BASE_MIDDLE:
            fields[key] = None
        if not who.team:
            fields["tools"] = None
        fields["content"] = None
        fields.update(_EXTRA[event])
        if reasoning is False:
            fields["reasoning_content"] = ""
        for key in slots:
            if key not in fields:
                raise KeyError(f"{event} has no field {key!r}")
            fields[key] = _RAW
        fields["node_id"] = node_id if with_node else None
        fields["sequence_id"] = _RAW
        fields["microtime"] = _RAW
        fields["message_id"] = f"msg_{_IN}_{_IN}"
        fields["agent_role"] = who.role
        fields["is_member_agent"] = who.role == "member"
        if who.role == "member":
            fields["parent_team_id"] = DEMO_NODE_IDS["team"]
            fields["member_index"] = who.member_index
        return fields


@attrs.frozen
class _Setting:
    """What every run of one :func:`simulate` call shares."""

    pace: float
    epoch: float  # the wall-clock time (Unix seconds) at t = 0, for created_at and microtime
    people: tuple[str, str]  # tenant and user ids of interaction events
    templates: _Templates


_HAPPY, _ERROR, _KILLED = 0, 1, 2


def _call_text(name: str, args: Mapping[str, Any], took: float) -> str:
    """The text Agno puts in a completed tool call's ``content``."""
    shown = ", ".join(f"{key}={value}" for key, value in args.items())
    return f"{name}({shown}) completed in {took:.4f}s. "


def _agent(run: _Run, t: float, order: int, variant: int) -> tuple[float, float]:
    """The assistant from its start_node: when the next node starts, and when it paused (or -1)."""
    rng = run.rng
    agent = _Speaker("assistant", "Assistant", "single", run.new_id(), run.new_id(), "o4-mini")
    run.exec(t, "start_node", "assistant", order)
    began = t
    t += run.d(0.002, 0.008)
    run.chat(t, agent, "RunStarted", {"model": agent.model, "model_provider": "OpenAI"})
    thinking = run.text(_REASONING, 2)
    t = run.stream(t + run.d(0.15, 0.5), agent, thinking, reasoning=True)
    # a web search, glowing on the tool node
    query = rng.choice(("weekly release notes", "release announcement", "changelog this week"))
    args = {"query": query, "max_results": 5}
    call = run.call_id()
    t += run.d(0.05, 0.2)
    run.chat(
        t,
        agent,
        "ToolCallStarted",
        {"tool": _tool(call, "duckduckgo_search", args, run.created(t))},
    )
    run.exec(t + run.d(0.001, 0.003), "start_tool", "web_search")
    took = run.d(0.05, 3.0)
    t += took
    run.exec(t, "end_tool", "web_search")
    t += run.d(0.0005, 0.002)
    link = f"https://example.com/releases/{rng.randint(100, 999)}"
    result = json.dumps([{"title": "Release notes", "href": link}])
    done = _tool(call, "duckduckgo_search", args, run.created(t), result=result, duration=took)
    run.chat(
        t,
        agent,
        "ToolCallCompleted",
        {"tool": done, "content": _call_text("duckduckgo_search", args, took)},
    )
    pause = -1.0
    if variant == _HAPPY:
        save_args = {"file_name": "reports/weekly.md", "overwrite": True}
        save_call = run.call_id()
        t += run.d(0.01, 0.04)
        ask = _tool(save_call, "save_file", save_args, run.created(t), requires_confirmation=True)
        run.chat(t, agent, "RunPaused", {"tools": [ask]}, with_node=False)
        t += run.d(0.001, 0.005)
        run.platform(
            t,
            {
                "event": "AgentPaused",
                "run_id": run.run_id,
                "node_id": DEMO_NODE_IDS["assistant"],
                "pause_type": "confirmation",
                "pause_message": "Confirm running save_file(file_name=reports/weekly.md)?",
                "pause_data": {"tools": [{"tool_name": "save_file", "tool_args": save_args}]},
            },
        )
        pause = t
        # a person reads the prompt and confirms; the node runner resumes the same run
        t += run.d(1.5, 4.0)
        run.exec(t, "resume_start")
        t += run.d(0.01, 0.03)
        run.exec(t, "start_node", "assistant", order)  # the resumed node keeps its order
        t += run.d(0.002, 0.008)
        run.chat(t, agent, "RunContinued")
        t += run.d(0.001, 0.004)
        confirmed = _tool(
            save_call,
            "save_file",
            save_args,
            run.created(t),
            requires_confirmation=True,
            confirmed=True,
        )
        run.chat(t, agent, "ToolCallStarted", {"tool": confirmed})
        run.exec(t + run.d(0.001, 0.003), "start_tool", "file_tools")
        took = run.d(0.05, 0.4)
        t += took
        run.exec(t, "end_tool", "file_tools")
        t += run.d(0.0005, 0.002)
        saved = _tool(
            save_call,
            "save_file",
            save_args,
            run.created(t),
            result="reports/weekly.md",
            duration=took,
            requires_confirmation=True,
            confirmed=True,
        )
        run.chat(
            t,
            agent,
            "ToolCallCompleted",
            {"tool": saved, "content": _call_text("save_file", save_args, took)},
        )
    answer = run.text(_ANSWER, 3)
    t = run.stream(t + run.d(0.15, 0.4), agent, answer)
    t += run.d(0.0005, 0.002)
    run.chat(t, agent, "RunContentCompleted", with_node=False)
    t += run.d(0.0005, 0.002)
    full = " ".join(answer)
    run.chat(
        t,
        agent,
        "RunCompleted",
        {
            "content": full,
            "reasoning_content": " ".join(thinking),
            "metrics": _metrics(t - began, (rng.randint(800, 2400), len(answer) * 2)),
            "session_state": {
                "current_session_id": agent.session_id,
                "current_run_id": agent.agno_run_id,
            },
        },
    )
    t += run.d(0.003, 0.01)
    run.exec(t, "end_node", "assistant", order, "success")
    return t + run.gap(), pause


def _team(run: _Run, t: float, order: int) -> float:
    """The team node: leader reasoning, two members streaming in parallel, the leader's answer."""
    rng = run.rng
    session = run.new_id()
    leader = _Speaker("team", "Editorial team", "leader", session, run.new_id(), "gpt-4.1")
    members = [
        _Speaker(
            handle, name, "member", session, run.new_id(), "gpt-4.1-mini", leader.agno_run_id, i
        )
        for i, (handle, name) in enumerate((("researcher", "Researcher"), ("writer", "Writer")))
    ]
    run.exec(t, "start_node", "team", order)
    t += run.d(0.002, 0.008)
    run.chat(t, leader, "TeamRunStarted", {"model": leader.model, "model_provider": "OpenAI"})
    t += run.d(0.1, 0.3)
    run.chat(t, leader, "TeamReasoningStarted")
    steps = [dict(step) for step in _STEPS]
    for step in steps:
        t += run.d(0.15, 0.4)
        run.chat(t, leader, "TeamReasoningStep", {"content": step, "content_type": "ReasoningStep"})
    t += run.d(0.01, 0.05)
    run.chat(
        t,
        leader,
        "TeamReasoningCompleted",
        {"content": {"reasoning_steps": steps}, "content_type": "ReasoningSteps"},
    )
    # delegate to both members at once; they stream in parallel, interleaved
    ends: list[float] = []
    for member, pool in zip(members, (_RESEARCHER, _WRITER), strict=True):
        task = _TASKS[member.handle]
        args = {"member_id": DEMO_NODE_IDS[member.handle], "task": task}
        call = run.call_id()
        t += run.d(0.002, 0.01)
        begun = t
        run.chat(
            t,
            leader,
            "TeamToolCallStarted",
            {"tool": _tool(call, "delegate_task_to_member", args, run.created(t))},
            with_node=False,
        )
        m = t + run.d(0.001, 0.003)
        run.exec(m, "start_tool_or_member", member.handle)
        m += run.d(0.005, 0.02)
        run.chat(m, member, "RunStarted", {"model": member.model, "model_provider": "OpenAI"})
        words = run.text(pool, 2)
        m = run.stream(m + run.d(0.15, 0.4), member, words)
        m += run.d(0.0005, 0.002)
        run.chat(m, member, "RunContentCompleted", with_node=False)
        m += run.d(0.0005, 0.002)
        content = " ".join(words)
        run.chat(
            m,
            member,
            "RunCompleted",
            {
                "content": content,
                "metrics": _metrics(m - begun, (rng.randint(300, 900), len(words))),
                "session_state": {
                    "current_session_id": session,
                    "current_run_id": member.agno_run_id,
                },
            },
        )
        m += run.d(0.001, 0.004)
        run.exec(m, "end_tool_or_member", member.handle)
        m += run.d(0.0005, 0.002)
        done = _tool(
            call,
            "delegate_task_to_member",
            args,
            run.created(m),
            result=content,
            duration=m - begun,
            child_run_id=member.agno_run_id,
        )
        run.chat(
            m, leader, "TeamToolCallCompleted", {"tool": done, "content": content}, with_node=False
        )
        ends.append(m)
    answer = run.text(_LEADER, 2)
    started = t
    t = run.stream(max(ends) + run.d(0.15, 0.4), leader, answer)
    t += run.d(0.0005, 0.002)
    run.chat(t, leader, "TeamRunContentCompleted", with_node=False)
    t += run.d(0.0005, 0.002)
    run.chat(
        t,
        leader,
        "TeamRunCompleted",
        {
            "content": " ".join(answer),
            "metrics": _metrics(t - started, (rng.randint(1200, 3000), len(answer) * 2)),
            "session_state": {"current_session_id": session, "current_run_id": leader.agno_run_id},
        },
    )
    t += run.d(0.003, 0.01)
    run.exec(t, "end_node", "team", order, "success")
    return t + run.gap()


_HTML: Final = (
    "<h3>Weekly brief</h3><p>{n} changes this week. "
    '<a href="https://example.com/releases">Full changelog</a></p>',
    "<h3>Weekly brief</h3><p>Published with errors: {n} sections were skipped.</p>",
    "<h3>Weekly brief</h3><p>{n} changes this week.</p>"
    '<button onclick="retryExport()">Retry the Drive export</button>',
)


def _run(
    rng: random.Random, setting: _Setting, t: float, variant: int
) -> tuple[str, list[tuple[float, str]]]:
    """One run of the demo flow from ``t``: its run id and its frames in time order."""
    run = _Run(rng, setting.pace, _uuid(rng), setting.epoch, setting.templates)
    node = run.node
    d = run.d
    run.exec(t, "run_start")
    t += d(0.02, 0.06)
    order = 0
    t = node(t, "play", order, d(0.005, 0.02))
    t = node(t, "prompt", order + 1, d(0.005, 0.02))
    # the nested groups: the group nodes' own start and end surround their members
    research, cleanup = order + 2, order + 4
    failed = variant == _ERROR
    run.exec(t, "start_node", "research", research)
    t = node(t + run.gap(), "fetch_page", order + 3, d(0.15, 0.6))
    run.exec(t, "start_node", "cleanup", cleanup)
    t = node(t + run.gap(), "strip_html", order + 5, d(0.01, 0.04))
    t = node(t, "split_chunks", order + 6, d(0.01, 0.04), "error" if failed else "success")
    run.exec(t, "end_node", "cleanup", cleanup, "error" if failed else "success")
    t += run.gap()
    run.exec(t, "end_node", "research", research, "error" if failed else "success")
    t += run.gap()
    t = node(t, "model", order + 7, d(0.003, 0.01), "provided")
    # the assistant, with drive_export on a parallel branch
    agent_order = order + 8
    export_order = order + 9
    export_start = t + d(0.001, 0.004)
    t, pause = _agent(run, t, agent_order, variant)
    # after a resume the node runner counts on from the resumed node: the next node gets the
    # order that drive_export had before the pause
    order = agent_order + 1 if pause >= 0 else export_order + 1
    run.exec(export_start, "start_node", "drive_export", export_order)
    if variant == _KILLED:
        asked = export_start + d(0.02, 0.08)
        state = f"{rng.getrandbits(128):032x}"
        tenant, user = setting.people
        run.platform(
            asked,
            {
                "type": "interaction_event",
                "flow_id": DEMO_FLOW_ID,
                "run_id": run.run_id,
                "node_id": DEMO_NODE_IDS["drive_export"],
                "interaction_type": "oauth_authorization_required",
                "data": {
                    "service_name": "Google Drive",
                    "auth_url": "https://accounts.google.com/o/oauth2/v2/auth?client_id=demo"
                    f"&scope=drive.file&state={state}",
                    "redirect_uri": "https://app.example.com/api/v1/oauth/callback",
                    "state": state,
                },
                "tenant_id": tenant,
                "user_id": user,
            },
        )
        export_end = asked + d(1.0, 2.5)
        run.exec(export_end, "end_node", "drive_export", export_order, "killed")
    else:
        export_end = export_start + d(0.2, 0.6)
        if pause >= 0:
            export_end = min(export_end, pause - 0.001 * run.pace)
        run.exec(export_end, "end_node", "drive_export", export_order, "success")
    # the tools the agent used are provided nodes: they start and end after it
    t = node(t, "web_search", order, d(0.003, 0.01), "provided")
    t = node(t, "file_tools", order + 1, d(0.003, 0.01), "provided")
    t = _team(run, t, order + 2)
    t = node(t, "researcher", order + 3, d(0.003, 0.01), "provided")
    t = node(t, "writer", order + 4, d(0.003, 0.01), "provided")
    run.exec(t, "start_node", "chat_html", order + 5)
    html = _HTML[variant].format(n=rng.randint(3, 9))
    run.html(t + d(0.001, 0.003), "chat_html", html)
    t += d(0.005, 0.02)
    run.exec(t, "end_node", "chat_html", order + 5, "success")
    t += run.gap()
    t = node(t, "route", order + 6, d(0.002, 0.01))
    t = node(t, "archive", order + 7, d(0.02, 0.08))
    t = max(t, export_end) + d(0.003, 0.01)
    run.exec(t, "resume_end" if pause >= 0 else "run_end")
    return run.run_id, run.finish()


# --- bad input --------------------------------------------------------------------------------

_BAD_KINDS: Final = ("not_json", "array", "no_event", "bad_status", "wrong_type", "unknown_event")


def _bad_frame(noise: random.Random, run_id: str, near: str, epoch: float, t: float) -> str:
    """One piece of bad input of the kinds real streams carry (see wire-protocol.md)."""
    kind = noise.choice(_BAD_KINDS)
    handle = noise.choice(_NODES)[0]
    if kind == "not_json":
        return noise.choice(
            (
                near[: max(1, len(near) // 2)],
                "Internal Server Error",
                "<html><body>502 Bad Gateway</body></html>",
            )
        )
    if kind == "array":
        return "[" + near + "]"
    if kind == "no_event":
        return json.dumps({"run_id": run_id, "node_id": DEMO_NODE_IDS[handle], "status": "running"})
    if kind == "bad_status":
        return json.dumps(
            {
                "flow_id": DEMO_FLOW_ID,
                "run_id": run_id,
                "node_id": DEMO_NODE_IDS[handle],
                "event": "end_node",
                "order": noise.randint(0, 20),
                "status": noise.choice(("Success!", "ERROR 500", "")),
            }
        )
    if kind == "wrong_type":
        return json.dumps(
            {
                "flow_id": DEMO_FLOW_ID,
                "run_id": run_id,
                "node_id": DEMO_NODE_IDS[handle],
                "event": "start_node",
                "order": str(noise.randint(0, 20)),
                "status": "running",
            }
        )
    # an event name Agno added after this client was written
    return json.dumps(
        {
            "created_at": int(epoch + t),
            "event": noise.choice(("CompressionStarted", "TeamCompressionCompleted")),
            "agent_id": DEMO_NODE_IDS["assistant"],
            "agent_name": "Assistant",
            "run_id": run_id,
            "node_id": DEMO_NODE_IDS["assistant"],
            "microtime": epoch + t,
            "agent_role": "single",
            "is_member_agent": False,
        }
    )


def _noisy(
    real: Iterator[tuple[float, str, str]],
    noise: random.Random,
    epoch: float,
    bad_frames: float,
    duplicates: float,
    heartbeats: bool,
) -> Iterator[tuple[float, str]]:
    """The real frames with duplicates, bad input and heartbeats inserted between them (one
    frame of look-ahead: the next frame's time bounds where an insertion goes)."""
    next_pong = 30.0 + noise.uniform(-1.0, 1.0)
    current = next(real, None)
    while current is not None:
        t, text, run_id = current
        after = next(real, None)
        while heartbeats and next_pong <= t:
            yield (next_pong, "pong")
            next_pong += 30.0 + noise.uniform(-1.0, 1.0)
        yield (t, text)
        following = after[0] if after is not None else t + 0.002
        between = t + min(0.001, (following - t) / 2)
        if duplicates and noise.random() < duplicates:
            yield (between, text)
        if bad_frames and noise.random() < bad_frames:
            yield (between, _bad_frame(noise, run_id, text, epoch, t))
        current = after


# --- public API -------------------------------------------------------------------------------


def _fraction(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction from 0 to 1, got {value}")
    return value


def iter_simulate(
    runs: int | None = 1,
    *,
    seed: int = 0,
    bad_frames: float = 0.0,
    duplicates: float = 0.0,
    pace: float = 1.0,
    heartbeats: bool = False,
) -> Iterator[RecordedFrame]:
    """:func:`simulate`'s frames, made one run at a time as they are taken (``runs=None``: an
    endless stream). The first frame is ready as soon as the first run is written, so a demo
    starts at once however many runs it will play; what is not taken is never made."""
    if runs is not None and runs < 0:
        raise ValueError(f"runs must not be negative, got {runs}")
    if not pace > 0:
        raise ValueError(f"pace must be positive, got {pace}")
    _fraction("bad_frames", bad_frames)
    _fraction("duplicates", duplicates)
    return _frames(runs, seed, bad_frames, duplicates, pace, heartbeats)


def _frames(
    runs: int | None,
    seed: int,
    bad_frames: float,
    duplicates: float,
    pace: float,
    heartbeats: bool,
) -> Iterator[RecordedFrame]:
    rng = random.Random(seed)
    epoch = 1_767_225_600.0 + rng.uniform(0, 30 * 86_400)  # some moment of January 2026
    setting = _Setting(pace, epoch, (_uuid(rng), _uuid(rng)), _Templates())

    def real() -> Iterator[tuple[float, str, str]]:
        t = 0.0
        index = 0
        while runs is None or index < runs:
            run_id, frames = _run(rng, setting, t, (seed + index) % 3)
            for at, text in frames:
                yield (at, text, run_id)
            t = frames[-1][0] + rng.uniform(0.3, 0.7) * pace
            index += 1

    timed: Iterator[tuple[float, str]]
    if bad_frames or duplicates or heartbeats:
        noise = random.Random(f"flowrx simulate noise {seed}")
        timed = _noisy(real(), noise, epoch, bad_frames, duplicates, heartbeats)
    else:
        timed = ((at, text) for at, text, _ in real())
    for at, text in timed:
        yield RecordedFrame(round(at, 6), text)


def simulate(
    runs: int = 1,
    *,
    seed: int = 0,
    bad_frames: float = 0.0,
    duplicates: float = 0.0,
    pace: float = 1.0,
    heartbeats: bool = False,
) -> list[RecordedFrame]:
    """Frames of ``runs`` runs of the demo flow, one after another, as a recording.

    Deterministic for ``seed`` (the same seed gives the same list). ``t`` starts at 0 and
    never decreases. Node runtimes are tens of milliseconds (an HTTP fetch a few hundred),
    streamed chunks come every 20-60 ms, tool calls take 0.05-3 s, a paused run waits
    1.5-4 s for its confirmation and runs are ~0.5 s apart; ``pace`` scales all of these
    (2.0 is half as fast). ``bad_frames`` and ``duplicates`` are the fractions of real frames
    followed by a piece of bad input or by a verbatim repeat; ``heartbeats`` adds ``pong``
    every ~30 s of stream time. :func:`iter_simulate` makes the same frames lazily.
    """
    return list(
        iter_simulate(
            runs,
            seed=seed,
            bad_frames=bad_frames,
            duplicates=duplicates,
            pace=pace,
            heartbeats=heartbeats,
        )
    )


def play(
    frames: Callable[[], Iterable[RecordedFrame]],
    scheduler: abc.SchedulerBase,
    speed: float = 1.0,
) -> Observable[str | bytes]:
    """Like :func:`~flowrx.streams.replay.replay`, but taking the frames one at a time from a
    fresh ``frames()`` per subscription, as they fall due: an endless or long lazy stream plays
    without being made first. Frames must come in time order (as :func:`iter_simulate`'s do).
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")

    def subscribe(
        observer: abc.ObserverBase[str | bytes], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        start = scheduler.now
        items = iter(frames())
        serial = SerialDisposable()  # one slot for the next step, as replay has

        def due(frame: RecordedFrame) -> Any:
            return start + scheduler.to_timedelta(frame.t / speed)

        def emit(sched: abc.SchedulerBase, state: Any) -> None:
            frame: RecordedFrame | None = state
            while frame is not None:
                observer.on_next(frame.data)
                following = next(items, None)
                if following is not None and following.t > frame.t:
                    serial.disposable = sched.schedule_absolute(due(following), emit, following)
                    return
                frame = following
            observer.on_completed()

        first = next(items, None)
        if first is None:
            observer.on_completed()
            return serial
        serial.disposable = scheduler.schedule_absolute(due(first), emit, first)
        return serial

    return reactivex.create(subscribe)


def simulate_stream(
    scheduler: abc.SchedulerBase,
    runs: int | None = 1,
    *,
    seed: int = 0,
    speed: float = 1.0,
    bad_frames: float = 0.0,
    duplicates: float = 0.0,
    pace: float = 1.0,
    heartbeats: bool = False,
) -> Observable[str | bytes]:
    """:func:`simulate`'s frames played on ``scheduler`` (``speed`` as for replay), made as they
    fall due (:func:`iter_simulate`, :func:`play`); ``runs=None`` plays forever."""

    def frames() -> Iterator[RecordedFrame]:
        return iter_simulate(
            runs,
            seed=seed,
            bad_frames=bad_frames,
            duplicates=duplicates,
            pace=pace,
            heartbeats=heartbeats,
        )

    frames()  # bad arguments are refused here, not at subscription
    return play(frames, scheduler, speed)
