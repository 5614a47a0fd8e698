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
from collections.abc import Callable, Sequence

from agno.db.in_memory import InMemoryDb
from agno.os import AgentOS
from agno.os.settings import AgnoAPISettings
from agno.workflow import Workflow
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

__all__ = ["TOKEN", "AgentOSServer"]

TOKEN = "devkey"
"""The security key every request must bear (the samples' ``OS_SECURITY_KEY``)."""


class AgentOSServer(LoopThread):
    """Every workflow of ``agno_workflows``, ``wf-input`` and ``wf-gated`` (its runs pass
    :attr:`turnstile` one by one: ``turnstile.release()`` lets one through), the agents
    ``weather-agent``, ``mailer-agent``, ``archive-agent``, ``shell-agent`` and the teams
    ``content-team``, ``mail-team`` behind AgentOS on 127.0.0.1 (and the ``extra`` workflows
    given, ``wf-slow`` with a test's gate say); :attr:`url` is its root."""

    def __init__(self, patience: float = 300.0, extra: Sequence[Workflow] = ()) -> None:
        self.url = ""
        self._extra = list(extra)
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
                *self._extra,
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
