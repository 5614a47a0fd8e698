"""Agno in process: real workflows (agno 3.1.10, a scripted offline model:
``tests/agno_workflows.py``) streamed through ``flowrx.streams.agno.events`` into
``flowrx.connect(..., protocol="agno")``.

A sync run is read on a :class:`~flowrx.VirtualClock` (synchronously: deterministic, and the
display timers settle in virtual time); ``arun`` and a sync run beside a live loop are read on
asyncio, the pipeline's timers still on a virtual clock. Nothing sleeps: every wait is on a
future or an event, with a hang guard.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import agno_workflows as wf
import attrs
import pytest
import reactivex
from agno.run.workflow import WorkflowRunOutput
from helpers import EXAMPLES, flowrx_logs
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from flowrx import VirtualClock, connect, read_recording
from flowrx.messages import EndOfStream, Reply
from flowrx.protocols.agno import transcript_frames, workflow_graph
from flowrx.streams.agno import events, workflow_conversation, workflow_definition
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.sse import SourceFailed
from flowrx.testing import run_frames

PATIENCE = 300.0
"""How long a test waits for a condition before calling it a hang (a guard, not a measure)."""

pytestmark = pytest.mark.timeout(2 * PATIENCE)

AGNO_DIR = EXAMPLES / "agno"
SECTIONS = ("store", "group", "chat", "interaction")


@attrs.define
class Seen:
    """What one subscription to a source got: its items and how it ended."""

    items: list[Any] = attrs.field(factory=list)
    completed: bool = False
    error: BaseException | None = None

    @property
    def frames(self) -> list[Any]:
        """The frames, bursts flattened, without the EndOfStream."""
        flat = [f for i in self.items for f in (i if isinstance(i, list) else [i])]
        return [f for f in flat if not isinstance(f, EndOfStream)]

    @property
    def names(self) -> list[str]:
        """The frames' event names."""
        return [f["event"] for f in self.frames]


def _read(source: Any) -> Seen:
    """Subscribe to a source on a virtual clock and run the clock."""
    seen = Seen()

    def done() -> None:
        seen.completed = True

    source.subscribe(seen.items.append, lambda e: setattr(seen, "error", e), done)
    return seen


def _watch(
    *legs: Callable[[], Iterable[Any]], graph: Any = None, between: list[Any] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """The legs' iterators (each made when the previous leg has ended, as a continue must be)
    read one after the other on a virtual clock into ``connect``; the settled snapshot and the
    frames. ``between`` gets the snapshot as each later leg begins."""
    clock = VirtualClock()
    frames: list[Any] = []
    held: list[Any] = []

    def leg_source(index: int, leg: Callable[[], Iterable[Any]]) -> Any:
        def make(_: Any) -> Any:
            if index and between is not None:
                between.append(held[0].snapshot())
            return events(leg(), scheduler=clock)

        return reactivex.defer(make)

    source = reactivex.concat(*(leg_source(i, leg) for i, leg in enumerate(legs))).pipe(
        ops.do_action(frames.append)
    )
    state, _ = connect(source, scheduler=clock, protocol="agno", graph=graph)
    held.append(state)
    clock.run()
    return state.snapshot(), frames


def _run(name: str, session: str | None = None) -> Callable[[], Iterable[Any]]:
    """A leg: the named workflow run, streaming every event."""
    workflow = wf.FACTORIES[name]()
    return lambda: workflow.run(
        wf.PROMPTS[name], stream=True, stream_events=True, session_id=session
    )


def _badges(snap: dict[str, Any]) -> list[tuple[str, str]]:
    (records,) = snap["store"].values()
    return [(r["node_id"], r["status"]) for r in records]


def _clean(snap: dict[str, Any]) -> dict[str, Any]:
    """Nothing rejected, unknown or violated, no concern failed, every frame counted once."""
    diag = snap["diagnostics"]
    assert (diag["rejected"], diag["violations"], diag["unknown"]) == (0, 0, 0)
    assert not any(diag["failed"].values())
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["duplicates"]
    return diag


def _settled(snap: dict[str, Any]) -> None:
    """Nothing glows, the editor is unlocked, every run ended, nothing pending."""
    assert snap["surface"] == {}
    assert snap["visual"] == {}
    assert snap["tool"] == {}
    assert snap["lifecycle"]["editor_locked"] is False
    assert snap["lifecycle"]["active_run_id"] is None
    assert all(
        r["status"] in ("success", "error", "killed") for r in snap["lifecycle"]["runs"].values()
    )
    assert snap["interaction"]["pending"] == []


def _sample(name: str, leg: str | None = None) -> list[tuple[str, Any]]:
    """A sample recording's events as (name, step name), of one leg if given."""
    out = []
    for line in (AGNO_DIR / name).read_text(encoding="utf-8").splitlines()[1:]:
        entry = json.loads(line)
        if leg is None or entry.get("leg") == leg:
            data = json.loads(entry["data"])
            out.append((data["event"], data.get("step_name")))
    return out


def _shape(frames: list[Any]) -> list[tuple[str, Any]]:
    return [(f["event"], f.get("step_name")) for f in frames if not isinstance(f, EndOfStream)]


def _sse_blocks(name: str) -> list[tuple[float, str]]:
    """An AgentOS capture's frames (SSE blocks)."""
    return transcript_frames((AGNO_DIR / name).read_text(encoding="utf-8"))


def _transcript(name: str) -> list[RecordedFrame]:
    """An AgentOS capture as a recording's frames."""
    return [RecordedFrame(t, data) for t, data in _sse_blocks(name)]


def _names(frames: list[Any]) -> list[str]:
    """The event names of the frames (EndOfStream left out)."""
    return [f["event"] for f in frames if isinstance(f, dict)]


def _replayed(name: str) -> dict[str, Any]:
    """A sample recording replayed in virtual time, settled."""
    return run_frames(read_recording(AGNO_DIR / name).frames, protocol="agno").finish()


# --- the source -------------------------------------------------------------------------------


def test_a_sync_run_on_a_virtual_clock_hands_on_each_events_dict_then_end_of_stream() -> None:
    """``Workflow.run(stream=True, stream_events=True)`` on a virtual clock: every event's
    ``to_dict()`` in Agno's order (the sample's), then EndOfStream, then completion."""
    clock = VirtualClock()
    workflow = wf.sequential()
    seen = _read(
        events(
            workflow.run(wf.PROMPTS["wf-sequential"], stream=True, stream_events=True),
            scheduler=clock,
        )
    )
    assert seen.items == []  # nothing is read before the clock runs
    clock.run()
    assert seen.completed
    assert isinstance(seen.items[-1], EndOfStream)
    assert seen.items[-1].reason == "the workflow's events ended"
    assert all(isinstance(f, dict) for f in seen.frames)
    assert _shape(seen.frames) == _sample("a-sequential.jsonl")


def test_an_async_run_is_read_on_the_loop_in_agnos_async_order() -> None:
    """``Workflow.arun`` on the loop of an AsyncIOScheduler: the events of AgentOS's capture of
    the same workflow (it runs ``arun``), then EndOfStream and completion."""

    async def body() -> Seen:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        seen = Seen()
        workflow = wf.sequential()
        stream = workflow.arun(wf.PROMPTS["wf-sequential"], stream=True, stream_events=True)
        events(stream, scheduler=AsyncIOScheduler(loop)).subscribe(
            seen.items.append, ended.set_exception, lambda: ended.set_result(None)
        )
        await asyncio.wait_for(ended, PATIENCE)
        return seen

    seen = asyncio.run(body())
    assert isinstance(seen.items[-1], EndOfStream)
    captured = [
        (json.loads(data)["event"], json.loads(data).get("step_name"))
        for _, text in _sse_blocks("agentos-sse-workflow-sequential.txt")
        for data in [text.split("data: ", 1)[1]]
    ]
    assert _shape(seen.frames) == captured


def test_a_sync_run_beside_a_loop_is_read_in_a_worker_thread_and_a_backlog_is_one_burst() -> None:
    """With an AsyncIOScheduler a sync run is read off the loop's thread; frames reach the
    observer on the loop; a backlog that queued up while the loop was busy comes as lists of
    at most ``burst`` frames, in order."""
    read_in: set[int] = set()
    finished = threading.Event()

    def tracked(stream: Iterator[Any]) -> Iterator[Any]:
        for event in stream:
            read_in.add(threading.get_ident())
            yield event
        finished.set()

    async def body() -> tuple[Seen, set[int], int]:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        seen = Seen()
        taken_in: set[int] = set()

        def take(item: Any) -> None:
            taken_in.add(threading.get_ident())
            seen.items.append(item)

        workflow = wf.sequential()
        stream = tracked(workflow.run(wf.PROMPTS["wf-sequential"], stream=True, stream_events=True))
        events(stream, scheduler=AsyncIOScheduler(loop), burst=8).subscribe(
            take, ended.set_exception, lambda: ended.set_result(None)
        )
        await asyncio.sleep(0)  # the subscription's start runs; the worker starts
        assert finished.wait(PATIENCE)  # the loop is blocked until the whole run is queued
        await asyncio.wait_for(ended, PATIENCE)
        return seen, taken_in, threading.get_ident()

    seen, taken_in, loop_thread = asyncio.run(body())
    assert read_in
    assert loop_thread not in read_in
    assert taken_in == {loop_thread}
    bursts = [item for item in seen.items if isinstance(item, list)]
    assert bursts
    assert all(2 <= len(b) <= 8 for b in bursts)
    assert _shape(seen.frames) == _sample("a-sequential.jsonl")
    assert isinstance(seen.items[-1], EndOfStream)


def test_a_workflow_that_raises_ends_with_end_of_stream_then_one_line_source_failed() -> None:
    """``on_error="fail"``: Agno sends StepError and WorkflowError, then raises; the source
    hands those on, then EndOfStream and SourceFailed with the same one line."""
    clock = VirtualClock()
    workflow = wf.failing()
    seen = _read(
        events(
            workflow.run(wf.PROMPTS["wf-failing"], stream=True, stream_events=True), scheduler=clock
        )
    )
    clock.run()
    reason = "the workflow raised ValueError: the ledger is locked (scripted)"
    assert seen.names[-2:] == ["StepError", "WorkflowError"]
    assert seen.items[-1] == EndOfStream(reason=reason)
    assert isinstance(seen.error, SourceFailed)
    assert seen.error.reason == reason
    assert not seen.completed


def test_disposing_stops_reading_and_closes_the_iterator_on_every_path() -> None:
    """``take(3)`` disposes after three frames: nothing more is read (the sync path), the
    async generator and the worker's generator are closed; no EndOfStream follows."""
    read: list[str] = []
    closed = threading.Event()

    def tracked(stream: Iterator[Any]) -> Iterator[Any]:
        try:
            for event in stream:
                read.append(event.event)
                yield event
        finally:
            closed.set()

    clock = VirtualClock()
    workflow = wf.sequential()
    stream = tracked(workflow.run(wf.PROMPTS["wf-sequential"], stream=True, stream_events=True))
    seen = _read(events(stream, scheduler=clock).pipe(ops.take(3)))
    clock.run()
    assert seen.names == ["WorkflowStarted", "StepStarted", "StepOutput"]
    assert read == seen.names
    assert closed.is_set()

    async def tracked_async(stream: AsyncIterator[Any], done: asyncio.Event) -> AsyncIterator[Any]:
        try:
            async for event in stream:
                yield event
        finally:
            done.set()

    async def body(threaded: bool) -> Seen:
        loop = asyncio.get_running_loop()
        seen = Seen()
        finished = asyncio.Event()
        workflow = wf.sequential()
        if threaded:
            closed.clear()
            source: Any = tracked(workflow.run("go", stream=True, stream_events=True))
        else:
            source = tracked_async(workflow.arun("go", stream=True, stream_events=True), finished)
        events(source, scheduler=AsyncIOScheduler(loop)).pipe(ops.take(3)).subscribe(
            seen.items.append, seen.items.append, lambda: setattr(seen, "completed", True)
        )
        if threaded:
            assert await asyncio.to_thread(closed.wait, PATIENCE)
        else:
            await asyncio.wait_for(finished.wait(), PATIENCE)
        return seen

    for threaded in (False, True):
        seen = asyncio.run(body(threaded))
        assert seen.completed
        assert seen.names == ["WorkflowStarted", "StepStarted", "StepOutput"]
        assert len(seen.items) == 3  # no EndOfStream, no error after the dispose


def test_what_is_not_a_stream_of_events_is_a_one_line_error_before_any_reading() -> None:
    """A run's output (``stream=False``), an async iterator without an asyncio scheduler and
    bad bounds are refused at once, with one line."""
    clock = VirtualClock()
    with pytest.raises(
        TypeError, match=r"not a WorkflowRunOutput \(run the workflow with stream=True"
    ):
        events(WorkflowRunOutput(run_id="r"), scheduler=clock)  # type: ignore[arg-type]
    stream = wf.sequential().arun("go", stream=True, stream_events=True)
    with pytest.raises(TypeError, match="needs an AsyncIOScheduler with it, not VirtualClock"):
        events(stream, scheduler=clock)
    asyncio.run(stream.aclose())  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="queue_size must be a positive int"):
        events([], scheduler=clock, queue_size=0)
    with pytest.raises(ValueError, match="burst must be a positive int"):
        events([], scheduler=clock, burst=0)


# --- the workflows, watched -------------------------------------------------------------------


def test_a_sequential_workflow_shows_its_steps_in_order_and_the_agents_chat() -> None:
    """wf-sequential: three badges in arrival order, the agent's text, reasoning and tool call
    on its step; the same sections as the sample's replay."""
    snap, _ = _watch(_run("wf-sequential"))
    _clean(snap)
    _settled(snap)
    assert _badges(snap) == [
        ("wf-sequential:prepare", "success"),
        ("wf-sequential:weather", "success"),
        ("wf-sequential:summarize", "success"),
    ]
    (messages,) = snap["chat"].values()
    assert [(m["kind"], m["name"], m["node_id"]) for m in messages] == [
        ("content", "Weather Agent", "wf-sequential:weather"),
        ("reasoning", "Weather Agent", "wf-sequential:weather"),
    ]
    assert messages[0]["text"] == "The weather in Paris is sunny."
    assert [(t["name"], t["args"]) for t in messages[0]["tools"]] == [
        ("get_weather", {"city": "Paris"})
    ]
    sample = run_frames(
        read_recording(AGNO_DIR / "a-sequential.jsonl").frames, protocol="agno"
    ).finish()
    for section in SECTIONS:
        assert list(snap[section].values()) == list(sample[section].values()), section


def test_a_silently_failing_parallel_branch_in_a_loop_ends_error_in_each_iteration() -> None:
    """wf-loop-parallel: ``flaky`` raises in each iteration and Agno never ends it; the
    Parallel's completion ends it ``error`` (a new badge per iteration); Loop and Parallel are
    groups deriving ``error``; the run ends ``error`` although Agno says Completed."""
    snap, frames = _watch(_run("wf-loop-parallel"))
    _clean(snap)
    _settled(snap)
    assert "WorkflowCompleted" in _names(frames)
    loop = "wf-loop-parallel:refine-loop"
    iteration = [
        (loop + "/fan-out", "success"),
        (loop + "/fan-out/flaky", "error"),
        (loop + "/fan-out/research", "success"),
    ]
    badges = _badges(snap)
    assert badges[0] == (loop, "success")
    # the branches run together: their order within an iteration is the threads'
    assert sorted(badges[1:4]) == iteration
    assert sorted(badges[4:]) == iteration
    (groups,) = snap["group"].values()
    assert groups == {
        loop: {"status": "error", "started": 3, "ended": 3},
        loop + "/fan-out": {"status": "error", "started": 2, "ended": 2},
    }
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "error"
    sample = run_frames(
        _transcript("agentos-sse-workflow-background.txt"), protocol="agno"
    ).finish()
    assert list(snap["group"].values()) == list(sample["group"].values())


def test_conditions_steps_and_a_router_are_groups_as_in_the_sample() -> None:
    """wf-cond-router: the events of the sample (nested ends without a step id on the sync
    path), and the same badges, groups with their derived status, and chat."""
    snap, frames = _watch(_run("wf-cond-router"))
    _clean(snap)
    _settled(snap)
    assert _shape(frames) == _sample("c-condition-router.jsonl")
    sample = _replayed("c-condition-router.jsonl")
    for section in SECTIONS:
        assert list(snap[section].values()) == list(sample[section].values()), section
    (groups,) = snap["group"].values()
    assert groups["wf-cond-router:urgent?"] == {"status": "success", "started": 3, "ended": 3}


def test_a_team_step_shows_the_leader_and_its_members_on_the_teams_node() -> None:
    """wf-team: the sample's events; the leader's message holds both delegations, each member
    speaks under its own name on the team's node."""
    snap, frames = _watch(_run("wf-team"))
    _clean(snap)
    _settled(snap)
    assert _shape(frames) == _sample("e-team.jsonl")
    (messages,) = snap["chat"].values()
    assert [(m["speaker"], m["name"], m["node_id"]) for m in messages] == [
        ("leader", "Content Team", "wf-team:team"),
        ("member", "Researcher", "wf-team:team"),
        ("member", "Writer", "wf-team:team"),
    ]
    assert [t["args"]["member_id"] for t in messages[0]["tools"]] == ["researcher", "writer"]
    sample = _replayed("e-team.jsonl")
    for section in SECTIONS:
        assert list(snap[section].values()) == list(sample[section].values()), section


@pytest.mark.parametrize(
    ("name", "leg", "kind", "node"),
    [
        ("wf-confirm", "d1", "confirmation", "wf-confirm:delete"),
        ("wf-executor-pause", "d2", "confirmation", "wf-executor-pause:mail"),
        ("wf-router-pause", "d3", "route_selection", "wf-router-pause:lane"),
    ],
)
def test_a_pause_is_pending_on_its_step_and_the_continue_resumes_the_same_run(
    name: str, leg: str, kind: str, node: str
) -> None:
    """The run leg stops at the pause (the run paused, the editor unlocked, one pending item
    on the paused step's node); ``continue_run`` is the same run, resumed once, the item
    resolved; both legs send the sample's events."""
    workflow = wf.FACTORIES[name]()
    session = f"session-{name}"
    between: list[Any] = []
    snap, frames = _watch(
        lambda: workflow.run(wf.PROMPTS[name], stream=True, stream_events=True, session_id=session),
        lambda: wf.continue_paused(workflow, session),
        between=between,
    )
    (paused,) = between
    (item,) = paused["interaction"]["pending"]
    assert (item["kind"], item["node_id"]) == (kind, node)
    assert paused["lifecycle"]["runs"][item["run_id"]]["status"] == "paused"
    assert paused["lifecycle"]["editor_locked"] is False
    _clean(snap)
    _settled(snap)
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    end = frames.index(next(f for f in frames if isinstance(f, EndOfStream)))
    sample = "d-pause-continue.jsonl"
    assert _shape(frames[:end]) == _sample(sample, f"{leg}-run")
    assert _shape(frames[end + 1 :]) == _sample(sample, f"{leg}-continue")


def test_a_cancelled_run_ends_killed_and_its_second_terminal_is_a_duplicate() -> None:
    """wf-cancel: ``stop`` cancels its own run; Agno sends WorkflowCancelled then
    WorkflowCompleted; the open step and the run end ``killed``, the second terminal counts
    as a duplicate, and ``report`` never starts."""
    snap, frames = _watch(_run("wf-cancel"))
    diag = _clean(snap)
    _settled(snap)
    assert _names(frames)[-2:] == ["WorkflowCancelled", "WorkflowCompleted"]
    assert diag["duplicates"] == 1
    assert _badges(snap) == [("wf-cancel:gather", "success"), ("wf-cancel:stop", "killed")]
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "killed"


def test_a_nested_workflow_is_a_group_of_its_steps_in_the_outer_run() -> None:
    """wf-nested: the inner workflow's start and end make no run; its steps are members of
    the outer step's group, the inner agent speaks on its own step."""
    snap, frames = _watch(_run("wf-nested"))
    _clean(snap)
    _settled(snap)
    assert _names(frames).count("WorkflowStarted") == 2
    assert len(snap["lifecycle"]["runs"]) == 1
    assert _badges(snap) == [
        ("wf-nested:intake", "success"),
        ("wf-nested:inner", "success"),
        ("wf-nested:inner/triage", "success"),
        ("wf-nested:inner/billing", "success"),
        ("wf-nested:publish", "success"),
    ]
    (groups,) = snap["group"].values()
    assert groups == {"wf-nested:inner": {"status": "success", "started": 2, "ended": 2}}
    (messages,) = snap["chat"].values()
    assert [(m["name"], m["node_id"], m["text"]) for m in messages] == [
        ("Billing Agent", "wf-nested:inner/billing", "Refund issued.")
    ]


def test_the_step_running_a_nested_workflow_is_a_workflow_learned_or_derived() -> None:
    """The outer step is a ``Workflow`` (as AgentOS's definition says) whether the graph is
    learned from the stream (its StepStarted says Step; the inner WorkflowStarted tells) or
    derived from ``Workflow.to_dict()`` (which says Step, with the workflow): the same badge
    records either way."""
    learned, _ = _watch(_run("wf-nested"))
    graph = workflow_graph(workflow_definition(wf.FACTORIES["wf-nested"]()))
    derived, _ = _watch(_run("wf-nested"), graph=graph)
    assert graph.type("wf-nested:inner") == "Workflow"
    for snap in (learned, derived):
        (records,) = snap["store"].values()
        assert {r["handle"]: r["type"] for r in records}["inner"] == "Workflow"
    assert list(learned["store"].values()) == list(derived["store"].values())


def test_a_failing_step_ends_the_run_in_error_and_the_source_failure_is_noted() -> None:
    """wf-failing: StepError ends ``post`` in error, WorkflowError the run; ``report`` never
    starts; the iterator's raise is the source's failure, logged once, the state kept."""
    with flowrx_logs("ERROR") as logged:
        snap, _ = _watch(_run("wf-failing"))
    _clean(snap)
    _settled(snap)
    assert _badges(snap) == [("wf-failing:gather", "success"), ("wf-failing:post", "error")]
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "error"
    noted = [r["message"] for r in logged if r["extra"]["event"] == "source_failed"]
    assert len(noted) == 1
    assert "the workflow raised ValueError: the ledger is locked (scripted)" in noted[0]


@pytest.mark.parametrize(
    "name", sorted(set(wf.FACTORIES) - {"wf-confirm", "wf-executor-pause", "wf-router-pause"})
)
def test_node_ids_are_the_same_in_two_runs_and_in_the_graph_derived_from_the_definition(
    name: str,
) -> None:
    """Two runs of a workflow (new step instances, new run ids) name the same nodes, every one
    in the graph derived from its definition (nested workflows inlined), which changes no
    section when given."""
    one, _ = _watch(_run(name))
    two, _ = _watch(_run(name))
    ids = sorted({node for node, _ in _badges(one)})
    assert ids == sorted({node for node, _ in _badges(two)})
    graph = workflow_graph(workflow_definition(wf.FACTORIES[name]()))
    assert set(ids) <= set(graph.nodes)
    derived, _ = _watch(_run(name), graph=graph)
    # sorted: a Parallel's branches start in the order its threads happen to run
    assert sorted(_badges(derived)) == sorted(_badges(one))
    assert list(derived["group"].values()) == list(one["group"].values())


def test_agnos_own_definition_names_no_nested_steps_so_they_are_inlined() -> None:
    """``Step.to_dict()`` of a nested workflow names only its id: the graph of the bare
    definition lacks the inner steps the stream names; :func:`workflow_definition` adds them,
    as members of the outer step."""
    bare = workflow_graph(wf.nested().to_dict())
    assert "wf-nested:inner/triage" not in bare.nodes
    graph = workflow_graph(workflow_definition(wf.nested()))
    assert graph.ancestors("wf-nested:inner/billing") == ("wf-nested:inner",)
    billing = graph.node("wf-nested:inner/billing")
    assert billing is not None
    assert billing.category == "agno_agent"


def test_an_async_run_gives_the_same_sections_as_a_sync_run() -> None:
    """wf-cond-router by ``arun`` on the loop (nested ends carry their step id there) shows
    what the sync run shows."""

    async def body() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        ended: asyncio.Future[None] = loop.create_future()
        workflow = wf.condition_router()
        stream = workflow.arun(wf.PROMPTS["wf-cond-router"], stream=True, stream_events=True)
        source = events(stream, scheduler=AsyncIOScheduler(loop)).pipe(
            ops.do_action(on_completed=lambda: ended.set_result(None))
        )
        state, _ = connect(source, scheduler=clock, protocol="agno")
        await asyncio.wait_for(ended, PATIENCE)
        clock.run()
        return state.snapshot()

    snap = asyncio.run(body())
    _clean(snap)
    _settled(snap)
    sync, _ = _watch(_run("wf-cond-router"))
    for section in SECTIONS:
        assert list(snap[section].values()) == list(sync[section].values()), section


# --- talking back in process ------------------------------------------------------------------


def _converse(name: str, decide: Callable[[Any], Any]) -> tuple[dict[str, Any], Seen]:
    """``name`` run in process on a virtual clock as a conversation: each pause answered with
    ``decide(item)`` (``FlowState.answer_pauses``) and continued by
    ``workflow_conversation``; the settled snapshot and what the source emitted."""
    clock = VirtualClock()
    workflow = wf.FACTORIES[name]()
    replies: Subject[Reply] = Subject()
    first = workflow.run(wf.PROMPTS[name], stream=True, stream_events=True, session_id="s-1")
    seen = Seen()
    source = workflow_conversation(workflow, first, replies, scheduler=clock).pipe(
        ops.do_action(
            seen.items.append,
            lambda e: setattr(seen, "error", e),
            lambda: setattr(seen, "completed", True),
        )
    )
    state, _ = connect(source, scheduler=clock, protocol="agno")
    state.replies.subscribe(replies.on_next)
    state.answer_pauses(decide)
    clock.run()
    return state.snapshot(), seen


@pytest.mark.parametrize(
    ("name", "answer", "handles"),
    [
        ("wf-confirm", True, ["gather", "delete", "report"]),
        ("wf-confirm", {"approved": False}, ["gather", "report"]),
        ("wf-executor-pause", True, ["gather", "mail", "report"]),
        ("wf-router-pause", "slow", ["lane", "slow", "report"]),
    ],
    ids=["confirm-yes", "confirm-no", "tool-confirm", "route-slow"],
)
def test_a_pause_answered_in_process_continues_the_same_run_to_its_end(
    name: str, answer: Any, handles: list[str]
) -> None:
    """``workflow_conversation``: the host's answer (``answer_pauses``) continues the paused
    run in process (``continue_run`` with the step requirements answered) as one run,
    resumed once, its item resolved; a refused step is skipped, a chosen route runs."""
    snap, seen = _converse(name, lambda item: answer)
    assert seen.error is None
    assert seen.completed
    _clean(snap)
    _settled(snap)
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    (records,) = snap["store"].values()
    assert [r["handle"] for r in records] == handles
    assert sum(isinstance(item, EndOfStream) for item in seen.items) == 2


def test_an_async_run_is_continued_by_acontinue_run_on_the_loop() -> None:
    """``arun``'s stream makes the continue ``acontinue_run`` (a coroutine of an async
    iterator, which ``events`` awaits): the same run as the sync conversation gives."""

    async def body() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        workflow = wf.FACTORIES["wf-router-pause"]()
        replies: Subject[Reply] = Subject()
        ended: asyncio.Future[None] = loop.create_future()
        first = workflow.arun("Route this", stream=True, stream_events=True, session_id="s-2")
        source = workflow_conversation(
            workflow, first, replies, scheduler=AsyncIOScheduler(loop)
        ).pipe(
            ops.do_action(
                on_error=lambda e: ended.set_exception(e),
                on_completed=lambda: ended.set_result(None),
            )
        )
        state, _ = connect(source, scheduler=clock, protocol="agno")
        state.replies.subscribe(replies.on_next)
        state.answer_pauses(lambda item: "slow")
        await asyncio.wait_for(ended, 300)
        clock.run()
        return state.snapshot()

    snap = asyncio.run(body())
    sync, _ = _converse("wf-router-pause", lambda item: "slow")
    for section in ("store", "group", "chat", "interaction"):
        assert list(snap[section].values()) == list(sync[section].values()), section


def test_an_answer_in_process_that_makes_no_requirements_ends_the_stream_with_one_line() -> None:
    """A route that is not offered: the conversation ends with SourceFailed naming the run
    and why; the run stays paused, its question pending."""
    snap, seen = _converse("wf-router-pause", lambda item: "nowhere")
    assert isinstance(seen.error, SourceFailed)
    assert seen.error.reason.startswith("cannot continue run ")
    assert "nowhere" in seen.error.reason
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
    assert len(snap["interaction"]["pending"]) == 1


def test_a_coroutine_of_events_needs_the_loop_and_is_refused_on_one_line_elsewhere() -> None:
    """``acontinue_run(..., stream=True)`` is a coroutine: ``events`` awaits it on an asyncio
    loop; with a virtual clock it is a TypeError at once (the coroutine closed, not leaked)."""

    async def never() -> None:
        return None

    coroutine = never()
    with pytest.raises(TypeError, match="awaited on an asyncio loop"):
        events(coroutine, scheduler=VirtualClock())
    assert coroutine.cr_frame is None  # closed


def test_a_person_answering_after_the_stream_paused_continues_the_run_it_held_open() -> None:
    """``workflow_conversation`` holds (its default) while the paused run is unanswered: the
    stream does not complete at the pause; an answer given later (``resolve``) continues the
    same run to its end, and only then does the stream complete."""
    clock = VirtualClock()
    workflow = wf.FACTORIES["wf-confirm"]()
    replies: Subject[Reply] = Subject()
    first = workflow.run("Clean up", stream=True, stream_events=True, session_id="s-3")
    seen = Seen()
    source = workflow_conversation(workflow, first, replies, scheduler=clock).pipe(
        ops.do_action(seen.items.append, on_completed=lambda: setattr(seen, "completed", True))
    )
    state, _ = connect(source, scheduler=clock, protocol="agno")
    state.replies.subscribe(replies.on_next)
    clock.run()
    paused = state.snapshot()
    (item,) = paused["interaction"]["pending"]
    assert paused["lifecycle"]["runs"][item["run_id"]]["status"] == "paused"
    assert not seen.completed  # held open for the answer
    state.resolve(item["id"], True)
    clock.run()
    assert seen.completed
    snap = state.snapshot()
    run = snap["lifecycle"]["runs"][item["run_id"]]
    assert (run["status"], run["resumes"]) == ("success", 1)


@pytest.mark.parametrize("how", ["hold=False", "replies completed"])
def test_a_pause_left_unanswered_ends_the_stream_when_nobody_will_answer(how: str) -> None:
    """Without ``hold``, or once ``replies`` completes (the host will answer no more), the
    conversation completes with the run paused and its question pending."""
    clock = VirtualClock()
    workflow = wf.FACTORIES["wf-confirm"]()
    replies: Subject[Reply] = Subject()
    first = workflow.run("Clean up", stream=True, stream_events=True, session_id="s-4")
    seen = Seen()
    source = workflow_conversation(
        workflow, first, replies, scheduler=clock, hold=how != "hold=False"
    ).pipe(ops.do_action(on_completed=lambda: setattr(seen, "completed", True)))
    state, _ = connect(source, scheduler=clock, protocol="agno")
    clock.run()
    if how == "replies completed":
        assert not seen.completed
        replies.on_completed()
        clock.run()
    assert seen.completed
    (run,) = state.snapshot()["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
    assert len(state.snapshot()["interaction"]["pending"]) == 1
