"""A real AgentOS for the tests: the workflows of ``agno_workflows`` (and its weather agent
and content team, alone) served by Agno's own FastAPI app (``agno.os.AgentOS``) under uvicorn
on 127.0.0.1, port 0.

Its routes are AgentOS's: ``POST /workflows/{id}/runs`` (form data: ``message``, ``stream``,
``session_id``, ...) answers with SSE (``event: <Name>`` / ``data: <to_dict() as JSON>``),
``GET /workflows/{id}`` serves a definition, ``.../runs/{run_id}/continue``, ``/resume`` and
``/cancel`` act on a run, and so on. Every workflow, the agents that pause and the teams have
a database, so AgentOS can run them in the background (``background=true``) and keep a
paused run to continue. Every request must carry ``Authorization: Bearer TOKEN``
(AgentOS's ``OS_SECURITY_KEY``, as in the samples' captures). It runs on its own loop in a
daemon thread (:class:`helpers.LoopThread`), so every task on a test's loop is the client's.
AgentOS copies a workflow for each request and gives its steps fresh step ids (the reason
flowrx's node ids do not use them). Telemetry is off. :func:`watch` runs a source against it
into ``connect``, as the tests do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import attrs
from agno.db.in_memory import InMemoryDb
from agno.os import AgentOS
from agno.os.settings import AgnoAPISettings
from agno_workflows import (
    FACTORIES,
    archive_agent,
    ask_input,
    content_team,
    gated,
    mail_team,
    mailer_agent,
    shell_agent,
    weather_agent,
)
from helpers import LoopThread, serve_asgi
from reactivex import Observable
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.messages import Reply
from flowrx.streams.sse import Frame
from flowrx.streams.websocket import ConnectionStatus

__all__ = ["TOKEN", "AgentOSServer", "Watched", "watch"]

TOKEN = "devkey"
"""The security key every request must bear (the samples' ``OS_SECURITY_KEY``)."""


class AgentOSServer(LoopThread):
    """Every workflow of ``agno_workflows``, ``wf-input`` and ``wf-gated`` (its runs pass
    :attr:`turnstile` one by one: ``turnstile.release()`` lets one through), the agents
    ``weather-agent``, ``mailer-agent``, ``archive-agent``, ``shell-agent`` and the teams
    ``content-team``, ``mail-team`` behind AgentOS on 127.0.0.1; :attr:`url` is its root."""

    def __init__(self, patience: float = 300.0) -> None:
        self.url = ""
        self.turnstile = threading.Semaphore(0)
        super().__init__(self._serve, patience)

    def runs_url(self, workflow_id: str) -> str:
        """The URL that starts a run of ``workflow_id``."""
        return f"{self.url}/workflows/{workflow_id}/runs"

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        agent_os = AgentOS(
            id="flowrx-tests",
            workflows=[
                *(make() for make in FACTORIES.values()),
                ask_input(),
                gated(self.turnstile, self._patience),
            ],
            agents=[weather_agent(), mailer_agent(InMemoryDb()), archive_agent(), shell_agent()],
            teams=[content_team(), mail_team()],
            settings=AgnoAPISettings(os_security_key=TOKEN),
            telemetry=False,
        )

        def listening(url: str) -> None:
            self.url = url
            ready()

        await serve_asgi(agent_os.get_app(), listening, stop)


@attrs.define
class Watched:
    """One run watched: the settled snapshot, the source's items, statuses and error."""

    snap: dict[str, Any]
    items: list[Any]
    statuses: list[ConnectionStatus]
    error: BaseException | None


Source = Callable[
    [AsyncIOScheduler, Callable[[ConnectionStatus], None], Observable[Reply]], Observable[Frame]
]
"""A source of a test: made on the loop's scheduler, with where it reports its status and the
replies (``FlowState.replies``) it may continue a run with."""


def watch(source: Source, decide: Any = None, patience: float = 300.0) -> Watched:
    """The frames ``source`` makes, watched into ``connect(..., protocol="agno")`` on a fresh
    loop: real I/O on asyncio, the pipeline's timers on a virtual clock run once the source
    ended (so the display windows settle without waiting); with ``decide``, each pause is
    answered (``FlowState.answer_pauses``) and the replies go back to the source. Waits at most
    ``patience`` seconds for the end (a hang guard, not a measure)."""

    async def body() -> Watched:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        ended: asyncio.Future[BaseException | None] = loop.create_future()
        items: list[Any] = []
        statuses: list[ConnectionStatus] = []
        replies: Subject[Reply] = Subject()
        frames = source(AsyncIOScheduler(loop), statuses.append, replies).pipe(
            ops.do_action(items.append, ended.set_result, lambda: ended.set_result(None))
        )
        state, _ = connect(frames, scheduler=clock, protocol="agno")
        if decide is not None:
            state.answer_pauses(decide)
            state.replies.subscribe(replies.on_next)
        error = await asyncio.wait_for(ended, patience)
        clock.run()
        return Watched(state.snapshot(), items, statuses, error)

    return asyncio.run(body())
