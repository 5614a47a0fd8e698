"""The AG-UI source: one agent run over HTTP, its Server-Sent Events bridged into Rx.

An AG-UI run is an HTTP POST of a ``RunAgentInput`` (build one with
:func:`flowrx.protocols.agui.run_input`) with ``Accept: text/event-stream``; the answer is SSE,
each event's ``data`` one AG-UI event as JSON. :func:`agui_run` makes that request when it is
subscribed to and emits, on the asyncio loop of the scheduler it is given, each event's ``data``
(the exact text) as one frame for :func:`flowrx.connect`, then
:class:`~flowrx.messages.EndOfStream` as the last item: the decoder ends a run the response left
open as error. httpx makes the request (a well-kept
client that streams) and httpx-sse parses the events. Its promises, those of
:class:`~flowrx.streams.websocket.WebSocketSource` where they apply:

* **Status as it goes** (``status``): the same
  :class:`~flowrx.streams.websocket.ConnectionStatus` values, logged the same way:
  ``connecting`` (the request is sent), ``open`` (an SSE answer came), then ``closed`` (the body
  ended, or the subscription was disposed) or ``failed`` with a one-line reason a CLI can print:
  an HTTP error status (``HTTP 401 Unauthorized (bad token?)``, with the start of the body the
  server sent), a refused connection, a timeout, an answer that is not SSE, an event over the
  bound, a body that broke off. A failure also ends the observable with :class:`SourceFailed`
  carrying that reason (``flowrx.connect`` notes it as ``source_failed`` and keeps its state).
  There is no retry: a second POST would start a second run.
* **EndOfStream whenever a run may have been open**: once an SSE answer has come, the last item
  is an ``EndOfStream`` whose reason says how the body ended, also when it broke off or an event
  was refused. Nothing comes after a dispose.
* **Bounded memory.** An event whose data is over ``max_frame`` bytes closes the response, is
  counted (``oversized``) and logged, and fails the run: the bytes read toward one event never
  exceed ``max_frame`` plus two socket reads (64 KiB each), also for a server that never ends
  its event. The answer is asked for uncompressed (``Accept-Encoding: identity``), as the
  WebSocket source keeps compression off, so the bytes counted are the bytes decoded (a server
  that compresses anyway is counted by what it sends, and one read may then inflate).
* **Backpressure and bursts.** The hand-off from the response to the pipeline is a bounded
  queue: when the pipeline falls behind, the reader waits (nothing is dropped) and stops reading,
  and TCP flow control slows the server; every such wait is counted. With ``burst`` above 1, a
  backlog is handed on as one list (at most ``burst`` frames), which ``flowrx.connect`` takes as
  one batch, as the WebSocket source does.
* **Dispose closes the request**: disposing the subscription cancels the exchange and closes the
  HTTP response and connection (the server sees the client go away); no task is left.

Mistakes found before any I/O (a URL that is not http(s), a run input that is not a JSON object
with ``threadId``, ``runId`` and ``messages``, a header an HTTP request cannot carry, a scheduler
that is not asyncio's) raise :class:`ValueError` or :class:`TypeError` with one line at once.

The exchange itself (the POST, the status, the bounds, the hand-off, the end) is
:func:`sse_post`, which other SSE sources share: AgentOS's runs
(:func:`flowrx.streams.agno.agentos_run`) take form data and name each event on its
``event:`` line. How an exchange runs on the loop, ends its observable and is disposed
(:class:`LoopTask`, :func:`loop_source`) is shared with AgentOS's WebSocket source.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import attrs
import httpx
import reactivex
from httpx_sse import EventSource, SSEError
from loguru import logger
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx._text import one_line
from flowrx.messages import EndOfStream, Reply
from flowrx.protocols.agui import resume_input
from flowrx.streams.websocket import ConnectionStatus, HandOff, hand_on, redact, report

__all__ = [
    "Frame",
    "LoopTask",
    "SSEOptions",
    "SSEStats",
    "SourceFailed",
    "agui_conversation",
    "agui_run",
    "check_http_url",
    "checked_headers",
    "data_only",
    "loop_source",
    "refusal_line",
    "sse_post",
]

Frame = str | list[str] | EndOfStream
"""What :func:`agui_run` emits: one event's data, a burst of them, or the end of the body."""

#: HTTP answers with what they usually mean.
_HINTS = {
    400: "the server refused the run input",
    401: "bad token?",
    403: "bad token?",
    404: "wrong path?",
    405: "wrong path? an AG-UI endpoint takes POST",
    422: "the server refused the run input",
}

FrameOf = Callable[[str, str], str]
"""How an SSE event becomes a frame: ``(event name, data) -> frame text``."""

_READ = 64 * 1024
"""The most one socket read hands on (httpcore's read size)."""

_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HEADER_VALUE = re.compile(r"[\x20-\x7e\t]*")


@attrs.frozen
class SSEOptions:
    """Limits and timeouts of one run's request."""

    max_frame: int = attrs.field(default=16 * 1024 * 1024, validator=attrs.validators.gt(0))
    """Largest event data accepted, in bytes (a ``MESSAGES_SNAPSHOT`` carries whole
    transcripts)."""
    queue_size: int = attrs.field(default=1024, validator=attrs.validators.gt(0))
    """Frames handed off to the pipeline but not yet taken; the reader waits beyond this."""
    burst: int = attrs.field(default=1, validator=attrs.validators.gt(0))
    """Most frames handed on at once when a backlog has queued up behind the pipeline: above 1,
    a backlog is emitted as a ``list`` of frames (one batch for ``flowrx.connect``); the
    default 1 hands every frame on by itself."""
    open_timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    """Seconds to connect and send the request."""
    read_timeout: float | None = None
    """Seconds to wait for the answer and between two reads of it; None (default): as long as
    the agent takes (a model or a tool may think for minutes without a word)."""


@attrs.define
class SSEStats:
    """What the source has done, for health and tests (pass one to :func:`agui_run`)."""

    requests: int = 0
    responses: int = 0
    """Requests answered with an SSE stream."""
    frames: int = 0
    empty: int = 0
    """Events without data (keep-alives), skipped as the SSE standard says."""
    oversized: int = 0
    backpressure_waits: int = 0
    bursts: int = 0
    """Hand-offs of a backlog as one batch (more than one frame at once)."""
    open_responses: int = 0


class SourceFailed(Exception):
    """The source could not deliver the whole stream; ``reason`` is one line for a person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_http_url(url: str) -> None:
    """Raise :class:`ValueError` with one line (token hidden) unless ``url`` is an ``http://``
    or ``https://`` URL with a host."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  # raises for a port out of range
    except ValueError as exc:
        raise ValueError(f"{redact(url)!r} is not an http:// or https:// URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{redact(url)!r} is not an http:// or https:// URL")


def agui_run(
    url: str,
    run_input: Mapping[str, Any],
    *,
    scheduler: AsyncIOScheduler,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
) -> Observable[Frame]:
    """One AG-UI run: POST ``run_input`` to ``url`` on subscription and emit the answer's
    events' data, then ``EndOfStream``, on ``scheduler``'s loop (see the module's promises).

    ``headers`` are sent as given (``Authorization`` for a token, say), except that
    ``Accept``, ``Content-Type`` and ``Accept-Encoding`` are always flowrx's. ``status`` is
    called with every :class:`~flowrx.streams.websocket.ConnectionStatus`; ``stats`` (one per
    source, if wanted) is counted into. Each subscription makes its own request.
    """
    if not isinstance(scheduler, AsyncIOScheduler):
        raise TypeError(
            f"agui_run emits on an asyncio loop: it needs an AsyncIOScheduler, "
            f"not {type(scheduler).__name__}"
        )
    check_http_url(url)
    return sse_post(
        url,
        _encode(run_input),
        "application/json",
        scheduler=scheduler,
        headers=headers,
        options=options,
        status=status,
        stats=stats,
        endpoint="an AG-UI endpoint",
    )


def data_only(event: str, data: str) -> str:
    """An SSE event's frame when the data says it all (AG-UI): the data, as it came."""
    return data


def sse_post(
    url: str,
    body: bytes,
    content_type: str,
    *,
    scheduler: AsyncIOScheduler,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
    frame: FrameOf = data_only,
    endpoint: str = "an SSE endpoint",
) -> Observable[Frame]:
    """POST ``body`` (of ``content_type``) to ``url`` on subscription and emit each event of
    the SSE answer as ``frame(event name, data)``, then ``EndOfStream``, on ``scheduler``'s
    loop, with every promise of the module (status, bounds, backpressure, bursts, the end,
    dispose). ``endpoint`` names what ``url`` should be, for the one-line reason of an answer
    that is not SSE. ``headers`` as :func:`agui_run` takes them (``Accept``, ``Content-Type``
    and ``Accept-Encoding`` are always flowrx's)."""
    if not isinstance(scheduler, AsyncIOScheduler):
        raise TypeError(
            f"an SSE source emits on an asyncio loop: it needs an AsyncIOScheduler, "
            f"not {type(scheduler).__name__}"
        )
    check_http_url(url)
    sent = _headers(headers or {}, content_type)
    counted = stats if stats is not None else SSEStats()

    return loop_source(
        lambda observer: _Exchange(
            url, body, sent, options, observer, status, counted, frame, endpoint
        ),
        scheduler,
        f"flowrx-sse {redact(url)}",
    )


def loop_source(
    make: Callable[[abc.ObserverBase[Frame]], LoopTask],
    scheduler: AsyncIOScheduler,
    name: str,
) -> Observable[Frame]:
    """An observable whose every subscription runs ``make(observer)`` as a task named ``name``
    on ``scheduler``'s loop (see :class:`LoopTask`): the request starts on subscription, and
    dispose stops it at once, from the loop's thread or any other (the task is cancelled, so
    the connection is closed; no task is left)."""

    def subscribe(
        observer: abc.ObserverBase[Frame], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        exchange = make(observer)
        task: asyncio.Task[None] | None = None
        loop: asyncio.AbstractEventLoop | None = None

        def start(_: abc.SchedulerBase, __: Any = None) -> None:
            nonlocal task, loop
            if exchange.closing:
                return
            loop = asyncio.get_running_loop()
            task = loop.create_task(exchange.run(), name=name)

        scheduled = scheduler.schedule(start)

        def dispose() -> None:
            exchange.closing = True
            scheduled.dispose()
            if task is None or loop is None or task.done():
                return
            try:
                here = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if here is loop:
                task.cancel()
            else:
                loop.call_soon_threadsafe(task.cancel)

        return Disposable(dispose)

    return reactivex.create(subscribe)


def agui_conversation(
    url: str,
    first: Mapping[str, Any],
    replies: Observable[Reply],
    *,
    scheduler: AsyncIOScheduler,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
) -> Observable[Frame]:
    """One conversation turn: the run ``first`` asks for, then a resume run on the same thread
    for each :class:`~flowrx.messages.Reply` (``FlowState.replies``: a paused run's answers),
    their frames in one stream for ``flowrx.connect(..., protocol="agui")``.

    A resume is built by :func:`flowrx.protocols.agui.resume_input` from ``first``'s messages,
    the chat so far and the answers, with ``first``'s state, tools, context and forwarded
    props. The stream completes when every run it started has ended and none was asked for
    meanwhile (a reply sent while a leg ends, as ``FlowState.resolve`` does from a sink, starts
    the next leg before the stream could complete); an error of a leg ends it.

    Marble (``R`` a reply, ``E`` EndOfStream)::

        leg 0     -a-b-E|
        replies   ------R-------
        leg 1            -c-d-E|
        output    -a-b-E--c-d-E|
    """
    if not isinstance(first, Mapping) or not isinstance(first.get("threadId"), str):
        raise ValueError("the first run input needs a threadId (build it with run_input)")
    thread_id: str = first["threadId"]
    before = [m for m in first.get("messages", ()) if isinstance(m, Mapping)]
    carried = {
        "state": first.get("state"),
        "tools": first.get("tools") or (),
        "context": first.get("context") or (),
        "forwarded_props": first.get("forwardedProps"),
    }

    def leg(run: Mapping[str, Any]) -> Observable[Frame]:
        return agui_run(
            url,
            run,
            scheduler=scheduler,
            headers=headers,
            options=options,
            status=status,
            stats=stats,
        )

    def subscribe(
        observer: abc.ObserverBase[Frame], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        legs = CompositeDisposable()
        running = [0]

        def start(run: Mapping[str, Any]) -> None:
            running[0] += 1

            def ended() -> None:
                running[0] -= 1
                if running[0] == 0:
                    observer.on_completed()

            legs.add(leg(run).subscribe(observer.on_next, observer.on_error, ended))

        def on_reply(reply: Reply) -> None:
            start(resume_input(thread_id, before, reply, **carried))

        legs.add(replies.subscribe(on_reply, observer.on_error))
        start(first)
        return legs

    return reactivex.create(subscribe)


# --- the exchange --------------------------------------------------------------------------


def _encode(run_input: Mapping[str, Any]) -> bytes:
    if not isinstance(run_input, Mapping):
        raise ValueError(f"the run input is a JSON object, not {type(run_input).__name__}")
    for key, kind, named in (
        ("threadId", str, "a string"),
        ("runId", str, "a string"),
        ("messages", list, "a list"),
    ):
        if not isinstance(run_input.get(key), kind):
            raise ValueError(f"the run input lacks {key} ({named})")
    try:
        return json.dumps(run_input, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the run input is not JSON: {exc}") from None


def checked_headers(given: Mapping[str, str]) -> dict[str, str]:
    """``given`` as a dict, or :class:`ValueError` with one line for a name or value an HTTP
    request cannot carry (the value is never shown: it is often a token)."""
    sent: dict[str, str] = {}
    for name, value in given.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not an HTTP header name")
        if not isinstance(value, str) or not _HEADER_VALUE.fullmatch(value):
            raise ValueError(f"header {name} holds characters an HTTP header cannot carry")
        sent[name] = value
    return sent


def _headers(given: Mapping[str, str], content_type: str) -> dict[str, str]:
    sent = checked_headers(given)
    for name in [n for n in sent if n.lower() in ("accept", "content-type", "accept-encoding")]:
        del sent[name]
    sent.update(
        {
            "Accept": "text/event-stream",
            "Content-Type": content_type,
            "Accept-Encoding": "identity",
            "Cache-Control": "no-store",
        }
    )
    return sent


def _oversized(data: str, limit: int) -> bool:
    """Whether ``data`` is over ``limit`` bytes in UTF-8 (encoded only when it could be)."""
    if len(data) > limit:
        return True
    return len(data) * 4 > limit and len(data.encode()) > limit


@attrs.define
class _Meter:
    """Bytes read since the last event was taken; over ``limit``, reading stops."""

    limit: int
    since_event: int = 0


class _TooLarge(Exception):
    """An event grew past the bound while it was read."""


class _MeteredStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, meter: _Meter) -> None:
        self._inner = inner
        self._meter = meter

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._meter.since_event += len(chunk)
            if self._meter.since_event > self._meter.limit:
                raise _TooLarge
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _MeteredTransport(httpx.AsyncBaseTransport):
    """httpx's own transport, with the answer's bytes counted against the event bound."""

    def __init__(self, meter: _Meter) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._meter = meter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_MeteredStream(response.stream, self._meter),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class LoopTask:
    """One subscription's exchange with a server, run on the loop by :func:`loop_source`: what
    the SSE sources and AgentOS's WebSocket source share. A subclass's :meth:`work` does the
    I/O (reporting ``connecting``/``open``/... with :meth:`_set`, handing frames on with
    :meth:`_emit`, setting :attr:`opened` once a run may be open) and says why it failed;
    :meth:`run` ends every one the same way: ``EndOfStream`` if :attr:`opened` (its reason the
    failure, else :attr:`ended`), then ``closed`` or ``failed`` and the observable's end
    (:class:`SourceFailed` carrying the one line). Nothing reaches the observer after a dispose
    (:attr:`closing`)."""

    kind = "SSE"
    """What the source is called in the log line of an unexpected failure."""

    def __init__(
        self,
        observer: abc.ObserverBase[Frame],
        status: Callable[[ConnectionStatus], object] | None,
    ) -> None:
        self.observer = observer
        self.status = status
        self.closing = False
        """Set by dispose: nothing more reaches the observer."""
        self.opened = False
        """Whether an answer came (so a run may have been open)."""
        self.ended = "the response ended"
        """How it ended when it did not fail: the EndOfStream's and the ``closed`` reason."""

    def _set(self, state: str, reason: str | None = None, attempt: int = 0) -> None:
        """Publish a status and log it, as the WebSocket source does."""
        report(state, attempt, reason, self.status)

    def _emit(self, item: Frame) -> None:
        if not self.closing:
            hand_on(self.observer.on_next, item)

    async def work(self) -> str | None:
        """Do the exchange; why it failed (None: it did not)."""
        raise NotImplementedError

    async def run(self) -> None:
        """Do the exchange, hand the answer on, and end the observable."""
        if self.closing:  # disposed from another thread while the task was being made
            return
        try:
            failure = await self.work()
        except asyncio.CancelledError:
            self._set("closed", "closed by the caller")
            raise
        except Exception as exc:  # a bug must still end the observable, with a reason
            failure = f"unexpected {type(exc).__name__}: {one_line(str(exc))}"
            logger.bind(concern="connection", event="failed", run=None, node=None).opt(
                exception=exc
            ).error("the {kind} source failed: {error!r}", kind=self.kind, error=exc)
        if self.opened:
            self._emit(EndOfStream(reason=failure or self.ended))
        if self.closing:
            self._set("closed", "closed by the caller")
        elif failure is not None:
            self._set("failed", failure)
            self.observer.on_error(SourceFailed(failure))
        else:
            self._set("closed", self.ended)
            self.observer.on_completed()


class _Exchange(LoopTask):
    """One subscription's request, read into the observer on the loop."""

    def __init__(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        options: SSEOptions,
        observer: abc.ObserverBase[Frame],
        status: Callable[[ConnectionStatus], object] | None,
        stats: SSEStats,
        frame: FrameOf,
        endpoint: str,
    ) -> None:
        super().__init__(observer, status)
        self.url = url
        self.frame = frame
        self.endpoint = endpoint
        self.body = body
        self.headers = headers
        self.options = options
        self.stats = stats

    async def work(self) -> str | None:
        return await self._exchange()

    async def _exchange(self) -> str | None:
        """Make the request and read the answer; why it failed (None: it did not)."""
        self._set("connecting")
        self.stats.requests += 1
        options = self.options
        meter = _Meter(options.max_frame + 2 * _READ)
        timeout = httpx.Timeout(
            connect=options.open_timeout,
            write=options.open_timeout,
            pool=options.open_timeout,
            read=options.read_timeout,
        )
        try:
            async with (
                httpx.AsyncClient(transport=_MeteredTransport(meter), timeout=timeout) as client,
                client.stream("POST", self.url, content=self.body, headers=self.headers) as answer,
            ):
                refused = await _refusal(answer, self.endpoint)
                if refused is not None:
                    return refused
                self.opened = True
                self.stats.responses += 1
                self.stats.open_responses += 1
                try:
                    self._set("open")
                    await self._read(answer, meter)
                finally:
                    self.stats.open_responses -= 1
        except _TooLarge:
            return self._too_large()
        except (httpx.HTTPError, SSEError) as exc:
            why = f"{type(exc).__name__}: {one_line(str(exc)) or 'no detail'}"
            return f"the response broke off: {why}" if self.opened else why
        return None

    def _too_large(self) -> str:
        self.stats.oversized += 1
        limit = self.options.max_frame
        logger.bind(concern="connection", event="oversized", run=None, node=None).error(
            "an event exceeded max_frame ({limit} bytes): response closed", limit=limit
        )
        return f"an event larger than {limit} bytes (max_frame): response closed"

    async def _read(self, answer: httpx.Response, meter: _Meter) -> None:
        """Hand on every event's frame; what was read is handed on before returning."""
        options = self.options
        limit = options.max_frame
        async with HandOff(self._emit, options.queue_size, options.burst, self.stats) as hand:
            try:
                async for event in EventSource(answer).aiter_sse():
                    meter.since_event = 0
                    data = event.data
                    if not data:
                        self.stats.empty += 1
                        continue
                    if _oversized(data, limit):
                        raise _TooLarge
                    await hand.put(self.frame(event.event, data))
            finally:
                if not self.closing:
                    await hand.drain()


def refusal_line(code: int, phrase: str, said: str = "") -> str:
    """An HTTP error answer as one line for a person: ``HTTP 401 Unauthorized (bad token?):
    <the start of what the server said>``."""
    hint = _HINTS.get(code) or ("server error" if code >= 500 else None)
    line = f"HTTP {code} {phrase}" + (f" ({hint})" if hint else "")
    return line + (f": {said}" if said else "")


async def _refusal(answer: httpx.Response, endpoint: str) -> str | None:
    """Why ``answer`` is not an SSE stream to read (None: it is one)."""
    code = answer.status_code
    if not 200 <= code < 300:
        return refusal_line(code, answer.reason_phrase, await _start_of(answer))
    kind = answer.headers.get("content-type", "")
    if "text/event-stream" not in kind.partition(";")[0]:  # httpx-sse's own test
        shown = repr(kind) if kind else "missing"
        return f"not an SSE stream: Content-Type {shown} (is the URL {endpoint}?)"
    return None


async def _start_of(answer: httpx.Response, most: int = 1024) -> str:
    """The start of a refusal's body, as one short line."""
    got = b""
    async for chunk in answer.aiter_bytes():
        got += chunk
        if len(got) >= most:
            break
    return one_line(got[:most].decode("utf-8", "replace"))
