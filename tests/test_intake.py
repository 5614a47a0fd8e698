"""Tests for flowrx.protocols.platform.reduce_intake: accounting, per-run dedup, late, eviction."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pytest
from helpers import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrx.config import Config
from flowrx.messages import (
    AGNO_EVENTS,
    EXECUTION_EVENTS,
    AgnoEvent,
    Background,
    ChatHTML,
    ClearRun,
    Evict,
    ExecutionEvent,
    Foreground,
    ResolveInteraction,
    Unknown,
)
from flowrx.protocols.card import Notice
from flowrx.protocols.platform import Counters, IntakeState, Output, reduce_intake
from flowrx.streams.replay import read_recording
from flowrx.testing import fold

RUN_A = "0e000000-0000-4000-8000-00000000000a"
RUN_B = "0e000000-0000-4000-8000-00000000000b"
NODE = "a0000000-0000-4000-8000-000000000005"
TOOL = "a0000000-0000-4000-8000-000000000007"

NASTY_IDS = [
    'run"with"quotes',
    "run\\with\\backslashes",
    "<script>alert('x')</script>",
    "\"]; document.body.innerHTML='';//",
]


# --- frames ------------------------------------------------------------------------------------


def execution(event: str, run: str = RUN_A, node: str | None = NODE, **fields: Any) -> str:
    """An execution frame's text (run events get node null and order -1)."""
    frame: dict[str, Any] = {
        "flow_id": "11111111-2222-4333-8444-555555555555",
        "run_id": run,
        "node_id": node,
        "event": event,
        "order": 0,
        "status": "running",
    }
    if event in ("run_start", "run_end", "resume_start", "resume_end"):
        frame.update(node_id=None, order=-1)
    if event.endswith(("_tool", "_tool_or_member")):
        frame.update(order=-1)
    frame.update(fields)
    return json.dumps(frame)


def start(node: str = NODE, order: int = 0, run: str = RUN_A) -> str:
    """A start_node frame."""
    return execution("start_node", run, node, order=order)


def end(node: str = NODE, order: int = 0, status: str = "success", run: str = RUN_A) -> str:
    """An end_node frame."""
    return execution("end_node", run, node, order=order, status=status)


def chat(
    seq: int | None = 1,
    microtime: float | None = 1795818775.5,
    content: str = "Hel",
    run: str = RUN_A,
    event: str = "RunContent",
) -> str:
    """A relayed Agno chat frame (sequence_id omitted when seq is None)."""
    frame: dict[str, Any] = {
        "event": event,
        "run_id": run,
        "node_id": NODE,
        "agent_id": NODE,
        "content": content,
        "microtime": microtime,
        "agent_role": "single",
        "is_member_agent": False,
    }
    if seq is not None:
        frame["sequence_id"] = seq
    return json.dumps(frame)


# --- driving the reducer -----------------------------------------------------------------------


@attrs.define
class Fed:
    """The state after feeding inputs, and every output in order."""

    state: IntakeState
    outputs: list[Output]

    @property
    def counters(self) -> Counters:
        """The final counters."""
        return self.state.counters

    @property
    def messages(self) -> list[Output]:
        """Forwarded typed messages (no notices, no evictions)."""
        return [o for o in self.outputs if not isinstance(o, Notice | Evict)]

    def notices(self, kind: str) -> list[Notice]:
        """Notices of one kind."""
        return [o for o in self.outputs if isinstance(o, Notice) and o.kind == kind]


def feed(
    items: Iterable[object],
    *,
    state: IntakeState | None = None,
    config: Config = Config(),
    start_at: float = 0.0,
    step: float = 1.0,
) -> Fed:
    """Feed inputs one by one, ``step`` seconds apart (far beyond the byte dedupe window)."""

    def timed() -> Iterator[tuple[float, object]]:
        now = start_at
        for item in items:
            yield now, item
            now += step

    return feed_at(timed(), config, IntakeState() if state is None else state)


def feed_at(
    timed: Iterable[tuple[float, object]],
    config: Config = Config(),
    state: IntakeState | None = None,
) -> Fed:
    """Feed (time, input) pairs (to a fresh state unless given)."""
    return Fed(
        *fold(
            lambda s, m, n: reduce_intake(s, m, n, config),
            timed,
            IntakeState() if state is None else state,
        )
    )


def one(state: IntakeState, item: object, now: float = 100.0) -> tuple[Output, ...]:
    """The outputs of one input on top of a state."""
    return reduce_intake(state, item, now)[1]


def assert_identity(counters: Counters) -> None:
    """Every frame is accounted for exactly once."""
    assert counters.frames == (
        counters.messages + counters.heartbeats + counters.rejected + counters.duplicates
    ), counters


# --- accounting --------------------------------------------------------------------------------


def test_counting_identity_holds_after_mixed_input() -> None:
    """frames == messages + heartbeats + rejected + duplicates over every kind of input."""
    fed = feed(
        [
            execution("run_start"),
            "pong",
            start(),
            start(),  # duplicate
            "not json",
            "[1, 2]",
            json.dumps({"no": "event"}),
            chat(seq=1),
            chat(seq=1),  # duplicate
            chat(seq=None),
            chat(seq=None),
            json.dumps({"event": "BrandNewEvent", "run_id": RUN_A}),
            json.dumps({"event": "BrandNewEvent"}),
            end(status="skipped"),
            execution("run_end"),
            start(order=7),  # late
            b"\xff\xfe",
            Background(RUN_A),
        ]
    )
    assert fed.counters == Counters(
        frames=17,
        messages=10,
        heartbeats=1,
        rejected=4,
        duplicates=2,
        unknown=2,
        late=1,
        unknown_status=1,
    )
    assert_identity(fed.counters)


def test_forwarded_messages_are_the_messages_that_are_not_late() -> None:
    """Every counted message is forwarded once, except the late ones."""
    fed = feed(
        [
            execution("run_start"),
            start(),
            json.dumps({"event": "Mystery", "run_id": RUN_A}),
            execution("run_end"),
            start(order=1),
            end(order=1),
        ]
    )
    assert fed.counters.late == 2
    assert len(fed.messages) == fed.counters.messages - fed.counters.late == 4


def test_pong_is_counted_as_heartbeat_and_not_forwarded() -> None:
    """A heartbeat is a frame accounted for, but nothing for the concerns."""
    fed = feed(["pong", b"pong"])
    assert fed.counters == Counters(frames=2, heartbeats=2)
    assert fed.outputs == []


def test_rejected_frame_gives_a_rejected_notice_with_the_reason() -> None:
    """A rejection is counted and logged with the reason parse gave, and not forwarded."""
    fed = feed([execution("end_node", status="SUCCESS")])
    assert fed.counters == Counters(frames=1, rejected=1)
    (notice,) = fed.outputs
    assert isinstance(notice, Notice)
    assert notice.kind == "rejected"
    assert "status" in notice.detail
    assert "SUCCESS" in notice.detail


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        ("garbage", "not JSON"),
        ("[1]", "not an object"),
        ("null", "not an object"),
        (json.dumps({"run_id": RUN_A}), "no event"),
        (execution("start_node", order="5"), "order"),
        (execution("start_node", node=None), "node_id"),
        (json.dumps({"event": "start_node", "node_id": NODE, "order": 1}), "run_id"),
    ],
)
def test_each_rejection_reason_reaches_the_notice(frame: str, words: str) -> None:
    """The notice names what was wrong with the frame."""
    fed = feed([frame])
    assert fed.counters.rejected == 1
    assert words in fed.notices("rejected")[0].detail


def test_rejected_frames_register_no_run() -> None:
    """A frame that cannot be used creates no dedup memory."""
    fed = feed([execution("start_node", order="x"), "garbage"])
    assert dict(fed.state.runs) == {}


# --- duplicates of keyed execution frames ------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [start(), end(), execution("run_start"), execution("run_end")],
    ids=["start_node", "end_node", "run_start", "run_end"],
)
def test_repeated_keyed_execution_frame_is_a_duplicate(frame: str) -> None:
    """A keyed execution frame seen again for its run is a duplicate, however much later."""
    fed = feed([frame, frame], step=30.0)
    assert fed.counters.duplicates == 1
    assert fed.counters.messages == 1
    assert len(fed.messages) == 1
    (notice,) = fed.notices("duplicate")
    assert notice.run_id == RUN_A
    assert_identity(fed.counters)


def test_duplicate_is_recognised_by_fields_not_by_bytes() -> None:
    """The same (event, node, order, status) with other key order or extra fields is a duplicate."""
    first = start(order=3)
    again = json.dumps(dict(reversed(list(json.loads(first).items()))) | {"extra": 1})
    assert again != first
    fed = feed([first, again])
    assert fed.counters.duplicates == 1


@pytest.mark.parametrize(
    "second",
    [start(order=1), start(node="other-node"), end(order=0), end(order=0, status="error")],
    ids=["other-order", "other-node", "end-after-start", "other-status"],
)
def test_frames_differing_in_event_node_order_or_status_are_not_duplicates(second: str) -> None:
    """Any difference in (event, node_id, order, status) makes a new frame."""
    fed = feed([start(order=0), second])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)


def test_end_node_with_a_different_status_is_not_a_duplicate() -> None:
    """An end with another outcome is another frame."""
    fed = feed([end(status="success"), end(status="error")])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)


def test_same_start_node_in_two_runs_is_not_a_duplicate() -> None:
    """Dedup memory is per run (defect 16): run B may repeat what run A sent."""
    fed = feed([start(run=RUN_A), start(run=RUN_B)])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)
    assert [m.run_id for m in fed.messages if isinstance(m, ExecutionEvent)] == [RUN_A, RUN_B]


def test_run_start_of_another_run_does_not_wipe_this_runs_memory() -> None:
    """A new run starting never clears another run's dedup memory (defect 16)."""
    fed = feed(
        [
            execution("run_start", RUN_A),
            start(run=RUN_A),
            execution("run_start", RUN_B),
            start(run=RUN_A),
        ]
    )
    assert fed.counters.duplicates == 1


def test_run_end_of_another_run_does_not_wipe_this_runs_memory() -> None:
    """Another run ending never clears this run's dedup memory (defect 16)."""
    fed = feed(
        [
            execution("run_start", RUN_A),
            execution("run_start", RUN_B),
            start(run=RUN_A),
            execution("run_end", RUN_B),
            start(run=RUN_A),
            execution("run_start", RUN_A),
        ]
    )
    assert fed.counters.duplicates == 2


def test_resumed_run_may_reuse_an_order() -> None:
    """After resume_start a node may reuse an order seen before the pause: not a duplicate."""
    fed = feed(
        [
            execution("run_start"),
            start("n1", order=3),
            end("n1", order=3),
            execution("resume_start"),
            start("n2", order=3),
            start("n1", order=3),
            end("n1", order=3),
        ]
    )
    assert fed.counters.duplicates == 0
    assert fed.counters.messages == 7
    assert fed.counters.late == 0


def test_duplicates_are_recognised_again_after_a_resume() -> None:
    """Dedup memory restarts at a resume; repeats after it are still caught."""
    fed = feed([start(), execution("resume_start"), start(), start()])
    assert fed.counters.duplicates == 1


# --- duplicates of chat frames -----------------------------------------------------------------


def test_chat_frame_with_same_sequence_and_microtime_is_a_duplicate() -> None:
    """Agno events have no id: (sequence_id, microtime) per run identifies them."""
    fed = feed([chat(seq=4, microtime=10.5), chat(seq=4, microtime=10.5)], step=10.0)
    assert fed.counters.duplicates == 1
    assert len([m for m in fed.messages if isinstance(m, AgnoEvent)]) == 1


def test_chat_duplicate_is_by_key_even_if_other_fields_differ() -> None:
    """A frame with the same (sequence_id, microtime) is a repeat whatever else it says."""
    fed = feed([chat(seq=4, content="a"), chat(seq=4, content="b")])
    assert fed.counters.duplicates == 1


@pytest.mark.parametrize(
    "second",
    [chat(seq=5, microtime=10.5), chat(seq=4, microtime=10.6)],
    ids=["next-sequence", "other-microtime"],
)
def test_chat_frames_differing_in_sequence_or_microtime_are_kept(second: str) -> None:
    """A different sequence_id or microtime is another chunk."""
    fed = feed([chat(seq=4, microtime=10.5), second])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)


def test_same_chat_key_in_another_run_is_kept() -> None:
    """Chat dedup memory is per run too."""
    fed = feed([chat(seq=1, run=RUN_A), chat(seq=1, run=RUN_B)])
    assert fed.counters.duplicates == 0


def test_chat_sequence_restarting_after_resume_is_not_a_duplicate() -> None:
    """sequence_id restarts after a resume; the restarted chunk is kept."""
    fed = feed([chat(seq=1), execution("resume_start"), chat(seq=1)])
    assert fed.counters.duplicates == 0


def test_chat_chunk_without_sequence_id_sent_twice_is_kept_twice() -> None:
    """Without a sequence_id a repeat cannot be told from a new equal chunk: both are kept."""
    frame = chat(seq=None)
    fed = feed_at([(0.0, frame), (0.0, frame)])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)
    assert len(fed.messages) == 2


def test_chat_html_is_deduplicated_by_sequence_and_microtime() -> None:
    """ChatHTML is a chat frame: the same (sequence_id, microtime) is a duplicate."""
    frame = json.dumps(
        {
            "event": "ChatHTML",
            "html_content": "<p>x</p>",
            "run_id": RUN_A,
            "node_id": NODE,
            "sequence_id": 1,
            "microtime": 1.5,
        }
    )
    fed = feed([frame, frame])
    assert fed.counters.duplicates == 1
    assert [type(m) for m in fed.messages] == [ChatHTML]


# --- duplicates by byte identity (tool, resume, pause, ...) -----------------------------------


def test_byte_identical_tool_frame_within_dedupe_window_is_a_duplicate() -> None:
    """The same tool frame again within 100 ms is a repeat."""
    frame = execution("start_tool", node=TOOL)
    fed = feed_at([(1.0, frame), (1.05, frame)])
    assert fed.counters.duplicates == 1
    assert len(fed.messages) == 1


def test_same_tool_frame_150_ms_later_is_a_second_call() -> None:
    """Two calls of one tool look alike; 150 ms apart they are both kept."""
    frame = execution("start_tool", node=TOOL)
    fed = feed_at([(1.0, frame), (1.15, frame)])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 0)


def test_dedupe_window_comes_from_config() -> None:
    """Config.dedupe_window sets how long byte identity means a repeat."""
    frame = execution("end_tool", node=TOOL)
    fed = feed_at([(1.0, frame), (1.15, frame)], config=Config(dedupe_window=0.5))
    assert fed.counters.duplicates == 1


def test_dedupe_window_is_measured_from_the_accepted_frame() -> None:
    """A repeat does not extend the window: a third copy after it is a new call."""
    frame = execution("start_tool", node=TOOL)
    fed = feed_at([(1.0, frame), (1.08, frame), (1.16, frame)])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 1)


def test_tool_frames_that_differ_are_not_duplicates_within_the_window() -> None:
    """Only byte-identical frames are repeats: another tool node is another frame."""
    fed = feed_at(
        [
            (1.0, execution("start_tool", node=TOOL)),
            (1.01, execution("start_tool", node="other-tool")),
            (1.02, execution("start_tool_or_member", node=TOOL)),
        ]
    )
    assert fed.counters.duplicates == 0


def test_byte_identical_tool_frames_of_two_runs_are_not_duplicates() -> None:
    """Byte dedupe memory is per run too."""
    fed = feed_at(
        [
            (1.0, execution("start_tool", RUN_A, TOOL)),
            (1.01, execution("start_tool", RUN_B, TOOL)),
        ]
    )
    assert fed.counters.duplicates == 0


def test_byte_identical_resume_start_within_window_is_a_duplicate() -> None:
    """Resume frames are deduplicated by byte identity within the window."""
    frame = execution("resume_start")
    fed = feed_at([(1.0, frame), (1.01, frame), (2.0, frame)])
    assert (fed.counters.messages, fed.counters.duplicates) == (2, 1)


# --- late frames -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        start(order=9),
        end(order=9),
        execution("start_tool", node=TOOL),
        execution("end_tool", node=TOOL),
        execution("start_tool_or_member", node=TOOL),
    ],
    ids=["start_node", "end_node", "start_tool", "end_tool", "start_tool_or_member"],
)
def test_node_or_tool_frame_after_run_end_is_late_and_not_forwarded(frame: str) -> None:
    """A node or tool frame of an ended run is counted late and not forwarded (defect 7)."""
    fed = feed([execution("run_start"), execution("run_end"), frame])
    assert fed.counters.late == 1
    assert fed.counters.messages == 3
    assert len(fed.messages) == 2
    (notice,) = fed.notices("late")
    assert notice.run_id == RUN_A
    assert_identity(fed.counters)


def test_node_frame_after_resume_end_is_late() -> None:
    """resume_end ends the run like run_end."""
    fed = feed([execution("resume_start"), execution("resume_end"), start(order=4)])
    assert fed.counters.late == 1


def test_node_frame_after_resume_start_is_accepted_again() -> None:
    """A resumed run is live again: its node frames are shown."""
    fed = feed([execution("run_end"), start(order=2), execution("resume_start"), start(order=2)])
    assert fed.counters.late == 1
    last = fed.messages[-1]
    assert isinstance(last, ExecutionEvent)
    assert (last.event, last.order) == ("start_node", 2)


def test_late_frame_leaves_no_dedup_memory() -> None:
    """A late frame is not remembered: after a resume the same frame is accepted."""
    fed = feed([execution("run_end"), start(order=2), execution("resume_start"), start(order=2)])
    assert fed.counters.duplicates == 0


def test_chat_frame_after_run_end_is_not_late() -> None:
    """Only node and tool frames are late after run_end; a trailing chat chunk is kept."""
    fed = feed([execution("run_end"), chat(seq=9), execution("resume_end")])
    assert fed.counters.late == 0
    assert len(fed.messages) == 3


def test_run_end_of_another_run_does_not_make_this_runs_frames_late() -> None:
    """Late is per run."""
    fed = feed([execution("run_start", RUN_A), execution("run_end", RUN_B), start(run=RUN_A)])
    assert fed.counters.late == 0


# --- eviction and clearing ---------------------------------------------------------------------


def four_runs() -> list[str]:
    """The first frames of four runs r1..r4, each with one node start."""
    return [
        f for run in ("r1", "r2", "r3", "r4") for f in (execution("run_start", run), start(run=run))
    ]


def test_fourth_run_evicts_the_oldest_before_its_own_message() -> None:
    """With max_runs=3, the 4th run's first frame emits Evict(oldest) before its message."""
    fed = feed(four_runs()[:6], config=Config(max_runs=3))
    outputs = reduce_intake(fed.state, execution("run_start", "r4"), 50.0, Config(max_runs=3))[1]
    assert outputs[0] == Evict("r1", "evicted")
    assert isinstance(outputs[1], Notice)
    assert (outputs[1].kind, outputs[1].run_id) == ("evicted", "r1")
    last = outputs[-1]
    assert isinstance(last, ExecutionEvent)
    assert (last.event, last.run_id) == ("run_start", "r4")


def test_eviction_drops_the_evicted_runs_memory() -> None:
    """Per-run maps are pruned (defect 17): the evicted run leaves state.runs."""
    fed = feed(four_runs(), config=Config(max_runs=3))
    assert list(fed.state.runs) == ["r2", "r3", "r4"]
    assert "r1" in fed.state.evicted


def test_state_never_holds_more_than_max_runs() -> None:
    """However many runs come, state.runs stays within max_runs."""
    config = Config(max_runs=3)
    state = IntakeState()
    evicts: list[str] = []
    for i in range(40):
        for frame in (execution("run_start", f"r{i}"), start(run=f"r{i}"), chat(run=f"r{i}")):
            state, out = reduce_intake(state, frame, float(i), config)
            evicts.extend(o.run_id for o in out if isinstance(o, Evict))
            assert len(state.runs) <= 3
    assert evicts == [f"r{i}" for i in range(37)]


def test_oldest_run_is_the_first_registered_even_if_active_since() -> None:
    """The oldest run (first seen) is evicted, whatever arrived for it since."""
    fed = feed(
        [
            execution("run_start", "r1"),
            execution("run_start", "r2"),
            execution("run_start", "r3"),
            start(run="r1", order=5),
            execution("run_start", "r4"),
        ],
        config=Config(max_runs=3),
    )
    assert [o.run_id for o in fed.outputs if isinstance(o, Evict)] == ["r1"]


def test_later_frames_of_an_evicted_run_are_late_and_dropped() -> None:
    """Any frame of an evicted run is counted late and forwarded to nobody."""
    config = Config(max_runs=3)
    fed = feed(four_runs(), config=config)
    before = fed.counters
    after = feed(
        [start(run="r1", order=3), chat(run="r1"), execution("run_end", "r1"), start(run="r1")],
        state=fed.state,
        config=config,
        start_at=100.0,
    )
    assert after.counters.late - before.late == 4
    assert after.counters.duplicates == before.duplicates
    assert after.messages == []
    assert all(n.run_id == "r1" for n in after.notices("late"))
    assert "r1" not in after.state.runs
    assert len(after.state.runs) == 3
    assert_identity(after.counters)


def test_late_frames_of_an_evicted_run_do_not_evict_another_run() -> None:
    """A straggler of an evicted run never re-registers it, so no live run is pushed out."""
    config = Config(max_runs=3)
    fed = feed([*four_runs(), start(run="r1", order=8)], config=config)
    assert [o.run_id for o in fed.outputs if isinstance(o, Evict)] == ["r1"]
    assert list(fed.state.runs) == ["r2", "r3", "r4"]


def test_clear_run_evicts_the_run_as_cleared() -> None:
    """ClearRun from the host emits Evict(run, 'cleared') and drops the run's memory."""
    fed = feed([start(run=RUN_A), start(run=RUN_B)])
    state, outputs = reduce_intake(fed.state, ClearRun(RUN_A), 10.0)
    assert outputs[0] == Evict(RUN_A, "cleared")
    assert RUN_A not in state.runs
    assert RUN_B in state.runs
    assert state.counters == fed.counters  # a control message is not a frame


def test_frames_of_a_cleared_run_are_late() -> None:
    """After ClearRun, the run's frames are not shown."""
    fed = feed([start(), ClearRun(RUN_A), start(order=1), chat()])
    assert fed.counters.late == 2
    assert fed.counters.frames == 3
    assert [type(m) for m in fed.messages] == [ExecutionEvent]


@pytest.mark.parametrize(
    "control",
    [Background(RUN_A), Foreground(RUN_A), ResolveInteraction("i-1", RUN_A)],
    ids=["background", "foreground", "resolve"],
)
def test_host_controls_pass_through_uncounted(control: object) -> None:
    """Background/Foreground/ResolveInteraction are forwarded as is and are not frames."""
    fed = feed([start()])
    state, outputs = reduce_intake(fed.state, control, 5.0)
    assert outputs == (control,)
    assert state is fed.state


# --- unknown events and statuses ---------------------------------------------------------------


def test_unknown_event_is_counted_forwarded_and_noticed_once_per_name() -> None:
    """An unknown event is a message, counted in unknown, logged only the first time per name."""
    fed = feed(
        [
            json.dumps({"event": "RunTeleported", "run_id": RUN_A, "n": 1}),
            json.dumps({"event": "RunTeleported", "run_id": RUN_A, "n": 2}),
            json.dumps({"event": "RunTeleported", "run_id": RUN_B, "n": 3}),
            json.dumps({"event": "RunTeleported"}),
            json.dumps({"event": "SomethingElse", "run_id": RUN_A}),
        ]
    )
    assert fed.counters.unknown == 5
    assert fed.counters.messages == 5
    assert [type(m) for m in fed.messages] == [Unknown] * 5
    assert [n.detail for n in fed.notices("unknown_event")] == ["RunTeleported", "SomethingElse"]
    assert_identity(fed.counters)


def test_unknown_event_without_run_registers_no_run() -> None:
    """An unknown frame without a run id is counted and forwarded, with no run memory."""
    fed = feed([json.dumps({"event": "ServerBanner", "text": "hi"})])
    assert (fed.counters.messages, fed.counters.unknown) == (1, 1)
    assert dict(fed.state.runs) == {}


_KNOWN_NAMES = {*EXECUTION_EVENTS, *AGNO_EVENTS, "ChatHTML", "AgentPaused", "interaction_event"}
_unknown_names = st.text(min_size=1, max_size=40).filter(lambda n: n not in _KNOWN_NAMES)


def fifty_runs() -> Fed:
    """Fifty runs held (the default max_runs), each with a start and one node."""
    return feed(
        [f for i in range(50) for f in (execution("run_start", f"r{i}"), start(run=f"r{i}"))]
    )


@settings(max_examples=200, deadline=None)
@given(_unknown_names, st.text(min_size=1, max_size=40), st.booleans())
def test_an_unknown_frame_of_a_run_not_held_registers_nothing_and_evicts_nothing(
    name: str, run_id: str, by_type: bool
) -> None:
    """Any unknown event or frame type, with any new run id: counted and forwarded, no run."""
    held = fifty_runs()
    frame = {"type" if by_type else "event": name, "run_id": run_id, "node_id": NODE}
    state, outputs = reduce_intake(held.state, json.dumps(frame), 500.0)
    if run_id in held.state.runs:  # a held run: the frame is a sign of its life, nothing new
        assert list(state.runs) == list(held.state.runs)
        return
    assert state.runs is held.state.runs
    assert not any(isinstance(o, Evict) for o in outputs)
    assert [type(o) for o in outputs if not isinstance(o, Notice)] == [Unknown]
    assert state.counters.unknown == held.counters.unknown + 1
    assert state.counters.messages == held.counters.messages + 1
    assert_identity(state.counters)


def test_many_unknown_frames_of_new_runs_never_push_out_a_held_run() -> None:
    """A thousand unknown frames, each with a fresh run id, leave all fifty runs held."""
    held = fifty_runs()
    after = feed(
        [json.dumps({"event": f"Brand{i}", "run_id": f"new-{i}"}) for i in range(1000)],
        state=held.state,
        start_at=200.0,
    )
    assert list(after.state.runs) == list(held.state.runs)
    assert not any(isinstance(o, Evict) for o in after.outputs)
    assert after.counters.unknown == 1000
    assert len(after.state.unknown_names) <= 256  # the names noticed are a bounded sample


def test_an_unknown_frame_of_a_held_run_is_deduplicated_like_any_other() -> None:
    """Of a run intake holds, a byte-identical unknown frame within the window is a duplicate."""
    frame = json.dumps({"event": "BrandNew", "run_id": RUN_A})
    fed = feed_at([(0.0, start()), (1.0, frame), (1.05, frame), (2.0, frame)])
    assert fed.counters.duplicates == 1
    assert fed.counters.unknown == 2


def test_a_burst_of_byte_compared_frames_is_remembered_only_so_far() -> None:
    """A burst of 5,000 tool frames in one instant: the latest 256 kept, a repeat still caught."""
    frames = [execution("start_tool", node=f"n{i}") for i in range(5_000)]
    fed = feed_at([(0.0, start()), *((1.0, f) for f in frames), (1.0, frames[-1])])
    assert len(fed.state.runs[RUN_A].recent) == 256
    assert fed.counters.duplicates == 1
    assert_identity(fed.counters)


def test_unknown_but_well_formed_status_is_counted_and_forwarded() -> None:
    """end_node with status 'skipped' is shown and counted in unknown_status."""
    fed = feed([end(status="skipped"), end(order=1, status="success")])
    assert fed.counters.unknown_status == 1
    assert fed.counters.rejected == 0
    first = fed.messages[0]
    assert isinstance(first, ExecutionEvent)
    assert first.status == "skipped"


@pytest.mark.parametrize("status", ["success", "error", "killed", "provided"])
def test_known_statuses_are_not_counted_as_unknown(status: str) -> None:
    """The four known statuses are not unknown."""
    assert feed([end(status=status)]).counters.unknown_status == 0


def test_duplicate_end_with_unknown_status_counts_unknown_status_once() -> None:
    """A repeated end_node is a duplicate, not a second unknown status."""
    fed = feed([end(status="skipped"), end(status="skipped")])
    assert (fed.counters.unknown_status, fed.counters.duplicates) == (1, 1)


# --- ids are data (defect 5) -------------------------------------------------------------------


@pytest.mark.parametrize("nasty", NASTY_IDS)
def test_ids_with_quotes_backslashes_and_markup_dedupe_and_late_check(nasty: str) -> None:
    """Ids with quotes, backslashes or <script> dedupe, end and go late like any other."""
    fed = feed(
        [
            execution("run_start", nasty),
            start(nasty, run=nasty),
            start(nasty, run=nasty),  # duplicate
            chat(seq=1, run=nasty),
            chat(seq=1, run=nasty),  # duplicate
            execution("run_end", nasty),
            end(nasty, run=nasty),  # late
        ]
    )
    assert fed.counters.duplicates == 2
    assert fed.counters.late == 1
    assert list(fed.state.runs) == [nasty]
    forwarded = [m for m in fed.messages if isinstance(m, ExecutionEvent)]
    assert {m.run_id for m in forwarded} == {nasty}
    assert forwarded[1].node_id == nasty


def test_ids_differing_only_by_escaping_are_different_runs() -> None:
    """A quote and an escaped quote are different ids: no cross-run dedup or late."""
    plain, escaped = 'r"1', 'r\\"1'
    fed = feed([start(run=plain), execution("run_end", plain), start(run=escaped)])
    assert (fed.counters.duplicates, fed.counters.late) == (0, 0)
    assert set(fed.state.runs) == {plain, escaped}


# --- purity ------------------------------------------------------------------------------------


def test_reduce_intake_does_not_mutate_its_input_state() -> None:
    """The reducer is pure: the state passed in is left exactly as it was."""
    config = Config(max_runs=2)
    inputs: list[object] = [
        execution("run_start", "r1"),
        start(run="r1"),
        start(run="r1"),
        chat(run="r1"),
        execution("start_tool", "r1", TOOL),
        execution("start_tool", "r1", TOOL),
        json.dumps({"event": "Novel", "run_id": "r1"}),
        "pong",
        "garbage",
        execution("run_end", "r1"),
        start(run="r1", order=4),
        execution("run_start", "r2"),
        execution("run_start", "r3"),
        start(run="r1", order=5),
        ClearRun("r2"),
        Background("r3"),
        end(status="skipped", run="r3"),
    ]
    state = IntakeState()
    for i, item in enumerate(inputs):
        snapshot = copy.deepcopy(state)
        counters, runs, evicted, names = (
            state.counters,
            state.runs,
            state.evicted,
            state.unknown_names,
        )
        runs_content = dict(runs)
        new, _ = reduce_intake(state, item, i * 0.01, config)
        assert state == snapshot
        assert state.counters is counters
        assert state.runs is runs
        assert dict(state.runs) == runs_content
        assert state.evicted is evicted
        assert state.unknown_names is names
        state = new


def test_same_input_on_same_state_gives_same_result() -> None:
    """Determinism: replaying an input on an old state gives the same answer."""
    state = feed([execution("run_start"), start()]).state
    first = reduce_intake(state, end(), 3.0)
    second = reduce_intake(state, end(), 3.0)
    assert first == second


# --- real recordings ---------------------------------------------------------------------------


def replay_counters(name: str) -> Counters:
    """Feed every frame of an example recording at its recorded time."""
    recording = read_recording(EXAMPLES / name)
    state = IntakeState()
    for frame in recording.frames:
        state, _ = reduce_intake(state, frame.data, frame.t)
    return state.counters


def test_groups_tools_error_recording_is_accounted_for() -> None:
    """The real group/tool/error run: 23 frames, all messages, nothing rejected or repeated."""
    counters = replay_counters("groups-tools-error.jsonl")
    assert counters.frames == 23
    assert counters.messages == 23
    assert (counters.rejected, counters.duplicates, counters.late) == (0, 0, 0)
    assert_identity(counters)


def test_agent_chat_recording_is_accounted_for() -> None:
    """The real agent chat run: every frame accounted for, none rejected."""
    counters = replay_counters("agent-chat.jsonl")
    assert counters.frames == len(read_recording(EXAMPLES / "agent-chat.jsonl").frames)
    assert counters.rejected == 0
    assert counters.late == 0
    assert_identity(counters)


def test_recording_redelivered_whole_is_duplicates_or_late_the_second_time() -> None:
    """A run delivered twice: keyed and chat frames repeat, tool frames after run_end are late."""
    frames = [f.data for f in read_recording(EXAMPLES / "groups-tools-error.jsonl").frames]
    fed = feed([*frames, *frames], step=1.0)
    # 20 node/run frames and 1 ChatHTML repeat; start_tool/end_tool arrive after run_end
    assert (fed.counters.duplicates, fed.counters.late, fed.counters.messages) == (21, 2, 25)
    assert len(fed.messages) == 23
    assert_identity(fed.counters)


# --- property: accounting under arbitrary input ------------------------------------------------

_RUNS = ["r1", "r2", "r3", "r4", 'q"5']
_FRAMES = st.one_of(
    st.builds(start, st.sampled_from(["n1", "n2"]), st.integers(0, 3), st.sampled_from(_RUNS)),
    st.builds(
        end,
        st.sampled_from(["n1", "n2"]),
        st.integers(0, 3),
        st.sampled_from(["success", "error", "skipped"]),
        st.sampled_from(_RUNS),
    ),
    st.builds(
        lambda ev, run: execution(ev, run),
        st.sampled_from(["run_start", "run_end", "resume_start", "resume_end"]),
        st.sampled_from(_RUNS),
    ),
    st.builds(
        lambda ev, run: execution(ev, run, TOOL),
        st.sampled_from(["start_tool", "end_tool"]),
        st.sampled_from(_RUNS),
    ),
    st.builds(
        chat,
        st.none() | st.integers(1, 3),
        st.sampled_from([1.0, 2.0]),
        st.just("x"),
        st.sampled_from(_RUNS),
    ),
    st.builds(lambda run: json.dumps({"event": "Novel", "run_id": run}), st.sampled_from(_RUNS)),
    st.sampled_from(["pong", "garbage", "[]", "null", '{"event": 1}', b"\xff"]),
    st.builds(ClearRun, st.sampled_from(_RUNS)),
    st.builds(Background, st.sampled_from(_RUNS)),
    st.text(max_size=20),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 0.3), _FRAMES), max_size=40),
    st.integers(1, 4),
)
def test_every_frame_is_accounted_for_exactly_once(
    timed: list[tuple[float, object]], max_runs: int
) -> None:
    """Under any input: the identity holds, runs stay bounded, non-late messages go out."""
    config = Config(max_runs=max_runs)
    state = IntakeState()
    now = 0.0
    forwarded = 0
    frames = 0
    for gap, item in timed:
        now += gap
        state, out = reduce_intake(state, item, now, config)
        if not isinstance(item, ClearRun | Background):
            frames += 1
            forwarded += sum(not isinstance(o, Notice | Evict) for o in out)
        assert len(state.runs) <= max_runs
        assert_identity(state.counters)
    assert state.counters.frames == frames
    assert forwarded == state.counters.messages - state.counters.late
