"""Agno over AgentOS: the workflows of ``tests/agno_workflows.py`` served by a real AgentOS
(``tests/agentos_server.py``: Agno's FastAPI app under uvicorn on 127.0.0.1, port 0), watched
through ``flowrx.streams.agno.agentos_run`` (SSE) into ``connect(..., protocol="agno")``.

Real I/O runs on asyncio; the pipeline's timers run on a virtual clock that the test runs
once the stream has ended, so the display windows settle without waiting. Nothing sleeps.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agentos_server import TOKEN, AgentOSServer
from agentos_watch import (
    ANSWERED_PAUSES,
    PATIENCE,
    Watched,
    clean,
    continued_once,
    converse,
    in_process,
    same_sections,
    watch_run,
)
from helpers import EXAMPLES
from reactivex import operators as ops
from reactivex.scheduler.eventloop import AsyncIOScheduler
from reactivex.subject import Subject

from flowrx import VirtualClock, connect
from flowrx.messages import Answer, EndOfStream, Reply
from flowrx.protocols.agno import (
    continue_requirements,
    continue_run_requirements,
    frame_data,
    transcript_frames,
    workflow_graph,
)
from flowrx.streams.agno import (
    agentos_cancel,
    agentos_conversation,
    agentos_run,
    agentos_runs_url,
    sse_text,
)
from flowrx.streams.sse import SourceFailed

pytestmark = pytest.mark.timeout(2 * PATIENCE)


@pytest.fixture(scope="module")
def server() -> Iterator[AgentOSServer]:
    """One real AgentOS for the module's tests."""
    with AgentOSServer(patience=PATIENCE) as served:
        yield served


def _watch(url: str, workflow_id: str, **options: Any) -> Watched:
    """Run ``workflow_id`` (an agent or team with ``kind=``) on the AgentOS at ``url`` and
    watch it into ``connect``."""
    return watch_run(agentos_run, url, workflow_id, **options)


@pytest.mark.parametrize(
    "workflow_id", ["wf-sequential", "wf-cond-router", "wf-team", "wf-nested", "wf-cancel"]
)
def test_a_workflow_watched_over_agentos_shows_what_it_shows_run_in_process(
    server: AgentOSServer, workflow_id: str
) -> None:
    """The same workflow over AgentOS's SSE and by ``arun`` in process: the same badges,
    groups, chat and interactions up to the run ids (AgentOS mints other step ids for its
    copy of the workflow; node ids do not depend on them), and the same run outcome."""
    watched = _watch(server.url, workflow_id)
    assert watched.error is None
    clean(watched.snap)
    same_sections(watched.snap, in_process(workflow_id))


def test_the_source_reports_its_status_and_hands_on_each_event_as_sse_text(
    server: AgentOSServer,
) -> None:
    """connecting, open, closed; every frame is ``event: <Name>`` and its data line, the
    data the event's own dict; EndOfStream last."""
    watched = _watch(server.url, "wf-sequential")
    assert [s.state for s in watched.statuses] == ["connecting", "open", "closed"]
    frames = [f for f in watched.items if not isinstance(f, EndOfStream)]
    assert len(frames) == 27
    name, data = frames[0].split("\n")
    payload = json.loads(data.removeprefix("data: "))
    assert name == "event: WorkflowStarted"
    assert (payload["event"], payload["workflow_id"]) == ("WorkflowStarted", "wf-sequential")
    assert watched.items[-1] == EndOfStream(reason="the response ended")
    assert watched.snap["protocol"] == "agno"


def test_a_pause_over_agentos_is_pending_with_the_requirements_a_continue_needs(
    server: AgentOSServer,
) -> None:
    """wf-confirm: StepPaused, AgentOS's WorkflowPaused and its WorkflowRunOutput trailer
    (named on its ``event`` line only): the run paused, one confirmation pending on
    ``delete``, AgentOS's step requirements kept verbatim."""
    watched = _watch(server.url, "wf-confirm")
    clean(watched.snap)
    names = [f.split("\n", 1)[0] for f in watched.items if isinstance(f, str)]
    assert names[-3:] == ["event: StepPaused", "event: WorkflowPaused", "event: WorkflowRunOutput"]
    (item,) = watched.snap["interaction"]["pending"]
    assert (item["kind"], item["node_id"]) == ("confirmation", "wf-confirm:delete")
    assert item["detail"]["message"] == "Delete 3 records?"
    (requirement,) = item["detail"]["step_requirements"]
    assert (requirement["step_name"], requirement["requires_confirmation"]) == ("delete", True)
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
    assert watched.snap["lifecycle"]["editor_locked"] is False


def test_a_workflow_error_over_agentos_ends_the_run_in_error_and_the_body_cleanly(
    server: AgentOSServer,
) -> None:
    """wf-failing: AgentOS sends StepError and WorkflowError and ends the body (the raise
    stays on the server): the run ends ``error``, the source completes."""
    watched = _watch(server.url, "wf-failing")
    assert watched.error is None
    clean(watched.snap)
    (records,) = watched.snap["store"].values()
    assert [(r["handle"], r["status"]) for r in records] == [
        ("gather", "success"),
        ("post", "error"),
    ]
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert run["status"] == "error"


@pytest.mark.parametrize(
    ("workflow_id", "options", "reason"),
    [
        (
            "wf-sequential",
            {"token": "wrong"},
            'HTTP 401 Unauthorized (bad token?): {"detail":"Invalid authentication token"}',
        ),
        (
            "wf-sequential",
            {"token": None},
            'HTTP 401 Unauthorized (bad token?): {"detail":"Authorization header required"}',
        ),
        (
            "wf-nowhere",
            {},
            'HTTP 404 Not Found (wrong path?): {"detail":"Workflow not found"}',
        ),
    ],
    ids=["bad-token", "no-token", "unknown-workflow"],
)
def test_a_refused_run_is_one_line_and_no_frame(
    server: AgentOSServer, workflow_id: str, options: dict[str, Any], reason: str
) -> None:
    """A wrong or missing key and an unknown workflow: the source fails with AgentOS's answer
    in one line, emits nothing (no run was open) and the state holds no run."""
    watched = _watch(server.url, workflow_id, **options)
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == reason
    assert watched.items == []
    assert [s.state for s in watched.statuses] == ["connecting", "failed"]
    assert watched.snap["lifecycle"]["runs"] == {}


@pytest.mark.parametrize(
    ("kind", "component", "speakers"),
    [
        ("agents", "weather-agent", [("agent", "Weather Agent"), ("agent", "Weather Agent")]),
        (
            "teams",
            "content-team",
            [("leader", "Content Team"), ("member", "Researcher"), ("member", "Writer")],
        ),
    ],
)
def test_an_agent_or_a_team_run_alone_is_one_run_with_one_node(
    server: AgentOSServer, kind: str, component: str, speakers: list[tuple[str, str]]
) -> None:
    """``POST /agents/{id}/runs`` and ``/teams/{id}/runs``: one run whose node is the agent or
    team; its speakers by name (a team's members join the team's run), clean and settled."""
    watched = _watch(server.url, component, kind=kind)
    assert watched.error is None
    clean(watched.snap)
    (records,) = watched.snap["store"].values()
    assert [(r["node_id"], r["status"]) for r in records] == [(component, "success")]
    (messages,) = watched.snap["chat"].values()
    assert [(m["speaker"], m["name"]) for m in messages] == speakers
    assert watched.snap["surface"] == {}


def test_the_definition_agentos_serves_derives_every_node_the_stream_names(
    server: AgentOSServer,
) -> None:
    """``GET /workflows/{id}`` (no step ids; a nested workflow's steps inline): its graph holds
    every node of the watched run, nested steps as members of their outer step."""
    for workflow_id in ("wf-loop-parallel", "wf-cond-router", "wf-nested"):
        answer = httpx.get(
            f"{server.url}/workflows/{workflow_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=PATIENCE,
        )
        graph = workflow_graph(answer.json())
        watched = _watch(server.url, workflow_id)
        (records,) = watched.snap["store"].values()
        assert {r["node_id"] for r in records} <= set(graph.nodes), workflow_id
    assert graph.ancestors("wf-nested:inner/billing") == ("wf-nested:inner",)


def test_bad_arguments_are_one_line_errors_before_any_request() -> None:
    """A kind AgentOS does not run, an empty id, a message that is not text and a URL that
    is not http(s) are refused at once."""
    loop = asyncio.new_event_loop()
    scheduler = AsyncIOScheduler(loop)
    try:
        with pytest.raises(ValueError, match="AgentOS runs workflows, agents, teams, not 'jobs'"):
            agentos_runs_url("http://h", "x", "jobs")
        with pytest.raises(ValueError, match="the workflow id must be a non-empty string"):
            agentos_run("http://h", " ", "hi", scheduler=scheduler)
        with pytest.raises(ValueError, match="the message must be a string, not int"):
            agentos_run("http://h", "wf", 3, scheduler=scheduler)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="is not an http:// or https:// URL"):
            agentos_run("ftp://h", "wf", "hi", scheduler=scheduler)
    finally:
        loop.close()
    assert agentos_runs_url("http://h:1/", "a b/c", "teams") == "http://h:1/teams/a%20b%2Fc/runs"
    assert sse_text("StepStarted", '{"a":1}') == 'event: StepStarted\ndata: {"a":1}'
    assert sse_text("message", "x\ny") == "data: x\ndata: y"


# --- continuing a paused run -------------------------------------------------------------------


def _converse(url: str, component_id: str, decide: Any, **options: Any) -> Watched:
    """Run ``component_id`` (a workflow, or an agent or team with ``kind=``) as a conversation
    over SSE (``agentos_conversation``)."""
    return converse(agentos_conversation, url, component_id, decide, **options)


@pytest.mark.parametrize(("workflow_id", "payload", "badges"), ANSWERED_PAUSES)
def test_a_pause_answered_continues_the_same_run_on_agentos(
    server: AgentOSServer, workflow_id: str, payload: Any, badges: list[tuple[str, str]]
) -> None:
    """The host's answer to the pending item becomes AgentOS's continue (the requirements of
    its WorkflowPaused, answered): the same run resumes once and ends success, the item
    resolved; a refused step is skipped (Agno's ``on_reject`` default), a chosen route runs."""
    watched = _converse(server.url, workflow_id, lambda item: payload)
    continued_once(watched, badges)
    # two requests: the continue may start before the first body has closed
    states = [s.state for s in watched.statuses]
    assert sorted(states) == sorted(["connecting", "open", "closed"] * 2)


def test_an_answer_of_the_wrong_shape_ends_the_conversation_with_one_line(
    server: AgentOSServer,
) -> None:
    """A confirmation answered with text makes no requirement: the conversation fails with one
    line naming the run and what a confirmation takes; the run stays paused."""
    watched = _converse(server.url, "wf-confirm", lambda item: "maybe")
    assert isinstance(watched.error, SourceFailed)
    (run_id,) = watched.snap["lifecycle"]["runs"]
    assert watched.error.reason == (
        f"cannot continue run {run_id}: a confirmation is answered with true or false "
        "(or {'approved': bool}), not 'maybe'"
    )
    assert watched.snap["lifecycle"]["runs"][run_id]["status"] == "paused"


def _paused_requirements() -> list[dict[str, Any]]:
    """The step requirements of the WorkflowPaused in the sample SSE capture."""
    for _, text in transcript_frames(
        (EXAMPLES / "agno" / "agentos-sse-workflow-paused.txt").read_text(encoding="utf-8")
    ):
        if text.startswith("event: WorkflowPaused"):
            requirements: list[dict[str, Any]] = json.loads(text.split("data: ", 1)[1])[
                "step_requirements"
            ]
            return requirements
    raise AssertionError("the capture has no WorkflowPaused")


def test_continue_requirements_fill_in_each_kind_of_answer_and_refuse_bad_ones() -> None:
    """A confirmation sets ``confirmed``, a route selection ``selected_choices`` (offered
    routes only), a user input ``user_input``, a tool confirmation the tool's ``confirmed``;
    the capture's requirements are otherwise kept as they came; bad answers are one line."""
    captured = _paused_requirements()

    def answer(kind: str, payload: Any, **detail: Any) -> Answer:
        return Answer("i1", kind, detail, payload)

    (confirmed,) = continue_requirements([answer("confirmation", True)], captured)
    assert confirmed == {**captured[0], "confirmed": True}
    assert captured[0]["confirmed"] is None  # the source's copy is not touched
    cancelled = Answer("i1", "confirmation", {"step_requirements": captured}, None, "cancelled")
    (refused,) = continue_requirements([cancelled])
    assert refused["confirmed"] is False
    route = {"requires_route_selection": True, "available_choices": ["fast", "slow"]}
    (chosen,) = continue_requirements([answer("route_selection", "slow")], [route])
    assert chosen["selected_choices"] == ["slow"]
    with pytest.raises(
        ValueError, match=r"'bus' is not one of the routes offered: \['fast', 'slow'\]"
    ):
        continue_requirements([answer("route_selection", ["bus"])], [route])
    with pytest.raises(ValueError, match="this router takes one route"):
        continue_requirements([answer("route_selection", ["fast", "slow"])], [route])
    typed = {"requires_user_input": True, "user_input": None}
    (filled,) = continue_requirements([answer("user_input", {"reason": "cleanup"})], [typed])
    assert filled["user_input"] == {"reason": "cleanup"}
    tool = {"executor_requirements": [{"tool_execution": {"requires_confirmation": True}}]}
    (approved,) = continue_requirements([answer("confirmation", {"approved": True})], [tool])
    assert approved["executor_requirements"][0]["tool_execution"]["confirmed"] is True
    with pytest.raises(ValueError, match="holds no step requirements"):
        continue_requirements([answer("confirmation", True)])
    with pytest.raises(ValueError, match="a user input is answered with a mapping"):
        continue_requirements([answer("user_input", "cleanup")], [typed])


# --- continuing a paused agent or team run ------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "component", "payload", "asked", "tools"),
    [
        (
            "agents",
            "mailer-agent",
            True,
            "confirmation",
            [("send_email", {"to": "ops@example.com", "body": "done"}, "sent to ops@example.com")],
        ),
        ("agents", "mailer-agent", {"approved": False}, "confirmation", []),
        (
            "agents",
            "archive-agent",
            {"reason": "cleanup"},
            "user_input",
            [("archive_records", {"count": 3, "reason": "cleanup"}, "archived 3 records: cleanup")],
        ),
        ("agents", "shell-agent", "file1 file2", "external_tool", []),
        (
            "teams",
            "mail-team",
            True,
            "confirmation",
            [("send_email", {"to": "ops@example.com", "body": "done"}, "sent to ops@example.com")],
        ),
    ],
    ids=["tool-confirmed", "tool-refused", "user-input", "external-tool", "team-member"],
)
def test_an_agent_or_team_pause_answered_continues_the_same_run_on_agentos(
    server: AgentOSServer,
    kind: str,
    component: str,
    payload: Any,
    asked: str,
    tools: list[tuple[str, dict[str, Any], str]],
) -> None:
    """An agent's ``RunPaused`` (a tool to confirm, a field a person fills in, a tool the
    caller runs) or a team's ``TeamRunPaused`` (its member's tool to confirm) is one pending
    item; its answer becomes ``POST /agents|teams/{id}/runs/{run_id}/continue`` (the paused
    requirements, answered): the same run resumes once and ends success. A confirmed or
    answered tool runs with what the person gave; a refused one does not run; an external
    tool's result is the caller's (Agno shows no call for either)."""
    seen: list[dict[str, Any]] = []

    def decide(item: dict[str, Any]) -> Any:
        seen.append(item)
        return payload

    watched = _converse(server.url, component, decide, kind=kind)
    assert watched.error is None
    clean(watched.snap)
    (item,) = seen
    assert (item["kind"], item["node_id"]) == (asked, component)
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert watched.snap["interaction"] == {"pending": [], "resolved": 1}
    (messages,) = watched.snap["chat"].values()
    ran = [(t["name"], t["args"], t["result"]) for m in messages for t in m["tools"]]
    assert [t for t in ran if t[0] != "delegate_task_to_member"] == tools
    assert messages[-1]["closed"] is True


def test_a_user_input_pause_lists_the_fields_to_fill_and_refuses_an_answer_lacking_one(
    server: AgentOSServer,
) -> None:
    """``archive-agent`` pauses for ``reason``: its item lists the tool's
    ``user_input_schema`` (``count`` given by the model, ``reason`` empty); an answer without
    ``reason`` makes no continue: one line, the run stays paused."""
    seen: list[dict[str, Any]] = []

    def decide(item: dict[str, Any]) -> Any:
        seen.append(item)
        return {"note": "no reason"}

    watched = _converse(server.url, "archive-agent", decide, kind="agents")
    (item,) = seen
    (tool,) = item["detail"]["tools"]
    assert [(f["name"], f["value"]) for f in tool["user_input_schema"]] == [
        ("count", 3),
        ("reason", None),
    ]
    (run_id,) = watched.snap["lifecycle"]["runs"]
    assert isinstance(watched.error, SourceFailed)
    assert watched.error.reason == (
        f"cannot continue run {run_id}: archive_records needs a value for reason"
    )
    assert watched.snap["lifecycle"]["runs"][run_id]["status"] == "paused"


def test_a_workflow_paused_in_the_background_is_continued_with_its_stored_requirements(
    server: AgentOSServer,
) -> None:
    """``wf-confirm`` with ``background=True``: AgentOS ends the stream at ``StepPaused``
    without a ``WorkflowPaused``; the conversation fetches the paused run's step
    requirements (``GET /workflows/{id}/runs/{run_id}``) and continues it: the same badges and
    outcome as in the foreground."""
    watched = _converse(server.url, "wf-confirm", lambda item: True, background=True)
    assert watched.error is None
    clean(watched.snap)
    names = [f.split("\n", 1)[0] for f in watched.items if isinstance(f, str)]
    assert "event: WorkflowPaused" not in names
    (run,) = watched.snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    (records,) = watched.snap["store"].values()
    assert [(r["handle"], r["status"]) for r in records] == [
        ("gather", "success"),
        ("delete", "success"),
        ("report", "success"),
    ]


def test_continue_run_requirements_fill_in_what_each_tool_waits_for() -> None:
    """Agno's ``RunRequirement`` dicts answered as ``RunRequirement.confirm``/``reject``,
    ``provide_user_input`` and ``set_external_execution_result`` would: on the tool and on
    the requirement; each takes the answer whose item lists its call; the given dicts are not
    changed; a wrong shape, a field left empty or nothing to answer is one line."""

    def requirement(call: str, **tool: Any) -> dict[str, Any]:
        return {"id": f"q-{call}", "tool_execution": {"tool_call_id": call, **tool}}

    def answer(payload: Any, *calls: str, status: str = "resolved") -> Answer:
        listed = [{"tool_call_id": c} for c in calls]
        return Answer("i1", "confirmation", {"tools": listed}, payload, status)

    confirm = requirement("c1", tool_name="send", requires_confirmation=True)
    (done,) = continue_run_requirements([answer(True)], [confirm])
    assert (done["confirmation"], done["tool_execution"]["confirmed"]) == (True, True)
    assert "confirmed" not in confirm["tool_execution"]
    (refused,) = continue_run_requirements([answer(None, status="cancelled")], [confirm])
    assert refused["tool_execution"]["confirmed"] is False
    schema = [{"name": "count", "value": 3}, {"name": "reason", "value": None}]
    typed = requirement(
        "c2", tool_name="archive", requires_user_input=True, user_input_schema=schema
    )
    (filled,) = continue_run_requirements([answer({"reason": "cleanup"})], [typed])
    assert filled["tool_execution"]["answered"] is True
    assert filled["user_input_schema"] == [
        {"name": "count", "value": 3},
        {"name": "reason", "value": "cleanup"},
    ]
    with pytest.raises(ValueError, match=r"^archive needs a value for reason$"):
        continue_run_requirements([answer({"why": "x"})], [typed])
    with pytest.raises(ValueError, match="a user input is answered with a mapping"):
        continue_run_requirements([answer("cleanup")], [typed])
    shell = requirement("c3", tool_name="sh", external_execution_required=True)
    for payload, result in (("out", "out"), ({"result": {"n": 1}}, '{"n": 1}'), (["a"], '["a"]')):
        (ran,) = continue_run_requirements([answer(payload)], [shell])
        assert ran["external_execution_result"] == ran["tool_execution"]["result"] == result
    with pytest.raises(ValueError, match="an external tool is answered with the tool's result"):
        continue_run_requirements([answer(None, status="cancelled")], [shell])
    both = continue_run_requirements(
        [answer(False, "c1"), answer({"reason": "r"}, "c2")], [confirm, typed]
    )
    assert both[0]["tool_execution"]["confirmed"] is False
    assert both[1]["tool_execution"]["answered"] is True
    with pytest.raises(ValueError, match="no answers to continue with"):
        continue_run_requirements([], [confirm])
    with pytest.raises(ValueError, match="AgentOS gave no requirements to answer"):
        continue_run_requirements([answer(True)], [])


def test_a_held_conversation_waits_for_a_late_answer_then_continues_the_run(
    server: AgentOSServer,
) -> None:
    """``hold=True``: the paused run's leg has ended and nobody has answered yet, so the
    conversation stays open; the answer given afterwards (``resolve``) continues the same run
    on AgentOS to its end, and the conversation completes then."""

    async def body() -> tuple[dict[str, Any], bool]:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        replies: Subject[Reply] = Subject()
        paused_leg_ended = asyncio.Event()
        ended: asyncio.Future[None] = loop.create_future()

        def seen(item: Any) -> None:
            if isinstance(item, EndOfStream):
                paused_leg_ended.set()

        source = agentos_conversation(
            server.url,
            "wf-confirm",
            "Clean up",
            replies,
            scheduler=AsyncIOScheduler(loop),
            token=TOKEN,
            hold=True,
        ).pipe(
            ops.do_action(
                seen, on_error=ended.set_exception, on_completed=lambda: ended.set_result(None)
            )
        )
        state, _ = connect(source, scheduler=clock, protocol="agno")
        state.replies.subscribe(replies.on_next)
        await asyncio.wait_for(paused_leg_ended.wait(), PATIENCE)
        clock.run()
        (item,) = state.snapshot()["interaction"]["pending"]
        held_open = not ended.done()
        state.resolve(item["id"], True)
        await asyncio.wait_for(ended, PATIENCE)
        clock.run()
        return state.snapshot(), held_open

    snap, held_open = asyncio.run(body())
    assert held_open
    clean(snap)
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    (records,) = snap["store"].values()
    assert [r["handle"] for r in records] == ["gather", "delete", "report"]


def test_a_run_cancelled_on_agentos_ends_killed_and_a_refused_cancel_is_one_line(
    server: AgentOSServer,
) -> None:
    """``agentos_cancel`` while ``wf-gated`` waits at ``hold``: Agno stops the run once the
    step returns, sends ``WorkflowCancelled``, and flowrx shows the run ``killed`` with
    ``summarize`` never started; a cancel AgentOS refuses (a bad key) is one line."""

    async def body() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        clock = VirtualClock()
        holding = asyncio.Event()
        ended: asyncio.Future[None] = loop.create_future()

        def seen(item: Any) -> None:
            data = frame_data(item) if isinstance(item, str) else None
            if isinstance(data, dict) and (data.get("event"), data.get("step_name")) == (
                "StepStarted",
                "hold",
            ):
                holding.set()

        source = agentos_run(
            server.url,
            "wf-gated",
            "go",
            scheduler=AsyncIOScheduler(loop),
            token=TOKEN,
            session_id="cancel-session",
        ).pipe(
            ops.do_action(
                seen, on_error=ended.set_exception, on_completed=lambda: ended.set_result(None)
            )
        )
        state, _ = connect(source, scheduler=clock, protocol="agno")
        await asyncio.wait_for(holding.wait(), PATIENCE)
        (run_id,) = state.snapshot()["lifecycle"]["runs"]
        with pytest.raises(SourceFailed, match=r"^HTTP 401 Unauthorized \(bad token\?\)"):
            await agentos_cancel(server.url, "wf-gated", run_id, token="wrong")
        await agentos_cancel(
            server.url, "wf-gated", run_id, session_id="cancel-session", token=TOKEN
        )
        server.turnstile.release()  # the step returns; Agno sees the cancel then
        await asyncio.wait_for(ended, PATIENCE)
        clock.run()
        return state.snapshot()

    snap = asyncio.run(body())
    clean(snap)
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "killed"
    (records,) = snap["store"].values()
    assert "summarize" not in [r["handle"] for r in records]
