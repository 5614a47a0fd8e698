"""A run in AgentOS's background survives a dropped connection: ``agentos_run(...,
background=True)`` resumes it by ``event_index`` (``POST .../runs/{run_id}/resume``).

The network tests run a real AgentOS (``tests/agentos_server.py``) behind a real TCP relay
(``helpers.Relay``, 127.0.0.1, port 0) that cuts the first connection after some bytes of
the answer: an honest drop, mid-body. ``wf-gated`` waits at its ``hold`` step until the test
lets it through, so a run is still running while its stream is resumed; otherwise the relay
reads the whole answer before it cuts, so the run is over by then. Nothing sleeps: the tests
wait on conditions (a future, a status) with a generous timeout. The resume rules themselves
(backoff, bounded attempts, statuses, what is handed on) are marbles in virtual time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import agno_workflows as wf
import attrs
import pytest
import reactivex
from agentos_server import TOKEN, AgentOSServer
from agentos_watch import PATIENCE, SECTIONS, Watched, watch
from helpers import Relay
from reactivex import Observable, abc
from reactivex.disposable import Disposable
from reactivex.scheduler.eventloop import AsyncIOScheduler

from flowrx import VirtualClock
from flowrx.messages import EndOfStream
from flowrx.streams.agno import Leg, ResumeOptions, Status, agentos_run, resumable
from flowrx.streams.sse import Frame, SourceFailed
from flowrx.streams.websocket import Backoff, ConnectionStatus

pytestmark = pytest.mark.timeout(2 * PATIENCE)

QUICK = ResumeOptions(attempts=3, backoff=Backoff(initial=0.01, factor=2.0, jitter=0.0))
"""Resume after 10 ms (real time: the network tests' loop), at most three times in a row."""


@pytest.fixture(scope="module")
def server() -> Iterator[AgentOSServer]:
    """One real AgentOS for the module's network tests."""
    with AgentOSServer(patience=PATIENCE) as served:
        yield served


def _watch(
    url: str,
    workflow_id: str,
    *,
    on_status: Callable[[ConnectionStatus], object] = lambda _: None,
    **options: Any,
) -> Watched:
    """Run ``workflow_id`` on the AgentOS at ``url`` and watch it into ``connect``; every
    status also goes to ``on_status``."""

    def source(
        scheduler: AsyncIOScheduler, status: Callable[[ConnectionStatus], None], _: Any
    ) -> Observable[Frame]:
        def both(given: ConnectionStatus) -> None:
            status(given)
            on_status(given)

        prompt = wf.PROMPTS.get(workflow_id, "go")
        return agentos_run(
            url, workflow_id, prompt, scheduler=scheduler, token=TOKEN, status=both, **options
        )

    return watch(source)


def _indexes(items: list[Any]) -> list[int | None]:
    """The ``event_index`` of every frame handed on (None for a frame without one)."""
    out: list[int | None] = []
    for item in items:
        for frame in item if isinstance(item, list) else [item]:
            if isinstance(frame, str):
                out.append(json.loads(frame.split("data: ", 1)[1]).get("event_index"))
    return out


def _same_run(dropped: Watched, whole: Watched) -> None:
    """Both ended cleanly with the same sections and run outcome; every frame counted once;
    every event of the whole run was handed on."""
    assert dropped.error is None
    assert whole.error is None
    diag = dropped.snap["diagnostics"]
    assert (diag["rejected"], diag["violations"], diag["unknown"]) == (0, 0, 0)
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["duplicates"]
    for section in SECTIONS:
        assert list(dropped.snap[section].values()) == list(whole.snap[section].values()), section
    (run,) = dropped.snap["lifecycle"]["runs"].values()
    (reference,) = whole.snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == (reference["status"], reference["resumes"])
    events = {i for i in _indexes(dropped.items) if i is not None}
    assert events == set(range(len(_indexes(whole.items))))
    assert [i for i in dropped.items if isinstance(i, EndOfStream)] == [
        EndOfStream(reason="the response ended")
    ]


def test_a_background_run_cut_while_it_runs_is_resumed_and_goes_on_live(
    server: AgentOSServer,
) -> None:
    """``wf-gated`` in the background, its connection cut after 900 bytes while the run
    waits at ``hold``: the source resumes after the last event it handed on, AgentOS answers
    ``catch_up`` with the missed events and ``subscribed``, and the rest of the run comes
    live once the test lets ``hold`` through; the run is the same as one never cut."""
    server.turnstile.release()
    whole = _watch(server.url, "wf-gated", background=True)
    opened = []

    def on_status(status: ConnectionStatus) -> None:
        if status.state == "open":
            opened.append(status)
            if len(opened) == 2:  # the resume is answered: let the run go on
                server.turnstile.release()

    with Relay(server.url, {0: 900}, patience=PATIENCE) as relay:
        dropped = _watch(relay.url, "wf-gated", background=True, resume=QUICK, on_status=on_status)
        assert (relay.cut, relay.connections) == (1, 2)
    _same_run(dropped, whole)
    assert dropped.snap["diagnostics"]["heartbeats"] == 2  # catch_up, subscribed
    states = [s.state for s in dropped.statuses]
    assert states == ["connecting", "open", "reconnecting", "connecting", "open", "closed"]
    (reconnecting,) = [s for s in dropped.statuses if s.state == "reconnecting"]
    assert reconnecting.attempt == 1
    assert reconnecting.reason is not None
    assert reconnecting.reason.startswith("the response broke off: RemoteProtocolError")
    assert "; retry in 0.01s" in reconnecting.reason
    names = [i.split("\n", 1)[0] for i in dropped.items if isinstance(i, str)]
    assert "event: catch_up" in names
    assert names.index("event: subscribed") < names.index("event: WorkflowCompleted")


def test_a_background_run_cut_after_its_end_is_replayed_from_the_last_event(
    server: AgentOSServer,
) -> None:
    """``wf-loop-parallel`` in the background, the answer cut after 6000 bytes once the run
    is over: the resume's ``replay`` brings exactly the events missed, by their original
    ``event_index``, and the run is the same as one never cut."""
    whole = _watch(server.url, "wf-loop-parallel", background=True)
    with Relay(server.url, {0: 6000}, drain=True, patience=PATIENCE) as relay:
        dropped = _watch(relay.url, "wf-loop-parallel", background=True, resume=QUICK)
        assert (relay.cut, relay.connections) == (1, 2)
    _same_run(dropped, whole)
    diag = dropped.snap["diagnostics"]
    assert (diag["heartbeats"], diag["duplicates"]) == (1, 0)  # replay
    indexes = [i for i in _indexes(dropped.items) if i is not None]
    assert indexes == sorted(indexes)
    assert len(indexes) == len(set(indexes))


def test_a_run_not_in_the_background_is_not_resumed(server: AgentOSServer) -> None:
    """Without ``background`` the frames carry no ``event_index``: a cut body fails the
    source with one line, as before, and the run is left paused at the end of its stream."""
    with Relay(server.url, {0: 900}, drain=True, patience=PATIENCE) as relay:
        cut = _watch(relay.url, "wf-sequential", resume=QUICK)
        assert relay.connections == 1
    assert isinstance(cut.error, SourceFailed)
    assert cut.error.reason.startswith("the response broke off: RemoteProtocolError")
    assert [s.state for s in cut.statuses] == ["connecting", "open", "failed"]
    (run,) = cut.snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"


# --- the rules, in virtual time ------------------------------------------------------------------


def _frame(event: str, index: int | None = None, run: str = "r1", **data: Any) -> str:
    body = {"event": event, "run_id": run, "session_id": "s1", **data}
    if index is not None:
        body["event_index"] = index
    return f"event: {event}\ndata: {json.dumps(body)}"


Made = Callable[[VirtualClock, list[float]], Leg]
"""A request of the virtual tests, made on a clock (see :func:`_leg`)."""


def _leg(frames: list[str], failure: str | None, opens: bool = True) -> Made:
    """A request in virtual time: ``connecting``, then (``opens``) ``open``, the frames and
    the EndOfStream; then ``failed`` and the failure, or ``closed`` and the end. Made on a
    clock, with a list that gets the virtual time of each subscription."""

    def made(clock: VirtualClock, starts: list[float]) -> Leg:
        def leg(status: Status) -> Observable[Frame]:
            def subscribe(
                observer: abc.ObserverBase[Frame], _: abc.SchedulerBase | None = None
            ) -> abc.DisposableBase:
                starts.append(clock.seconds)
                report = status or (lambda _: None)
                report(ConnectionStatus("connecting"))
                if opens:
                    report(ConnectionStatus("open"))
                    for frame in frames:
                        observer.on_next(frame)
                    observer.on_next(EndOfStream(reason=failure or "the response ended"))
                if failure is None:
                    report(ConnectionStatus("closed", reason="the response ended"))
                    observer.on_completed()
                else:
                    report(ConnectionStatus("failed", reason=failure))
                    observer.on_error(SourceFailed(failure))
                return Disposable()

            return reactivex.create(subscribe)

        return leg

    return made


@attrs.define
class Resumed:
    """What :func:`resumable` did on a virtual clock: the items (an error as ``("error",
    reason)``, completion as ``"|"``), statuses, resume calls and each resume's start."""

    items: list[Any]
    statuses: list[ConnectionStatus]
    calls: list[tuple[str, int, str | None]]
    starts: list[float]


def _resumed(first: Made, *again: Made, options: ResumeOptions) -> Resumed:
    """``resumable`` over ``first`` and then, one by one, the ``again`` requests (the last
    one as often as asked for), on a virtual clock run to its end."""
    clock = VirtualClock()
    done = Resumed([], [], [], [])
    bodies = list(again)

    def resume(run_id: str, index: int, session: str | None) -> Leg:
        done.calls.append((run_id, index, session))
        made = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return made(clock, done.starts)

    resumable(
        first(clock, []), resume, scheduler=clock, options=options, status=done.statuses.append
    ).subscribe(
        done.items.append,
        lambda e: done.items.append(("error", str(e))),
        lambda: done.items.append("|"),
    )
    clock.run()
    return done


BACKOFF = ResumeOptions(attempts=3, backoff=Backoff(initial=1.0, factor=2.0, jitter=0.0))


def test_resumes_wait_the_backoff_and_stop_after_the_attempts_allowed() -> None:
    """A body cut after event 1, then resumes that never get an answer: resumed after 1, 2
    and 4 virtual seconds (``reconnecting`` 1..3, from event 1, each with its wait), then the
    stream fails with the last reason and the count, after one EndOfStream."""
    first = [_frame("WorkflowStarted", 0, nested_depth=0), _frame("StepStarted", 1)]
    done = _resumed(
        _leg(first, "the response broke off: cut"),
        _leg([], "ConnectError: refused", opens=False),
        options=BACKOFF,
    )
    assert done.calls == [("r1", 1, "s1")] * 3
    assert done.starts == [1.0, 3.0, 7.0]
    reconnecting = [s for s in done.statuses if s.state == "reconnecting"]
    assert [s.attempt for s in reconnecting] == [1, 2, 3]
    assert [s.reason for s in reconnecting] == [
        "the response broke off: cut; resuming run r1 after event 1; retry in 1.00s",
        "ConnectError: refused; resuming run r1 after event 1; retry in 2.00s",
        "ConnectError: refused; resuming run r1 after event 1; retry in 4.00s",
    ]
    assert [s.at for s in reconnecting] == [0.0, 1.0, 3.0]
    reason = "ConnectError: refused (after 3 resumes)"
    assert done.items == [*first, EndOfStream(reason=reason), ("error", reason)]
    assert done.statuses[-1] == ConnectionStatus("failed", 0, reason)


def test_a_resume_that_brings_events_starts_the_count_again_and_ends_the_stream() -> None:
    """Cut twice, each resume bringing new events (its header a heartbeat for the decoder):
    each resume waits as a first one (1 s), the second starts after the last event handed
    on, and the stream completes with the last body's EndOfStream only."""
    first = [_frame("WorkflowStarted", 0, nested_depth=0)]
    second = [_frame("catch_up", status="running"), _frame("StepStarted", 1)]
    third = [_frame("replay", status="COMPLETED"), _frame("WorkflowCompleted", 2, nested_depth=0)]
    done = _resumed(
        _leg(first, "the response broke off: cut"),
        _leg(second, "the response broke off: again"),
        _leg(third, None),
        options=BACKOFF,
    )
    assert done.calls == [("r1", 0, "s1"), ("r1", 1, "s1")]
    assert done.starts == [1.0, 2.0]
    assert [s.attempt for s in done.statuses if s.state == "reconnecting"] == [1, 1]
    assert done.items == [*first, *second, *third, EndOfStream(reason="the response ended"), "|"]
    assert [s.state for s in done.statuses][-1] == "closed"


@pytest.mark.parametrize(
    ("first", "failure"),
    [
        ([_frame("StepStarted")], "the response broke off: cut"),
        ([_frame("WorkflowStarted", 0, nested_depth=0), _frame("StepPaused", 1)], None),
        (
            [_frame("WorkflowStarted", 0, nested_depth=0), _frame("WorkflowCompleted", 1)],
            "the response broke off: cut",
        ),
        ([_frame("WorkflowStarted", 0, nested_depth=0)], "HTTP 404 Not Found"),
    ],
    ids=["no-event-index", "paused", "ended", "refused"],
)
def test_a_response_is_not_resumed_without_event_index_or_once_the_run_is_settled(
    first: list[str], failure: str | None
) -> None:
    """Frames without ``event_index``, a run that paused or ended, a 4xx answer: the stream
    ends as the response did (its EndOfStream, its status, its failure), never resumed."""
    done = _resumed(_leg(first, failure), _leg([], None), options=BACKOFF)
    assert done.calls == []
    end = EndOfStream(reason=failure or "the response ended")
    assert done.items == [*first, end, "|" if failure is None else ("error", failure)]
    assert [s.state for s in done.statuses] == [
        "connecting",
        "open",
        "closed" if failure is None else "failed",
    ]


def test_a_replay_that_breaks_off_is_resumed_again_and_a_whole_one_ends_the_stream() -> None:
    """A resume answered with ``replay`` (the run is over) that breaks off after event 1 is
    resumed from there; the next replay, whole, ends the stream though the run's own end
    never came (a run whose terminal AgentOS did not keep)."""
    first = [_frame("WorkflowStarted", 0, nested_depth=0)]
    cut = [_frame("replay", status="COMPLETED"), _frame("StepStarted", 1)]
    rest = [_frame("replay", status="COMPLETED"), _frame("StepCompleted", 2)]
    done = _resumed(
        _leg(first, "the response broke off: cut"),
        _leg(cut, "the response broke off: again"),
        _leg(rest, None),
        options=BACKOFF,
    )
    assert done.calls == [("r1", 0, "s1"), ("r1", 1, "s1")]
    assert done.items == [*first, *cut, *rest, EndOfStream(reason="the response ended"), "|"]


def test_an_error_frame_of_a_resume_ends_the_stream_at_once() -> None:
    """AgentOS answers the resume of a run it no longer has with an ``error`` frame: no more
    resumes; the stream fails with what AgentOS said."""
    first = [_frame("RunStarted", 0)]
    said = _frame("error", error="Run r1 not found in buffer or database")
    done = _resumed(_leg(first, "the response broke off: cut"), _leg([said], None), options=BACKOFF)
    assert len(done.calls) == 1
    reason = "Run r1 not found in buffer or database (after 1 resume)"
    assert done.items == [*first, said, EndOfStream(reason="the response ended"), ("error", reason)]
    assert done.statuses[-1] == ConnectionStatus("failed", 0, reason)


def test_attempts_zero_never_resumes() -> None:
    """``ResumeOptions(attempts=0)``: a cut body ends the stream as it failed."""
    first = [_frame("RunStarted", 0)]
    done = _resumed(
        _leg(first, "the response broke off: cut"),
        _leg([], None),
        options=ResumeOptions(attempts=0),
    )
    assert done.calls == []
    assert done.items[-1] == ("error", "the response broke off: cut")
