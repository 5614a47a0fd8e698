"""``flowrx agno`` against a real AgentOS (``tests/agentos_server.py``: Agno's app under uvicorn
on 127.0.0.1, the workflows of ``tests/agno_workflows.py`` on a scripted offline model),
driven through the CLI's ``main``. The command ends when the run is done and the view has
settled (its display windows run in real time, as a person sees them)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import agno_workflows as wf
import pytest
from agentos_server import TOKEN, AgentOSServer
from agentos_watch import clean, in_process, same_sections
from helpers import EXAMPLES, Relay

from flowrx import read_recording
from flowrx.cli import main
from flowrx.testing import run_frames

PATIENCE = 300.0

DEFINITION = str(EXAMPLES / "agno" / "agentos-definition-wf-sequential.json")
"""wf-sequential's definition as AgentOS serves it (``--graph``: no request for it)."""

pytestmark = pytest.mark.timeout(2 * PATIENCE)


@pytest.fixture(scope="module")
def server() -> Iterator[AgentOSServer]:
    """One real AgentOS for the module's tests."""
    with AgentOSServer(patience=PATIENCE) as served:
        yield served


def _agno(server: AgentOSServer, tmp_path: Path, *extra: str) -> tuple[int, Any, str]:
    """Run ``flowrx agno`` with --plain and --snapshot; the exit code, snapshot and output."""
    snap = tmp_path / "snap.json"
    out = io.StringIO()
    code = main(["agno", server.url, "--plain", "--snapshot", str(snap), *extra], out)
    doc = json.loads(snap.read_text(encoding="utf-8")) if snap.exists() else None
    return code, doc, out.getvalue()


def test_a_workflow_run_shows_its_nodes_by_name_and_its_recording_replays_the_same(
    server: AgentOSServer, tmp_path: Path
) -> None:
    """``--workflow wf-cond-router``: exit 0; the graph from the served definition names the
    nodes in the plain lines; one run, success, its containers as groups; ``--record`` writes
    a recording whose header says agno and which replays to the same sections."""
    record = tmp_path / "run.jsonl"
    code, snap, printed = _agno(
        server,
        tmp_path,
        "--workflow",
        "wf-cond-router",
        "--message",
        "I was charged twice, urgent",
        "--token",
        TOKEN,
        "--record",
        str(record),
    )
    assert code == 0
    assert snap["protocol"] == "agno"
    assert "node=urgent-pipeline" in printed  # a handle from the graph, not the node id
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "success"
    (groups,) = snap["group"].values()
    assert set(groups) == {
        "wf-cond-router:urgent?",
        "wf-cond-router:urgent?/urgent-pipeline",
        "wf-cond-router:attachment?",
        "wf-cond-router:route",
    }
    assert snap["surface"] == {}
    recording = read_recording(record)
    assert recording.header["protocol"] == "agno"
    replayed = run_frames(recording.frames, protocol="agno").finish()
    for section in ("store", "group", "chat"):
        assert list(replayed[section].values()) == list(snap[section].values()), section


def test_a_paused_workflow_ends_with_its_question_pending(
    server: AgentOSServer, tmp_path: Path
) -> None:
    """``wf-confirm`` pauses for a confirmation (``--on-pause stop``, the default): exit 0, the
    run paused, the editor unlocked, the confirmation pending on ``delete``."""
    code, snap, _ = _agno(
        server, tmp_path, "--workflow", "wf-confirm", "--message", "Clean up", "--token", TOKEN
    )
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
    assert snap["lifecycle"]["editor_locked"] is False
    (item,) = snap["interaction"]["pending"]
    assert (item["kind"], item["node_id"]) == ("confirmation", "wf-confirm:delete")


@pytest.mark.parametrize("transport", [(), ("--ws",)], ids=["sse", "ws"])
def test_on_pause_approve_continues_the_paused_run_to_its_end(
    server: AgentOSServer, tmp_path: Path, transport: tuple[str, ...]
) -> None:
    """``--on-pause approve`` (over SSE, and over the WebSocket with ``--ws``): the
    confirmation is answered yes and the run continued (AgentOS's continue): one run, resumed
    once, success, ``delete`` and ``report`` ran."""
    code, snap, _ = _agno(
        server,
        tmp_path,
        "--workflow",
        "wf-confirm",
        "--message",
        "Clean up",
        "--token",
        TOKEN,
        "--on-pause",
        "approve",
        *transport,
    )
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    (records,) = snap["store"].values()
    assert [r["handle"] for r in records] == ["gather", "delete", "report"]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            ("--workflow", "wf-sequential", "--token", "wrong"),
            "flowrx: error: the workflow's definition: HTTP 401 Unauthorized (bad token?): "
            '{"detail":"Invalid authentication token"}',
        ),
        (
            ("--workflow", "wf-nowhere", "--token", TOKEN),
            "flowrx: error: the workflow's definition: HTTP 404 Not Found (wrong path?): "
            '{"detail":"Workflow not found"}',
        ),
        (
            ("--agent", "nobody", "--token", TOKEN),
            "flowrx: error: request failed: HTTP 404 Not Found (wrong path?): "
            '{"detail":"Agent not found"}',
        ),
        (
            ("--workflow", "wf-sequential", "--token", "bad\nkey"),
            "flowrx: error: header Authorization holds characters an HTTP header cannot carry",
        ),
        (
            ("--workflow", "wf-sequential", "--agent", "weather-agent"),
            "flowrx: error: argument --agent: not allowed with argument --workflow",
        ),
        (
            ("--agent", "archive-agent", "--input", "reason"),
            "flowrx: error: argument --input: an input is FIELD=VALUE, not 'reason'",
        ),
        (
            ("--agent", "archive-agent", "--token", TOKEN, "--input", "count=x"),
            "flowrx: error: --input count=x: count takes an int",
        ),
        (
            ("--agent", "weather-agent", "--ws"),
            "flowrx: error: --ws runs a workflow (AgentOS's WebSocket serves workflows only)",
        ),
        (
            ("--team", "content-team", "--ws"),
            "flowrx: error: --ws runs a workflow (AgentOS's WebSocket serves workflows only)",
        ),
        (
            ("--workflow", "wf-sequential", "--token", "wrong", "--ws", "--graph", DEFINITION),
            "flowrx: error: request failed: authentication refused (bad token?): Invalid token",
        ),
    ],
    ids=[
        "bad-token",
        "unknown-workflow",
        "unknown-agent",
        "bad-token-text",
        "two-targets",
        "input-not-field-value",
        "input-of-the-wrong-type",
        "ws-for-an-agent",
        "ws-for-a-team",
        "ws-bad-token",
    ],
)
def test_a_mistake_is_one_line_and_exit_2(
    server: AgentOSServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    line: str,
) -> None:
    """A refused key, an unknown workflow or agent, a key a header cannot carry, two targets
    at once, an --input that is not FIELD=VALUE or whose value its field cannot take (found
    when the run asks), --ws for an agent or a team (AgentOS's socket runs workflows only), a
    key the socket refuses (the graph given, so the socket is the first to ask): one line on
    stderr, no traceback, exit 2."""
    capsys.readouterr()
    code, _, _ = _agno(server, tmp_path, "--message", "hi", *extra)
    assert code == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("flowrx:")]
    assert errors == [line]


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [x for x in capsys.readouterr().err.splitlines() if x.startswith("flowrx:")]


@pytest.mark.parametrize(
    ("target", "answers", "tool"),
    [
        (
            ("--agent", "mailer-agent"),
            ("--on-pause", "approve"),
            ("send_email", "sent to ops@example.com"),
        ),
        (
            ("--agent", "archive-agent"),
            ("--input", "reason=cleanup"),
            ("archive_records", "archived 3 records: cleanup"),
        ),
        (("--agent", "shell-agent"), ("--tool-result", "file1 file2"), None),
        (
            ("--team", "mail-team"),
            ("--on-pause", "approve"),
            ("send_email", "sent to ops@example.com"),
        ),
    ],
    ids=["confirm", "input", "tool-result", "team"],
)
def test_an_agent_or_team_pause_is_answered_by_the_flags_and_the_run_continued(
    server: AgentOSServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: tuple[str, ...],
    answers: tuple[str, ...],
    tool: tuple[str, str] | None,
) -> None:
    """A tool to confirm (``--on-pause approve``), a field a person fills in (``--input``),
    a tool the caller runs (``--tool-result``), a team member's tool to confirm: the run is
    continued once and ends success, exit 0, nothing on stderr; a tool that ran shows its
    result."""
    capsys.readouterr()
    code, snap, _ = _agno(server, tmp_path, *target, "--message", "go", "--token", TOKEN, *answers)
    assert code == 0
    assert _errors(capsys) == []
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    assert snap["interaction"] == {"pending": [], "resolved": 1}
    (messages,) = snap["chat"].values()
    ran = [(t["name"], t["result"]) for m in messages for t in m["tools"]]
    assert [t for t in ran if t[0] != "delegate_task_to_member"] == ([tool] if tool else [])


@pytest.mark.parametrize(
    ("target", "answers", "code", "line"),
    [
        (
            ("--agent", "archive-agent"),
            ("--on-pause", "approve"),
            3,
            "waits for user input (reason): answer with --input FIELD=VALUE",
        ),
        (
            ("--agent", "archive-agent"),
            ("--input", "note=x"),
            3,
            "waits for user input (reason): answer with --input FIELD=VALUE",
        ),
        (
            ("--agent", "shell-agent"),
            (),
            0,
            "waits for the result of run_shell: answer with --tool-result TEXT",
        ),
        (
            ("--workflow", "wf-confirm"),
            ("--tool-result", "x"),
            3,
            'waits for a confirmation "Delete 3 records?": answer with --on-pause approve|reject',
        ),
    ],
    ids=["input-missing", "other-field", "stop", "confirmation-unanswered"],
)
def test_a_pause_the_flags_do_not_answer_is_one_line_and_the_run_stays_paused(
    server: AgentOSServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    target: tuple[str, ...],
    answers: tuple[str, ...],
    code: int,
    line: str,
) -> None:
    """A user-input pause without the field it needs, an external tool without
    ``--tool-result``, a confirmation when only other answers were given: the command stops
    with the run paused and its question pending, and says on one line what the run waits for
    and which flag answers it; exit 3 when the flags asked to answer pauses, 0 with
    ``--on-pause stop`` (the default) and no answers given."""
    capsys.readouterr()
    got, snap, _ = _agno(server, tmp_path, *target, "--message", "go", "--token", TOKEN, *answers)
    assert got == code
    ((run_id, run),) = snap["lifecycle"]["runs"].items()
    assert run["status"] == "paused"
    (item,) = snap["interaction"]["pending"]
    assert _errors(capsys) == [f"flowrx: run {run_id} {line}"]
    assert item["run_id"] == run_id


def test_background_resumes_a_dropped_stream_and_the_run_ends_as_if_nothing_happened(
    server: AgentOSServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--background`` through a relay that cuts the run's connection (its second: the
    first fetched the definition) once AgentOS has sent the whole run: the plain lines say
    ``reconnecting`` once, the run ends success with every step, exit 0, no error line."""
    capsys.readouterr()
    with Relay(server.url, {1: 1500}, drain=True, patience=PATIENCE) as relay:
        snap_path = tmp_path / "snap.json"
        out = io.StringIO()
        code = main(
            [
                "agno",
                relay.url,
                "--workflow",
                "wf-sequential",
                "--message",
                "What's the weather in Paris?",
                "--token",
                TOKEN,
                "--background",
                "--plain",
                "--snapshot",
                str(snap_path),
            ],
            out,
        )
        assert (relay.cut, relay.connections) == (1, 3)
    assert code == 0
    assert _errors(capsys) == []
    printed = out.getvalue()
    assert printed.count("connection reconnecting (attempt 1): the response broke off") == 1
    snap = json.loads(snap_path.read_text(encoding="utf-8"))
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 0)
    (records,) = snap["store"].values()
    assert [(r["handle"], r["status"]) for r in records] == [
        ("prepare", "success"),
        ("weather", "success"),
        ("summarize", "success"),
    ]
    assert snap["diagnostics"]["heartbeats"] == 1  # the resume's replay header


def test_a_workflow_step_asking_for_input_takes_the_typed_values_and_runs(
    server: AgentOSServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``wf-input``'s ``archive`` asks why and for how many days: ``--input`` gives both, the
    ``int`` field as a number (the step's output, in the recording, says so), the run
    continues to success."""
    capsys.readouterr()
    record = tmp_path / "run.jsonl"
    code, snap, _ = _agno(
        server,
        tmp_path,
        "--record",
        str(record),
        "--workflow",
        "wf-input",
        "--message",
        "Archive",
        "--token",
        TOKEN,
        "--input",
        "reason=old",
        "--input",
        "keep_days=30",
    )
    assert code == 0
    assert _errors(capsys) == []
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    (records,) = snap["store"].values()
    assert [(r["handle"], r["status"]) for r in records] == [
        ("gather", "success"),
        ("archive", "success"),
        ("report", "success"),
    ]
    said = [f.data for f in read_recording(record).frames if "StepCompleted" in str(f.data)]
    assert any('"content":"archived: old (keep_days=30)"' in str(data) for data in said)


@pytest.mark.parametrize("transport", [(), ("--ws",)], ids=["sse", "ws"])
@pytest.mark.parametrize("workflow_id", ["wf-cond-router", "wf-team", "wf-nested", "wf-cancel"])
def test_flowrx_agno_shows_what_the_same_workflow_run_in_process_shows(
    server: AgentOSServer, tmp_path: Path, workflow_id: str, transport: tuple[str, ...]
) -> None:
    """The issue's promise: a workflow on the served AgentOS watched with ``flowrx agno``
    (over SSE, and over the WebSocket) and the same workflow run in process (``arun``, no
    graph given: the nodes learned from the stream) give the same badges, groups, chat and
    interactions up to the run ids, and the same outcome."""
    code, snap, _ = _agno(
        server,
        tmp_path,
        "--workflow",
        workflow_id,
        "--message",
        wf.PROMPTS[workflow_id],
        "--token",
        TOKEN,
        *transport,
    )
    assert code == 0
    clean(snap)
    same_sections(snap, in_process(workflow_id))


def _routed(server: AgentOSServer, tmp_path: Path, route: str) -> tuple[int, Any, str]:
    """``wf-router-pause`` run with ``--route route``."""
    return _agno(
        server,
        tmp_path,
        *("--workflow", "wf-router-pause", "--message", "Route this", "--token", TOKEN),
        *("--route", route),
    )


def test_route_names_the_route_a_paused_router_takes(server: AgentOSServer, tmp_path: Path) -> None:
    """``--route slow`` answers ``wf-router-pause``'s route selection (``--on-pause approve``
    alone would take ``fast``, the first offered): the run continues down ``slow``."""
    code, snap, _ = _routed(server, tmp_path, "slow")
    assert code == 0
    (run,) = snap["lifecycle"]["runs"].values()
    assert (run["status"], run["resumes"]) == ("success", 1)
    (records,) = snap["store"].values()
    assert [r["handle"] for r in records] == ["lane", "slow", "report"]


def test_a_route_the_router_does_not_offer_is_one_line_and_exit_2(
    server: AgentOSServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--route nowhere``: found when the router asks; one line naming the routes it
    offers, exit 2, the run left paused."""
    capsys.readouterr()
    code, snap, _ = _routed(server, tmp_path, "nowhere")
    assert code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["flowrx: error: --route nowhere: the router offers fast, slow"]
    (run,) = snap["lifecycle"]["runs"].values()
    assert run["status"] == "paused"
