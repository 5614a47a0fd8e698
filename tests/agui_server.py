"""A real AG-UI producer for the tests: pydantic-ai agents served over HTTP on 127.0.0.1.

Each scenario is a pydantic-ai ``Agent`` whose model is a scripted, offline ``FunctionModel``,
answered through ``AGUIAdapter.dispatch_request`` (pydantic-ai's own AG-UI endpoint: request
validation, the agent run, event encoding as SSE) and served by uvicorn on port 0, on its own
loop in a daemon thread (:class:`helpers.LoopThread`), so every task on a test's loop is the
client's. This is how the recordings in ``samples/agui/pydantic-ai`` were made; the event
sequences match theirs up to ids and timestamps.

The scenario is the request's path (``POST {url}/{scenario}``):

* ``text``: a text answer in 11 chunks;
* ``tool``: ``get_weather`` called with streamed arguments, its result, then text;
* ``approval``: ``delete_file`` needs approval, so the run ends with an ``interrupt`` outcome;
  a second POST on the thread with a ``resume`` entry (``payload.approved`` true) and the
  conversation so far runs the tool and answers;
* ``error``: the model raises after five text chunks (``RUN_ERROR``);
* ``state``: two ``add_item`` calls, each result carrying ``STATE_DELTA``, ``STATE_SNAPSHOT``
  and a ``CUSTOM`` event (``ToolReturn.metadata``), the state in ``StateDeps``, then text;
* ``many``: ``many`` text chunks; :attr:`AguiServer.written` is set once all of them are sent;
* ``hang``: one text chunk, then the model waits forever; :attr:`AguiServer.hanging` is set
  when it starts waiting and :attr:`AguiServer.cancelled` when the run is cancelled (the
  client went away);
* ``big/{size}``: a text whose first chunk is ``size`` characters; :attr:`AguiServer.written`
  is set once it is sent;
* ``cut``: the ``text`` answer, broken off (the connection dropped) after ``cut_after`` events;
* ``pings``: the ``text`` answer with a comment and a data-less ``ping`` event (keep-alives, as
  some servers send) after each event;
* ``private/{scenario}``: the scenario, for a request bearing ``Authorization: Bearer s3cret``
  only (401 otherwise);
* ``json``: 200 with a JSON body, not a stream; ``down``: 503 with a text body.

Any other path is a 404. A body that is not a valid ``RunAgentInput`` gets pydantic-ai's 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ag_ui.core import CustomEvent, StateDeltaEvent, StateSnapshotEvent
from helpers import LoopThread, serve_asgi
from pydantic import BaseModel
from pydantic_ai import Agent, DeferredToolRequests, RunContext, ToolReturn
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_ai.ui import StateDeps
from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["TOKEN", "AguiServer", "Shopping"]

TOKEN = "s3cret"
"""The bearer token the ``private/`` scenarios require."""

TEXT = [
    "Hello ",
    "from ",
    "a ",
    "scripted ",
    "model. ",
    "This ",
    "answer ",
    "streams ",
    "in ",
    "eight ",
    "chunks. ",
]
"""The ``text`` scenario's chunks (those of the sample recording ``text.jsonl``)."""

Chunk = str | DeltaToolCalls


class Shopping(BaseModel):
    """The ``state`` scenario's shared state: a shopping list."""

    items: list[str] = []


def _answered(messages: list[ModelMessage]) -> bool:
    """Whether the latest request to the model carries a tool's result (the second turn)."""
    last = messages[-1]
    return isinstance(last, ModelRequest) and any(
        isinstance(part, ToolReturnPart) for part in last.parts
    )


def _scripted(first: Sequence[Chunk], then: Sequence[Chunk] = ()) -> FunctionModel:
    """A model that streams ``first``, and ``then`` once a tool's result has come back."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Chunk]:
        for chunk in then if _answered(messages) else first:
            yield chunk

    return FunctionModel(stream_function=stream)


def _call(index: int, name: str | None, args: str, call_id: str) -> DeltaToolCalls:
    """A tool call's chunk: its name on the first chunk only (names are concatenated)."""
    return {index: DeltaToolCall(name=name, json_args=args, tool_call_id=call_id)}


class AguiServer(LoopThread):
    """The scenarios above behind uvicorn on 127.0.0.1, port 0; :attr:`url` is its root.

    :attr:`requests` holds what each request carried (path, headers, raw body), in order.
    """

    def __init__(self, *, many: int = 120, cut_after: int = 3, patience: float = 300.0) -> None:
        self.url = ""
        self.many = many
        self.cut_after = cut_after
        self.requests: list[dict[str, Any]] = []
        self.written = threading.Event()
        """Set once every chunk of a ``many`` answer, or the big chunk of ``big``, is sent."""
        self.hanging = threading.Event()
        """Set when a ``hang`` model starts waiting forever."""
        self.cancelled = threading.Event()
        """Set when a ``hang`` run was cancelled because its client disconnected."""
        super().__init__(self._serve, patience)

    def endpoint(self, scenario: str) -> str:
        """The URL of ``scenario``."""
        return f"{self.url}/{scenario}"

    # --- the scenarios' agents ----------------------------------------------------------------

    def _agent(self, scenario: str) -> tuple[Agent[Any, Any], Any] | None:
        """The agent of ``scenario`` and its deps, or None for an unknown one."""
        if scenario == "text":
            return Agent(_scripted(TEXT)), None
        if scenario == "tool":
            return self._tool_agent(), None
        if scenario == "approval":
            return self._approval_agent(), None
        if scenario == "error":
            return Agent(FunctionModel(stream_function=_failing)), None
        if scenario == "state":
            return self._state_agent(), StateDeps(Shopping())
        if scenario == "many":
            return Agent(FunctionModel(stream_function=self._many)), None
        if scenario == "hang":
            return Agent(FunctionModel(stream_function=self._hang)), None
        if scenario.startswith("big/") and scenario[4:].isdigit():
            return Agent(FunctionModel(stream_function=self._big(int(scenario[4:])))), None
        return None

    def _tool_agent(self) -> Agent[Any, Any]:
        first = [
            _call(0, "get_weather", '{"city": ', "call_w1"),
            _call(0, None, '"Paris"}', "call_w1"),
        ]
        agent = Agent(_scripted(first, ["It ", "is ", "sunny ", "in ", "Paris. "]))

        @agent.tool_plain
        def get_weather(city: str) -> str:
            """The weather in a city."""
            return f"sunny, 21C in {city}"

        return agent

    def _approval_agent(self) -> Agent[Any, Any]:
        first: list[Chunk] = [
            "I need your approval to delete it.",
            _call(1, "delete_file", '{"path": "/tmp/x.txt"}', "call_del"),
        ]
        model = _scripted(first, ["Done: ", "the ", "file ", "is ", "deleted. "])
        agent: Agent[None, str | DeferredToolRequests] = Agent(
            model, output_type=[str, DeferredToolRequests]
        )

        @agent.tool_plain(requires_approval=True)
        def delete_file(path: str) -> str:
            """Delete a file (only once a person approved it)."""
            return f"deleted {path}"

        return agent

    def _state_agent(self) -> Agent[StateDeps[Shopping], str]:
        first = [
            _call(0, "add_item", '{"item": "milk"}', "call_s1"),
            _call(1, "add_item", '{"item": "eggs"}', "call_s2"),
        ]
        then = ["Your ", "list ", "now ", "has ", "milk ", "and ", "eggs. "]
        agent = Agent(_scripted(first, then), deps_type=StateDeps[Shopping])

        @agent.tool
        def add_item(ctx: RunContext[StateDeps[Shopping]], item: str) -> ToolReturn:
            """Add an item to the shared shopping list."""
            state = ctx.deps.state
            state.items.append(item)
            path = f"/items/{len(state.items) - 1}"
            return ToolReturn(
                return_value=f"added {item}",
                metadata=[
                    StateDeltaEvent.model_validate(
                        {"delta": [{"op": "add", "path": path, "value": item}]}
                    ),
                    StateSnapshotEvent(snapshot=state.model_dump()),
                    CustomEvent(name="shopping.item_added", value={"item": item}),
                ],
            )

        return agent

    async def _many(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        for i in range(self.many):
            yield f"w{i} "
        # resumed only when the last chunk's event has been sent
        self.written.set()

    def _big(self, size: int) -> Callable[[list[ModelMessage], AgentInfo], AsyncIterator[str]]:
        async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
            yield "x" * size
            self.written.set()  # resumed only when the big chunk's event has been sent
            yield ". "

        return stream

    async def _hang(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
        try:
            yield "Waiting "
            self.hanging.set()
            await asyncio.Event().wait()
        finally:  # the client went away: starlette cancels the run
            self.cancelled.set()
        yield "never"  # pragma: no cover

    # --- HTTP ---------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        scenario = request.path_params["scenario"]
        body = await request.body()
        self.requests.append({"path": request.url.path, "headers": request.headers, "body": body})
        if scenario.startswith("private/"):
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return PlainTextResponse("a bearer token is required", status_code=401)
            scenario = scenario.removeprefix("private/")
        if scenario == "json":
            return JSONResponse({"detail": "this endpoint does not stream"})
        if scenario == "down":
            return PlainTextResponse("agent unavailable", status_code=503)
        found = self._agent("text" if scenario in ("cut", "pings") else scenario)
        if found is None:
            return PlainTextResponse("Not Found", status_code=404)
        agent, deps = found
        response = await AGUIAdapter.dispatch_request(request, agent=agent, deps=deps)
        if scenario == "cut" and isinstance(response, StreamingResponse):
            response.body_iterator = _broken(response.body_iterator, self.cut_after)
        if scenario == "pings" and isinstance(response, StreamingResponse):
            response.body_iterator = _pinging(response.body_iterator)
        return response

    async def _serve(self, ready: Callable[[], None], stop: asyncio.Event) -> None:
        app = Starlette(routes=[Route("/{scenario:path}", self._endpoint, methods=["POST"])])

        def listening(url: str) -> None:
            self.url = url
            ready()

        await serve_asgi(app, listening, stop, lifespan="off")


async def _failing(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    for chunk in ["This ", "answer ", "will ", "be ", "cut "]:
        yield chunk
    raise ConnectionResetError("model connection dropped (scripted)")


async def _pinging(body: Any) -> AsyncIterator[Any]:
    """``body``'s chunks, each followed by an SSE comment and an event without data."""
    async with contextlib.aclosing(body):
        async for chunk in body:
            yield chunk
            yield ": keep-alive\n\nevent: ping\n\n"


async def _broken(body: Any, after: int) -> AsyncIterator[Any]:
    """``body``'s first ``after`` chunks, then the failure that drops the connection."""
    async with contextlib.aclosing(body):
        sent = 0
        async for chunk in body:
            yield chunk
            sent += 1
            if sent == after:
                raise ConnectionAbortedError("the agent process died (scripted)")
