"""Agno's streams as observables of frames for flowrx: in process, and from AgentOS over SSE.

``Workflow.run(..., stream=True, stream_events=True)`` returns an iterator of event objects,
``Workflow.arun(..., stream=True, stream_events=True)`` an async iterator of them (and so do
``continue_run``/``acontinue_run``, an agent's or a team's ``run``/``arun``). :func:`events`
reads one such iterator when subscribed to and emits each event's ``to_dict()`` (what Agno
itself sends over AgentOS, and what :mod:`flowrx.protocols.agno` decodes) for
``flowrx.connect(..., protocol="agno")``, then :class:`~flowrx.messages.EndOfStream` as the
last item. The dict is taken as the event is read: Agno may change an event's objects later
(a run output it carries), and a dict is what a recording keeps. An event whose ``to_dict()``
fails is handed on as it is, so the decoder counts it rejected with the reason.

Where the reading happens depends on the iterator and the scheduler (the choice is the
caller's, by what it passes):

* **An async iterator** (``arun``) is read by a task on the loop of the ``AsyncIOScheduler``
  it is given, each event handed on as it comes; that the pipeline takes each frame before
  the next is read is the backpressure.
* **A sync iterator with an** ``AsyncIOScheduler`` (``run`` while a live view runs on the
  loop) is read in a worker thread of its own, so a step that blocks (a model call, a tool)
  never blocks the loop; the thread hands the frames to the loop (``call_soon_threadsafe``).
  The hand-off is bounded: at most ``queue_size`` frames wait for the loop, then the thread
  waits (and Agno's generator with it: nothing is dropped). With ``burst`` above 1, a backlog
  is handed on as one list of at most ``burst`` frames (one batch for ``flowrx.connect``), as
  the WebSocket and SSE sources do.
* **A sync iterator with any other scheduler** (a :class:`~flowrx.VirtualClock` in tests and
  notebooks, reactivex's trampoline) is read synchronously in one action scheduled on it: every
  frame arrives at the same (virtual) instant, which is all an in-process stream's timing
  says (Agno's ``created_at`` is whole seconds) and makes a test deterministic. The reading
  blocks whatever runs that scheduler: beside a live loop, pass the loop's scheduler.

The end, in every case:

* **EndOfStream always comes last** (unless the subscription was disposed): its reason says
  how the iterator ended. A run still open then pauses (the in-process iterator just stops at
  a human-in-the-loop pause; the decoder's rule).
* **A workflow that raises** (``on_error="fail"``, a step's exception with nothing to catch
  it, an Agno error) ends the observable with :class:`~flowrx.streams.sse.SourceFailed`
  carrying one line (``the workflow raised ValueError: ...``), after the EndOfStream
  (``flowrx.connect`` notes it as ``source_failed`` and keeps its state). Agno 3.1.10 sends
  ``StepError`` and ``WorkflowError`` before it raises, so the run has ended by then.
* **Dispose stops reading**: no frame reaches the observer after it; the async task is
  cancelled (Agno's generator sees the cancellation, as when an AgentOS client goes away) and
  the iterator is closed; the worker thread stops at the next event the workflow yields and
  closes the generator (a step already running runs to its end: a thread cannot be
  interrupted; cancel the run with ``Workflow.cancel_run`` to stop it sooner).

An iterator can be read once: a second subscription to the same one gets what the first left
(an iterable that is not an iterator, a list of recorded events say, is read anew each time).
Mistakes found before reading (an object that is not an iterator of events, as a
``run(stream=False)`` output is; an async iterator without an asyncio scheduler; bad bounds)
raise :class:`TypeError` or :class:`ValueError` with one line at once.

**AgentOS** serves the same runs over HTTP: :func:`agentos_run` POSTs a message to
``/workflows/{id}/runs`` (or ``/agents/...``, ``/teams/...``) as AgentOS's form data with
``stream=true`` and emits each event of the SSE answer as its SSE text (``event: <Name>`` and
``data: <to_dict() as JSON>``: the ``event`` line names the trailer ``WorkflowRunOutput`` that
a pause sends, whose data has no name of its own), then ``EndOfStream``. The exchange is
:func:`flowrx.streams.sse.sse_post`, with every promise of the AG-UI source: connection
status, one-line failures (``HTTP 401 Unauthorized (bad token?)``, a refused connection, an
answer that is not SSE, ...) as :class:`~flowrx.streams.sse.SourceFailed`, bounded events,
backpressure, bursts, and dispose closing the request (AgentOS then cancels the run's task).
:func:`agentos_definition` fetches a workflow's definition (``GET /workflows/{id}``), from
which :func:`~flowrx.protocols.agno.workflow_graph` derives the flow graph.

**Background runs resume.** With ``background=True`` AgentOS runs the run detached (it needs
a database) and numbers every frame (``event_index``); when the response breaks off, or ends
before the run's end or pause, :func:`agentos_run` resumes it by itself (:func:`resumable`,
bounded by :class:`ResumeOptions`, the waits on the given scheduler, ``reconnecting`` in the
status): ``POST .../runs/{run_id}/resume`` after the last ``event_index`` handed on, whose
``replay``/``catch_up`` header the decoder counts as a heartbeat and whose frames it dedupes
by ``(run, event_index)``. Resuming is automatic for background runs and never happens for
others (their frames carry no index). :func:`agentos_resume` is one such request, for a host
that reconnects by itself.

**Answers go back.** :func:`agentos_continue` continues a paused run with its requirements
answered (``POST .../runs/{run_id}/continue``): a workflow's step requirements
(:func:`~flowrx.protocols.agno.continue_requirements`), an agent's or a team's tool
requirements from its ``RunPaused`` (:func:`~flowrx.protocols.agno.continue_run_requirements`:
a confirmation, a person's input, an external tool's result). :func:`agentos_conversation`
chains the continues the host's answers ask for (``FlowState.replies``) after the first run, as
:func:`~flowrx.streams.sse.agui_conversation` does for AG-UI; a workflow paused in the
background (no ``WorkflowPaused`` is sent then) is continued with the requirements AgentOS
stored (:func:`agentos_paused_requirements`).
The chaining itself, :func:`chain_continues`, does not care what carries the legs: AgentOS's
WebSocket (:mod:`flowrx.streams.agentos_ws`) chains its own legs with it.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import json
import random
import threading
import urllib.parse
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, Final, TypeVar

import attrs
import httpx
import reactivex
from loguru import logger
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import (
    CompositeDisposable,
    Disposable,
    SerialDisposable,
    SingleAssignmentDisposable,
)
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx._text import one_line
from flowrx.messages import Answer, EndOfStream, Reply
from flowrx.protocols.agno import (
    PAUSE_EVENTS,
    continue_requirements,
    continue_run_requirements,
    frame_data,
)
from flowrx.streams.sse import (
    Frame,
    SourceFailed,
    SSEOptions,
    SSEStats,
    check_http_url,
    checked_headers,
    refusal_line,
    sse_post,
)
from flowrx.streams.websocket import Backoff, ConnectionStatus, hand_on

__all__ = [
    "AGENTOS_KINDS",
    "Leg",
    "PausedRun",
    "ResumeOptions",
    "Status",
    "agentos_cancel",
    "agentos_continue",
    "agentos_conversation",
    "agentos_definition",
    "agentos_paused_requirements",
    "agentos_resume",
    "agentos_run",
    "agentos_runs_url",
    "answered_leg",
    "chain_continues",
    "events",
    "frame_of",
    "new_session",
    "paused_run",
    "resumable",
    "sse_text",
    "workflow_conversation",
    "workflow_definition",
]

AGENTOS_KINDS = ("workflows", "agents", "teams")
"""What AgentOS runs: the first part of a run's path (``/workflows/{id}/runs``)."""

_ENDED = "the workflow's events ended"
_CREDIT_POLL = 1.0
"""Seconds between two looks, while the worker waits for room, at whether the loop is gone."""


def frame_of(event: object) -> object:
    """An Agno event as the frame :func:`events` hands on: its ``to_dict()`` (a mapping as it
    is), or the event itself when it has no working ``to_dict()`` (the decoder then counts it
    rejected, with the reason)."""
    if isinstance(event, Mapping):
        return event
    to_dict = getattr(event, "to_dict", None)
    if callable(to_dict):
        try:
            data = to_dict()
        except Exception:  # a host's object: the decoder names the failure when it rejects it
            return event
        return data if isinstance(data, Mapping) else event
    return event


def workflow_definition(workflow: Any) -> dict[str, Any]:
    """``workflow.to_dict()`` with every nested workflow's own definition under its step's
    ``workflow`` key, at any depth, so that
    :func:`~flowrx.protocols.agno.workflow_graph` derives the nested steps too: Agno's
    ``Step.to_dict()`` names only the nested workflow's id. Steps are matched by name at each
    level (``steps``, a Router's ``choices``, a Condition's ``else_steps``)."""
    definition = workflow.to_dict()
    if not isinstance(definition, dict):
        raise TypeError(f"{type(workflow).__name__}.to_dict() gave no definition")
    _inline(getattr(workflow, "steps", None), definition.get("steps"))
    return definition


def _inline(objects: object, entries: object) -> None:
    if not isinstance(objects, list) or not isinstance(entries, list):
        return
    by_name = {e.get("name"): e for e in entries if isinstance(e, dict)}
    for step in objects:
        entry = by_name.get(getattr(step, "name", None))
        if entry is None:
            continue
        inner = getattr(step, "workflow", None)
        if inner is not None and callable(getattr(inner, "to_dict", None)):
            entry["workflow"] = workflow_definition(inner)
        for key in ("steps", "choices", "else_steps"):
            _inline(getattr(step, key, None), entry.get(key))


def _raised(exc: BaseException) -> str:
    said = one_line(str(exc))
    return f"the workflow raised {type(exc).__name__}" + (f": {said}" if said else "")


def events(
    iterator: Iterable[Any] | AsyncIterable[Any],
    *,
    scheduler: abc.SchedulerBase,
    queue_size: int = 1024,
    burst: int = 1,
) -> Observable[object]:
    """The events of an Agno run's stream (``Workflow.run``/``arun`` with ``stream=True``),
    each as its ``to_dict()``, then ``EndOfStream``, on ``scheduler`` (see the module: an
    async iterator on the asyncio loop, a sync one in a worker thread with an asyncio
    scheduler or synchronously with any other). ``queue_size`` and ``burst`` bound the worker
    thread's hand-off to the loop."""
    if not isinstance(queue_size, int) or queue_size < 1:
        raise ValueError(f"queue_size must be a positive int, not {queue_size!r}")
    if not isinstance(burst, int) or burst < 1:
        raise ValueError(f"burst must be a positive int, not {burst!r}")
    if inspect.iscoroutine(iterator):  # acontinue_run(..., stream=True): awaited, then read
        if not isinstance(scheduler, AsyncIOScheduler):
            iterator.close()
            raise TypeError(
                "a coroutine of Agno events (acontinue_run) is awaited on an asyncio loop: "
                f"events() needs an AsyncIOScheduler with it, not {type(scheduler).__name__}"
            )
        iterator = _awaited(iterator)
    if isinstance(iterator, AsyncIterable):
        if not isinstance(scheduler, AsyncIOScheduler):
            raise TypeError(
                "an async iterator of Agno events is read on an asyncio loop: events() needs "
                f"an AsyncIOScheduler with it, not {type(scheduler).__name__}"
            )
        return _observable(lambda observer: _AsyncFeed(iterator, observer), scheduler)
    if not isinstance(iterator, Iterable) or isinstance(iterator, str | bytes | Mapping):
        raise TypeError(
            f"events() reads an iterator of Agno events, not a {type(iterator).__name__} "
            "(run the workflow with stream=True, stream_events=True)"
        )
    if isinstance(scheduler, AsyncIOScheduler):
        return _observable(
            lambda observer: _ThreadFeed(iterator, observer, queue_size, burst), scheduler
        )
    return _observable(lambda observer: _SyncFeed(iterator, observer), scheduler)


async def _awaited(coroutine: Coroutine[Any, Any, object]) -> AsyncIterator[Any]:
    """The events of the async iterator ``coroutine`` gives once awaited (Agno's
    ``acontinue_run(..., stream=True)`` is a coroutine, unlike ``arun``)."""
    stream = await coroutine
    if not isinstance(stream, AsyncIterable):
        raise TypeError(
            f"the coroutine gave a {type(stream).__name__}, not an async iterator of Agno "
            "events (continue the run with stream=True, stream_events=True)"
        )
    async for event in stream:
        yield event


def _observable(
    feed_for: Callable[[abc.ObserverBase[object]], _Feed], scheduler: abc.SchedulerBase
) -> Observable[object]:
    def subscribe(
        observer: abc.ObserverBase[object], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        feed: _Feed = feed_for(observer)

        def start(_: abc.SchedulerBase, __: Any = None) -> None:
            feed.start()

        scheduled = scheduler.schedule(start)

        def dispose() -> None:
            feed.closing = True
            scheduled.dispose()
            feed.stop()

        return Disposable(dispose)

    return reactivex.create(subscribe)


class _Feed:
    """One subscription: the iterator read into the observer."""

    def __init__(self, observer: abc.ObserverBase[object]) -> None:
        self.observer = observer
        self.closing = False
        """Set by dispose: nothing more reaches the observer."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Dispose's part beyond setting :attr:`closing` (nothing, unless a feed says)."""

    def emit(self, item: object) -> None:
        if not self.closing:
            hand_on(self.observer.on_next, item)

    def finish(self, failure: str | None) -> None:
        """EndOfStream, then the end of the observable (unless disposed)."""
        if self.closing:
            return
        self.emit(EndOfStream(reason=failure or _ENDED))
        if self.closing:
            return
        if failure is None:
            self.observer.on_completed()
            return
        logger.bind(concern="connection", event="failed", run=None, node=None).error(
            "the Agno source failed: {reason}", reason=failure
        )
        self.observer.on_error(SourceFailed(failure))


def _close(iterator: object) -> None:
    """Close a generator that was left unfinished (its ``finally`` blocks run)."""
    close = getattr(iterator, "close", None)
    if callable(close):
        try:
            close()
        except Exception as exc:  # Agno's clean-up failing is worth a line, not a crash
            logger.bind(concern="connection", event="close", run=None, node=None).warning(
                "closing the Agno iterator raised {error!r}", error=exc
            )


class _SyncFeed(_Feed):
    """A sync iterator read in one action on the scheduler."""

    def __init__(self, iterable: Iterable[Any], observer: abc.ObserverBase[object]) -> None:
        super().__init__(observer)
        self.iterable = iterable

    def start(self) -> None:
        failure = None
        iterator: Any = None
        try:
            iterator = iter(self.iterable)
            for event in iterator:
                if self.closing:
                    break
                self.emit(frame_of(event))
                if self.closing:
                    break
        except Exception as exc:
            failure = _raised(exc)
        finally:
            if self.closing and iterator is not None:
                _close(iterator)
        self.finish(failure)


class _AsyncFeed(_Feed):
    """An async iterator read by a task on the loop."""

    def __init__(self, iterable: AsyncIterable[Any], observer: abc.ObserverBase[object]) -> None:
        super().__init__(observer)
        self.iterable = iterable
        self.task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self.closing:
            return
        self.loop = asyncio.get_running_loop()
        self.task = self.loop.create_task(self._read(), name="flowrx-agno events")

    def stop(self) -> None:
        task, loop = self.task, self.loop
        if task is None or loop is None or task.done():
            return
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is loop:
            if asyncio.current_task() is not task:  # else: the reader sees the dispose at once
                task.cancel()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    async def _read(self) -> None:
        failure = None
        iterator = aiter(self.iterable)
        try:
            async for event in iterator:
                if self.closing:
                    break
                self.emit(frame_of(event))
                if self.closing:
                    break
        except asyncio.CancelledError:
            if not self.closing:  # not ours: the loop is going away
                raise
        except Exception as exc:
            failure = _raised(exc)
        finally:
            if self.closing:
                aclose = getattr(iterator, "aclose", None)
                if callable(aclose):
                    try:
                        await aclose()
                    except BaseException as exc:  # cancelled or failing clean-up: done anyway
                        logger.bind(concern="connection", event="close", run=None, node=None).debug(
                            "closing the Agno iterator raised {error!r}", error=exc
                        )
        self.finish(failure)


@attrs.frozen
class _Ended:
    failure: str | None


class _ThreadFeed(_Feed):
    """A sync iterator read in a worker thread, its frames handed to the loop.

    The worker appends to :attr:`backlog` (a deque: appends and pops are atomic) after taking
    one of ``queue_size`` credits, and asks the loop to drain it; the loop hands the backlog
    on (in lists of at most ``burst``) and gives the credits back."""

    def __init__(
        self,
        iterable: Iterable[Any],
        observer: abc.ObserverBase[object],
        queue_size: int,
        burst: int,
    ) -> None:
        super().__init__(observer)
        self.iterable = iterable
        self.burst = burst
        self.credits = threading.Semaphore(queue_size)
        self.backlog: collections.deque[object] = collections.deque()
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self.closing:
            return
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self._work, name="flowrx-agno events", daemon=True).start()

    def stop(self) -> None:
        self.credits.release()  # a worker waiting for room wakes up and sees the dispose

    # --- the worker thread ----------------------------------------------------------------

    def _work(self) -> None:
        failure = None
        try:
            iterator = iter(self.iterable)
        except Exception as exc:
            self._hand(_Ended(_raised(exc)), credit=False)
            return
        try:
            for event in iterator:
                if self.closing or not self._hand(frame_of(event)):
                    break
        except Exception as exc:
            failure = _raised(exc)
        finally:
            if self.closing:
                _close(iterator)
        self._hand(_Ended(failure), credit=False)

    def _hand(self, item: object, credit: bool = True) -> bool:
        """Queue ``item`` for the loop; False when nobody will take it any more."""
        loop = self.loop
        assert loop is not None
        while credit and not self.credits.acquire(timeout=_CREDIT_POLL):
            if self.closing or loop.is_closed():
                return False
        if self.closing:
            return False
        self.backlog.append(item)
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed
            return False
        return True

    # --- the loop ---------------------------------------------------------------------------

    def _drain(self) -> None:
        while self.backlog:
            if self.closing:
                self.backlog.clear()
                return
            batch: list[object] = []
            while self.backlog and len(batch) < self.burst:
                if isinstance(self.backlog[0], _Ended):
                    break
                batch.append(self.backlog.popleft())
            if batch:
                self.emit(batch if len(batch) > 1 else batch[0])
                for _ in batch:
                    self.credits.release()
                continue
            ended = self.backlog.popleft()
            assert isinstance(ended, _Ended)
            self.finish(ended.failure)


# --- AgentOS over SSE ---------------------------------------------------------------------------


def sse_text(event: str, data: str) -> str:
    """An SSE event as its text (what AgentOS wrote, less the blank line): ``event: <name>``
    (left out for the default ``message``) and one ``data:`` line per line of data. The
    decoder reads the name from the ``event`` line when the data has none."""
    lines = [f"data: {line}" for line in data.split("\n")]
    return "\n".join([f"event: {event}", *lines] if event and event != "message" else lines)


def agentos_runs_url(url: str, component_id: str, kind: str = "workflows") -> str:
    """The URL that starts a run of ``component_id`` on the AgentOS at ``url`` (its root):
    ``<url>/<kind>/<id>/runs``. ``ValueError`` with one line for a kind AgentOS does not run
    or an empty id."""
    if kind not in AGENTOS_KINDS:
        raise ValueError(f"AgentOS runs {', '.join(AGENTOS_KINDS)}, not {kind!r}")
    if not isinstance(component_id, str) or not component_id.strip():
        raise ValueError(f"the {kind[:-1]} id must be a non-empty string, not {component_id!r}")
    root = url.rstrip("/")
    return f"{root}/{kind}/{urllib.parse.quote(component_id, safe='')}/runs"


@attrs.frozen
class ResumeOptions:
    """How an AgentOS run whose frames carry ``event_index`` (``background=true``) is resumed
    after its SSE response broke off or ended before the run did: at most ``attempts``
    resumes in a row that bring no new event (a resume that does starts the count again),
    each after ``backoff.delay(n)`` seconds on the source's scheduler (``seed`` seeds the
    jitter, for tests). ``attempts=0`` never resumes."""

    attempts: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    backoff: Backoff = Backoff(initial=0.5, cap=10.0)
    seed: int | None = None


Status = Callable[[ConnectionStatus], object] | None
"""Where a request reports its :class:`~flowrx.streams.websocket.ConnectionStatus` (None:
nowhere)."""

Leg = Callable[[Status], Observable[Frame]]
"""A request not made yet, as a function of where it reports its status."""


def _with_token(headers: Mapping[str, str] | None, token: str | None) -> dict[str, str]:
    sent = {
        k: v for k, v in (headers or {}).items() if not (token and k.lower() == "authorization")
    }
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return sent


@attrs.frozen
class _Http:
    """What every AgentOS request of a source shares: the loop, the headers (with the token),
    the bounds and the stats."""

    scheduler: AsyncIOScheduler
    headers: dict[str, str]
    options: SSEOptions
    stats: SSEStats | None

    @classmethod
    def checked(
        cls,
        target: str,
        scheduler: AsyncIOScheduler,
        token: str | None,
        headers: Mapping[str, str] | None,
        options: SSEOptions,
        stats: SSEStats | None,
    ) -> _Http:
        """The shared parts, checked before any request (one-line errors at once)."""
        if not isinstance(scheduler, AsyncIOScheduler):
            raise TypeError(
                "an AgentOS source emits on an asyncio loop: it needs an AsyncIOScheduler, "
                f"not {type(scheduler).__name__}"
            )
        check_http_url(target)
        sent = _with_token(headers, token)
        checked_headers(sent)
        return cls(scheduler, sent, options, stats)

    def post(self, target: str, form: Mapping[str, str], endpoint: str) -> Leg:
        """POST ``form`` to ``target`` as AgentOS's form data, its SSE answer as frames."""
        body = urllib.parse.urlencode(form).encode()

        def leg(status: Status) -> Observable[Frame]:
            return sse_post(
                target,
                body,
                "application/x-www-form-urlencoded",
                scheduler=self.scheduler,
                headers=self.headers,
                options=self.options,
                status=status,
                stats=self.stats,
                frame=sse_text,
                endpoint=endpoint,
            )

        return leg


def _strings(form: dict[str, str], **given: str | None) -> dict[str, str]:
    """``form`` with the ``given`` fields that are not None (each must be a string)."""
    for name, value in given.items():
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {type(value).__name__}")
            form[name] = value
    return form


def agentos_run(
    url: str,
    component_id: str,
    message: str,
    *,
    scheduler: AsyncIOScheduler,
    kind: str = "workflows",
    token: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
    background: bool = False,
    resume: ResumeOptions | None = ResumeOptions(),
) -> Observable[Frame]:
    """One run on the AgentOS at ``url`` (its root): POST ``message`` to
    ``<url>/<kind>/<component_id>/runs`` as form data with ``stream=true`` (and the
    ``session_id``/``user_id`` given) on subscription; emit each event's SSE text
    (:func:`sse_text`), then ``EndOfStream``, on ``scheduler``'s loop (see the module).

    ``token`` is AgentOS's security key or a JWT, sent as ``Authorization: Bearer <token>``
    (over any ``Authorization`` in ``headers``). ``status``, ``stats`` and ``options`` are
    those of :func:`flowrx.streams.sse.sse_post`. Each subscription starts its own run.

    ``background=True`` asks AgentOS to run it detached (``background=true``: the run goes on
    if the client goes away; AgentOS needs a database for it): every frame then carries
    ``event_index``, and when the response breaks off (or ends) before the run's end or pause,
    the source resumes it by itself (:func:`resumable`, by ``resume``'s rules; None: never):
    ``POST .../runs/{run_id}/resume`` with the last ``event_index`` handed on, whose
    ``replay``/``catch_up`` header and missed frames follow (the decoder counts the header
    as a heartbeat and drops any frame it already had), then live frames while the run goes
    on. Meanwhile the status is ``reconnecting`` (attempt n, why, the wait), and only the last
    response's ``EndOfStream`` is handed on: the run is one unbroken stream to the decoder.
    """
    target = agentos_runs_url(url, component_id, kind)
    if not isinstance(message, str):
        raise ValueError(f"the message must be a string, not {type(message).__name__}")
    form = _strings({"message": message, "stream": "true"}, session_id=session_id, user_id=user_id)
    if background:
        form["background"] = "true"
    http = _Http.checked(target, scheduler, token, headers, options, stats)
    first = http.post(target, form, "an AgentOS run endpoint")
    if not background or resume is None:
        return first(status)

    def again(run_id: str, last_event_index: int, session: str | None) -> Leg:
        return _resume_leg(http, url, component_id, run_id, last_event_index, kind, session)

    return resumable(first, again, scheduler=scheduler, options=resume, status=status)


def _resume_leg(
    http: _Http,
    url: str,
    component_id: str,
    run_id: str,
    last_event_index: int,
    kind: str,
    session_id: str | None,
) -> Leg:
    target = agentos_runs_url(url, component_id, kind) + f"/{_quoted(run_id)}/resume"
    form = _strings({"last_event_index": str(last_event_index)}, session_id=session_id)
    return http.post(target, form, "an AgentOS resume endpoint")


def _quoted(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"the run id must be a non-empty string, not {run_id!r}")
    return urllib.parse.quote(run_id, safe="")


def agentos_resume(
    url: str,
    component_id: str,
    run_id: str,
    last_event_index: int,
    *,
    scheduler: AsyncIOScheduler,
    kind: str = "workflows",
    session_id: str | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
) -> Observable[Frame]:
    """Pick up the stream of the run ``run_id`` (started with ``background=true``) after the
    frame ``last_event_index``: ``POST <url>/<kind>/<component_id>/runs/<run_id>/resume``.
    AgentOS answers with a ``replay`` header (the run is over or paused: the missed frames
    follow, then the end) or a ``catch_up`` header, the missed frames and ``subscribed`` (it
    still runs: its frames follow live), or an ``error`` frame (no such run); each frame
    keeps its original ``event_index``. Emitted as :func:`agentos_run` emits (one request, no
    retry; :func:`agentos_run` with ``background=True`` resumes by itself)."""
    if isinstance(last_event_index, bool) or not isinstance(last_event_index, int):
        raise ValueError(f"last_event_index must be an int, not {last_event_index!r}")
    target = agentos_runs_url(url, component_id, kind)
    http = _Http.checked(target, scheduler, token, headers, options, stats)
    return _resume_leg(http, url, component_id, run_id, last_event_index, kind, session_id)(status)


# --- resuming after a dropped response ---------------------------------------------------------

_SETTLING: Final = frozenset(
    {
        "WorkflowCompleted",
        "WorkflowError",
        "WorkflowCancelled",
        "WorkflowPaused",
        "StepPaused",
        "StepExecutorPaused",
        "RouterPaused",
        "StepOutputReview",
        *(
            prefix + name
            for prefix in ("", "Team")
            for name in ("RunCompleted", "RunError", "RunCancelled", "RunPaused")
        ),
    }
)
"""Events after which a run's stream has nothing more to say (when they are the run's own)."""


def _sse_event(frame: object) -> tuple[str, dict[str, Any]] | None:
    """An SSE frame's event name and data object (None: not one)."""
    if not isinstance(frame, str):
        return None
    name = None
    lines = []
    for line in frame.split("\n"):
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            lines.append(line[6:] if line.startswith("data: ") else line[5:])
    try:
        data = json.loads("\n".join(lines))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    said = data.get("event")
    return name or (said if isinstance(said, str) else "message"), data


def resumable(
    first: Leg,
    resume: Callable[[str, int, str | None], Leg],
    *,
    scheduler: abc.SchedulerBase,
    options: ResumeOptions = ResumeOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    run_id: str | None = None,
) -> Observable[Frame]:
    """The frames of the request ``first``, and, when its response breaks off or ends before
    the run does, of ``resume(run_id, last event_index, session_id)``: one stream of a run
    over as many responses as it takes.

    The run is ``run_id`` or the run of the first frame with an ``event_index`` (its
    ``workflow_run_id`` or ``run_id``; its ``session_id`` is passed on too). A response ends
    *early* when the run's own terminal or pause has not come (``WorkflowCompleted``,
    ``RunPaused``, ...) and it is not a whole replay (a ``replay`` header says the run is over
    and its missed frames follow: one that breaks off is resumed again); then, unless the last
    resume said ``error`` or was refused with an HTTP 4xx, it is resumed after
    ``options.backoff.delay(n)`` seconds on ``scheduler``, at most ``options.attempts`` times in
    a row without a new ``event_index``. Frames without ``event_index`` (a run not in the
    background) are never resumed: the stream is then ``first``'s, unchanged.

    Statuses: each request's ``connecting`` and ``open``; for an early end, ``reconnecting``
    (attempt n, why, the wait) in place of that response's ``failed`` or ``closed``. Only the
    last response's ``EndOfStream`` is handed on (one is made, with the reason, when the last
    request never got an answer). Giving up fails the stream with the last failure and the
    number of resumes, as one line (:class:`~flowrx.streams.sse.SourceFailed`). Dispose stops
    the request under way and any wait.

    Marble (``#`` a response breaking off after ``b``, ``h`` the resume's header, ``E``
    EndOfStream)::

        first     -a-b-E#
        resume                -h-c-d-E|
        output    -a-b----------h-c-d-E|
    """

    def subscribe(
        observer: abc.ObserverBase[Frame], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return _Resuming(first, resume, scheduler, options, status, run_id, observer).start()

    return reactivex.create(subscribe)


class _Resuming:
    """One subscription of :func:`resumable`: the responses of one run, one after another."""

    def __init__(
        self,
        first: Leg,
        resume: Callable[[str, int, str | None], Leg],
        scheduler: abc.SchedulerBase,
        options: ResumeOptions,
        status: Callable[[ConnectionStatus], object] | None,
        run_id: str | None,
        observer: abc.ObserverBase[Frame],
    ) -> None:
        self.first = first
        self.resume = resume
        self.scheduler = scheduler
        self.options = options
        self.status = status
        self.observer = observer
        self.rng = random.Random(options.seed)
        self.current = SerialDisposable()
        self.closing = False
        self.run_id = run_id
        self.session: str | None = None
        self.index: int | None = None
        """The highest ``event_index`` handed on."""
        self.settled = False
        """The run's own end or pause came."""
        self.replayed = False
        """This response is a replay: the run is over, its missed frames follow."""
        self.refused: str | None = None
        """What a resume's ``error`` frame said."""
        self.failures = 0
        """Resumes in a row that brought no new event."""
        self.resumes = 0
        self.held_end: EndOfStream | None = None
        self.held_status: ConnectionStatus | None = None

    def start(self) -> abc.DisposableBase:
        self.attach(self.first)

        def dispose() -> None:
            self.closing = True
            self.current.dispose()

        return Disposable(dispose)

    def attach(self, leg: Leg) -> None:
        self.held_end = None
        self.held_status = None
        self.replayed = False
        holder = SingleAssignmentDisposable()
        self.current.disposable = holder  # before subscribing: the leg may end at once
        holder.disposable = leg(self.on_status).subscribe(
            self.on_next, self.on_error, lambda: self.ended(None)
        )

    def on_status(self, status: ConnectionStatus) -> None:
        if status.state in ("failed", "closed") and not self.closing:
            self.held_status = status  # known for what it is once the response has ended
        elif self.status is not None:
            self.status(status)

    def on_next(self, item: Frame) -> None:
        if isinstance(item, EndOfStream):
            self.held_end = item
            return
        for frame in item if isinstance(item, list) else (item,):
            self.track(frame)
        self.observer.on_next(item)

    def track(self, frame: object) -> None:
        parsed = _sse_event(frame)
        if parsed is None:
            return
        name, data = parsed
        if name == "replay":
            self.replayed = True
        elif name == "error" and self.resumes:
            self.refused = one_line(str(data.get("error") or data.get("message") or name))
        index = data.get("event_index")
        if isinstance(index, bool) or not isinstance(index, int):
            return
        run = data.get("run_id")
        if self.run_id is None:
            owner = data.get("workflow_run_id") or run
            self.run_id = owner if isinstance(owner, str) else None
        if self.session is None and isinstance(data.get("session_id"), str):
            self.session = data["session_id"]
        if self.index is None or index > self.index:
            self.index = index
            self.failures = 0
        if name in _SETTLING and run == self.run_id and not data.get("nested_depth"):
            self.settled = True

    def on_error(self, error: Exception) -> None:
        if not isinstance(error, SourceFailed):  # not a request's failure: a bug, passed on
            self.give_up(None)
            self.observer.on_error(error)
            return
        self.ended(error.reason)

    def resumable(self, why: str | None) -> bool:
        if self.closing or self.settled or self.refused is not None:
            return False
        if self.replayed and why is None:  # the whole replay came: there is no more
            return False
        if self.run_id is None or self.index is None:
            return False
        if why is not None and why.startswith("HTTP 4"):  # refused (refusal_line's form)
            return False
        return self.failures < self.options.attempts

    def ended(self, why: str | None) -> None:
        """A response ended (``why``: how it failed; None: it ended): resume, or end."""
        if not self.resumable(why):
            reason = why if why is not None else self.refused
            if reason is not None and self.resumes:
                reason = f"{reason} (after {self.resumes} resume{'s' * (self.resumes > 1)})"
            self.give_up(reason)
            if reason is not None:
                self.observer.on_error(SourceFailed(reason))
            else:
                self.observer.on_completed()
            return
        run_id, index = self.run_id, self.index
        assert run_id is not None
        assert index is not None
        delay = self.options.backoff.delay(self.failures, self.rng)
        self.failures += 1
        self.resumes += 1
        said = why or "the response ended before the run did"
        self.report(
            "reconnecting",
            self.failures,
            f"{said}; resuming run {run_id} after event {index}; retry in {delay:.2f}s",
        )
        leg = self.resume(run_id, index, self.session)

        def go(_: abc.SchedulerBase, __: Any = None) -> None:
            self.attach(leg)

        self.current.disposable = self.scheduler.schedule_relative(delay, go)

    def give_up(self, reason: str | None) -> None:
        """Hand on the last response's end and status; with a ``reason``, the stream fails
        with it (its status says so)."""
        end = self.held_end
        if end is None and self.resumes:  # the last request got no answer: the run's end
            end = EndOfStream(reason=reason or "the response ended")
        if end is not None:
            hand_on(self.observer.on_next, end)
        held = self.held_status
        if held is not None and self.status is not None:
            if reason is not None:
                held = ConnectionStatus("failed", held.attempt, reason, held.at)
            self.status(held)

    def report(self, state: str, attempt: int, reason: str) -> None:
        logger.bind(concern="connection", event=state, run=self.run_id, node=None).warning(
            "connection {state} (attempt {attempt}): {reason}",
            state=state,
            attempt=attempt,
            reason=reason,
        )
        if self.status is not None:
            self.status(ConnectionStatus(state, attempt, reason, _now(self.scheduler)))


def _now(scheduler: abc.SchedulerBase) -> float:
    """Loop time on the loop (as the requests' statuses say it), else the scheduler's."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return scheduler.to_seconds(scheduler.now)


# --- definitions, paused runs, continues ---------------------------------------------------------


async def _json_from(
    target: str,
    what: str,
    token: str | None,
    headers: Mapping[str, str] | None,
    timeout: float,
    params: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON object AgentOS answers at ``target`` (GET, or POST ``form`` when given), or
    :class:`~flowrx.streams.sse.SourceFailed` with one line (``what`` names it)."""
    check_http_url(target)
    sent = {**checked_headers(_with_token(headers, token)), "Accept": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            if form is None:
                answer = await client.get(target, headers=sent, params=params)
            else:
                answer = await client.post(target, headers=sent, params=params, data=form)
    except httpx.HTTPError as exc:
        raise SourceFailed(f"{type(exc).__name__}: {one_line(str(exc)) or 'no detail'}") from None
    if answer.status_code != 200:
        said = one_line(answer.content[:1024].decode("utf-8", "replace"))
        raise SourceFailed(refusal_line(answer.status_code, answer.reason_phrase, said))
    try:
        got = answer.json()
    except ValueError:
        raise SourceFailed(f"{what} is not JSON") from None
    if not isinstance(got, dict):
        raise SourceFailed(f"{what} is not a JSON object")
    return got


async def agentos_definition(
    url: str,
    workflow_id: str,
    *,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> dict[str, Any]:
    """The definition AgentOS at ``url`` serves for ``workflow_id`` (``GET /workflows/{id}``:
    step names, types and nesting, no step ids), for
    :func:`~flowrx.protocols.agno.workflow_graph`. :class:`~flowrx.streams.sse.SourceFailed`
    with one line when it cannot be had (an HTTP error with what the server said, a refused
    connection, a timeout, an answer that is not a JSON object)."""
    target = agentos_runs_url(url, workflow_id).removesuffix("/runs")
    return await _json_from(target, f"the definition of {workflow_id!r}", token, headers, timeout)


async def agentos_cancel(
    url: str,
    component_id: str,
    run_id: str,
    *,
    kind: str = "workflows",
    session_id: str | None = None,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> None:
    """Ask AgentOS to cancel the run ``run_id`` of a workflow (an agent or a team by
    ``kind``): ``POST <url>/<kind>/<component_id>/runs/<run_id>/cancel``. Agno stops the run
    at its next check (a step already running runs to its end); its stream then sends
    ``WorkflowCancelled`` (``RunCancelled``, ``TeamRunCancelled``), which flowrx shows as the
    run ``killed``. ``session_id`` is the run's session (AgentOS asks for it where runs are
    scoped to users). :class:`~flowrx.streams.sse.SourceFailed` with one line when AgentOS
    refuses (an unknown run, a bad key) or cannot be reached."""
    target = agentos_runs_url(url, component_id, kind) + f"/{_quoted(run_id)}/cancel"
    params = {"session_id": session_id} if session_id is not None else None
    what = f"the cancel of run {run_id}"
    await _json_from(target, what, token, headers, timeout, params=params, form={})


async def agentos_paused_requirements(
    url: str,
    workflow_id: str,
    run_id: str,
    *,
    session_id: str,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """The step requirements of the paused workflow run ``run_id`` as AgentOS keeps it
    (``GET /workflows/{id}/runs/{run_id}?session_id=...``): what :func:`agentos_continue`
    answers when no ``WorkflowPaused`` came (a run in the background ends its stream at the
    step's pause without one). :class:`~flowrx.streams.sse.SourceFailed` with one line when
    they cannot be had or the run is not paused."""
    target = agentos_runs_url(url, workflow_id) + f"/{_quoted(run_id)}"
    run = await _json_from(
        target, f"run {run_id}", token, headers, timeout, params={"session_id": session_id}
    )
    requirements = run.get("step_requirements")
    if str(run.get("status", "")).upper() != "PAUSED" or not isinstance(requirements, list):
        raise SourceFailed(f"run {run_id} is not paused (AgentOS says {run.get('status')!r})")
    return [r for r in requirements if isinstance(r, dict)]


_CONTINUE_FIELD: Final = {
    "workflows": "step_requirements",
    "agents": "tools",
    "teams": "requirements",
}


def agentos_continue(
    url: str,
    component_id: str,
    run_id: str,
    requirements: list[dict[str, Any]],
    *,
    session_id: str,
    scheduler: AsyncIOScheduler,
    kind: str = "workflows",
    token: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
    resume: ResumeOptions | None = None,
) -> Observable[Frame]:
    """Continue the paused run ``run_id`` of ``component_id`` (in ``session_id``, where
    AgentOS keeps it) with its requirements answered: ``POST .../runs/{run_id}/continue``,
    streaming; the answer's events as :func:`agentos_run` emits them (the same run: it resumes
    where it paused).

    ``requirements`` are, for a workflow, its step requirements answered by
    :func:`~flowrx.protocols.agno.continue_requirements` (sent as ``step_requirements``); for
    an agent or a team (``kind``), the requirements of its ``RunPaused`` answered by
    :func:`~flowrx.protocols.agno.continue_run_requirements` (an agent's are sent as the
    ``tools`` they wait on, a team's as ``requirements``). With ``resume``, a response that
    breaks off is resumed as :func:`agentos_run` does in the background (an agent's or team's
    continue carries ``event_index``; a workflow's does not, and is never resumed)."""
    target = agentos_runs_url(url, component_id, kind) + f"/{_quoted(run_id)}/continue"
    field = _CONTINUE_FIELD[kind]
    sent: list[Any] = requirements
    if kind == "agents":
        sent = [r["tool_execution"] for r in requirements if isinstance(r, Mapping)]
    try:
        encoded = json.dumps(sent, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the requirements are not JSON: {exc}") from None
    form = _strings({field: encoded, "stream": "true"}, session_id=session_id, user_id=user_id)
    http = _Http.checked(target, scheduler, token, headers, options, stats)
    leg = http.post(target, form, "an AgentOS continue endpoint")
    if resume is None:
        return leg(status)

    def again(run: str, last_event_index: int, session: str | None) -> Leg:
        return _resume_leg(http, url, component_id, run, last_event_index, kind, session)

    return resumable(leg, again, scheduler=scheduler, options=resume, status=status, run_id=run_id)


_PAUSE_EVENT: Final = {
    "workflows": ("WorkflowPaused", "step_requirements"),
    "agents": ("RunPaused", "requirements"),
    "teams": ("TeamRunPaused", "requirements"),
}
"""The event that carries what a continue answers, by kind, and its field."""


@attrs.frozen
class PausedRun:
    """What a continue needs of a paused run, from the frame that paused it (a workflow's
    ``WorkflowPaused``, an agent's ``RunPaused``, a team's ``TeamRunPaused``)."""

    run_id: str
    requirements: list[Any]
    """The requirements to answer (:func:`~flowrx.protocols.agno.continue_requirements` for a
    workflow's step requirements, :func:`~flowrx.protocols.agno.continue_run_requirements`
    for an agent's or a team's)."""
    event_index: int | None = None
    """The pause frame's ``event_index`` (on AgentOS's resumable paths, the WebSocket say):
    the continue leg's events come after it."""


def paused_run(frame: object, kind: str = "workflows") -> PausedRun | None:
    """The paused run a frame pausing a run of ``kind`` names (SSE text, flat JSON or a
    mapping, as :func:`~flowrx.protocols.agno.frame_data` reads them); None for any other
    frame or one without a run id and requirements. An agent's ``RunPaused`` without
    ``requirements`` has its waiting ``tools`` as them."""
    event, key = _PAUSE_EVENT[kind]
    if isinstance(frame, str) and event not in frame:
        return None  # most frames: not parsed twice
    data = frame_data(frame)
    if isinstance(data, str) or data["event"] != event:
        return None
    run_id = data.get("run_id")
    requirements = data.get(key)
    if requirements is None and kind == "agents" and isinstance(data.get("tools"), list):
        requirements = [{"tool_execution": tool} for tool in data["tools"]]
    if not isinstance(run_id, str) or not isinstance(requirements, list):
        return None
    index = data.get("event_index")
    return PausedRun(run_id, requirements, index if type(index) is int else None)


def new_session(session_id: str | None) -> str:
    """``session_id``, or a new one for a conversation (a continue must name its session)."""
    return session_id if session_id is not None else f"flowrx-{uuid.uuid4()}"


_F = TypeVar("_F")
"""What a conversation's legs emit: frames of a transport, or in-process events' dicts."""

_NO_PAUSE_FRAME: Final = "AgentOS sent no WorkflowPaused (with the step requirements) for it"
"""Why a reply waits in vain when its leg ended without the frame that pauses its run."""


def chain_continues(
    first: Observable[_F],
    replies: Observable[Reply],
    follow: Callable[[Reply, PausedRun], Observable[_F]],
    *,
    paused: Callable[[object], PausedRun | None] = paused_run,
    unpaused: Callable[[Reply], Observable[_F] | str] | None = None,
    hold: bool = False,
) -> Observable[_F]:
    """A run and its continues as one stream of frames, whatever carries them: the ``first``
    leg, then, for each :class:`~flowrx.messages.Reply` (``FlowState.replies``: a paused run's
    answers), the leg ``follow(reply, paused run)`` builds (over SSE,
    :func:`agentos_continue`; over the WebSocket, ``agentos_ws_continue``; in process,
    Agno's ``continue_run``).

    ``paused`` finds the frame that pauses a run (AgentOS's ``WorkflowPaused`` carries the
    step requirements). A continue is made once every leg has ended (the paused run is saved
    by then, whatever carries it): a reply given at the step's own pause event waits for that.
    A reply for a run no pause frame named (the pause sent none: a workflow in AgentOS's
    background) has ``unpaused(reply)`` make its leg (one that first fetches what the pause
    asks), or a line saying why it cannot be continued.

    It completes when every leg has ended and no reply waits; with ``hold``, not while a run a
    pause frame named is still unanswered, until ``replies`` completes (a person answering
    later, in a notebook or an app, rather than a policy answering at once). An error of a
    leg ends it; a reply that cannot be continued, with
    :class:`~flowrx.streams.sse.SourceFailed` (one line).

    Marble (``P`` the pause frame, ``R`` a reply, ``E`` EndOfStream)::

        first     -a-P-E|
        replies   ---R------
        continue        -b-c-E|
        output    -a-P-E-b-c-E|
    """

    def subscribe(
        observer: abc.ObserverBase[_F], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        legs = CompositeDisposable()
        running = [0]
        known: dict[str, PausedRun] = {}
        """The latest pause frame of each run not continued yet."""
        waiting: dict[str, Reply] = {}
        """Replies to continue once every leg has ended."""
        ended = [False]
        answered_all = [False]
        """Whether ``replies`` completed: no answer will come any more."""

        def fail_with(error: Exception) -> None:
            if not ended[0]:
                ended[0] = True
                observer.on_error(error)

        def idle() -> None:
            """Every leg has ended: continue what was answered, else end (or hold)."""
            if running[0] > 0 or ended[0]:
                return
            held = list(waiting.values())
            waiting.clear()
            made: list[Observable[_F] | str] = []
            for reply in held:
                found = known.pop(reply.run_id, None)
                if found is not None:
                    made.append(follow(reply, found))
                else:
                    made.append(unpaused(reply) if unpaused else _NO_PAUSE_FRAME)
            for reply, leg in zip(held, made, strict=True):
                if isinstance(leg, str):
                    fail_with(SourceFailed(f"cannot continue run {reply.run_id}: {leg}"))
                    return
            for leg in made:
                if not isinstance(leg, str):
                    start(leg)
            if made or (hold and known and not answered_all[0]):
                return
            ended[0] = True
            observer.on_completed()

        def on_frame(frame: _F) -> None:
            for each in frame if isinstance(frame, list) else [frame]:
                found = paused(each)
                if found is not None:
                    known[found.run_id] = found
            observer.on_next(frame)

        def start(leg: Observable[_F]) -> None:
            running[0] += 1

            def leg_ended() -> None:
                running[0] -= 1
                idle()

            legs.add(leg.subscribe(on_frame, fail_with, leg_ended))

        def on_reply(reply: Reply) -> None:
            waiting[reply.run_id] = reply
            idle()

        def no_more() -> None:
            answered_all[0] = True
            idle()

        start(first)
        legs.add(replies.subscribe(on_reply, fail_with, no_more))
        return legs

    return reactivex.create(subscribe)


def answered_leg(
    reply: Reply,
    requirements: list[Any],
    answer: Callable[[Sequence[Answer], list[Any]], list[dict[str, Any]]],
    leg: Callable[[list[dict[str, Any]]], Observable[_F]],
) -> Observable[_F]:
    """The continue leg ``leg(answered requirements)`` for ``reply``, its answers put into
    ``requirements`` by ``answer``; answers that make no requirements are the leg's one-line
    :class:`~flowrx.streams.sse.SourceFailed`."""
    try:
        return leg(answer(reply.answers, requirements))
    except ValueError as exc:
        return reactivex.throw(SourceFailed(f"cannot continue run {reply.run_id}: {exc}"))


def agentos_conversation(
    url: str,
    component_id: str,
    message: str,
    replies: Observable[Reply],
    *,
    scheduler: AsyncIOScheduler,
    kind: str = "workflows",
    token: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
    background: bool = False,
    resume: ResumeOptions | None = ResumeOptions(),
    hold: bool = False,
) -> Observable[Frame]:
    """A run on AgentOS (a workflow, or an agent or team by ``kind``) and its continues:
    :func:`agentos_run`, then :func:`agentos_continue` for each
    :class:`~flowrx.messages.Reply` (``FlowState.replies``: a paused run's answers), their
    frames in one stream for ``flowrx.connect(..., protocol="agno")``, chained by
    :func:`chain_continues`. The run's session is ``session_id`` or a new one (a continue must
    name it). ``background`` and ``resume`` are :func:`agentos_run`'s (an agent's or team's
    continues are resumed too).

    A continue answers the requirements of the run's latest pause frame: a workflow's
    ``WorkflowPaused`` (``step_requirements``, filled in by
    :func:`~flowrx.protocols.agno.continue_requirements`), an agent's ``RunPaused`` or a
    team's ``TeamRunPaused`` (``requirements``, filled in by
    :func:`~flowrx.protocols.agno.continue_run_requirements`). A workflow leg that ended
    without one (a run in the background sends none) has the requirements fetched from
    AgentOS (:func:`agentos_paused_requirements`); an agent's or team's reply whose leg ended
    without its pause frame ends the stream with :class:`~flowrx.streams.sse.SourceFailed`
    (one line). It completes when no leg runs and no answer waits; with ``hold``, not while a
    run a pause frame named is unanswered, until ``replies`` completes (a person answering
    later; :func:`chain_continues`)."""
    session = new_session(session_id)
    common: dict[str, Any] = {
        "scheduler": scheduler,
        "kind": kind,
        "token": token,
        "user_id": user_id,
        "headers": headers,
        "options": options,
        "status": status,
        "stats": stats,
    }
    first = agentos_run(
        url,
        component_id,
        message,
        session_id=session,
        background=background,
        resume=resume,
        **common,
    )
    answer = continue_requirements if kind == "workflows" else continue_run_requirements
    again = resume if background and kind != "workflows" else None  # (a workflow's: no index)

    def continued(reply: Reply, requirements: list[Any]) -> Observable[Frame]:
        def leg(answered: list[dict[str, Any]]) -> Observable[Frame]:
            return agentos_continue(
                url,
                component_id,
                reply.run_id,
                answered,
                session_id=session,
                resume=again,
                **common,
            )

        return answered_leg(reply, requirements, answer, leg)

    def follow(reply: Reply, paused: PausedRun) -> Observable[Frame]:
        return continued(reply, paused.requirements)

    def unpaused(reply: Reply) -> Observable[Frame] | str:
        if kind != "workflows":
            return f"AgentOS sent no {_PAUSE_EVENT[kind][0]} (with the requirements) for it"

        async def fetch() -> list[dict[str, Any]]:  # no WorkflowPaused: ask for the paused run
            return await agentos_paused_requirements(
                url, component_id, reply.run_id, session_id=session, token=token, headers=headers
            )

        def requested(_: abc.SchedulerBase) -> Observable[list[dict[str, Any]]]:
            return reactivex.from_future(asyncio.get_running_loop().create_task(fetch()))

        def then(got: list[dict[str, Any]]) -> Observable[Frame]:
            return continued(reply, got)

        requirements: Observable[list[dict[str, Any]]] = reactivex.defer(requested)
        return requirements.pipe(ops.flat_map(then))

    return chain_continues(
        first,
        replies,
        follow,
        paused=lambda frame: paused_run(frame, kind),
        unpaused=unpaused,
        hold=hold,
    )


def workflow_conversation(
    workflow: Any,
    first: Iterable[Any] | AsyncIterable[Any],
    replies: Observable[Reply],
    *,
    scheduler: abc.SchedulerBase,
    queue_size: int = 1024,
    burst: int = 1,
    hold: bool = True,
) -> Observable[object]:
    """A workflow run in process and its continues: the events of ``first`` (the stream of
    ``workflow.run(..., stream=True, stream_events=True)``, or ``arun``'s), then, for each
    :class:`~flowrx.messages.Reply` (``FlowState.replies``: a paused run's answers), the
    events of ``workflow.continue_run`` (``acontinue_run`` when ``first`` is async) with the
    paused run's step requirements answered, in one stream for
    ``flowrx.connect(..., protocol="agno")``: what :func:`agentos_conversation` does over
    AgentOS, chained by the same :func:`chain_continues`. Each leg is read as :func:`events`
    reads it, with ``scheduler``, ``queue_size`` and ``burst``.

    In process a pause sends no frame with the requirements (the stream just ends after the
    step's pause event), so a continue is made once the leg that paused has ended (Agno has
    saved the paused run by then: a reply given at the pause event, as
    ``FlowState.answer_pauses`` gives it, waits for that): the paused run is
    ``workflow.get_run_output(run_id, session_id)`` (the session as the run's events name it;
    the workflow needs a ``db``, as Agno's own ``continue_run`` does), its step requirements
    answered by
    :func:`~flowrx.protocols.agno.continue_requirements`. A reply for a run the workflow does
    not hold paused, or answers that make no requirements, end the stream with
    :class:`~flowrx.streams.sse.SourceFailed` (one line); so does a leg that raises.

    With ``hold`` (the default here: in process the host answering is this program, a person
    in a notebook say, who may answer long after the stream paused) the stream stays open
    while a run that paused is unanswered, until an answer comes or ``replies`` completes;
    ``hold=False`` ends it as soon as no leg runs and no answer waits (as
    :func:`agentos_conversation` does by default).

    Marble (``p`` the pause's event, ``R`` the reply, ``E`` EndOfStream)::

        first     -a-p-E|
        replies   ---R------
        continue        -b-c-E|
        output    -a-p-E-b-c-E|
    """
    read: dict[str, Any] = {"scheduler": scheduler, "queue_size": queue_size, "burst": burst}
    leg = events(first, **read)  # the checks of the first leg, before anything is read
    sessions: dict[str, str] = {}
    """The session of each run, as its events name it."""

    def noted(frame: object) -> PausedRun | None:
        """A workflow's pause event names its run (its requirements come from Agno once the
        leg has ended); every event tells the run's session."""
        if not isinstance(frame, Mapping):
            return None
        run_id, session = frame.get("run_id"), frame.get("session_id")
        if not isinstance(run_id, str):
            return None
        if isinstance(session, str):
            sessions.setdefault(run_id, session)
        return PausedRun(run_id, []) if frame.get("event") in PAUSE_EVENTS else None

    def unpaused(reply: Reply) -> Observable[object] | str:
        session = sessions.get(reply.run_id)
        try:
            paused = workflow.get_run_output(run_id=reply.run_id, session_id=session)
        except Exception as exc:  # Agno's: no db, a storage error
            return f"the workflow cannot give the paused run: {_raised(exc)}"
        if paused is None or not getattr(paused, "is_paused", False):
            return "the workflow holds no paused run of that id"
        held = list(paused.step_requirements or ())

        def continued(answered: list[dict[str, Any]]) -> Observable[object]:
            requirements = [
                type(was).from_dict(now) for was, now in zip(held, answered, strict=True)
            ]
            again = (
                workflow.acontinue_run
                if isinstance(first, AsyncIterable)
                else (workflow.continue_run)
            )
            return events(
                again(
                    run_id=reply.run_id,
                    session_id=session,
                    step_requirements=requirements,
                    stream=True,
                    stream_events=True,
                ),
                **read,
            )

        return answered_leg(reply, [r.to_dict() for r in held], continue_requirements, continued)

    def follow(reply: Reply, _: PausedRun) -> Observable[object]:
        made = unpaused(reply)  # the requirements are Agno's paused run's, in either case
        if isinstance(made, str):
            return reactivex.throw(SourceFailed(f"cannot continue run {reply.run_id}: {made}"))
        return made

    return chain_continues(leg, replies, follow, paused=noted, unpaused=unpaused, hold=hold)
