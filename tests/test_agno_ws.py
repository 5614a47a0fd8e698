"""Agno over AgentOS's WebSocket: the workflows of ``tests/agno_workflows.py`` served by a real
AgentOS (``tests/agentos_server.py``, uvicorn on 127.0.0.1, port 0), watched through
``flowrx.streams.agentos_ws`` into ``connect(..., protocol="agno")`` and through
``flowrx agno --ws``.

Dropped connections are real: a WebSocket relay on 127.0.0.1 (``tests/ws_relay.py``) aborts
the first connection's TCP connection after a number of frames. ``wf-slow``'s agent waits at a
gate the test opens, so the run is surely still going (or surely over) when the source
reconnects. Nothing sleeps: the tests wait on events, with a hang guard.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import agno_workflows as wf
import attrs
import httpx
import pytest
from agentos_server import TOKEN, AgentOSServer
from agentos_watch import (
    ANSWERED_PAUSES,
    PATIENCE,
    Watched,
    clean,
    continued_once,
    converse,
    in_process,
    same_sections,
    watch_run,
)
from helpers import LoopThread
from reactivex.scheduler.eventloop import AsyncIOScheduler
from websockets.asyncio.server import ServerConnection, serve
from ws_relay import Relay

from flowrx.cli import main
from flowrx.messages import EndOfStream
from flowrx.streams.agentos_ws import (
    AgentOSSocketOptions,
    agentos_ws_continue,
    agentos_ws_conversation,
    agentos_ws_run,
    agentos_ws_url,
)
from flowrx.streams.agno import agentos_run
from flowrx.streams.sse import SourceFailed
from flowrx.streams.websocket import Backoff, ConnectionStatus, SourceStats

pytestmark = pytest.mark.timeout(2 * PATIENCE)

AT_ONCE = AgentOSSocketOptions(backoff=Backoff(initial=0.0, jitter=0.0))
"""Reconnect without waiting (the backoff is the source's parameter; 0 keeps tests quick)."""

CUT_AFTER = 9
"""The relay cuts the first connection after this many frames: ``connected``,
``authenticated`` and wf-slow's events 0 to 6 (up to the agent's ``ModelRequestStarted``).
The agent's first four chunks (events 7 to 10) come before its gate, so the cut never waits
for the gate."""


@attrs.define
class Served:
    """The module's AgentOS and the gate its ``wf-slow`` waits at."""

    server: AgentOSServer
    gate: wf.Gate

    @property
    def url(self) -> str:
        """The AgentOS's root."""
        return self.server.url


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One real AgentOS for the module's tests, with ``wf-slow`` and its gate (open)."""
    gate = wf.Gate(PATIENCE)
    gate.open()
    with AgentOSServer(patience=PATIENCE, extra=[wf.slow_run(gate)]) as server:
        yield Served(server, gate)
    gate.open()


@pytest.fixture
def shut(served: Served) -> Iterator[wf.Gate]:
    """wf-slow's gate, closed for the test (opened again after it, whatever happened)."""
    served.gate.close()
    yield served.gate
    served.gate.open()


def _ws(url: str, workflow_id: str, **options: Any) -> Watched:
    """Run ``workflow_id`` over the WebSocket of the AgentOS at ``url``, watched."""
    return watch_run(agentos_ws_run, url, workflow_id, **options)


def _sse(url: str, workflow_id: str) -> Watched:
    """The same run over SSE, watched."""
    return watch_run(agentos_run, url, workflow_id)


def _states(watched: Watched) -> list[str]:
    return [s.state for s in watched.statuses]


def _data(frame: str) -> dict[str, Any]:
    """A frame's data: SSE-formatted text (live) or flat JSON (control, replay, tail)."""
    text = frame.split("data: ", 1)[1] if frame.startswith("event: ") else frame
    data: dict[str, Any] = json.loads(text)
    return data


# --- a run over the socket --------------------------------------------------------------------


@pytest.mark.parametrize(
    "workflow_id", ["wf-sequential", "wf-cond-router", "wf-team", "wf-nested", "wf-cancel"]
)
def test_a_workflow_watched_over_the_websocket_shows_what_sse_and_in_process_show(
    served: Served, workflow_id: str
) -> None:
    """The same workflow over AgentOS's WebSocket, over its SSE and by ``arun`` in process:
    the same badges, groups, chat and interactions up to the run ids, the same outcome; the
    socket is opened once and closed at the run's end, EndOfStream last."""
    watched = _ws(served.url, workflow_id)
    assert watched.error is None
    clean(watched.snap)
    same_sections(watched.snap, _sse(served.url, workflow_id).snap)
    same_sections(watched.snap, in_process(workflow_id))
    assert _states(watched) == ["connecting", "open", "closed"]
    assert watched.statuses[-1].reason == "the run ended"
    assert watched.items[-1] == EndOfStream(reason="the run ended")


def test_control_frames_are_counted_as_heartbeats_and_routed_nowhere(served: Served) -> None:
    """wf-sequential over the socket: AgentOS's greeting and ``authenticated`` come first as
    flat JSON, the run's events as SSE text; the two control frames are the only heartbeats
    and nothing of them is routed: the same messages as over SSE."""
    watched = _ws(served.url, "wf-sequential")
    first, second, third = watched.items[:3]
    assert (_data(first)["event"], _data(first)["requires_auth"]) == ("connected", True)
    assert _data(second)["event"] == "authenticated"
    assert third.startswith("event: WorkflowStarted\ndata: {")
    diag = watched.snap["diagnostics"]
    over_sse = _sse(served.url, "wf-sequential").snap["diagnostics"]
    assert (diag["heartbeats"], diag["duplicates"]) == (2, 0)
    assert diag["messages"] == over_sse["messages"]
    assert diag["frames"] == over_sse["frames"] + 2


# --- dropped connections ----------------------------------------------------------------------


def _slow(url: str, session: str, **options: Any) -> Watched:
    """wf-slow over ``url`` (the AgentOS, or a relay in front of it) in ``session``,
    reconnecting at once (``options``, ``during``, ... as :func:`agentos_watch.watch_run`
    takes them)."""
    options.setdefault("options", AT_ONCE)
    return _ws(url, "wf-slow", session_id=session, **options)


def _run_id(frames: list[str]) -> str:
    """The workflow run id of a connection's frames (its WorkflowStarted)."""
    run_id: str = next(
        d["run_id"] for d in map(_data, frames) if d.get("event") == "WorkflowStarted"
    )
    return run_id


async def _waited(event: Any) -> None:
    """Wait (off the loop) for a ``threading.Event`` a server thread sets."""
    assert await asyncio.to_thread(event.wait, PATIENCE), "the event never came"


def test_a_dropped_connection_is_resumed_where_it_broke_and_ends_as_an_undropped_run(
    served: Served, shut: wf.Gate
) -> None:
    """wf-slow through a relay that drops the connection after 9 frames while the agent waits
    at its gate: the source reconnects with the last event_index it saw (6), AgentOS catches
    up the missed events and tails the rest once the gate opens; nothing is counted twice,
    the six control frames are heartbeats, and the state is an undropped run's."""
    with Relay(served.url.replace("http", "ws"), CUT_AFTER, patience=PATIENCE) as relay:

        async def during() -> None:
            await _waited(relay.cut)
            relay.admit.set()
            await _waited(relay.answered)  # the reconnect was answered: the run is going on
            shut.open()

        watched = _slow(relay.url, "ws-drop-running", during=during)
    assert watched.error is None
    clean(watched.snap)
    assert _states(watched) == ["connecting", "open", "reconnecting", "open", "closed"]
    dropped = watched.statuses[2]
    assert dropped.attempt == 1
    assert dropped.reason is not None
    assert dropped.reason.startswith("closed (code 1006")
    assert dropped.reason.endswith("; retry in 0.00s")
    authenticate, reconnect = map(json.loads, relay.upstream[1])
    assert authenticate == {"action": "authenticate", "token": TOKEN}
    assert reconnect == {
        "action": "reconnect",
        "run_id": _run_id(relay.downstream[0]),
        "workflow_id": "wf-slow",
        "session_id": "ws-drop-running",
        "last_event_index": 6,
    }
    answers = [_data(f)["event"] for f in relay.downstream[1][2:] if "event_index" not in f]
    assert answers == ["catch_up", "subscribed"]
    diag = watched.snap["diagnostics"]
    assert (diag["heartbeats"], diag["duplicates"]) == (6, 0)
    undropped = _slow(served.url, "ws-undropped")
    same_sections(watched.snap, undropped.snap)
    (messages,) = watched.snap["chat"].values()
    assert messages[0]["text"] == "".join(f" word{i}" for i in range(12))


async def _until_over(url: str, run_id: str, session: str) -> None:
    """Wait until AgentOS holds wf-slow's run ``run_id`` as over: its SSE resume
    (``POST .../runs/{run_id}/resume``) tails a running run and ends its body only at the
    run's end (a run already over is replayed and the body ends)."""
    async with (
        httpx.AsyncClient(timeout=PATIENCE) as client,
        client.stream(
            "POST",
            f"{url}/workflows/wf-slow/runs/{run_id}/resume",
            data={"last_event_index": "1000000", "session_id": session},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as answer,
    ):
        assert answer.status_code == 200
        async for _ in answer.aiter_bytes():
            pass


def test_a_reconnect_to_a_run_that_has_ended_replays_it_and_the_replay_counts_as_duplicates(
    served: Served, shut: wf.Gate
) -> None:
    """The connection drops after 9 frames and the run then ends before the source is let
    back in: AgentOS replays every event of the run (it ignores last_event_index for a run
    that is over); the 7 the source had are duplicates, the frames add up, and the state is
    an undropped run's."""
    with Relay(served.url.replace("http", "ws"), CUT_AFTER, patience=PATIENCE) as relay:

        async def during() -> None:
            await _waited(relay.cut)
            shut.open()
            await _until_over(served.url, _run_id(relay.downstream[0]), "ws-drop-ended")
            relay.admit.set()

        watched = _slow(relay.url, "ws-drop-ended", during=during)
    assert watched.error is None
    clean(watched.snap)
    assert _states(watched) == ["connecting", "open", "reconnecting", "open", "closed"]
    replay = _data(relay.downstream[1][2])
    assert (replay["event"], replay["status"]) == ("replay", "COMPLETED")
    assert len(relay.downstream[1]) == 3 + replay["total_events"]
    diag = watched.snap["diagnostics"]
    assert (diag["heartbeats"], diag["duplicates"]) == (5, CUT_AFTER - 2)
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["duplicates"]
    same_sections(watched.snap, _slow(served.url, "ws-undropped").snap)


def test_reconnects_are_bounded_and_the_run_is_left_paused_with_one_line(
    served: Served, shut: wf.Gate
) -> None:
    """The server is away after the drop (the relay refuses every later handshake, HTTP
    503): two reconnects, each a ``reconnecting`` status with its reason, then the source
    fails with one line; EndOfStream pauses the run that was left open."""
    options = attrs.evolve(AT_ONCE, reconnects=2)
    stats = SourceStats()
    with Relay(
        served.url.replace("http", "ws"), CUT_AFTER, refuse_later=True, patience=PATIENCE
    ) as relay:
        watched = _slow(relay.url, "ws-away", options=options, stats=stats)
        refused = relay.refused
    shut.open()
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == (
        "the connection broke and 2 reconnects failed (HTTP 503 at the handshake)"
    )
    assert _states(watched) == ["connecting", "open", "reconnecting", "reconnecting", "failed"]
    assert [s.attempt for s in watched.statuses[2:4]] == [1, 2]
    assert watched.statuses[3].reason == "HTTP 503 at the handshake; retry in 0.00s"
    assert (stats.attempts, stats.connections, stats.open_sockets, refused) == (3, 1, 0, 2)
    assert watched.items[-1] == EndOfStream(reason=watched.error.reason)
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"


def test_a_frame_over_max_frame_breaks_each_connection_and_the_reconnects_give_up(
    served: Served,
) -> None:
    """wf-sequential with a 900-byte bound: its ToolCallStarted (about 1 KB) closes the
    connection (counted as oversized), and again on each reconnect, which brings nothing
    new: after two reconnects the source fails with one line instead of looping."""
    stats = SourceStats()
    options = attrs.evolve(AT_ONCE, max_frame=900, reconnects=2)
    watched = _ws(served.url, "wf-sequential", stats=stats, options=options)
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == (
        "the connection broke and 2 reconnects failed (frame larger than 900 bytes)"
    )
    assert (stats.attempts, stats.connections, stats.oversized) == (3, 3, 3)
    assert _states(watched) == [
        "connecting",
        *["open", "reconnecting"] * 2,
        "open",
        "failed",
    ]
    clean(watched.snap)


def test_disposing_closes_the_socket_at_once_and_nothing_comes_after(
    served: Served, shut: wf.Gate
) -> None:
    """A subscription disposed while wf-slow's agent waits: the socket is closed, the status
    says so, and no frame reaches the observer after the dispose, also once the run (which
    goes on on the server) has ended."""
    stats = SourceStats()

    async def body() -> tuple[list[Any], list[ConnectionStatus]]:
        loop = asyncio.get_running_loop()
        items: list[Any] = []
        statuses: list[ConnectionStatus] = []
        writing = asyncio.Event()
        closed = asyncio.Event()

        def on_next(frame: Any) -> None:
            items.append(frame)
            if '"RunContent"' in str(frame):
                writing.set()

        def on_status(status: ConnectionStatus) -> None:
            statuses.append(status)
            if status.state == "closed":
                closed.set()

        source = agentos_ws_run(
            served.url,
            "wf-slow",
            "go slow",
            scheduler=AsyncIOScheduler(loop),
            token=TOKEN,
            session_id="ws-disposed",
            status=on_status,
            stats=stats,
        )
        subscription = source.subscribe(on_next)
        await asyncio.wait_for(writing.wait(), PATIENCE)
        subscription.dispose()
        seen = len(items)
        await asyncio.wait_for(closed.wait(), PATIENCE)
        shut.open()  # the run goes on to its end on the server; nothing more comes here
        await _until_over(served.url, _run_id(items), "ws-disposed")
        assert len(items) == seen
        return items, statuses

    items, statuses = asyncio.run(body())
    assert [s.state for s in statuses] == ["connecting", "open", "closed"]
    assert statuses[-1].reason == "closed by the caller"
    assert (stats.connections, stats.open_sockets) == (1, 0)
    assert not any(isinstance(f, EndOfStream) for f in items)
    assert '"RunContent"' in str(items[-1])


# --- pauses, refusals, mistakes ------------------------------------------------------------------


@pytest.mark.parametrize(("workflow_id", "payload", "badges"), ANSWERED_PAUSES)
def test_a_pause_over_the_websocket_answered_continues_the_same_run(
    served: Served, workflow_id: str, payload: Any, badges: list[tuple[str, str]]
) -> None:
    """The first leg ends at AgentOS's WorkflowPaused (``the run paused``); the host's answer
    becomes a ``continue-workflow`` on a socket of its own: the same run resumes once and ends
    success, the item resolved, as over SSE (a refused step skipped, a chosen route run)."""
    watched = converse(agentos_ws_conversation, served.url, workflow_id, lambda item: payload)
    continued_once(watched, badges)
    ends = [item.reason for item in watched.items if isinstance(item, EndOfStream)]
    assert ends == ["the run paused", "the run ended"]
    assert watched.snap["diagnostics"]["heartbeats"] == 4


@pytest.mark.parametrize(
    ("workflow_id", "token", "reason", "said"),
    [
        (
            "wf-sequential",
            "wrong",
            "authentication refused (bad token?): Invalid token",
            ["connected", "auth_error"],
        ),
        (
            "wf-sequential",
            None,
            "AgentOS asks for a token (its security key or a JWT)",
            ["connected"],
        ),
        (
            "wf-nowhere",
            TOKEN,
            "AgentOS refused the request: Workflow wf-nowhere not found",
            ["connected", "authenticated", "error"],
        ),
    ],
    ids=["bad-token", "no-token", "unknown-workflow"],
)
def test_a_refused_websocket_run_is_one_line_and_no_run(
    served: Served, workflow_id: str, token: str | None, reason: str, said: list[str]
) -> None:
    """A wrong key, none, an unknown workflow: the source fails with one line after handing
    on AgentOS's control frames (heartbeats) and EndOfStream; the state holds no run."""
    watched = _ws(served.url, workflow_id, token=token)
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == reason
    assert [_data(f)["event"] for f in watched.items[:-1]] == said
    assert watched.items[-1] == EndOfStream(reason=reason)
    assert _states(watched) == ["connecting", "open", "failed"]
    assert watched.snap["lifecycle"]["runs"] == {}
    assert watched.snap["diagnostics"]["heartbeats"] == len(said)


def test_a_socket_that_cannot_be_opened_fails_at_once_without_a_retry() -> None:
    """Nothing listens on the port: one attempt, no reconnect (no run was asked for), one
    line, no frame."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stats = SourceStats()
    watched = _ws(f"http://127.0.0.1:{port}", "wf-sequential", stats=stats, options=AT_ONCE)
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason.startswith("ConnectionRefusedError: ")
    assert _states(watched) == ["connecting", "failed"]
    assert (stats.attempts, stats.connections, watched.items) == (1, 0, [])


class _Silent(LoopThread):
    """A WebSocket server on 127.0.0.1, port 0, that accepts and says nothing."""

    def __init__(self) -> None:
        self.url = ""
        super().__init__(self._serve, PATIENCE)

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        async def handler(connection: ServerConnection) -> None:
            await connection.wait_closed()

        async with serve(handler, "127.0.0.1", 0, logger=None) as server:
            self.url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
            ready()
            await stop.wait()


def test_a_websocket_that_does_not_greet_is_not_agentos_and_fails_with_one_line() -> None:
    """A server that accepts the socket and says nothing: no greeting within the open
    timeout (the source's parameter), one line naming the URL, no retry."""
    stats = SourceStats()
    options = attrs.evolve(AT_ONCE, open_timeout=0.05)
    with _Silent() as silent:
        watched = _ws(silent.url, "wf-sequential", stats=stats, options=options)
    reason = f"no greeting within 0.05s: is {silent.url}/workflows/ws AgentOS's /workflows/ws?"
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == reason
    assert _states(watched) == ["connecting", "open", "failed"]
    assert (stats.attempts, watched.items) == (1, [EndOfStream(reason=reason)])


def test_bad_arguments_are_one_line_errors_before_any_connection() -> None:
    """A URL that is not AgentOS's, an empty workflow id, a message that is not text,
    requirements that are not JSON, a header a handshake cannot carry, a negative number of
    reconnects and a scheduler that is not asyncio's are refused at once; the socket's URL
    comes from the AgentOS root, http(s) or ws(s)."""
    loop = asyncio.new_event_loop()
    scheduler = AsyncIOScheduler(loop)
    try:
        with pytest.raises(ValueError, match="'ftp://h' is not an AgentOS URL"):
            agentos_ws_run("ftp://h", "wf", "hi", scheduler=scheduler)
        with pytest.raises(ValueError, match="the workflow id must be a non-empty string"):
            agentos_ws_run("http://h", " ", "hi", scheduler=scheduler)
        with pytest.raises(ValueError, match="the message must be a string, not int"):
            agentos_ws_run("http://h", "wf", 3, scheduler=scheduler)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="the continue-workflow action is not JSON"):
            agentos_ws_continue(
                "http://h", "wf", "r1", [{"x": {1, 2}}], session_id="s", scheduler=scheduler
            )
        with pytest.raises(ValueError, match="header X holds characters"):
            agentos_ws_run("http://h", "wf", "hi", scheduler=scheduler, headers={"X": "a\nb"})
        with pytest.raises(TypeError, match="needs an AsyncIOScheduler"):
            agentos_ws_run("http://h", "wf", "hi", scheduler=None)  # type: ignore[arg-type]
    finally:
        loop.close()
    with pytest.raises(ValueError, match="'reconnects' must be >= 0"):
        AgentOSSocketOptions(reconnects=-1)
    assert agentos_ws_url("http://h:1") == "ws://h:1/workflows/ws"
    assert agentos_ws_url("https://h/os/") == "wss://h/os/workflows/ws"
    assert agentos_ws_url("ws://h/workflows/ws") == "ws://h/workflows/ws"


# --- flowrx agno --ws -----------------------------------------------------------------------------


def _agno(url: str, tmp_path: Path, name: str, *extra: str) -> tuple[int, Any]:
    """Run ``flowrx agno URL --plain --snapshot`` (the snapshot at ``name``); exit code and
    snapshot."""
    snap = tmp_path / name
    code = main(["agno", url, "--plain", "--snapshot", str(snap), *extra], io.StringIO())
    return code, json.loads(snap.read_text(encoding="utf-8")) if snap.exists() else None


def test_flowrx_agno_ws_shows_what_sse_shows_and_its_recording_replays_the_same(
    served: Served, tmp_path: Path
) -> None:
    """``--ws --workflow wf-team --record FILE`` and the same run over SSE: exit 0, the same
    sections up to the run ids; ``flowrx replay FILE`` of the WebSocket session (control
    frames and all) gives them too."""
    record = tmp_path / "ws.jsonl"
    common = ("--workflow", "wf-team", "--message", wf.PROMPTS["wf-team"], "--token", TOKEN)
    code, over_ws = _agno(served.url, tmp_path, "ws.json", *common, "--ws", "--record", str(record))
    assert code == 0
    assert over_ws["diagnostics"]["heartbeats"] == 2
    code, over_sse = _agno(served.url, tmp_path, "sse.json", *common)
    assert code == 0
    same_sections(over_ws, over_sse)
    replayed = tmp_path / "replayed.json"
    assert main(["replay", str(record), "--instant", "--snapshot", str(replayed)]) == 0
    same_sections(json.loads(replayed.read_text(encoding="utf-8")), over_ws)
