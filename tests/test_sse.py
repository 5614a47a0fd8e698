"""The AG-UI source against a real AG-UI producer (pydantic-ai served by uvicorn) on 127.0.0.1,
port 0: no mocks. Real I/O cannot run in virtual time; nothing sleeps: every wait is on a future
or an event, with a hang guard, and sizes are counts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Iterator
from typing import Any

import attrs
import pytest
from ag_ui.core import RunAgentInput
from agui_server import TEXT, TOKEN, AguiServer
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler, AsyncIOThreadSafeScheduler

from flowrx import VirtualClock
from flowrx.messages import EndOfStream
from flowrx.protocols.agui import resume_entry, run_input
from flowrx.streams.sse import (
    SourceFailed,
    SSEOptions,
    SSEStats,
    agui_run,
    check_http_url,
)
from flowrx.streams.websocket import ConnectionStatus

PATIENCE = 300.0
"""How long a test waits for a condition before calling it a hang: a guard with a wide margin
(a machine with both cores busy is slow, not broken), never a measurement."""

pytestmark = pytest.mark.timeout(2 * PATIENCE)

TEXT_RUN = [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    *["TEXT_MESSAGE_CONTENT"] * len(TEXT),
    "TEXT_MESSAGE_END",
    "RUN_FINISHED",
]
TOOL_RUN = [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_END",
    "TOOL_CALL_START",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_ARGS",
    "TOOL_CALL_END",
    "TOOL_CALL_RESULT",
    "TEXT_MESSAGE_START",
    *["TEXT_MESSAGE_CONTENT"] * 5,
    "TEXT_MESSAGE_END",
    "RUN_FINISHED",
]
ERROR_RUN = [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    *["TEXT_MESSAGE_CONTENT"] * 5,
    "TEXT_MESSAGE_END",
    "RUN_ERROR",
]
STATE_RUN = [
    "RUN_STARTED",
    "TEXT_MESSAGE_START",
    "TEXT_MESSAGE_END",
    *["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END"] * 2,
    *["TOOL_CALL_RESULT", "STATE_DELTA", "STATE_SNAPSHOT", "CUSTOM"] * 2,
    "TEXT_MESSAGE_START",
    *["TEXT_MESSAGE_CONTENT"] * 7,
    "TEXT_MESSAGE_END",
    "RUN_FINISHED",
]
"""The event sequences of the pydantic-ai samples (samples/agui/pydantic-ai: text, tool,
error-mid-text, state), which the test server reproduces."""


@attrs.define
class Seen:
    """What one subscription got: items, how it ended, the statuses, the counters."""

    items: list[Any]
    error: BaseException | None
    statuses: list[ConnectionStatus]
    stats: SSEStats

    @property
    def frames(self) -> list[str]:
        """The frames, bursts flattened, without the EndOfStream."""
        flat = [f for item in self.items for f in (item if isinstance(item, list) else [item])]
        return [f for f in flat if not isinstance(f, EndOfStream)]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The frames decoded."""
        return [json.loads(f) for f in self.frames]

    @property
    def types(self) -> list[str]:
        """The frames' AG-UI event types."""
        return [e["type"] for e in self.events]

    @property
    def reason(self) -> str:
        """The failure's reason."""
        assert isinstance(self.error, SourceFailed), self.error
        return self.error.reason


def run(coro: Awaitable[Any]) -> Any:
    """Run one async test body on a fresh loop, with a hang guard."""
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))


async def collect(url: str, body: dict[str, Any], **options: Any) -> Seen:
    """Subscribe to one run and wait (guarded) until it completes or fails."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[BaseException | None] = loop.create_future()
    seen = Seen([], None, [], SSEStats())
    source = agui_run(
        url,
        body,
        scheduler=AsyncIOScheduler(loop),
        status=seen.statuses.append,
        stats=seen.stats,
        **options,
    )
    source.subscribe(seen.items.append, ended.set_result, lambda: ended.set_result(None))
    seen.error = await asyncio.wait_for(ended, PATIENCE)
    return seen


def prompt(run_id: str = "run-1", thread: str = "thread-1") -> dict[str, Any]:
    """A run input with one user message."""
    return run_input(thread, run_id, "Hello")


@pytest.fixture
def server() -> Iterator[AguiServer]:
    """A fresh AG-UI producer on 127.0.0.1, port 0."""
    with AguiServer(patience=PATIENCE) as served:
        yield served


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [("text", TEXT_RUN), ("tool", TOOL_RUN), ("error", ERROR_RUN), ("state", STATE_RUN)],
)
def test_each_scenario_arrives_in_order_and_ends_with_end_of_stream(
    server: AguiServer, scenario: str, expected: list[str]
) -> None:
    """Every event's data is one frame, in order, on the loop's thread; EndOfStream is last."""
    threads: set[int] = set()

    async def body() -> Seen:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[BaseException | None] = loop.create_future()
        seen = Seen([], None, [], SSEStats())

        def take(item: Any) -> None:
            threads.add(threading.get_ident())
            seen.items.append(item)

        source = agui_run(
            server.endpoint(scenario),
            prompt(),
            scheduler=AsyncIOScheduler(loop),
            status=seen.statuses.append,
            stats=seen.stats,
        )
        source.subscribe(take, ended.set_result, lambda: ended.set_result(None))
        seen.error = await asyncio.wait_for(ended, PATIENCE)
        return seen

    seen = run(body())
    assert seen.error is None
    assert seen.types == expected
    assert seen.items[-1] == EndOfStream(reason="the response ended")
    assert all(type(f) is str for f in seen.frames)
    assert threads == {threading.get_ident()}  # the test's loop runs on this thread
    assert [s.state for s in seen.statuses] == ["connecting", "open", "closed"]
    assert seen.stats.frames == len(expected)
    assert seen.stats.open_responses == 0
    (request,) = server.requests
    assert request["headers"]["accept"] == "text/event-stream"
    assert json.loads(request["body"]) == prompt()
    events = seen.events
    assert {e["runId"] for e in events if e["type"].startswith("RUN_") and "runId" in e} == {
        "run-1"
    }
    if scenario == "text":
        assert [e["delta"] for e in events if "delta" in e] == TEXT
    if scenario == "tool":
        (result,) = [e for e in events if e["type"] == "TOOL_CALL_RESULT"]
        assert result["content"] == "sunny, 21C in Paris"
    if scenario == "error":
        assert events[-1]["message"] == "model connection dropped (scripted)"
    if scenario == "state":
        # the model calls both tools in one response and pydantic-ai runs them concurrently:
        # which one lands first depends on the machine's load, not on flowrx
        snapshots = [e["snapshot"] for e in events if e["type"] == "STATE_SNAPSHOT"]
        assert len(snapshots) == 2
        assert snapshots[0]["items"] in (["milk"], ["eggs"])
        assert sorted(snapshots[1]["items"]) == ["eggs", "milk"]


def test_an_interrupted_run_resumes_on_the_same_thread_and_gets_the_tool_result(
    server: AguiServer,
) -> None:
    """Leg 0 ends with an interrupt; leg 1 (same thread, the conversation so far and an approving
    resume entry) runs the tool and answers."""

    async def body() -> tuple[Seen, Seen, dict[str, Any]]:
        url = server.endpoint("approval")
        first = await collect(url, run_input("thread-approval", "run-a", "Delete /tmp/x.txt"))
        events = first.events
        outcome = events[-1]["outcome"]
        (start,) = [e for e in events if e["type"] == "TOOL_CALL_START"]
        said = "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")
        args = "".join(e["delta"] for e in events if e["type"] == "TOOL_CALL_ARGS")
        # what a client holds after leg 0: the user's message and the assistant's, with its call
        assistant = {
            "id": start["parentMessageId"],
            "role": "assistant",
            "content": said,
            "toolCalls": [
                {
                    "id": start["toolCallId"],
                    "type": "function",
                    "function": {"name": start["toolCallName"], "arguments": args},
                }
            ],
        }
        answer = resume_entry(outcome["interrupts"][0]["id"], {"approved": True})
        leg = run_input(
            "thread-approval",
            "run-b",
            [*run_input("thread-approval", "run-a", "Delete /tmp/x.txt")["messages"], assistant],
            resume=[answer],
        )
        second = await collect(url, leg)
        return first, second, leg

    first, second, leg = run(body())
    assert first.error is None
    assert first.types == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
        "TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        "TOOL_CALL_ARGS",
        "TOOL_CALL_END",
        "RUN_FINISHED",
    ]
    outcome = first.events[-1]["outcome"]
    assert outcome["type"] == "interrupt"
    assert [i["toolCallId"] for i in outcome["interrupts"]] == ["call_del"]
    assert isinstance(first.items[-1], EndOfStream)
    RunAgentInput.model_validate(leg)
    assert second.error is None
    assert second.types == [
        "RUN_STARTED",
        "TOOL_CALL_RESULT",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 5,
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    events = second.events
    assert events[0]["threadId"] == "thread-approval"
    assert events[1]["toolCallId"] == "call_del"
    assert events[1]["content"] == "deleted /tmp/x.txt"
    assert events[-1]["outcome"] == {"type": "success"}
    assert isinstance(second.items[-1], EndOfStream)


def test_the_run_input_helper_builds_what_ag_ui_validates() -> None:
    """run_input writes camelCase keys that ag_ui.core.RunAgentInput reads field for field."""
    tool = {"name": "pick", "description": "Pick one", "parameters": {"type": "object"}}
    context = {"description": "locale", "value": "fr"}
    built = run_input(
        "t1",
        "r2",
        [{"id": "m1", "role": "user", "content": "hi"}],
        state={"items": []},
        tools=[tool],
        context=[context],
        forwarded_props={"x": 1},
        resume=[resume_entry("int-call_1", {"approved": False, "reason": "no"})],
        parent_run_id="r1",
    )
    assert set(built) == {
        "threadId",
        "runId",
        "state",
        "messages",
        "tools",
        "context",
        "forwardedProps",
        "resume",
        "protocolVersion",
        "parentRunId",
    }
    model = RunAgentInput.model_validate(built)
    assert model.model_extra == {}  # no key the model does not know
    assert (model.thread_id, model.run_id, model.parent_run_id) == ("t1", "r2", "r1")
    assert model.protocol_version == "1.0"
    assert model.state == {"items": []}
    assert model.forwarded_props == {"x": 1}
    assert [m.content for m in model.messages] == ["hi"]
    assert model.tools is not None
    assert model.tools[0].name == "pick"
    assert model.context is not None
    assert model.context[0].value == "fr"
    assert model.resume is not None
    (entry,) = model.resume
    assert (entry.interrupt_id, entry.status, entry.payload) == (
        "int-call_1",
        "resolved",
        {"approved": False, "reason": "no"},
    )
    assert model.model_dump(mode="json", by_alias=True) == built

    plain = run_input("t1", "r1", "Hello", protocol_version=None)
    assert "resume" not in plain
    assert "protocolVersion" not in plain
    model = RunAgentInput.model_validate(plain)
    assert [(m.id, m.role, m.content) for m in model.messages] == [("r1:user", "user", "Hello")]
    cancelled = RunAgentInput.model_validate(
        run_input("t1", "r3", resume=[resume_entry("int-call_1", status="cancelled")])
    )
    assert cancelled.resume is not None
    assert cancelled.resume[0].status == "cancelled"


@pytest.mark.parametrize(
    ("scenario", "body", "start", "hint"),
    [
        ("down", None, "HTTP 503 Service Unavailable", "(server error): agent unavailable"),
        ("nowhere", None, "HTTP 404 Not Found", "(wrong path?): Not Found"),
        ("private/text", None, "HTTP 401 Unauthorized", "(bad token?): a bearer token"),
        (
            "text",
            run_input("t", "r", [{"role": "user", "content": "no id"}]),
            "HTTP 422 Unprocessable Entity",
            "(the server refused the run input): [",
        ),
    ],
)
def test_an_http_error_status_fails_with_a_one_line_reason_and_no_end_of_stream(
    server: AguiServer, scenario: str, body: dict[str, Any] | None, start: str, hint: str
) -> None:
    """4xx and 5xx fail at once: status failed and SourceFailed with the same one line (the
    status, a hint, the start of what the server said); no run was open, so no EndOfStream."""
    seen = run(collect(server.endpoint(scenario), body or prompt()))
    assert seen.reason.startswith(f"{start} {hint}")
    assert "\n" not in seen.reason
    assert len(seen.reason) < 300
    assert seen.items == []
    assert [s.state for s in seen.statuses] == ["connecting", "failed"]
    assert seen.statuses[-1].reason == seen.reason
    assert (seen.stats.requests, seen.stats.responses) == (1, 0)


def test_a_bearer_token_in_the_headers_opens_the_private_scenario(server: AguiServer) -> None:
    """Headers are sent as given: the token is what the server checks."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    seen = run(collect(server.endpoint("private/text"), prompt(), headers=headers))
    assert seen.error is None
    assert seen.types == TEXT_RUN
    sent = server.requests[0]["headers"]
    assert sent["authorization"] == f"Bearer {TOKEN}"
    assert sent["accept"] == "text/event-stream"  # the caller cannot ask for something else
    assert sent["content-type"] == "application/json"


def test_a_refused_connection_fails_with_the_reason() -> None:
    """Nothing listens on the port: failed with ConnectError's reason; no EndOfStream."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    # the port is free again: connecting is refused at once
    seen = run(collect(f"http://127.0.0.1:{port}/text", prompt()))
    assert seen.reason.startswith("ConnectError: ")
    assert "\n" not in seen.reason
    assert seen.items == []
    assert [s.state for s in seen.statuses] == ["connecting", "failed"]


def test_an_answer_that_is_not_sse_fails_with_its_content_type(server: AguiServer) -> None:
    """A 200 with a JSON body is not a run: failed, naming the Content-Type; no EndOfStream."""
    seen = run(collect(server.endpoint("json"), prompt()))
    assert seen.reason == (
        "not an SSE stream: Content-Type 'application/json' (is the URL an AG-UI endpoint?)"
    )
    assert seen.items == []
    assert seen.stats.responses == 0


@pytest.mark.parametrize("size", [20_000, 1_000_000])
def test_an_oversized_event_closes_the_response_and_ends_the_stream(
    server: AguiServer, size: int
) -> None:
    """An event over max_frame (read whole, or cut off while it is still arriving) closes the
    response: the frames before it arrive, then EndOfStream, and the run fails, counted."""
    options = SSEOptions(max_frame=16_384)
    seen = run(collect(server.endpoint(f"big/{size}"), prompt(), options=options))
    reason = "an event larger than 16384 bytes (max_frame): response closed"
    assert seen.reason == reason
    assert seen.types == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert seen.items[-1] == EndOfStream(reason=reason)
    assert seen.stats.oversized == 1
    assert seen.stats.open_responses == 0
    assert [s.state for s in seen.statuses] == ["connecting", "open", "failed"]


def test_what_was_read_before_an_oversized_event_is_handed_on_first() -> None:
    """The pipeline is busy while the server sends an event and then an oversized one: the
    reader takes both in one read; the first still reaches the pipeline before EndOfStream."""
    with AguiServer(patience=PATIENCE) as server:

        async def body() -> Seen:
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[BaseException | None] = loop.create_future()
            seen = Seen([], None, [], SSEStats())

            def take(item: Any) -> None:
                if not seen.items:  # a slow pipeline: the server sends the rest meanwhile
                    assert server.written.wait(PATIENCE)
                seen.items.append(item)

            source = agui_run(
                server.endpoint("big/20000"),
                prompt(),
                scheduler=AsyncIOScheduler(loop),
                options=SSEOptions(max_frame=16_384),
                stats=seen.stats,
            )
            source.subscribe(take, ended.set_result, lambda: ended.set_result(None))
            seen.error = await asyncio.wait_for(ended, PATIENCE)
            return seen

        seen = run(body())
    assert seen.types == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert isinstance(seen.items[-1], EndOfStream)
    assert seen.stats.oversized == 1


@pytest.mark.parametrize("spare", [0, -1])
def test_an_event_of_exactly_max_frame_bytes_is_taken_and_one_more_is_not(
    server: AguiServer, spare: int
) -> None:
    """The bound is inclusive: data of max_frame bytes is a frame, of max_frame + 1 refused."""
    probe = run(collect(server.endpoint("big/5000"), prompt()))
    (big,) = [f for f in probe.frames if "xxxx" in f]
    size = len(big.encode())  # the same in every run: fixed-length ids and timestamps
    options = SSEOptions(max_frame=size + spare)
    seen = run(collect(server.endpoint("big/5000"), prompt(), options=options))
    if spare == 0:
        assert seen.error is None
        assert [len(f.encode()) for f in seen.frames if "xxxx" in f] == [size]
        assert seen.stats.oversized == 0
    else:
        assert seen.reason.startswith(f"an event larger than {size - 1} bytes")
        assert seen.stats.oversized == 1


def test_a_body_that_breaks_off_ends_the_stream_with_the_reason(server: AguiServer) -> None:
    """The server drops the connection mid-body: what came arrives, then EndOfStream with the
    reason, and the run fails with it."""
    seen = run(collect(server.endpoint("cut"), prompt()))
    assert seen.types == ["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT"]
    assert seen.reason.startswith("the response broke off: RemoteProtocolError: ")
    assert "\n" not in seen.reason
    assert seen.items[-1] == EndOfStream(reason=seen.reason)
    assert [s.state for s in seen.statuses] == ["connecting", "open", "failed"]


@pytest.mark.parametrize("where", ["loop", "thread"])
def test_disposing_the_subscription_closes_the_http_request(server: AguiServer, where: str) -> None:
    """Dispose mid-run (on the loop, or from a worker thread with the thread-safe scheduler):
    the server sees the client go away (its run is cancelled), nothing more is emitted, the
    status is closed and no task or response is left."""

    async def body() -> tuple[list[Any], list[ConnectionStatus], SSEStats, set[Any]]:
        loop = asyncio.get_running_loop()
        before = asyncio.all_tasks()
        items: list[Any] = []
        statuses: list[ConnectionStatus] = []
        stats = SSEStats()
        waiting: asyncio.Future[None] = loop.create_future()
        closed = asyncio.Event()

        def take(item: Any) -> None:
            items.append(item)
            if '"delta":"Waiting "' in item and not waiting.done():
                waiting.set_result(None)

        def note(status: ConnectionStatus) -> None:
            statuses.append(status)
            if status.state == "closed":
                closed.set()

        scheduler = AsyncIOScheduler(loop)
        if where == "thread":
            scheduler = AsyncIOThreadSafeScheduler(loop)
        source = agui_run(
            server.endpoint("hang"), prompt(), scheduler=scheduler, status=note, stats=stats
        )
        subscription = source.subscribe(take)
        await asyncio.wait_for(waiting, PATIENCE)
        assert await asyncio.to_thread(server.hanging.wait, PATIENCE)
        if where == "thread":
            await asyncio.to_thread(subscription.dispose)
        else:
            subscription.dispose()
        await asyncio.wait_for(closed.wait(), PATIENCE)
        assert await asyncio.to_thread(server.cancelled.wait, PATIENCE)
        return items, statuses, stats, asyncio.all_tasks() - before

    items, statuses, stats, left = run(body())
    assert json.loads(items[-1])["delta"] == "Waiting "
    assert not any(isinstance(item, EndOfStream) for item in items)
    assert [s.state for s in statuses] == ["connecting", "open", "closed"]
    assert statuses[-1].reason == "closed by the caller"
    assert stats.open_responses == 0
    assert left == set()


def test_taking_the_first_frames_ends_the_request_from_inside_on_next(server: AguiServer) -> None:
    """``take(3)`` disposes while a frame is being handed on: those three frames and nothing
    else arrive, then completion, and the server's run is cancelled."""

    async def body() -> tuple[list[Any], list[ConnectionStatus]]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        items: list[Any] = []
        statuses: list[ConnectionStatus] = []
        closed = asyncio.Event()

        def note(status: ConnectionStatus) -> None:
            statuses.append(status)
            if status.state == "closed":
                closed.set()

        source = agui_run(
            server.endpoint("hang"), prompt(), scheduler=AsyncIOScheduler(loop), status=note
        )
        source.pipe(ops.take(3)).subscribe(
            items.append, done.set_exception, lambda: done.set_result(None)
        )
        await asyncio.wait_for(done, PATIENCE)
        await asyncio.wait_for(closed.wait(), PATIENCE)
        assert await asyncio.to_thread(server.cancelled.wait, PATIENCE)
        return items, statuses

    items, statuses = run(body())
    assert [json.loads(i)["type"] for i in items] == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        "TEXT_MESSAGE_CONTENT",
    ]
    assert statuses[-1] == attrs.evolve(statuses[-1], state="closed", reason="closed by the caller")


def test_disposing_before_the_loop_runs_makes_no_request(server: AguiServer) -> None:
    """Subscribe and dispose at once: the request never starts (no status, nothing counted)."""

    async def body() -> tuple[SSEStats, list[ConnectionStatus]]:
        loop = asyncio.get_running_loop()
        stats = SSEStats()
        statuses: list[ConnectionStatus] = []
        source = agui_run(
            server.endpoint("text"),
            prompt(),
            scheduler=AsyncIOScheduler(loop),
            status=statuses.append,
            stats=stats,
        )
        source.subscribe().dispose()
        after: asyncio.Future[None] = loop.create_future()
        loop.call_soon(after.set_result, None)  # runs after the start the subscription scheduled
        await asyncio.wait_for(after, PATIENCE)
        return stats, statuses

    stats, statuses = run(body())
    assert stats.requests == 0
    assert statuses == []
    assert server.requests == []


def test_keep_alive_comments_and_events_without_data_are_skipped(server: AguiServer) -> None:
    """An SSE comment is nothing and an event without data is not dispatched (the SSE
    standard): only the run's events become frames; the data-less ones are counted."""
    seen = run(collect(server.endpoint("pings"), prompt()))
    assert seen.error is None
    assert seen.types == TEXT_RUN
    assert seen.stats.empty == len(TEXT_RUN)


def test_a_backlog_behind_a_slow_pipeline_waits_and_comes_as_bursts() -> None:
    """The pipeline holds the first frame until the server has sent everything: the reader
    waits on the full queue (counted), the backlog comes as lists of at most ``burst``, and
    nothing is lost or reordered."""
    count = 120
    with AguiServer(many=count, patience=PATIENCE) as server:

        async def body() -> Seen:
            loop = asyncio.get_running_loop()
            ended: asyncio.Future[BaseException | None] = loop.create_future()
            seen = Seen([], None, [], SSEStats())

            def take(item: Any) -> None:
                if not seen.items:  # a slow pipeline: the server sends all while it is busy
                    assert server.written.wait(PATIENCE)
                seen.items.append(item)

            options = SSEOptions(queue_size=4, burst=8)
            source = agui_run(
                server.endpoint("many"),
                prompt(),
                scheduler=AsyncIOScheduler(loop),
                options=options,
                stats=seen.stats,
            )
            source.subscribe(take, ended.set_result, lambda: ended.set_result(None))
            seen.error = await asyncio.wait_for(ended, PATIENCE)
            return seen

        seen = run(body())
    assert seen.error is None
    assert seen.types == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * count,
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    assert [e["delta"] for e in seen.events if "delta" in e] == [f"w{i} " for i in range(count)]
    lists = [item for item in seen.items if isinstance(item, list)]
    assert lists
    assert all(1 < len(item) <= 8 for item in lists)
    assert seen.stats.bursts == len(lists)
    assert seen.stats.backpressure_waits >= 1
    assert seen.stats.frames == count + 4
    assert seen.items[-1] == EndOfStream(reason="the response ended")


def test_a_subscription_from_another_thread_emits_on_the_loop_thread(server: AguiServer) -> None:
    """With the thread-safe asyncio scheduler, subscribing from a worker thread starts the
    request on the loop, and the frames arrive on the loop's thread."""

    async def body() -> tuple[list[Any], set[int]]:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()
        items: list[Any] = []
        threads: set[int] = set()

        def take(item: Any) -> None:
            threads.add(threading.get_ident())
            items.append(item)

        def completed() -> None:
            loop.call_soon_threadsafe(ended.set_result, None)

        source = agui_run(
            server.endpoint("text"), prompt(), scheduler=AsyncIOThreadSafeScheduler(loop)
        )
        await asyncio.to_thread(source.subscribe, take, on_completed=completed)
        await asyncio.wait_for(ended, PATIENCE)
        return items, threads

    items, threads = run(body())
    assert len(items) == len(TEXT_RUN) + 1
    assert threads == {threading.get_ident()}


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1/x", "http://[::1", "http:///x", "http://h:99999/", "http://h/x?token=s3"],
)
def test_a_url_that_is_not_http_is_refused_at_once(url: str) -> None:
    """Before any request, with one line that hides a token."""
    if url.endswith("token=s3"):
        check_http_url(url)  # a good URL, with a token: accepted
        url = "ftp://h/x?token=s3"
    with pytest.raises(ValueError, match="is not an http:// or https:// URL") as caught:
        agui_run(url, prompt(), scheduler=AsyncIOScheduler(asyncio.new_event_loop()))
    assert "\n" not in str(caught.value)
    assert "token=s3" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"runId": "r", "messages": []}, {}, "the run input lacks threadId (a string)"),
        ({"threadId": "t", "runId": "r"}, {}, "the run input lacks messages (a list)"),
        ({**prompt(), "state": {1, 2}}, {}, "the run input is not JSON: "),
        ({**prompt(), "state": float("nan")}, {}, "the run input is not JSON: "),
        (prompt(), {"Authorization": "Bearer a\r\nX-Evil: 1"}, "header Authorization holds "),
        (prompt(), {"Bad Name": "x"}, "'Bad Name' is not an HTTP header name"),
    ],
)
def test_bad_input_is_refused_at_once_with_one_line(
    body: dict[str, Any], headers: dict[str, str], message: str
) -> None:
    """A run input that is not a JSON RunAgentInput, or a header a request cannot carry,
    raises before any request; a header's value is never shown."""
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
            agui_run(
                "http://127.0.0.1:1/x", body, scheduler=AsyncIOScheduler(loop), headers=headers
            )
    finally:
        loop.close()


def test_a_scheduler_without_a_loop_and_bad_options_are_refused() -> None:
    """Frames come from asyncio I/O: a virtual clock is a TypeError; a bound of 0 a ValueError;
    a resume entry is resolved or cancelled."""
    with pytest.raises(TypeError, match="needs an AsyncIOScheduler, not VirtualClock"):
        agui_run("http://127.0.0.1:1/x", prompt(), scheduler=VirtualClock())  # type: ignore[arg-type]
    for bad in ({"max_frame": 0}, {"burst": 0}, {"queue_size": 0}, {"open_timeout": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SSEOptions(**bad)
    with pytest.raises(ValueError, match="resolved or cancelled"):
        resume_entry("int-1", status="approved")
