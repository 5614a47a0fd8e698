"""The live source against real local websockets servers on 127.0.0.1, port 0 (no mocks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import attrs
import pytest
from reactivex.scheduler.eventloop import AsyncIOScheduler
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from flowrx import connect, read_recording
from flowrx.streams.serve import PlatformServer
from flowrx.streams.websocket import (
    Backoff,
    ConnectionStatus,
    WebSocketOptions,
    WebSocketSource,
    check_url,
    redact,
)

FAST = Backoff(initial=0.02, factor=2.0, cap=0.16, jitter=0.2)
PATIENCE = 300.0
"""How long a test waits for a condition before calling it a hang: a guard with a wide margin
(a machine with both cores busy is slow, not broken), never a measurement."""

pytestmark = pytest.mark.timeout(2 * PATIENCE)


def run(coro: Awaitable[Any]) -> Any:
    """Run one async test body on a fresh loop, with a hang guard."""
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))  # type: ignore[arg-type]


async def until(check: Callable[[], bool], limit: float = PATIENCE) -> None:
    """Wait (by polling the loop, not sleeping the test) until ``check`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def frame(i: int) -> str:
    """A distinct valid frame."""
    return json.dumps(
        {"run_id": "r", "node_id": f"n{i}", "event": "start_node", "order": i, "status": "running"}
    )


def test_the_source_reconnects_after_the_server_drops_mid_run() -> None:
    """Frames before and after a server-side drop all arrive; one socket at a time."""

    async def body() -> None:
        sessions = {"n": 0}

        async def handler(ws: ServerConnection) -> None:
            sessions["n"] += 1
            base = 10 * sessions["n"]
            for i in range(3):
                await ws.send(frame(base + i))
            if sessions["n"] == 1:
                await ws.close(1011, "backend restart")
                return
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
            got: list[str | bytes] = []
            source.frames.subscribe(got.append)
            source.start()
            await until(lambda: len(got) == 6)
            assert source.stats.connections == 2
            assert source.stats.max_open_sockets == 1
            await source.close()
        assert [json.loads(g)["order"] for g in got] == [10, 11, 12, 20, 21, 22]

    run(body())


def test_accept_then_close_does_not_spin() -> None:
    """A server that accepts and closes at once is retried at the backoff's pace."""

    async def body() -> None:
        async def handler(ws: ServerConnection) -> None:
            await ws.close()

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(
                f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST, seed=1)
            )
            loop = asyncio.get_running_loop()
            started = loop.time()
            source.start()
            await until(lambda: source.stats.attempts >= 7)
            elapsed = loop.time() - started
            await source.close()
        # 7 attempts need at least 6 backoff waits: never a tight loop
        assert elapsed >= FAST.minimum_total(6)
        assert source.stats.attempts / elapsed < 1 / (FAST.initial * (1 - FAST.jitter)) + 1

    run(body())


def _refusing(status: HTTPStatus) -> Callable[[ServerConnection, Request], Response]:
    def check(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, "no\n")

    return check


async def _noop(ws: ServerConnection) -> None:
    await ws.wait_closed()


def test_http_503_at_the_handshake_is_retried() -> None:
    """A 503 is temporary: the source keeps reconnecting, never failed."""

    async def body() -> None:
        check = _refusing(HTTPStatus.SERVICE_UNAVAILABLE)
        async with serve(_noop, "127.0.0.1", 0, process_request=check) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
            source.start()
            await until(lambda: source.stats.attempts >= 3)
            assert source.current.state == "reconnecting"
            assert "503" in (source.current.reason or "")
            await source.close()

    run(body())


def test_http_403_at_the_handshake_fails_with_the_reason() -> None:
    """A bad token cannot be fixed by retrying: failed, with the reason, after one attempt."""

    async def body() -> None:
        async with serve(
            _noop, "127.0.0.1", 0, process_request=_refusing(HTTPStatus.FORBIDDEN)
        ) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
            seen: list[ConnectionStatus] = []
            source.status.subscribe(seen.append)
            source.start()
            status = await source.wait_failed()
            assert status.state == "failed"
            assert "403" in (status.reason or "")
            assert source.stats.attempts == 1
            await source.close()

    run(body())


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/x", "ws://[::1", "ws://h:99999/x", "ws:///x?token=s3cret"]
)
def test_a_bad_url_fails_at_once(url: str) -> None:
    """A URL no connection can be attempted to is reported failed (token hidden), not retried."""

    async def body() -> None:
        source = WebSocketSource(url, WebSocketOptions(backoff=FAST))
        source.start()
        status = await source.wait_failed()
        assert status.state == "failed"
        assert "bad URL" in (status.reason or "")
        assert "s3cret" not in (status.reason or "")
        assert source.stats.attempts == 0
        await source.close()

    run(body())
    with pytest.raises(ValueError, match="not a ws:// or wss:// URL") as caught:
        check_url(url)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("code", [HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED])
def test_http_404_and_401_at_the_handshake_are_as_final_as_403(code: HTTPStatus) -> None:
    """A wrong path or flow id (404) or no token (401): failed after one attempt, with why."""

    async def body() -> None:
        async with serve(_noop, "127.0.0.1", 0, process_request=_refusing(code)) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
            source.start()
            status = await source.wait_failed()
            assert status.state == "failed"
            assert f"HTTP {int(code)}" in (status.reason or "")
            assert source.stats.attempts == 1
            await source.close()

    run(body())


def test_an_unreachable_host_is_retried_with_one_status_per_attempt() -> None:
    """Nothing listens: every failed attempt publishes exactly one status, with its reason."""

    async def body() -> None:
        async with serve(_noop, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
        # the port is free again: connecting is refused at once
        source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
        seen: list[ConnectionStatus] = []
        source.status.subscribe(seen.append)
        source.start()
        await until(lambda: source.stats.attempts >= 5)
        await until(lambda: len(seen) >= 6)  # the fifth attempt's status
        await source.close()
        states = [s.state for s in seen]
        assert states[0] == "connecting"  # the first try, then one status per failed one
        assert states.count("connecting") == 1
        retries = [s for s in seen if s.state == "reconnecting"]
        assert [s.attempt for s in retries] == list(range(1, len(retries) + 1))
        assert len(retries) in (source.stats.attempts, source.stats.attempts - 1)
        assert all("retry in" in (s.reason or "") for s in retries)
        assert states[-1] == "closed"
        assert source.stats.connections == 0

    run(body())


def test_an_oversized_frame_is_refused_with_a_clear_line_and_the_source_reconnects() -> None:
    """A frame over max_frame closes that connection (1009), is counted, and reading goes on."""

    async def body() -> None:
        sessions = {"n": 0}

        async def handler(ws: ServerConnection) -> None:
            sessions["n"] += 1
            if sessions["n"] == 1:
                await ws.send("x" * 5000)
            await ws.send(frame(sessions["n"]))
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(
                f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST, max_frame=1000)
            )
            got: list[str | bytes] = []
            source.frames.subscribe(got.append)
            source.start()
            await until(lambda: len(got) >= 1)
            assert source.stats.oversized == 1
            assert all(len(g) < 1000 for g in got)
            await source.close()

    run(body())


def test_a_silent_server_trips_the_text_heartbeat() -> None:
    """No pong within the timeout: the source closes and reconnects."""

    async def body() -> None:
        async def silent(ws: ServerConnection) -> None:
            async for _ in ws:  # reads pings, never answers
                pass

        async with serve(silent, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            options = WebSocketOptions(backoff=FAST, heartbeat=0.05, heartbeat_timeout=0.05)
            source = WebSocketSource(f"ws://127.0.0.1:{port}/x", options)
            source.start()
            await until(lambda: source.stats.connections >= 2)
            assert source.stats.heartbeat_timeouts >= 1
            assert source.stats.max_open_sockets == 1
            await source.close()

    run(body())


def test_the_heartbeat_is_kept_by_a_server_that_answers_pong() -> None:
    """The platform's ping/pong keeps one connection alive; pongs reach intake as heartbeats."""

    async def body() -> None:
        server = PlatformServer([], flow_id="f", wait_for_client=False)
        url = await server.start()
        # a pong comes within ms of its ping; a busy machine must not trip the timeout
        options = WebSocketOptions(backoff=FAST, heartbeat=0.03, heartbeat_timeout=30.0)
        source = WebSocketSource(url, options)
        got: list[str | bytes] = []
        source.frames.subscribe(got.append)
        source.start()
        await until(lambda: got.count("pong") >= 3)
        assert source.stats.connections == 1
        assert source.stats.heartbeat_timeouts == 0
        await source.close()
        await server.close()

    run(body())


@pytest.mark.parametrize("in_query", [None, False, True])
def test_the_token_travels_in_the_query_unless_a_header_is_asked_for(in_query: bool | None) -> None:
    """The token goes in ?token= by default (the platform reads it), in Authorization when
    asked (``token_in_query=False``)."""

    async def body() -> None:
        seen: list[Request] = []

        def check(connection: ServerConnection, request: Request) -> Response | None:
            seen.append(request)
            return None

        async with serve(_noop, "127.0.0.1", 0, process_request=check) as server:
            port = server.sockets[0].getsockname()[1]
            options = WebSocketOptions(token="s3cret", backoff=FAST)
            if in_query is not None:
                options = attrs.evolve(options, token_in_query=in_query)
            source = WebSocketSource(f"ws://127.0.0.1:{port}/ws?session_id=1", options)
            source.start()
            await until(lambda: source.current.state == "open")
            await source.close()
        request = seen[0]
        if in_query is not False:
            assert "token=s3cret" in request.path
            assert "Authorization" not in request.headers
        else:
            assert request.headers["Authorization"] == "Bearer s3cret"
            assert "s3cret" not in request.path

    run(body())


@pytest.mark.parametrize("token", ["a\r\nX-Evil: 1", "t\u00f6k", ""])
def test_a_token_a_header_cannot_carry_fails_at_once_without_showing_it(token: str) -> None:
    """In header mode a token with line breaks or non-ASCII fails at once; the reason hides it."""

    async def body() -> None:
        options = WebSocketOptions(token=token, token_in_query=False, backoff=FAST)
        source = WebSocketSource("ws://127.0.0.1:1/x", options)
        source.start()
        status = await source.wait_failed()
        assert status.state == "failed"
        assert "header" in (status.reason or "")
        assert source.stats.attempts == 0
        await source.close()

    run(body())


def test_redact_hides_the_token_in_logs() -> None:
    """URLs are logged and recorded with the token replaced."""
    assert (
        redact("ws://h/ws/v1/execution/f?token=abc&x=1")
        == "ws://h/ws/v1/execution/f?token=%2A%2A%2A&x=1"
    )
    assert redact("ws://h/x") == "ws://h/x"
    assert redact("ws://[::1/x?a=1&token=abc#f") == "ws://[::1/x?a=1&token=***#f"


def test_serve_to_live_pipeline_gives_the_same_state_as_a_replay(examples: Any) -> None:
    """The stand-in server plays a real recording; the live pipeline ends where replay does."""

    async def body() -> dict[str, Any]:
        recording = read_recording(examples / "groups-tools-error.jsonl")
        server = PlatformServer(recording.frames, flow_id="f", speed=20.0)
        url = await server.start()
        loop = asyncio.get_running_loop()
        source = WebSocketSource(url, WebSocketOptions(backoff=FAST))
        state, subscription = connect(source.frames, scheduler=AsyncIOScheduler(loop))
        source.start()
        await server.play()
        await until(lambda: state.snapshot()["diagnostics"]["frames"] == 23)
        await until(state.settled)
        snap = state.snapshot()
        subscription.dispose()
        await source.close()
        await server.close()
        return snap

    live = run(body())
    from flowrx import VirtualClock, replay
    from flowrx import connect as connect_

    clock = VirtualClock()
    recording = read_recording(examples / "groups-tools-error.jsonl")
    state, _ = connect_(replay(recording.frames, clock), scheduler=clock)
    clock.run()
    offline = state.snapshot()
    for section in ("store", "visual", "tool", "group", "surface"):
        assert live[section] == offline[section], section
    run_id = "0e000000-0000-4000-8000-000000000001"
    assert live["lifecycle"]["runs"][run_id]["status"] == "error"
    assert live["diagnostics"]["frames"] == offline["diagnostics"]["frames"]


def test_close_leaves_no_task_and_no_socket_behind() -> None:
    """After close, only the test's own task is left on the loop and no socket is open."""

    async def body() -> None:
        before = asyncio.all_tasks()
        server = PlatformServer([], flow_id="f", wait_for_client=False)
        url = await server.start()
        source = WebSocketSource(url, WebSocketOptions(backoff=FAST, heartbeat=0.05))
        source.start()
        await until(lambda: source.current.state == "open")
        await source.close()
        await server.close()
        assert source.stats.open_sockets == 0
        assert source.current.state == "closed"
        assert asyncio.all_tasks() - before == set()

    run(body())


def test_a_backlog_is_handed_on_as_bursts_in_order_and_the_pipeline_takes_them_whole() -> None:
    """With ``burst`` above 1, frames that queued up behind the pipeline come as one list (at
    most ``burst`` long), none lost or reordered; connect applies them as it would one by one."""
    sent = [frame(i) for i in range(600)]

    async def body() -> None:
        async def handler(ws: ServerConnection) -> None:
            for text in sent:
                await ws.send(text)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            source = WebSocketSource(
                f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST, burst=50)
            )
            got: list[Any] = []
            source.frames.subscribe(got.append)
            loop = asyncio.get_running_loop()
            state, subscription = connect(source.frames, scheduler=AsyncIOScheduler(loop))
            source.start()
            await until(lambda: state.counters["frames"] == len(sent))
            await source.close()
            subscription.dispose()
        flat = [f for item in got for f in (item if isinstance(item, list) else [item])]
        assert flat == sent
        lists = [item for item in got if isinstance(item, list)]
        assert all(1 < len(item) <= 50 for item in lists)
        assert source.stats.bursts == len(lists)
        assert source.stats.frames == len(sent)
        store = state.snapshot()["store"]["r"]
        assert [entry["order"] for entry in store] == list(range(600))

    run(body())


def test_the_recorder_writes_a_burst_frame_by_frame(tmp_path: Any) -> None:
    """A list handed on at once is recorded as its frames, in order, at the hand-off time."""
    from flowrx.streams.record import Recorder

    path = tmp_path / "burst.jsonl"
    recorder = Recorder(str(path), source="ws://127.0.0.1/x", note="test")
    recorder.write(frame(0), 10.0)
    recorder.write([frame(1), b"\x00\x01", frame(2)], 10.5)
    recorder.close()
    recording = read_recording(path)
    assert [f.t for f in recording.frames] == [0.0, 0.5, 0.5, 0.5]
    assert recording.frames[2].data == b"\x00\x01"
    assert recorder.frames == 4
