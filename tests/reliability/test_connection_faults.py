"""Connection faults against real local websockets servers on 127.0.0.1, port 0 (no mocks).

Beyond the live source's own tests (tests/test_websocket.py): a server restart in the middle of
a burst, a stalled reader against a fast server, a thousand reconnects in a row, binary frames.
The timed tests print their measured figures (run pytest with ``-s`` to see them).

Every test is sized by counts (frames, reconnects, attempts); the time limits are hang guards
with a wide margin (:data:`PATIENCE`), so that a loaded machine (both cores busy) slows the
tests down without failing them. Times are only bounded from below (never sooner than the
backoff allows), except the reconnect bounds, which allow :data:`HANDSHAKE` per attempt.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import LoopThread, flowrx_logs
from reactivex.scheduler.eventloop import AsyncIOScheduler
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.protocol import State

from flowrx import connect
from flowrx.streams.websocket import Backoff, WebSocketOptions, WebSocketSource

FAST = Backoff(initial=0.02, factor=2.0, cap=0.16, jitter=0.2)
HANDSHAKE = 2.0
"""Allowance per attempt for the TCP connect, the opening handshake and loop scheduling: some
10 ms on an idle machine, and a wide margin for one whose cores are both busy."""
PATIENCE = 300.0
"""How long a test waits for a condition before calling it a hang: never a measurement."""

pytestmark = pytest.mark.timeout(2 * PATIENCE)


def run(coro: Awaitable[Any]) -> Any:
    """Run one async test body on a fresh loop, with a hang guard."""
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))


async def until(check: Callable[[], bool], limit: float = PATIENCE) -> None:
    """Wait (by polling the loop, not sleeping the test) until ``check`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def most_total(backoff: Backoff, retries: int) -> float:
    """The most time ``retries`` backoff waits can take (all jitter positive)."""
    return sum(
        min(backoff.cap, backoff.initial * backoff.factor ** min(i, 64)) * (1.0 + backoff.jitter)
        for i in range(retries)
    )


def open_fds() -> int:
    """The number of file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


PAD = "p" * 64


def burst_frame(seq: int) -> str:
    """A distinct execution frame whose completeness can be checked (the pad's length)."""
    return json.dumps(
        {
            "run_id": "burst",
            "node_id": f"n{seq}",
            "event": "start_node",
            "order": seq,
            "status": "running",
            "pad": PAD,
        }
    )


async def _restart_during_a_burst(crash: bool) -> dict[str, Any]:
    total = 2000
    batch = 25  # frames written per loop turn: the client always has some in flight
    drop = 27 * batch  # a third of the way in
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    loop = asyncio.get_running_loop()
    server: Server = await serve(handler, "127.0.0.1", 0, logger=None)
    port = server.sockets[0].getsockname()[1]
    source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST, seed=3))
    delivered: list[tuple[int, str | bytes]] = []  # (connection number, frame)
    source.frames.subscribe(lambda f: delivered.append((source.stats.connections, f)))
    state, subscription = connect(source.frames, scheduler=AsyncIOScheduler(loop))
    opened: list[float] = []
    source.status.subscribe(lambda s: opened.append(loop.time()) if s.state == "open" else None)
    source.start()
    await until(lambda: len(clients) == 1)

    reached: list[int] = []  # published while a client was connected
    lost: list[int] = []  # published while none was: Redis pub/sub drops them
    in_flight = down_at = up_at = 0.0
    attempts_at_up = 0
    seq = 0
    while seq < total:
        live = [c for c in clients if c.state is State.OPEN]
        for _ in range(batch):
            broadcast(live, burst_frame(seq))
            (reached if live else lost).append(seq)
            seq += 1
        if seq == drop:  # mid-burst: the backend goes away with frames in flight
            in_flight = len(reached) - len(delivered)
            down_at = loop.time()
            if crash:
                for ws in list(clients):
                    ws.transport.abort()
            server.close()
            await server.wait_closed()
        elif seq == drop + 8 * batch:  # 200 frames published to nobody
            await until(lambda: source.stats.attempts >= 4)  # down for 3 refused retries
            server = await serve(handler, "127.0.0.1", port, logger=None)
            up_at = loop.time()
            attempts_at_up = source.stats.attempts
            await until(lambda: source.current.state == "open")
        await asyncio.sleep(0)
    await until(lambda: delivered[-1][1] == burst_frame(total - 1))
    await until(lambda: state.snapshot()["diagnostics"]["frames"] == len(delivered))
    diagnostics = state.snapshot()["diagnostics"]
    subscription.dispose()
    await source.close()
    server.close()
    await server.wait_closed()
    retries = source.stats.attempts - 1
    return {
        "delivered": delivered,
        "reached": reached,
        "lost": lost,
        "in_flight": in_flight,
        "reopen_after_drop": opened[-1] - down_at,
        "reopen_after_up": opened[-1] - up_at,
        "attempts_after_up": source.stats.attempts - attempts_at_up,
        "retries": retries,
        "stats": source.stats,
        "diagnostics": diagnostics,
    }


def _check_restart(result: dict[str, Any], crash: bool) -> None:
    delivered = result["delivered"]
    stats = result["stats"]
    frames = [json.loads(f) for _, f in delivered]
    assert all(f["pad"] == PAD for f in frames)  # every delivered frame is complete
    seqs = [f["order"] for f in frames]
    assert seqs == sorted(set(seqs))  # in order and none delivered twice across the reconnect
    for conn in (1, 2):
        mine = [f["order"] for (c, _), f in zip(delivered, frames, strict=True) if c == conn]
        assert mine, f"connection {conn} delivered nothing"
        assert mine == list(range(mine[0], mine[0] + len(mine))), f"gap within connection {conn}"
    first = [s for (c, _), s in zip(delivered, seqs, strict=True) if c == 1]
    second = [s for (c, _), s in zip(delivered, seqs, strict=True) if c == 2]
    assert first[0] == 0
    if not crash:  # a clean close frame comes after every frame written before it
        assert first[-1] == 27 * 25 - 1
        assert seqs == result["reached"]
    assert set(seqs) <= set(result["reached"])
    assert second == result["reached"][-len(second) :]  # all published after the reopen
    assert second[-1] == 1999
    assert set(result["lost"]).isdisjoint(seqs)  # published while down: lost, never replayed
    assert len(result["lost"]) >= 200
    assert stats.connections == 2
    assert stats.max_open_sockets == 1
    assert result["diagnostics"]["frames"] == len(delivered)
    assert result["diagnostics"]["duplicates"] == 0
    assert result["diagnostics"]["rejected"] == 0
    # reconnect within the bound the backoff gives: the waits of the retries made, plus the
    # handshake of each attempt; and no sooner than the least those waits can take
    retries = result["retries"]
    assert result["reopen_after_drop"] <= most_total(FAST, retries) + HANDSHAKE * (retries + 1)
    assert result["reopen_after_drop"] >= FAST.minimum_total(retries)
    wait_in_effect = most_total(FAST, retries) - most_total(FAST, retries - 1)
    assert result["reopen_after_up"] <= wait_in_effect + HANDSHAKE
    assert result["attempts_after_up"] <= 1  # the first attempt once the server is back opens
    print(
        f"\nrestart ({'crash' if crash else 'close'}): {len(delivered)} of 2000 delivered, "
        f"{len(result['lost'])} published while down, {result['in_flight']} in flight at the "
        f"drop, reopened {result['reopen_after_drop'] * 1000:.1f} ms after the drop and "
        f"{result['reopen_after_up'] * 1000:.1f} ms after the server was back, "
        f"{retries} retries (bound {most_total(FAST, retries) * 1000:.0f} ms of waits)"
    )


def test_a_server_closed_mid_burst_and_restarted_loses_frames_but_never_repeats_one() -> None:
    """Close mid-burst, restart on the port: reconnect in bound, one socket, no frame twice.

    Delivery is Redis pub/sub behind the socket, at-most-once: frames published while the
    server is down are lost and never replayed; every frame that is delivered is complete, in
    order within its connection, and delivered once.
    """
    _check_restart(run(_restart_during_a_burst(crash=False)), crash=False)


def test_a_server_crashing_mid_burst_and_restarting_loses_frames_but_never_repeats_one() -> None:
    """Abort every connection mid-burst (no close frame): same promises as a clean close.

    At-most-once as above; frames still in the kernel's buffers at the abort may be lost too,
    and a frame cut in half by the abort is never delivered.
    """
    _check_restart(run(_restart_during_a_burst(crash=True)), crash=True)


def test_a_stalled_reader_pauses_a_fast_server_with_bounded_memory_and_no_loss() -> None:
    """A slow sink and a fast server: the reader waits, TCP pauses the server, nothing is lost.

    20,000 frames of 1 KiB are 20 MiB; the userspace buffers between them are the hand-off
    queue (8 frames), websockets' receive queue (16 frames, plus at most one 256 KiB socket
    read) and the server's write buffer (32 KiB high-water): under 2 MiB with the test's own
    bookkeeping. The bound is 4 MiB, a fifth of the burst. Payloads are random so that
    permessage-deflate cannot shrink them and the 20 MiB really cross the socket.
    """
    total = 20_000
    busy = 0.0001  # seconds of CPU per frame in the sink: slower than the server and reader

    async def body() -> dict[str, Any]:
        sent = {"n": 0, "pauses": 0, "lead": 0}
        seen = {"n": 0, "out_of_order": 0}

        async def fast(ws: ServerConnection) -> None:
            pause = ws.pause_writing

            def counted() -> None:  # the transport calls this when its buffer is full
                sent["pauses"] += 1
                pause()

            ws.pause_writing = counted  # type: ignore[method-assign]
            for i in range(total):
                pad = base64.b64encode(os.urandom(741)).decode()  # 988 characters
                await ws.send(f'{{"seq": {i}, "pad": "{pad}"}}')
                sent["n"] = i + 1
                sent["lead"] = max(sent["lead"], sent["n"] - seen["n"])
            await ws.wait_closed()

        def slow(frame: str | bytes) -> None:
            if json.loads(frame)["seq"] != seen["n"]:
                seen["out_of_order"] += 1
            seen["n"] += 1
            end = time.perf_counter() + busy
            while time.perf_counter() < end:
                pass

        started = time.perf_counter()
        tracemalloc.start()
        try:
            async with serve(fast, "127.0.0.1", 0, logger=None) as server:
                port = server.sockets[0].getsockname()[1]
                source = WebSocketSource(
                    f"ws://127.0.0.1:{port}/x", WebSocketOptions(queue_size=8, backoff=FAST)
                )
                source.frames.subscribe(slow)
                source.start()
                await until(lambda: seen["n"] == total)
                await source.close()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return {
            "sent": sent,
            "seen": seen,
            "peak": peak,
            "stats": source.stats,
            "elapsed": time.perf_counter() - started,
        }

    result = run(body())
    stats = result["stats"]
    assert result["seen"] == {"n": total, "out_of_order": 0}  # all arrived, in order
    assert stats.frames == total
    assert stats.connections == 1
    assert stats.backpressure_waits > 0  # the reader waited on the full hand-off queue
    assert result["sent"]["pauses"] > 0  # and TCP flow control paused the server's writes
    assert result["sent"]["lead"] < total  # the server could never run the whole burst ahead
    assert result["peak"] < 4 * 2**20
    print(
        f"\nstalled reader: {total} frames in {result['elapsed']:.2f} s, traced peak "
        f"{result['peak'] / 2**20:.2f} MiB, {stats.backpressure_waits} hand-off waits, "
        f"{result['sent']['pauses']} server write pauses, server at most "
        f"{result['sent']['lead']} frames ahead of the sink"
    )


def test_a_compressible_burst_cannot_inflate_past_the_hand_off_bound() -> None:
    """A slow sink and compressible 1 MiB frames: memory stays near the queues' bound.

    The source promises bounded memory: ``queue_size`` frames handed off, websockets' receive
    queue of 16 frames, then TCP flow control. Each frame here is 1 MiB of text that
    permessage-deflate (negotiated by default) sends as about 1 KiB, so one 256 KiB socket
    read holds some 250 frames; (8 + 16 + 2) frames of 1 MiB make the 32 MiB bound.
    """
    total = 120
    size = 2**20

    async def body() -> tuple[int, int]:
        seen = {"n": 0}
        big = "x" * size

        async def fast(ws: ServerConnection) -> None:
            for _ in range(total):
                await ws.send(big)
            await ws.wait_closed()

        def slow(frame: str | bytes) -> None:
            seen["n"] += 1
            end = time.perf_counter() + 0.001
            while time.perf_counter() < end:
                pass

        tracemalloc.start()
        try:
            async with serve(fast, "127.0.0.1", 0, logger=None) as server:
                port = server.sockets[0].getsockname()[1]
                source = WebSocketSource(
                    f"ws://127.0.0.1:{port}/x", WebSocketOptions(queue_size=8, backoff=FAST)
                )
                source.frames.subscribe(slow)
                source.start()
                await until(lambda: seen["n"] == total)
                await source.close()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return seen["n"], peak

    count, peak = run(body())
    print(f"\ncompressible burst: {count} frames of 1 MiB, traced peak {peak / 2**20:.1f} MiB")
    assert count == total
    assert peak < 32 * 2**20


class ThreadServer(LoopThread):
    """A websockets server on its own loop in a thread: none of its tasks is the test loop's,
    so every task left on the test loop belongs to the source."""

    def __init__(self, handler: Callable[[ServerConnection], Awaitable[None]]) -> None:
        self.handler = handler
        self.port = 0
        super().__init__(self._serve)

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        async with serve(self.handler, "127.0.0.1", 0, logger=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready()
            await stop.wait()


def test_a_thousand_reconnects_in_a_row_leak_no_task_socket_or_descriptor() -> None:
    """Accept-then-close 1,000 times: after close, no task, socket or descriptor is left."""
    tiny = Backoff(initial=0.0005, factor=1.0, cap=0.0005, jitter=0)
    accepted = {"n": 0}

    async def slam(ws: ServerConnection) -> None:
        accepted["n"] += 1
        await ws.close()

    async def body() -> dict[str, Any]:
        tasks_before = asyncio.all_tasks()
        fds_before = open_fds()
        with ThreadServer(slam) as server:
            options = WebSocketOptions(backoff=tiny, stable_after=3600.0, protocol_ping=None)
            source = WebSocketSource(f"ws://127.0.0.1:{server.port}/x", options)
            loop = asyncio.get_running_loop()
            started = loop.time()
            source.start()
            await until(lambda: source.stats.attempts >= 1000)
            elapsed = loop.time() - started
            fds_during = open_fds()
            await source.close()
            left = asyncio.all_tasks() - tasks_before  # at once: close() leaves nothing
        return {
            "elapsed": elapsed,
            "stats": source.stats,
            "left": left,
            "fds": (fds_before, fds_during, open_fds()),
        }

    result = run(body())
    stats = result["stats"]
    fds_before, fds_during, fds_after = result["fds"]
    print(
        f"\n1,000 reconnects: {stats.attempts} attempts in {result['elapsed']:.2f} s "
        f"({stats.attempts / result['elapsed']:.0f}/s), {stats.connections} opened, "
        f"{accepted['n']} accepted; fds {fds_before} before, {fds_during} during, "
        f"{fds_after} after"
    )
    assert result["left"] == set()
    assert stats.open_sockets == 0
    assert stats.max_open_sockets == 1
    assert stats.connections >= 999  # every attempt but perhaps the one cut by close()
    assert fds_after <= fds_before + 2
    assert result["elapsed"] >= tiny.minimum_total(stats.attempts - 1)


def test_binary_frames_reach_the_pipeline_and_bad_ones_are_rejected_without_reconnecting() -> None:
    """Binary frames are parsed as UTF-8 JSON; the others are counted as rejected, once each."""

    def node(i: int) -> dict[str, Any]:
        return {
            "run_id": "bin",
            "node_id": f"n{i}",
            "event": "start_node",
            "order": i,
            "status": "running",
        }

    sent: list[str | bytes] = [
        json.dumps(node(1)).encode(),  # binary, UTF-8 JSON: a message
        b"\xff\xfe\x00{not utf-8",  # binary, not UTF-8: rejected
        "\u00e9t\u00e9".encode("latin-1"),  # latin-1 text: not UTF-8, rejected
        b"not json",  # UTF-8 but not JSON: rejected
        b"[1, 2]",  # JSON but not an object: rejected
        b"pong",  # the heartbeat, in a binary frame
        json.dumps(node(2)),  # a text frame after them: the connection still reads
        json.dumps(node(3)).encode("utf-8"),
    ]

    async def body() -> dict[str, Any]:
        with flowrx_logs("DEBUG") as seen:

            async def handler(ws: ServerConnection) -> None:
                for frame in sent:
                    await ws.send(frame)
                await ws.wait_closed()

            loop = asyncio.get_running_loop()
            async with serve(handler, "127.0.0.1", 0, logger=None) as server:
                port = server.sockets[0].getsockname()[1]
                source = WebSocketSource(f"ws://127.0.0.1:{port}/x", WebSocketOptions(backoff=FAST))
                got: list[str | bytes] = []
                source.frames.subscribe(got.append)
                state, subscription = connect(source.frames, scheduler=AsyncIOScheduler(loop))
                source.start()
                await until(lambda: state.snapshot()["diagnostics"]["frames"] == len(sent))
                snapshot = state.snapshot()
                status = source.current.state
                subscription.dispose()
                await source.close()
        return {
            "got": got,
            "snapshot": snapshot,
            "status": status,
            "stats": source.stats,
            "rejections": [
                r["message"]
                for r in seen
                if r["extra"].get("concern") == "intake" and r["extra"].get("event") == "rejected"
            ],
        }

    result = run(body())
    assert result["got"] == sent  # bytes stay bytes, in order
    diagnostics = result["snapshot"]["diagnostics"]
    assert diagnostics["frames"] == 8
    assert diagnostics["messages"] == 3
    assert diagnostics["heartbeats"] == 1
    assert diagnostics["rejected"] == 4
    assert sum(1 for r in result["rejections"] if "not UTF-8" in r) == 2
    assert len(result["rejections"]) == 4
    nodes = [badge["node_id"] for badge in result["snapshot"]["store"]["bin"]]
    assert nodes == ["n1", "n2", "n3"]
    assert result["status"] == "open"  # no reconnect for any of them
    assert result["stats"].connections == 1
    assert result["stats"].attempts == 1
