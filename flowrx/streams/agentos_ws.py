"""AgentOS's WebSocket (``/workflows/ws``): a workflow run and its continues, resumed after a
dropped connection.

AgentOS serves workflows (not agents or teams) over one WebSocket route besides SSE. The
client speaks JSON actions, the server answers with text frames (``agno.md``, "AgentOS
transports"): it greets (``connected``, saying whether a token is required), the client
authenticates (``{"action": "authenticate", "token": ...}`` → ``authenticated`` or
``auth_error``), then starts a run (``start-workflow``), continues a paused one
(``continue-workflow`` with the answered step requirements) or reconnects to one
(``reconnect`` with the last ``event_index`` seen). The run's events come as SSE-formatted
text (``event: X`` / ``data: {...}``) on the socket that started it, as flat JSON after a
reconnect, every one with its ``event_index`` (per workflow run, continuing across legs).

:func:`agentos_ws_run` starts a run and :func:`agentos_ws_continue` continues one; each
emits **every text frame as it comes**, control frames included: the Agno decoder
(``protocol="agno"``) reads both framings, counts the control frames (``connected``,
``authenticated``, ``replay``, ``catch_up``, ``subscribed``, ...) as heartbeats and routes them
nowhere, and drops what a replay sends again by ``(run, event_index)``. What the source itself
reads of the frames is only what the conversation needs: the run id (from its first
``WorkflowStarted``), the last ``event_index`` seen, and the leg's end.
:func:`agentos_ws_conversation` chains the continues the host's answers ask for
(``FlowState.replies``), as :func:`~flowrx.streams.agno.agentos_conversation` does over SSE,
with the same :func:`~flowrx.streams.agno.chain_continues`. Its promises:

* **A leg ends with the run's end or pause**: the root run's first ``WorkflowCompleted``,
  ``WorkflowError``, ``WorkflowCancelled`` (AgentOS's ``WorkflowCompleted`` after a cancel is
  not waited for: the run has ended) or ``WorkflowPaused``; or a ``replay`` (a reconnect to a
  run that is over) whose ``total_events`` frames have all come. Then what was read is handed
  on, ``EndOfStream`` comes last (its reason ``the run ended`` or ``the run paused``), the
  socket is closed (code 1001, going away: AgentOS logs a client's 1000 as an error with a
  traceback) and the status is ``closed``. A continue leg ends only at an end whose
  ``event_index`` comes after the pause it continues.
* **Reconnects after a dropped connection.** Once the run is known, a connection that breaks
  (or that the server closes) before the leg's end is opened again after the backoff of
  ``options.backoff`` (on the loop), and ``{"action": "reconnect", run_id, workflow_id,
  session_id, last_event_index}`` asks for what was missed: a run still going sends
  ``catch_up`` with the missed events, then ``subscribed`` and the live tail; a run that is
  over sends ``replay`` with **all** its events (AgentOS ignores ``last_event_index`` then),
  which the decoder counts as duplicates. At most ``options.reconnects`` attempts in a row
  (the count starts again once a connection brings a new event, so a frame that breaks the
  connection every time it is sent, one over ``max_frame`` say, cannot make it reconnect for
  ever); each failed one is a ``reconnecting`` status (attempt, reason, the wait before the
  next), as the platform's source reports them. A first connection that cannot be opened
  fails at once (nothing was asked yet: a wrong port is one line, not a wait); so does a drop
  after the run was asked for but before its first event (its id unknown, it cannot be found
  again, and asking again would start a second run).
* **One-line failures** (:class:`~flowrx.streams.sse.SourceFailed`, status ``failed``):
  ``authentication refused (bad token?): Invalid token`` (``auth_error``), ``AgentOS asks
  for a token`` (none given), ``AgentOS refused the request: Workflow x not found`` (an
  ``error`` frame: an unknown workflow, a run not found on reconnect, a run not paused on
  continue), ``no greeting within 10s`` (a WebSocket that is not AgentOS's: it says nothing
  within ``options.open_timeout``), a refused connection, a handshake answered with an HTTP
  error, the reconnects used up. The frames read before (the ``auth_error`` itself) are
  handed on first, then ``EndOfStream`` once a socket was open.
* **Status, bounds, backpressure, bursts, dispose** as every source of flowrx: the
  :class:`~flowrx.streams.websocket.ConnectionStatus` values through ``status``
  (``connecting``, ``open`` per connection, ``reconnecting``, ``closed``, ``failed``), frames
  over ``options.max_frame`` close the connection (counted, then the reconnect), the
  :class:`~flowrx.streams.websocket.HandOff` queue (the reader waits when the pipeline falls
  behind; a backlog goes on as one burst of at most ``options.burst``), counts in a
  :class:`~flowrx.streams.websocket.SourceStats`; disposing the subscription closes the
  socket at once and nothing reaches the observer after it (the run goes on on the server:
  a WebSocket run is a background run).

Mistakes found before any I/O (a URL that is not http(s)/ws(s), an empty workflow id, a
message that is not text, requirements that are not JSON, a header a handshake cannot carry, a
scheduler that is not asyncio's) raise :class:`ValueError` or :class:`TypeError` with one line.
"""

from __future__ import annotations

import asyncio
import json
import random
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from reactivex import Observable, abc
from reactivex.scheduler.eventloop import AsyncIOScheduler
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from flowrx._text import one_line
from flowrx.messages import Reply
from flowrx.protocols.agno import CONTROL_EVENTS, WORKFLOW_EVENTS, continue_requirements, frame_data
from flowrx.streams.agno import PausedRun, answered_leg, chain_continues, new_session
from flowrx.streams.sse import Frame, LoopTask, checked_headers, loop_source
from flowrx.streams.websocket import (
    CONNECT_ERRORS,
    ConnectionStatus,
    HandOff,
    SocketOptions,
    SourceStats,
    closed_why,
    connect_failure,
    open_socket,
    redact,
)

__all__ = [
    "AgentOSSocketOptions",
    "agentos_ws_continue",
    "agentos_ws_conversation",
    "agentos_ws_run",
    "agentos_ws_url",
]

_ENDS = {
    "WorkflowCompleted": "the run ended",
    "WorkflowError": "the run ended",
    "WorkflowCancelled": "the run ended",
    "WorkflowPaused": "the run paused",
}
"""The root run's events that end a leg, and the reason its EndOfStream gives."""

_GOING_AWAY = 1001


@attrs.frozen
class AgentOSSocketOptions(SocketOptions):
    """How to talk to AgentOS's WebSocket: every source's limits, backoff and timeouts
    (:class:`~flowrx.streams.websocket.SocketOptions`), and how many reconnects to try."""

    reconnects: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    """Most reconnect attempts in a row after a drop (0: none; the leg fails at the drop)."""


def agentos_ws_url(url: str) -> str:
    """The WebSocket URL of the AgentOS at ``url``: its root as ``http(s)://`` (what the SSE
    sources and ``flowrx agno`` take) or ``ws(s)://``, with ``/workflows/ws`` added unless the
    path already ends with it. ``ValueError`` with one line (token hidden) for anything else."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  # raises for a port out of range
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{redact(str(url))!r} is not an AgentOS URL ({exc})") from None
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(
            f"{redact(url)!r} is not an AgentOS URL: http(s)://HOST[:PORT] or ws(s)://..."
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/workflows/ws"):
        path += "/workflows/ws"
    return urllib.parse.urlunsplit(parts._replace(scheme=scheme, path=path, fragment=""))


def agentos_ws_run(
    url: str,
    workflow_id: str,
    message: str,
    *,
    scheduler: AsyncIOScheduler,
    token: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: AgentOSSocketOptions = AgentOSSocketOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SourceStats | None = None,
) -> Observable[Frame]:
    """One run of ``workflow_id`` over the WebSocket of the AgentOS at ``url``
    (:func:`agentos_ws_url`): on subscription, connect, authenticate with ``token`` (AgentOS's
    security key or a JWT), send ``start-workflow`` with ``message`` (and the ``session_id``
    and ``user_id`` given), and emit every text frame as it comes, then ``EndOfStream``, on
    ``scheduler``'s loop, reconnecting after a drop (see the module). ``headers`` go on the
    handshake (a proxy's, say; AgentOS reads the token from the ``authenticate`` action).
    Each subscription starts its own run."""
    action: dict[str, Any] = {"action": "start-workflow", "workflow_id": workflow_id}
    if not isinstance(message, str):
        raise ValueError(f"the message must be a string, not {type(message).__name__}")
    action["message"] = message
    return _leg(
        url, action, None, None, session_id, user_id, token, headers, scheduler, options,
        status, stats,
    )  # fmt: skip


def agentos_ws_continue(
    url: str,
    workflow_id: str,
    run_id: str,
    step_requirements: list[dict[str, Any]],
    *,
    session_id: str,
    scheduler: AsyncIOScheduler,
    last_event_index: int | None = None,
    token: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: AgentOSSocketOptions = AgentOSSocketOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SourceStats | None = None,
) -> Observable[Frame]:
    """Continue the paused run ``run_id`` of ``workflow_id`` (in ``session_id``, where AgentOS
    keeps it) with ``step_requirements`` answered
    (:func:`~flowrx.protocols.agno.continue_requirements`) over the WebSocket: its frames as
    :func:`agentos_ws_run` emits them (the same run: it resumes where it paused).
    ``last_event_index`` is the pause's (its ``WorkflowPaused``'s): the leg ends only at an end
    after it, and a reconnect asks for what came after it."""
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"the run id must be a non-empty string, not {run_id!r}")
    if last_event_index is not None and type(last_event_index) is not int:
        raise ValueError(f"last_event_index must be an int, not {last_event_index!r}")
    action = {
        "action": "continue-workflow",
        "workflow_id": workflow_id,
        "run_id": run_id,
        "step_requirements": step_requirements,
    }
    return _leg(
        url, action, run_id, last_event_index, session_id, user_id, token, headers, scheduler,
        options, status, stats,
    )  # fmt: skip


def agentos_ws_conversation(
    url: str,
    workflow_id: str,
    message: str,
    replies: Observable[Reply],
    *,
    scheduler: AsyncIOScheduler,
    token: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: AgentOSSocketOptions = AgentOSSocketOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SourceStats | None = None,
    hold: bool = False,
) -> Observable[Frame]:
    """A workflow run over AgentOS's WebSocket and its continues: :func:`agentos_ws_run`, then
    :func:`agentos_ws_continue` (a socket of its own, from the pause's ``event_index``) for
    each :class:`~flowrx.messages.Reply`, chained by
    :func:`~flowrx.streams.agno.chain_continues` exactly as over SSE. The run's session is
    ``session_id`` or a new one (a continue must name it); ``hold`` as
    :func:`~flowrx.streams.agno.chain_continues` has it."""
    session = new_session(session_id)
    common: dict[str, Any] = {
        "scheduler": scheduler,
        "token": token,
        "user_id": user_id,
        "headers": headers,
        "options": options,
        "status": status,
        "stats": stats,
    }
    first = agentos_ws_run(url, workflow_id, message, session_id=session, **common)

    def follow(reply: Reply, paused: PausedRun) -> Observable[Frame]:
        def leg(answered: list[dict[str, Any]]) -> Observable[Frame]:
            return agentos_ws_continue(
                url,
                workflow_id,
                paused.run_id,
                answered,
                session_id=session,
                last_event_index=paused.event_index,
                **common,
            )

        return answered_leg(reply, paused.requirements, continue_requirements, leg)

    return chain_continues(first, replies, follow, hold=hold)


def _leg(
    url: str,
    action: dict[str, Any],
    run_id: str | None,
    floor: int | None,
    session_id: str | None,
    user_id: str | None,
    token: str | None,
    headers: Mapping[str, str] | None,
    scheduler: AsyncIOScheduler,
    options: AgentOSSocketOptions,
    status: Callable[[ConnectionStatus], object] | None,
    stats: SourceStats | None,
) -> Observable[Frame]:
    """The checks every leg makes before any I/O, and its observable."""
    if not isinstance(scheduler, AsyncIOScheduler):
        raise TypeError(
            "AgentOS's WebSocket source emits on an asyncio loop: it needs an "
            f"AsyncIOScheduler, not {type(scheduler).__name__}"
        )
    target = agentos_ws_url(url)
    workflow_id = action["workflow_id"]
    if not isinstance(workflow_id, str) or not workflow_id.strip():
        raise ValueError(f"the workflow id must be a non-empty string, not {workflow_id!r}")
    for name, value in (("session_id", session_id), ("user_id", user_id), ("token", token)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    if session_id is not None:
        action["session_id"] = session_id
    if user_id is not None:
        action["user_id"] = user_id
    try:
        first = json.dumps(action, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {action['action']} action is not JSON: {exc}") from None
    sent = checked_headers(headers or {})
    counted = stats if stats is not None else SourceStats()
    return loop_source(
        lambda observer: _Socket(
            target, first, workflow_id, run_id, floor, session_id, token, sent, options,
            observer, status, counted,
        ),
        scheduler,
        f"flowrx-agentos-ws {redact(target)}",
    )  # fmt: skip


class _Refused(Exception):
    """The server said no (a token, a request): the leg fails with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Socket(LoopTask):
    """One leg: its connections, the handshake on each, the frames handed on, the reconnects."""

    kind = "AgentOS WebSocket"

    def __init__(
        self,
        url: str,
        first: str,
        workflow_id: str,
        run_id: str | None,
        floor: int | None,
        session_id: str | None,
        token: str | None,
        headers: dict[str, str],
        options: AgentOSSocketOptions,
        observer: abc.ObserverBase[Frame],
        status: Callable[[ConnectionStatus], object] | None,
        stats: SourceStats,
    ) -> None:
        super().__init__(observer, status)
        self.url = url
        self.first: str | None = first
        """The start or continue action, until it is sent (then every connection reconnects)."""
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.floor = floor
        """The pause a continue leg continues: ends at or before it are the last leg's."""
        self.last = floor
        """The highest ``event_index`` seen (what a reconnect asks to be continued from)."""
        self.session_id = session_id
        self.token = token
        self.headers = headers
        self.options = options
        self.stats = stats
        self.replay_left: int | None = None
        """Frames a ``replay`` announced that have not come yet."""
        self.over: str | None = None
        """Why the leg is over (its end came), once it is."""
        self.greeted = False
        """Whether this connection's first frame (AgentOS's greeting) has come."""

    async def work(self) -> str | None:
        self._set("connecting")
        attempt = 0
        rng = random.Random(self.options.seed)
        while True:
            self.stats.attempts += 1
            before = self.last
            try:
                async with open_socket(self.url, self.headers, self.options) as ws:
                    self.opened = True
                    reason = await self._session(ws)
                    if reason is None:
                        return None
            except _Refused as exc:
                return exc.reason
            except CONNECT_ERRORS as exc:
                reason, fatal = connect_failure(exc)
                if fatal or not self.opened:
                    return reason
            if self.first is None and self.run_id is None:
                return f"the connection broke before the run's first event ({reason})"
            if self.last != before:
                attempt = 0  # the run went on: this is a new drop
            if attempt >= self.options.reconnects:
                return f"the connection broke and {attempt} reconnects failed ({reason})"
            delay = self.options.backoff.delay(attempt, rng)
            attempt += 1
            # one status per failed attempt: why, and when the next one comes
            self._set("reconnecting", f"{reason}; retry in {delay:.2f}s", attempt)
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> str | None:
        """Read one connection until the leg is over (None) or the connection ends (why)."""
        stats = self.stats
        stats.connections += 1
        stats.open_sockets += 1
        stats.max_open_sockets = max(stats.max_open_sockets, stats.open_sockets)
        self._set("open")
        self.greeted = False
        options = self.options
        try:
            async with HandOff(self._emit, options.queue_size, options.burst, stats) as hand:
                try:
                    while self.over is None:
                        frame = await self._next(ws)
                        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                        await hand.put(text)
                        await self._follow(ws, text)
                except ConnectionClosed:
                    pass
                finally:
                    if not self.closing:
                        await hand.drain()  # what was read is handed on first
            if self.over is None:
                return closed_why(ws, stats, options.max_frame)
            self.ended = self.over
            return None
        finally:
            await ws.close(_GOING_AWAY)  # nothing when the connection has ended already
            stats.open_sockets -= 1

    async def _next(self, ws: ClientConnection) -> str | bytes:
        """The connection's next frame; AgentOS's greeting within ``open_timeout`` seconds
        (a WebSocket server that says nothing is not AgentOS's route)."""
        if self.greeted:
            return await ws.recv()
        try:
            frame = await asyncio.wait_for(ws.recv(), self.options.open_timeout)
        except TimeoutError:
            raise _Refused(
                f"no greeting within {self.options.open_timeout:g}s: is {redact(self.url)} "
                "AgentOS's /workflows/ws?"
            ) from None
        self.greeted = True
        return frame

    async def _follow(self, ws: ClientConnection, text: str) -> None:
        """What a frame asks of the client: authenticate, send the request, fail, note the
        run's progress and end. Frames the decoder cannot use are left to it."""
        data = frame_data(text)
        if isinstance(data, str):
            self._count_replayed()
            return
        event = data["event"]
        if event == "connected":
            if data.get("requires_auth") is False:
                await self._request(ws)
            elif self.token is None:
                raise _Refused("AgentOS asks for a token (its security key or a JWT)")
            else:
                await ws.send(json.dumps({"action": "authenticate", "token": self.token}))
        elif event == "authenticated":
            await self._request(ws)
        elif event in ("auth_error", "auth_required"):
            raise _Refused(f"authentication refused (bad token?): {_said(data)}")
        elif event == "error":
            raise _Refused(f"AgentOS refused the request: {_said(data)}")
        elif event == "replay":
            total = data.get("total_events")
            self.replay_left = total if type(total) is int else None
            if self.replay_left == 0:
                self.over = "the run ended"
        elif event == "queued" and self.run_id is None and isinstance(data.get("run_id"), str):
            self.run_id = data["run_id"]
        elif event not in CONTROL_EVENTS:
            self._progress(data, event)

    def _progress(self, data: Mapping[str, Any], event: str) -> None:
        """Note a run event: the run id, the last index, the leg's end."""
        root = not data.get("nested_depth") and event in WORKFLOW_EVENTS
        if root and self.run_id is None and isinstance(data.get("run_id"), str):
            self.run_id = data["run_id"]
        if self.session_id is None and isinstance(data.get("session_id"), str):
            self.session_id = data["session_id"]
        index = data.get("event_index")
        index = index if type(index) is int else None
        if index is not None:
            self.last = index if self.last is None else max(self.last, index)
        new = index is None or self.floor is None or index > self.floor
        if root and event in _ENDS and data.get("run_id") == self.run_id and new:
            self.over = _ENDS[event]
        self._count_replayed()

    def _count_replayed(self) -> None:
        """One frame of a replay has come: the leg is over when the last one has."""
        if self.replay_left is not None:
            self.replay_left -= 1
            if self.replay_left <= 0 and self.over is None:
                self.over = "the run ended"

    async def _request(self, ws: ClientConnection) -> None:
        """On an authenticated connection: the start or continue, or, on a later one, the
        reconnect to the run."""
        if self.first is not None:
            first, self.first = self.first, None
            await ws.send(first)
            return
        action: dict[str, Any] = {
            "action": "reconnect",
            "run_id": self.run_id,
            "workflow_id": self.workflow_id,
        }
        if self.session_id is not None:
            action["session_id"] = self.session_id
        action["last_event_index"] = self.last
        await ws.send(json.dumps(action, ensure_ascii=False))


def _said(data: Mapping[str, Any]) -> str:
    """What a control frame says, as one line."""
    return one_line(str(data.get("error") or data.get("message") or data["event"]))
