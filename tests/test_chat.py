"""Chat concern (behaviour §5, defects 23-25): the pure reducer, then through the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import reactivex

from flowrx import VirtualClock, connect, load_graph, read_recording, replay
from flowrx.concerns.chat import (
    ChatState,
    Delegation,
    MessageSummary,
    ReasoningStep,
    chat_section,
    reduce_chat,
)
from flowrx.concerns.effects import Change
from flowrx.config import Config
from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.html import sanitise_html
from flowrx.messages import Evict, Heartbeat, Rejected, parse
from flowrx.pipeline import default_concerns
from flowrx.sinks.state import FlowState
from flowrx.testing import fold

FLOW = "22222222-3333-4444-8555-666666666666"
RUN = "0e000000-0000-4000-8000-0000000000a1"
RUN_B = "0e000000-0000-4000-8000-0000000000b2"
AGENT_NODE = "b0000000-0000-4000-8000-000000000002"
AGENT_ID = "agent-1"
TEAM_NODE = "c0000000-0000-4000-8000-000000000010"
TEAM_ID = "team-1"
MEMBER_NODES = (
    "c0000000-0000-4000-8000-000000000011",
    "c0000000-0000-4000-8000-000000000012",
    "c0000000-0000-4000-8000-000000000013",
)
HTML_NODE = "b0000000-0000-4000-8000-000000000005"

GRAPH = graph_from_mapping(
    {
        "flowrx": "flow/1",
        "flow_id": FLOW,
        "nodes": [
            {"id": AGENT_NODE, "handle": "agent", "path": "agno_agent.AgnoAgent"},
            {"id": TEAM_NODE, "handle": "team", "path": "agno_team.AgnoTeam"},
            {
                "id": MEMBER_NODES[0],
                "handle": "researcher_node",
                "variables": [{"handle": "name", "value": "Researcher"}],
            },
            {"id": MEMBER_NODES[1], "handle": "writer_node"},
            {"id": HTML_NODE, "handle": "chat_html"},
        ],
    }
)

# --- frames, built from the field lists of wire-protocol.md ------------------------------------


def _relay(frame: dict[str, Any], run: str, node: str | None, seq: int | None) -> dict[str, Any]:
    """Add what the platform's relay adds to an Agno event."""
    frame.update(
        {
            "run_id": run,
            "node_id": node,
            "sequence_id": seq,
            "microtime": None if seq is None else 1795818775.0 + seq / 1000,
            "message_id": f"msg_{run}_{seq}",
        }
    )
    return frame


def agent(
    event: str,
    seq: int | None = None,
    *,
    run: str = RUN,
    node: str | None = AGENT_NODE,
    agent_id: str = AGENT_ID,
    **fields: Any,
) -> dict[str, Any]:
    """A single agent's Agno event as relayed (all fields, nulls included)."""
    frame: dict[str, Any] = {
        "created_at": 1795818775,
        "event": event,
        "agent_id": agent_id,
        "agent_name": "harness agent",
        "parent_run_id": None,
        "session_id": "849da48d",
        "tools": None,
        "content": None,
        "agent_role": "single",
        "is_member_agent": False,
    }
    frame.update(fields)
    return _relay(frame, run, node, seq)


def leader(
    event: str, seq: int | None = None, *, node: str | None = TEAM_NODE, **fields: Any
) -> dict[str, Any]:
    """A team leader's event (``Team…`` names, ``team_id``/``team_name``)."""
    frame: dict[str, Any] = {
        "created_at": 1795818775,
        "event": event,
        "team_id": TEAM_ID,
        "team_name": "Editorial team",
        "parent_run_id": None,
        "session_id": "849da48d",
        "content": None,
        "agent_role": "leader",
        "is_member_agent": False,
    }
    frame.update(fields)
    return _relay(frame, RUN, node, seq)


def member(
    index: int, event: str, seq: int | None = None, *, node: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A team member's event: a plain agent event marked as a member."""
    frame: dict[str, Any] = {
        "created_at": 1795818775,
        "event": event,
        "agent_id": f"member-agent-{index}",
        "agent_name": f"agno name {index}",
        "parent_run_id": None,
        "session_id": "849da48d",
        "content": None,
        "agent_role": "member",
        "is_member_agent": True,
        "parent_team_id": TEAM_ID,
        "member_index": index,
    }
    frame.update(fields)
    return _relay(frame, RUN, MEMBER_NODES[index] if node is None else node, seq)


def tool(
    call_id: str,
    name: str,
    args: dict[str, Any],
    result: Any = None,
    error: bool | None = None,
    duration: float | None = None,
    child_run_id: str | None = None,
) -> dict[str, Any]:
    """An Agno ToolExecution as serialised in ``tool``."""
    return {
        "tool_call_id": call_id,
        "tool_name": name,
        "tool_args": args,
        "tool_call_error": error,
        "result": result,
        "metrics": None if duration is None else {"duration": duration, "input_tokens": 0},
        "child_run_id": child_run_id,
        "stop_after_tool_call": False,
        "requires_confirmation": None,
    }


def content(text: str | None, seq: int | None, reasoning: str | None = "", **kw: Any) -> Any:
    """A RunContent chunk of the single agent (Agno sends ``reasoning_content: ""``)."""
    return agent("RunContent", seq, content=text, reasoning_content=reasoning, **kw)


def execution(event: str, run: str = RUN) -> dict[str, Any]:
    """A run-level execution frame."""
    return {"flow_id": FLOW, "run_id": run, "node_id": None, "event": event, "order": -1}


def feed(
    frames: list[Any], state: ChatState | None = None, graph: FlowGraph | None = GRAPH
) -> tuple[ChatState, list[Any]]:
    """Parse each frame and run the pure reducer over it; return the state and every effect."""

    def parsed(frame: Any) -> Any:
        msg = frame if isinstance(frame, Evict) else parse(frame)
        assert not isinstance(msg, Heartbeat | Rejected), msg
        return msg

    return fold(
        lambda s, m, n: reduce_chat(s, m, n, graph),
        ((0.0, parsed(frame)) for frame in frames),
        state or ChatState(),
    )


def texts(state: ChatState, run: str = RUN) -> list[tuple[str, str, str, str, bool]]:
    """(speaker, name, kind, text, closed) of each message of the run, in order."""
    return [
        (m["speaker"], m["name"], m["kind"], m["text"], m["closed"])
        for m in chat_section(state).get(run, [])
    ]


def pipeline(frames: list[Any], graph: FlowGraph = GRAPH, **kw: Any) -> FlowState:
    """The whole pipeline with the chat concern over ``frames``, in virtual time."""
    clock = VirtualClock()
    source = reactivex.from_iterable([json.dumps(f) for f in frames])
    concerns = default_concerns(graph, Config())  # chat is one of them
    state, _ = connect(source, scheduler=clock, graph=graph, concerns=concerns, **kw)
    clock.run()
    return state


def replay_sample(examples: Path, **kw: Any) -> FlowState:
    """Replay the real agent-chat recording with its graph and the chat concern."""
    clock = VirtualClock()
    graph = load_graph(examples / "agent-chat.flow.json")
    frames = read_recording(examples / "agent-chat.jsonl").frames
    concerns = default_concerns(graph, Config())  # chat is one of them
    state, _ = connect(replay(frames, clock), scheduler=clock, graph=graph, concerns=concerns, **kw)
    clock.run()
    return state


SAY_HELLO = tool("call_1", "say_hello", {"name": "flowrx"})
SAID_HELLO = tool("call_1", "say_hello", {"name": "flowrx"}, "hello flowrx", False, 0.0121)


# --- single agent -------------------------------------------------------------------------------


def test_a_single_agent_run_with_a_tool_call_is_one_closed_message_with_the_call() -> None:
    """Text streamed after a tool call lands in the message the call is attached to."""
    state, _ = feed(
        [
            agent("RunStarted", 1),
            agent("ToolCallStarted", 2, tool=SAY_HELLO),
            agent("ToolCallCompleted", 3, tool=SAID_HELLO, content="say_hello completed. "),
            content("The tool ", 4),
            content("said hello. ", 5),
            content("Done.", 6),
            agent("RunContentCompleted", 7, node=None),
            agent("RunCompleted", 8, content="The tool said hello. Done."),
        ]
    )
    assert chat_section(state) == {
        RUN: [
            {
                "node_id": AGENT_NODE,
                "speaker": "agent",
                "name": "harness agent",
                "kind": "content",
                "text": "The tool said hello. Done.",
                "closed": True,
                "tools": [
                    {
                        "name": "say_hello",
                        "args": {"name": "flowrx"},
                        "result": "hello flowrx",
                        "error": False,
                    }
                ],
            }
        ]
    }
    (message,) = state.runs[RUN].messages.values()
    assert message.tools[0].id == "call_1"
    assert message.tools[0].duration == 0.0121
    assert state.final_text_differs == 0


def test_a_failing_tool_call_is_marked_as_an_error_with_its_message() -> None:
    """ToolCallError marks the call failed; its error text stands in for a missing result."""
    state, _ = feed(
        [
            agent("ToolCallStarted", 1, tool=tool("c9", "fetch", {"url": "x"})),
            agent("ToolCallError", 2, tool=tool("c9", "fetch", {"url": "x"}), error="boom"),
        ]
    )
    (call,) = chat_section(state)[RUN][0]["tools"]
    assert call == {"name": "fetch", "args": {"url": "x"}, "result": "boom", "error": True}


def test_an_agent_without_a_name_is_called_by_its_graph_node() -> None:
    """Without agent_name the graph's handle names the agent."""
    state, _ = feed([content("hi", 1, agent_name=None)])
    assert texts(state) == [("agent", "agent", "content", "hi", False)]


def test_a_completed_run_without_streamed_text_gets_a_closed_message() -> None:
    """A non-streaming agent's RunCompleted content becomes a closed message, not a count."""
    state, _ = feed([agent("RunCompleted", 3, content="All done.")])
    assert texts(state) == [("agent", "harness agent", "content", "All done.", True)]
    assert state.final_text_differs == 0


def test_a_different_final_content_wins_and_is_counted_once() -> None:
    """RunCompleted's content replaces a different streamed text; counted once per message."""
    state, _ = feed(
        [
            content("Helo wrld", 1),
            agent("RunContentCompleted", 2, node=None),
            agent("RunCompleted", 3, content="Hello world"),
            agent("RunCompleted", None, content="Hello world"),
        ]
    )
    assert texts(state) == [("agent", "harness agent", "content", "Hello world", True)]
    assert state.final_text_differs == 1
    assert state.runs[RUN].messages[0].streamed == "Helo wrld"


def test_run_end_closes_every_open_message_and_a_later_chunk_opens_a_new_one() -> None:
    """run_end closes the run's messages; a chunk after a close starts a new message."""
    state, _ = feed(
        [
            content("one", 1),
            content(None, 2, reasoning="hmm"),
            execution("run_end"),
            content("two", 3),
        ]
    )
    assert texts(state) == [
        ("agent", "harness agent", "content", "one", True),
        ("agent", "harness agent", "reasoning", "hmm", True),
        ("agent", "harness agent", "content", "two", False),
    ]


def test_error_and_cancel_close_the_speakers_messages() -> None:
    """RunError and RunCancelled close the speaker's open messages."""
    state, _ = feed([content("a", 1), agent("RunError", 2, content="model failed")])
    assert texts(state) == [("agent", "harness agent", "content", "a", True)]
    state, _ = feed([content("b", 1), agent("RunCancelled", 2, node=None)])
    assert texts(state) == [("agent", "harness agent", "content", "b", True)]


# --- ordering and duplicates --------------------------------------------------------------------


def test_chunks_out_of_order_and_duplicated_come_out_in_sequence_order() -> None:
    """Chunks are ordered by sequence_id; a repeated sequence_id is dropped."""
    state, _ = feed(
        [
            content("C", 3),
            content("A", 1),
            content("D", 4),
            content("B", 2),
            content("A", 1),
            {**content("D", 4), "microtime": 1.0},  # same sequence id, other microtime
        ]
    )
    assert texts(state) == [("agent", "harness agent", "content", "ABCD", False)]


def test_a_chunk_without_sequence_id_sent_twice_is_kept_twice() -> None:
    """Without sequence_id a repeat cannot be told from a real one: both are kept, in arrival."""
    state, _ = feed([content("ha", None), content("ha", None), content("!", None)])
    assert texts(state) == [("agent", "harness agent", "content", "haha!", False)]


def test_a_late_reordered_chunk_after_the_close_joins_the_message_it_belongs_to() -> None:
    """A chunk older than the closing event goes into the closed message, not a new one."""
    state, _ = feed(
        [
            content("A", 1),
            agent("RunContentCompleted", 3, node=None),
            content("B", 2),
            content("A", 1),
        ]
    )
    assert texts(state) == [("agent", "harness agent", "content", "AB", True)]


def test_sequence_ids_restarting_after_a_resume_are_not_duplicates() -> None:
    """resume_start begins a new phase: restarted sequence ids append after the old chunks."""
    state, _ = feed(
        [
            content("before ", 1),
            content("pause. ", 2),
            execution("resume_start"),
            content("after ", 1),
            content("resume.", 2),
        ]
    )
    assert texts(state) == [
        ("agent", "harness agent", "content", "before pause. after resume.", False)
    ]


# --- reasoning (defect 25) ----------------------------------------------------------------------


def test_a_reasoning_model_streams_its_thinking_into_a_reasoning_message() -> None:
    """RunContent with only reasoning_content is shown as a reasoning message (defect 25)."""
    state, _ = feed(
        [
            content(None, 1, reasoning="Let me think. "),
            content(None, 2, reasoning="Two plus two "),
            content("4", 3, reasoning="is four."),
            content(" is the answer.", 4, reasoning=""),
            agent("RunContentCompleted", 5, node=None),
        ]
    )
    assert texts(state) == [
        ("agent", "harness agent", "reasoning", "Let me think. Two plus two is four.", True),
        ("agent", "harness agent", "content", "4 is the answer.", True),
    ]


def test_reasoning_events_and_steps_feed_the_reasoning_message() -> None:
    """ReasoningContentDelta, the …ReasoningContent names and structured ReasoningSteps."""
    step: dict[str, Any] = {
        "title": "Plan",
        "action": "split the task",
        "result": "two parts",
        "reasoning": "it is big",
        "next_action": "continue",
        "confidence": 0.8,
    }
    state, _ = feed(
        [
            agent("ReasoningStarted", 1),
            agent("ReasoningStep", 2, content=step, content_type="ReasoningStep"),
            agent("ReasoningStep", 2, content=step, content_type="ReasoningStep"),
            agent("ReasoningContentDelta", 3, reasoning_content="First, "),
            agent("RunReasoningContent", 4, content="second, "),
            agent("ReasoningContent", 5, content="third."),
            agent("ReasoningCompleted", 6),
            agent("ReasoningContentDelta", 7, reasoning_content="Again."),
        ]
    )
    assert texts(state) == [
        ("agent", "harness agent", "reasoning", "First, second, third.", True),
        ("agent", "harness agent", "reasoning", "Again.", False),
    ]
    first = state.runs[RUN].messages[0]
    assert first.steps == (ReasoningStep(**step),)


def test_empty_reasoning_content_adds_no_message() -> None:
    """Agno's empty reasoning_content on plain chunks (as in the real sample) adds nothing."""
    state, _ = feed([content("plain", 1, reasoning=""), content(" text", 2, reasoning=None)])
    assert [kind for _, _, kind, _, _ in texts(state)] == ["content"]


# --- teams and members (defect 24) --------------------------------------------------------------


def test_a_team_whose_members_interleave_gives_two_member_messages_and_the_leaders() -> None:
    """Parallel members never split each other's messages; each carries its graph name."""
    state, _ = feed(
        [
            leader("TeamRunStarted", 1),
            leader("TeamRunContent", 2, content="I will ask my team. "),
            leader(
                "TeamToolCallStarted",
                3,
                node=None,
                tool=tool("d1", "delegate_task_to_member", {"member_id": "m0", "task": "dig"}),
            ),
            member(0, "RunContent", 4, content="Facts "),
            member(1, "RunContent", 5, content="Prose "),
            member(0, "RunContent", 6, content="found."),
            member(1, "RunContent", 7, content="written."),
            member(0, "RunContentCompleted", 8, node=None),
            member(1, "RunCompleted", 9, content="Prose written."),
            leader(
                "TeamToolCallCompleted",
                10,
                node=None,
                tool=tool(
                    "d1",
                    "delegate_task_to_member",
                    {"member_id": "m0", "task": "dig"},
                    "Facts found.",
                    False,
                    child_run_id="child-run-0",
                ),
            ),
            leader("TeamRunContent", 11, content="Summary."),
            leader("TeamRunContentCompleted", 12, node=None),
        ]
    )
    assert texts(state) == [
        ("leader", "Editorial team", "content", "I will ask my team. Summary.", True),
        ("member", "Researcher", "content", "Facts found.", True),
        ("member", "writer_node", "content", "Prose written.", True),
    ]
    section = chat_section(state)[RUN]
    assert [m["node_id"] for m in section] == [TEAM_NODE, *MEMBER_NODES[:2]]
    assert section[0]["tools"][0]["name"] == "delegate_task_to_member"
    assert section[0]["tools"][0]["result"] == "Facts found."
    lead = state.runs[RUN].messages[0]
    assert lead.delegations == (
        Delegation("d1", "child-run-0", "m0", {"member_id": "m0", "task": "dig"}),
    )


def test_a_member_unknown_to_the_graph_is_called_member_n() -> None:
    """A member whose node the graph lacks is ``Member <member_index+1>``."""
    state, _ = feed([member(2, "RunContent", 1, content="hi")])
    assert texts(state) == [("member", "Member 3", "content", "hi", False)]
    state, _ = feed([member(0, "RunContent", 1, content="hi")], graph=None)
    assert texts(state) == [("member", "Member 1", "content", "hi", False)]


def test_interleaved_members_without_sequence_id_are_neither_split_nor_duplicated() -> None:
    """Defect 24: chunks without sequence_id of two members stay whole and appear once."""
    state, _ = feed(
        [
            member(0, "RunContent", None, content="a1 "),
            member(1, "RunContent", None, content="b1 "),
            member(0, "RunContent", None, content="a2"),
            member(1, "RunContent", None, content="b2"),
        ]
    )
    assert texts(state) == [
        ("member", "Researcher", "content", "a1 a2", False),
        ("member", "writer_node", "content", "b1 b2", False),
    ]


def test_members_sharing_a_node_are_kept_apart_by_their_index() -> None:
    """Members keyed on (parent_team_id, member_index) stay apart even on one node."""
    state, _ = feed(
        [
            member(0, "RunContent", 1, node=TEAM_NODE, content="x"),
            member(1, "RunContent", 2, node=TEAM_NODE, content="y"),
            member(0, "RunContent", 3, node=TEAM_NODE, content="x"),
        ]
    )
    assert [text for _, _, _, text, _ in texts(state)] == ["xx", "y"]


# --- nodes, runs, ids -------------------------------------------------------------------------


def test_a_null_node_id_is_resolved_from_the_sender_that_streamed_before() -> None:
    """RunContentCompleted and team tool events without node_id find the sender's node."""
    state, _ = feed(
        [
            content("hi", 1),
            leader("TeamRunContent", 2, content="lead"),
            agent("ToolCallStarted", 3, node=None, tool=SAY_HELLO),
            agent("RunContentCompleted", 4, node=None),
            leader("TeamRunContentCompleted", 5, node=None),
        ]
    )
    section = chat_section(state)[RUN]
    assert [(m["node_id"], m["closed"], len(m["tools"])) for m in section] == [
        (AGENT_NODE, True, 1),
        (TEAM_NODE, True, 0),
    ]


def test_chat_of_one_run_never_lands_in_another() -> None:
    """Defect 23: two runs of one agent on one node keep separate chat and node maps."""
    state, _ = feed(
        [
            content("A1 ", 1, run=RUN),
            content("B1 ", 1, run=RUN_B),
            content("A2", 2, run=RUN),
            agent("RunContentCompleted", 2, run=RUN_B, node=None),
            content("B2", 3, run=RUN_B),
            agent("RunContent", 1, run="run-c", node=None, content="C"),
        ]
    )
    assert texts(state, RUN) == [("agent", "harness agent", "content", "A1 A2", False)]
    assert texts(state, RUN_B) == [
        ("agent", "harness agent", "content", "B1 ", True),
        ("agent", "harness agent", "content", "B2", False),
    ]
    # run-c never saw the agent on a node: its null node is not borrowed from another run
    assert chat_section(state)["run-c"][0]["node_id"] is None


def test_ids_with_quotes_and_markup_are_stored_and_shown_as_is() -> None:
    """Ids are data: quotes, backslashes and markup in run, node and agent ids are kept."""
    run = 'run "1" <b>\\'
    node = "node 'x' <script>"
    state, _ = feed(
        [
            content("ok", 1, run=run, node=node, agent_id='a"gent'),
            agent("RunContentCompleted", 2, run=run, node=None, agent_id='a"gent'),
        ],
        graph=None,
    )
    assert chat_section(state) == {
        run: [
            {
                "node_id": node,
                "speaker": "agent",
                "name": "harness agent",
                "kind": "content",
                "text": "ok",
                "closed": True,
                "tools": [],
            }
        ]
    }


def test_eviction_drops_the_run_chat() -> None:
    """Evict removes the run's messages and node map, and tells views; other runs stay."""
    state, _ = feed([content("A", 1, run=RUN), content("B", 1, run=RUN_B)])
    state, effects = feed([Evict(RUN)], state)
    assert set(chat_section(state)) == {RUN_B}
    assert RUN not in state.runs
    assert effects == [Change("chat", "cleared", RUN)]


def test_every_message_change_emits_a_chat_change_with_a_summary() -> None:
    """Each chunk and tool update is one Change a live view can redraw from; a dropped
    duplicate changes nothing."""
    _, effects = feed(
        [content("Hi", 1), agent("ToolCallStarted", 2, tool=SAY_HELLO), content("Hi", 1)]
    )
    name = "harness agent"
    assert effects == [
        Change(
            "chat",
            "message",
            RUN,
            AGENT_NODE,
            MessageSummary(0, "agent", name, "content", False, "Hi", 0),
        ),
        Change(
            "chat",
            "message",
            RUN,
            AGENT_NODE,
            MessageSummary(0, "agent", name, "content", False, "Hi", 1),
        ),
    ]
    assert "content open 'Hi' tools=1" in effects[-1].describe()


# --- HTML ---------------------------------------------------------------------------------------


def test_html_is_sanitised_and_the_raw_text_kept() -> None:
    """ChatHTML: no script, no event handlers, no javascript: links; raw HTML kept in state."""
    raw = (
        '<p>Report <b>ready</b><img src="x.png" onerror="alert(1)"></p>'
        "<script>alert('x')</script>"
        '<a href="javascript:alert(1)">bad</a> <a href="https://example.com/r">link</a>'
    )
    frame = {
        "event": "ChatHTML",
        "html_content": raw,
        "run_id": RUN,
        "node_id": HTML_NODE,
        "sequence_id": 9,
        "microtime": 1795818775.88,
        "message_id": f"msg_{RUN}_9",
        "agent_role": "single",
        "is_member_agent": False,
    }
    state, _ = feed([frame, frame])
    (item,) = chat_section(state)[RUN]
    text = item["text"]
    assert item["kind"] == "html"
    assert item["closed"] is True
    assert item["name"] == "chat_html"
    for bad in ("<script", "alert", "onerror", "javascript:"):
        assert bad not in text
    assert '<a href="https://example.com/r"' in text
    assert "<b>ready</b>" in text
    assert state.runs[RUN].messages[0].raw_html == raw
    assert "raw" not in json.dumps(chat_section(state))


def test_sanitise_html_keeps_formatting_and_escapes_stray_markup() -> None:
    """Ordinary tags survive untouched; text that is not markup is escaped."""
    assert sanitise_html("<b>agent finished</b>") == "<b>agent finished</b>"
    assert sanitise_html("a < b & c") == "a &lt; b &amp; c"
    assert sanitise_html('<div onclick="x()"><i>i</i></div>') == "<div><i>i</i></div>"


# --- through the pipeline -----------------------------------------------------------------------


def test_replaying_the_agent_sample_gives_one_agent_message_and_one_html_item(
    examples: Path,
) -> None:
    """The real recording: one closed agent message with say_hello attached, one HTML item."""
    run = "0e000000-0000-4000-8000-000000000003"
    snap = replay_sample(examples).snapshot()
    assert snap["chat"] == {
        run: [
            {
                "node_id": "b0000000-0000-4000-8000-000000000002",
                "speaker": "agent",
                "name": "harness agent",
                "kind": "content",
                "text": "The tool said hello. Done.",
                "closed": True,
                "tools": [
                    {
                        "name": "say_hello",
                        "args": {"name": "flowrx"},
                        "result": "hello flowrx",
                        "error": False,
                    }
                ],
            },
            {
                "node_id": "b0000000-0000-4000-8000-000000000005",
                "speaker": "agent",
                "name": "chat_html",
                "kind": "html",
                "text": "<b>agent finished</b>",
                "closed": True,
                "tools": [],
            },
        ]
    }
    assert snap["diagnostics"]["final_text_differs"] == 0
    assert snap["diagnostics"]["failed"]["chat"] == 0


def test_a_fault_in_chat_leaves_every_other_section_identical(examples: Path) -> None:
    """Isolation: chat failing on every event changes nothing outside chat."""
    clean = replay_sample(examples).snapshot()
    faulty = replay_sample(examples, faults={"chat": 1.0}).snapshot()
    for section in ("visual", "store", "lifecycle", "tool", "interaction", "group", "surface"):
        assert faulty[section] == clean[section], section
    assert faulty["chat"] == {}
    failed = faulty["diagnostics"]["failed"]
    assert failed["chat"] > 0
    assert all(n == 0 for name, n in failed.items() if name != "chat")
    counters = {k: v for k, v in clean["diagnostics"].items() if k not in ("failed", "health")}
    assert {k: faulty["diagnostics"][k] for k in counters} == counters


def test_the_pipeline_counts_differing_final_texts_and_drops_repeated_frames() -> None:
    """Through intake and the concern: a repeated frame appears once, differs is counted."""
    frames = [
        execution("run_start"),
        content("Helo", 1),
        content("Helo", 1),
        agent("RunContentCompleted", 2, node=None),
        agent("RunCompleted", 3, content="Hello"),
        execution("run_end"),
    ]
    snap = pipeline(frames).snapshot()
    assert [(m["text"], m["closed"]) for m in snap["chat"][RUN]] == [("Hello", True)]
    assert snap["diagnostics"]["final_text_differs"] == 1
    assert snap["diagnostics"]["duplicates"] == 1
