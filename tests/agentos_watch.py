"""Watching Agno runs in the tests: a source (AgentOS over SSE or its WebSocket, or a workflow
run in process) into ``connect(..., protocol="agno")``, settled, and what came of it.

Real I/O runs on asyncio; the pipeline's timers run on a virtual clock that is run once the
stream has ended, so the display windows settle without waiting. Nothing sleeps: a test's
own actions while a run goes on (``during``) wait on events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import agno_workflows as wf
import attrs
import pytest
from agentos_server import TOKEN
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.messages import Reply
from flowrx.streams.agno import events
from flowrx.streams.websocket import ConnectionStatus

__all__ = [
    "ANSWERED_PAUSES",
    "PATIENCE",
    "SECTIONS",
    "Watched",
    "clean",
    "continued_once",
    "converse",
    "in_process",
    "same_sections",
    "watch",
    "watch_run",
]

PATIENCE = 300.0
"""How long a test waits for a condition before calling it a hang (a guard, not a measure)."""

SECTIONS = ("store", "group", "chat", "interaction")
"""The snapshot's sections that say what a run showed, keyed by run id (compared by value)."""

ANSWERED_PAUSES = [
    pytest.param(
        "wf-confirm",
        True,
        [("gather", "success"), ("delete", "success"), ("report", "success")],
        id="confirm-yes",
    ),
    pytest.param(
        "wf-confirm",
        {"approved": False},
        [("gather", "success"), ("report", "success")],
        id="confirm-no",
    ),
    pytest.param(
        "wf-executor-pause",
        True,
        [("gather", "success"), ("mail", "success"), ("report", "success")],
        id="tool-confirm",
    ),
    pytest.param(
        "wf-router-pause",
        "slow",
        [("lane", "success"), ("slow", "success"), ("report", "success")],
        id="route-slow",
    ),
]
"""Paused workflows, the host's answer and the badges the continued run ends with (a refused
step is skipped, Agno's ``on_reject`` default; a chosen route runs): ``workflow_id, payload,
badges`` for ``pytest.mark.parametrize``."""

Make = Callable[[AsyncIOScheduler, Callable[[ConnectionStatus], object], Subject[Reply]], Any]
"""Builds the source: ``(scheduler, status callback, the host's replies) -> observable``."""


@attrs.define
class Watched:
    """One run watched: the settled snapshot, the source's items, statuses and error."""

    snap: dict[str, Any]
    items: list[Any]
    statuses: list[ConnectionStatus]
    error: BaseException | None


def watch(
    make: Make,
    *,
    decide: Callable[[Any], Any] | None = None,
    during: Callable[[], Awaitable[None]] | None = None,
) -> Watched:
    """Watch the source ``make`` builds into ``connect`` until it ends, answering each pause
    with ``decide(item)`` when given (``FlowState.answer_pauses`` → ``replies``), running
    ``during()`` beside it (a test's own part, finished before the result is taken)."""

    async def body() -> Watched:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        ended: asyncio.Future[BaseException | None] = loop.create_future()
        items: list[Any] = []
        statuses: list[ConnectionStatus] = []
        replies: Subject[Reply] = Subject()
        source: Observable[Any] = make(AsyncIOScheduler(loop), statuses.append, replies)
        state, _ = connect(
            source.pipe(
                ops.do_action(items.append, ended.set_result, lambda: ended.set_result(None))
            ),
            scheduler=clock,
            protocol="agno",
        )
        if decide is not None:
            state.answer_pauses(decide)
        state.replies.subscribe(replies.on_next)
        acting = asyncio.ensure_future(during()) if during is not None else None
        error = await asyncio.wait_for(ended, PATIENCE)
        if acting is not None:
            await asyncio.wait_for(acting, PATIENCE)
        clock.run()
        return Watched(state.snapshot(), items, statuses, error)

    return asyncio.run(body())


def watch_run(
    source: Callable[..., Any],
    url: str,
    workflow_id: str,
    *,
    during: Callable[[], Awaitable[None]] | None = None,
    **options: Any,
) -> Watched:
    """Run ``workflow_id`` (an agent or team with ``kind=`` over SSE) on the AgentOS at
    ``url`` through ``source`` (``agentos_run``, ``agentos_ws_run``) with its usual prompt,
    the test key unless ``token`` says otherwise, and the ``options`` given; watched."""
    options.setdefault("token", TOKEN)
    return watch(
        lambda scheduler, status, _: source(
            url,
            workflow_id,
            wf.PROMPTS.get(workflow_id, "go"),
            scheduler=scheduler,
            status=status,
            **options,
        ),
        during=during,
    )


def converse(
    conversation: Callable[..., Any],
    url: str,
    component_id: str,
    decide: Callable[[Any], Any],
    **options: Any,
) -> Watched:
    """Run ``component_id`` (a workflow; an agent or team with ``kind=`` over SSE) as a
    conversation (``agentos_conversation``, ``agentos_ws_conversation``) with the
    ``options`` given: each pause answered with ``decide(item)`` and continued
    (``FlowState.answer_pauses`` → ``replies`` → the conversation's continue)."""
    return watch(
        lambda scheduler, status, replies: conversation(
            url,
            component_id,
            wf.PROMPTS.get(component_id, "go"),
            replies,
            scheduler=scheduler,
            token=TOKEN,
            status=status,
            **options,
        ),
        decide=decide,
    )


def continued_once(watched: Watched, badges: list[tuple[str, str]]) -> None:
    """The conversation ended well: clean, one run resumed once and ended success, its one
    item resolved, the badges ``(handle, status)`` in order."""
    assert watched.error is None
    clean(watched.snap)
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert watched.snap["interaction"] == {"pending": [], "resolved": 1}
    (records,) = watched.snap["store"].values()
    assert [(r["handle"], r["status"]) for r in records] == badges


def in_process(workflow_id: str) -> dict[str, Any]:
    """The workflow run in process by ``arun`` (as AgentOS runs it), settled."""
    return watch(
        lambda scheduler, _, __: events(
            wf.FACTORIES[workflow_id]().arun(
                wf.PROMPTS[workflow_id], stream=True, stream_events=True
            ),
            scheduler=scheduler,
        )
    ).snap


def clean(snap: dict[str, Any]) -> None:
    """Nothing rejected, unknown or violated, no concern failed, every frame counted once."""
    diag = snap["diagnostics"]
    assert (diag["rejected"], diag["violations"], diag["unknown"]) == (0, 0, 0)
    assert not any(diag["failed"].values())
    assert diag["frames"] == diag["messages"] + diag["heartbeats"] + diag["duplicates"]


def same_sections(one: dict[str, Any], other: dict[str, Any]) -> None:
    """The same badges, groups, chat and interactions up to the run ids, and the same run
    outcomes."""
    for section in SECTIONS:
        assert list(one[section].values()) == list(other[section].values()), section
    assert [r["status"] for r in one["lifecycle"]["runs"].values()] == [
        r["status"] for r in other["lifecycle"]["runs"].values()
    ]
