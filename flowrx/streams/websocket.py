"""The live source: the platform's execution WebSocket, bridged into Rx on the asyncio loop.

:class:`WebSocketSource` owns one connection loop on asyncio (``websockets``' asyncio client)
and pushes every frame, on the loop's thread, into a hot observable (:attr:`frames`) that
:func:`flowrx.connect` takes with an ``AsyncIOScheduler`` of the same loop. Its promises:

* **Never two sockets.** A new connection is only attempted after the previous one is closed
  and its reader has ended (the original opened a second socket while the first was still
  connecting and delivered every frame twice).
* **Reconnect forever with capped exponential backoff and jitter**, including when a server
  accepts the handshake and closes at once: the backoff only resets after a connection has
  stayed open for ``stable_after`` seconds, so an accept-then-close server is retried at the
  backoff's pace, not in a tight loop (websockets' own reconnect resets after every handshake).
* **Status as a stream** (:attr:`status`): ``connecting`` (the first attempt), ``open``,
  ``reconnecting`` (once per failed attempt, with the reason and the wait before the next),
  ``closed`` (by the caller) and ``failed`` only for what retrying cannot fix: HTTP 401/403 (a
  refused token) or 404 (a wrong path or flow id) at the handshake, or a bad URL, with the
  reason. A host that never got ``open`` can tell from :attr:`SourceStats.connections`.
* **The platform's text heartbeat** as an option: send ``ping`` every ``heartbeat`` seconds and
  expect ``pong`` within ``heartbeat_timeout``, else reconnect (besides the protocol's pings).
* **The token in the query string** (``?token=``) by default, as the platform's server reads
  it; in an ``Authorization: Bearer`` header when asked (``token_in_query=False``), for servers
  that take one: a header keeps the token out of access logs. Status reasons and log lines
  never show the token.
* **Bounded memory.** Frames over ``max_frame`` bytes close the connection with a clear log
  line (counted, then reconnect). The hand-off from the socket to the pipeline is a bounded
  queue: when the pipeline falls behind, the reader *waits* (nothing is dropped), websockets
  stops reading, and TCP flow control slows the server; every such wait is counted.
  Compression is off by default: inflating a compressed read happens before websockets can
  pause, so one read of highly compressible frames could take hundreds of MiB.

The pieces that are the same in every source of flowrx live here, and the SSE sources and
AgentOS's WebSocket source (:mod:`flowrx.streams.agentos_ws`) use them too: :func:`hand_on`
(the last guard around the pipeline's ``on_next``), :class:`HandOff` (the bounded queue,
backpressure and bursts), :func:`report` (a status logged and published), and, for the
WebSocket sources, :class:`SocketOptions`, :func:`open_socket`, :func:`connect_failure` and
:func:`closed_why`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
from loguru import logger
from reactivex import Observable
from reactivex.subject import BehaviorSubject, Subject
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.uri import parse_uri

__all__ = [
    "CONNECT_ERRORS",
    "Backoff",
    "ConnectionStatus",
    "HandOff",
    "SocketOptions",
    "SourceStats",
    "WebSocketOptions",
    "WebSocketSource",
    "check_url",
    "closed_why",
    "connect_failure",
    "hand_on",
    "open_socket",
    "redact",
    "report",
    "status_line",
]


def hand_on(on_next: Callable[[Any], object], item: object) -> None:
    """Give a source's frame (or burst) to the pipeline. The pipeline isolates its own
    failures; one that still escapes is logged here and the source reads on: the last guard
    every source shares."""
    try:
        on_next(item)
    except Exception as exc:
        logger.bind(concern="connection", event="handoff", run=None, node=None).opt(
            exception=exc
        ).error("pipeline raised on a frame: {error!r}", error=exc)


#: Handshake answers that retrying cannot fix, with what they usually mean.
_FATAL_HTTP = {
    401: "bad token?",
    403: "bad token?",
    404: "wrong path or flow id?",
    410: "wrong path or flow id?",
}


@attrs.frozen
class Backoff:
    """Capped exponential backoff with jitter: ``min(cap, initial·factor^n) ± jitter``."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.2
    """Fraction of the delay added or removed at random (0.2 → ±20 %)."""

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number ``attempt`` (0-based)."""
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        return max(0.0, base * (1.0 + self.jitter * (2.0 * rng.random() - 1.0)))

    def minimum_total(self, attempts: int) -> float:
        """The least time ``attempts`` retries can take (all jitter negative): the bound the
        accept-then-close test checks the attempt rate against."""
        return sum(
            min(self.cap, self.initial * self.factor ** min(i, 64)) * (1.0 - self.jitter)
            for i in range(attempts)
        )


@attrs.frozen
class SocketOptions:
    """What every WebSocket source of flowrx takes: limits, the hand-off, backoff, timeouts."""

    max_frame: int = 16 * 1024 * 1024
    """Largest frame accepted, in bytes (a RunCompleted carries whole transcripts)."""
    queue_size: int = 1024
    """Frames handed off to the pipeline but not yet taken; the reader waits beyond this."""
    burst: int = 1
    """Most frames handed on at once when a backlog has queued up behind the pipeline: above 1,
    ``frames`` then emits a ``list`` of frames for a backlog (a burst, which ``flowrx.connect``
    takes as one batch: same rules, less wiring per frame). ``flowrx watch`` uses 256; the
    default 1 hands every frame on by itself."""
    backoff: Backoff = Backoff()
    open_timeout: float = 10.0
    protocol_ping: float | None = 20.0
    """websockets' own protocol ping interval (None: off)."""
    seed: int | None = None
    """Seed for the backoff jitter (tests); None: random."""
    compression: str | None = None
    """``"deflate"`` or None (default). With deflate one 256 KiB socket read can inflate about
    1000x before websockets can pause reading, which would defeat the memory bound."""


@attrs.frozen
class WebSocketOptions(SocketOptions):
    """How to connect to the platform: token placement and heartbeat, besides the limits,
    backoff and timeouts every WebSocket source takes (:class:`SocketOptions`)."""

    token: str | None = None
    token_in_query: bool = True
    """Send ``token`` as ``?token=`` (what the platform reads); False: as a Bearer header."""
    heartbeat: float | None = None
    """Send the text ``ping`` this often (seconds); None: the platform heartbeat is off."""
    heartbeat_timeout: float = 5.0
    stable_after: float = 5.0
    """A connection open this long counts as good: the next reconnect starts from scratch."""


@attrs.frozen
class ConnectionStatus:
    """One state of the connection: what it is, since when (loop time), and why."""

    state: str
    attempt: int = 0
    reason: str | None = None
    at: float = 0.0


@attrs.define
class SourceStats:
    """What the source has done, for health and tests."""

    attempts: int = 0
    connections: int = 0
    frames: int = 0
    oversized: int = 0
    heartbeat_timeouts: int = 0
    backpressure_waits: int = 0
    bursts: int = 0
    """Hand-offs of a backlog as one batch (more than one frame at once)."""
    open_sockets: int = 0
    max_open_sockets: int = 0


def _with_token(url: str, token: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
_TOKEN_VALUE = re.compile(r"((?:^|[?&;])token=)[^&;#]*")


def redact(url: str) -> str:
    """The URL with any ``token`` query value hidden, for logs and recordings (never raises,
    also for a URL that cannot be parsed)."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _TOKEN_VALUE.sub(r"\1***", url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if not any(k == "token" for k, _ in query):
        return url
    query = [(k, "***" if k == "token" else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def check_url(url: str) -> None:
    """Raise :class:`ValueError` with one line (token hidden) unless ``url`` is a ``ws://`` or
    ``wss://`` URL a connection can be attempted to."""
    try:
        parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(f"{redact(url)!r} is not a ws:// or wss:// URL ({exc.msg})") from None
    except ValueError as exc:
        raise ValueError(f"{redact(url)!r} is not a ws:// or wss:// URL ({exc})") from None


def report(
    state: str,
    attempt: int = 0,
    reason: str | None = None,
    publish: Callable[[ConnectionStatus], object] | None = None,
) -> ConnectionStatus:
    """Log a connection status the way every source does (``connecting``, ``open`` and
    ``closed`` at INFO, ``failed`` at ERROR, anything else, a ``reconnecting``, at WARNING),
    stamped with the running loop's time, and hand it to ``publish``."""
    level = "ERROR" if state == "failed" else "WARNING"
    if state in ("connecting", "open", "closed"):
        level = "INFO"
    logger.bind(concern="connection", event=state, run=None, node=None).log(
        level, "connection {state}{why}", state=state, why=f": {reason}" if reason else ""
    )
    status = ConnectionStatus(state, attempt, reason, asyncio.get_running_loop().time())
    if publish is not None:
        publish(status)
    return status


class _Counted(Protocol):
    """The counters a :class:`HandOff` keeps (both :class:`SourceStats` and the SSE stats)."""

    frames: int
    bursts: int
    backpressure_waits: int


class HandOff:
    """The bounded hand-off from a reader to the pipeline that every source shares: the reader
    :meth:`put`s each frame in a queue of ``size`` and *waits* when it is full (nothing is
    dropped; counted in ``backpressure_waits``); a pump task gives the frames to ``emit`` on the
    loop, one by one while the pipeline keeps up, a backlog as one list of at most ``burst``
    frames (a burst, counted in ``bursts``), which ``flowrx.connect`` takes as one batch.
    ``async with`` runs the pump; :meth:`drain` waits until what was put has been handed on."""

    def __init__(
        self, emit: Callable[[Any], object], size: int, burst: int, stats: _Counted
    ) -> None:
        self._emit = emit
        self._queue: asyncio.Queue[Any] = asyncio.Queue(size)
        self._burst = burst
        self._stats = stats
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HandOff:
        self._pump = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)

    async def put(self, frame: Any) -> None:
        """Queue ``frame`` for the pipeline, waiting while the queue is full."""
        if self._queue.full():
            self._stats.backpressure_waits += 1
        await self._queue.put(frame)

    async def drain(self) -> None:
        """Wait until every frame put so far has been handed on."""
        await self._queue.join()

    async def _run(self) -> None:
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while len(batch) < self._burst and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                self._stats.frames += len(batch)
                if len(batch) > 1:
                    self._stats.bursts += 1
                self._emit(batch if len(batch) > 1 else batch[0])
            finally:
                for _ in batch:
                    queue.task_done()


def open_socket(url: str, headers: Mapping[str, str], options: SocketOptions) -> connect:
    """websockets' connection to ``url`` as every source opens one: ``options``' frame bound,
    timeout, protocol ping and compression, no proxy, websockets' own logging off."""
    return connect(
        url,
        additional_headers=dict(headers),
        max_size=options.max_frame,
        open_timeout=options.open_timeout,
        ping_interval=options.protocol_ping,
        ping_timeout=options.protocol_ping,
        proxy=None,
        logger=None,
        compression=options.compression,
    )


CONNECT_ERRORS = (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed)
"""What opening (or reading) a connection raises when it does not work out."""


def connect_failure(exc: BaseException) -> tuple[str, bool]:
    """Why a connection attempt failed (one line, no token), and whether retrying cannot fix
    it: HTTP 401/403 (a refused token), 404/410 (a wrong path) at the handshake, a bad URL."""
    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        if code in _FATAL_HTTP:
            return f"HTTP {code} at the handshake ({_FATAL_HTTP[code]})", True
        return f"HTTP {code} at the handshake", False
    if isinstance(exc, InvalidURI):
        return f"bad URL: {exc.msg}", True
    return f"{type(exc).__name__}: {exc}", False


def closed_why(ws: ClientConnection, stats: SourceStats, max_frame: int) -> str:
    """Why a connection ended: a frame over ``max_frame`` (websockets closed it with 1009;
    counted in ``oversized`` and logged), else the close code and reason."""
    sent = ws.protocol.close_sent
    if sent is not None and sent.code == 1009:
        stats.oversized += 1
        logger.bind(concern="connection", event="oversized", run=None, node=None).error(
            "a frame exceeded max_frame ({limit} bytes): connection closed", limit=max_frame
        )
        return f"frame larger than {max_frame} bytes"
    return f"closed (code {ws.close_code}, {ws.close_reason or 'no reason'})"


class WebSocketSource:
    """A reconnecting WebSocket client whose frames are a hot observable on the loop.

    Create it inside a running loop (or pass ``loop``), subscribe to :attr:`frames` (usually
    through :func:`flowrx.connect`), then :meth:`start`; :meth:`close` ends it cleanly.
    """

    def __init__(
        self,
        url: str,
        options: WebSocketOptions | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.url = url
        self.options = options or WebSocketOptions()
        self._loop = loop
        self._frames: Subject[str | bytes | list[str | bytes]] = Subject()
        now = 0.0
        self._status: BehaviorSubject[ConnectionStatus] = BehaviorSubject(
            ConnectionStatus("connecting", 0, None, now)
        )
        self.stats = SourceStats()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._rng = random.Random(self.options.seed)
        self._pong = asyncio.Event()

    # --- what callers see ------------------------------------------------------------------

    @property
    def frames(self) -> Observable[str | bytes | list[str | bytes]]:
        """Every frame as it arrives (hot; subscribe before :meth:`start`); a backlog as one
        list when ``options.burst`` allows more than one."""
        return self._frames

    @property
    def status(self) -> Observable[ConnectionStatus]:
        """The connection's status, current value first."""
        return self._status

    @property
    def current(self) -> ConnectionStatus:
        """The status now."""
        return self._status.value

    def start(self) -> asyncio.Task[None]:
        """Start the connection loop on the running loop; returns its task."""
        loop = self._loop or asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"flowrx-ws {redact(self.url)}")
        return self._task

    async def close(self) -> None:
        """Stop: close the socket, end the loop, complete :attr:`frames`; no task is left."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._set("closed", reason="closed by the caller")
        self._frames.on_completed()

    async def wait_failed(self) -> ConnectionStatus:
        """Wait until the loop ends by itself (``failed``); returns that status."""
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.current

    # --- the loop ----------------------------------------------------------------------------

    def _set(self, state: str, attempt: int = 0, reason: str | None = None) -> None:
        """Publish a status (and log it), unless nothing about it changed."""
        current = self._status.value
        if (current.state, current.attempt, current.reason) == (state, attempt, reason):
            return
        report(state, attempt, reason, self._status.on_next)

    def _target(self) -> tuple[str, dict[str, str]]:
        token = self.options.token
        if token is None:
            return self.url, {}
        if self.options.token_in_query:
            return _with_token(self.url, token), {}
        return self.url, {"Authorization": f"Bearer {token}"}

    async def _run(self) -> None:
        attempt = 0
        url, headers = self._target()
        try:
            check_url(url)
        except ValueError as exc:
            self._set("failed", 0, f"bad URL: {exc}")
            return
        if headers and not _HEADER_TOKEN.fullmatch(self.options.token or ""):
            self._set("failed", 0, "the token holds characters an HTTP header cannot carry")
            return
        while not self._closing:
            if self.stats.attempts == 0:
                self._set("connecting")
            self.stats.attempts += 1
            opened_at: float | None = None
            reason: str
            try:
                async with open_socket(url, headers, self.options) as ws:
                    opened_at = asyncio.get_running_loop().time()
                    reason = await self._session(ws)
            except CONNECT_ERRORS as exc:
                reason, fatal = connect_failure(exc)
                if fatal:
                    self._set("failed", attempt, reason)
                    return
            if self._closing:
                return
            now = asyncio.get_running_loop().time()
            if opened_at is not None and now - opened_at >= self.options.stable_after:
                attempt = 0
            delay = self.options.backoff.delay(attempt, self._rng)
            attempt += 1
            # one status per failed attempt: why, and when the next one comes
            self._set("reconnecting", attempt, f"{reason}; retry in {delay:.2f}s")
            await asyncio.sleep(delay)

    async def _session(self, ws: ClientConnection) -> str:
        """Read one connection until it ends; return why it ended."""
        self.stats.connections += 1
        self.stats.open_sockets += 1
        self.stats.max_open_sockets = max(self.stats.max_open_sockets, self.stats.open_sockets)
        self._set("open")
        options = self.options
        emit = functools.partial(hand_on, self._frames.on_next)
        beat = asyncio.create_task(self._heartbeat(ws)) if options.heartbeat else None
        async with HandOff(emit, options.queue_size, options.burst, self.stats) as hand:
            try:
                async for frame in ws:
                    if frame == "pong":
                        self._pong.set()
                    await hand.put(frame)
            except ConnectionClosed:
                pass
            finally:
                self.stats.open_sockets -= 1
                if beat is not None:
                    beat.cancel()
                    await asyncio.gather(beat, return_exceptions=True)
                if not self._closing:
                    await hand.drain()  # hand off what was read before the next socket opens
        return closed_why(ws, self.stats, options.max_frame)

    async def _heartbeat(self, ws: ClientConnection) -> None:
        assert self.options.heartbeat is not None
        while True:
            await asyncio.sleep(self.options.heartbeat)
            self._pong.clear()
            await ws.send("ping")
            try:
                await asyncio.wait_for(self._pong.wait(), self.options.heartbeat_timeout)
            except TimeoutError:
                self.stats.heartbeat_timeouts += 1
                logger.bind(concern="connection", event="heartbeat", run=None, node=None).warning(
                    "no pong within {t}s: reconnecting", t=self.options.heartbeat_timeout
                )
                await ws.close(code=4000, reason="heartbeat timeout")
                return


def status_line(status: ConnectionStatus) -> str:
    """A one-line rendering of a status for plain logs:
    ``connection reconnecting (attempt 2): <reason>``."""
    line = f"connection {status.state}"
    if status.attempt:
        line += f" (attempt {status.attempt})"
    return line + (f": {status.reason}" if status.reason else "")
