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
:func:`agentos_continue` continues a paused workflow run with answered step requirements
(``POST /workflows/{id}/runs/{run_id}/continue``), and :func:`agentos_conversation` chains
the continues the host's answers ask for (``FlowState.replies``) after the first run, as
:func:`~flowrx.streams.sse.agui_conversation` does for AG-UI. The chaining itself,
:func:`chain_continues`, does not care what carries the legs: AgentOS's WebSocket
(:mod:`flowrx.streams.agentos_ws`) chains its own legs with it.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from typing import Any

import attrs
import httpx
import reactivex
from loguru import logger
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx._text import one_line
from flowrx.messages import EndOfStream, Reply
from flowrx.protocols.agno import continue_requirements, frame_data
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
from flowrx.streams.websocket import ConnectionStatus, hand_on

__all__ = [
    "AGENTOS_KINDS",
    "PausedRun",
    "agentos_continue",
    "agentos_conversation",
    "agentos_definition",
    "agentos_run",
    "agentos_runs_url",
    "chain_continues",
    "events",
    "frame_of",
    "new_session",
    "paused_run",
    "sse_text",
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
) -> Observable[Frame]:
    """One run on the AgentOS at ``url`` (its root): POST ``message`` to
    ``<url>/<kind>/<component_id>/runs`` as form data with ``stream=true`` (and the
    ``session_id``/``user_id`` given) on subscription; emit each event's SSE text
    (:func:`sse_text`), then ``EndOfStream``, on ``scheduler``'s loop (see the module).

    ``token`` is AgentOS's security key or a JWT, sent as ``Authorization: Bearer <token>``
    (over any ``Authorization`` in ``headers``). ``status``, ``stats`` and ``options`` are
    those of :func:`flowrx.streams.sse.sse_post`. Each subscription starts its own run.
    """
    target = agentos_runs_url(url, component_id, kind)
    if not isinstance(message, str):
        raise ValueError(f"the message must be a string, not {type(message).__name__}")
    form = {"message": message, "stream": "true"}
    for name, value in (("session_id", session_id), ("user_id", user_id)):
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {type(value).__name__}")
            form[name] = value
    sent = {
        k: v for k, v in (headers or {}).items() if not (token and k.lower() == "authorization")
    }
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return sse_post(
        target,
        urllib.parse.urlencode(form).encode(),
        "application/x-www-form-urlencoded",
        scheduler=scheduler,
        headers=sent,
        options=options,
        status=status,
        stats=stats,
        frame=sse_text,
        endpoint="an AgentOS run endpoint",
    )


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
    check_http_url(target)
    sent = {
        k: v for k, v in (headers or {}).items() if not (token and k.lower() == "authorization")
    }
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent = {**checked_headers(sent), "Accept": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            answer = await client.get(target, headers=sent)
    except httpx.HTTPError as exc:
        raise SourceFailed(f"{type(exc).__name__}: {one_line(str(exc)) or 'no detail'}") from None
    if answer.status_code != 200:
        said = one_line(answer.content[:1024].decode("utf-8", "replace"))
        raise SourceFailed(refusal_line(answer.status_code, answer.reason_phrase, said))
    try:
        definition = answer.json()
    except ValueError:
        raise SourceFailed(f"the definition of {workflow_id!r} is not JSON") from None
    if not isinstance(definition, dict):
        raise SourceFailed(f"the definition of {workflow_id!r} is not a JSON object")
    return definition


def agentos_continue(
    url: str,
    workflow_id: str,
    run_id: str,
    step_requirements: list[dict[str, Any]],
    *,
    session_id: str,
    scheduler: AsyncIOScheduler,
    token: str | None = None,
    user_id: str | None = None,
    headers: Mapping[str, str] | None = None,
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
) -> Observable[Frame]:
    """Continue the paused run ``run_id`` of ``workflow_id`` (in ``session_id``, where AgentOS
    keeps it) with ``step_requirements`` answered
    (:func:`~flowrx.protocols.agno.continue_requirements`): POST them as AgentOS's form data,
    streaming; the answer's events as :func:`agentos_run` emits them (the same run: it resumes
    where it paused)."""
    target = agentos_runs_url(url, workflow_id) + f"/{urllib.parse.quote(run_id, safe='')}/continue"
    try:
        encoded = json.dumps(step_requirements, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the step requirements are not JSON: {exc}") from None
    form = {"step_requirements": encoded, "session_id": session_id, "stream": "true"}
    if user_id is not None:
        form["user_id"] = user_id
    return sse_post(
        target,
        urllib.parse.urlencode(form).encode(),
        "application/x-www-form-urlencoded",
        scheduler=scheduler,
        headers=_with_token(headers, token),
        options=options,
        status=status,
        stats=stats,
        frame=sse_text,
        endpoint="an AgentOS continue endpoint",
    )


def _with_token(headers: Mapping[str, str] | None, token: str | None) -> dict[str, str]:
    sent = {
        k: v for k, v in (headers or {}).items() if not (token and k.lower() == "authorization")
    }
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return sent


@attrs.frozen
class PausedRun:
    """What a continue needs of a paused AgentOS workflow run, from its ``WorkflowPaused``."""

    run_id: str
    step_requirements: list[Any]
    """The requirements to answer (:func:`~flowrx.protocols.agno.continue_requirements`)."""
    event_index: int | None = None
    """The ``WorkflowPaused``'s ``event_index`` (on AgentOS's resumable paths, the WebSocket
    say): the continue leg's events come after it."""


def paused_run(frame: object) -> PausedRun | None:
    """The paused run an AgentOS ``WorkflowPaused`` frame names (SSE text, flat JSON or a
    mapping, as :func:`~flowrx.protocols.agno.frame_data` reads them); None for any other
    frame or one without a run id and step requirements."""
    if isinstance(frame, str) and "WorkflowPaused" not in frame:
        return None  # most frames: not parsed twice
    data = frame_data(frame)
    if isinstance(data, str) or data["event"] != "WorkflowPaused":
        return None
    run_id = data.get("run_id")
    requirements = data.get("step_requirements")
    if not isinstance(run_id, str) or not isinstance(requirements, list):
        return None
    index = data.get("event_index")
    return PausedRun(run_id, requirements, index if type(index) is int else None)


def new_session(session_id: str | None) -> str:
    """``session_id``, or a new one for a conversation (a continue must name its session)."""
    return session_id if session_id is not None else f"flowrx-{uuid.uuid4()}"


def chain_continues(
    first: Observable[Frame],
    replies: Observable[Reply],
    follow: Callable[[PausedRun, list[dict[str, Any]]], Observable[Frame]],
) -> Observable[Frame]:
    """A workflow run and its continues as one stream of frames, whatever carries them: the
    ``first`` leg, then, for each :class:`~flowrx.messages.Reply` (``FlowState.replies``: a
    paused run's answers), the leg ``follow(paused run, answered requirements)`` builds (over
    SSE, :func:`agentos_continue`; over the WebSocket, ``agentos_ws_continue``).

    A continue is sent once AgentOS's ``WorkflowPaused`` of that run has come (it carries the
    step requirements, and AgentOS sends it once the paused run is saved): a reply given at
    the step's own pause event waits for it. The requirements are those of the latest
    ``WorkflowPaused``, the answers filled in by
    :func:`~flowrx.protocols.agno.continue_requirements`. It completes when every leg it
    started has ended and no reply waits; an error of a leg, answers that make no
    requirements, or a reply whose leg ended without a ``WorkflowPaused`` end it with
    :class:`~flowrx.streams.sse.SourceFailed` (one line)."""

    def subscribe(
        observer: abc.ObserverBase[Frame], _: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        legs = CompositeDisposable()
        running = [0]
        known: dict[str, PausedRun] = {}
        """The latest WorkflowPaused of each run."""
        waiting: dict[str, Reply] = {}
        """Replies for runs whose WorkflowPaused has not come yet."""
        ended = [False]

        def fail(reason: str) -> None:
            if not ended[0]:
                ended[0] = True
                observer.on_error(SourceFailed(reason))

        def send(reply: Reply) -> None:
            paused = known.pop(reply.run_id)
            try:
                answered = continue_requirements(reply.answers, paused.step_requirements)
                leg = follow(paused, answered)
            except ValueError as exc:
                fail(f"cannot continue run {reply.run_id}: {exc}")
                return
            start(leg)

        def on_frame(frame: Frame) -> None:
            for each in frame if isinstance(frame, list) else [frame]:
                paused = paused_run(each)
                if paused is not None:
                    known[paused.run_id] = paused
            observer.on_next(frame)
            for run_id in [r for r in waiting if r in known]:
                send(waiting.pop(run_id))

        def start(leg: Observable[Frame]) -> None:
            running[0] += 1

            def leg_ended() -> None:
                running[0] -= 1
                if running[0] > 0 or ended[0]:
                    return
                if waiting:
                    fail(
                        f"cannot continue run {next(iter(waiting))}: AgentOS sent no "
                        "WorkflowPaused (with the step requirements) for it"
                    )
                    return
                ended[0] = True
                observer.on_completed()

            legs.add(leg.subscribe(on_frame, lambda e: fail_with(e), leg_ended))

        def fail_with(error: Exception) -> None:
            if not ended[0]:
                ended[0] = True
                observer.on_error(error)

        def on_reply(reply: Reply) -> None:
            if reply.run_id in known:
                send(reply)
            else:
                waiting[reply.run_id] = reply

        legs.add(replies.subscribe(on_reply, fail_with))
        start(first)
        return legs

    return reactivex.create(subscribe)


def agentos_conversation(
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
    options: SSEOptions = SSEOptions(),
    status: Callable[[ConnectionStatus], object] | None = None,
    stats: SSEStats | None = None,
) -> Observable[Frame]:
    """A workflow run on AgentOS over SSE and its continues: :func:`agentos_run`, then
    :func:`agentos_continue` for each :class:`~flowrx.messages.Reply` (``FlowState.replies``:
    a paused run's answers), their frames in one stream for
    ``flowrx.connect(..., protocol="agno")``, chained by :func:`chain_continues` (when a
    continue is sent, when it ends, how it fails). The run's session is ``session_id`` or a
    new one (a continue must name it)."""
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
    first = agentos_run(url, workflow_id, message, session_id=session, **common)

    def follow(paused: PausedRun, answered: list[dict[str, Any]]) -> Observable[Frame]:
        return agentos_continue(
            url, workflow_id, paused.run_id, answered, session_id=session, **common
        )

    return chain_continues(first, replies, follow)
