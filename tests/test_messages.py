"""Tests for flowrx.messages.parse: every frame family, every kind of bad input, never raising."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrx.messages import (
    AGNO_EVENTS,
    EXECUTION_EVENTS,
    MAX_DEPTH,
    AgentPaused,
    AgnoEvent,
    ChatHTML,
    ExecutionEvent,
    Heartbeat,
    InteractionEvent,
    Rejected,
    Unknown,
    parse,
)

FLOW = "11111111-2222-4333-8444-555555555555"
RUN = "0e000000-0000-4000-8000-000000000001"
NODE = "a0000000-0000-4000-8000-000000000005"
AGENT = "b0000000-0000-4000-8000-000000000002"

RESULT_TYPES = (
    ExecutionEvent,
    AgnoEvent,
    ChatHTML,
    AgentPaused,
    InteractionEvent,
    Unknown,
    Heartbeat,
    Rejected,
)

# Ids that must survive as data: quotes, backslashes, markup, unicode.
NASTY_IDS = [
    'a"b',
    "a'b",
    "back\\slash",
    "<script>alert(1)</script>",
    "</div><img src=x onerror=alert(1)>",
    'node[data-id="x"]',
    "\u00e9\u4e2d\U0001f600",
    "line\nbreak",
]


def execution(event: str, **fields: Any) -> dict[str, Any]:
    """An execution frame as the node runner sends it (fields override the defaults)."""
    frame: dict[str, Any] = {
        "flow_id": FLOW,
        "run_id": RUN,
        "node_id": NODE,
        "event": event,
        "order": 5,
        "status": "running",
    }
    if event in ("run_start", "run_end", "resume_start", "resume_end"):
        frame.update(node_id=None, order=-1)
    if event in ("start_tool", "end_tool", "start_tool_or_member", "end_tool_or_member"):
        frame.update(order=-1)
    frame.update(fields)
    return frame


def agno(event: str = "RunContent", **fields: Any) -> dict[str, Any]:
    """An Agno event as relayed by an agent node, all fields present (nulls included)."""
    frame: dict[str, Any] = {
        "created_at": 1795818775,
        "event": event,
        "agent_id": AGENT,
        "agent_name": "harness agent",
        "run_id": RUN,
        "parent_run_id": None,
        "session_id": "849d0000",
        "content": "The tool ",
        "content_type": "str",
        "reasoning_content": None,
        "node_id": AGENT,
        "sequence_id": 4,
        "microtime": 1795818775.873,
        "message_id": f"msg_{RUN}_4",
        "agent_role": "single",
        "is_member_agent": False,
    }
    frame.update(fields)
    return frame


def chat_html(**fields: Any) -> dict[str, Any]:
    """A ChatHTML platform frame."""
    frame: dict[str, Any] = {
        "event": "ChatHTML",
        "html_content": "<p>hi</p><script>alert(1)</script>",
        "run_id": RUN,
        "node_id": NODE,
        "sequence_id": 1,
        "microtime": 1795818742.30,
        "message_id": f"msg_{RUN}_1",
        "agent_role": "single",
        "is_member_agent": False,
    }
    frame.update(fields)
    return frame


def agent_paused(**fields: Any) -> dict[str, Any]:
    """An AgentPaused platform frame (confirmation)."""
    frame: dict[str, Any] = {
        "event": "AgentPaused",
        "run_id": RUN,
        "node_id": NODE,
        "pause_type": "confirmation",
        "pause_message": "Confirm deleting /tmp/x?",
        "pause_data": {"tools": [{"tool_name": "delete_file", "tool_args": {"path": "/tmp/x"}}]},
    }
    frame.update(fields)
    return frame


def interaction(**fields: Any) -> dict[str, Any]:
    """An interaction_event platform frame (no event key; recognised by type)."""
    frame: dict[str, Any] = {
        "type": "interaction_event",
        "flow_id": FLOW,
        "run_id": RUN,
        "node_id": NODE,
        "interaction_type": "oauth_authorization_required",
        "data": {
            "service_name": "Google",
            "auth_url": "https://accounts.example/auth",
            "redirect_uri": "https://app.example/cb",
            "state": "xyz",
        },
        "tenant_id": "t1",
        "user_id": "u1",
    }
    frame.update(fields)
    return frame


def text(frame: object) -> str:
    """A frame as the socket delivers it: one JSON text."""
    return json.dumps(frame)


def rejected(frame: object) -> Rejected:
    """Parse a frame that must be rejected and return the rejection."""
    result = parse(frame)
    assert isinstance(result, Rejected), result
    return result


REAL_FRAMES: list[dict[str, Any]] = [
    execution("run_start"),
    execution("run_end"),
    execution("resume_start"),
    execution("resume_end"),
    execution("start_node", order=0),
    execution("end_node", order=0, status="success"),
    execution("end_node", order=3, status="provided"),
    execution("start_tool"),
    execution("end_tool"),
    execution("start_tool_or_member"),
    execution("end_tool_or_member"),
    agno("RunContent"),
    agno("RunContent", content=None, reasoning_content="thinking..."),
    agno("RunCompleted", content="The tool said hi."),
    agno("RunContentCompleted", node_id=None),
    agno(
        "ToolCallCompleted",
        tool={
            "tool_call_id": "call_1",
            "tool_name": "get_weather",
            "tool_args": {"city": "Paris"},
            "result": "sunny",
            "tool_call_error": False,
            "metrics": {"duration": 0.01},
            "child_run_id": None,
            "requires_confirmation": None,
        },
    ),
    agno(
        "RunContent",
        is_member_agent=True,
        agent_role="member",
        parent_team_id="team-1",
        member_index=1,
    ),
    agno("TeamRunContent", team_id="team-1", agent_role="leader", agent_id=None),
    agno(
        "ReasoningStep",
        content={
            "title": "t",
            "action": "a",
            "result": "r",
            "reasoning": "x",
            "next_action": "continue",
            "confidence": 0.9,
        },
    ),
    agno(
        "RunPaused",
        node_id=None,
        tools=[{"tool_name": "delete_file", "tool_args": {}, "requires_confirmation": True}],
    ),
    chat_html(),
    agent_paused(),
    agent_paused(pause_type="user_input", pause_data={"schema": [{"name": "city"}]}),
    interaction(),
]


# --- heartbeat ---------------------------------------------------------------------------------


def test_pong_text_is_a_heartbeat_not_a_rejection() -> None:
    """The text frame pong is the server's heartbeat answer, not bad input."""
    assert parse("pong") == Heartbeat("pong")


def test_pong_as_utf8_bytes_is_a_heartbeat() -> None:
    """A binary pong decodes to the same heartbeat."""
    assert isinstance(parse(b"pong"), Heartbeat)


def test_pong_with_surrounding_whitespace_is_a_heartbeat() -> None:
    """Whitespace around pong does not make it bad input."""
    assert isinstance(parse(" pong\n"), Heartbeat)


def test_json_string_pong_is_not_a_heartbeat() -> None:
    """The JSON string "pong" is a JSON value, not an object, so it is rejected."""
    assert "not an object" in rejected('"pong"').reason


# --- execution frames --------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["run_start", "run_end", "resume_start", "resume_end"])
def test_run_events_parse_without_node_or_order(event: str) -> None:
    """Run and resume frames carry neither node nor order (the -1 placeholder is dropped)."""
    msg = parse(text(execution(event)))
    assert isinstance(msg, ExecutionEvent)
    assert (msg.event, msg.run_id, msg.node_id, msg.order, msg.status) == (
        event,
        RUN,
        None,
        None,
        "running",
    )
    assert msg.flow_id == FLOW
    assert msg.is_run_event


def test_start_node_parses_node_order_and_status() -> None:
    """start_node carries the node, the server's order and the running status."""
    msg = parse(text(execution("start_node", order=0)))
    assert msg == ExecutionEvent("start_node", RUN, NODE, 0, "running", FLOW)
    assert isinstance(msg, ExecutionEvent)
    assert not msg.is_run_event


@pytest.mark.parametrize("status", ["success", "error", "killed", "provided"])
def test_end_node_parses_each_known_status(status: str) -> None:
    """end_node keeps its order and its outcome status."""
    msg = parse(text(execution("end_node", order=2, status=status)))
    assert msg == ExecutionEvent("end_node", RUN, NODE, 2, status, FLOW)


@pytest.mark.parametrize(
    "event", ["start_tool", "end_tool", "start_tool_or_member", "end_tool_or_member"]
)
def test_tool_events_parse_with_the_tool_nodes_id(event: str) -> None:
    """Tool frames (agent and team variants) keep the tool node's id."""
    msg = parse(text(execution(event)))
    assert isinstance(msg, ExecutionEvent)
    assert (msg.event, msg.node_id, msg.order) == (event, NODE, -1)


def test_start_node_without_order_is_accepted_with_order_none() -> None:
    """An older backend may omit order on a node frame; it is kept as None."""
    frame = execution("start_node")
    del frame["order"]
    msg = parse(text(frame))
    assert isinstance(msg, ExecutionEvent)
    assert msg.order is None


def test_start_node_without_status_is_accepted_with_status_none() -> None:
    """A start without status is still usable (status None)."""
    frame = execution("start_node")
    del frame["status"]
    msg = parse(text(frame))
    assert isinstance(msg, ExecutionEvent)
    assert msg.status is None


def test_unknown_but_well_formed_status_is_accepted() -> None:
    """A status matching [a-z_-]{1,32} but outside the known set is kept as is."""
    msg = parse(text(execution("end_node", status="skipped")))
    assert isinstance(msg, ExecutionEvent)
    assert msg.status == "skipped"


def test_status_of_exactly_32_allowed_characters_is_accepted() -> None:
    """The status length bound is inclusive at 32."""
    status = "a_-" * 10 + "ab"
    assert len(status) == 32
    msg = parse(text(execution("end_node", status=status)))
    assert isinstance(msg, ExecutionEvent)
    assert msg.status == status


@pytest.mark.parametrize(
    "status",
    ["SUCCESS", "", "a" * 33, "<b>", "succ ess", "success\n", "ok1", "é"],
    ids=["upper", "empty", "33-chars", "markup", "space", "newline", "digit", "accent"],
)
def test_status_outside_the_allowed_pattern_is_rejected_naming_status(status: str) -> None:
    """A status outside [a-z_-]{1,32} is rejected and the reason says it is the status."""
    reason = rejected(text(execution("end_node", status=status))).reason
    assert "status" in reason
    assert "end_node" in reason


def test_bad_status_on_a_start_is_rejected_too() -> None:
    """The status pattern applies to every execution frame, not only end_node."""
    assert "status" in rejected(text(execution("start_node", status="RUNNING"))).reason


def test_status_of_wrong_type_is_rejected() -> None:
    """A numeric status is a wrong type."""
    reason = rejected(text(execution("end_node", status=1))).reason
    assert "status" in reason
    assert "int" in reason


def test_end_node_without_status_is_rejected() -> None:
    """An end without its outcome cannot be shown, so it is rejected with that reason."""
    frame = execution("end_node")
    del frame["status"]
    assert "without status" in rejected(text(frame)).reason


def test_end_node_with_null_status_is_rejected() -> None:
    """A null status on an end is as good as missing."""
    assert "without status" in rejected(text(execution("end_node", status=None))).reason


@pytest.mark.parametrize(
    ("order", "type_name"), [("5", "str"), (True, "bool"), (False, "bool"), (5.0, "float")]
)
def test_order_of_wrong_type_is_rejected_naming_order(order: object, type_name: str) -> None:
    """order must be an integer: strings, booleans and floats are rejected by name."""
    reason = rejected(text(execution("start_node", order=order))).reason
    assert "order" in reason
    assert type_name in reason


def test_order_of_wrong_type_on_a_run_event_is_rejected() -> None:
    """A run event's order is discarded, but a wrong type is still bad input."""
    assert "order" in rejected(text(execution("run_start", order="x"))).reason


@pytest.mark.parametrize("event", sorted(EXECUTION_EVENTS))
def test_missing_run_id_is_rejected_for_every_execution_event(event: str) -> None:
    """Every execution frame needs its run."""
    frame = execution(event, status="success")
    del frame["run_id"]
    reason = rejected(text(frame)).reason
    assert "run_id" in reason
    assert "missing" in reason


def test_null_and_empty_run_id_are_rejected() -> None:
    """A null or empty run id cannot scope anything."""
    assert "run_id" in rejected(text(execution("start_node", run_id=None))).reason
    assert "run_id is empty" in rejected(text(execution("start_node", run_id=""))).reason


def test_run_id_of_wrong_type_is_rejected() -> None:
    """A numeric run id is a wrong type, named in the reason."""
    reason = rejected(text(execution("start_node", run_id=7))).reason
    assert "run_id" in reason
    assert "int" in reason


def test_missing_node_id_on_start_node_is_rejected() -> None:
    """A node frame without its node is unusable."""
    frame = execution("start_node")
    del frame["node_id"]
    reason = rejected(text(frame)).reason
    assert "node_id" in reason
    assert "start_node" in reason


@pytest.mark.parametrize("event", ["end_node", "start_tool", "end_tool", "start_tool_or_member"])
def test_null_node_id_on_node_and_tool_frames_is_rejected(event: str) -> None:
    """Node and tool frames need a node id; null counts as missing."""
    assert "node_id" in rejected(text(execution(event, node_id=None, status="success"))).reason


def test_node_id_on_run_event_is_dropped() -> None:
    """A run event never names a node, even if a backend sends one."""
    msg = parse(text(execution("run_start", node_id="n1", order=7)))
    assert isinstance(msg, ExecutionEvent)
    assert (msg.node_id, msg.order) == (None, None)


# --- chat frames -------------------------------------------------------------------------------


def test_agno_run_content_parses_every_relay_field() -> None:
    """A relayed RunContent chunk keeps its chat-assembly fields."""
    msg = parse(text(agno()))
    assert isinstance(msg, AgnoEvent)
    assert msg.event == "RunContent"
    assert msg.run_id == RUN
    assert msg.node_id == AGENT
    assert msg.sequence_id == 4
    assert msg.microtime == pytest.approx(1795818775.873)
    assert msg.agent_id == AGENT
    assert msg.agent_role == "single"
    assert msg.is_member_agent is False
    assert msg.content == "The tool "
    assert msg.reasoning_content is None
    assert msg.tool is None


def test_team_member_chunk_keeps_member_fields() -> None:
    """A team member's chunk carries is_member_agent, parent_team_id and member_index."""
    frame = agno(is_member_agent=True, agent_role="member", parent_team_id="team-1", member_index=2)
    msg = parse(text(frame))
    assert isinstance(msg, AgnoEvent)
    assert msg.is_member_agent is True
    assert msg.agent_role == "member"
    assert msg.parent_team_id == "team-1"
    assert msg.member_index == 2


def test_team_leader_event_keeps_team_id() -> None:
    """The leader streams TeamRunContent with its team id."""
    msg = parse(text(agno("TeamRunContent", team_id="team-1", agent_role="leader")))
    assert isinstance(msg, AgnoEvent)
    assert (msg.event, msg.team_id, msg.agent_role) == ("TeamRunContent", "team-1", "leader")


def test_is_member_agent_other_than_true_reads_false() -> None:
    """Only a real true makes a member; a truthy string does not."""
    msg = parse(text(agno(is_member_agent="yes")))
    assert isinstance(msg, AgnoEvent)
    assert msg.is_member_agent is False


def test_reasoning_content_chunk_keeps_reasoning_text() -> None:
    """A reasoning model's chunk has null content and reasoning_content set."""
    msg = parse(text(agno(content=None, reasoning_content="Let me think")))
    assert isinstance(msg, AgnoEvent)
    assert (msg.content, msg.reasoning_content) == (None, "Let me think")


def test_reasoning_content_of_wrong_type_is_rejected() -> None:
    """reasoning_content must be text."""
    assert "reasoning_content" in rejected(text(agno(reasoning_content={"a": 1}))).reason


def test_tool_call_event_keeps_the_tool_object() -> None:
    """ToolCallCompleted carries its tool mapping untouched."""
    tool = {"tool_call_id": "c1", "tool_name": "get", "tool_args": {"q": 1}, "result": "x"}
    msg = parse(text(agno("ToolCallCompleted", tool=tool)))
    assert isinstance(msg, AgnoEvent)
    assert msg.tool == tool


def test_tool_of_wrong_type_is_rejected() -> None:
    """tool must be an object when present."""
    assert "tool" in rejected(text(agno("ToolCallStarted", tool=["x"]))).reason


def test_chat_frame_with_null_node_id_is_accepted() -> None:
    """RunContentCompleted arrives with node_id null; the chat concern resolves it later."""
    msg = parse(text(agno("RunContentCompleted", node_id=None)))
    assert isinstance(msg, AgnoEvent)
    assert msg.node_id is None


@pytest.mark.parametrize(
    "name", ["ReasoningContent", "RunReasoningContent", "TeamRunReasoningContent"]
)
def test_reasoning_content_event_names_are_chat_events(name: str) -> None:
    """The design document's reasoning event names are accepted as chat events."""
    assert isinstance(parse(text(agno(name, content="step"))), AgnoEvent)


@pytest.mark.parametrize("name", sorted(AGNO_EVENTS))
def test_every_agno_event_name_parses_as_agno_event(name: str) -> None:
    """Every agent and team event name of the protocol is recognised."""
    msg = parse(text(agno(name)))
    assert isinstance(msg, AgnoEvent)
    assert msg.event == name


@pytest.mark.parametrize(
    ("field", "value"),
    [("sequence_id", "4"), ("sequence_id", 4.5), ("microtime", "now"), ("member_index", True)],
)
def test_chat_numbers_of_wrong_type_are_rejected(field: str, value: object) -> None:
    """sequence_id, microtime and member_index must be numbers of the right kind."""
    assert field in rejected(text(agno(**{field: value}))).reason


def test_integer_microtime_is_read_as_float() -> None:
    """A whole-second microtime is still a time."""
    msg = parse(text(agno(microtime=1795818775)))
    assert isinstance(msg, AgnoEvent)
    assert msg.microtime == 1795818775.0
    assert isinstance(msg.microtime, float)


def test_chat_frame_without_run_id_is_rejected() -> None:
    """A chat chunk must say which run it belongs to."""
    frame = agno()
    del frame["run_id"]
    assert "run_id missing" in rejected(text(frame)).reason


# --- platform frames ---------------------------------------------------------------------------


def test_chat_html_keeps_untrusted_html_verbatim() -> None:
    """ChatHTML's html is kept exactly as sent (sanitising is the sink's job)."""
    msg = parse(text(chat_html()))
    assert isinstance(msg, ChatHTML)
    assert msg.html == "<p>hi</p><script>alert(1)</script>"
    assert (msg.run_id, msg.node_id, msg.sequence_id) == (RUN, NODE, 1)
    assert msg.microtime == pytest.approx(1795818742.30)
    assert msg.event == "ChatHTML"


def test_chat_html_without_html_content_is_rejected() -> None:
    """A ChatHTML frame without its html is unusable."""
    frame = chat_html()
    del frame["html_content"]
    assert "html_content" in rejected(text(frame)).reason


def test_chat_html_with_non_string_html_is_rejected() -> None:
    """html_content must be text."""
    assert "html_content" in rejected(text(chat_html(html_content=["<p>"]))).reason


def test_agent_paused_parses_confirmation_and_its_tools() -> None:
    """AgentPaused keeps pause type, message and the tools awaiting confirmation."""
    msg = parse(text(agent_paused()))
    assert isinstance(msg, AgentPaused)
    assert msg.pause_type == "confirmation"
    assert msg.pause_message == "Confirm deleting /tmp/x?"
    assert msg.pause_data["tools"][0]["tool_args"] == {"path": "/tmp/x"}
    assert (msg.run_id, msg.node_id, msg.event) == (RUN, NODE, "AgentPaused")


def test_agent_paused_for_user_input_keeps_the_schema() -> None:
    """A user_input pause carries its field schema."""
    schema = [{"name": "city", "description": "d", "type": "str", "required": True}]
    msg = parse(text(agent_paused(pause_type="user_input", pause_data={"schema": schema})))
    assert isinstance(msg, AgentPaused)
    assert msg.pause_type == "user_input"
    assert msg.pause_data == {"schema": schema}


def test_agent_paused_without_pause_type_or_data_defaults_to_unknown() -> None:
    """A pause of unknown kind is still a pause, with empty data."""
    frame = agent_paused(pause_data=None)
    del frame["pause_type"]
    msg = parse(text(frame))
    assert isinstance(msg, AgentPaused)
    assert (msg.pause_type, dict(msg.pause_data)) == ("unknown", {})


def test_agent_paused_with_non_object_pause_data_is_rejected() -> None:
    """pause_data must be an object when present."""
    assert "pause_data" in rejected(text(agent_paused(pause_data="x"))).reason


def test_interaction_event_is_recognised_by_type() -> None:
    """interaction_event has no event key; its type is enough."""
    msg = parse(text(interaction()))
    assert isinstance(msg, InteractionEvent)
    assert msg.interaction_type == "oauth_authorization_required"
    assert msg.data["auth_url"] == "https://accounts.example/auth"
    assert (msg.run_id, msg.node_id, msg.flow_id) == (RUN, NODE, FLOW)
    assert msg.event == "interaction_event"


def test_interaction_event_without_interaction_type_is_rejected() -> None:
    """An interaction without its kind is unusable."""
    frame = interaction()
    del frame["interaction_type"]
    assert "interaction_type" in rejected(text(frame)).reason


def test_interaction_event_without_run_id_is_rejected() -> None:
    """Interactions are scoped to a run, so one without a run is rejected."""
    frame = interaction()
    del frame["run_id"]
    assert "run_id" in rejected(text(frame)).reason


# --- unknown events ----------------------------------------------------------------------------


def test_unknown_event_is_kept_as_unknown_with_its_run() -> None:
    """A well-formed frame with a new event name is a message, not a rejection."""
    msg = parse(text({"event": "RunFancyNewThing", "run_id": RUN, "node_id": NODE, "x": 1}))
    assert msg == Unknown("RunFancyNewThing", RUN, NODE)


def test_unknown_event_without_run_id_is_still_unknown() -> None:
    """An unknown event need not carry a run."""
    msg = parse(text({"event": "server_notice"}))
    assert isinstance(msg, Unknown)
    assert msg.run_id is None


def test_unknown_event_with_run_id_of_wrong_type_is_rejected() -> None:
    """An unknown event still may not carry a malformed run id."""
    assert "run_id" in rejected(text({"event": "x_new", "run_id": 3})).reason


def test_frame_with_an_unknown_type_and_no_event_is_unknown() -> None:
    """A platform frame of a new type (recognised by type, like interaction_event) is unknown."""
    msg = parse(text({"type": "progress_event", "run_id": RUN}))
    assert msg == Unknown("progress_event", RUN)


# --- not a usable frame ------------------------------------------------------------------------


@pytest.mark.parametrize("frame", ["hello", "{", "{'event': 'run_start'}", "", "  ", "PONG"])
def test_non_json_text_is_rejected_as_not_json(frame: str) -> None:
    """Text that is not JSON is rejected with that reason."""
    assert rejected(frame).reason.startswith("not JSON")


def test_json_array_is_rejected_as_not_an_object() -> None:
    """A JSON array (even of frames) is not a frame."""
    assert rejected(text([execution("run_start")])).reason == "not an object: list"


@pytest.mark.parametrize(
    ("frame", "type_name"),
    [("null", "NoneType"), ("42", "int"), ("4.5", "float"), ('"run_start"', "str")],
)
def test_json_scalars_are_rejected_as_not_an_object(frame: str, type_name: str) -> None:
    """null, numbers and strings are JSON but not frames."""
    assert rejected(frame).reason == f"not an object: {type_name}"


def test_utf8_bytes_parse_like_text() -> None:
    """A binary frame in UTF-8 is decoded and parsed."""
    frame = execution("start_node", node_id="n\u00e9\u4e2d")
    msg = parse(text(frame).encode("utf-8"))
    assert isinstance(msg, ExecutionEvent)
    assert msg.node_id == "n\u00e9\u4e2d"


def test_bytearray_and_memoryview_parse_like_bytes() -> None:
    """Any bytes-like frame is decoded."""
    data = text(execution("run_start")).encode()
    assert isinstance(parse(bytearray(data)), ExecutionEvent)
    assert isinstance(parse(memoryview(data)), ExecutionEvent)


def test_invalid_utf8_bytes_are_rejected() -> None:
    """A binary frame that is not UTF-8 is rejected, keeping the bytes."""
    result = rejected(b'{"event": "\xff\xfe"}')
    assert "UTF-8" in result.reason
    assert result.frame == b'{"event": "\xff\xfe"}'


def test_frame_without_event_or_type_is_rejected() -> None:
    """An object that names no event nor type is rejected with that reason."""
    assert rejected(text({"run_id": RUN, "node_id": NODE})).reason == "no event or type"


def test_frame_with_null_event_and_no_type_is_rejected() -> None:
    """A null event is no event."""
    assert rejected(text({"event": None, "run_id": RUN})).reason == "no event or type"


@pytest.mark.parametrize(
    ("event", "type_name"),
    [(1, "int"), (["run_start"], "list"), ({"a": 1}, "dict"), (True, "bool")],
)
def test_event_that_is_not_a_string_is_rejected(event: object, type_name: str) -> None:
    """The event name must be a string; the reason names the type found."""
    assert rejected(text({"event": event, "run_id": RUN})).reason == (
        f"event is {type_name}, not a string"
    )


def test_empty_event_name_is_rejected() -> None:
    """An empty event name names nothing: it is rejected, not an unknown event."""
    assert rejected(text({"event": "", "run_id": RUN})).reason == "event is empty"


def test_type_that_is_not_a_string_is_rejected() -> None:
    """A frame recognised by type needs a string type."""
    assert "type is int" in rejected(text({"type": 5, "run_id": RUN})).reason


def test_non_mapping_python_objects_are_rejected() -> None:
    """parse accepts decoded frames too, but only mappings are frames."""
    for frame in (None, 3, 2.5, [1], object()):
        assert rejected(frame).reason.startswith("not an object")


def test_already_decoded_mapping_parses_like_its_text() -> None:
    """A decoded dict parses to the same message as its JSON text."""
    for frame in REAL_FRAMES:
        assert parse(frame) == parse(text(frame))


def test_rejected_keeps_the_original_frame() -> None:
    """A rejection carries the frame it rejected (for the log)."""
    assert rejected("garbage").frame == "garbage"


# --- ids are data ------------------------------------------------------------------------------


@pytest.mark.parametrize("nasty", NASTY_IDS)
def test_ids_with_quotes_backslashes_and_markup_are_kept_exactly(nasty: str) -> None:
    """Run, node and team ids are stored byte for byte, never escaped or altered."""
    msg = parse(text(execution("start_node", run_id=nasty, node_id=nasty)))
    assert isinstance(msg, ExecutionEvent)
    assert (msg.run_id, msg.node_id) == (nasty, nasty)
    chat = parse(text(agno(run_id=nasty, node_id=nasty, parent_team_id=nasty, agent_id=nasty)))
    assert isinstance(chat, AgnoEvent)
    assert (chat.run_id, chat.node_id, chat.parent_team_id, chat.agent_id) == (nasty,) * 4
    paused = parse(text(agent_paused(run_id=nasty, node_id=nasty)))
    assert isinstance(paused, AgentPaused)
    assert (paused.run_id, paused.node_id) == (nasty, nasty)


def test_escaped_json_ids_decode_to_the_exact_characters() -> None:
    """JSON escapes in an id decode to the characters they stand for, nothing more."""
    raw = '{"event":"start_node","run_id":"r\\"1\\\\","node_id":"<a href=\\"x\\">","order":0}'
    msg = parse(raw)
    assert isinstance(msg, ExecutionEvent)
    assert msg.run_id == 'r"1\\'
    assert msg.node_id == '<a href="x">'


# --- raw keeps everything ----------------------------------------------------------------------


@pytest.mark.parametrize("frame", REAL_FRAMES, ids=lambda f: str(f.get("event") or f.get("type")))
def test_raw_keeps_every_key_of_the_frame(frame: dict[str, Any]) -> None:
    """Nothing of a frame is lost: raw holds every key and value as decoded."""
    extended = {**frame, "extra_field": {"nested": [1, None, "x"]}, "another": None}
    msg = parse(text(extended))
    assert not isinstance(msg, Rejected | Heartbeat)
    assert dict(msg.raw) == extended


def test_raw_of_an_unknown_event_keeps_every_key() -> None:
    """An unknown event's whole frame is kept for whoever wants it later."""
    frame = {"event": "BrandNew", "run_id": RUN, "payload": {"a": [1, 2]}}
    msg = parse(text(frame))
    assert isinstance(msg, Unknown)
    assert dict(msg.raw) == frame


def test_raw_is_not_part_of_message_equality() -> None:
    """Two messages that differ only in extra raw fields compare equal."""
    assert parse(text(execution("start_node", extra=1))) == parse(text(execution("start_node")))


# --- never raises ------------------------------------------------------------------------------


def test_deeply_nested_json_array_does_not_raise() -> None:
    """A pathological nesting depth is rejected, not a RecursionError."""
    assert rejected("[" * 100_000).reason == f"nested deeper than {MAX_DEPTH} levels"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000, 1024, 1025, 5000, 100_000])
@pytest.mark.parametrize("where", ["content", "tool", "raw"])
@pytest.mark.parametrize("odd", ["", "NaN", '"\\ud83d"', "18446744073709551616"])
def test_frames_nested_beyond_the_limit_are_rejected_whatever_the_decoder(
    depth: int, where: str, odd: str
) -> None:
    """Nesting past MAX_DEPTH, closed or not, by orjson or the standard library: rejected."""
    inner = "[" * (depth - 1) + odd + "]" * (depth - 1)
    field = {"content": "content", "tool": "tool", "raw": "extra"}[where]
    body = "{" + f'"x": {inner}' + "}" if where == "tool" else inner
    frame = f'{{"event": "RunContent", "run_id": "{RUN}", "{field}": {body}}}'
    assert rejected(frame).reason == f"nested deeper than {MAX_DEPTH} levels"
    assert rejected(frame[: len(frame) // 2]).reason.startswith(("nested", "not JSON"))


def _cyclic() -> dict[str, Any]:
    """A host's mapping that holds itself, one level down."""
    inner: dict[str, Any] = {}
    inner["me"] = [inner]
    return inner


def _deep(levels: int) -> list[Any]:
    """A host's list nested ``levels`` deep."""
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({1: "a"}, "not JSON data: a key is int, not a string"),
        ({("a",): "a"}, "not JSON data: a key is tuple, not a string"),
        ([{None: 1}], "not JSON data: a key is NoneType, not a string"),
        (_cyclic(), "not JSON data: it holds itself (a cycle)"),
        (10**5000, "not JSON data: an integer has too many digits"),
        (_deep(MAX_DEPTH), f"nested deeper than {MAX_DEPTH} levels"),
        (_deep(5_000), f"nested deeper than {MAX_DEPTH} levels"),
    ],
    ids=["int key", "tuple key", "None key", "cycle", "endless int", "just too deep", "deep"],
)
def test_a_hosts_decoded_frame_that_no_json_text_gives_is_rejected(value: Any, reason: str) -> None:
    """A mapping frame must be what JSON decodes to: else it is rejected with the reason."""
    frame = {"event": "RunContent", "run_id": RUN, "content": value}
    assert rejected(frame).reason == reason


def test_a_hosts_decoded_frame_may_share_parts_and_hold_what_json_texts_hold() -> None:
    """Shared sub-lists, NaN, wide ints, tuples, nesting up to the limit: a message."""
    shared = [1.5, float("nan"), 2**80]
    frame = {
        "event": "RunContent",
        "run_id": RUN,
        "content": {
            "a": shared,
            "b": shared,
            "c": (shared, shared),
            "d": _deep(MAX_DEPTH - 2),
        },  # the frame and content are two
    }
    assert isinstance(parse(frame), AgnoEvent)


@pytest.mark.parametrize("odd", ["", "NaN", '"\\ud83d"', "18446744073709551616"])
def test_frames_nested_up_to_the_limit_are_read(odd: str) -> None:
    """A frame whose arrays and objects nest exactly MAX_DEPTH deep is a message."""
    inner = "[" * (MAX_DEPTH - 1) + odd + "]" * (MAX_DEPTH - 1)
    msg = parse(f'{{"event": "RunContent", "run_id": "{RUN}", "content": {inner}}}')
    assert isinstance(msg, AgnoEvent)


def test_deeply_nested_json_object_does_not_raise() -> None:
    """Deep nesting inside an object is rejected too."""
    frame = '{"event": "start_node", "x": ' + '{"a": ' * 100_000
    assert isinstance(parse(frame), Rejected)


def test_deep_but_parseable_nesting_in_a_field_is_kept() -> None:
    """Nesting that JSON can decode is kept in raw like any other field."""
    deep = "[" * 200 + "]" * 200
    msg = parse('{"event": "RunContent", "run_id": "r", "content": ' + deep + "}")
    assert isinstance(msg, AgnoEvent)


def test_huge_integer_does_not_raise() -> None:
    """An integer beyond Python's digit limit is rejected, not raised."""
    assert isinstance(parse('{"event": "start_node", "order": ' + "9" * 10_000 + "}"), Rejected)


def test_huge_but_valid_frame_parses() -> None:
    """A RunCompleted carrying a whole transcript is still a frame."""
    content = "word " * 200_000
    msg = parse(text(agno("RunCompleted", content=content)))
    assert isinstance(msg, AgnoEvent)
    assert msg.content == content


EVENT_NAMES = sorted(
    EXECUTION_EVENTS | AGNO_EVENTS | {"ChatHTML", "AgentPaused", "interaction_event", "success"}
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_never_raises_on_any_text(frame: str) -> None:
    """Any text gives a result, never an exception."""
    assert isinstance(parse(frame), RESULT_TYPES)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_parse_never_raises_on_any_bytes(frame: bytes) -> None:
    """Any binary frame gives a result, never an exception."""
    assert isinstance(parse(frame), RESULT_TYPES)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_parse_never_raises_on_any_json_value(value: object) -> None:
    """Any JSON value, as text or decoded, gives a result; non-objects are rejected."""
    for frame in (json.dumps(value), value):
        result = parse(frame)
        assert isinstance(result, RESULT_TYPES)
        if not isinstance(value, dict):
            assert isinstance(result, Rejected)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["event", "type", "run_id", "node_id", "order", "status"]),
        json_values | st.sampled_from(EVENT_NAMES),
    )
)
def test_parse_never_raises_on_objects_with_protocol_keys(value: dict[str, Any]) -> None:
    """Objects built of the keys parse looks at, with any values, never raise."""
    result = parse(json.dumps(value))
    assert isinstance(result, RESULT_TYPES)
    if not isinstance(result, Heartbeat | Rejected):
        assert dict(result.raw) == value


@st.composite
def mangled_frames(draw: st.DrawFn) -> dict[str, Any]:
    """A real frame with some fields deleted, nulled or given a value of another type."""
    frame = dict(draw(st.sampled_from(REAL_FRAMES)))
    keys = draw(st.lists(st.sampled_from(sorted(frame)), unique=True, max_size=len(frame)))
    for key in keys:
        action = draw(st.sampled_from(["delete", "null", "retype"]))
        if action == "delete":
            del frame[key]
        elif action == "null":
            frame[key] = None
        else:
            frame[key] = draw(json_values)
    return frame


@settings(max_examples=200, deadline=None)
@given(mangled_frames())
def test_parse_never_raises_on_real_frames_with_fields_deleted_retyped_or_nulled(
    frame: dict[str, Any],
) -> None:
    """Damaged real frames give a message or a rejection with a reason, never an exception."""
    result = parse(json.dumps(frame))
    assert isinstance(result, RESULT_TYPES)
    if isinstance(result, Rejected):
        assert result.reason
        assert "\n" not in result.reason
    else:
        assert not isinstance(result, Heartbeat)
        assert dict(result.raw) == frame


def test_real_frames_all_parse_to_messages() -> None:
    """The undamaged real frames used above are all accepted."""
    for frame in REAL_FRAMES:
        assert not isinstance(parse(text(frame)), Rejected | Heartbeat | Unknown), frame


# --- loads: orjson's speed, the standard library's answers -----------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.integers(min_value=-(2**70), max_value=-(2**62))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _reading(text: str) -> tuple[str, str]:
    """What a decoder makes of ``text``: its value's repr (NaN-safe, types visible) or failure."""
    from flowrx.messages import loads

    try:
        ours = ("value", repr(loads(text)))
    except (ValueError, RecursionError):
        ours = ("error", "")
    try:
        stdlib = ("value", repr(json.loads(text)))
    except (ValueError, RecursionError):
        stdlib = ("error", "")
    assert ours == stdlib, text
    return ours


@settings(max_examples=300, deadline=None)
@given(_json_values, st.booleans())
def test_loads_reads_every_json_value_exactly_as_the_standard_library_does(
    value: Any, ascii_only: bool
) -> None:
    """Big integers, NaN, infinities and escapes decode to json.loads's value and types."""
    _reading(json.dumps(value, ensure_ascii=ascii_only))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789.eE+-truefalsnNIfiy \\u\ud800\x00', max_size=40))
def test_loads_accepts_and_refuses_the_same_texts_as_the_standard_library(text: str) -> None:
    """JSON-like noise is refused, or read, exactly when json.loads refuses or reads it."""
    _reading(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"order": 18446744073709551616}',
        '{"order": -9223372036854775809}',
        '{"a": [1, {"b": 123456789012345678901234567890}]}',
        '{"a": NaN, "b": Infinity}',
        '{"a": 1e400}',
        '"\\ud800"',
        "[" * 3000 + "]" * 3000,
    ],
)
def test_loads_falls_back_to_the_standard_library_where_orjson_would_differ(text: str) -> None:
    """The known differences (wide integers, NaN, lone surrogates, deep nesting) read the same."""
    _reading(text)


def test_parse_keeps_an_order_beyond_64_bits_an_integer() -> None:
    """A huge order is still an int in the message (orjson alone would make it a float)."""
    msg = parse(
        json.dumps(
            {
                "event": "start_node",
                "run_id": RUN,
                "node_id": NODE,
                "order": 2**64,
                "status": "running",
            }
        )
    )
    assert isinstance(msg, ExecutionEvent)
    assert msg.order == 2**64
    assert type(msg.order) is int


# --- the parsers' fast paths agree with the checked paths ------------------------------------

_field_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from(["", "x", RUN, "running", "success", "error", "pending", "weird", "Bad!"]),
    st.dictionaries(st.sampled_from(["a", "tool_name"]), st.integers(0, 2), max_size=2),
    st.lists(st.integers(0, 2), max_size=2),
)
_EXECUTION_KEYS = ["run_id", "node_id", "order", "status", "flow_id"]
_AGNO_KEYS = [
    "run_id",
    "node_id",
    "sequence_id",
    "microtime",
    "agent_id",
    "team_id",
    "agent_role",
    "parent_team_id",
    "member_index",
    "reasoning_content",
    "tool",
    "is_member_agent",
    "content",
]


def _outcome(build: Any, event: str, data: dict[str, Any]) -> tuple[str, Any]:
    """A parser's result as comparable data: its fields (raw by identity) or its error."""
    from flowrx.messages import _Bad

    try:
        msg = build(event, data)
    except _Bad as bad:
        return ("bad", str(bad))
    return (
        "ok",
        (
            type(msg).__name__,
            attrs.asdict(msg, recurse=False, filter=lambda a, _: a.name != "raw"),
            msg.raw is data,
        ),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(EXECUTION_EVENTS)),
    st.dictionaries(st.sampled_from(_EXECUTION_KEYS), _field_values),
)
def test_execution_fast_path_gives_exactly_what_the_checked_path_gives(
    event: str, data: dict[str, Any]
) -> None:
    """Any mix of field types: the fast parser's message or error equals the checked one's."""
    from flowrx.messages import _execution, _execution_checked

    assert _outcome(_execution, event, data) == _outcome(_execution_checked, event, data)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(sorted(AGNO_EVENTS)),
    st.dictionaries(st.sampled_from(_AGNO_KEYS), _field_values),
)
def test_agno_fast_path_gives_exactly_what_the_checked_path_gives(
    event: str, data: dict[str, Any]
) -> None:
    """Any mix of field types: the fast parser's message or error equals the checked one's."""
    from flowrx.messages import _agno, _agno_checked

    assert _outcome(_agno, event, data) == _outcome(_agno_checked, event, data)
