"""Real Agno workflows for the tests, on a scripted offline model.

The samples in ``examples/agno`` were recorded from agno 3.1.10 with a scripted offline model;
this module rebuilds their workflows (same ids, names, step ids, texts and tool calls), so a
test can run them for real, in process or behind AgentOS, and compare with the samples:

* :func:`sequential` (``wf-sequential``): a function step, an agent with a tool call and
  reasoning (:func:`weather_agent`), a function step (sample ``a-sequential``);
* :func:`loop_parallel` (``wf-loop-parallel``): a Loop of two iterations around a Parallel
  whose ``flaky`` branch raises every time (silently: Agno sends no end for it) while the
  ``research`` agent answers (the AgentOS captures ``agentos-sse-workflow-background``);
* :func:`condition_router` (``wf-cond-router``): two Conditions (one taking its ``if`` branch,
  a Steps group, the other its ``else`` branch) and a Router choosing an agent (sample
  ``c-condition-router``);
* :func:`team` (``wf-team``): a team step whose leader delegates to two members
  (:func:`content_team`; sample ``e-team``);
* :func:`confirm` (``wf-confirm``): a step that asks for a confirmation (``d-pause-continue``,
  leg d1); :func:`executor_pause` (``wf-executor-pause``): an agent whose tool asks for one
  (leg d2); :func:`router_pause` (``wf-router-pause``): a Router that lets the user choose
  (leg d3);
* :func:`ask_input` (``wf-input``): a step that asks a person for two fields' values;
* :func:`gated` (``wf-gated``): a step that waits until the test lets it through, so that a
  run in the background is still running while a test drops and resumes its stream;
* :func:`mailer_agent`, :func:`archive_agent`, :func:`shell_agent` and :func:`mail_team`,
  served alone: an agent whose tool asks for a confirmation, one whose tool asks a person
  for a field's value, one whose tool the caller runs, a team whose member's tool asks for
  a confirmation (each with an in-memory db, where AgentOS keeps a paused run);
* :func:`cancelled` (``wf-cancel``): the second step cancels its own run;
* :func:`nested` (``wf-nested``): a step that runs a whole inner workflow (``wf-inner``);
* :func:`failing` (``wf-failing``): a step that raises with ``on_error="fail"`` (``StepError``,
  ``WorkflowError``, and the iterator raises);
* :func:`slow_run` (``wf-slow``, sample ``agentos-ws-reconnect-and-hitl``): prepare, an agent that
  writes twelve chunks and stops after the fourth at a :class:`Gate` until the test opens it
  (a run that is surely still going while a test drops and resumes its connection; no
  clock), summarize. Not in :data:`FACTORIES`: it needs its gate.

Every factory returns a fresh workflow (its own agents and models, an in-memory db for its
sessions, which a pause needs), so two runs share nothing but what Agno itself keeps. Agno's
telemetry (a background POST to agno.com per run) is off on every workflow, agent and team.
:class:`Scripted` is an ``agno.models.base.Model`` that answers from its :class:`Turn` script:
the turn is the number of assistant messages since the last user message (the first answer,
the answer after a tool's result, ...), the same in every mode Agno calls it in
(``invoke``/``ainvoke``, streaming or not).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from agno.agent import Agent
from agno.db.in_memory import InMemoryDb
from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse
from agno.run import RunContext
from agno.run.cancel import cancel_run
from agno.team import Team
from agno.tools import tool
from agno.workflow import (
    Condition,
    HumanReview,
    Loop,
    Parallel,
    Router,
    Step,
    StepInput,
    StepOutput,
    Steps,
    Workflow,
)

__all__ = [
    "FACTORIES",
    "PROMPTS",
    "Gate",
    "Gated",
    "Scripted",
    "Turn",
    "archive_agent",
    "ask_input",
    "cancelled",
    "condition_router",
    "confirm",
    "content_team",
    "continue_paused",
    "executor_pause",
    "failing",
    "gated",
    "loop_parallel",
    "mail_team",
    "mailer_agent",
    "nested",
    "router_pause",
    "sequential",
    "shell_agent",
    "slow_run",
    "team",
    "weather_agent",
]


@dataclass(frozen=True)
class Turn:
    """One answer of a scripted model: reasoning chunks, text chunks, then tool calls (each a
    tool name and its arguments)."""

    text: Sequence[str] = ()
    reasoning: Sequence[str] = ()
    calls: Sequence[tuple[str, dict[str, Any]]] = ()


@dataclass
class Scripted(Model):
    """An offline model that answers from ``turns`` (see the module); named as the samples'
    (``fake-1`` by ``Fake``). A turn past the script's end repeats its last turn."""

    id: str = "fake-1"
    name: str | None = "Fake"
    provider: str | None = "Fake"
    turns: Sequence[Turn] = field(default_factory=lambda: (Turn(text=("ok",)),))

    def _turn(self, messages: Sequence[Message]) -> Turn:
        answered = 0
        for message in reversed(messages):
            if message.role == "user":
                break
            if message.role == "assistant":
                answered += 1
        return self.turns[min(answered, len(self.turns) - 1)]

    def _deltas(self, messages: Sequence[Message]) -> Iterator[ModelResponse]:
        turn = self._turn(messages)
        for chunk in turn.reasoning:
            yield ModelResponse(role="assistant", reasoning_content=chunk)
        for chunk in turn.text:
            yield ModelResponse(role="assistant", content=chunk)
        if turn.calls:
            yield ModelResponse(role="assistant", tool_calls=_calls(turn))

    def invoke(self, messages: Sequence[Message], *args: Any, **kwargs: Any) -> ModelResponse:
        """The whole turn as one response."""
        turn = self._turn(messages)
        response = ModelResponse(role="assistant", content="".join(turn.text) or None)
        if turn.reasoning:
            response.reasoning_content = "".join(turn.reasoning)
        if turn.calls:
            response.tool_calls = _calls(turn)
        return response

    async def ainvoke(
        self, messages: Sequence[Message], *args: Any, **kwargs: Any
    ) -> ModelResponse:
        """:meth:`invoke`, awaited."""
        return self.invoke(messages)

    def invoke_stream(
        self, messages: Sequence[Message], *args: Any, **kwargs: Any
    ) -> Iterator[ModelResponse]:
        """The turn chunk by chunk."""
        yield from self._deltas(messages)

    async def ainvoke_stream(
        self, messages: Sequence[Message], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ModelResponse]:
        """:meth:`invoke_stream`, asynchronously."""
        for delta in self._deltas(messages):
            yield delta

    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]  # the script's responses are Agno's own

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]


class Gate:
    """A door a served workflow waits at until the test opens it: a ``threading.Event`` (the
    server runs on a loop in another thread), waited for in a worker thread so the server's
    loop goes on serving. Every copy of the workflow shares it (AgentOS deep-copies the
    workflow for each run). A wait longer than ``patience`` raises (a hang guard)."""

    def __init__(self, patience: float = 300.0) -> None:
        self._open = threading.Event()
        self._patience = patience

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __copy__(self) -> Self:
        return self

    def open(self) -> None:
        """Let every waiting and later run through."""
        self._open.set()

    def close(self) -> None:
        """Make the next runs wait again."""
        self._open.clear()

    async def passed(self) -> None:
        """Wait (without blocking the loop) until the gate is open."""
        if not await asyncio.to_thread(self._open.wait, self._patience):
            raise TimeoutError("the test never opened the gate")


@dataclass
class Gated(Scripted):
    """A :class:`Scripted` model whose streamed answer stops after ``hold_after`` chunks until
    ``gate`` is open (the async path: AgentOS runs ``arun``)."""

    gate: Gate | None = None
    hold_after: int = 0

    async def ainvoke_stream(
        self, messages: Sequence[Message], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ModelResponse]:
        """The turn chunk by chunk, waiting at the gate after ``hold_after`` of them."""
        for index, delta in enumerate(self._deltas(messages)):
            if index == self.hold_after and self.gate is not None:
                await self.gate.passed()
            yield delta


def _calls(turn: Turn) -> list[dict[str, Any]]:
    """The turn's tool calls as a provider sends them, ids as the samples' (``call_<name>_<i>``)."""
    return [
        {
            "id": f"call_{name}_{index}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for index, (name, args) in enumerate(turn.calls)
    ]


def _model(*turns: Turn) -> Scripted:
    return Scripted(turns=turns)


def _text(step_input: StepInput) -> str:
    return str(step_input.previous_step_content or step_input.input)


# --- wf-sequential ------------------------------------------------------------------------------


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 21C"


def prepare(step_input: StepInput) -> StepOutput:
    """The first step: the prompt, prepared."""
    return StepOutput(content=f"prepared: {step_input.input}")


def summarize(step_input: StepInput) -> StepOutput:
    """The last step: the previous step's answer, summarised."""
    return StepOutput(content=f"summary of: {step_input.previous_step_content}")


def weather_agent() -> Agent:
    """``weather-agent``: a tool call, then reasoning and text (also served alone)."""
    return Agent(
        telemetry=False,
        id="weather-agent",
        name="Weather Agent",
        model=_model(
            Turn(calls=[("get_weather", {"city": "Paris"})]),
            Turn(
                reasoning=("Thinking about", " the weather."),
                text=("The", " weather", " in", " Paris", " is", " sunny."),
            ),
        ),
        tools=[get_weather],
    )


def sequential() -> Workflow:
    """``wf-sequential``: prepare, the weather agent (a tool call, then reasoning and text),
    summarize."""
    agent = weather_agent()
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-sequential",
        name="Sequential Demo",
        steps=[
            Step(name="prepare", executor=prepare, step_id="step-prepare"),
            Step(name="weather", agent=agent, step_id="step-weather"),
            Step(name="summarize", executor=summarize, step_id="step-summarize"),
        ],
    )


# --- wf-loop-parallel ---------------------------------------------------------------------------


def lookup(topic: str) -> str:
    """What is known about a topic."""
    return f"{topic} are social"


def flaky(step_input: StepInput) -> StepOutput:
    """A branch that always fails."""
    raise RuntimeError("flaky branch failed (scripted)")


def loop_parallel() -> Workflow:
    """``wf-loop-parallel``: a Loop of two iterations around a Parallel of the research agent
    (a tool call, then text) and ``flaky``, which raises on each of its two attempts."""
    research = Agent(
        telemetry=False,
        id="research-agent",
        name="Research Agent",
        model=_model(
            Turn(calls=[("lookup", {"topic": "otters"})]),
            Turn(text=("Otters", " hold", " hands.")),
        ),
        tools=[lookup],
    )
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-loop-parallel",
        name="Loop Parallel Demo",
        steps=[
            Loop(
                name="refine-loop",
                max_iterations=2,
                steps=[
                    Parallel(
                        Step(name="research", agent=research, step_id="step-research"),
                        Step(name="flaky", executor=flaky, step_id="step-flaky", max_retries=1),
                        name="fan-out",
                    )
                ],
            )
        ],
    )


# --- wf-cond-router -----------------------------------------------------------------------------


def classify(step_input: StepInput) -> StepOutput:
    """Classifies the message."""
    return StepOutput(content="category=billing urgent=yes")


def is_urgent(step_input: StepInput) -> bool:
    """Whether the classification says urgent."""
    return "urgent=yes" in _text(step_input)


def has_attachment(step_input: StepInput) -> bool:
    """Whether the message has an attachment (never, here)."""
    return False


def triage(step_input: StepInput) -> StepOutput:
    """A triage step."""
    return StepOutput(content="triaged")


def escalate(step_input: StepInput) -> StepOutput:
    """An escalation step."""
    return StepOutput(content="escalated")


def normal_path(step_input: StepInput) -> StepOutput:
    """The branch an urgent message does not take."""
    return StepOutput(content="normal")


def archive(step_input: StepInput) -> StepOutput:
    """Archives the message."""
    return StepOutput(content="archived")


def support(step_input: StepInput) -> StepOutput:
    """The route not chosen."""
    return StepOutput(content="supported")


def condition_router() -> Workflow:
    """``wf-cond-router``: classify; ``urgent?`` takes its if branch (a Steps group of two
    steps); ``attachment?`` its else branch; the Router ``route`` picks the billing agent."""
    billing = Agent(
        telemetry=False,
        id="billing-agent",
        name="Billing Agent",
        model=_model(Turn(text=("Refund", " issued."))),
    )
    billing_step = Step(name="billing", agent=billing, step_id="step-billing")
    support_step = Step(name="support", executor=support, step_id="step-support")

    def pick_route(step_input: StepInput) -> list[Step]:
        """The route the classification names."""
        return [billing_step]

    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-cond-router",
        name="Condition Router Demo",
        steps=[
            Step(name="classify", executor=classify, step_id="step-classify"),
            Condition(
                name="urgent?",
                evaluator=is_urgent,
                steps=[
                    Steps(
                        name="urgent-pipeline",
                        steps=[
                            Step(name="triage", executor=triage, step_id="step-triage"),
                            Step(name="escalate", executor=escalate, step_id="step-escalate"),
                        ],
                    )
                ],
                else_steps=[Step(name="normal", executor=normal_path, step_id="step-normal")],
            ),
            Condition(
                name="attachment?",
                evaluator=has_attachment,
                steps=[Step(name="scan", executor=triage, step_id="step-scan")],
                else_steps=[Step(name="archive", executor=archive, step_id="step-archive")],
            ),
            Router(name="route", selector=pick_route, choices=[billing_step, support_step]),
        ],
    )


# --- wf-team ------------------------------------------------------------------------------------


def search(q: str) -> str:
    """Searches the web."""
    return f"results for {q}"


def intake(step_input: StepInput) -> StepOutput:
    """Takes the request in."""
    return StepOutput(content=f"brief: {step_input.input}")


def publish(step_input: StepInput) -> StepOutput:
    """Publishes the team's answer."""
    return StepOutput(content=f"published: {step_input.previous_step_content}")


def content_team() -> Team:
    """``content-team``: the leader delegates to the researcher (a tool call, then text) and
    the writer in one turn, then answers (also served alone)."""
    researcher = Agent(
        telemetry=False,
        id="researcher",
        name="Researcher",
        model=_model(
            Turn(calls=[("search", {"q": "agno"})]),
            Turn(text=("Agno", " is", " a", " framework.")),
        ),
        tools=[search],
    )
    writer = Agent(
        telemetry=False,
        id="writer",
        name="Writer",
        model=_model(Turn(text=("Draft:", " Agno", " rocks."))),
    )
    leader = _model(
        Turn(
            calls=[
                ("delegate_task_to_member", {"member_id": "researcher", "task": "research agno"}),
                ("delegate_task_to_member", {"member_id": "writer", "task": "write a draft"}),
            ]
        ),
        Turn(text=("Final:", " research", " and", " draft", " combined.")),
    )
    return Team(
        telemetry=False,
        id="content-team",
        name="Content Team",
        members=[researcher, writer],
        model=leader,
    )


def team() -> Workflow:
    """``wf-team``: intake; the content team; publish."""
    writers = content_team()
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-team",
        name="Team Demo",
        steps=[
            Step(name="intake", executor=intake, step_id="step-intake"),
            Step(name="team", team=writers, step_id="step-team"),
            Step(name="publish", executor=publish, step_id="step-publish"),
        ],
    )


# --- pauses -------------------------------------------------------------------------------------


def gather(step_input: StepInput) -> StepOutput:
    """Gathers the records."""
    return StepOutput(content="gathered 3 records")


def delete(step_input: StepInput) -> StepOutput:
    """Deletes the records (once confirmed)."""
    return StepOutput(content="deleted 3 records")


def report(step_input: StepInput) -> StepOutput:
    """Reports what happened."""
    return StepOutput(content=f"report: {step_input.previous_step_content}")


def confirm() -> Workflow:
    """``wf-confirm``: gather; ``delete`` asks "Delete 3 records?" before it runs; report."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-confirm",
        name="Confirm Demo",
        steps=[
            Step(name="gather", executor=gather, step_id="step-gather"),
            Step(
                name="delete",
                executor=delete,
                step_id="step-delete",
                human_review=HumanReview(
                    requires_confirmation=True, confirmation_message="Delete 3 records?"
                ),
            ),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


@tool(requires_confirmation=True)
def send_email(to: str, body: str) -> str:
    """Sends an email (once a person confirmed it)."""
    return f"sent to {to}"


def _tool_agent(
    agent_id: str,
    name: str,
    call: Any,
    args: dict[str, Any],
    answer: Sequence[str],
    db: InMemoryDb | None,
) -> Agent:
    """An agent that calls its one tool ``call`` with ``args``, then says ``answer``."""
    return Agent(
        telemetry=False,
        id=agent_id,
        name=name,
        db=db,
        model=_model(Turn(calls=[(call.name, args)]), Turn(text=tuple(answer))),
        tools=[call],
    )


def mailer_agent(db: InMemoryDb | None = None) -> Agent:
    """``mailer-agent``: its ``send_email`` asks for a confirmation, then it says "Email
    sent." (served alone with a ``db``: AgentOS keeps a paused agent run there)."""
    args = {"to": "ops@example.com", "body": "done"}
    return _tool_agent("mailer-agent", "Mailer Agent", send_email, args, ("Email", " sent."), db)


@tool(requires_user_input=True, user_input_fields=["reason"])
def archive_records(count: int, reason: str) -> str:
    """Archives records, for a reason a person gives."""
    return f"archived {count} records: {reason}"


def archive_agent() -> Agent:
    """``archive-agent``: its ``archive_records`` call asks a person for ``reason`` (Agno's
    user input), then it says "Archived."."""
    args = {"count": 3}
    return _tool_agent(
        "archive-agent", "Archive Agent", archive_records, args, ("Archived", "."), InMemoryDb()
    )


@tool(external_execution=True)
def run_shell(command: str) -> str:
    """Runs a shell command (the caller runs it, not the agent)."""
    raise AssertionError("an external tool is run by the caller")


def shell_agent() -> Agent:
    """``shell-agent``: its ``run_shell`` call is run by the caller (Agno's external
    execution), then it says "Listed."."""
    args = {"command": "ls"}
    return _tool_agent("shell-agent", "Shell Agent", run_shell, args, ("Listed", "."), InMemoryDb())


def mail_team() -> Team:
    """``mail-team``: the leader delegates to the mailer, whose ``send_email`` asks for a
    confirmation (the team pauses for its member), then answers."""
    leader = _model(
        Turn(
            calls=[
                (
                    "delegate_task_to_member",
                    {"member_id": "mailer-agent", "task": "mail the ops team"},
                )
            ]
        ),
        Turn(text=("Mail", " handled.")),
    )
    return Team(
        telemetry=False,
        id="mail-team",
        name="Mail Team",
        db=InMemoryDb(),
        members=[mailer_agent()],
        model=leader,
    )


def executor_pause() -> Workflow:
    """``wf-executor-pause``: gather; the mailer agent's ``send_email`` asks for a
    confirmation; report."""
    mailer = mailer_agent()
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-executor-pause",
        name="Executor Pause Demo",
        steps=[
            Step(name="gather", executor=gather, step_id="step-gather"),
            Step(name="mail", agent=mailer, step_id="step-mail"),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


def fast(step_input: StepInput) -> StepOutput:
    """The fast lane."""
    return StepOutput(content="fast lane")


def slow(step_input: StepInput) -> StepOutput:
    """The slow lane."""
    return StepOutput(content="slow lane")


def router_pause() -> Workflow:
    """``wf-router-pause``: the Router ``lane`` lets the user choose between fast and slow;
    report."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-router-pause",
        name="Router Pause Demo",
        steps=[
            Router(
                name="lane",
                choices=[
                    Step(name="fast", executor=fast, step_id="step-fast"),
                    Step(name="slow", executor=slow, step_id="step-slow"),
                ],
                human_review=HumanReview(requires_user_input=True),
            ),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


def archive_for(step_input: StepInput) -> StepOutput:
    """Archives the records, for the reason the person gave."""
    given = (step_input.additional_data or {}).get("user_input") or {}
    return StepOutput(
        content=f"archived: {given.get('reason')} (keep_days={given.get('keep_days')!r})"
    )


def ask_input() -> Workflow:
    """``wf-input``: gather; ``archive`` asks a person why and for how many days (Agno's
    step user input, a ``str`` and an ``int`` field) before it runs; report."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-input",
        name="Input Demo",
        steps=[
            Step(name="gather", executor=gather, step_id="step-gather"),
            Step(
                name="archive",
                executor=archive_for,
                step_id="step-archive",
                human_review=HumanReview(
                    requires_user_input=True,
                    user_input_message="Why archive?",
                    user_input_schema=[
                        {"name": "reason", "field_type": "str", "required": True},
                        {"name": "keep_days", "field_type": "int", "required": True},
                    ],
                ),
            ),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


def gated(turnstile: threading.Semaphore, patience: float = 300.0) -> Workflow:
    """``wf-gated``: prepare; ``hold`` waits (off the loop) until the test lets one run
    through ``turnstile`` (at most ``patience`` seconds: then it raises); summarize. A run
    in the background stays running at ``hold`` for as long as the test wants."""

    async def hold(step_input: StepInput) -> StepOutput:
        """Waits for the turnstile."""
        if not await asyncio.to_thread(turnstile.acquire, True, patience):
            raise TimeoutError("the test never let the run through")
        return StepOutput(content=f"held: {step_input.previous_step_content}")

    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-gated",
        name="Gated Demo",
        steps=[
            Step(name="prepare", executor=prepare, step_id="step-prepare"),
            Step(name="hold", executor=hold, step_id="step-hold"),
            Step(name="summarize", executor=summarize, step_id="step-summarize"),
        ],
    )


# --- cancel, nesting, errors --------------------------------------------------------------------


def stop(step_input: StepInput, run_context: RunContext) -> StepOutput:
    """Cancels the run it is part of (as ``POST .../cancel`` would), then returns."""
    cancel_run(run_context.run_id)
    return StepOutput(content="asked to stop")


def cancelled() -> Workflow:
    """``wf-cancel``: gather; ``stop`` cancels the run; ``report`` never starts."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-cancel",
        name="Cancel Demo",
        steps=[
            Step(name="gather", executor=gather, step_id="step-gather"),
            Step(name="stop", executor=stop, step_id="step-stop"),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


def inner() -> Workflow:
    """``wf-inner``: triage, then the billing agent."""
    billing = Agent(
        telemetry=False,
        id="billing-agent",
        name="Billing Agent",
        model=_model(Turn(text=("Refund", " issued."))),
    )
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-inner",
        name="Inner Demo",
        steps=[
            Step(name="triage", executor=triage, step_id="step-triage"),
            Step(name="billing", agent=billing, step_id="step-billing"),
        ],
    )


def nested() -> Workflow:
    """``wf-nested``: intake; ``inner`` runs the whole ``wf-inner``; publish."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-nested",
        name="Nested Demo",
        steps=[
            Step(name="intake", executor=intake, step_id="step-intake"),
            Step(name="inner", workflow=inner(), step_id="step-inner"),
            Step(name="publish", executor=publish, step_id="step-publish"),
        ],
    )


def broken(step_input: StepInput) -> StepOutput:
    """A step that fails."""
    raise ValueError("the ledger is locked (scripted)")


def failing() -> Workflow:
    """``wf-failing``: gather; ``post`` raises and, with ``on_error="fail"``, fails the run."""
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-failing",
        name="Failing Demo",
        steps=[
            Step(name="gather", executor=gather, step_id="step-gather"),
            Step(
                name="post",
                executor=broken,
                step_id="step-post",
                max_retries=0,
                human_review=HumanReview(on_error="fail"),
            ),
            Step(name="report", executor=report, step_id="step-report"),
        ],
    )


# --- a slow run -----------------------------------------------------------------------------


def slow_run(gate: Gate) -> Workflow:
    """``wf-slow``: prepare; ``slow-writer`` writes `` word0`` ... `` word11`` and waits at
    ``gate`` after the fourth chunk; summarize."""
    writer = Agent(
        telemetry=False,
        id="slow-agent",
        name="Slow Agent",
        model=Gated(
            turns=(Turn(text=tuple(f" word{i}" for i in range(12))),), gate=gate, hold_after=4
        ),
    )
    return Workflow(
        telemetry=False,
        db=InMemoryDb(),
        id="wf-slow",
        name="Slow Demo",
        steps=[
            Step(name="prepare", executor=prepare, step_id="step-prepare"),
            Step(name="slow-writer", agent=writer, step_id="step-slow-writer"),
            Step(name="summarize", executor=summarize, step_id="step-summarize"),
        ],
    )


FACTORIES = {
    "wf-sequential": sequential,
    "wf-loop-parallel": loop_parallel,
    "wf-cond-router": condition_router,
    "wf-team": team,
    "wf-confirm": confirm,
    "wf-executor-pause": executor_pause,
    "wf-router-pause": router_pause,
    "wf-cancel": cancelled,
    "wf-nested": nested,
    "wf-failing": failing,
}
"""Every workflow of the module by its id."""

PROMPTS = {
    "wf-sequential": "What's the weather in Paris?",
    "wf-loop-parallel": "Tell me about otters",
    "wf-cond-router": "I was charged twice, urgent",
    "wf-team": "Write about agno",
    "wf-confirm": "Clean up the records",
    "wf-executor-pause": "Mail the ops team",
    "wf-router-pause": "Route this",
    "wf-cancel": "Start and stop",
    "wf-nested": "Refund me",
    "wf-failing": "Post the ledger",
    "wf-slow": "go slow",
}
"""The message each workflow is run with."""


def continue_paused(workflow: Workflow, session_id: str, choice: str = "slow") -> Iterable[Any]:
    """The continue leg of ``workflow``'s paused run in ``session_id``, every question answered
    yes (a step's confirmation, an agent's tool confirmations), a route selection with
    ``choice``: ``continue_run`` streaming every event, as ``run`` was."""
    paused = workflow.get_last_run_output(session_id=session_id)
    assert paused is not None, "no run in the session"
    assert paused.is_paused, "the run did not pause"
    for requirement in paused.step_requirements or ():
        if requirement.requires_route_selection:
            requirement.select(choice)
        elif requirement.requires_executor_input:
            for waiting in requirement.executor_requirements or ():
                waiting["tool_execution"]["confirmed"] = True
        else:
            requirement.confirm()
    return workflow.continue_run(paused, stream=True, stream_events=True)
