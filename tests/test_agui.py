"""AG-UI as an input: the real captures replay cleanly, and every rule of ``agui.md`` holds.

The captures in ``examples/agui`` were produced by pydantic-ai and Agno (each file's header
says how); the rules they do not exercise (steps, chunks, snapshots of messages, cancelled
runs, violations) are written as marbles of AG-UI events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLES, cli

from flowrx import read_recording
from flowrx.config import Config
from flowrx.messages import EndOfStream, Reply, ResolveInteraction
from flowrx.protocols import detect_protocol
from flowrx.protocols.agui import AGUI, reduce_agui, resume_input
from flowrx.streams.replay import RecordedFrame
from flowrx.testing import Harness, agui_event, run_frames, run_marbles

SAMPLES = sorted((EXAMPLES / "agui").glob("*/*.jsonl"))
THREAD = "t1"


def _replay(path: Path) -> Harness:
    return run_frames(read_recording(path).frames, protocol="agui")


def _sample(name: str) -> Harness:
    return _replay(EXAMPLES / "agui" / f"{name}.jsonl")


def _legs(path: Path) -> list[float]:
    """The time of each leg's first frame (a resume is a new HTTP request: a new leg)."""
    starts: dict[int, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if "leg" in entry:
            starts.setdefault(entry["leg"], entry["t"])
    return [starts[leg] for leg in sorted(starts)]


def _ev(kind: str, **fields: Any) -> str:
    return agui_event(kind, **fields)


START = _ev("RUN_STARTED", thread_id=THREAD, run_id="r1")
FINISH = _ev("RUN_FINISHED", thread_id=THREAD, run_id="r1")
BASE = {
    "S": START,
    "F": FINISH,
    "m": _ev("TEXT_MESSAGE_START", message_id="m1", role="assistant"),
    "c": _ev("TEXT_MESSAGE_CONTENT", message_id="m1", delta="Hi "),
    "e": _ev("TEXT_MESSAGE_END", message_id="m1"),
    "E": _ev("RUN_ERROR", message="boom", code="X"),
}


def _marbles(diagram: str, **extra: str) -> Harness:
    return run_marbles(diagram, {**BASE, **extra}, protocol="agui")


def _diag(snap: dict[str, Any]) -> dict[str, Any]:
    return snap["diagnostics"]


# --- the real captures ----------------------------------------------------------------------


def test_the_captures_are_in_the_repository() -> None:
    """Both producers' captures ship with the repository (users have no shared folder)."""
    producers = {path.parent.name for path in SAMPLES}
    assert producers == {"agno", "pydantic-ai"}
    assert len(SAMPLES) == 22


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_capture_replays_without_rejection_violation_or_failure_and_settles(
    path: Path,
) -> None:
    """A real stream: nothing rejected, no violation, no concern failure; at the end no glow,
    the editor unlocked, no run running and nothing pending."""
    snap = _replay(path).finish()
    diag = _diag(snap)
    assert diag["rejected"] == 0
    assert diag["violations"] == 0
    assert diag["unknown"] == 0
    assert not any(diag["failed"].values())
    assert diag["frames"] == diag["messages"]
    assert snap["surface"] == {}
    assert snap["visual"] == {}
    assert snap["tool"] == {}
    life = snap["lifecycle"]
    assert life["editor_locked"] is False
    assert life["active_run_id"] is None
    assert len(life["runs"]) == 1
    assert all(run["status"] in ("success", "error") for run in life["runs"].values())
    assert snap["interaction"]["pending"] == []


def test_the_protocol_is_detected_from_the_first_frame_of_every_capture() -> None:
    """Without a header naming it, an AG-UI event as the first frame means ``agui``."""
    for path in SAMPLES:
        recording = read_recording(path)
        assert detect_protocol(recording.header, recording.frames[0].data) == "agui"
    platform = read_recording(EXAMPLES / "agent-chat.jsonl")
    assert detect_protocol(platform.header, platform.frames[0].data) == "platform"


def test_a_header_naming_the_protocol_wins_and_an_unknown_one_is_an_error() -> None:
    """``"protocol"`` in the header decides; a name flowrx does not know is a clear error."""
    assert detect_protocol({"protocol": "agui"}, '{"event": "run_start"}') == "agui"
    with pytest.raises(ValueError, match="no such protocol"):
        detect_protocol({"protocol": "mcp"}, None)


def test_a_tool_run_shows_the_call_with_arguments_and_result_in_the_chat() -> None:
    """pydantic-ai's tool run: the call on the agent's message, args parsed, result as sent,
    and the tool node glows 2 s from its start."""
    h = _sample("pydantic-ai/tool")
    snap = h.finish()
    (run_id,) = snap["chat"]
    first, second = snap["chat"][run_id]
    assert first["tools"] == [
        {
            "name": "get_weather",
            "args": {"city": "Paris"},
            "result": "sunny, 21C in Paris",
            "error": False,
        }
    ]
    assert second["text"] == "It is sunny in Paris. "
    assert snap["lifecycle"]["runs"][run_id]["status"] == "success"
    starts = [t for t, c in h.effects("tool", "glow") if c.value == ("executing-tool",)]
    ends = [t for t, c in h.effects("tool", "glow") if c.value == ()]
    assert len(starts) == len(ends) == 1
    assert ends[0] - starts[0] == pytest.approx(2.0)


def test_an_approval_interrupt_is_pending_between_the_legs_and_the_resume_is_the_same_run() -> None:
    """pydantic-ai's approval: after leg 0 the run is paused (editor unlocked) with the
    interrupt pending; leg 1 resumes the same run (resumes 1), resolves it, ends success."""
    path = EXAMPLES / "agui" / "pydantic-ai" / "interrupt-approval.jsonl"
    h = _replay(path)
    between = h.at(_legs(path)[1] - 0.001)
    (run_id,) = between["lifecycle"]["runs"]
    assert between["lifecycle"]["runs"][run_id]["status"] == "paused"
    assert between["lifecycle"]["editor_locked"] is False
    (item,) = between["interaction"]["pending"]
    assert item["id"] == "int-call_del"
    assert item["kind"] == "pause"
    assert item["node_id"] == "delete_file"
    assert item["detail"]["toolCallId"] == "call_del"
    assert item["detail"]["reason"] == "tool_call"
    assert "responseSchema" in item["detail"]
    end = h.finish()
    assert list(end["lifecycle"]["runs"]) == [run_id]
    assert end["lifecycle"]["runs"][run_id]["resumes"] == 1
    assert end["lifecycle"]["runs"][run_id]["status"] == "success"
    assert end["interaction"] == {"pending": [], "resolved": 1}
    tools = end["chat"][run_id][0]["tools"]
    assert tools[0]["result"] == "deleted /tmp/x.txt"


def test_a_client_side_tool_is_pending_as_a_frontend_tool_until_the_next_run() -> None:
    """``pendingToolCallIds`` of a success: the run is paused with a ``frontend_tool`` item."""
    path = EXAMPLES / "agui" / "pydantic-ai" / "frontend-tool.jsonl"
    h = _replay(path)
    between = h.at(_legs(path)[1] - 0.001)
    (item,) = between["interaction"]["pending"]
    assert (item["id"], item["kind"]) == ("call_fe", "frontend_tool")
    assert item["detail"] == {
        "toolCallId": "call_fe",
        "name": "show_confirm_dialog",
        "args": {"title": "Proceed?"},
    }
    assert h.finish()["interaction"]["resolved"] == 1


def test_agnos_pause_without_an_outcome_pends_the_call_that_has_no_result() -> None:
    """Agno ends a paused run with a bare RUN_FINISHED: the call without a result is pending
    ``pause``; the resumed leg re-announces it, which is no violation and no second entry."""
    path = EXAMPLES / "agui" / "agno" / "pause-confirmation.jsonl"
    h = _replay(path)
    between = h.at(_legs(path)[1] - 0.001)
    (run_id,) = between["lifecycle"]["runs"]
    assert between["lifecycle"]["runs"][run_id]["status"] == "paused"
    (item,) = between["interaction"]["pending"]
    assert (item["id"], item["kind"], item["node_id"]) == ("call_del", "pause", "delete_file")
    end = h.finish()
    calls = [t for m in end["chat"][run_id] for t in m["tools"]]
    assert [c["name"] for c in calls] == ["delete_file"]
    assert calls[0]["result"] == '"deleted /tmp/x.txt"'


def test_an_error_mid_arguments_ends_the_run_in_error_with_the_call_cut_off() -> None:
    """RUN_ERROR while a call's arguments stream: run and agent node ``error``, the call
    ``error: true`` with its partial arguments as the text sent."""
    snap = _sample("pydantic-ai/error-mid-tool-args").finish()
    (run_id,) = snap["lifecycle"]["runs"]
    assert snap["lifecycle"]["runs"][run_id]["status"] == "error"
    assert [b["status"] for b in snap["store"][run_id]] == ["error"]
    (message,) = snap["chat"][run_id]
    (call,) = message["tools"]
    assert call["error"] is True
    assert call["args"] == '{"city": "Ro'


def test_reasoning_messages_are_their_own_kind_in_arrival_order() -> None:
    """pydantic-ai's thinking: reasoning, tool call, reasoning, answer, in that order."""
    snap = _sample("pydantic-ai/thinking").finish()
    (messages,) = snap["chat"].values()
    assert [m["kind"] for m in messages] == ["reasoning", "content", "reasoning", "content"]
    assert messages[0]["text"].startswith("The user wants")


def test_parallel_calls_of_one_tool_both_reach_the_chat_and_glow_while_either_runs() -> None:
    """Two overlapping ``slow_lookup`` calls: two entries with their own results; the node
    glows from the first start to two seconds after the last start (results came sooner)."""
    h = _sample("pydantic-ai/parallel-tools")
    snap = h.finish()
    (messages,) = snap["chat"].values()
    keys = [t["args"]["key"] for t in messages[0]["tools"]]
    assert keys == ["alpha", "beta"]
    glow = h.effects("tool", "glow")
    assert [c.value for _, c in glow] == [("executing-tool",), ()]


# --- rules the captures do not exercise --------------------------------------------------------


def test_steps_are_nodes_and_a_repeated_step_is_a_new_badge() -> None:
    """Each STEP_STARTED is a badge in arrival order; the same step again gets a new one."""
    h = _marbles(
        "S-a-b-a-b-F",
        a=_ev("STEP_STARTED", step_name="plan"),
        b=_ev("STEP_FINISHED", step_name="plan"),
    )
    snap = h.finish()
    assert [(b["node_id"], b["order"], b["status"]) for b in snap["store"]["r1"]] == [
        ("plan", 0, "success"),
        ("plan", 1, "success"),
    ]
    assert _diag(snap)["violations"] == 0


def test_text_outside_a_step_runs_on_the_agent_node_and_a_step_takes_its_own_text() -> None:
    """No step open: the node ``agent``; inside a step: the step's node."""
    snap = _marbles(
        "S-mce-a-n-b-F",
        a=_ev("STEP_STARTED", step_name="write"),
        n=_ev("TEXT_MESSAGE_CHUNK", message_id="m2", delta="in step"),
        b=_ev("STEP_FINISHED", step_name="write"),
    ).finish()
    assert [m["node_id"] for m in snap["chat"]["r1"]] == ["agent", "write"]
    assert [(b["node_id"], b["status"]) for b in snap["store"]["r1"]] == [
        ("agent", "success"),
        ("write", "success"),
    ]


def test_a_step_open_at_the_runs_end_takes_the_runs_outcome() -> None:
    """RUN_ERROR ends an open step ``error``; a success ends it ``success`` and counts a
    violation; a cancelled run ends it ``killed``."""
    step = _ev("STEP_STARTED", step_name="s")
    cancelled = _ev("RUN_FINISHED", thread_id=THREAD, run_id="r1", outcome={"type": "cancelled"})
    error = _marbles("S-a-E", a=step).finish()
    assert error["store"]["r1"][0]["status"] == "error"
    assert error["lifecycle"]["runs"]["r1"]["status"] == "error"
    success = _marbles("S-a-F", a=step).finish()
    assert success["store"]["r1"][0]["status"] == "success"
    assert _diag(success)["violations"] == 1
    killed = _marbles("S-a-x", a=step, x=cancelled).finish()
    assert killed["store"]["r1"][0]["status"] == "killed"
    assert killed["lifecycle"]["runs"]["r1"]["status"] == "killed"


def test_chunks_continue_the_open_message_of_their_id_and_another_event_closes_it() -> None:
    """TEXT_MESSAGE_CHUNK: an id starts a message, chunks without id continue it; a tool
    call chunk after it closes the message."""
    snap = _marbles(
        "S-abcd-F",
        a=_ev("TEXT_MESSAGE_CHUNK", message_id="k", delta="Hel"),
        b=_ev("TEXT_MESSAGE_CHUNK", delta="lo"),
        c=_ev("TOOL_CALL_CHUNK", tool_call_id="t", tool_call_name="f", parent_message_id="k"),
        d=_ev("TOOL_CALL_CHUNK", delta='{"x": 1}'),
    ).finish()
    (message,) = snap["chat"]["r1"]
    assert message["text"] == "Hello"
    assert message["closed"] is True
    assert message["tools"] == [{"name": "f", "args": {"x": 1}, "result": None, "error": False}]
    assert _diag(snap)["violations"] == 0


def test_a_first_chunk_without_an_id_is_a_violation_and_nothing_else() -> None:
    """A chunk that continues nothing is counted, never fatal: the run goes on."""
    snap = _marbles("S-a-mce-F", a=_ev("TEXT_MESSAGE_CHUNK", delta="lost")).finish()
    assert _diag(snap)["violations"] == 1
    assert [m["text"] for m in snap["chat"]["r1"]] == ["Hi "]
    assert snap["lifecycle"]["runs"]["r1"]["status"] == "success"


def test_a_messages_snapshot_replaces_a_different_streamed_text_and_adds_nothing() -> None:
    """MESSAGES_SNAPSHOT reconciles the announced assistant message by id (counted in
    ``final_text_differs``); its user message and unknown ids add no message."""
    reconcile = _ev(
        "MESSAGES_SNAPSHOT",
        messages=[
            {"id": "u1", "role": "user", "content": "hello"},
            {"id": "m1", "role": "assistant", "content": "Hi there"},
            {"id": "zz", "role": "assistant", "content": "never streamed"},
        ],
    )
    snap = _marbles("S-mce-x-F", x=reconcile).finish()
    assert [m["text"] for m in snap["chat"]["r1"]] == ["Hi there"]
    assert _diag(snap)["final_text_differs"] == 1


def test_a_custom_on_interrupt_pends_unless_the_outcome_names_the_interrupts() -> None:
    """CUSTOM on_interrupt makes a pending ``other`` and pauses the run; with an interrupt
    outcome, the outcome's interrupts are the only pending items."""
    signal = _ev("CUSTOM", name="on_interrupt", value={"question": "go?"})
    alone = _marbles("S-x-F", x=signal).finish()
    (item,) = alone["interaction"]["pending"]
    assert (item["kind"], item["detail"]) == ("other", {"question": "go?"})
    assert alone["lifecycle"]["runs"]["r1"]["status"] == "paused"
    outcome = {"type": "interrupt", "interrupts": [{"id": "i1", "reason": "input_required"}]}
    finish = _ev("RUN_FINISHED", thread_id=THREAD, run_id="r1", outcome=outcome)
    both = _marbles("S-x-y", x=signal, y=finish).finish()
    assert [(i["id"], i["kind"]) for i in both["interaction"]["pending"]] == [("i1", "other")]


def test_the_run_finished_after_run_error_of_upstream_611_is_counted_not_fatal() -> None:
    """A producer sends RUN_FINISHED after RUN_ERROR: one violation; the run stays ``error``
    and a later run on the thread still works."""
    again = _ev("RUN_STARTED", thread_id=THREAD, run_id="r2")
    snap = _marbles(
        "S-mc-E-F-a-f",
        a=again,
        f=_ev("RUN_FINISHED", thread_id=THREAD, run_id="r2"),
    ).finish()
    assert _diag(snap)["violations"] == 1
    assert snap["lifecycle"]["runs"]["r1"]["status"] == "error"
    assert snap["lifecycle"]["runs"]["r2"]["status"] == "success"


def test_protocol_violations_are_each_counted_and_applied_where_they_can_be() -> None:
    """Content before any run, a second start of an open message, content of an unknown
    message (shown all the same), an end of a call never started, RUN_FINISHED with two
    messages open (each counted): six violations, nothing rejected, nothing failed."""
    snap = _marbles(
        "c-S-mm-u-z-F",
        u=_ev("TEXT_MESSAGE_CONTENT", message_id="ghost", delta="boo"),
        z=_ev("TOOL_CALL_END", tool_call_id="never"),
    ).finish()
    diag = _diag(snap)
    assert diag["violations"] == 6
    assert diag["rejected"] == 0
    assert not any(diag["failed"].values())
    assert [m["text"] for m in snap["chat"]["r1"]] == ["boo"]


def test_unknown_event_types_are_counted_and_skipped_and_bad_frames_rejected() -> None:
    """An event type AG-UI does not define is ``unknown``; text that is not a JSON object
    with a type is rejected; every frame counts once."""
    snap = _marbles(
        "S-x-y-z-mce-F",
        x=_ev("FUTURE_EVENT", data=1),
        y="not json",
        z=json.dumps({"no": "type"}),
    ).finish()
    diag = _diag(snap)
    assert (diag["unknown"], diag["rejected"], diag["violations"]) == (1, 2, 0)
    assert diag["frames"] == diag["messages"] + diag["rejected"]
    assert snap["lifecycle"]["runs"]["r1"]["status"] == "success"


def test_a_stream_that_ends_with_its_run_open_ends_the_run_in_error() -> None:
    """The source's EndOfStream with a run open: the run ends ``error``, the glow goes."""
    frames = [
        RecordedFrame(0.0, START),
        RecordedFrame(0.1, BASE["m"]),
        RecordedFrame(0.2, BASE["c"]),
    ]
    state, out = AGUI.initial, []
    for frame in frames:
        state, more = reduce_agui(state, frame.data, frame.t, Config())
        out.extend(more)
    state, ended = reduce_agui(state, EndOfStream("the body ended"), 0.3, Config())
    events = [getattr(m, "event", None) for m in ended]
    assert events[-1] == "run_end"
    assert ended[-1].outcome == "error"  # type: ignore[union-attr]
    assert state.current is None


def test_a_member_speaks_with_its_subagent_name() -> None:
    """Text of a sub-agent run speaks as ``member`` named by SUBAGENT_STARTED."""
    snap = _marbles(
        "S-a-b-F",
        a=_ev("SUBAGENT_STARTED", subagent_run_id="s1", name="researcher"),
        b=_ev("TEXT_MESSAGE_CHUNK", message_id="k", delta="found it", subagent_run_id="s1"),
    ).finish()
    (message,) = snap["chat"]["r1"]
    assert (message["speaker"], message["name"]) == ("member", "researcher")


def test_the_host_resolves_a_pending_interrupt_by_its_id() -> None:
    """ResolveInteraction through the stream resolves the item; the run stays paused."""
    outcome = {"type": "interrupt", "interrupts": [{"id": "i1", "reason": "x"}]}
    finish = _ev("RUN_FINISHED", thread_id=THREAD, run_id="r1", outcome=outcome)
    h = _marbles("S-y", y=finish)
    assert len(h.at(0.3)["interaction"]["pending"]) == 1
    h.state.send(ResolveInteraction("i1"))
    snap = h.finish()
    assert snap["interaction"] == {"pending": [], "resolved": 1}


def test_runs_beyond_the_limit_evict_the_oldest_from_every_concern() -> None:
    """``max_runs`` holds for AG-UI as for the platform: the oldest run leaves."""
    frames: list[RecordedFrame] = []
    for i in range(4):
        t = i * 1.0
        frames.append(RecordedFrame(t, _ev("RUN_STARTED", thread_id=f"t{i}", run_id=f"r{i}")))
        frames.append(RecordedFrame(t + 0.1, BASE["m"].replace("m1", f"m{i}")))
        frames.append(
            RecordedFrame(t + 0.2, _ev("TEXT_MESSAGE_CONTENT", message_id=f"m{i}", delta="x"))
        )
        frames.append(RecordedFrame(t + 0.3, _ev("RUN_FINISHED", thread_id=f"t{i}", run_id="")))
    snap = run_frames(frames, protocol="agui", config=Config(max_runs=2)).finish()
    assert sorted(snap["chat"]) == ["r2", "r3"]
    assert sorted(snap["lifecycle"]["runs"]) == ["r2", "r3"]


# --- talking back ---------------------------------------------------------------------------


def _paused(name: str) -> tuple[Harness, list[Reply]]:
    """A capture replayed up to its first leg's end, with the replies the host's answers make."""
    path = EXAMPLES / "agui" / f"{name}.jsonl"
    h = _replay(path)
    h.at(_legs(path)[1] - 0.001)
    replies: list[Reply] = []
    h.state.replies.subscribe(replies.append)
    return h, replies


def test_answering_an_interrupt_makes_one_reply_and_leaves_it_pending_until_the_resume() -> None:
    """``FlowState.resolve(id, payload)`` on AG-UI: one Reply with the answer and the chat
    so far; the item stays pending (the resume run resolves it)."""
    h, replies = _paused("pydantic-ai/interrupt-approval")
    h.state.resolve("int-call_del", {"approved": True})
    (reply,) = replies
    assert [(a.interaction_id, a.payload) for a in reply.answers] == [
        ("int-call_del", {"approved": True})
    ]
    assert [m.text for m in reply.messages] == ["I need your approval to delete it."]
    assert len(h.state.snapshot()["interaction"]["pending"]) == 1


def test_the_resume_run_is_a_valid_run_agent_input_with_the_conversation_and_the_answer() -> None:
    """The resume input validates with ag-ui-protocol's own model: the user's message, the
    assistant's message with its tool call, and a resume entry for the interrupt."""
    from ag_ui.core import RunAgentInput

    h, replies = _paused("pydantic-ai/interrupt-approval")
    h.state.resolve("int-call_del", {"approved": True})
    user = {"id": "u1", "role": "user", "content": "delete /tmp/x.txt"}
    body = resume_input("thread-approval", [user], replies[0])
    parsed = RunAgentInput.model_validate(body)
    assert parsed.thread_id == "thread-approval"
    assert [m.role for m in parsed.messages] == ["user", "assistant"]
    (call,) = body["messages"][1]["toolCalls"]
    assert call["function"] == {"name": "delete_file", "arguments": '{"path": "/tmp/x.txt"}'}
    assert body["resume"] == [
        {"interruptId": "int-call_del", "status": "resolved", "payload": {"approved": True}}
    ]


def test_a_client_side_tool_is_answered_with_a_tool_message() -> None:
    """``frontend_tool`` items are answered as the tool's result, not as a resume entry."""
    from ag_ui.core import RunAgentInput

    h, replies = _paused("pydantic-ai/frontend-tool")
    h.state.resolve("call_fe", {"confirmed": True})
    body = resume_input("thread-fe", [], replies[0])
    RunAgentInput.model_validate(body)
    assert "resume" not in body
    assert body["messages"][-1] == {
        "id": "call_fe-result",
        "role": "tool",
        "toolCallId": "call_fe",
        "content": '{"confirmed": true}',
    }


def test_a_reply_waits_for_every_pending_item_of_the_run() -> None:
    """Two interrupts: the first answer makes no reply, the second makes one with both."""
    outcome = {
        "type": "interrupt",
        "interrupts": [{"id": "a", "reason": "x"}, {"id": "b", "reason": "y"}],
    }
    h = _marbles("S-y", y=_ev("RUN_FINISHED", thread_id=THREAD, run_id="r1", outcome=outcome))
    h.at(0.3)
    replies: list[Reply] = []
    h.state.replies.subscribe(replies.append)
    h.state.resolve("b", "no", status="cancelled")
    assert replies == []
    h.state.resolve("a", "yes")
    (reply,) = replies
    assert [(a.interaction_id, a.status) for a in reply.answers] == [
        ("a", "resolved"),
        ("b", "cancelled"),
    ]
    with pytest.raises(KeyError, match="no pending interaction 'zz'"):
        h.state.resolve("zz")


# --- the command line -----------------------------------------------------------------------


def test_replay_detects_an_agui_capture_and_prints_its_snapshot() -> None:
    """``flowrx replay FILE --instant --snapshot`` on a capture: the AG-UI protocol, no flag."""
    code, out, _ = cli("replay", str(SAMPLES[0]), "--instant", "--snapshot")
    assert code == 0
    snap = json.loads(out)
    assert snap["diagnostics"]["rejected"] == 0
    assert len(snap["lifecycle"]["runs"]) == 1


def test_replay_with_the_wrong_protocol_rejects_what_it_cannot_read() -> None:
    """``--protocol platform`` forced on AG-UI events: none is understood as a run."""
    code, out, _ = cli(
        "replay", str(SAMPLES[0]), "--instant", "--snapshot", "--protocol", "platform"
    )
    assert code == 0
    snap = json.loads(out)
    assert snap["lifecycle"]["runs"] == {}
    assert snap["diagnostics"]["frames"] == len(read_recording(SAMPLES[0]).frames)


def test_a_header_naming_an_unknown_protocol_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """A recording whose header names a protocol flowrx does not read: exit 2, one line."""
    path = tmp_path / "odd.jsonl"
    header = {"flowrx": "recording/1", "note": "", "source": None, "protocol": "mcp"}
    path.write_text(json.dumps(header) + "\n" + json.dumps({"t": 0, "data": START}) + "\n")
    code, _, err = cli("replay", str(path), "--instant", "--snapshot")
    assert code == 2
    assert err.count("\n") == 1
    assert "no such protocol: 'mcp'" in err


@pytest.mark.parametrize("bursts", [False, True], ids=["one by one", "in bursts"])
def test_answer_pauses_answers_each_interrupt_once_whichever_concern_sees_the_pause_first(
    bursts: bool,
) -> None:
    """One event at a time the interrupt is pending before the run pauses; in a burst the
    lifecycle concern may see the pause first: either way one Reply, with the one answer."""
    from reactivex.subject import Subject

    from flowrx import VirtualClock, connect

    path = EXAMPLES / "agui" / "pydantic-ai" / "interrupt-approval.jsonl"
    leg0 = [f.data for f in read_recording(path).frames if f.t < _legs(path)[1]]
    clock = VirtualClock()
    frames: Subject[Any] = Subject()
    state, _ = connect(frames, scheduler=clock, protocol="agui")
    replies: list[Reply] = []
    state.replies.subscribe(replies.append)
    asked: list[str] = []

    def decide(item: dict[str, Any]) -> Any:
        asked.append(item["id"])
        return {"approved": True}

    state.answer_pauses(decide)
    if bursts:
        frames.on_next(leg0)  # the whole leg as one batch, as a reader's backlog comes
    else:
        for frame in leg0:
            frames.on_next(frame)
    clock.run()
    assert asked == ["int-call_del"]
    (reply,) = replies
    assert [a.payload for a in reply.answers] == [{"approved": True}]
