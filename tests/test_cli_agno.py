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

import pytest
from agentos_server import TOKEN, AgentOSServer
from helpers import EXAMPLES

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
            ("--team", "content-team", "--on-pause", "approve"),
            "flowrx: error: --on-pause continues a workflow's pauses; not an agent's or a team's",
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
        "on-pause-for-a-team",
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
    at once, --on-pause for a team, --ws for an agent or a team (AgentOS's socket runs
    workflows only), a key the socket refuses (the graph given, so the socket is the first to
    ask): one line on stderr, no traceback, exit 2."""
    capsys.readouterr()
    code, _, _ = _agno(server, tmp_path, "--message", "hi", *extra)
    assert code == 2
    errors = [x for x in capsys.readouterr().err.splitlines() if x.startswith("flowrx:")]
    assert errors == [line]
